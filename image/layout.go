package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"strings"
	"unicode/utf16"
)

// SectorSize is the only sector size gokrazy's tools and init handle.
const SectorSize = 512

// Partition geometry in 512-byte sectors. Partitions 1..3 are fixed for every disk size: gokrazy's update
// handlers write a whole partition by number, so a device and an update image must agree on them.
const (
	BootStart  = 8192
	BootSize   = 204800 // 100 MiB FAT16
	RootAStart = BootStart + BootSize
	RootSize   = 1024000 // 500 MiB per squashfs slot
	RootBStart = RootAStart + RootSize
	PermStart  = RootBStart + RootSize
	// MinImageSize is the smallest image gokrazy's tools accept (1200 MiB); it leaves /perm ~96 MiB.
	MinImageSize = 1258299392
	// gptEntries and gptEntrySize give the 16 KiB entry array: 32 sectors, so the primary GPT ends at LBA 33
	// and the backup array starts 33 sectors before the end.
	gptEntries   = 128
	gptEntrySize = 128
	gptSectors   = gptEntries * gptEntrySize / SectorSize
)

// GPT partition type GUIDs.
const (
	typeESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeRootArm64 = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"
	typeRootAmd64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	typeLinuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
)

// HostnameHash is the 32-bit FNV-1a hash of the hostname: gokrazy derives the MBR disk signature and every
// GPT GUID from it, so a device's IDs survive re-flashing and updates carry no ID state.
func HostnameHash(hostname string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(hostname))
	return h.Sum32()
}

// PartitionGUID is the GUID of partition n (0 = the disk itself) for a hostname, in canonical upper case:
// 60C24CC1-F3F9-427A-8199-HHHHHHHH00NN.
func PartitionGUID(hostname string, n int) string {
	return fmt.Sprintf("60C24CC1-F3F9-427A-8199-%08X00%02X", HostnameHash(hostname), n)
}

// RootArg is the root= value naming root slot 2 or 3 relative to partition 1's GUID, the only GPT form
// gokrazy's init resolves (it matches the GUID of partition 1 only and adds PARTNROFF).
func RootArg(hostname string, slot int) (string, error) {
	if slot != 2 && slot != 3 {
		return "", fmt.Errorf("image: root slot %d: want 2 or 3", slot)
	}
	return fmt.Sprintf("root=PARTUUID=%s/PARTNROFF=%d", strings.ToLower(PartitionGUID(hostname, 1)), slot-1), nil
}

// guidBytes encodes a canonical GUID string in the EFI mixed-endian byte order: the first three groups
// little-endian, the last two as written.
func guidBytes(s string) ([16]byte, error) {
	var b [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, fmt.Errorf("image: GUID %q: want 8-4-4-4-12 hex digits", s)
	}
	var raw [16]byte
	for i := 0; i < 16; i++ {
		var v byte
		for _, c := range []byte(h[2*i : 2*i+2]) {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return b, fmt.Errorf("image: GUID %q: %q is not a hex digit", s, c)
			}
		}
		raw[i] = v
	}
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5] = raw[5], raw[4]
	b[6], b[7] = raw[7], raw[6]
	copy(b[8:], raw[8:])
	return b, nil
}

// Partition is one entry of the table.
type Partition struct {
	Number int
	Start  int64 // first sector
	Size   int64 // sectors
	Type   string
	Name   string
}

// Layout returns the four partitions for an image of size bytes for GOARCH arch ("arm64" or "amd64").
func Layout(size int64, arch string) ([]Partition, error) {
	if size%SectorSize != 0 {
		return nil, fmt.Errorf("image: size %d is not a multiple of %d", size, SectorSize)
	}
	if size < MinImageSize {
		return nil, fmt.Errorf("image: size %d is below the %d-byte minimum (boot + two root slots + /perm)", size, MinImageSize)
	}
	rootType := typeRootArm64
	switch arch {
	case "arm64":
	case "amd64":
		rootType = typeRootAmd64
	default:
		return nil, fmt.Errorf("image: architecture %q: want arm64 or amd64", arch)
	}
	n := size / SectorSize
	return []Partition{
		{1, BootStart, BootSize, typeESP, "Microsoft basic data"},
		{2, RootAStart, RootSize, rootType, "Linux filesystem"},
		{3, RootBStart, RootSize, typeLinuxData, "Linux filesystem"},
		{4, PermStart, n - PermStart - (gptSectors + 2), typeLinuxData, "Linux filesystem"},
	}, nil
}

// Tables are the bytes of a hybrid MBR + GPT partition table for one image.
type Tables struct {
	MBR        []byte // sector 0
	Primary    []byte // sectors 1..33: GPT header, then the entry array
	Backup     []byte // the last 33 sectors: the entry array, then the backup header
	BackupLBA  int64  // first sector of Backup
	Partitions []Partition
}

