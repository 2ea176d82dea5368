package gps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// TestSimulatedReceiver decodes the simulator's receiver in virtual time, with the board clock's receive
// times, through a cold start, a no-fix outage and a silent outage, and checks every epoch against the
// simulator's ground truth: the labelled second, validity, and that nothing is counted as bad.
func TestSimulatedReceiver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		talker string
		baud   int
	}{
		{"u-blox-8-GN-9600", "GN", 9600},
		{"gps-only-GP-9600", "GP", 9600},
		{"GN-115200", "GN", 115200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sim.DefaultConfig()
			cfg.Receiver.Talker = tc.talker
			cfg.Receiver.Baud = tc.baud
			if tc.talker == "GP" {
				cfg.Receiver.Constellations = nil
			}
			start := cfg.Start
			cfg.Receiver.Outages = []sim.Interval{
				{From: start + 60*timebase.Second, To: start + 80*timebase.Second, Kind: sim.OutageNoFix},
				{From: start + 120*timebase.Second, To: start + 135*timebase.Second, Kind: sim.OutageSilent},
			}
			w, err := sim.NewWorld(cfg)
			if err != nil {
				t.Fatalf("sim.NewWorld: %v", err)
			}
			d := NewDecoder(Options{})
			end := start + 240*timebase.Second

			// Ground truth per epoch, keyed by the receive time of its first chunk.
			truth := map[timebase.Instant]sim.Event{}
			seen := map[timebase.Instant]bool{}
			truthValid := 0
			var got []Epoch
			for {
				ev := w.Next()
				if ev.Truth >= end {
					break
				}
				board := ev.Received
				if ev.Kind == sim.EventEdge {
					board = ev.Edge.Time
				}
				if dl, ok := d.Deadline(); ok && board >= dl {
					d.Flush(board)
				}
				got = append(got, drain(d)...)
				if ev.Kind != sim.EventBytes {
					continue
				}
				if !seen[ev.Second] {
					seen[ev.Second] = true
					truth[ev.Received] = ev
					if ev.Valid {
						truthValid++
					}
				}
				d.Write(ev.Bytes, ev.Received)
			}
			d.Flush(timebase.Instant(1) << 62)
			got = append(got, drain(d)...)

			valid := 0
			for i, e := range got {
				tr, ok := truth[e.Label.Received]
				if !ok {
					if i == 0 {
						continue // the tail of an epoch the port opened into
					}
					t.Fatalf("epoch %d received at %v matches no epoch start of the simulator", i, e.Label.Received)
				}
				if e.Label.Valid != tr.Valid {
					t.Errorf("epoch %v: valid %v, truth %v (warnings %v)", tr.Second, e.Label.Valid, tr.Valid, e.Warnings)
				}
				if e.Label.Valid {
					valid++
					if e.Label.Second != tr.Second {
						t.Errorf("valid epoch labelled %v, truth %v", e.Label.Second, tr.Second)
					}
					if e.Fix != Fix3D || e.SatsUsed < 4 || e.SatsVisible < e.SatsUsed || e.PDOP == 0 || !e.Position.Valid {
						t.Errorf("epoch %v: fix %v used %d visible %d pdop %v pos %+v", tr.Second, e.Fix, e.SatsUsed, e.SatsVisible, e.PDOP, e.Position)
					}
					if e.Label.Source != "RMC+GGA+ZDA" {
						t.Errorf("epoch %v: source %q", tr.Second, e.Label.Source)
					}
				} else if e.HasTime && e.Warnings&WarnNoDate == 0 && e.Label.Second != tr.Second {
					t.Errorf("invalid epoch labelled %v, truth %v", e.Label.Second, tr.Second)
				}
			}
			c := d.Counts()
			if valid != truthValid || valid < 150 {
				t.Errorf("valid epochs %d, truth %d", valid, truthValid)
			}
			if c.BadChecksum+c.NoChecksum+c.TimeJumps+c.Repeats+c.Rollovers+c.Conflicts+c.UBXBad+c.Dropped != 0 || c.Malformed > 1 {
				t.Errorf("counts %+v", c)
			}
			if c.SentencesOK == 0 || c.Epochs != uint64(len(got)) {
				t.Errorf("counts %+v for %d epochs", c, len(got))
			}
			t.Logf("%d epochs, %d valid; %+v", len(got), valid, c)
		})
	}
}

// TestSimulatedDeadline checks that Deadline and Flush complete an epoch EpochQuiet after its last byte.
func TestSimulatedDeadline(t *testing.T) {
	cfg := sim.DefaultConfig()
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatalf("sim.NewWorld: %v", err)
	}
	d := NewDecoder(Options{})
	var last timebase.Instant
	for n := 0; n < 2000; n++ {
		ev := w.Next()
		if ev.Kind != sim.EventBytes {
			continue
		}
		if dl, ok := d.Deadline(); ok && ev.Received >= dl {
			if dl != last+timebase.Instant(DefaultEpochQuiet) {
				t.Fatalf("deadline %v, want last byte %v + %v", dl, last, DefaultEpochQuiet)
			}
			d.Flush(dl - 1)
			if _, ok := d.Next(); ok {
				t.Fatal("Flush before the deadline completed an epoch")
			}
			d.Flush(dl)
			e, ok := d.Next()
			if !ok {
				t.Fatal("Flush at the deadline completed nothing")
			}
			if ev.Received-e.Label.Received < timebase.Instant(500*time.Millisecond) {
				t.Fatalf("epoch received %v completed too close to the next one %v", e.Label.Received, ev.Received)
			}
		}
		d.Write(ev.Bytes, ev.Received)
		last = ev.Received
	}
}
