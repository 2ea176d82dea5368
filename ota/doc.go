// Package ota makes over-the-air updates that cannot brick the box: the new root file system goes into the
// inactive slot, the box boots it exactly once, and it becomes the default only when gpsntpd proves healthy
// in it. Anything else (a build that crashes at start, a kernel panic, a hang the watchdog ends, a power
// cut) brings the box back to the slot it ran before, without anyone touching it.
//
// # The pieces
//
// The disk is gokrazy's: boot partition 1 (FAT16: firmware, kernel, config.txt, cmdline.txt), root slots 2
// and 3 (squashfs), /perm on 4. cmdline.txt's root= names the default slot. The host writes the new root
// with gokrazy's own update endpoint (PUT /update/root, which writes the inactive slot and answers the
// SHA-256 of what it wrote). What gokrazy lacks is a one-shot boot (its /update/testboot marker is not
// acted on by a current init, and nothing rolls back), so:
//
//   - The image carries tryboot.txt (config.txt plus cmdline=trycmd.txt) and trycmd.txt (a copy of
//     cmdline.txt). The Raspberry Pi firmware reads tryboot.txt instead of config.txt when the reboot carried
//     the tryboot flag (`reboot(2)` with the argument "0 tryboot"), and clears the flag before it starts the
//     kernel: the trial is one boot, enforced by the firmware.
//   - gpsntp-ota, a small service in every image, takes the authenticated trial request (the password is
//     gokrazy's update password), checks that the inactive slot holds exactly the bytes the host uploaded,
//     points trycmd.txt at that slot, writes a record on /perm and reboots with the flag.
//   - In the trial boot (the booted slot differs from cmdline.txt's) gpsntp-ota polls gpsntpd's
//     /api/status. Healthy three times in a row (Judge: serving NTP, hearing the receiver) commits: it
//     rewrites cmdline.txt's root= in place, the same way gokrazy's /update/switch does. Not healthy by the
//     deadline: it records why and reboots, and the firmware boots the old slot. If the trial never gets
//     that far, a kernel panic reboots (panic=10) and so does the hardware watchdog gokrazy's init arms.
//   - The QEMU variant has no Pi firmware; its runner plays the firmware's part (image.NextCmdline): it
//     sees the kernel's "Restarting system with command '0 tryboot'" on the console and starts the next boot
//     with the command line tryboot.txt names, once.
//
// Only the root slot is updated. The kernel and firmware live in the single boot partition; rewriting it
// is not atomic and cannot be rolled back, so an image that brings another kernel is refused with a clear
// message (Compatible) and needs a reflash. Writes to the boot partition are in-place rewrites of a few
// hundred bytes of one file (RewriteFile), never allocation changes.
//
// This package is the pure part: command-line slots, the FAT16 files, the record and the verdict. The
// device edge is cmd/gpsntp-ota; the host side is `gpsntpctl update`.
package ota
