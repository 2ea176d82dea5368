package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gpsntp/gpsntp/ota"
)

// disk is the block device the box booted from and the slot the kernel booted.
type disk struct {
	device string // e.g. /dev/mmcblk0
	booted int
}

// partition is the device node of partition n: mmcblk0 -> mmcblk0p1, vda -> vda1 (Linux adds "p" when the
// disk's name ends in a digit).
func (d disk) partition(n int) string {
	sep := ""
	if last := d.device[len(d.device)-1]; last >= '0' && last <= '9' {
		sep = "p"
	}
	return fmt.Sprintf("%s%s%d", d.device, sep, n)
}

var rootDevice = regexp.MustCompile(`root=/dev/([a-z0-9]+?)p?[23](?:\s|$)`)

// findDisk resolves the booted root the way gokrazy's init does: by the GUID of partition 1 in each
// disk's GPT (our images' form), else from a /dev path on the command line.
func findDisk(cmdlinePath, sysBlock, devDir string) (disk, error) {
	b, err := os.ReadFile(cmdlinePath)
	if err != nil {
		return disk{}, fmt.Errorf("reading the kernel command line: %w", err)
	}
	cmdline := string(b)
	slot, guid, err := ota.RootSlot(cmdline)
	if err != nil {
		return disk{}, err
	}
	if guid == "" {
		m := rootDevice.FindStringSubmatch(cmdline)
		if m == nil {
			return disk{}, fmt.Errorf("cannot tell the boot disk from %q", strings.TrimSpace(cmdline))
		}
		return disk{device: filepath.Join(devDir, m[1]), booted: slot}, nil
	}
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return disk{}, fmt.Errorf("listing block devices: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		dev := filepath.Join(devDir, name)
		if g, err := firstPartitionGUID(dev); err == nil && g == guid {
			return disk{device: dev, booted: slot}, nil
		}
	}
	return disk{}, fmt.Errorf("no disk in %s has partition 1 with GUID %s", sysBlock, guid)
}

// firstPartitionGUID reads the unique GUID of a disk's first GPT entry, in canonical lower case.
// GPT header (LBA 1): 0 "EFI PART" | 72 entries' LBA u64. Entry: 16 unique GUID (mixed-endian).
func firstPartitionGUID(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 512)
	if _, err := f.ReadAt(hdr, 512); err != nil {
		return "", err
	}
	if string(hdr[:8]) != "EFI PART" {
		return "", fmt.Errorf("%s: no GPT", dev)
	}
	lba := binary.LittleEndian.Uint64(hdr[72:])
	if lba < 2 || lba > 1<<32 {
		return "", fmt.Errorf("%s: GPT entries at LBA %d", dev, lba)
	}
	e := make([]byte, 128)
	if _, err := f.ReadAt(e, int64(lba)*512); err != nil {
		return "", err
	}
	g := e[16:32]
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16]), nil
}
