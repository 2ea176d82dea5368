package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/ota"
)

// Modules pins the gokrazy modules an image is built from. Pinning is what makes the image reproducible:
// the module proxy serves a version's bytes immutably (and go.sum checks them).
type Modules struct {
	Gokrazy  string // github.com/gokrazy/gokrazy: init library, cmd/dhcp, cmd/randomd
	Kernel   string // module path of the kernel package, e.g. github.com/gokrazy/kernel.rpi
	KernelV  string
	Firmware string // github.com/gokrazy/firmware version ("" for kernels that boot without it)
}

// DefaultModules are the versions this tree was verified against (see the package doc), for the Pi.
var DefaultModules = Modules{
	Gokrazy:  "v0.0.0-20260418085648-c38c3134b8a7",
	Kernel:   "github.com/gokrazy/kernel.rpi",
	KernelV:  "v0.0.0-20251127164438-9778ec0261de",
	Firmware: "v0.0.0-20260522070551-527ce0ed43cf",
}

// VirtModules are the modules of the QEMU variant: the same gokrazy, kernel.arm64 (7.1.3, VIRTIO_CONSOLE
// built in), no Pi firmware (QEMU loads the kernel with -kernel).
var VirtModules = Modules{
	Gokrazy: DefaultModules.Gokrazy,
	Kernel:  "github.com/gokrazy/kernel.arm64",
	KernelV: "v0.0.0-20260705071517-37841c4d6ff1",
}

// ModulesFor returns the pinned modules for a board's kernel family.
func ModulesFor(b board.Board) Modules {
	if b.Kernel == "virt" {
		return VirtModules
	}
	return DefaultModules
}

// Config is everything an image build depends on. Equal Configs (and equal toolchains and Debian tools)
// give equal image bytes.
type Config struct {
	Profile  board.Profile
	Hostname string // default "gpsntp"
	// Password protects gokrazy's web UI and update API (HTTP basic auth, user "gokrazy"). Required.
	Password string
	Output   string // image file to write (replaced)
	Size     int64  // image size in bytes; default 2 GiB
	// Epoch is every file time, the squashfs and FAT creation time and the build timestamp shown by gokrazy.
	Epoch time.Time
	// RepoDir is the root of the gpsntp module (gpsntpd is built from it); Version goes into -X main.version.
	RepoDir string
	Version string
	// Gpsntpd, when set, is a prebuilt linux/arm64 gpsntpd used instead of building one from RepoDir.
	Gpsntpd string
	Modules Modules
	// GokrazyHTTPPort moves gokrazy's own UI and update API off :80, which gpsntpd's status page takes.
	GokrazyHTTPPort int // default 8080
	// DaemonFlags are appended to gpsntpd's command line after the listen and board flags.
	DaemonFlags []string
	// KernelArgs are extra kernel command-line words.
	KernelArgs []string
	// OTAFlags are appended to gpsntp-ota's command line (e.g. "-deadline", "2m").
	OTAFlags []string
	// WorkDir holds the build's temporary files; "" makes and removes a temporary directory.
	WorkDir string
	// Log receives one line per step (nil: discarded).
	Log io.Writer
}

// Result describes a finished image.
type Result struct {
	Path       string
	Size       int64
	SHA256     string
	RootBytes  int64 // squashfs size
	BootFiles  int
	Cmdline    string
	ConfigTxt  string
	Vmlinuz    string // the kernel in the module cache (what QEMU's -kernel loads for the VM variant)
	DaemonArgs []string
	Steps      []Step
}

// Step is one timed build phase.
type Step struct {
	Name     string
	Duration time.Duration
}

// Tools are the Debian programs Build runs; a missing one is reported by Missing.
var Tools = []string{"go", "mksquashfs", "mkfs.fat", "mmd", "mcopy", "mkfs.ext4"}

// MissingTools returns the tools in Tools that are not on PATH.
func MissingTools() []string {
	var out []string
	for _, t := range Tools {
		if _, err := exec.LookPath(t); err != nil {
			out = append(out, t)
		}
	}
	return out
}

