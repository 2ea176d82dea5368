package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/serialdev"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sentence(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

// TestDecodeLive decodes a pseudo-terminal as a live device: epochs are printed as they complete, and
// the summary when the context (SIGINT in real use) ends.
func TestDecodeLive(t *testing.T) {
	master, path, err := serialdev.OpenPTY(9600)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := liveContext
	liveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	defer func() { liveContext = old }()

	var out, errb lockedBuffer
	rc := make(chan int, 1)
	go func() { rc <- runDecode([]string{"-baud", "9600", path}, strings.NewReader(""), &out, &errb) }()
	deadline := time.Now().Add(5 * time.Second)
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: stdout %q stderr %q", what, out.String(), errb.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("the port to open", func() bool { return strings.Contains(errb.String(), "connected at 9600 baud") })
	for i, hms := range []string{"120000.00", "120001.00"} {
		if i > 0 {
			time.Sleep(time.Second) // a real receiver's pace: the decoder checks time against the receive clock
		}
		epoch := sentence("GPRMC,"+hms+",A,4631.18,N,00637.94,E,0.0,0.0,221126,,,A") +
			sentence("GPGGA,"+hms+",4631.18,N,00637.94,E,1,08,1.0,495.0,M,48.3,M,,") + "$GPGGA,bad*00\r\n"
		master.Write([]byte(epoch))
	}
	// The first epoch completes when the second begins, the second after the quiet time.
	wait("two epochs", func() bool { return strings.Count(out.String(), `"time"`) == 2 })
	cancel()
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("rc %d, stderr %q", code, errb.String())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("decode did not stop on interrupt")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 epochs and a summary, got %q", lines)
	}
	for i, want := range []string{"2026-11-22T12:00:00Z", "2026-11-22T12:00:01Z"} {
		var e struct {
			Time     string
			Valid    bool
			Fix      string
			SatsUsed int `json:"sats_used"`
			Source   string
		}
		if err := json.Unmarshal([]byte(lines[i]), &e); err != nil {
			t.Fatal(err)
		}
		if e.Time != want || !e.Valid || e.SatsUsed != 8 || e.Source != "RMC+GGA" {
			t.Errorf("epoch %d: %+v (%s)", i, e, lines[i])
		}
	}
	var sum summaryJSON
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil {
		t.Fatal(err)
	}
	s := sum.Summary
	if s.SentencesOK != 4 || s.BadChecksum != 2 || s.Epochs != 2 || s.Device != path || s.Baud != 9600 {
		t.Errorf("summary %s", lines[2])
	}
}

func TestDecodeLiveErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := runDecode([]string{"-baud", "12345", "/dev/ttyNOPE0"}, strings.NewReader(""), &out, &errb); rc != 2 || !strings.Contains(errb.String(), "-baud 12345") {
		t.Errorf("bad baud: rc %d %q", rc, errb.String())
	}
	errb.Reset()
	if rc := runDecode([]string{"/dev/ttyNOPE0"}, strings.NewReader(""), &out, &errb); rc != 1 || !strings.Contains(errb.String(), "no such file") {
		t.Errorf("missing device: rc %d %q", rc, errb.String())
	}
}
