package serialdev

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/ubx"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

func nmea(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

var (
	sentRMC = nmea("GPRMC,120000.00,A,4631.18,N,00637.94,E,0.0,0.0,221126,,,A")
	sentGGA = nmea("GPGGA,120000.00,4631.18,N,00637.94,E,1,08,1.0,495.0,M,48.3,M,,")
)

// collector gathers what Run emits.
type collector struct {
	mu     sync.Mutex
	data   bytes.Buffer
	chunks []chunk
}

type chunk struct {
	n    int
	recv timebase.Instant
}

func (c *collector) emit(p []byte, recv timebase.Instant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data.Write(p)
	c.chunks = append(c.chunks, chunk{len(p), recv})
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.String()
}

func (c *collector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data.Reset()
	c.chunks = nil
}

func hostClock() timebase.Instant { return timebase.FromTime(time.Now()) }

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running starts Run and returns a stop function that cancels it and checks it returns nil promptly.
func running(t *testing.T, p *Port, c *collector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, c.emit) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil on cancel", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Run did not return within 3 s of cancel")
			}
			if st := p.Status(); st.State != "stopped" || st.Connected {
				t.Errorf("after stop: state %q connected %v", st.State, st.Connected)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newPTY(t *testing.T, baud int) (*os.File, string) {
	t.Helper()
	m, path, err := OpenPTY(baud)
	if err != nil {
		t.Fatalf("OpenPTY: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, path
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Clock: hostClock},
		{Path: "/dev/null"},
		{Path: "/dev/null", Clock: hostClock, Baud: 12345},
		{Path: "/dev/null", Clock: hostClock, Bauds: []int{9600, 0}},
		{Path: "/dev/null", Clock: hostClock, Bauds: []int{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): want error", cfg)
		}
	}
	if err := CheckBaud(115200); err != nil {
		t.Error(err)
	}
}

func TestReadsWithTimestamps(t *testing.T) {
	master, path := newPTY(t, 9600)
	// Bytes queued before the port is opened have no meaningful receive time: they must be discarded.
	if _, err := master.Write([]byte("$STALE,1*00\r\n")); err != nil {
		t.Fatal(err)
	}
	var calls int
	var mu sync.Mutex
	clock := func() timebase.Instant {
		mu.Lock()
		calls++
		mu.Unlock()
		return hostClock()
	}
	p, err := New(Config{Path: path, Baud: 9600, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := running(t, p, c)
	waitFor(t, 3*time.Second, "connected", func() bool { return p.Status().Connected })

	var sent strings.Builder
	var before []timebase.Instant
	for i := 0; i < 5; i++ {
		before = append(before, hostClock())
		s := sentRMC + sentGGA
		if _, err := master.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		sent.WriteString(s)
		want := sent.String()
		waitFor(t, 2*time.Second, "the write to arrive", func() bool { return c.String() == want })
	}
	after := hostClock()
	stop()
	if strings.Contains(c.String(), "STALE") {
		t.Error("bytes queued before open were delivered")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Each write was read (in one or more chunks) after it was written: every chunk's time is after the
	// write it belongs to and no later than the end, and times never go backwards.
	total, w := 0, 0
	for i, ch := range c.chunks {
		if w < len(before)-1 && total >= (w+1)*len(sentRMC+sentGGA) {
			w++
		}
		if ch.recv < before[w] || ch.recv > after {
			t.Errorf("chunk %d (%d bytes) stamped %v, outside [%v, %v]", i, ch.n, ch.recv, before[w], after)
		}
		if i > 0 && ch.recv < c.chunks[i-1].recv {
			t.Errorf("chunk %d stamped before chunk %d", i, i-1)
		}
		total += ch.n
	}
	st := p.Status()
	if st.Reads != uint64(len(c.chunks)) || st.Bytes != uint64(total) || st.Connects != 1 || st.Baud != 9600 {
		t.Errorf("status %+v; %d chunks %d bytes", st, len(c.chunks), total)
	}
	mu.Lock()
	if calls < len(c.chunks) {
		t.Errorf("clock called %d times for %d reads", calls, len(c.chunks))
	}
	mu.Unlock()
}

func TestReconnect(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "gps0")
	master1, path1 := newPTY(t, 9600)
	if err := os.Symlink(path1, link); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Path: link, Baud: 9600, Clock: hostClock, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	running(t, p, c)
	waitFor(t, 3*time.Second, "first connection", func() bool { return p.Status().Connected })
	master1.Write([]byte(sentRMC))
	waitFor(t, 2*time.Second, "data on the first pty", func() bool { return c.String() == sentRMC })

	// The device disappears: the master closes (the slave hangs up) and the link dangles.
	os.Remove(link)
	os.Symlink(filepath.Join(dir, "absent"), link)
	master1.Close()
	waitFor(t, 3*time.Second, "disconnect and failed reopen", func() bool {
		st := p.Status()
		return st.Disconnects == 1 && st.OpenFailures >= 2 && !st.Connected
	})
	if st := p.Status(); st.LastError == "" || st.State == "connected" {
		t.Errorf("while gone: %+v", st)
	}

	// It comes back as a new pty under the same path.
	master2, path2 := newPTY(t, 9600)
	os.Remove(link)
	if err := os.Symlink(path2, link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "second connection", func() bool { return p.Status().Connects == 2 && p.Status().Connected })
	c.reset()
	master2.Write([]byte(sentGGA))
	waitFor(t, 2*time.Second, "data on the second pty", func() bool { return c.String() == sentGGA })
	if st := p.Status(); st.LastError != "" {
		t.Errorf("LastError %q after reconnect", st.LastError)
	}
}

// TestAutoBaud: the fake receiver talks sense only when the port is set to 38400 and sends line garbage
// otherwise, as a real receiver looks at the wrong rate; the port must switch rates until it finds it.
func TestAutoBaud(t *testing.T) {
	master, path := newPTY(t, 9600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen sync.Map // rates the slave was set to
	go func() {
		r := rand.New(rand.NewPCG(7, 7))
		junk := make([]byte, 64)
		for ctx.Err() == nil {
			b, err := PTYBaud(master)
			if err != nil {
				return
			}
			seen.Store(b, true)
			if b == 38400 {
				master.Write([]byte(sentRMC))
			} else {
				for i := range junk {
					junk[i] = byte(r.Uint32())
				}
				master.Write(junk)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	p, err := New(Config{Path: path, Baud: 0, Clock: hostClock, ProbeWindow: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := running(t, p, c)
	waitFor(t, 5*time.Second, "detection", func() bool { return p.Status().Connected })
	if st := p.Status(); st.Baud != 38400 {
		t.Fatalf("detected %d, want 38400", st.Baud)
	}
	// 9600 is tried first and loses; 115200, later in the list, is never needed.
	if _, ok := seen.Load(9600); !ok {
		t.Error("9600 never tried")
	}
	if _, ok := seen.Load(115200); ok {
		t.Error("115200 tried after 38400 had convinced")
	}
	waitFor(t, 2*time.Second, "data after detection", func() bool { return strings.Count(c.String(), sentRMC) >= 3 })
	stop()
	cancel()
}

// fakeUblox answers on the master side of a pty like a u-blox receiver of the given protocol version:
// MON-VER for a poll, ACK-ACK for configuration messages, ACK-NAK for those named in nak.
type fakeUblox struct {
	master   *os.File
	protver  string
	nak      map[[4]byte]bool // class, id, first two payload bytes
	mu       sync.Mutex
	received [][]byte
}

func (f *fakeUblox) frames() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.received...)
}

func (f *fakeUblox) run(ctx context.Context) {
	buf := make([]byte, 4096)
	var pending []byte
	for ctx.Err() == nil {
		n, err := f.master.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		for {
			fr, rest, ok := ubx.NextFrame(pending)
			pending = rest
			if !ok {
				break
			}
			f.mu.Lock()
			f.received = append(f.received, append([]byte(nil), fr...))
			f.mu.Unlock()
			var key [4]byte
			copy(key[:], fr[2:4])
			copy(key[2:], fr[6:len(fr)-2])
			reply := ubx.Answer(fr, f.protver, f.nak[key])
			// Some NMEA around the reply, as a receiver keeps talking.
			f.master.Write(append(append([]byte(sentRMC), reply...), sentGGA...))
		}
	}
}

func TestConfigureUblox(t *testing.T) {
	for _, tc := range []struct {
		protver, method string
		model           string // what ubx.MonVER announces for protver
		nak             [4]byte
		wantErr         string
		frames          int // MON-VER poll + plan steps
	}{
		{"18.00", "legacy CFG", "NEO-M8T", [4]byte{ubx.ClassCFG, ubx.IDCfgMSG, ubx.ClassNAV, ubx.IDNavTimeUTC}, "CFG-MSG NAV-TIMEUTC: rejected by the receiver (ACK-NAK)", 1 + 6},
		{"27.12", "CFG-VALSET", "ZED-F9T", [4]byte{}, "", 1 + 4},
	} {
		t.Run(tc.protver, func(t *testing.T) {
			master, path := newPTY(t, 9600)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeUblox{master: master, protver: tc.protver, nak: map[[4]byte]bool{tc.nak: true}}
			go f.run(ctx)
			var logs syncLog
			p, err := New(Config{Path: path, Baud: 9600, Clock: hostClock, Configure: true, Logf: logs.printf,
				UBX: ubx.Options{AckTimeout: 500 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			c := &collector{}
			running(t, p, c)
			waitFor(t, 5*time.Second, "configuration to finish", func() bool { return p.Status().ConfigState == "done" })
			st := p.Status()
			if st.ConfigMethod != tc.method || !strings.Contains(st.ConfigError, tc.wantErr) || (tc.wantErr == "") != (st.ConfigError == "") {
				t.Errorf("status %+v; want method %q error %q", st, tc.method, tc.wantErr)
			}
			got := f.frames()
			if len(got) != tc.frames {
				t.Fatalf("receiver got %d frames, want %d: %x", len(got), tc.frames, got)
			}
			if !bytes.Equal(got[0], ubx.PollMonVER()) {
				t.Errorf("first frame %x, want the MON-VER poll", got[0])
			}
			plan, _ := ubx.NewPlan(gpsReceiver(tc.protver), ubx.DefaultTimePulse)
			for i, s := range plan.Steps {
				if !bytes.Equal(got[1+i], s.Frame) {
					t.Errorf("frame %d: got %x want %s %x", 1+i, got[1+i], s.Name, s.Frame)
				}
			}
			// The receiver's bytes, MON-VER and ACKs included, all reached the daemon's side too.
			if !strings.Contains(c.String(), "MOD="+tc.model) {
				t.Error("MON-VER not delivered to emit")
			}
			if !logs.contains(tc.model + " (protocol " + tc.protver + ")") {
				t.Errorf("log lacks the receiver: %q", logs.String())
			}
		})
	}
}

func TestConfigureNotUblox(t *testing.T) {
	master, path := newPTY(t, 9600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var polls sync.Map
	go func() { // an MTK receiver: ignores UBX, keeps talking NMEA
		buf := make([]byte, 256)
		n := 0
		for ctx.Err() == nil {
			k, err := master.Read(buf)
			if err != nil {
				return
			}
			n += bytes.Count(buf[:k], ubx.PollMonVER())
			polls.Store("n", n)
		}
	}()
	p, _ := New(Config{Path: path, Baud: 9600, Clock: hostClock, Configure: true,
		UBX: ubx.Options{IdentifyTimeout: 100 * time.Millisecond, IdentifyPolls: 2}})
	running(t, p, &collector{})
	waitFor(t, 3*time.Second, "giving up", func() bool { return p.Status().ConfigState == "not-u-blox" })
	if v, _ := polls.Load("n"); v != 2 {
		t.Errorf("%v MON-VER polls, want 2", v)
	}
	if st := p.Status(); st.ConfigError != "" {
		t.Errorf("error for a non-u-blox: %q", st.ConfigError)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *syncLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (l *syncLog) contains(s string) bool { return strings.Contains(l.String(), s) }

func gpsReceiver(protver string) gps.Receiver {
	return gps.Receiver{Vendor: "u-blox", Model: "NEO-M8T", Hardware: "00080000", Protocol: protver}
}
