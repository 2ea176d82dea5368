package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/image"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ota"
)

// TestOTAUpdateInQEMU updates a booted VM twice with the real `gpsntpctl update`, through gokrazy's update
// API and gpsntp-ota, with image.RunVM playing the Pi firmware's one-shot tryboot:
//
//  1. image B (a new gpsntpd version) is uploaded into slot 3, trial-booted once, found healthy and committed:
//     the box then runs B from slot 3 by default;
//  2. image C, whose gpsntpd exits at start (an unknown flag), is uploaded into slot 2 and trial-booted; it
//     never becomes healthy, so the box reboots by itself into slot 3 and serves B again, and the update
//     command says "rolled back" and exits non-zero.
func TestOTAUpdateInQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM several times")
	}
	requireImageTools(t)
	qemu := requireTool(t, "qemu-system-aarch64")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const password = "ota-test-password"
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	build := func(version string, daemonFlags ...string) image.Result {
		return buildVMImage(ctx, t, "gpsntpota", password, version, dir, daemonFlags...)
	}
	imgA := build("ota-a")
	imgB := build("ota-b")
	imgC := build("ota-c", "-no-such-flag")

	ui, web, otaPort, nmea := freePort(t), freePort(t), freePort(t), freePort(t)
	var console syncBuffer
	var bootsMu sync.Mutex
	var boots []string
	vmDone := make(chan error, 1)
	go func() {
		vmDone <- image.RunVM(ctx, qemu, image.VM{
			Image: imgA.Path, Kernel: imgA.Vmlinuz, Restrict: true,
			Forward: map[int]int{ui: 8080, web: 80, otaPort: image.OTAPort}, NMEAPort: nmea,
		}, nil, &console, func(n int, cmdline string) {
			slot, _, _ := ota.RootSlot(cmdline)
			bootsMu.Lock()
			boots = append(boots, fmt.Sprintf("boot %d: slot %d", n, slot))
			bootsMu.Unlock()
		})
	}()
	defer func() {
		cancel()
		<-vmDone
		if t.Failed() {
			t.Logf("VM console (last lines):\n%s", lastLines(console.String(), 80))
		}
	}()
	go feedNMEA(ctx, nmea)

	webURL := fmt.Sprintf("http://127.0.0.1:%d/api/status", web)
	otaURL := fmt.Sprintf("http://127.0.0.1:%d/ota/status", otaPort)
	waitVersion := func(want string, limit time.Duration) status.Status {
		t.Helper()
		deadline := time.Now().Add(limit)
		var st status.Status
		for time.Now().Before(deadline) {
			if err := pollJSON(ctx, webURL, "", 3*time.Second, &st); err == nil && st.Version == want && st.GPS.SentencesOK > 0 {
				return st
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("gpsntpd %s never served with receiver data (last: version %q, sentences %d)", want, st.Version, st.GPS.SentencesOK)
		return st
	}
	agent := func() ota.AgentStatus {
		t.Helper()
		var st ota.AgentStatus
		if err := pollJSON(ctx, otaURL, "", 60*time.Second, &st); err != nil {
			t.Fatalf("gpsntp-ota: %v", err)
		}
		return st
	}
	start := time.Now()
	waitVersion("ota-a", 3*time.Minute)
	if st := agent(); st.Booted != 2 || st.Default != 2 || st.Info == nil || st.Info.Version != "ota-a" || st.Info.Profile != "qemu/virtio" {
		t.Fatalf("before the update, gpsntp-ota reports %+v", st)
	}
	t.Logf("image A serving %v after QEMU start", time.Since(start).Round(time.Second))

	update := func(img string, deadline string) (string, error) {
		cmd := exec.CommandContext(ctx, bin(t, "gpsntpctl"), "update", "-target", "127.0.0.1",
			"-gokrazy-port", fmt.Sprint(ui), "-ota-port", fmt.Sprint(otaPort), "-password-file", pwFile,
			"-deadline", deadline, "-wait", "5m", img)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// 1. A healthy new build: committed.
	start = time.Now()
	out, err := update(imgB.Path, "2m")
	t.Logf("update to B (%v):\n%s", time.Since(start).Round(time.Second), out)
	if err != nil || !strings.Contains(out, "committed: slot 3 is the default now") {
		t.Fatalf("update to B: %v", err)
	}
	waitVersion("ota-b", time.Minute)
	if st := agent(); st.Booted != 3 || st.Default != 3 || st.Record == nil || st.Record.State != ota.StateCommitted || st.RunningVersion != "ota-b" {
		t.Fatalf("after committing B, gpsntp-ota reports %+v", st)
	}

	// 2. A build that crashes at start: rolled back by the box itself.
	start = time.Now()
	out, err = update(imgC.Path, "20s")
	t.Logf("update to C (%v):\n%s", time.Since(start).Round(time.Second), out)
	if err == nil || !strings.Contains(out, "rolled back") || !strings.Contains(out, "runs slot 3 again") {
		t.Fatalf("update to C: err %v; want a rollback", err)
	}
	st := waitVersion("ota-b", time.Minute)
	if a := agent(); a.Booted != 3 || a.Default != 3 || a.Record == nil || a.Record.State != ota.StateRolledBack || a.Record.To != 2 || a.RunningVersion != "ota-b" {
		t.Fatalf("after C's rollback, gpsntp-ota reports %+v", a)
	}
	bootsMu.Lock()
	t.Logf("boots: %s; gpsntpd %s serving with %d sentences", strings.Join(boots, ", "), st.Version, st.GPS.SentencesOK)
	got := strings.Join(boots, ", ")
	bootsMu.Unlock()
	// A, the trial of B (slot 3), then (committed) nothing until C's trial in slot 2, then back to slot 3.
	if want := "boot 1: slot 2, boot 2: slot 3, boot 3: slot 2, boot 4: slot 3"; got != want {
		t.Errorf("boots %q, want %q", got, want)
	}
}

// feedNMEA writes one second of NMEA per second into QEMU's virtio-serial socket, reconnecting whenever
// QEMU restarts (each boot is a new QEMU process listening on the same port).
func feedNMEA(ctx context.Context, port int) {
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ctx.Err() == nil {
			conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(conn, nmeaSecond(time.Now().UTC())); err != nil {
				break
			}
			time.Sleep(time.Second)
		}
		conn.Close()
	}
}
