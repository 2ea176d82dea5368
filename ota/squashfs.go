package ota

import (
	"encoding/binary"
	"fmt"
)

// SquashfsHeaderSize is how much of a root slot SquashfsSize needs.
const SquashfsHeaderSize = 96

// SquashfsSize returns how many bytes of a root slot hold its squashfs: the superblock's bytes_used
// rounded up to 4 KiB (mksquashfs pads to that), so an update uploads the file system and not the slot's
// hundreds of megabytes of zeros. Superblock (little-endian): 0 magic "hsqs" | 28 major u16 | 40
// bytes_used u64.
func SquashfsSize(sb []byte, slotBytes int64) (int64, error) {
	if len(sb) < SquashfsHeaderSize {
		return 0, fmt.Errorf("ota: squashfs superblock: %d bytes, want %d", len(sb), SquashfsHeaderSize)
	}
	if string(sb[:4]) != "hsqs" {
		return 0, fmt.Errorf("ota: the root slot does not start with a squashfs (magic %q)", sb[:4])
	}
	if major := binary.LittleEndian.Uint16(sb[28:]); major != 4 {
		return 0, fmt.Errorf("ota: squashfs version %d; the kernel reads 4", major)
	}
	used := binary.LittleEndian.Uint64(sb[40:])
	size := (used + 4095) &^ 4095
	if used == 0 || size < used || size > uint64(slotBytes) {
		return 0, fmt.Errorf("ota: squashfs claims %d bytes; a slot holds %d", used, slotBytes)
	}
	return int64(size), nil
}
