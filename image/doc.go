// Package image assembles gpsntp's flashable SD-card image: a gokrazy system (gokrazy's init, its DHCP
// client and entropy daemon, never its SNTP client cmd/ntp, which would set the clock we discipline),
// gokrazy's Raspberry Pi kernel and firmware, and gpsntpd built for linux/arm64, laid out the way gokrazy's
// init and update handlers expect — without gokrazy's `gok` tool, which the module proxy does not serve.
//
// # Layout (512-byte sectors)
//
//	LBA 0          hybrid MBR: p1 FAT (0x0C, active) + protective 0xEE over LBA 1..8191
//	LBA 1..33      GPT header + 128 entries
//	8192    +204800   p1 boot   FAT16, 1 FAT, 4 sectors/cluster, volume ID F3F3-7B84
//	212992  +1024000  p2 root A squashfs (gzip: the kernels build only SQUASHFS_ZLIB)
//	1236992 +1024000  p3 root B empty; /update/root writes the inactive slot
//	2260992 ..N-35    p4 /perm  ext4 (UUID = its partition GUID)
//	N-33..N-1      backup GPT entries + header
//
// Every ID derives from the FNV-1a hash H of the hostname: MBR signature H, GUIDs
// 60C24CC1-F3F9-427A-8199-HHHHHHHH00NN. cmdline.txt names the root as partition 1's GUID plus PARTNROFF=1
// (gokrazy's init resolves only that GPT form and matches partition 1 only) and is padded with 64 spaces so
// /update/switch can rewrite root= in place. Facts checked against gokrazy's sources in the module cache:
// gokrazy/gokrazy update.go (modifyCmdline, switchRootPartition: in-place rewrite of cmdline.txt and
// loader/entries/gokrazy.conf), gokrazy.go (Boot: /etc/hostname mandatory, /etc/gokr-pw.txt, serial
// symlinks), mount.go (tmpfs over /etc when /etc/resolv.conf is missing; mountdevices.json),
// gokrazy/internal fat/reader.go (FAT16, one FAT, 8.3 names, unfragmented files), rootdev/rootdev.go
// (PARTUUID=.../PARTNROFF=[123]; only the first GPT entry is matched).
//
// # Why Debian's tools and not go-diskfs or our own writers
//
// The squashfs comes from mksquashfs (squashfs-tools): the reference implementation the kernel's reader is
// tested against, with -reproducible, -all-time and -mkfs-time for byte-identical output. go-diskfs's
// squashfs writer is young and its FAT writer makes FAT32, which boots a Pi but breaks gokrazy's update
// handlers (they read cmdline.txt with a FAT16-only reader). mkfs.fat (dosfstools) makes exactly the FAT16
// those handlers need (-F 16 -f 1 -s 4, fixed -i volume ID, --invariant), and mtools copies files in without
// mounting (no root, no loop devices), allocating clusters in order so files stay contiguous; ReadFAT16File
// re-reads the result under the on-device reader's assumptions and the build fails if they do not hold.
// mkfs.ext4 formats /perm in place (-E offset=) with a fixed UUID, hash seed and E2FSPROGS_FAKE_TIME so
// /perm is writable on first boot yet reproducible. Only the partition table is written here in Go: it is
// ~100 lines of fixed fields, and no Debian tool writes gokrazy's hybrid MBR (p1 + a 0xEE entry over only
// the GPT area).
//
// # Building the programs
//
// gokrazy's init is a program generated per image (InitSource) that imports github.com/gokrazy/gokrazy. It
// and cmd/dhcp, cmd/randomd are built in a temporary module that requires the pinned gokrazy, kernel and
// firmware modules (Modules), so gpsntp's own go.mod does not depend on gokrazy. Every binary is built with
// GOOS=linux GOARCH=arm64 CGO_ENABLED=0 -trimpath -buildvcs=false -tags gokrazy,netgo,osusergo; gpsntpd is
// built from the checkout. The kernel and firmware module directories come from `go mod download -json`.
//
// # Reproducibility
//
// Same Config, toolchain and tool versions give the same bytes: one Epoch for every file time, the
// squashfs and FAT creation times and the build timestamp; sorted inputs; no host files (no localtime, no CA
// bundle: nothing in the image makes outbound TLS connections); the password is an input. Build hashes the
// result (Result.SHA256).
package image
