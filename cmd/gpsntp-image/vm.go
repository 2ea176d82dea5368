package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/gpsntp/gpsntp/image"
)

// vmOptions are the -vm-* flags: boot the freshly built VM image in QEMU.
type vmOptions struct {
	uiPort, webPort, ntpPort int
	nmeaTTY                  string
	nmeaPort                 int
}

// runVM boots img until the guest powers off or ctx ends. QEMU runs with -no-reboot, so a guest reboot
// ends it; the loop then re-reads root= from the image's cmdline.txt and starts it again. That is what
// makes gokrazy's /update/switch take effect in the VM (QEMU would otherwise reuse the old -append).
func runVM(ctx context.Context, img, vmlinuz string, o vmOptions, stdout, stderr io.Writer) error {
	for boot := 1; ; boot++ {
		cmdline, err := readCmdline(img)
		if err != nil {
			return err
		}
		args, err := image.QEMUArgs(image.VM{
			Image: img, Kernel: vmlinuz, Cmdline: cmdline,
			Forward:    map[int]int{o.uiPort: 8080, o.webPort: 80},
			UDPForward: map[int]int{o.ntpPort: 123},
			// UDP forwarding needs restrict=off; the guest runs no outbound client (no cmd/ntp).
			Restrict: false, NMEAPort: o.nmeaPort, NMEATTY: o.nmeaTTY,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gpsntp-image: boot %d: gokrazy UI http://127.0.0.1:%d/  status http://127.0.0.1:%d/  NTP udp 127.0.0.1:%d  (quit: Ctrl-A X)\n",
			boot, o.uiPort, o.webPort, o.ntpPort)
		cmd := exec.CommandContext(ctx, "qemu-system-aarch64", args...)
		cmd.Stdin = os.Stdin
		watch := &rebootWatcher{w: stdout}
		cmd.Stdout, cmd.Stderr = watch, stderr
		err = cmd.Run()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("qemu-system-aarch64: %w", err)
		}
		if !watch.rebooted() {
			return nil // powered off, or the user quit QEMU
		}
	}
}

func readCmdline(img string) (string, error) {
	f, err := os.Open(img)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := image.ReadFAT16File(io.NewSectionReader(f, image.BootStart*image.SectorSize, image.BootSize*image.SectorSize), "/cmdline.txt")
	if err != nil {
		return "", fmt.Errorf("reading cmdline.txt from %s: %w", img, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// rebootWatcher passes the console through and notices the kernel's "reboot: Restarting system" line.
type rebootWatcher struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
	seen bool
}

func (r *rebootWatcher) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.tail = append(r.tail, p...)
	if bytes.Contains(r.tail, []byte("reboot: Restarting system")) {
		r.seen = true
	}
	if len(r.tail) > 64 {
		r.tail = r.tail[len(r.tail)-64:]
	}
	r.mu.Unlock()
	return r.w.Write(p)
}

func (r *rebootWatcher) rebooted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}
