package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

var leap2017 = timebase.Date(2017, time.January, 1, 0, 0, 0, 0)

// leapOsc is a crystal that only has an offset and a constant frequency error, so readings are exact.
func leapOsc(offset time.Duration, ppm float64) OscillatorConfig {
	return OscillatorConfig{InitialPPM: ppm, InitialOffset: offset, UpdateInterval: time.Second, Temperature: TemperatureProfile{BaseC: 25}}
}

func TestBoardClockLeapFollowsLinuxRule(t *testing.T) {
	const ms = time.Millisecond
	for _, tt := range []struct {
		name   string
		li     timebase.LeapIndicator
		offset time.Duration // board minus truth at start
		// the truth instant the leap is applied at: when the board reads its own trigger
		wantAt   timebase.Instant
		wantStep time.Duration
	}{
		{"insert, board 3 ms fast", timebase.LeapInsert, 3 * ms, leap2017 - timebase.Instant(3*ms), -time.Second},
		{"insert, board 2 ms slow", timebase.LeapInsert, -2 * ms, leap2017 + timebase.Instant(2*ms), -time.Second},
		{"delete, board exact", timebase.LeapDelete, 0, leap2017 - timebase.Second, time.Second},
	} {
		start := leap2017 - timebase.Instant(10*time.Minute)
		c, err := NewBoardClock(leapOsc(tt.offset, 0), start, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Steering on the way (a frequency change and a small step) must not make the clock miss the midnight.
		if err := c.SetLeapAt(start+timebase.Second, tt.li); err != nil {
			t.Fatal(err)
		}
		if err := c.SetFrequencyAt(start+2*timebase.Second, 0); err != nil {
			t.Fatal(err)
		}
		c.StepAt(start+3*timebase.Second, 0)
		// Read across the trigger, nanosecond-exact on both sides.
		before, after := c.At(tt.wantAt-1), c.At(tt.wantAt)
		trig := leap2017
		if tt.li == timebase.LeapDelete {
			trig -= timebase.Second
		}
		if before != trig-1 {
			t.Errorf("%s: reads %v a nanosecond before the leap, want %v", tt.name, before, trig-1)
		}
		if want := trig.Add(tt.wantStep); after != want {
			t.Errorf("%s: reads %v at the leap, want %v", tt.name, after, want)
		}
		flag, applied := c.LeapState()
		if flag != tt.li || len(applied) != 1 || applied[0].Truth != tt.wantAt || applied[0].Step != tt.wantStep {
			t.Errorf("%s: flag %v, applied %+v; want one at %v of %v", tt.name, flag, applied, tt.wantAt, tt.wantStep)
		}
		// TIME_WAIT: with the flag still set, the board reads midnight again a second later and does nothing.
		c.Advance(tt.wantAt + 5*timebase.Second)
		if _, applied := c.LeapState(); len(applied) != 1 {
			t.Errorf("%s: applied %d leaps while waiting", tt.name, len(applied))
		}
		if err := c.SetLeapAt(tt.wantAt+10*timebase.Second, timebase.LeapNone); err != nil {
			t.Fatal(err)
		}
		// A day later with the flag cleared: nothing.
		c.Advance(tt.wantAt + 86401*timebase.Second)
		if _, applied := c.LeapState(); len(applied) != 1 {
			t.Errorf("%s: applied %d leaps with the flag cleared", tt.name, len(applied))
		}
	}
}

func TestBoardClockLeapFlagArmedLateOrNever(t *testing.T) {
	start := leap2017 - timebase.Instant(time.Hour)
	c, err := NewBoardClock(leapOsc(0, 5), start, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetLeapAt(start, timebase.LeapIndicator(3)); err == nil || !strings.Contains(err.Error(), "SetLeapAt") {
		t.Errorf("SetLeapAt(LI=3) = %v, want an error naming the call", err)
	}
	// Never armed: the board runs through midnight without a step.
	c.Advance(leap2017 + timebase.Second)
	if _, applied := c.LeapState(); len(applied) != 0 {
		t.Errorf("unarmed clock applied %+v", applied)
	}
	// Armed after the midnight: Linux acts at the next one, a day later.
	if err := c.SetLeapAt(leap2017+2*timebase.Second, timebase.LeapInsert); err != nil {
		t.Fatal(err)
	}
	c.Advance(leap2017 + 3600*timebase.Second)
	if _, applied := c.LeapState(); len(applied) != 0 {
		t.Errorf("flag armed after midnight applied at once: %+v", applied)
	}
	c.Advance(leap2017 + 86401*timebase.Second)
	if _, applied := c.LeapState(); len(applied) != 1 {
		t.Errorf("applied %+v by the next midnight, want one", applied)
	}
}

// TestReceiverAcrossLeapSecond decodes the receiver around the 2016 leap second with the real decoder: the
// labels of the inserted second in each labelling mode, and the leap information of NAV-TIMELS and PUBX,04.
func TestReceiverAcrossLeapSecond(t *testing.T) {
	for _, tt := range []struct {
		label LeapLabel
		// labels expected for truth seconds 23:59:58 .. 00:00:01 (uniform): "" for none
		want []string
	}{
		{LeapSixty, []string{"23:59:58", "23:59:59", "23:59:60", "00:00:00", "00:00:01"}},
		{LeapRepeat, []string{"23:59:58", "23:59:59", "23:59:59", "00:00:00", "00:00:01"}},
		{LeapSkip, []string{"23:59:58", "23:59:59", "", "00:00:00", "00:00:01"}},
	} {
		cfg := DefaultConfig()
		cfg.Start = leap2017 - 5*timebase.Second
		cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
		cfg.Receiver.Baud = 115200
		cfg.Leap = LeapConfig{At: leap2017, Change: 1, Label: tt.label, Report: true, GPSMinusUTC: 17}
		w, err := NewWorld(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := gps.NewDecoder(gps.Options{Floor: timebase.Date(2016, 1, 1, 0, 0, 0, 0)})
		got := map[timebase.Instant]string{} // truth second -> label
		var eps []gps.Epoch
		for {
			ev := w.Next()
			if ev.Truth > leap2017+4*timebase.Second {
				break
			}
			if ev.Kind != EventBytes {
				continue
			}
			d.Write(ev.Bytes, ev.Received)
			for {
				ep, ok := d.Next()
				if !ok {
					break
				}
				eps = append(eps, ep)
			}
		}
		d.Flush(w.Board().At(w.Now() + timebase.Second))
		for ep, ok := d.Next(); ok; ep, ok = d.Next() {
			eps = append(eps, ep)
		}
		for _, ep := range eps {
			s := ep.Label.Second.Time().Format("15:04:05")
			if ep.LeapSecond {
				s = "23:59:60"
			}
			// The epoch began about 60 ms after its truth second.
			u := w.Board().TruthAt(ep.Label.Received).Truncate(time.Second)
			got[u] = s
			// The decoder may withhold the labels right at the leap (a repeated 23:59:59, or 00:00:00 after a
			// silent second, look like a receiver fault); the pairing and the leap logic handle that. Every
			// other epoch is valid.
			if !ep.Label.Valid && (u < leap2017-timebase.Second || u > leap2017+timebase.Second) {
				t.Errorf("%v: epoch %s not valid", tt.label, s)
			}
			if l := ep.Leap; !l.Known || l.Default || l.Source == "" || !l.ChangeKnown || l.Change != 1 {
				t.Errorf("%v: epoch %s leap info %+v", tt.label, s, l)
			}
			if l := ep.Leap; ep.Label.Second < leap2017-timebase.Second && (!l.EventKnown || l.Event != leap2017 || l.Current != 17) {
				t.Errorf("%v: epoch %s announces %+v, want an insertion at %v with GPS-UTC 17", tt.label, s, l, leap2017)
			}
			if l := ep.Leap; ep.Label.Second >= leap2017 && l.Current != 18 {
				t.Errorf("%v: epoch %s reports GPS-UTC %d after the leap, want 18", tt.label, s, l.Current)
			}
		}
		for i, want := range tt.want {
			u := leap2017 - 2*timebase.Second + timebase.Instant(i)*timebase.Second
			if got[u] != want {
				t.Errorf("%v: truth second %d after 23:59:58 labelled %q, want %q", tt.label, i, got[u], want)
			}
		}
		if c := d.Counts(); c.UBXOK == 0 || c.UBXBad+c.UBXMalformed+c.BadChecksum+c.Malformed != 0 {
			t.Errorf("%v: decoder counts %+v", tt.label, c)
		}
	}
}

func TestReceiverForgetsLeapAfterColdStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Start = leap2017 - 10*timebase.Second
	cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
	cfg.Receiver.Baud = 115200
	cfg.Leap = LeapConfig{At: leap2017, Change: 1, Report: true, GPSMinusUTC: 17, ForgetFrom: leap2017 - 5*timebase.Second, FirmwareDefault: 16}
	w, err := NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stream strings.Builder
	for ev := w.Next(); ev.Truth < leap2017; ev = w.Next() {
		if ev.Kind == EventBytes {
			stream.Write(ev.Bytes)
		}
	}
	var pubx []string
	for _, line := range strings.Split(stream.String(), "\n") {
		if i := strings.Index(line, "$PUBX,04"); i >= 0 {
			pubx = append(pubx, line[i:])
		}
	}
	var before, after int
	for _, p := range pubx {
		f := strings.Split(p, ",")
		if len(f) < 7 {
			continue // split across reads
		}
		switch f[6] {
		case "17":
			before++
		case "16D":
			after++
		default:
			t.Errorf("PUBX,04 leap field %q", f[6])
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("PUBX,04 before/after the cold start: %d/%d, want both: %q", before, after, pubx)
	}
}

func TestLeapConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		l    LeapConfig
		want string
	}{
		{LeapConfig{At: leap2017 + timebase.Second, Change: 1}, "Leap.At"},
		{LeapConfig{At: timebase.Date(2017, 1, 15, 0, 0, 0, 0), Change: 1}, "Leap.At"},
		{LeapConfig{At: leap2017, Change: 2}, "Leap.Change"},
		{LeapConfig{At: leap2017, Change: 1, Label: 7}, "Leap.Label"},
		{LeapConfig{At: leap2017, Change: 1, Report: true, GPSMinusUTC: -1}, "Leap.GPSMinusUTC"},
		{LeapConfig{At: leap2017, Change: 1, AnnounceChange: 300}, "Leap.AnnounceChange"},
	} {
		cfg := DefaultConfig()
		cfg.Leap = tt.l
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.l, err, tt.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Leap = LeapConfig{At: leap2017, Change: -1, Label: LeapSkip}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid leap config rejected: %v", err)
	}
}
