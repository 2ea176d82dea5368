package sim

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func quietDACOsc() DACOscConfig {
	c := DefaultDACOscConfig()
	c.Osc.WanderPPMPerSqrtS = 0
	c.Osc.Temperature = TemperatureProfile{BaseC: 35}
	c.Osc.InitialPPM = 0.1 // 100 ppb
	c.Osc.InitialOffset = 250 * time.Millisecond
	return c
}

func TestDACOscTuningCurve(t *testing.T) {
	start := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	o, err := NewDACOscillator(quietDACOsc(), start, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := DefaultDACOscConfig().GainPPBPerLSB
	for _, tc := range []struct {
		code uint32
		want float64
	}{
		{32768, 0},
		{32768 + 1000, g * 1000 * (1 + 0.2*1000/32768.0)},
		{32768 - 1000, -g * 1000 * (1 - 0.2*1000/32768.0)},
		{65535, g * 32767 * (1 + 0.2*32767/32768.0)},
		{0, -g * 32768 * (1 - 0.2)},
	} {
		if got := o.TuningPPB(tc.code); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("TuningPPB(%d) = %g, want %g", tc.code, got, tc.want)
		}
	}
	if err := o.SetCodeAt(start, 1<<16); err == nil {
		t.Error("a 17-bit code accepted")
	}
}

func TestDACOscPulsesFollowTheCode(t *testing.T) {
	start := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	o, _ := NewDACOscillator(quietDACOsc(), start, 1)
	// At mid-scale the oscillator runs 100 ppb fast: its pulses come 100 ns earlier each second, starting
	// 0.75 s after start (its count starts at x.250).
	p0 := o.NextPulse(start)
	p1 := o.NextPulse(p0)
	if want := start.Add(750 * time.Millisecond); p0.Sub(want).Abs() > 100*time.Nanosecond {
		t.Errorf("first pulse %v, want about %v", p0, want)
	}
	if d := p1.Sub(p0) - time.Second; d < -101*time.Nanosecond || d > -99*time.Nanosecond {
		t.Errorf("period − 1 s = %v, want −100 ns", d)
	}
	// Tuning that cancels the 100 ppb makes the period one second.
	code := uint32(32768)
	for o.TuningPPB(code) > -100 {
		code--
	}
	if err := o.SetCodeAt(p1, code); err != nil {
		t.Fatal(err)
	}
	p2 := o.NextPulse(p1)
	p3 := o.NextPulse(p2)
	if d := p3.Sub(p2) - time.Second; d.Abs() > 2*time.Nanosecond {
		t.Errorf("tuned period − 1 s = %v", d)
	}
	if f := o.FrequencyPPB(p3); math.Abs(f) > 0.02 {
		t.Errorf("tuned frequency %g ppb", f)
	}
	// A sync on a pulse emitted at S + 40 ns puts the oscillator's second there, within the residual.
	sec := p3.Truncate(time.Second).Add(time.Second)
	o.SyncTo(sec.Add(40*time.Nanosecond), sec)
	if e := o.ErrorAt(sec.Add(40 * time.Nanosecond)); (e + 40*time.Nanosecond).Abs() > 50*time.Nanosecond {
		t.Errorf("after sync: error %v, want −40 ns ± 50 ns", e)
	}
	next := o.NextPulse(sec.Add(time.Microsecond))
	if d := next.Sub(sec.Add(time.Second + 40*time.Nanosecond)); d.Abs() > 50*time.Nanosecond {
		t.Errorf("first pulse after sync %v off", d)
	}
}

func TestDACOscDeterministicAndValidated(t *testing.T) {
	start := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	run := func() []time.Duration {
		o, _ := NewDACOscillator(DefaultDACOscConfig(), start, 9)
		var out []time.Duration
		for i := 1; i <= 600; i++ {
			at := start.Add(time.Duration(i) * time.Second)
			o.Advance(at)
			lat, _ := o.CaptureLatency()
			out = append(out, o.ErrorAt(at), lat)
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("differs at %d: %v %v", i, a[i], b[i])
		}
	}
	for name, mod := range map[string]func(*DACOscConfig){
		"bits":      func(c *DACOscConfig) { c.Bits = 4 },
		"gain":      func(c *DACOscConfig) { c.GainPPBPerLSB = 0 },
		"range":     func(c *DACOscConfig) { c.GainPPBPerLSB = 100 },
		"curvature": func(c *DACOscConfig) { c.Curvature = 0.5 },
		"osc":       func(c *DACOscConfig) { c.Osc.InitialPPM = math.NaN() },
		"latency":   func(c *DACOscConfig) { c.CaptureLatencyMean = -1 },
		"prob":      func(c *DACOscConfig) { c.OutlierProb = 2 },
		"residual":  func(c *DACOscConfig) { c.SyncResidual = time.Second },
	} {
		c := DefaultDACOscConfig()
		mod(&c)
		if _, err := NewDACOscillator(c, start, 1); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
