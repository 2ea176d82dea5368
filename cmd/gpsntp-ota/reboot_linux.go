package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rebootSystem flushes the file systems and restarts. With tryboot the restart carries the argument
// "0 tryboot", which the Raspberry Pi firmware driver turns into the firmware's one-shot tryboot flag (and
// which the kernel prints, so the VM's runner can do the same). /perm is remounted read-only first where it
// can be, so its journal has nothing to replay.
func rebootSystem(tryboot bool) error {
	unix.Sync()
	_ = unix.Mount("", "/perm", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	unix.Sync()
	if !tryboot {
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	arg, err := unix.BytePtrFromString("0 tryboot")
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(arg)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
