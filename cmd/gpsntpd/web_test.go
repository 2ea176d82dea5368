package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/pps"
)

const sec = int64(1795305600) // 2026-11-22 00:00:00 UTC

func inst(s int64, frac time.Duration) timebase.Instant { return timebase.Instant(s*1e9 + int64(frac)) }

// world is the daemon view after second i of a run where the receiver and the pulse behave as told.
type world struct {
	valid, epochs, jumps, paired, edges uint64
	off                                 time.Duration
}

func (w *world) view(i int64, state timebase.SyncState, epoch, pulse, stray bool) *daemon.View {
	if epoch {
		w.epochs++
		w.valid++
	}
	if pulse {
		w.paired++
		w.edges++
		w.off = time.Duration(i%3) * 10 * time.Nanosecond
	}
	if stray {
		w.edges++
	}
	snap := timebase.Unsynchronized()
	snap.State = state
	return &daemon.View{
		Snapshot:  snap,
		HaveEpoch: true,
		Epoch: gps.Epoch{
			Fix:   gps.Fix3D,
			Label: timebase.TimeLabel{Second: inst(sec+i, 0), Valid: true, Received: inst(sec+i, 120*time.Millisecond+time.Duration(i%2)*time.Millisecond)},
			Sky:   []gps.Sat{{Constellation: gps.GPS, PRN: 7, Elevation: 45, Azimuth: 180, HasAngles: true, CN0: 40, Used: true}, {Constellation: gps.Galileo, PRN: 2, CN0: 25}},
		},
		GPS:       gps.Counts{Epochs: w.epochs, ValidEpochs: w.valid, TimeJumps: w.jumps},
		PPS:       pps.Counts{Paired: w.paired, Edges: w.edges},
		PPSOffset: w.off,
	}
}

func TestSourceTrackerReachAndTally(t *testing.T) {
	var tr sourceTracker
	var w world
	locked := timebase.StateLocked
	var v *daemon.View
	for i := int64(0); i < 10; i++ {
		v = w.view(i, locked, true, true, false)
		tr.update(inst(sec+i, 500*time.Millisecond), v)
	}
	src := tr.list(v)
	if len(src) != 2 || src[0].Name != "PPS" || src[1].Name != "GPS" {
		t.Fatalf("sources: %+v", src)
	}
	p, g := src[0], src[1]
	if p.Reach != 0o377 || p.Tally != "*" || g.Reach != 0o377 || g.Tally != "+" {
		t.Errorf("steady: PPS %03o %q, GPS %03o %q", p.Reach, p.Tally, g.Reach, g.Tally)
	}
	if math.Abs(g.OffsetS-0.120) > 0.0015 || g.JitterS <= 0 || g.JitterS > 0.001 {
		t.Errorf("GPS offset %v jitter %v, want ~0.12 s and ~0.5 ms", g.OffsetS, g.JitterS)
	}
	if p.LastSeen != "2026-11-22T00:00:09.5Z" {
		t.Errorf("PPS last seen %q", p.LastSeen)
	}

	// A second polled twice counts once.
	tr.update(inst(sec+9, 900*time.Millisecond), v)
	if src := tr.list(v); src[0].Reach != 0o377 {
		t.Errorf("double poll changed reach: %03o", src[0].Reach)
	}

	// The pulse stops for two seconds, with a stray edge in the second: reach 374, outlier then.
	v = w.view(10, timebase.StateHoldover, true, false, false)
	tr.update(inst(sec+10, 5e8), v)
	if p := tr.list(v)[0]; p.Reach != 0o376 || p.Tally != " " {
		t.Errorf("no pulse: %03o %q", p.Reach, p.Tally)
	}
	v = w.view(11, timebase.StateHoldover, true, false, true)
	tr.update(inst(sec+11, 5e8), v)
	if p := tr.list(v)[0]; p.Reach != 0o374 || p.Tally != "-" {
		t.Errorf("stray edge: %03o %q", p.Reach, p.Tally)
	}
	// The pulse is back while the servo relocks: candidate.
	v = w.view(12, timebase.StateLocking, true, true, false)
	tr.update(inst(sec+12, 5e8), v)
	if p := tr.list(v)[0]; p.Reach != 0o371 || p.Tally != "+" {
		t.Errorf("relocking: %03o %q", p.Reach, p.Tally)
	}

	// The receiver's time jumps: falseticker for eight polls.
	w.jumps++
	for i := int64(13); i < 21; i++ {
		v = w.view(i, locked, true, true, false)
		tr.update(inst(sec+i, 5e8), v)
		if g := tr.list(v)[1]; g.Tally != "x" {
			t.Errorf("poll %d after a jump: GPS tally %q, want x", i-13, g.Tally)
		}
	}
	v = w.view(21, locked, true, true, false)
	tr.update(inst(sec+21, 5e8), v)
	if g := tr.list(v)[1]; g.Tally != "+" {
		t.Errorf("eight polls after a jump: GPS tally %q, want +", g.Tally)
	}

	// The receiver goes silent.
	v = w.view(22, locked, false, true, false)
	tr.update(inst(sec+22, 5e8), v)
	if g := tr.list(v)[1]; g.Tally != " " || g.Reach != 0o376 || g.Note != "nothing from the receiver" {
		t.Errorf("silent receiver: %+v", g)
	}

	// The sampler is three seconds late: the three pulses of those seconds all count.
	w.view(23, locked, true, true, false)
	w.view(24, locked, true, true, false)
	v = w.view(25, locked, true, true, false)
	tr.update(inst(sec+25, 5e8), v)
	if p := tr.list(v)[0]; p.Reach != 0o377 {
		t.Errorf("late sampler: PPS reach %03o, want 377", p.Reach)
	}

	// A pulse paired just after the half second: the poll misses it, the next sees two. Both seconds count.
	w.paired++ // the pulse of second 26 arrives late...
	v = w.view(26, locked, true, false, false)
	w.paired-- // ...so the poll of second 26 did not see it
	v.PPS.Paired--
	tr.update(inst(sec+26, 5e8), v)
	w.paired++
	v = w.view(27, locked, true, true, false)
	tr.update(inst(sec+27, 5e8), v)
	if p := tr.list(v)[0]; p.Reach != 0o377 {
		t.Errorf("late pulse: PPS reach %03o, want 377", p.Reach)
	}

	// Fragment epochs (no statement about the fix; or a GSA's fix with neither time nor position) do not
	// replace the last whole one, nor its sky; an epoch saying "no fix" does.
	for i, fe := range []gps.Epoch{
		{Label: timebase.TimeLabel{Source: "ZDA"}, Sky: []gps.Sat{{Constellation: gps.GLONASS, PRN: 70}}},
		{Fix: gps.Fix3D, Label: timebase.TimeLabel{Source: "ZDA"}, Sky: []gps.Sat{{Constellation: gps.GLONASS, PRN: 70}}},
	} {
		frag := *v
		frag.Epoch = fe
		tr.update(inst(sec+28+int64(i), 5e8), &frag)
		if e, ok := tr.epoch(&frag); !ok || e.Label.Source == "ZDA" {
			t.Errorf("fragment %d shown: %+v", i, e.Label)
		}
	}
	if sky, _ := tr.sky(); len(sky) != 2 {
		t.Errorf("a fragment's sky replaced the whole one: %+v", sky)
	}
	nofix := *v
	nofix.Epoch = gps.Epoch{Fix: gps.FixNone, Label: timebase.TimeLabel{Source: "RMC+GGA"}}
	if e, _ := tr.epoch(&nofix); e.Fix != gps.FixNone {
		t.Errorf("a no-fix epoch was taken for a fragment")
	}

	sky, at := tr.sky()
	if len(sky) != 2 || sky[0].ElevationDeg == nil || *sky[0].ElevationDeg != 45 || sky[1].ElevationDeg != nil || at == 0 {
		t.Errorf("sky: %+v at %v", sky, at)
	}
}

