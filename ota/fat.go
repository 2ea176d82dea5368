package ota

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FAT16Extent returns where the contents of path (e.g. "/cmdline.txt", "/loader/entries/gokrazy.conf") lie
// in a FAT file system, as one run of size bytes at byte offset off, under the same assumptions gokrazy's
// on-device reader makes (github.com/gokrazy/internal fat/reader.go), and fails where that reader would
// silently read the wrong bytes. Both gokrazy's update handlers and this package rewrite such a file in
// place, at the same length, which is why one contiguous run is all that is needed:
//
//   - FAT16: the 16-bit sectors-per-FAT field at BPB offset 22 is non-zero (FAT32 keeps it 0);
//   - exactly one FAT: the reader puts the root directory right after reserved sectors + one FAT;
//   - names are matched by their 8.3 alias (upper case, base cut to 6 + "~1" when it does not fit);
//   - a file is read as one run from its first cluster, so its cluster chain must be contiguous.
//
// Boot sector fields used (little-endian):
//
//	11 bytes/sector u16 | 13 sectors/cluster u8 | 14 reserved sectors u16 | 16 FAT count u8
//	17 root entries u16 | 22 sectors/FAT u16
//
// Directory entry (32 bytes): 0 name[8] | 8 ext[3] | 11 attr | 26 first cluster u16 | 28 size u32.
func FAT16Extent(r io.ReaderAt, path string) (off, size int64, err error) {
	var bpb [64]byte
	if _, err := r.ReadAt(bpb[:], 0); err != nil {
		return 0, 0, fmt.Errorf("fat: reading boot sector: %w", err)
	}
	bps := int64(binary.LittleEndian.Uint16(bpb[11:]))
	spc := int64(bpb[13])
	reserved := int64(binary.LittleEndian.Uint16(bpb[14:]))
	nfat := bpb[16]
	rootEntries := int64(binary.LittleEndian.Uint16(bpb[17:]))
	fatSectors := int64(binary.LittleEndian.Uint16(bpb[22:]))
	switch {
	case bps != 512:
		return 0, 0, fmt.Errorf("fat: %d bytes per sector; gokrazy's reader expects 512", bps)
	case spc == 0:
		return 0, 0, errors.New("fat: zero sectors per cluster")
	case fatSectors == 0:
		return 0, 0, errors.New("fat: 16-bit FAT size is 0 (FAT32?): gokrazy's reader needs FAT16")
	case nfat != 1:
		return 0, 0, fmt.Errorf("fat: %d FATs; gokrazy's reader assumes exactly 1", nfat)
	case rootEntries == 0:
		return 0, 0, errors.New("fat: no fixed root directory (FAT32?)")
	}
	clusterSize := spc * bps
	fatOff := reserved * bps
	rootOff := (reserved + fatSectors) * bps
	dataOff := rootOff + (rootEntries*32+bps-1)/bps*bps

	next := func(cl uint16) (uint16, error) {
		var b [2]byte
		if _, err := r.ReadAt(b[:], fatOff+int64(cl)*2); err != nil {
			return 0, fmt.Errorf("fat: reading FAT entry %d: %w", cl, err)
		}
		return binary.LittleEndian.Uint16(b[:]), nil
	}
	// contiguous checks that the chain from first covers n clusters in consecutive order.
	contiguous := func(first uint16, n int64) error {
		cl := first
		for i := int64(1); i < n; i++ {
			nx, err := next(cl)
			if err != nil {
				return err
			}
			if nx != cl+1 {
				return fmt.Errorf("fat: cluster %d is followed by %#x, not %d: fragmented", cl, nx, cl+1)
			}
			cl = nx
		}
		return nil
	}

	if !strings.HasPrefix(path, "/") {
		return 0, 0, fmt.Errorf("fat: path %q is not absolute", path)
	}
	comps := strings.Split(path[1:], "/")
	dirOff := rootOff
	var dirFirst uint16 // 0 = the fixed root directory
	for ci, comp := range comps {
		want := shortName(comp)
		found := false
		for i := int64(0); i < rootEntries; i++ {
			var e [32]byte
			if _, err := r.ReadAt(e[:], dirOff+i*32); err != nil {
				return 0, 0, fmt.Errorf("fat: reading directory entry %d of %q: %w", i, comp, err)
			}
			if e[0] == 0 {
				break
			}
			if e[0] == 0xE5 || e[11] == 0x0F || e[11]&0x08 != 0 {
				continue // deleted, long-name part, volume label
			}
			if !bytes.Equal(e[:11], want[:]) {
				continue
			}
			if dirFirst != 0 {
				// gokrazy scans a subdirectory as one run from its first cluster.
				if err := contiguous(dirFirst, (i*32)/clusterSize+1); err != nil {
					return 0, 0, fmt.Errorf("fat: directory holding %q: %w", comp, err)
				}
			}
			first := binary.LittleEndian.Uint16(e[26:])
			size := int64(binary.LittleEndian.Uint32(e[28:]))
			isDir := e[11]&0x10 != 0
			if first < 2 && (isDir || size > 0) {
				return 0, 0, fmt.Errorf("fat: %q has first cluster %d", comp, first)
			}
			off := dataOff + int64(first-2)*clusterSize
			if ci < len(comps)-1 {
				if !isDir {
					return 0, 0, fmt.Errorf("fat: %q is not a directory", comp)
				}
				dirOff, dirFirst, found = off, first, true
				break
			}
			if isDir {
				return 0, 0, fmt.Errorf("fat: %q is a directory", comp)
			}
			if size > 0 {
				if err := contiguous(first, (size+clusterSize-1)/clusterSize); err != nil {
					return 0, 0, fmt.Errorf("fat: %s: %w", path, err)
				}
			}
			return off, size, nil
		}
		if !found {
			return 0, 0, fmt.Errorf("fat: %q not found (looked for 8.3 name %q)", path, string(want[:]))
		}
	}
	return 0, 0, fmt.Errorf("fat: %q not found", path)
}

