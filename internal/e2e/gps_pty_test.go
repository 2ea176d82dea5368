package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/ubx"
	"github.com/gpsntp/gpsntp/internal/status"
)

// waitGPS polls /api/status until cond holds, or fails after limit with the last document.
func (d *daemon) waitGPS(t *testing.T, limit time.Duration, what string, cond func(status.GPS) bool) status.Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := d.status(t)
		if cond(st.GPS) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, no %s: gps %+v", limit, what, st.GPS)
		}
		select {
		case <-d.done:
			t.Fatalf("gpsntpd exited: %v", d.waitErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestGPSReceiverThroughPTY: a u-blox-like receiver writes NMEA at 9600 baud line speed into a pty, and
// gpsntpd reads the other end as its -gps-device. The status API shows the receiver, and the daemon
// configured it with the legacy messages its protocol version (18.00, an M8T) calls for.
func TestGPSReceiverThroughPTY(t *testing.T) {
	rx := newFakeReceiver(t, 9600)
	d := startHardware(t, "-gps-device", rx.path, "-gps-baud", "9600")
	st := d.waitGPS(t, 15*time.Second, "3D fix with the model and a bad sentence", func(g status.GPS) bool {
		return g.Fix == "3d" && g.Model != "" && g.SentencesBad > 0 && g.LastTime != ""
	})
	g := st.GPS
	if g.Device != rx.path || g.SatsUsed != 8 || g.Model != "u-blox NEO-M8T" || g.SentencesOK < 3 {
		t.Errorf("gps %+v", g)
	}
	last, err := time.Parse(time.RFC3339Nano, g.LastTime)
	if err != nil {
		t.Fatalf("last_time %q: %v", g.LastTime, err)
	}
	if age := time.Since(last); age < 0 || age > 4*time.Second {
		t.Errorf("last_time %v is %v old", last, age)
	}
	if !g.Valid {
		t.Errorf("epoch not valid: %+v", g)
	}
	// The receiver was polled for MON-VER and sent the legacy configuration, one message at a time.
	plan, _ := ubx.NewPlan(gps.Receiver{Vendor: "u-blox", Protocol: "18.00"}, ubx.DefaultTimePulse)
	want := [][]byte{ubx.PollMonVER()}
	for _, s := range plan.Steps {
		want = append(want, s.Frame)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rx.frames()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	got := rx.frames()
	if len(got) < len(want) {
		t.Fatalf("receiver got %d UBX frames, want %d: %x", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: got %x want %x", i, got[i], want[i])
		}
	}
	if !strings.Contains(d.stderr.String(), "configured u-blox NEO-M8T") {
		t.Errorf("no configuration line in the log:\n%s", d.stderr.String())
	}
}

// TestGPSConfigureOff: with -gps-configure=false the receiver is only listened to.
func TestGPSConfigureOff(t *testing.T) {
	rx := newFakeReceiver(t, 9600)
	d := startHardware(t, "-gps-device", rx.path, "-gps-baud", "9600", "-gps-configure=false")
	d.waitGPS(t, 15*time.Second, "3D fix", func(g status.GPS) bool { return g.Fix == "3d" })
	time.Sleep(2 * time.Second) // the configurator would have polled at once
	if f := rx.frames(); len(f) != 0 {
		t.Errorf("receiver was sent %d frames with configuration off: %x", len(f), f)
	}
}

// TestGPSFeedSimulator: the feeder a user runs (gpsntpctl feed -pty) drives gpsntpd as its receiver.
func TestGPSFeedSimulator(t *testing.T) {
	link := filepath.Join(t.TempDir(), "gps0")
	feed := exec.Command(bin(t, "gpsntpctl"), "feed", "-pty", "-link", link, "-baud", "9600", "-cold-start", "0")
	out, err := feed.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var ferr syncBuffer
	feed.Stderr = &ferr
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	fdone := make(chan error, 1)
	go func() { fdone <- feed.Wait() }()
	t.Cleanup(func() {
		feed.Process.Signal(os.Interrupt)
		select {
		case err := <-fdone:
			if err != nil {
				t.Errorf("feed exited with %v: %s", err, ferr.String())
			}
		case <-time.After(5 * time.Second):
			feed.Process.Kill()
			t.Error("feed did not stop on SIGINT")
		}
	})
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if !strings.Contains(l, link) {
			t.Fatalf("feed printed %q, want the path %s", l, link)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("feed printed nothing; stderr %q", ferr.String())
	}
	d := startHardware(t, "-gps-device", link, "-gps-baud", "9600")
	st := d.waitGPS(t, 15*time.Second, "a valid fix from the simulator", func(g status.GPS) bool {
		return g.Valid && g.SatsUsed > 0 && g.SentencesOK > 0
	})
	// The daemon joins a line that is already talking: the sentence in flight when it opened the port
	// is cut, and may count as one bad sentence; the simulator sends no others.
	if st.GPS.Device != link || st.GPS.SentencesBad > 1 {
		t.Errorf("gps %+v", st.GPS)
	}
}
