package image

import (
	"fmt"
	"sort"
	"strings"
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
	Cmdline string // the image's cmdline.txt (read it from the FAT before every start: /update/switch edits it)
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
