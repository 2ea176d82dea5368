package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// crystal is a synthetic record for the fit: a free-running phase whose frequency is y0 + k·(T − 45 °C) plus
// a random walk, the temperature a slow swing with a fluctuation, read by a sensor with noise and an offset.
type crystal struct {
	k, wander         float64 // fractional per °C; fractional per √s
	swing, period     float64 // °C, seconds
	fluct, sensorNois float64 // °C
	phaseNoise        float64 // s, σ of the phase estimate handed to the fit
	rng               *rand.Rand
	phi, rw, ou       float64
}

func (c *crystal) temp(t float64) float64 {
	return 45 + c.swing*math.Sin(2*math.Pi*t/c.period) + c.ou
}

// feed runs the fit for n seconds from second s0: a phase estimate every second, a reading every 2 s.
func (c *crystal) feed(f *tempFit, s0, n int) {
	for i := s0; i < s0+n; i++ {
		t := float64(i)
		at := start.Add(time.Duration(i) * time.Second)
		c.ou = c.ou*math.Exp(-1.0/900) + c.fluct*math.Sqrt(1-math.Exp(-2.0/900))*c.rng.NormFloat64()
		c.rw += c.wander * c.rng.NormFloat64()
		c.phi += 3e-6 + c.k*(c.temp(t)-45) + c.rw
		if i%2 == 0 {
			f.reading(at, c.temp(t)+7+c.sensorNois*c.rng.NormFloat64())
		}
		gap := 1.0
		if i == s0 {
			gap = 0
		}
		f.observe(at, c.phi+c.phaseNoise*c.rng.NormFloat64(), gap)
	}
}

func TestTempFitRecoversCoefficient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		k       float64 // ppm/°C
		wander  float64 // ppm/√s
		seed    uint64
		trusted bool
	}{
		{"0.1 ppm/°C quiet", 0.1, 1e-4, 1, true},
		{"0.1 ppm/°C wandering", 0.1, 3e-4, 2, true},
		{"-0.05 ppm/°C", -0.05, 3e-4, 3, true},
		{"no tempco", 0, 3e-4, 4, true},
		{"0.3 ppm/°C", 0.3, 3e-4, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &crystal{k: tc.k * 1e-6, wander: tc.wander * 1e-6, swing: 2, period: 6 * 3600, fluct: 0.05,
				sensorNois: 0.1, phaseNoise: 200e-9, rng: rand.New(rand.NewPCG(tc.seed, 7))}
			f := newTempFit(DefaultConfig().WanderPPMPerSqrtS)
			c.feed(&f, 0, 12*3600)
			m := f.best()
			k, sk := m.k*1e6, m.sigmaK()*1e6
			t.Logf("k̂ = %.4f ± %.4f ppm/°C (true %.3f), residual %.2f ppb, wander %.1e ppm/√s, span %.2f °C",
				k, sk, tc.k, math.Sqrt(m.r)*1e9, math.Sqrt(m.qa)*1e6, f.span())
			if math.Abs(k-tc.k) > 4*sk {
				t.Errorf("k̂ = %.4f ± %.4f, true %.3f: off by more than 4σ", k, sk, tc.k)
			}
			if f.trusted() != tc.trusted {
				t.Errorf("trusted = %v, want %v", f.trusted(), tc.trusted)
			}
			if math.Abs(k-tc.k) > 0.02 {
				t.Errorf("k̂ = %.4f, true %.3f: more than 0.02 ppm/°C off", k, tc.k)
			}
		})
	}
}

