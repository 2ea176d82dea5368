package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// dacPlant is a minimal oscillator for the controller's unit tests: phase θ (ahead, s) integrating a constant
// free-running frequency plus a tuning curve with curvature, measured once a second with white noise and
// the odd outlier. The closed loop against the full simulated OCXO is internal/scenario's dac-ocxo.
type dacPlant struct {
	theta, y   float64 // s, fractional
	gain, curv float64 // ppb/LSB at mid-scale, fractional slope change at the ends
	half       float64
	code       uint32
	noise      float64
	rng        *rand.Rand
	t          timebase.Instant
}

func (p *dacPlant) tune(code uint32) float64 {
	d := float64(code) - p.half
	return p.gain * 1e-9 * d * (1 + p.curv*d/p.half)
}

// second advances the plant one second and returns the phase the capture would report (osc − GPS).
func (p *dacPlant) second() DACSample {
	p.theta += p.y + p.tune(p.code)
	p.t = p.t.Add(time.Second)
	z := p.theta + p.noise*p.rng.NormFloat64()
	if p.rng.Float64() < 0.005 {
		z += 50e-6
	}
	return DACSample{At: p.t, Phase: -time.Duration(z * 1e9)}
}

func (p *dacPlant) apply(c DACCommand) {
	if c.Write {
		p.code = c.Code
	}
	if c.Sync {
		p.theta = 0
	}
}

func newPlant(seed uint64) *dacPlant {
	return &dacPlant{y: -60e-9, gain: 0.2, curv: 0.15, half: 2048, code: 2048, noise: 1.5e-6, theta: 0.2,
		rng: rand.New(rand.NewPCG(seed, 1)), t: timebase.Date(2026, 11, 22, 0, 0, 0, 0)}
}

func TestDACControllerCalibratesAndLocks(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		p := newPlant(seed)
		cfg := DefaultDACConfig()
		cfg.MaxCode = 4095
		c, cmd, err := NewDACController(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.apply(cmd)
		var syncs int
		var lockedAt time.Duration
		var sumSq float64
		var n int
		for i := 1; i <= 3600; i++ {
			cmd := c.Sample(p.second())
			if cmd.Sync {
				syncs++
			}
			p.apply(cmd)
			if c.State() == DACLocked && lockedAt == 0 {
				lockedAt = time.Duration(i) * time.Second
			}
			if i > 1800 {
				sumSq += p.theta * p.theta
				n++
			}
		}
		st := c.Status()
		rms := math.Sqrt(sumSq/float64(n)) * 1e9
		t.Logf("seed %d: gain %.4f ± %.4f ppb/LSB, locked after %v, rms %.0f ns over the second half hour, syncs %d, counts %+v",
			seed, st.GainPPBPerLSB, st.GainErrPPB, lockedAt, rms, syncs, st.Counts)
		// The ±Step secant of a curve with symmetric curvature is the mid-scale gain.
		if math.Abs(st.GainPPBPerLSB-0.2) > 4*st.GainErrPPB || st.GainErrPPB > 0.02 {
			t.Errorf("seed %d: gain %.4f ± %.4f, want 0.2", seed, st.GainPPBPerLSB, st.GainErrPPB)
		}
		if syncs != 2 { // the 0.2 s start, then the calibration's walk
			t.Errorf("seed %d: %d syncs", seed, syncs)
		}
		if lockedAt == 0 || lockedAt > 15*time.Minute || st.State != DACLocked {
			t.Errorf("seed %d: locked at %v, state %v", seed, lockedAt, st.State)
		}
		if rms > 150 {
			t.Errorf("seed %d: rms %.0f ns", seed, rms)
		}
		if st.Counts.Outliers == 0 {
			t.Errorf("seed %d: no outlier gated", seed)
		}
	}
}

func TestDACControllerHoldover(t *testing.T) {
	p := newPlant(7)
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	cfg.GainPPBPerLSB = 0.2 // known from an earlier calibration: no calibration run
	c, cmd, err := NewDACController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.apply(cmd)
	for range 2400 {
		p.apply(c.Sample(p.second()))
	}
	if c.State() != DACLocked || c.Status().Counts.Calibrations != 0 {
		t.Fatalf("state %v, calibrations %d", c.State(), c.Status().Counts.Calibrations)
	}
	b0, ok := c.Bound(p.t)
	if !ok || b0 > time.Microsecond {
		t.Fatalf("locked bound %v %v", b0, ok)
	}
	// The GPS goes away: Tick says when holdover is due, then enters it with a frequency-only code.
	cmd, next := c.Tick(p.t.Add(time.Second))
	if next != p.t.Add(cfg.HoldoverAfter) || cmd.Write {
		t.Fatalf("tick before holdover: %+v, next %v", cmd, next)
	}
	cmd, _ = c.Tick(p.t.Add(cfg.HoldoverAfter))
	if c.State() != DACHoldover || !cmd.Write {
		t.Fatalf("state %v, %+v", c.State(), cmd)
	}
	p.apply(cmd)
	from := p.t
	for range 3600 {
		p.second()
	}
	b1, _ := c.Bound(p.t)
	if b1 <= b0 || time.Duration(math.Abs(p.theta)*1e9) > b1 {
		t.Errorf("after an hour: bound %v (locked %v), true error %.0f ns", b1, b0, p.theta*1e9)
	}
	t.Logf("holdover hour: true error %.0f ns, bound %v (from %v at %v)", p.theta*1e9, b1, b0, from)
	// GPS returns: back to locking, without a sync.
	cmd = c.Sample(p.second())
	if cmd.Sync || c.State() == DACHoldover {
		t.Errorf("after the outage: %+v, state %v", cmd, c.State())
	}
}

func TestDACControllerRejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*DACConfig){
		"no max":       func(c *DACConfig) { c.MaxCode = 0 },
		"empty range":  func(c *DACConfig) { c.MinCode = 70000 },
		"centre out":   func(c *DACConfig) { c.CenterCode = 70000 },
		"step too big": func(c *DACConfig) { c.CalStep = 40000 },
		"NaN gain":     func(c *DACConfig) { c.GainPPBPerLSB = math.NaN() },
		"short segment": func(c *DACConfig) {
			c.CalSegment = time.Second
		},
		"gate":         func(c *DACConfig) { c.GateSigmas = 2 },
		"lock>unlock":  func(c *DACConfig) { c.LockThreshold = time.Millisecond },
		"gain uncert.": func(c *DACConfig) { c.GainUncertainty = 2 },
	} {
		cfg := DefaultDACConfig()
		mod(&cfg)
		if _, _, err := NewDACController(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDACControllerNoSyncSlewsAndIgnoresLateSamples(t *testing.T) {
	p := newPlant(3)
	p.theta = 15e-6 // under SyncThreshold: slewed, not adopted
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	cfg.NoSync = true
	cfg.GainPPBPerLSB = 0.2
	c, cmd, _ := NewDACController(cfg)
	p.apply(cmd)
	for range 1800 {
		cmd := c.Sample(p.second())
		if cmd.Sync {
			t.Fatal("sync asked for with NoSync")
		}
		p.apply(cmd)
	}
	if math.Abs(p.theta) > 1e-6 || c.State() != DACLocked {
		t.Errorf("phase %.0f ns, state %v", p.theta*1e9, c.State())
	}
	before := c.Status().Counts
	c.Sample(DACSample{At: p.t, Phase: 0})
	if c.Status().Counts.Late != before.Late+1 {
		t.Error("a repeated sample was not counted late")
	}
}

func TestDACPairer(t *testing.T) {
	t0 := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	var p DACPairer
	steps := []struct {
		at    time.Duration
		osc   bool
		want  bool
		phase time.Duration
	}{
		{0, false, false, 0}, // GPS waits
		{300 * time.Nanosecond, true, true, 300 * time.Nanosecond}, // osc 300 ns after: phase +300 ns
		{time.Second + 2*time.Microsecond, true, false, 0},         // osc first this time
		{time.Second, false, true, 2 * time.Microsecond},           // GPS completes it (board times need not be in order)
		{2 * time.Second, false, false, 0},                         // a GPS pulse whose partner is missing ...
		{3 * time.Second, false, false, 0},                         // ... is replaced by the next
		{3*time.Second + 600*time.Millisecond, true, false, 0},     // too far: waits
		{4*time.Second - 100*time.Nanosecond, false, true, 0},      // pairs with the osc edge 400 ms before; the 3 s GPS edge is dropped
	}
	for i, s := range steps {
		smp, ok := p.Edge(t0.Add(s.at), s.osc)
		if ok != s.want || (ok && s.phase != 0 && smp.Phase != s.phase) {
			t.Errorf("step %d: %+v %v", i, smp, ok)
		}
	}
	if p.Pairs != 3 || p.Unpaired != 2 {
		t.Errorf("pairs %d, unpaired %d", p.Pairs, p.Unpaired)
	}
}

func TestDACControllerAdoptsAnOffsetWithoutASyncLine(t *testing.T) {
	p := newPlant(4) // starts 0.2 s off
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	cfg.NoSync = true
	c, cmd, _ := NewDACController(cfg)
	p.apply(cmd)
	for range 1800 {
		cmd := c.Sample(p.second())
		if cmd.Sync {
			t.Fatal("sync asked for with NoSync")
		}
		p.apply(cmd)
	}
	st := c.Status()
	// The oscillator keeps its 0.2 s (plus the calibration's walk); what the controller reports as its time
	// error, Phase + Offset, is the truth.
	if st.State != DACLocked || st.Counts.Syncs != 2 || math.Abs(st.Offset.Seconds()-0.2) > 1e-3 {
		t.Fatalf("state %v, soft syncs %d, offset %v", st.State, st.Counts.Syncs, st.Offset)
	}
	if e := (st.Phase + st.Offset).Seconds() - p.theta; math.Abs(e) > 1e-6 {
		t.Errorf("Phase+Offset off the truth by %.0f ns", e*1e9)
	}
}
