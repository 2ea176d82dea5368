package daemon

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// runNMEA runs a box without PPS for d and returns the lock time after the first valid fix, the RMS and
// largest true error once locked, and how often the true error exceeded the served root dispersion.
func runNMEA(t *testing.T, seed uint64, delay, uncertainty time.Duration, d time.Duration) (lock, rms, maxAbs time.Duration, violations int, last *timebase.Snapshot) {
	cfg := sim.DefaultConfig()
	cfg.Seed = seed
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	l := newLoop(t, cfg, func(c *Config) {
		c.NMEA = &NMEATime{Delay: delay, Uncertainty: uncertainty}
		c.GPS.ByteTime = 10 * time.Second / time.Duration(cfg.Receiver.Baud)
		c.Servo = NMEAServoConfig(discipline.DefaultConfig())
	})
	l.noEdges = true
	var lockAt, firstValid timebase.Instant
	var sumSq float64
	var n int
	l.run(d, func(truth timebase.Instant, err time.Duration) {
		v := l.core.View()
		if firstValid == 0 && v.HaveEpoch && v.Epoch.Label.Valid {
			firstValid = truth
		}
		snap := v.Snapshot
		if snap.Leap == timebase.LeapUnsync {
			if snap.Stratum != 16 {
				t.Fatalf("LI=3 with stratum %d", snap.Stratum)
			}
			return
		}
		if lockAt == 0 {
			lockAt = truth
		}
		if bound := l.last.RootDispersionAt(l.w.Board().At(truth)); err.Abs() > bound {
			violations++
		}
		sumSq += err.Seconds() * err.Seconds()
		n++
		maxAbs = max(maxAbs, err.Abs())
	})
	if lockAt == 0 {
		t.Fatalf("seed %d: never synchronized in %v; last %+v", seed, d, l.core.View().Snapshot)
	}
	return lockAt.Sub(firstValid), time.Duration(math.Sqrt(sumSq/float64(n)) * 1e9), maxAbs, violations, l.last
}

// TestNMEAOnlyServesHonestly: without PPS, the sentences' arrival (60 ms ± 5 ms after the second in the
// simulated receiver) times the clock. The box must become a stratum-1 NMEA server and never serve a root
// dispersion smaller than its true error, also when the configured delay is off by most of its stated
// uncertainty.
func TestNMEAOnlyServesHonestly(t *testing.T) {
	for _, tc := range []struct {
		name               string
		seed               uint64
		delay, uncertainty time.Duration
	}{
		{"calibrated", 3, 60 * time.Millisecond, 10 * time.Millisecond},
		{"delay 15 ms short", 4, 45 * time.Millisecond, 20 * time.Millisecond},
		{"delay unknown", 5, 0, 100 * time.Millisecond},
	} {
		lock, rms, maxAbs, violations, last := runNMEA(t, tc.seed, tc.delay, tc.uncertainty, 30*time.Minute)
		t.Logf("%s: synchronized %v after the first fix; true error RMS %v, max %v; served root dispersion %v",
			tc.name, lock, rms.Round(time.Microsecond), maxAbs.Round(time.Microsecond), last.RootDispersion.Round(time.Microsecond))
		if violations > 0 {
			t.Errorf("%s: true error beyond the served root dispersion in %d seconds", tc.name, violations)
		}
		if lock > 3*time.Minute {
			t.Errorf("%s: synchronized only %v after the first fix", tc.name, lock)
		}
		if last.Stratum != 1 || last.RefID.String() != "NMEA" || last.RootDispersion < tc.uncertainty {
			t.Errorf("%s: served %+v", tc.name, last)
		}
		if err := (tc.delay - 60*time.Millisecond).Abs(); maxAbs > err+15*time.Millisecond {
			t.Errorf("%s: max true error %v for a delay error of %v", tc.name, maxAbs, err)
		}
	}
}

func TestNMEASampleRejectsBadLabels(t *testing.T) {
	c := &Core{nmea: &NMEATime{Delay: 100 * time.Millisecond, Uncertainty: 50 * time.Millisecond}}
	sec := timebase.Date(2026, 11, 22, 10, 0, 0, 0)
	lbl := func(s timebase.Instant, valid bool, recvAfter time.Duration) timebase.TimeLabel {
		return timebase.TimeLabel{Second: s, Valid: valid, Received: s.Add(recvAfter)}
	}
	if at, off, ok := c.nmeaSample(lbl(sec, true, 130*time.Millisecond)); !ok || off != 30*time.Millisecond || at != sec.Add(30*time.Millisecond) {
		t.Errorf("good label: %v %v %v", at, off, ok)
	}
	for _, l := range []timebase.TimeLabel{
		lbl(sec, true, 150*time.Millisecond),                     // the same second again
		lbl(sec.Add(-time.Second), true, 100*time.Millisecond),   // backwards
		lbl(sec.Add(2*time.Second), false, 100*time.Millisecond), // no valid time
		{},
	} {
		if _, _, ok := c.nmeaSample(l); ok {
			t.Errorf("label %+v gave a sample", l)
		}
	}
	if _, _, ok := c.nmeaSample(lbl(sec.Add(3*time.Second), true, 90*time.Millisecond)); !ok {
		t.Error("the next good second was refused")
	}
	for _, bad := range []NMEATime{{Delay: -1, Uncertainty: 1}, {Delay: time.Second, Uncertainty: 1}, {Delay: 0}, {Uncertainty: 2 * time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