// A fit must not steer a holdover before it has seen enough: too few blocks, too little temperature span,
// or a sensor that does not explain the frequency.
func TestTempFitTrust(t *testing.T) {
	base := func(seed uint64) *crystal {
		return &crystal{k: 0.1e-6, wander: 3e-10, swing: 2, period: 6 * 3600, fluct: 0.05, sensorNois: 0.1,
			phaseNoise: 200e-9, rng: rand.New(rand.NewPCG(seed, 8))}
	}
	t.Run("too short", func(t *testing.T) {
		f := newTempFit(DefaultConfig().WanderPPMPerSqrtS)
		base(1).feed(&f, 0, 3*3600)
		if f.trusted() {
			t.Errorf("trusted after 3 h (%d blocks)", f.n)
		}
	})
	t.Run("no span", func(t *testing.T) {
		c := base(2)
		c.swing = 0.2
		f := newTempFit(DefaultConfig().WanderPPMPerSqrtS)
		c.feed(&f, 0, 12*3600)
		if f.trusted() || f.span() >= tcMinSpanC {
			t.Errorf("trusted=%v with a span of %.2f °C", f.trusted(), f.span())
		}
	})
	t.Run("sensor unrelated", func(t *testing.T) {
		// The frequency follows a temperature the sensor does not see: the fit's coefficient is not known
		// well enough to be used, so it is not.
		c := base(3)
		f := newTempFit(DefaultConfig().WanderPPMPerSqrtS)
		other := rand.New(rand.NewPCG(3, 9))
		swing := 0.0
		for i := 0; i < 12*3600; i++ {
			at := start.Add(time.Duration(i) * time.Second)
			if i%300 == 0 {
				swing = 3 * other.NormFloat64()
			}
			c.rw += c.wander * c.rng.NormFloat64()
			c.phi += 3e-6 + 0.1e-6*swing + c.rw
			if i%2 == 0 {
				f.reading(at, 45+2*math.Sin(2*math.Pi*float64(i)/(6*3600))+0.1*c.rng.NormFloat64())
			}
			f.observe(at, c.phi+200e-9*c.rng.NormFloat64(), 1)
		}
		m := f.best()
		t.Logf("k̂ = %.4f ± %.4f ppm/°C, residual %.1f ppb", m.k*1e6, m.sigmaK()*1e6, math.Sqrt(m.r)*1e9)
		if f.trusted() {
			t.Error("trusted a sensor that does not explain the frequency")
		}
	})
	t.Run("enough", func(t *testing.T) {
		f := newTempFit(DefaultConfig().WanderPPMPerSqrtS)
		base(4).feed(&f, 0, 12*3600)
		if !f.trusted() {
			t.Errorf("not trusted after 12 h over %.1f °C", f.span())
		}
	})
}

func TestTempReadingsRejected(t *testing.T) {
	s, err := New(Config{}, &modelClock{})
	if err != nil {
		t.Fatal(err)
	}
	at := start
	for _, c := range []float64{math.NaN(), math.Inf(1), -61, 151} {
		s.Temperature(at, c)
	}
	s.Temperature(at, 50)
	s.Temperature(at, 51)                   // not after the previous one
	s.Temperature(at.Add(-time.Second), 51) // before it
	s.Temperature(at.Add(time.Second), 50.5)
	f := s.TempFit()
	if f.Readings != 2 || f.Rejected != 6 || f.Celsius != 50.5 || !f.Have || f.Trusted {
		t.Errorf("TempFit %+v: want 2 readings, 6 rejected, last 50.5 °C, not trusted", f)
	}
}

// tempRun trains a servo for train seconds on a crystal whose frequency follows its temperature (0.1 ppm/°C,
// a 2 °C swing over 8 h, 0.05 °C fluctuations, a random walk), read by a sensor every 2 s when withSensor,
// then holds over for an hour while the temperature ramps by ramp °C. It returns the largest true error in the
// hour, the median bound/true ratio, the bound violations and the fit.
func tempRun(t *testing.T, seed uint64, withSensor bool, train int, ramp float64) (maxErr, ratio float64, viol int, fit TempFit) {
	return tempRunUntil(t, seed, withSensor, train, ramp, math.MaxInt)
}