func TestUntilHalfSecond(t *testing.T) {
	for _, c := range []struct {
		frac, want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{100 * time.Millisecond, 400 * time.Millisecond},
		{299 * time.Millisecond, 201 * time.Millisecond},
		{400 * time.Millisecond, 1100 * time.Millisecond}, // too close: next second's half
		{499 * time.Millisecond, 1001 * time.Millisecond}, // fired early: not again this second
		{501 * time.Millisecond, 999 * time.Millisecond},
	} {
		if got := untilHalfSecond(inst(sec, c.frac)); got != c.want {
			t.Errorf("at .%v: %v, want %v", c.frac, got, c.want)
		}
	}
	if got := untilHalfSecond(timebase.Instant(-1)); got != 500*time.Millisecond+1 {
		t.Errorf("before 1970: %v", got)
	}
}

type fixedClock timebase.Instant

func (c fixedClock) Now() timebase.Instant { return timebase.Instant(c) }

// TestProviderDocument builds the document from a real Core and server and checks the new sections are
// filled and serialise.
func TestProviderDocument(t *testing.T) {
	core, err := daemon.NewCore(daemon.Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ntpserve.NewServer(ntpserve.Config{Rate: 8, Burst: 16, IPv6Prefix: 64}, hostClock{})
	if err != nil {
		t.Fatal(err)
	}
	p := &statusProvider{version: "test", mode: "sim", device: "simulator", started: time.Now(), clock: fixedClock(inst(sec, 0)), core: core, server: srv}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startWeb(ctx, p)
	s := p.status()
	if len(s.Sources) != 2 || s.Sources[0].Tally != " " || s.GPS.Fix != "none" || s.GPS.Sky == nil || s.GPS.Constellations == nil {
		t.Errorf("document before any input: %+v", s)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	var got status.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Version != "test" || len(got.Sources) != 2 {
		t.Errorf("/api/status: %v %s", err, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/history?range=1h", nil))
	if rec.Code != 200 {
		t.Errorf("/api/history: %d %s", rec.Code, rec.Body.String())
	}
}
