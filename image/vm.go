package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/gpsntp/gpsntp/ota"
)

// VM describes one QEMU run of a VM-variant image (board "qemu"): arm64 "virt" machine, TCG (KVM is not
// available on the build machines), the kernel loaded directly with -kernel, the image as a virtio disk
// (/dev/vda, so /perm is /dev/vda4), user networking with forwarded ports, and the receiver: a virtio
// console port ("virtconsole", /dev/hvc0 in the guest) whose host side is a TCP socket the host writes NMEA
// into. A console port rather than a plain virtserialport because the guest sees it as a tty: gpsntpd's
// serial edge sets termios (line speed) on its device, which a /dev/vportNpM character device refuses.
type VM struct {
	Image   string // image file (raw)
	Kernel  string // vmlinuz of kernel.arm64
	Cmdline string // the kernel command line; RunVM sets it before every boot, as the Pi firmware would
	// Forward maps host 127.0.0.1 ports to guest TCP ports; UDPForward likewise for UDP (NTP).
	Forward    map[int]int
	UDPForward map[int]int
	// Restrict cuts the guest off from everything but the forwarded ports (QEMU restrict=on). It also drops
	// forwarded UDP, so a test that needs UDP 123 runs QEMU in its own network namespace with Restrict off.
	Restrict bool
	// NMEAPort is the host TCP port of the receiver's chardev (QEMU listens; 0: no receiver port).
	NMEAPort int
	// NMEATTY, instead of NMEAPort, is a host tty (e.g. the pseudo-terminal `gpsntpctl feed -pty` writes
	// the simulator's NMEA into) that QEMU reads as the receiver's chardev.
	NMEATTY  string
	MemoryMB int // default 1024
}

// QEMUArgs returns qemu-system-aarch64's arguments for v. -no-reboot makes a guest reboot end QEMU, so the
// caller can re-read cmdline.txt (QEMU would otherwise reuse -append and ignore a slot switch).
func QEMUArgs(v VM) ([]string, error) {
	if v.Image == "" || v.Kernel == "" {
		return nil, fmt.Errorf("image: VM needs an image and a kernel (got %q, %q)", v.Image, v.Kernel)
	}
	cmdline := strings.TrimSpace(v.Cmdline)
	if !strings.Contains(cmdline, "root=") {
		return nil, fmt.Errorf("image: VM cmdline %q has no root=", cmdline)
	}
	if strings.ContainsAny(v.Image, ",") {
		return nil, fmt.Errorf("image: VM image path %q contains a comma, which QEMU's -drive cannot take", v.Image)
	}
	mem := v.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	net := "user,id=net0"
	if v.Restrict {
		net += ",restrict=on"
	}
	for _, host := range sortedInts(v.Forward) {
		net += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", host, v.Forward[host])
	}
	for _, host := range sortedInts(v.UDPForward) {
		net += fmt.Sprintf(",hostfwd=udp:127.0.0.1:%d-:%d", host, v.UDPForward[host])
	}
	args := []string{
		"-M", "virt,highmem=off", "-cpu", "cortex-a72", "-accel", "tcg", "-smp", "2", "-m", fmt.Sprint(mem),
		"-nographic", "-no-reboot",
		"-kernel", v.Kernel, "-append", cmdline,
		"-drive", "file=" + v.Image + ",format=raw,if=virtio",
		"-netdev", net, "-device", "virtio-net-pci,netdev=net0,romfile=",
	}
	var chardev string
	switch {
	case v.NMEAPort != 0 && v.NMEATTY != "":
		return nil, fmt.Errorf("image: VM: give NMEAPort or NMEATTY, not both")
	case v.NMEAPort != 0:
		chardev = fmt.Sprintf("socket,id=nmea,host=127.0.0.1,port=%d,server=on,wait=off", v.NMEAPort)
	case v.NMEATTY != "":
		if strings.Contains(v.NMEATTY, ",") {
			return nil, fmt.Errorf("image: VM: tty path %q contains a comma", v.NMEATTY)
		}
		chardev = "serial,id=nmea,path=" + v.NMEATTY
	}
	if chardev != "" {
		args = append(args, "-device", "virtio-serial-pci", "-chardev", chardev, "-device", "virtconsole,chardev=nmea,name=nmea")
	}
	return args, nil
}

