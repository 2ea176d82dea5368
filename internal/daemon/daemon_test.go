package daemon

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// loop runs the real Core against a simulated world in virtual time.
type loop struct {
	t        *testing.T
	w        *sim.World
	core     *Core
	last     *timebase.Snapshot
	pending  *sim.Event // drawn from the world but beyond the end of the previous run
	now      timebase.Instant
	nextTick timebase.Instant
}

func newLoop(t *testing.T, cfg sim.Config) *loop {
	t.Helper()
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{t: t, w: w}
	core, err := NewCore(Config{
		PPSBias: cfg.PPS.Bias + cfg.PPS.CaptureLatencyMean,
		Publish: func(s *timebase.Snapshot) { l.last = s },
	}, w.Steerable())
	if err != nil {
		t.Fatal(err)
	}
	l.core = core
	return l
}

// run advances virtual time by d, feeding every event to the core and ticking it when it asks. visit is
// called once per truth second with the world's true board error.
func (l *loop) run(d time.Duration, visit func(truth timebase.Instant, err time.Duration)) {
	if l.now == 0 {
		l.now = l.w.Now()
		l.nextTick = l.now
	}
	end := l.now.Add(d)
	nextVisit := l.now.Truncate(time.Second).Add(time.Second)
	for {
		var ev sim.Event
		if l.pending != nil {
			ev, l.pending = *l.pending, nil
		} else {
			ev = l.w.Next()
		}
		// Ticks and per-second visits due before this event (or before the end of the run) come first.
		limit := min(ev.Truth, end)
		for l.nextTick <= limit || nextVisit <= limit {
			if l.nextTick <= nextVisit {
				l.nextTick = l.boardToTruth(l.core.Tick(l.w.Board().At(l.nextTick)))
			} else {
				if visit != nil {
					visit(nextVisit, l.w.Board().ErrorAt(nextVisit))
				}
				nextVisit = nextVisit.Add(time.Second)
			}
		}
		if ev.Truth > end {
			l.pending = &ev
			l.now = end
			return
		}
		switch ev.Kind {
		case sim.EventBytes:
			l.core.Bytes(ev.Bytes, ev.Received)
		case sim.EventEdge:
			l.core.Edge(ev.Edge)
		}
		if w := l.core.NextWake(); w != 0 {
			if tw := l.boardToTruth(w); tw < l.nextTick {
				l.nextTick = tw
			}
		}
	}
}

func (l *loop) boardToTruth(b timebase.Instant) timebase.Instant { return l.w.Board().TruthAt(b) }

func TestColdStartLocksAndServesHonestly(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Seed = 7
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	l := newLoop(t, cfg)

	var lockAt, firstValid timebase.Instant
	var sumSq float64
	var n int
	maxAbs := time.Duration(0)
	l.run(20*time.Minute, func(truth timebase.Instant, err time.Duration) {
		v := l.core.View()
		if firstValid == 0 && v.HaveEpoch && v.Epoch.Label.Valid {
			firstValid = truth
		}
		snap := v.Snapshot
		if snap.State != timebase.StateLocked && snap.State != timebase.StateHoldover {
			if snap.Leap != timebase.LeapUnsync || snap.Stratum != 16 {
				t.Fatalf("at %v in state %v the server would serve LI=%d stratum %d", truth, snap.State, snap.Leap, snap.Stratum)
			}
			return
		}
		if lockAt == 0 {
			lockAt = truth
		}
		if truth.Sub(lockAt) > 2*time.Minute {
			sumSq += err.Seconds() * err.Seconds()
			n++
			if a := err.Abs(); a > maxAbs {
				maxAbs = a
			}
			// The served bound must cover the true error.
			if bound := l.last.RootDispersionAt(l.w.Board().At(truth)); err.Abs() > bound {
				t.Errorf("at %v true error %v exceeds served root dispersion %v", truth, err, bound)
			}
		}
	})
	if lockAt == 0 {
		t.Fatalf("never locked in 20 minutes; view %+v", l.core.View().Snapshot)
	}
	if d := lockAt.Sub(firstValid); d > 90*time.Second {
		t.Errorf("locked %v after the first valid fix", d)
	}
	rms := time.Duration(math.Sqrt(sumSq/float64(n)) * 1e9)
	t.Logf("lock %v after first fix; steady state RMS %v, max %v over %d s; steps %d", lockAt.Sub(firstValid), rms, maxAbs, n, l.core.View().Steps)
	if rms > 2*time.Microsecond {
		t.Errorf("steady-state RMS error %v", rms)
	}
	if l.core.View().Steps > 1 {
		t.Errorf("stepped %d times", l.core.View().Steps)
	}
	if l.last.Stratum != 1 || l.last.RefID.String() != "PPS" || l.last.Leap != timebase.LeapNone {
		t.Errorf("locked snapshot %+v", l.last)
	}
}

func TestGPSLossEntersHoldoverThenUnsynchronized(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Seed = 11
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	cfg.Receiver.Outages = []sim.Interval{{
		From: cfg.Start.Add(10 * time.Minute),
		To:   cfg.Start.Add(5 * time.Hour),
		Kind: sim.OutageSilent,
	}}
	l := newLoop(t, cfg)
	l.run(10*time.Minute, nil)
	if s := l.core.View().Snapshot; s.State != timebase.StateLocked {
		t.Fatalf("not locked before the outage: %v", s.State)
	}
	l.run(30*time.Second, nil)
	s := l.core.View().Snapshot
	if s.State != timebase.StateHoldover || s.Stratum != 1 {
		t.Fatalf("30 s into the outage: state %v stratum %d, want holdover at stratum 1", s.State, s.Stratum)
	}
	var worst time.Duration
	l.run(2*time.Hour, func(truth timebase.Instant, err time.Duration) {
		snap := l.core.View().Snapshot
		if snap.Leap == timebase.LeapUnsync {
			return
		}
		bound := snap.RootDispersionAt(l.w.Board().At(truth))
		if err.Abs() > bound {
			t.Fatalf("holdover at %v: true error %v beyond the served bound %v", truth, err, bound)
		}
		if err.Abs() > worst {
			worst = err.Abs()
		}
	})
	s = l.core.View().Snapshot
	if s.Leap != timebase.LeapUnsync || s.Stratum != 16 {
		t.Errorf("after 2 h without GPS: LI=%d stratum %d, want unsynchronized", s.Leap, s.Stratum)
	}
	t.Logf("worst true error while serving in holdover: %v", worst)
}