// PartitionTables builds the hybrid MBR and the GPT. The MBR carries partition 1 as FAT (0x0C, bootable)
// because the Pi's boot ROM and firmware read only the MBR; a protective 0xEE entry covers just LBA 1..8191
// (the GPT area) so that GPT-aware tools still see a GPT. The MBR's boot code area stays zero: gokrazy's
// x86 BIOS loader is of no use on a Pi.
//
//	MBR: 0..439 zero | 440 disk signature (LE) | 444 0x0000 | 446 entry 1 | 462 entry 2 | 478,494 zero | 510 55 AA
//	entry: status | CHS first (3) | type | CHS last (3) | LBA first (LE32) | sectors (LE32)
func PartitionTables(size int64, hostname, arch string) (Tables, error) {
	parts, err := Layout(size, arch)
	if err != nil {
		return Tables{}, err
	}
	if hostname == "" {
		return Tables{}, errors.New("image: empty hostname")
	}
	n := size / SectorSize
	mbr := make([]byte, SectorSize)
	binary.LittleEndian.PutUint32(mbr[440:], HostnameHash(hostname))
	putMBREntry(mbr[446:462], 0x80, 0x0C, BootStart, BootSize)
	putMBREntry(mbr[462:478], 0x00, 0xEE, 1, BootStart-1)
	mbr[510], mbr[511] = 0x55, 0xAA

	entries := make([]byte, gptEntries*gptEntrySize)
	for i, p := range parts {
		e := entries[i*gptEntrySize : (i+1)*gptEntrySize]
		tg, err := guidBytes(p.Type)
		if err != nil {
			return Tables{}, err
		}
		ug, err := guidBytes(PartitionGUID(hostname, p.Number))
		if err != nil {
			return Tables{}, err
		}
		copy(e[0:16], tg[:])
		copy(e[16:32], ug[:])
		binary.LittleEndian.PutUint64(e[32:], uint64(p.Start))
		binary.LittleEndian.PutUint64(e[40:], uint64(p.Start+p.Size-1))
		name := utf16.Encode([]rune(p.Name))
		if len(name) > 36 {
			return Tables{}, fmt.Errorf("image: partition name %q is longer than 36 UTF-16 units", p.Name)
		}
		for j, c := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)
	diskGUID, err := guidBytes(PartitionGUID(hostname, 0))
	if err != nil {
		return Tables{}, err
	}
	backupEntriesLBA := n - 1 - gptSectors
	header := func(current, backup, entriesLBA int64) []byte {
		// GPT header (92 bytes, rest of the sector zero):
		//  0 "EFI PART" | 8 revision 1.0 | 12 header size | 16 header CRC32 | 20 reserved
		// 24 this LBA | 32 other header's LBA | 40 first usable | 48 last usable | 56 disk GUID
		// 72 entries LBA | 80 entry count | 84 entry size | 88 entries CRC32
		h := make([]byte, SectorSize)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], uint64(current))
		binary.LittleEndian.PutUint64(h[32:], uint64(backup))
		binary.LittleEndian.PutUint64(h[40:], uint64(2+gptSectors))
		binary.LittleEndian.PutUint64(h[48:], uint64(n-2-gptSectors))
		copy(h[56:72], diskGUID[:])
		binary.LittleEndian.PutUint64(h[72:], uint64(entriesLBA))
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	primary := append(header(1, n-1, 2), entries...)
	backup := append(append([]byte{}, entries...), header(n-1, 1, backupEntriesLBA)...)
	return Tables{MBR: mbr, Primary: primary, Backup: backup, BackupLBA: backupEntriesLBA, Partitions: parts}, nil
}

// putMBREntry writes a 16-byte MBR entry with CHS fields saturated (FE FF FF): every LBA here is beyond
// what CHS can address, and firmware that reads CHS must treat the saturated value as "use LBA".
func putMBREntry(e []byte, status, typ byte, start, size uint32) {
	e[0] = status
	e[1], e[2], e[3] = 0xFE, 0xFF, 0xFF
	e[4] = typ
	e[5], e[6], e[7] = 0xFE, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], size)
}

// cmdlinePadding is appended so that gokrazy's in-place root= rewrite (/update/switch) and any later,
// longer root= value fit into the file's existing clusters: the update handler cannot grow a FAT file.
const cmdlinePadding = 64

