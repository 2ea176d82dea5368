package daemon

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// loop runs the real Core against a simulated world in virtual time.
//
// A steering command at a tick must take effect at the tick's truth, but World.Next advances the board's
// oscillator to the event it returns (and the board cannot be changed in the past), so the loop looks ahead
// with a shadow World of the same configuration, never steered (steering changes board timestamps, never the
// events), and ticks before drawing the event. The core steers with the loop's own now.
type loop struct {
	t         *testing.T
	w, shadow *sim.World
	core      *Core
	last      *timebase.Snapshot
	pending   timebase.Instant // truth of the next event, drawn from the shadow but beyond the previous run
	cur       timebase.Instant // truth of what is being processed: steering takes effect here
	now       timebase.Instant
	nextTick  timebase.Instant
	noEdges   bool // the box has no PPS wired: the world's pulses never reach the core
}

func newLoop(t *testing.T, cfg sim.Config, opts ...func(*Config)) *loop {
	t.Helper()
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{t: t, w: w, shadow: shadow, cur: w.Now()}
	ccfg := Config{
		PPSBias: cfg.PPS.Bias + cfg.PPS.CaptureLatencyMean,
		Publish: func(s *timebase.Snapshot) { l.last = s },
	}
	for _, o := range opts {
		o(&ccfg)
	}
	core, err := NewCore(ccfg, w.Board().Steerable(func() timebase.Instant { return l.cur }))
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
		next := l.pending
		if next != 0 {
			l.pending = 0
		} else {
			next = l.shadow.Next().Truth
		}
		// Ticks and per-second visits due before this event (or before the end of the run) come first.
		limit := min(next, end)
		for l.nextTick <= limit || nextVisit <= limit {
			if l.nextTick <= nextVisit {
				l.cur = l.nextTick
				l.nextTick = max(l.boardToTruth(l.core.Tick(l.w.Board().At(l.nextTick))), l.cur+1)
			} else {
				if visit != nil {
					// Without events (a silent receiver) nothing else integrates the oscillator.
					l.w.Board().Advance(nextVisit)
					visit(nextVisit, l.w.Board().ErrorAt(nextVisit))
				}
				nextVisit = nextVisit.Add(time.Second)
			}
		}
		if next > end {
			l.pending = next
			l.now = end
			return
		}
		ev := l.w.Next()
		l.cur = ev.Truth
		switch ev.Kind {
		case sim.EventBytes:
			l.core.Bytes(ev.Bytes, ev.Received)
		case sim.EventEdge:
			if !l.noEdges {
				l.core.Edge(ev.Edge)
			}
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
	if d := lockAt.Sub(firstValid); d > 60*time.Second {
		t.Errorf("locked %v after the first valid fix", d)
	}
	rms := time.Duration(math.Sqrt(sumSq/float64(n)) * 1e9)
	t.Logf("lock %v after first fix; steady state RMS %v, max %v over %d s; steps %d", lockAt.Sub(firstValid), rms, maxAbs, n, l.core.View().Steps)
	if rms > 400*time.Nanosecond {
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
	// The bound grows; the box serves stratum 1 while it is under the first limit, then a higher stratum, then
	// says it is unsynchronized past the second limit, in that order and never back while the outage lasts.
	var worst time.Duration
	var degradedAt, unsyncAt timebase.Instant
	l.run(4*time.Hour+30*time.Minute, func(truth timebase.Instant, err time.Duration) {
		snap := l.core.View().Snapshot
		switch {
		case snap.Leap == timebase.LeapUnsync:
			if unsyncAt == 0 {
				unsyncAt = truth
			}
			return
		case unsyncAt != 0:
			t.Fatalf("at %v synchronized again (stratum %d) during the outage", truth, snap.Stratum)
		case snap.Stratum != 1 && degradedAt == 0:
			degradedAt = truth
		case snap.Stratum == 1 && degradedAt != 0:
			t.Fatalf("at %v stratum 1 again during the outage", truth)
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
	if s.Leap != timebase.LeapUnsync || s.Stratum != 16 || degradedAt == 0 {
		t.Errorf("after 5 h without GPS: LI=%d stratum %d (degraded from %v), want unsynchronized", s.Leap, s.Stratum, degradedAt)
	}
	outage := cfg.Start.Add(10 * time.Minute)
	t.Logf("stratum 1 for %v of holdover, unsynchronized after %v", degradedAt.Sub(outage), unsyncAt.Sub(outage))
	t.Logf("worst true error while serving in holdover: %v", worst)
}
