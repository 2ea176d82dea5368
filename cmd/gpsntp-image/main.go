// Command gpsntp-image builds a flashable gokrazy SD-card image for a board profile:
//
//	gpsntp-image -board rpi4 -hat uputronics -o out/gpsntp-rpi4.img [-password-file F]
//
// Without -password-file it generates the password for gokrazy's UI and update API and prints it once on
// stdout. File times and the build timestamp come from SOURCE_DATE_EPOCH, else from the last commit of the
// repository, so two builds of the same inputs give the same bytes.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpsntp-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boardName := fs.String("board", "", "board: "+strings.Join(board.Boards(), ", "))
	hatName := fs.String("hat", "", "GPS HAT: "+strings.Join(board.HATs(), ", "))
	ppsPin := fs.Int("pps-pin", 0, "BCM GPIO of the PPS signal (required for -hat ublox; must match a HAT's fixed pin)")
	out := fs.String("o", "", "image file to write")
	pwFile := fs.String("password-file", "", "file holding the gokrazy UI/update password (default: generate one and print it)")
	hostname := fs.String("hostname", "gpsntp", "hostname of the device (also seeds the partition IDs)")
	size := fs.Int64("size", 2<<30, "image size in bytes (at least 1258299392)")
	repo := fs.String("repo", "", "root of the gpsntp module (default: found from the working directory)")
	ver := fs.String("version", "", "gpsntpd version string (default: git describe, else dev)")
	uiPort := fs.Int("gokrazy-port", 8080, "port of gokrazy's own UI and update API (gpsntpd has :80)")
	var extra, otaExtra stringList
	fs.Var(&extra, "daemon-flag", "extra gpsntpd flag (repeatable), e.g. -daemon-flag=-ntp-rate=16")
	fs.Var(&otaExtra, "ota-flag", "extra gpsntp-ota flag (repeatable), e.g. -ota-flag=-deadline=2m")
	quiet := fs.Bool("q", false, "no progress lines")
	vm := fs.Bool("vm", false, "after building (-board qemu), boot the image in qemu-system-aarch64 (TCG)")
	var vo vmOptions
	fs.IntVar(&vo.uiPort, "vm-ui-port", 18080, "-vm: host port forwarded to gokrazy's UI (guest 8080)")
	fs.IntVar(&vo.webPort, "vm-web-port", 18081, "-vm: host port forwarded to gpsntpd's status page (guest 80)")
	fs.IntVar(&vo.ntpPort, "vm-ntp-port", 11123, "-vm: host UDP port forwarded to gpsntpd's NTP (guest 123)")
	fs.IntVar(&vo.otaPort, "vm-ota-port", 18082, "-vm: host port forwarded to gpsntp-ota's update API (guest 8081)")
	fs.StringVar(&vo.nmeaTTY, "vm-nmea-tty", "", "-vm: host tty the receiver's NMEA comes from (e.g. the link of `gpsntpctl feed -pty -link`)")
	fs.IntVar(&vo.nmeaPort, "vm-nmea-port", 0, "-vm: instead of a tty, a host TCP port QEMU listens on for NMEA")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "gpsntp-image: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gpsntp-image: %v\n", err)
		return 1
	}
	if *boardName == "" || *hatName == "" || *out == "" {
		return fail(errors.New("-board, -hat and -o are required"))
	}
	prof, err := board.ParsePin(*boardName, *hatName, *ppsPin)
	if err != nil {
		return fail(err)
	}
	if *vm && !prof.Board.Virtual {
		return fail(fmt.Errorf("-vm boots the emulated board only; use -board qemu -hat virtio (got %s)", prof))
	}
	if missing := image.MissingTools(); len(missing) > 0 {
		return fail(fmt.Errorf("missing tools %s (Debian: squashfs-tools, dosfstools, mtools, e2fsprogs; run make deps)", strings.Join(missing, ", ")))
	}
	root := *repo
	if root == "" {
		if root, err = moduleRoot(); err != nil {
			return fail(err)
		}
	}
	epoch, how, err := buildEpoch(root)
	if err != nil {
		return fail(err)
	}
	if *ver == "" {
		*ver = gitDescribe(root)
	}
	password, generated := "", false
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fail(fmt.Errorf("reading -password-file: %w", err))
		}
		password = strings.TrimRight(string(b), "\r\n")
		if password == "" {
			return fail(fmt.Errorf("-password-file %s is empty", *pwFile))
		}
	} else {
		password, generated = rand.Text(), true
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fail(err)
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	fmt.Fprintf(logw, "gpsntp-image: %s, hostname %s, epoch %s (%s)\n", prof, *hostname, epoch.UTC().Format(time.RFC3339), how)
	res, err := image.Build(ctx, image.Config{
		Profile: prof, Hostname: *hostname, Password: password, Output: *out, Size: *size,
		Epoch: epoch, RepoDir: root, Version: *ver, GokrazyHTTPPort: *uiPort, DaemonFlags: extra, OTAFlags: otaExtra, Log: logw,
	})
	if err != nil {
		return fail(err)
	}
	for _, s := range res.Steps {
		fmt.Fprintf(logw, "  %-62s %6.1fs\n", s.Name, s.Duration.Seconds())
	}
	fmt.Fprintf(stdout, "%s  %s (%d bytes; root squashfs %d bytes; %d boot files)\n", res.SHA256, res.Path, res.Size, res.RootBytes, res.BootFiles)
	fmt.Fprintf(stdout, "gpsntpd %s\n", strings.Join(res.DaemonArgs, " "))
	fmt.Fprintf(stdout, "gokrazy UI: http://%s:%d/ (user gokrazy); updates: gpsntpctl update -target %s IMAGE\n", *hostname, *uiPort, *hostname)
	if generated {
		fmt.Fprintf(stdout, "generated password (shown once, keep it for updates): %s\n", password)
	}
	if *vm {
		if err := runVM(ctx, res.Path, res.Vmlinuz, vo, stdout, stderr); err != nil {
			return fail(err)
		}
	}
	return 0
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// moduleRoot walks up from the working directory to the go.mod of github.com/gpsntp/gpsntp.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("os.Getwd: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/gpsntp/gpsntp\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the gpsntp module: pass -repo")
		}
		dir = parent
	}
}

// buildEpoch is SOURCE_DATE_EPOCH, else the last commit's time (read-only git call).
func buildEpoch(repo string) (time.Time, string, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, "", fmt.Errorf("SOURCE_DATE_EPOCH=%q: want non-negative Unix seconds", s)
		}
		return time.Unix(n, 0).UTC(), "SOURCE_DATE_EPOCH", nil
	}
	out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%ct").Output()
	if err != nil {
		return time.Time{}, "", fmt.Errorf("no SOURCE_DATE_EPOCH and git log failed (%v): set SOURCE_DATE_EPOCH", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("git log -1 --format=%%ct printed %q", out)
	}
	return time.Unix(n, 0).UTC(), "last commit", nil
}

func gitDescribe(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}