const (
	defaultSize      = 2 << 30
	defaultHostname  = "gpsntp"
	gokrazyModule    = "github.com/gokrazy/gokrazy"
	firmwareModule   = "github.com/gokrazy/firmware"
	fatVolumeIDValue = 0xF3F37B84 // gokrazy's fixed FAT volume ID, F3F3-7B84
)

func (c *Config) defaults() error {
	if c.Hostname == "" {
		c.Hostname = defaultHostname
	}
	if c.Size == 0 {
		c.Size = defaultSize
	}
	if c.Modules == (Modules{}) {
		c.Modules = ModulesFor(c.Profile.Board)
	}
	if c.Profile.Board.Virtual && !hasPrefixed(c.KernelArgs, "console=") {
		// The VM's PL011 is its console: the kernel log and init's output go to QEMU's serial.
		c.KernelArgs = append([]string{"console=ttyAMA0,115200"}, c.KernelArgs...)
	}
	if c.GokrazyHTTPPort == 0 {
		c.GokrazyHTTPPort = 8080
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	var errs []error
	if err := c.Profile.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Password == "" {
		errs = append(errs, errors.New("image: no update password: give one (gpsntp-image -password-file) or let the command generate it"))
	} else if strings.ContainsAny(c.Password, "\n\r") {
		errs = append(errs, errors.New("image: the password must be one line"))
	}
	if c.Output == "" {
		errs = append(errs, errors.New("image: no output path"))
	}
	if c.RepoDir == "" && c.Gpsntpd == "" {
		errs = append(errs, errors.New("image: no RepoDir (the gpsntp module root)"))
	}
	if c.Epoch.IsZero() || c.Epoch.Unix() < 0 {
		errs = append(errs, errors.New("image: no Epoch: set SOURCE_DATE_EPOCH or pass a time"))
	}
	if !validHostname(c.Hostname) {
		errs = append(errs, fmt.Errorf("image: hostname %q: want 1..63 letters, digits and '-'", c.Hostname))
	}
	if c.GokrazyHTTPPort < 1 || c.GokrazyHTTPPort > 65535 || c.GokrazyHTTPPort == 80 || c.GokrazyHTTPPort == 123 || c.GokrazyHTTPPort == 4460 || c.GokrazyHTTPPort == OTAPort {
		errs = append(errs, fmt.Errorf("image: gokrazy HTTP port %d collides with gpsntpd (80, 123, 4460), gpsntp-ota (%d) or is out of range", c.GokrazyHTTPPort, OTAPort))
	}
	if _, err := Layout(c.Size, "arm64"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func hasPrefixed(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 63 || h[0] == '-' || h[len(h)-1] == '-' {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// DaemonArgs is gpsntpd's command line in the image: the public listeners, state on /perm, where gpsntp-ota
// tells the update state (for the status page's Updates card), then the board profile's hardware flags,
// then extra flags.
func DaemonArgs(p board.Profile, extra []string) []string {
	args := []string{"-ntp-listen", ":123", "-nts-ke-listen", ":4460", "-http-listen", ":80", "-state-dir", "/perm/gpsntp",
		"-ota-status", fmt.Sprintf("http://127.0.0.1:%d/ota/status", OTAPort)}
	args = append(args, p.DaemonFlags()...)
	return append(args, extra...)
}

// Build assembles the image described by c and writes it to c.Output.
func Build(ctx context.Context, c Config) (Result, error) {
	if err := c.defaults(); err != nil {
		return Result{}, err
	}
	work := c.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "gpsntp-image-")
		if err != nil {
			return Result{}, fmt.Errorf("image: os.MkdirTemp: %w", err)
		}
		defer removeAll(d)
		work = d
	}
	b := &builder{c: c, work: work}
	res, err := b.run(ctx)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

type builder struct {
	c     Config
	work  string
	steps []Step
}

func (b *builder) step(name string, f func() error) error {
	start := time.Now()
	fmt.Fprintf(b.c.Log, "image: %s\n", name)
	err := f()
	b.steps = append(b.steps, Step{name, time.Since(start)})
	return err
}

func (b *builder) run(ctx context.Context) (Result, error) {
	c := b.c
	bin := filepath.Join(b.work, "bin")
	mod := filepath.Join(b.work, "initmod")
	root := filepath.Join(b.work, "root")
	boot := filepath.Join(b.work, "boot")
	for _, d := range []string{bin, mod, root, boot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Result{}, fmt.Errorf("image: os.MkdirAll(%s): %w", d, err)
		}
	}
	stamp := c.Epoch.UTC().Format(time.RFC3339)
	daemonArgs := DaemonArgs(c.Profile, c.DaemonFlags)
	services := []Service{
		{Path: "/gokrazy/dhcp", Start: true},
		{Path: "/gokrazy/randomd", Start: true},
		{Path: "/user/gpsntpd", Args: daemonArgs, Start: true},
		{Path: "/user/gpsntp-ota", Args: OTAArgs(c.OTAFlags), Start: true},
	}
	var kernelDir, firmwareDir string
	err := b.step("build gokrazy init, dhcp, randomd (linux/arm64)", func() error {
		src, err := InitSource(stamp, services)
		if err != nil {
			return err
		}
		gomod := fmt.Sprintf("module gpsntp.invalid/gokrazy-init\n\ngo 1.24\n\nrequire (\n\t%s %s\n\t%s %s\n", gokrazyModule, c.Modules.Gokrazy, c.Modules.Kernel, c.Modules.KernelV)
		if c.Modules.Firmware != "" {
			gomod += fmt.Sprintf("\t%s %s\n", firmwareModule, c.Modules.Firmware)
		}
		gomod += ")\n"
		if err := writeFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(mod, "main.go"), src, 0o644); err != nil {
			return err
		}
		if err := b.goBuild(ctx, mod, filepath.Join(bin, "init"), "."); err != nil {
			return err
		}
		for _, p := range []string{"dhcp", "randomd"} {
			if err := b.goBuild(ctx, mod, filepath.Join(bin, p), gokrazyModule+"/cmd/"+p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	err = b.step("build gpsntpd and gpsntp-ota (linux/arm64)", func() error {
		if c.Gpsntpd != "" {
			if err := copyFile(c.Gpsntpd, filepath.Join(bin, "gpsntpd"), 0o755); err != nil {
				return err
			}
		} else if err := b.goBuild(ctx, c.RepoDir, filepath.Join(bin, "gpsntpd"), "./cmd/gpsntpd", "-ldflags=-X main.version="+c.Version); err != nil {
			return err
		}
		if c.RepoDir == "" {
			return errors.New("image: building gpsntp-ota needs RepoDir (the gpsntp module root)")
		}
		return b.goBuild(ctx, c.RepoDir, filepath.Join(bin, "gpsntp-ota"), "./cmd/gpsntp-ota")
	})
	if err != nil {
		return Result{}, err
	}
	err = b.step("fetch kernel and firmware modules", func() error {
		var err error
		if kernelDir, err = b.moduleDir(ctx, mod, c.Modules.Kernel, c.Modules.KernelV); err != nil {
			return err
		}
		if c.Modules.Firmware != "" {
			firmwareDir, err = b.moduleDir(ctx, mod, firmwareModule, c.Modules.Firmware)
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}

	kcmd, err := os.ReadFile(filepath.Join(kernelDir, "cmdline.txt"))
	if err != nil {
		return Result{}, fmt.Errorf("image: kernel package: %w", err)
	}
	kcfg, err := os.ReadFile(filepath.Join(kernelDir, "config.txt"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("image: kernel package: %w", err)
	}
	cmdline, err := Cmdline(string(kcmd), c.Hostname, c.KernelArgs)
	if err != nil {
		return Result{}, err
	}
	if err := c.Profile.CheckCmdline(cmdline); err != nil {
		return Result{}, err
	}
	configTxt := ConfigTxt(string(kcfg), c.Profile.ConfigLines())

	rootImg := filepath.Join(b.work, "root.squashfs")
	err = b.step("assemble root file system (squashfs)", func() error {
		if err := b.stageRoot(root, bin, kernelDir); err != nil {
			return err
		}
		return b.run1(ctx, nil, "mksquashfs", root, rootImg, "-noappend", "-comp", "gzip", "-b", "131072",
			"-no-xattrs", "-all-root", "-reproducible", "-quiet", "-no-progress",
			"-all-time", strconv.FormatInt(c.Epoch.Unix(), 10), "-mkfs-time", strconv.FormatInt(c.Epoch.Unix(), 10))
	})
	if err != nil {
		return Result{}, err
	}
	rootInfo, err := os.Stat(rootImg)
	if err != nil {
		return Result{}, fmt.Errorf("image: %w", err)
	}
	if rootInfo.Size() > RootSize*SectorSize {
		return Result{}, fmt.Errorf("image: root file system is %d bytes; a slot holds %d", rootInfo.Size(), RootSize*SectorSize)
	}

	bootImg := filepath.Join(b.work, "boot.fat")
	var bootFiles int
	err = b.step("assemble boot file system (FAT16)", func() error {
		n, err := b.makeBoot(ctx, boot, bootImg, kernelDir, firmwareDir, cmdline, configTxt)
		bootFiles = n
		return err
	})
	if err != nil {
		return Result{}, err
	}

	var sum string
	err = b.step("write partition table, file systems and /perm (ext4)", func() error {
		return b.writeImage(ctx, bootImg, rootImg)
	})
	if err != nil {
		return Result{}, err
	}
	err = b.step("check boot partition as gokrazy reads it, hash image", func() error {
		f, err := os.Open(c.Output)
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		defer f.Close()
		part := io.NewSectionReader(f, BootStart*SectorSize, BootSize*SectorSize)
		got, err := ReadFAT16File(part, "/cmdline.txt")
		if err != nil {
			return fmt.Errorf("image: boot partition check: %w", err)
		}
		if string(got) != cmdline {
			return fmt.Errorf("image: boot partition check: cmdline.txt reads back as %q", got)
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("image: hashing %s: %w", c.Output, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return Result{
		Path: c.Output, Size: c.Size, SHA256: sum, RootBytes: rootInfo.Size(), BootFiles: bootFiles,
		Cmdline: cmdline, ConfigTxt: configTxt, DaemonArgs: daemonArgs, Steps: b.steps,
		Vmlinuz: filepath.Join(kernelDir, "vmlinuz"),
	}, nil
}

// OTAArgs is gpsntp-ota's command line in the image: its API next to gokrazy's, then extra flags.
func OTAArgs(extra []string) []string {
	return append([]string{"-listen", fmt.Sprintf(":%d", OTAPort)}, extra...)
}

// OTAPort is where gpsntp-ota's update API listens on the box.
const OTAPort = 8081

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("image: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goEnv is the environment of every go invocation: cross-compiled, static, without the host's GOFLAGS
// and without a workspace, so the caller's settings cannot change the bytes.
func goEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOWORK", "GOARM64", "GOEXPERIMENT", "GOAMD64":
			continue
		}
		env = append(env, e)
	}
	return append(env, "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
}

// goBuild builds pkg in dir the way gokrazy's packer does (tags gokrazy,netgo,osusergo; static), plus
// -trimpath and -buildvcs=false, which make the binary independent of the checkout's path and git state.
func (b *builder) goBuild(ctx context.Context, dir, out, pkg string, extra ...string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-tags", "gokrazy,netgo,osusergo", "-o", out}
	args = append(args, extra...)
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: go %s (in %s): %w: %s", strings.Join(args, " "), dir, err, tail(stderr.String()))
	}
	return nil
}

// moduleDir downloads mod@version through the module proxy (checked against go.sum / the checksum
// database) and returns its directory in the module cache.
func (b *builder) moduleDir(ctx context.Context, dir, mod, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod+"@"+version)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("image: go mod download %s@%s: %w: %s%s", mod, version, err, tail(stderr.String()), tail(stdout.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		return "", fmt.Errorf("image: go mod download %s@%s: decoding its JSON: %w", mod, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("image: go mod download %s@%s: %s", mod, version, info.Error)
	}
	return info.Dir, nil
}

func (b *builder) run1(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	// The caller's SOURCE_DATE_EPOCH (or TZ) must not compete with the explicit epoch: mksquashfs refuses
	// both at once, and mtools would take the caller's value.
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if k != "SOURCE_DATE_EPOCH" && k != "TZ" {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: %s %s: %w: %s", name, strings.Join(args, " "), err, tail(out.String()))
	}
	return nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// stageRoot lays out the root file system tree. Modes follow gokrazy's packer: directories 0555, literal
// files 0444, the password 0400, programs 0755.
func (b *builder) stageRoot(root, bin, kernelDir string) error {
	c := b.c
	sbom, err := b.sbom()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "etc/gokrazy", "gokrazy", "lib", "mnt", "perm", "proc", "run", "sys", "tmp", "user"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"etc/hostname", []byte(c.Hostname), 0o444},
		{"etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o444},
		{"etc/gokr-pw.txt", []byte(c.Password), 0o400},
		{"etc/http-port.txt", []byte(strconv.Itoa(c.GokrazyHTTPPort)), 0o444},
		{"etc/gokrazy/mountdevices.json", []byte("null"), 0o444},
		{"etc/gokrazy/sbom.json", sbom, 0o444},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(root, f.path), f.data, f.mode); err != nil {
			return err
		}
	}
	// init mounts a tmpfs over /etc unless resolv.conf exists; it points at the DHCP client's output.
	if err := os.Symlink("/tmp/resolv.conf", filepath.Join(root, "etc/resolv.conf")); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := os.Symlink("/perm/var", filepath.Join(root, "var")); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	for _, p := range []struct{ src, dst string }{
		{"init", "gokrazy/init"}, {"dhcp", "gokrazy/dhcp"}, {"randomd", "gokrazy/randomd"}, {"gpsntpd", "user/gpsntpd"},
		{"gpsntp-ota", "user/gpsntp-ota"},
	} {
		if err := copyFile(filepath.Join(bin, p.src), filepath.Join(root, p.dst), 0o755); err != nil {
			return err
		}
	}
	if mods := filepath.Join(kernelDir, "lib", "modules"); dirExists(mods) {
		if err := copyTree(mods, filepath.Join(root, "lib", "modules")); err != nil {
			return err
		}
	}
	return normalizeTree(root, c.Epoch)
}

// sbom is /etc/gokrazy/sbom.json in the shape gokrazy's UI reads ({"sbom_hash", "sbom"}): what went into the
// image, so the UI can tell two builds apart.
func (b *builder) sbom() ([]byte, error) {
	c := b.c
	inner := map[string]any{
		"gpsntp_version":   c.Version,
		"profile":          c.Profile.String(),
		"hostname":         c.Hostname,
		gokrazyModule:      c.Modules.Gokrazy,
		c.Modules.Kernel:   c.Modules.KernelV,
		firmwareModule:     c.Modules.Firmware,
		"gpsntpd_flags":    DaemonArgs(c.Profile, c.DaemonFlags),
		"gpsntp_ota_flags": OTAArgs(c.OTAFlags),
		"build_timestamp":  c.Epoch.UTC().Format(time.RFC3339),
		"gokrazy_ui_port":  c.GokrazyHTTPPort,
		"extra_kernel_arg": c.KernelArgs,
	}
	raw, err := json.Marshal(inner) // map keys are marshalled sorted
	if err != nil {
		return nil, fmt.Errorf("image: sbom: %w", err)
	}
	sum := sha256.Sum256(raw)
	out, err := json.MarshalIndent(map[string]any{"sbom_hash": hex.EncodeToString(sum[:]), "sbom": json.RawMessage(raw)}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("image: sbom: %w", err)
	}
	return out, nil
}

// makeBoot writes the FAT16 boot file system with mkfs.fat and mtools. gokrazy's on-device reader needs
// FAT16 (16-bit FAT size field), exactly one FAT, a fixed root directory and unfragmented files; mtools
// allocates clusters in order on a fresh file system, and ReadFAT16File checks the result the same way.
func (b *builder) makeBoot(ctx context.Context, stage, img, kernelDir, firmwareDir, cmdline, configTxt string) (int, error) {
	c := b.c
	// Root: the kernel package's vmlinuz and DTBs, the firmware's blobs, then our three text files.
	var top []string
	seen := map[string]string{}
	add := func(src string) error {
		name := filepath.Base(src)
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("image: boot file %s comes from both %s and %s", name, prev, src)
		}
		seen[name] = src
		if err := copyFile(src, filepath.Join(stage, name), 0o644); err != nil {
			return err
		}
		top = append(top, filepath.Join(stage, name))
		return nil
	}
	patterns := [][2]string{{kernelDir, "vmlinuz"}, {kernelDir, "*.dtb"}}
	if firmwareDir != "" {
		patterns = append(patterns, [2]string{firmwareDir, "*.bin"}, [2]string{firmwareDir, "*.dat"}, [2]string{firmwareDir, "*.elf"})
	}
	for _, p := range patterns {
		m, err := filepath.Glob(filepath.Join(p[0], p[1]))
		if err != nil {
			return 0, fmt.Errorf("image: %w", err)
		}
		if len(m) == 0 && p[1] == "vmlinuz" {
			return 0, fmt.Errorf("image: kernel package %s has no vmlinuz", p[0])
		}
		sort.Strings(m)
		for _, f := range m {
			if err := add(f); err != nil {
				return 0, err
			}
		}
	}
	kernelSum, err := fileSHA256(filepath.Join(kernelDir, "vmlinuz"))
	if err != nil {
		return 0, err
	}
	info := ota.Info{Profile: c.Profile.String(), Version: c.Version, Kernel: kernelSum}
	// cmdline.txt and trycmd.txt first: they are the files rewritten in place. tryboot.txt is what the Pi
	// firmware reads instead of config.txt after a reboot with the tryboot flag (see package ota).
	for _, f := range []struct{ name, data string }{
		{"cmdline.txt", cmdline}, {"trycmd.txt", cmdline}, {"config.txt", configTxt},
		{"tryboot.txt", ota.TrybootConfigText(configTxt)}, {"gpsntp.txt", info.Text()},
	} {
		p := filepath.Join(stage, f.name)
		if err := writeFile(p, []byte(f.data), 0o644); err != nil {
			return 0, err
		}
		top = append(top, p)
	}
	overlays, err := filepath.Glob(filepath.Join(kernelDir, "overlays", "*"))
	if err != nil {
		return 0, fmt.Errorf("image: %w", err)
	}
	sort.Strings(overlays)
	var ov []string
	if err := os.MkdirAll(filepath.Join(stage, "overlays"), 0o755); err != nil {
		return 0, fmt.Errorf("image: %w", err)
	}
	for _, f := range overlays {
		dst := filepath.Join(stage, "overlays", filepath.Base(f))
		if err := copyFile(f, dst, 0o644); err != nil {
			return 0, err
		}
		ov = append(ov, dst)
	}
	if err := normalizeTree(stage, c.Epoch); err != nil {
		return 0, err
	}
	epoch := strconv.FormatInt(c.Epoch.Unix(), 10)
	env := []string{"MTOOLS_SKIP_CHECK=1", "TZ=UTC", "SOURCE_DATE_EPOCH=" + epoch, "MTOOLSRC=/dev/null"}
	if err := b.run1(ctx, env, "mkfs.fat", "-C", "-F", "16", "-f", "1", "-s", "4", "-R", "4", "-r", "512",
		"-S", "512", "-h", strconv.Itoa(BootStart), "-n", "GOKRAZY", "--invariant",
		img, strconv.Itoa(BootSize*SectorSize/1024)); err != nil {
		return 0, err
	}
	// --invariant fixes mkfs.fat's time-based fields but also its volume ID (1234-ABCD); put gokrazy's
	// fixed ID back (FAT16 extended BPB: 38 signature 0x29, 39..42 volume ID).
	if err := patchVolumeID(img, fatVolumeIDValue); err != nil {
		return 0, err
	}
	// The small files first, so the ones gokrazy rewrites in place sit near the start; then the overlays
	// directory (its entries grow with 357 files, which mtools handles by chaining clusters).
	if err := b.run1(ctx, env, "mcopy", append(append([]string{"-i", img, "-m", "-Q"}, top...), "::/")...); err != nil {
		return 0, err
	}
	if err := b.run1(ctx, env, "mmd", "-i", img, "::/overlays"); err != nil {
		return 0, err
	}
	if len(ov) > 0 {
		if err := b.run1(ctx, env, "mcopy", append(append([]string{"-i", img, "-m", "-Q"}, ov...), "::/overlays/")...); err != nil {
			return 0, err
		}
	}
	return len(top) + len(ov), nil
}

// writeImage writes the partition table and the file systems into c.Output (sparse: unwritten areas are
// holes that read as zero), then formats /perm.
func (b *builder) writeImage(ctx context.Context, bootImg, rootImg string) error {
	c := b.c
	t, err := PartitionTables(c.Size, c.Hostname, "arm64")
	if err != nil {
		return err
	}
	tmp := c.Output + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	if err := f.Truncate(c.Size); err != nil {
		return fmt.Errorf("image: truncate %s: %w", tmp, err)
	}
	for _, w := range []struct {
		off  int64
		data []byte
	}{{0, t.MBR}, {SectorSize, t.Primary}, {t.BackupLBA * SectorSize, t.Backup}} {
		if _, err := f.WriteAt(w.data, w.off); err != nil {
			return fmt.Errorf("image: writing partition table at %d: %w", w.off, err)
		}
	}
	for _, p := range []struct {
		src   string
		start int64
		max   int64
	}{{bootImg, BootStart, BootSize}, {rootImg, RootAStart, RootSize}} {
		if err := copyAt(f, p.src, p.start*SectorSize, p.max*SectorSize); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	// /perm: ext4 with the partition GUID as file-system UUID and hash seed, and a fixed clock, so two
	// builds agree byte for byte. gokrazy's init mounts it as ext4; without it /perm would be read-only.
	uuid := strings.ToLower(PartitionGUID(c.Hostname, 4))
	perm := t.Partitions[3]
	conf := filepath.Join(b.work, "mke2fs.conf")
	if err := writeFile(conf, []byte(mke2fsConf), 0o644); err != nil {
		return err
	}
	env := []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(c.Epoch.Unix(), 10), "MKE2FS_CONFIG=" + conf, "TZ=UTC"}
	if err := b.run1(ctx, env, "mkfs.ext4", "-F", "-q", "-b", "4096", "-I", "256", "-L", "perm", "-U", uuid,
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s,root_owner=0:0,lazy_itable_init=0,nodiscard", perm.Start*SectorSize, uuid),
		tmp, fmt.Sprintf("%dk", perm.Size*SectorSize/1024)); err != nil {
		return err
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() != c.Size {
		return fmt.Errorf("image: mkfs.ext4 changed the image size (%v, %v)", fi, err)
	}
	if err := os.Rename(tmp, c.Output); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// mke2fsConf replaces the host's /etc/mke2fs.conf so the feature set is part of the image's inputs.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`

func patchVolumeID(img string, id uint32) error {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	var bs [64]byte
	if _, err := f.ReadAt(bs[:], 0); err != nil {
		return fmt.Errorf("image: reading %s boot sector: %w", img, err)
	}
	if bs[38] != 0x29 || string(bs[54:59]) != "FAT16" {
		return fmt.Errorf("image: %s: mkfs.fat did not write a FAT16 extended boot sector", img)
	}
	binary.LittleEndian.PutUint32(bs[39:], id)
	if _, err := f.WriteAt(bs[39:43], 39); err != nil {
		return fmt.Errorf("image: writing volume ID into %s: %w", img, err)
	}
	return f.Close()
}

func copyAt(dst *os.File, src string, off, max int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if fi.Size() > max {
		return fmt.Errorf("image: %s is %d bytes, its partition %d", src, fi.Size(), max)
	}
	if _, err := io.Copy(io.NewOffsetWriter(dst, off), in); err != nil {
		return fmt.Errorf("image: copying %s into the image at %d: %w", src, off, err)
	}
	return nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return os.Chmod(path, mode) // WriteFile's mode is filtered by the umask
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return writeFile(dst, data, mode)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// copyTree copies regular files and directories (module-cache trees hold nothing else) with fixed modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target, 0o444)
		default:
			return fmt.Errorf("image: %s: unexpected file type %v", p, d.Type())
		}
	})
}

// normalizeTree sets every mtime to epoch and every directory to 0555 (deepest first, after their
// contents were written). removeAll undoes the modes when the build directory goes.
func normalizeTree(root string, epoch time.Time) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // mksquashfs -all-time sets these; os.Chtimes would follow the link
		}
		return os.Chtimes(p, epoch, epoch)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if err := os.Chtimes(dirs[i], epoch, epoch); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	return nil
}

// removeAll deletes a build directory whose directories were made read-only.
func removeAll(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
