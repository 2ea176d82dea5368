package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/image"
	"github.com/gpsntp/gpsntp/internal/status"
)

// TestImageBootsInQEMU builds the VM variant (board qemu, receiver over virtio-serial) and boots it in
// qemu-system-aarch64 under TCG. It checks what only a booted system can show: gokrazy's init mounted the
// squashfs root and our ext4 /perm, moved its UI to the configured port behind the password, supervises
// gpsntpd with the profile's flags, and gpsntpd reads NMEA the host writes into the virtio-serial port.
func TestImageBootsInQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	requireImageTools(t)
	qemu := requireTool(t, "qemu-system-aarch64")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const password = "vm-test-password"
	epoch := vmEpoch
	res := buildVMImage(ctx, t, "gpsntpvm", password, "e2e-vm", t.TempDir())
	f, err := os.Open(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := image.ReadFAT16File(io.NewSectionReader(f, image.BootStart*image.SectorSize, image.BootSize*image.SectorSize), "/cmdline.txt")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ui, web, nmea := freePort(t), freePort(t), freePort(t)
	args, err := image.QEMUArgs(image.VM{
		Image: res.Path, Kernel: res.Vmlinuz, Cmdline: string(cmdline), Restrict: true,
		Forward: map[int]int{ui: 8080, web: 80}, NMEAPort: nmea,
	})
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdout, cmd.Stderr = &console, &console // one writer: exec serialises its writes
	bootStart := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("VM console:\n%s", lastLines(console.String(), 60))
		}
	}()

	// gokrazy's UI: JSON with the password, 401 without.
	var gk struct {
		BuildTimestamp, Hostname, PermUUID string
		Services                           []struct{ Path string }
	}
	uiURL := fmt.Sprintf("http://127.0.0.1:%d/", ui)
	if err := pollJSON(ctx, uiURL, password, 150*time.Second, &gk); err != nil {
		t.Fatalf("gokrazy UI: %v", err)
	}
	t.Logf("gokrazy UI up %v after QEMU start", time.Since(bootStart).Round(time.Second))
	if gk.BuildTimestamp != epoch.Format(time.RFC3339) || gk.Hostname != "gpsntpvm" || gk.PermUUID != strings.ToLower(image.PartitionGUID("gpsntpvm", 4)) {
		t.Errorf("gokrazy reports build %q host %q perm %q", gk.BuildTimestamp, gk.Hostname, gk.PermUUID)
	}
	var paths []string
	for _, s := range gk.Services {
		paths = append(paths, s.Path)
	}
	if strings.Join(paths, " ") != "/gokrazy/dhcp /gokrazy/randomd /user/gpsntpd /user/gpsntp-ota" {
		t.Errorf("services = %q", paths)
	}
	if resp, err := http.Get(uiURL); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("UI without password: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The receiver: NMEA into the virtio-serial port, until gpsntpd's status counts good sentences.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nmea))
	if err != nil {
		t.Fatalf("virtio-serial socket: %v", err)
	}
	defer conn.Close()
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/api/status", web)
	deadline := time.Now().Add(90 * time.Second)
	var st status.Status
	for {
		now := time.Now().UTC()
		if _, err := io.WriteString(conn, nmeaSecond(now)); err != nil {
			t.Fatalf("writing NMEA: %v", err)
		}
		err := pollJSON(ctx, apiURL, "", 2*time.Second, &st)
		if err == nil && st.GPS.SentencesOK > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gpsntpd never counted a sentence (last status %+v, err %v); its stderr:\n%s", st.GPS, err, serviceLog(ui, password, "/user/gpsntpd"))
		}
		time.Sleep(time.Second)
	}
	if st.Version != "e2e-vm" || st.GPS.Device != "/dev/hvc0" {
		t.Errorf("gpsntpd status: version %q, device %q", st.Version, st.GPS.Device)
	}
	t.Logf("gpsntpd: %d sentences ok, %d bad, fix %q; boot to receiver %v", st.GPS.SentencesOK, st.GPS.SentencesBad, st.GPS.Fix, time.Since(bootStart).Round(time.Second))
}

// serviceLog returns the last lines of a service's stderr from gokrazy's /log endpoint (the last 100 lines
// gokrazy keeps), for failure messages.
func serviceLog(port int, password, path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/log?path=%s&stream=stderr", port, path), nil)
	if err != nil {
		return err.Error()
	}
	req.SetBasicAuth("gokrazy", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return lastLines(string(b), 20)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pollJSON GETs url (with basic auth when password is set) until it answers 200 with JSON for v.
func pollJSON(ctx context.Context, url, password string, limit time.Duration, v any) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 3 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		if password != "" {
			req.SetBasicAuth("gokrazy", password)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, v); err != nil {
					return fmt.Errorf("decoding %s: %w", url, err)
				}
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("no answer within %v: %v", limit, last)
}

// nmeaSecond is one second of a receiver with a 3D fix at t: RMC and GGA with checksums.
func nmeaSecond(t time.Time) string {
	hms := t.Format("150405") + ".00"
	dmy := t.Format("020106")
	rmc := "GPRMC," + hms + ",A,5230.0000,N,01322.0000,E,0.0,0.0," + dmy + ",,,A"
	gga := "GPGGA," + hms + ",5230.0000,N,01322.0000,E,1,08,1.0,34.0,M,40.0,M,,"
	return nmeaLine(rmc) + nmeaLine(gga)
}

func nmeaLine(body string) string {
	var sum byte
	for i := 0; i < len(body); i++ {
		sum ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, sum)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// vmEpoch is the build time of the VM images the tests make.
var vmEpoch = time.Unix(1795000000, 0).UTC()

// buildVMImage builds the QEMU variant (board qemu, receiver on virtio-serial) into dir as VERSION.img.
func buildVMImage(ctx context.Context, t *testing.T, hostname, password, version, dir string, daemonFlags ...string) image.Result {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := board.Parse("qemu", "virtio")
	if err != nil {
		t.Fatal(err)
	}
	res, err := image.Build(ctx, image.Config{
		Profile: prof, Hostname: hostname, Password: password, Output: filepath.Join(dir, version+".img"),
		Size: image.MinImageSize, Epoch: vmEpoch, RepoDir: root, Version: version, DaemonFlags: daemonFlags,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