func sortedInts(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// NextCmdline plays the Raspberry Pi firmware's part for the QEMU variant, which has none: it reads the
// command line for the next boot from the image's boot partition, from the file config.txt names or, when
// the reboot carried the tryboot flag (rebootCmd is the argument the kernel printed, e.g. "0 tryboot"), the
// file tryboot.txt names. Like the Pi's flag, it applies to one boot: the caller passes "" after that.
func NextCmdline(boot io.ReaderAt, rebootCmd string) (string, error) {
	cfgFile := ota.ConfigFile
	if strings.Contains(rebootCmd, "tryboot") {
		cfgFile = ota.TrybootConfig
	}
	cfg, err := ota.ReadFile(boot, cfgFile)
	if err != nil {
		return "", fmt.Errorf("image: firmware: %w", err)
	}
	file, err := ota.FirmwareCmdlineFile(string(cfg))
	if err != nil {
		return "", fmt.Errorf("image: firmware: %s: %w", cfgFile, err)
	}
	line, err := ota.ReadFile(boot, file)
	if err != nil {
		return "", fmt.Errorf("image: firmware: %w", err)
	}
	return strings.TrimSpace(string(line)), nil
}

// RunVM boots v.Image in qemu until the guest powers off, QEMU ends otherwise, or ctx ends. QEMU runs with
// -no-reboot, so a guest reboot ends it; RunVM then starts it again with the command line NextCmdline picks,
// honouring a tryboot flag for one boot. onBoot (optional) hears each boot's number and command line.
func RunVM(ctx context.Context, qemu string, v VM, stdin io.Reader, console io.Writer, onBoot func(n int, cmdline string)) error {
	rebootCmd := ""
	for boot := 1; ; boot++ {
		cmdline, err := imageCmdline(v.Image, rebootCmd)
		if err != nil {
			return err
		}
		v.Cmdline = cmdline
		args, err := QEMUArgs(v)
		if err != nil {
			return err
		}
		if onBoot != nil {
			onBoot(boot, cmdline)
		}
		cmd := exec.CommandContext(ctx, qemu, args...)
		cmd.Stdin = stdin
		watch := &consoleWatcher{w: console}
		cmd.Stdout, cmd.Stderr = watch, watch
		err = cmd.Run()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", qemu, err)
		}
		var rebooted bool
		rebooted, rebootCmd = watch.reboot()
		if !rebooted {
			return nil // powered off, or QEMU was quit
		}
	}
}

func imageCmdline(img, rebootCmd string) (string, error) {
	f, err := os.Open(img)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	return NextCmdline(io.NewSectionReader(f, BootStart*SectorSize, BootSize*SectorSize), rebootCmd)
}

// The kernel's last words before a restart: "reboot: Restarting system" or, with an argument,
// "reboot: Restarting system with command '0 tryboot'".
var restartLine = regexp.MustCompile(`reboot: Restarting system(?: with command '([^']*)')?`)

// consoleWatcher passes the console through and remembers the kernel's restart line.
type consoleWatcher struct {
	w       io.Writer
	mu      sync.Mutex
	tail    []byte
	seen    bool
	command string
}

func (c *consoleWatcher) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.tail = append(c.tail, p...)
	if i := bytes.LastIndexByte(c.tail, '\n'); i >= 0 {
		for _, line := range bytes.Split(c.tail[:i], []byte("\n")) {
			if m := restartLine.FindSubmatch(line); m != nil {
				c.seen, c.command = true, string(m[1])
			}
		}
		c.tail = append(c.tail[:0], c.tail[i+1:]...)
	}
	if len(c.tail) > 4096 {
		c.tail = c.tail[len(c.tail)-4096:]
	}
	c.mu.Unlock()
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *consoleWatcher) reboot() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen && restartLine.Match(c.tail) {
		m := restartLine.FindSubmatch(c.tail)
		c.seen, c.command = true, string(m[1])
	}
	return c.seen, c.command
}
