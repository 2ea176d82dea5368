package ota

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// tinyFAT16 builds a FAT16 volume by hand: 512-byte sectors, 1 sector per cluster, 1 reserved sector,
// nfat FATs of 1 sector, 16 root entries (1 sector). Root holds CMDLINE.TXT (2 clusters, chained as given)
// and directory LOADER containing GOKRAZ~1.CON.
func tinyFAT16(nfat byte, chain2 uint16) []byte {
	const bps = 512
	img := make([]byte, 64*bps)
	bs := img[:bps]
	copy(bs[3:], "TESTFAT ")
	binary.LittleEndian.PutUint16(bs[11:], bps)
	bs[13] = 1
	binary.LittleEndian.PutUint16(bs[14:], 1)
	bs[16] = nfat
	binary.LittleEndian.PutUint16(bs[17:], 16)
	binary.LittleEndian.PutUint16(bs[19:], 64)
	bs[21] = 0xF8
	binary.LittleEndian.PutUint16(bs[22:], 1)
	fat := img[bps : 2*bps]
	binary.LittleEndian.PutUint16(fat[0:], 0xFFF8)
	binary.LittleEndian.PutUint16(fat[2:], 0xFFFF)
	binary.LittleEndian.PutUint16(fat[2*2:], chain2) // cluster 2 -> chain2 (3 when contiguous)
	binary.LittleEndian.PutUint16(fat[3*2:], 0xFFFF)
	binary.LittleEndian.PutUint16(fat[4*2:], 0xFFFF) // LOADER directory
	binary.LittleEndian.PutUint16(fat[5*2:], 0xFFFF) // gokrazy.conf
	rootOff := (1 + int(nfat)) * bps
	dataOff := rootOff + bps
	entry := func(off int, name string, attr byte, first uint16, size uint32) {
		copy(img[off:off+11], name)
		img[off+11] = attr
		binary.LittleEndian.PutUint16(img[off+26:], first)
		binary.LittleEndian.PutUint32(img[off+28:], size)
	}
	// A long-name fragment first: the reader must skip it.
	entry(rootOff, "\x41c\x00m\x00d\x00l\x00i", 0x0F, 0, 0)
	content := strings.Repeat("x", 600)
	entry(rootOff+32, "CMDLINE TXT", 0x20, 2, uint32(len(content)))
	entry(rootOff+64, "LOADER     ", 0x10, 4, 0)
	copy(img[dataOff:], content)
	dir4 := dataOff + 2*bps
	entry(dir4, "GOKRAZ~1CON", 0x20, 5, 5)
	copy(img[dataOff+3*bps:], "hello")
	return img
}

func TestReadFile(t *testing.T) {
	good := tinyFAT16(1, 3)
	tests := []struct {
		name    string
		img     []byte
		path    string
		want    string
		wantErr string
	}{
		{"file", good, "/cmdline.txt", strings.Repeat("x", 600), ""},
		{"upper", good, "/CMDLINE.TXT", strings.Repeat("x", 600), ""},
		{"subdir", good, "/loader/gokrazy.conf", "hello", ""},
		{"missing", good, "/config.txt", "", "not found"},
		{"relative", good, "cmdline.txt", "", "not absolute"},
		{"file as dir", good, "/cmdline.txt/x", "", "not a directory"},
		{"dir as file", good, "/loader", "", "is a directory"},
		{"fragmented", tinyFAT16(1, 7), "/cmdline.txt", "", "fragmented"},
		{"two FATs", tinyFAT16(2, 3), "/cmdline.txt", "", "2 FATs"},
		{"fat32", func() []byte { b := tinyFAT16(1, 3); b[22], b[23] = 0, 0; return b }(), "/cmdline.txt", "", "FAT16"},
		{"short", good[:20], "/cmdline.txt", "", "boot sector"},
	}
	for _, tc := range tests {
		got, err := ReadFile(bytes.NewReader(tc.img), tc.path)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v", tc.name, got, err)
		}
	}
}

func FuzzFAT16(f *testing.F) {
	f.Add(tinyFAT16(1, 3), "/cmdline.txt")
	f.Add(tinyFAT16(1, 3), "/loader/gokrazy.conf")
	f.Add(tinyFAT16(1, 0xFFFF), "/a/b/c")
	f.Fuzz(func(t *testing.T, img []byte, path string) {
		if len(img) > 1<<20 {
			return
		}
		data, err := ReadFile(bytes.NewReader(img), path)
		if err == nil && int64(len(data)) > int64(len(img)) {
			t.Fatalf("read %d bytes from a %d-byte volume", len(data), len(img))
		}
	})
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"cmdline.txt":     "CMDLINE TXT",
		"gokrazy.conf":    "GOKRAZ~1CON",
		"loader":          "LOADER     ",
		"bcm2711-rpi-4-b": "BCM271~1   ",
		".hidden":         "HIDDEN     ",
		"a b.c":           "AB      C  ",
	} {
		if got := shortName(in); string(got[:]) != want {
			t.Errorf("shortName(%q) = %q, want %q", in, got, want)
		}
	}
}