// tempRunUntil is tempRun with a sensor that stops answering at second sensorUntil.
func tempRunUntil(t *testing.T, seed uint64, withSensor bool, train int, ramp float64, sensorUntil int) (maxErr, ratio float64, viol int, fit TempFit) {
	m := &modelClock{errPPM: 7, rng: rand.New(rand.NewPCG(seed, 3))}
	h := newHarness(t, Config{}, m, 1e-6, seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	sensorRng := rand.New(rand.NewPCG(seed, 5)) // the sensor's own noise: the crystal is the same without it
	var rw, ou, lag float64
	T := func(i int) float64 {
		base := 45 + 2*math.Sin(2*math.Pi*float64(i)/(8*3600))
		if i > train {
			base += ramp * float64(i-train) / 3600
		}
		return base + ou
	}
	lag = T(0)
	step := func(pulse bool) {
		i := h.sec
		ou = ou*math.Exp(-1.0/900) + 0.05*math.Sqrt(1-math.Exp(-2.0/900))*rng.NormFloat64()
		rw += 3e-4 * rng.NormFloat64()
		m.errPPM = 7 + rw + 0.1*(T(i)-45)
		lag += (T(i) - lag) * (1 - math.Exp(-1.0/20)) // the sensor is 20 s behind the crystal
		if withSensor && i%2 == 0 && i < sensorUntil {
			c := math.Round((lag+6+0.1*sensorRng.NormFloat64())*1000) / 1000
			h.s.Temperature(h.board(0.1), c)
		}
		h.second(pulse)
	}
	for h.sec < train {
		step(true)
	}
	if h.violations != 0 {
		t.Errorf("%d violations while locked", h.violations)
	}
	h.ratios = h.ratios[:0]
	for h.sec < train+3600 {
		step(false)
		maxErr = math.Max(maxErr, math.Abs(m.phase))
		if h.sec == train+1800 {
			fit = h.s.TempFit()
		}
	}
	return maxErr, median(h.ratios), h.violations, fit
}

// TestHoldoverTemperatureCompensated: the same crystal, the same noise, with and without the sensor, on seeds
// not used while developing the fit. With it the hour's error must be a fraction of the error without, and
// the bound must hold every second in both.
func TestHoldoverTemperatureCompensated(t *testing.T) {
	if testing.Short() {
		t.Skip("10 h of virtual time per run")
	}
	for _, seed := range []uint64{41, 42} {
		off, rOff, vOff, _ := tempRun(t, seed, false, 9*3600, 1)
		on, rOn, vOn, fit := tempRun(t, seed, true, 9*3600, 1)
		t.Logf("seed %d: max |error| %.1f µs -> %.1f µs; bound/true at the median %.2f -> %.2f; fit %.4f ± %.4f ppm/°C over %.1f °C",
			seed, off*1e6, on*1e6, rOff, rOn, fit.CoeffPPMPerC, fit.SigmaPPMPerC, fit.SpanC)
		if vOff != 0 || vOn != 0 {
			t.Errorf("seed %d: bound violations %d without the sensor, %d with", seed, vOff, vOn)
		}
		if !fit.Trusted || !fit.Compensating {
			t.Errorf("seed %d: fit not used: %+v", seed, fit)
		}
		if on > off/2 {
			t.Errorf("seed %d: compensated error %.1f µs is not under half the uncompensated %.1f µs", seed, on*1e6, off*1e6)
		}
	}
}

// Without enough temperature span in the record the holdover is exactly as without a sensor.
func TestHoldoverWithoutTrustIsUnchanged(t *testing.T) {
	a, ra, va, _ := tempRun(t, 44, false, 3*3600, 1)
	b, rb, vb, fit := tempRun(t, 44, true, 3*3600, 1)
	if fit.Trusted || fit.Compensating {
		t.Errorf("fit used after 3 h: %+v", fit)
	}
	if a != b || ra != rb || va != vb {
		t.Errorf("holdover changed by an untrusted fit: max %v/%v, ratio %v/%v, violations %d/%d", a, b, ra, rb, va, vb)
	}
}

// A sensor that stopped answering before the holdover does not steer it: the holdover is as without one.
func TestHoldoverSensorGone(t *testing.T) {
	if testing.Short() {
		t.Skip("9 h of virtual time per run")
	}
	a, ra, va, _ := tempRun(t, 45, false, 9*3600, 1)
	b, rb, vb, fit := tempRunUntil(t, 45, true, 9*3600, 1, 9*3600-120)
	if !fit.Trusted || fit.Compensating {
		t.Errorf("fit %+v: want trusted but not compensating", fit)
	}
	if a != b || ra != rb || va != vb {
		t.Errorf("holdover changed by a silent sensor: max %v/%v, ratio %v/%v, violations %d/%d", a, b, ra, rb, va, vb)
	}
}
