package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/image"
)

// requireImageTools skips (fails under CI) unless every program image.Build runs is installed.
func requireImageTools(t *testing.T) {
	t.Helper()
	for _, tool := range image.Tools {
		requireTool(t, tool)
	}
}

// TestImageReproducible builds the Pi 4 + Uputronics image twice and requires identical bytes, then checks
// the result with tools that share no code with ours: sfdisk reads the partition table, unsquashfs lists the
// root, e2fsck checks /perm, and the boot partition is read the way gokrazy's update handlers read it.
// It uses the smallest image gokrazy accepts (1200 MiB, same layout code, a smaller /perm) to keep hashing
// short. The second build reuses the first build's gpsntpd binary: other work may edit the tree between the
// two builds, and the Go toolchain's own reproducibility (-trimpath) is not what this test is about.
func TestImageReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two images")
	}
	requireImageTools(t)
	requireTool(t, "sfdisk")
	requireTool(t, "unsquashfs")
	requireTool(t, "mdir")
	requireTool(t, "fsck.fat")
	e2fsck := requireTool(t, "e2fsck")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := board.Parse("rpi4", "uputronics")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := image.Config{
		Profile: prof, Hostname: "ntppi", Password: "correct horse battery staple",
		Size: image.MinImageSize, Epoch: time.Unix(1795000000, 0), RepoDir: root, Version: "e2e",
	}
	var results [2]image.Result
	for i, name := range []string{"a", "b"} {
		c := cfg
		c.Output = filepath.Join(dir, name+".img")
		c.WorkDir = filepath.Join(dir, "work-"+name)
		if err := os.Mkdir(c.WorkDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			c.Gpsntpd = filepath.Join(dir, "work-a", "bin", "gpsntpd")
		}
		start := time.Now()
		res, err := image.Build(ctx, c)
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		results[i] = res
		t.Logf("build %s: %s in %v (root squashfs %d bytes, %d boot files)", name, res.SHA256, time.Since(start).Round(time.Millisecond), res.RootBytes, res.BootFiles)
		for _, s := range res.Steps {
			t.Logf("  %-62s %v", s.Name, s.Duration.Round(time.Millisecond))
		}
	}
	if results[0].SHA256 != results[1].SHA256 {
		t.Errorf("two builds of the same inputs differ: %s vs %s", results[0].SHA256, results[1].SHA256)
	}
	img := results[0].Path

	// Partition table, as util-linux reads it.
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string
			ID         string
			Partitions []struct {
				Start, Size int64
				Type, UUID  string
			}
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatalf("sfdisk JSON: %v\n%s", err, out)
	}
	wantParts, _ := image.Layout(image.MinImageSize, "arm64")
	if pt.PartitionTable.Label != "gpt" || len(pt.PartitionTable.Partitions) != 4 {
		t.Fatalf("sfdisk sees %+v", pt.PartitionTable)
	}
	for i, p := range pt.PartitionTable.Partitions {
		w := wantParts[i]
		if p.Start != w.Start || p.Size != w.Size || !strings.EqualFold(p.Type, w.Type) || p.UUID != image.PartitionGUID("ntppi", i+1) {
			t.Errorf("partition %d: sfdisk %+v, want %+v uuid %s", i+1, p, w, image.PartitionGUID("ntppi", i+1))
		}
	}
	// ntppi hashes to 0x57c85efa (the gok-built reference image in the project notes).
	if pt.PartitionTable.ID != "60C24CC1-F3F9-427A-8199-57C85EFA0000" {
		t.Errorf("disk GUID %s", pt.PartitionTable.ID)
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bootPart := io.NewSectionReader(f, image.BootStart*image.SectorSize, image.BootSize*image.SectorSize)
	cmdline, err := image.ReadFAT16File(bootPart, "/cmdline.txt")
	if err != nil {
		t.Fatal(err)
	}
	wantCmd := "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-57c85efa0001/PARTNROFF=1 init=/gokrazy/init rootwait panic=10 oops=panic" + strings.Repeat(" ", 64)
	if string(cmdline) != wantCmd {
		t.Errorf("cmdline.txt = %q, want %q", cmdline, wantCmd)
	}
	cfgTxt, err := image.ReadFAT16File(bootPart, "/config.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"arm_control=0x200", "kernel=vmlinuz", "enable_uart=1", "dtoverlay=disable-bt"} {
		if !bytes.Contains(cfgTxt, []byte(l+"\n")) {
			t.Errorf("config.txt lacks %q:\n%s", l, cfgTxt)
		}
	}
	if bytes.Contains(cfgTxt, []byte("enable_uart=0")) {
		t.Errorf("config.txt keeps the kernel package's enable_uart=0:\n%s", cfgTxt)
	}
	// The firmware reads long names, so check those with mtools rather than the 8.3-only reader.
	bootImg := filepath.Join(dir, "boot.fat")
	extract(t, f, bootImg, image.BootStart, image.BootSize)
	for _, p := range []string{"::/vmlinuz", "::/bcm2711-rpi-4-b.dtb", "::/start4.elf", "::/fixup4.dat", "::/overlays/disable-bt.dtbo", "::/overlays/uart0-pi5.dtbo"} {
		cmd := exec.Command("mdir", "-i", bootImg, "-b", p)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("boot partition lacks %s: %v %s", p, err, out)
		}
	}
	if out, err := exec.Command("fsck.fat", "-n", bootImg).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}

	// Root file system, as squashfs-tools reads it.
	rootImg := filepath.Join(dir, "root.sq")
	extract(t, f, rootImg, image.RootAStart, image.RootSize)
	list, err := exec.Command("unsquashfs", "-lls", rootImg).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lls: %v\n%s", err, list)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root", "squashfs-root/gokrazy/init", "squashfs-root/gokrazy/dhcp", "squashfs-root/gokrazy/randomd",
		"squashfs-root/user/gpsntpd", "squashfs-root/etc/hostname", "squashfs-root/etc/resolv.conf -> /tmp/resolv.conf",
		"-r-------- root/root", "squashfs-root/etc/gokr-pw.txt", "squashfs-root/lib/modules/6.12.47-v8",
		"squashfs-root/var -> /perm/var", "2026-11-18 11:06",
	} {
		if !bytes.Contains(list, []byte(want)) {
			t.Errorf("root file system lacks %q", want)
		}
	}
	if bytes.Contains(list, []byte("/ntp")) {
		t.Errorf("root file system contains gokrazy's SNTP client:\n%s", list)
	}

	// /perm: a clean ext4 that init can mount read-write.
	permImg := filepath.Join(dir, "perm.ext4")
	extract(t, f, permImg, wantParts[3].Start, wantParts[3].Size)
	if out, err := exec.Command(e2fsck, "-fn", permImg).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn /perm: %v\n%s", err, out)
	}
}