// Cmdline builds cmdline.txt from the kernel package's cmdline.txt: console=tty1 first and no serial
// console (the header UART belongs to the GPS receiver), root= pointing at slot 2 by partition 1's GUID,
// then the extra arguments, then 64 spaces and no newline (the Pi firmware reads one line; gokrazy's
// testboot marker would be appended at a newline, so there is none to mangle).
func Cmdline(kernelCmdline, hostname string, extra []string) (string, error) {
	root, err := RootArg(hostname, 2)
	if err != nil {
		return "", err
	}
	var args []string
	replaced := false
	for _, f := range strings.Fields(kernelCmdline) {
		switch {
		case strings.HasPrefix(f, "root="):
			if replaced {
				return "", fmt.Errorf("image: kernel cmdline %q has two root= arguments", kernelCmdline)
			}
			f, replaced = root, true
		case strings.HasPrefix(f, "console="):
			continue // ours come first; a serial console from the kernel package must not survive
		}
		args = append(args, f)
	}
	if !replaced {
		return "", fmt.Errorf("image: kernel cmdline %q has no root= to replace", kernelCmdline)
	}
	for _, e := range extra {
		if strings.ContainsAny(e, " \t\n") || e == "" {
			return "", fmt.Errorf("image: kernel argument %q must be one word", e)
		}
		if strings.HasPrefix(e, "root=") {
			return "", fmt.Errorf("image: kernel argument %q: root= is set by the image layout", e)
		}
	}
	line := strings.Join(append(append([]string{"console=tty1"}, args...), extra...), " ")
	return line + strings.Repeat(" ", cmdlinePadding), nil
}

// LoaderEntry is loader/entries/gokrazy.conf for systemd-boot (UEFI boots: the QEMU variant). gokrazy's
// /update/switch rewrites root= in this file too, so it must exist whenever an EFI loader is present.
func LoaderEntry(cmdline string) string {
	return "title gokrazy\nlinux /vmlinuz\noptions " + cmdline
}

// ConfigTxt builds config.txt: the kernel package's file with its enable_uart= line dropped (the board
// profile decides), then the profile's lines. The result ends in a newline.
func ConfigTxt(kernelConfig string, lines []string) string {
	var b strings.Builder
	prevBlank := true
	for _, l := range strings.Split(strings.ReplaceAll(kernelConfig, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "enable_uart=") {
			continue
		}
		blank := strings.TrimSpace(l) == ""
		if blank && prevBlank {
			continue // the dropped line would leave two blank lines
		}
		prevBlank = blank
		b.WriteString(l)
		b.WriteByte('\n')
	}
	out := strings.TrimRight(b.String(), "\n") + "\n"
	if len(lines) > 0 {
		out += "\n# gpsntp board profile\n" + strings.Join(lines, "\n") + "\n"
	}
	return out
}

// Service is one program the generated init supervises.
type Service struct {
	Path  string   // absolute path inside the root file system, e.g. /gokrazy/dhcp
	Args  []string // command-line flags
	Env   []string // extra KEY=value entries
	Start bool     // false: installed but stopped (startable from the UI)
}

// InitSource generates the main package of /gokrazy/init: it boots through gokrazy.Boot and supervises the
// services in order. Everything is spelled out as literals so the same inputs give the same binary.
func InitSource(buildTimestamp string, services []Service) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by gpsntp's image builder. DO NOT EDIT.\n\npackage main\n\n")
	b.WriteString("import (\n\t\"fmt\"\n\t\"log\"\n\t\"os\"\n\t\"os/exec\"\n\n\t\"github.com/gokrazy/gokrazy\"\n)\n\n")
	fmt.Fprintf(&b, "var buildTimestamp = %q\n\n", buildTimestamp)
	b.WriteString("func main() {\n")
	b.WriteString("\tfmt.Printf(\"gokrazy build %s (gpsntp image)\\n\", buildTimestamp)\n")
	b.WriteString("\tif err := gokrazy.Boot(buildTimestamp); err != nil {\n\t\tlog.Fatal(err)\n\t}\n")
	b.WriteString("\thostname, _ := os.Hostname()\n")
	b.WriteString("\tfmt.Printf(\"hostname %q, model %q\\n\", hostname, gokrazy.Model())\n")
	b.WriteString("\tvar svcs []*gokrazy.Service\n")
	seen := map[string]bool{}
	for _, s := range services {
		if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, " \n") {
			return nil, fmt.Errorf("image: service path %q must be absolute and one word", s.Path)
		}
		if seen[s.Path] {
			return nil, fmt.Errorf("image: service %q listed twice", s.Path)
		}
		seen[s.Path] = true
		for _, e := range s.Env {
			if !strings.Contains(e, "=") {
				return nil, fmt.Errorf("image: service %s: environment entry %q has no '='", s.Path, e)
			}
		}
		b.WriteString("\t{\n")
		fmt.Fprintf(&b, "\t\tcmd := exec.Command(%q", s.Path)
		for _, a := range s.Args {
			fmt.Fprintf(&b, ", %q", a)
		}
		b.WriteString(")\n\t\tcmd.Env = append(os.Environ()")
		for _, e := range s.Env {
			fmt.Fprintf(&b, ", %q", e)
		}
		b.WriteString(")\n")
		if s.Start {
			b.WriteString("\t\tsvcs = append(svcs, gokrazy.NewService(cmd))\n")
		} else {
			b.WriteString("\t\tsvcs = append(svcs, gokrazy.NewStoppedService(cmd))\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("\tif err := gokrazy.SuperviseServices(svcs); err != nil {\n\t\tlog.Fatal(err)\n\t}\n")
	b.WriteString("\tselect {}\n}\n")
	return b.Bytes(), nil
}
