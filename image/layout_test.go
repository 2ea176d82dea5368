package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

func TestHostnameIDs(t *testing.T) {
	// ntppi -> 0x57c85efa is read from a gok-built image (project notes, gokrazy-image.md §1).
	if got := HostnameHash("ntppi"); got != 0x57c85efa {
		t.Fatalf("HostnameHash(ntppi) = %#x", got)
	}
	if got := PartitionGUID("ntppi", 1); got != "60C24CC1-F3F9-427A-8199-57C85EFA0001" {
		t.Errorf("PartitionGUID = %s", got)
	}
	tests := []struct {
		slot    int
		want    string
		wantErr bool
	}{
		{2, "root=PARTUUID=60c24cc1-f3f9-427a-8199-57c85efa0001/PARTNROFF=1", false},
		{3, "root=PARTUUID=60c24cc1-f3f9-427a-8199-57c85efa0001/PARTNROFF=2", false},
		{1, "", true},
		{4, "", true},
	}
	for _, tc := range tests {
		got, err := RootArg("ntppi", tc.slot)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("RootArg(%d) = %q, %v; want %q", tc.slot, got, err, tc.want)
		}
	}
}

func TestGUIDBytes(t *testing.T) {
	b, err := guidBytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B}
	if !bytes.Equal(b[:], want) {
		t.Errorf("guidBytes = % x, want % x", b, want)
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "G12A7328-F81F-11D2-BA4B-00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93"} {
		if _, err := guidBytes(bad); err == nil {
			t.Errorf("guidBytes(%q): no error", bad)
		}
	}
}

func TestPartitionTables(t *testing.T) {
	const size = 2 << 30
	n := int64(size / SectorSize)
	tb, err := PartitionTables(size, "ntppi", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	m := tb.MBR
	if len(m) != 512 || m[510] != 0x55 || m[511] != 0xAA {
		t.Fatal("MBR signature missing")
	}
	if got := binary.LittleEndian.Uint32(m[440:]); got != 0x57c85efa {
		t.Errorf("disk signature %#x", got)
	}
	if m[446] != 0x80 || m[450] != 0x0C || binary.LittleEndian.Uint32(m[454:]) != 8192 || binary.LittleEndian.Uint32(m[458:]) != 204800 {
		t.Errorf("MBR entry 1 = % x", m[446:462])
	}
	if m[466] != 0xEE || binary.LittleEndian.Uint32(m[470:]) != 1 || binary.LittleEndian.Uint32(m[474:]) != 8191 {
		t.Errorf("MBR entry 2 = % x", m[462:478])
	}
	if !bytes.Equal(m[478:510], make([]byte, 32)) || !bytes.Equal(m[:440], make([]byte, 440)) {
		t.Error("MBR has bytes outside the signature and two entries")
	}
	check := func(name string, h []byte, current, other, entriesLBA int64, entries []byte) {
		t.Helper()
		if string(h[:8]) != "EFI PART" || binary.LittleEndian.Uint32(h[12:]) != 92 {
			t.Fatalf("%s: bad header", name)
		}
		crc := binary.LittleEndian.Uint32(h[16:])
		hh := append([]byte{}, h[:92]...)
		binary.LittleEndian.PutUint32(hh[16:], 0)
		if crc32.ChecksumIEEE(hh) != crc {
			t.Errorf("%s: header CRC mismatch", name)
		}
		if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
			t.Errorf("%s: entries CRC mismatch", name)
		}
		for off, want := range map[int]int64{24: current, 32: other, 40: 34, 48: n - 34, 72: entriesLBA} {
			if got := int64(binary.LittleEndian.Uint64(h[off:])); got != want {
				t.Errorf("%s: field at %d = %d, want %d", name, off, got, want)
			}
		}
	}
	check("primary", tb.Primary[:512], 1, n-1, 2, tb.Primary[512:])
	if tb.BackupLBA != n-33 || len(tb.Backup) != 33*512 {
		t.Fatalf("backup at %d, %d bytes", tb.BackupLBA, len(tb.Backup))
	}
	check("backup", tb.Backup[32*512:], n-1, 1, n-33, tb.Backup[:32*512])
	// Entry 4 ends right before the backup array's reserve: 2 GiB gives 1933278 sectors (the gok image).
	e4 := tb.Primary[512+3*128:]
	first, last := binary.LittleEndian.Uint64(e4[32:]), binary.LittleEndian.Uint64(e4[40:])
	if first != PermStart || last-first+1 != 1933278 {
		t.Errorf("p4 = %d..%d", first, last)
	}
	if tb.Partitions[3].Size != 1933278 {
		t.Errorf("Layout p4 size %d", tb.Partitions[3].Size)
	}
	for _, tc := range []struct {
		size int64
		arch string
	}{{MinImageSize - 512, "arm64"}, {MinImageSize + 1, "arm64"}, {MinImageSize, "riscv64"}} {
		if _, err := PartitionTables(tc.size, "ntppi", tc.arch); err == nil {
			t.Errorf("PartitionTables(%d, %s): no error", tc.size, tc.arch)
		}
	}
	if _, err := PartitionTables(MinImageSize, "", "arm64"); err == nil {
		t.Error("empty hostname accepted")
	}
}