// extract copies sectors [start, start+size) of f into a new file.
func extract(t *testing.T, f *os.File, dst string, start, size int64) {
	t.Helper()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(f, start*image.SectorSize, size*image.SectorSize)); err != nil {
		t.Fatal(err)
	}
}

// TestImageCLIBadInput: wrong combinations and a missing password file fail before any build work, with
// a message that names the problem.
func TestImageCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-board", "rpi2", "-hat", "uputronics", "-o", dir + "/x.img"}, `unknown board "rpi2"`},
		{[]string{"-board", "rpi4", "-hat", "ublox", "-o", dir + "/x.img"}, "has no fixed PPS pin"},
		{[]string{"-board", "rpi4", "-hat", "ublox", "-pps-pin", "15", "-o", dir + "/x.img"}, "conflicts with the receiver's UART"},
		{[]string{"-board", "rpi5", "-hat", "adafruit", "-pps-pin", "18", "-o", dir + "/x.img"}, "wires PPS to GPIO4"},
		{[]string{"-board", "rpi4", "-hat", "uputronics"}, "-o are required"},
		{[]string{"-board", "rpi4", "-hat", "uputronics", "-o", dir + "/x.img", "-password-file", dir + "/missing"}, "reading -password-file"},
	}
	for _, tc := range tests {
		cmd := exec.Command(bin(t, "gpsntp-image"), tc.args...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1795000000")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%q: succeeded, want an error", tc.args)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: output %q, want it to contain %q", tc.args, out, tc.want)
		}
		if _, err := os.Stat(dir + "/x.img"); err == nil {
			t.Errorf("%q: left an image behind", tc.args)
		}
	}
}
