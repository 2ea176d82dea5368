package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gpsntp/gpsntp/image"
)

// vmOptions are the -vm-* flags: boot the freshly built VM image in QEMU.
type vmOptions struct {
	uiPort, webPort, ntpPort, otaPort int
	nmeaTTY                           string
	nmeaPort                          int
}

// runVM boots img until the guest powers off or ctx ends. image.RunVM restarts QEMU after each guest
// reboot with the command line the Pi firmware would choose (cmdline.txt, or trycmd.txt once after a
// reboot with the tryboot flag), which is what makes updates and their rollback work in the VM.
func runVM(ctx context.Context, img, vmlinuz string, o vmOptions, stdout, stderr io.Writer) error {
	v := image.VM{
		Image: img, Kernel: vmlinuz,
		Forward:    map[int]int{o.uiPort: 8080, o.webPort: 80, o.otaPort: image.OTAPort},
		UDPForward: map[int]int{o.ntpPort: 123},
		// UDP forwarding needs restrict=off; the guest runs no outbound client (no cmd/ntp).
		Restrict: false, NMEAPort: o.nmeaPort, NMEATTY: o.nmeaTTY,
	}
	return image.RunVM(ctx, "qemu-system-aarch64", v, os.Stdin, stdout, func(n int, cmdline string) {
		fmt.Fprintf(stderr, "gpsntp-image: boot %d (%s): gokrazy UI http://127.0.0.1:%d/  status http://127.0.0.1:%d/  updates http://127.0.0.1:%d/ota/status  NTP udp 127.0.0.1:%d  (quit: Ctrl-A X)\n",
			n, cmdline, o.uiPort, o.webPort, o.otaPort, o.ntpPort)
	})
}
