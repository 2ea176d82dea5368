package servocmp

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestPlan(t *testing.T) {
	start := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	t0 := timebase.Date(2026, 11, 22, 10, 0, 0, 0)
	s30 := start.Add(30 * time.Second)
	s31 := start.Add(31 * time.Second)
	tr := Trace{
		Start: start,
		Pulses: []Pulse{
			// Board 1.234567891 s ahead, capture 1 µs late: board reading 31.234568891 s.
			{Second: s30, Label: s30, Board: s30.Add(1234568891 * time.Nanosecond), BoardErr: 1234567891 * time.Nanosecond},
			// A slipped label.
			{Second: s31, Label: s31.Add(time.Second), Board: s31.Add(1234567871 * time.Nanosecond), BoardErr: 1234567871 * time.Nanosecond},
		},
		Spurious: []Spurious{{Truth: s30.Add(400 * time.Millisecond), Board: s30.Add(1634567000 * time.Nanosecond)}},
		Epochs:   []Epoch{{Second: s30, Label: s30, Board: s30.Add(1328000123 * time.Nanosecond)}},
	}
	h := func(d time.Duration) timebase.Instant { return t0.Add(d) }

	lab := plan(tr, FeedLabelled, t0)
	if len(lab) != 2 {
		t.Fatalf("labelled: %d datagrams, want 2 (no spurious edges, no NMEA)", len(lab))
	}
	p := lab[0]
	// tv: H(31.234568891 s) rounded to the µs; offset: label − board, exact.
	if want := h(31234569 * time.Microsecond); p.s.TV != want || p.sock != SockScored || p.s.Pulse {
		t.Errorf("labelled[0] = %+v, want tv %v on the scored socket, full sample", p.s, want)
	}
	if want := -1.234568891; p.s.Offset != want || p.fed.Offset != want {
		t.Errorf("labelled[0] offset %v, fed %v, want %v", p.s.Offset, p.fed.Offset, want)
	}
	if p.fed.BoardErr != 1.234567891 || p.fed.Second != s30 || p.fed.TV != p.s.TV {
		t.Errorf("labelled[0] fed %+v", *p.fed)
	}
	// The slipped pulse is sent one second off; scoring still knows the offset meant.
	if got, want := lab[1].s.Offset, 1-1.234567871; got != want || lab[1].fed.Offset != -1.234567871 {
		t.Errorf("slipped: sent %v (want %v), meant %v", got, want, lab[1].fed.Offset)
	}

	pl := plan(tr, FeedPPSLock, t0)
	if len(pl) != 4 {
		t.Fatalf("pps-lock: %d datagrams, want 4", len(pl))
	}
	for i := 1; i < len(pl); i++ {
		if pl[i].s.TV < pl[i-1].s.TV {
			t.Fatalf("not in time order: %v after %v", pl[i].s.TV, pl[i-1].s.TV)
		}
	}
	// Order: pulse 30 (31.23 s), NMEA 30 (31.33 s), spurious (31.63 s, meant to the nearest second),
	// pulse 31 (32.23 s).
	if pl[0].sock != SockScored || !pl[0].s.Pulse || pl[0].s.Offset != 0.234568891 {
		t.Errorf("pps-lock[0] = %+v, want a bare pulse with fraction 0.234568891", pl[0].s)
	}
	if pl[1].sock != SockNMEA || pl[1].s.Pulse || pl[1].s.Offset != -1.328000123 || pl[1].fed != nil || pl[1].s.TV != h(31328000*time.Microsecond) {
		t.Errorf("pps-lock[1] = %+v sock %d, want the NMEA epoch", pl[1].s, pl[1].sock)
	}
	if !pl[2].fed.Spurious || !pl[2].s.Pulse || pl[2].s.Offset != 0.634567 || pl[2].fed.Offset != 0.365433 {
		t.Errorf("pps-lock[2] = %+v %+v, want the spurious edge", pl[2].s, *pl[2].fed)
	}
	// The slipped label does not reach a bare pulse: chrony pairs it through NMEA.
	if pl[3].s.Offset != 0.234567871 || pl[3].fed.Offset != -1.234567871 {
		t.Errorf("pps-lock[3] = %+v", pl[3].s)
	}
	if d := NMEADelay(tr); d != 93431*time.Microsecond {
		t.Errorf("NMEADelay = %v, want 93.431ms (1.328000123 − 1.234568891 s, to the µs)", d)
	}
}

func TestParseFeed(t *testing.T) {
	for _, f := range []Feed{FeedLabelled, FeedPPSLock} {
		if g, err := ParseFeed(f.String()); err != nil || g != f {
			t.Errorf("ParseFeed(%q) = %v, %v", f, g, err)
		}
	}
	if _, err := ParseFeed("shm"); err == nil {
		t.Error("ParseFeed(shm) = nil error")
	}
}