// shortName is the 8.3 alias (space padded, upper case) a long name gets when it is alone in its
// directory: spaces and leading dots dropped, base and extension cut to 8 and 3, and "~1" when cut.
func shortName(name string) [11]byte {
	var out [11]byte
	for i := range out {
		out[i] = ' '
	}
	basis := strings.TrimLeft(strings.ReplaceAll(strings.ToUpper(name), " ", ""), ".")
	base, ext := basis, ""
	if i := strings.LastIndex(basis, "."); i >= 0 {
		base, ext = basis[:i], basis[i+1:]
	}
	lossy := false
	if len(ext) > 3 {
		ext, lossy = ext[:3], true
	}
	if len(base) > 8 {
		base, lossy = base[:8], true
	}
	if lossy {
		if len(base) > 6 {
			base = base[:6]
		}
		base += "~1"
	}
	copy(out[:8], base)
	copy(out[8:], ext)
	return out
}

// ReadFile reads path's contents from the FAT16 file system r (see FAT16Extent).
func ReadFile(r io.ReaderAt, path string) ([]byte, error) {
	off, size, err := FAT16Extent(r, path)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if _, err := r.ReadAt(data, off); err != nil {
		return nil, fmt.Errorf("fat: reading %s: %w", path, err)
	}
	return data, nil
}

// FileSystem is a FAT16 file system that can be rewritten in place: the boot partition's block device on
// the box, an image file in tests and on the build host.
type FileSystem interface {
	io.ReaderAt
	io.WriterAt
}

// RewriteFile replaces the text of path in place (see Fit): the file keeps its size and clusters, so a power
// cut leaves either the old or the new bytes of one sector-sized write, never a broken directory.
func RewriteFile(fs FileSystem, path, text string) error {
	off, size, err := FAT16Extent(fs, path)
	if err != nil {
		return err
	}
	data, err := Fit(text, size)
	if err != nil {
		return fmt.Errorf("fat: rewriting %s: %w", path, err)
	}
	if _, err := fs.WriteAt(data, off); err != nil {
		return fmt.Errorf("fat: writing %s: %w", path, err)
	}
	return nil
}

// Fit pads text with spaces to exactly size bytes, before a final newline if it has one (the Pi firmware
// and the kernel ignore trailing spaces on the command line; gokrazy pads the same way). Text longer than
// size cannot be written in place.
func Fit(text string, size int64) ([]byte, error) {
	if int64(len(text)) > size {
		return nil, fmt.Errorf("%d bytes do not fit the file's %d", len(text), size)
	}
	pad := bytes.Repeat([]byte{' '}, int(size)-len(text))
	if body, ok := strings.CutSuffix(text, "\n"); ok {
		return append(append([]byte(body), pad...), '\n'), nil
	}
	return append([]byte(text), pad...), nil
}