func TestCmdline(t *testing.T) {
	pad := strings.Repeat(" ", 64)
	tests := []struct {
		kernel  string
		extra   []string
		want    string
		wantErr string
	}{
		{"root=/dev/mmcblk0p2 init=/gokrazy/init rootwait panic=10 oops=panic\n", nil,
			"console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-57c85efa0001/PARTNROFF=1 init=/gokrazy/init rootwait panic=10 oops=panic" + pad, ""},
		{"console=serial0,115200 root=/dev/sda2 ro init=/gokrazy/init", []string{"nohz=off"},
			"console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-57c85efa0001/PARTNROFF=1 ro init=/gokrazy/init nohz=off" + pad, ""},
		{"init=/gokrazy/init", nil, "", "no root="},
		{"root=/dev/sda2 root=/dev/sda3", nil, "", "two root="},
		{"root=/dev/sda2", []string{"a b"}, "", "one word"},
		{"root=/dev/sda2", []string{"root=/dev/sda3"}, "", "set by the image layout"},
	}
	for _, tc := range tests {
		got, err := Cmdline(tc.kernel, "ntppi", tc.extra)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Cmdline(%q) err = %v, want %q", tc.kernel, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Cmdline(%q) = %q, %v\nwant %q", tc.kernel, got, err, tc.want)
		}
	}
	if got := LoaderEntry("x"); got != "title gokrazy\nlinux /vmlinuz\noptions x" {
		t.Errorf("LoaderEntry = %q", got)
	}
}

func TestConfigTxt(t *testing.T) {
	kernel := "# Switch the CPU from ARMv7 into ARMv8 (aarch64) mode\narm_control=0x200\n\nenable_uart=0\n\nkernel=vmlinuz\n"
	got := ConfigTxt(kernel, []string{"enable_uart=1", "dtoverlay=disable-bt"})
	want := "# Switch the CPU from ARMv7 into ARMv8 (aarch64) mode\narm_control=0x200\n\nkernel=vmlinuz\n\n# gpsntp board profile\nenable_uart=1\ndtoverlay=disable-bt\n"
	if got != want {
		t.Errorf("ConfigTxt =\n%q\nwant\n%q", got, want)
	}
	if got := ConfigTxt("", nil); got != "\n" {
		t.Errorf("ConfigTxt(empty) = %q", got)
	}
}

func TestInitSource(t *testing.T) {
	src, err := InitSource("2026-11-18T11:06:40Z", []Service{
		{Path: "/gokrazy/dhcp", Start: true},
		{Path: "/user/gpsntpd", Args: []string{"-gps-device", "/dev/ttyAMA0"}, Env: []string{"GODEBUG=x=1"}, Start: true},
		{Path: "/user/tool"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`var buildTimestamp = "2026-11-18T11:06:40Z"`,
		`gokrazy.Boot(buildTimestamp)`,
		`exec.Command("/user/gpsntpd", "-gps-device", "/dev/ttyAMA0")`,
		`cmd.Env = append(os.Environ(), "GODEBUG=x=1")`,
		`gokrazy.NewStoppedService(cmd)`,
		`gokrazy.SuperviseServices(svcs)`,
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("init source lacks %q:\n%s", want, src)
		}
	}
	if bytes.Contains(src, []byte("cmd/ntp")) {
		t.Error("init mentions cmd/ntp")
	}
	for _, bad := range [][]Service{
		{{Path: "relative"}},
		{{Path: "/a"}, {Path: "/a"}},
		{{Path: "/a", Env: []string{"NOEQUALS"}}},
	} {
		if _, err := InitSource("t", bad); err == nil {
			t.Errorf("InitSource(%+v): no error", bad)
		}
	}
}

func TestQEMUArgs(t *testing.T) {
	args, err := QEMUArgs(VM{
		Image: "/x/vm.img", Kernel: "/k/vmlinuz", Cmdline: "console=tty1 root=PARTUUID=a/PARTNROFF=1   ",
		Forward: map[int]int{18081: 80, 18080: 8080}, UDPForward: map[int]int{11123: 123}, Restrict: true, NMEAPort: 4000,
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg", "-no-reboot", "-kernel /k/vmlinuz", "-append console=tty1 root=PARTUUID=a/PARTNROFF=1 -drive",
		"file=/x/vm.img,format=raw,if=virtio",
		"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:18080-:8080,hostfwd=tcp:127.0.0.1:18081-:80,hostfwd=udp:127.0.0.1:11123-:123",
		"socket,id=nmea,host=127.0.0.1,port=4000,server=on,wait=off", "virtconsole,chardev=nmea,name=nmea",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("QEMU args lack %q:\n%s", want, joined)
		}
	}
	for _, bad := range []VM{
		{Kernel: "k", Cmdline: "root=x"},
		{Image: "i", Kernel: "k", Cmdline: "ro"},
		{Image: "a,b", Kernel: "k", Cmdline: "root=x"},
		{Image: "i", Kernel: "k", Cmdline: "root=x", NMEAPort: 1, NMEATTY: "/dev/pts/3"},
	} {
		if _, err := QEMUArgs(bad); err == nil {
			t.Errorf("QEMUArgs(%+v): no error", bad)
		}
	}
}
