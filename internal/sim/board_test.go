package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var t0 = timebase.Date(2026, time.November, 22, 0, 0, 0, 0)

// quietOsc is an oscillator with a constant frequency error: no wander, constant temperature.
func quietOsc(ppm float64, offset time.Duration) OscillatorConfig {
	return OscillatorConfig{InitialPPM: ppm, InitialOffset: offset, Temperature: TemperatureProfile{BaseC: 25}}
}

func mustBoard(t testing.TB, cfg OscillatorConfig) *BoardClock {
	t.Helper()
	c, err := NewBoardClock(cfg, t0, 7)
	if err != nil {
		t.Fatalf("NewBoardClock: %v", err)
	}
	return c
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestBoardPhaseAtConstantFrequency(t *testing.T) {
	for _, tc := range []struct {
		ppm    float64
		offset time.Duration
		after  time.Duration
	}{
		{0, 0, time.Hour},
		{12.345, 0, time.Second},
		{12.345, 0, 24 * time.Hour},                    // 1.066608 s
		{-49.99, 3 * time.Second, 10 * 24 * time.Hour}, // 10 days: −43.19136 s
		{50, -time.Millisecond, 100 * 24 * time.Hour},
		{0.001, 0, 1000 * time.Second}, // 1 µs
	} {
		for _, advance := range []bool{false, true} {
			c := mustBoard(t, quietOsc(tc.ppm, tc.offset))
			end := t0.Add(tc.after)
			if advance { // integrating every second must not change the result
				for x := t0; x <= end; x += timebase.Instant(time.Minute) {
					c.Advance(x)
				}
				c.Advance(end)
			}
			want := tc.offset + time.Duration(math.Round(tc.ppm*1e-6*float64(tc.after)))
			if got := c.ErrorAt(end); absDur(got-want) > 1 {
				t.Errorf("ppm %v offset %v after %v (advance %v): phase %v, want %v", tc.ppm, tc.offset, tc.after, advance, got, want)
			}
			if got := c.FrequencyErrorPPM(end); math.Abs(got-tc.ppm) > 1e-9 {
				t.Errorf("ppm %v: FrequencyErrorPPM = %v", tc.ppm, got)
			}
		}
	}
}

// With a temperature swing the frequency changes every second, so the phase is a sum of 86400 segments;
// carrying the sub-ns remainder keeps it exact to the nanosecond.
func TestBoardPhaseIntegratesVaryingFrequency(t *testing.T) {
	cfg := quietOsc(7.3, 0)
	cfg.TempCoeffPPMPerC = 0.13
	cfg.TempCoeff2PPMPerC2 = -0.004
	cfg.Temperature = TemperatureProfile{BaseC: 40, SwingC: 3.7, SwingPeriod: 5 * time.Hour}
	c := mustBoard(t, cfg)
	c0 := mustBoard(t, cfg) // same clock, read without intermediate calls
	var phase float64       // ns, Kahan-summed
	var comp float64
	for k := 0; k < 86400; k++ {
		e := float64(k)
		dT := cfg.Temperature.SwingC * math.Sin(2*math.Pi*e/cfg.Temperature.SwingPeriod.Seconds())
		y := (cfg.InitialPPM + cfg.TempCoeffPPMPerC*dT + cfg.TempCoeff2PPMPerC2*dT*dT) * 1e-6
		inc := y*1e9 - comp
		s := phase + inc
		comp = (s - phase) - inc
		phase = s
		c.Advance(t0.Add(time.Duration(k) * time.Second))
	}
	end := t0.Add(24 * time.Hour)
	c.Advance(end)
	c0.Advance(end)
	want := time.Duration(math.Round(phase))
	if got := c.ErrorAt(end); absDur(got-want) > 1 {
		t.Errorf("phase after a day: %v, want %v (diff %v)", got, want, got-want)
	}
	if got := c0.ErrorAt(end); absDur(got-want) > 1 {
		t.Errorf("phase after a day, advanced at once: %v, want %v", got, want)
	}
}

func TestBoardStepAndSteering(t *testing.T) {
	const ppm = 21.5
	c := mustBoard(t, quietOsc(ppm, 0))
	t1 := t0.Add(100 * time.Second)
	before := c.At(t1)
	c.StepAt(t1, -350*time.Millisecond)
	if got := c.At(t1) - before; got != timebase.Instant(-350*time.Millisecond) {
		t.Errorf("step at t1 moved the reading by %v, want -350ms", time.Duration(got))
	}
	// The reading just before the step is unchanged: it is evaluated on the previous line.
	if got, want := c.ErrorAt(t1-1), time.Duration(math.Round(ppm*1e-6*float64(100*time.Second-1))); absDur(got-want) > 1 {
		t.Errorf("reading just before the step: error %v, want %v", got, want)
	}

	// Steering by −y/(1+y) cancels the oscillator exactly: the phase then holds for a day.
	t2 := t0.Add(200 * time.Second)
	steer := -ppm / (1 + ppm*1e-6)
	if err := c.SetFrequencyAt(t2, steer); err != nil {
		t.Fatal(err)
	}
	p2 := c.ErrorAt(t2)
	if got := c.ErrorAt(t2.Add(24 * time.Hour)); absDur(got-p2) > 1 {
		t.Errorf("phase drifted from %v to %v in a day with the oscillator cancelled", p2, got)
	}
	if got := c.FrequencyErrorPPM(t2.Add(time.Hour)); math.Abs(got) > 1e-9 {
		t.Errorf("FrequencyErrorPPM with the oscillator cancelled = %v", got)
	}
	if got := c.SteeringPPM(); got != steer {
		t.Errorf("SteeringPPM = %v, want %v", got, steer)
	}

	// Steering by +10 ppm: the frequencies multiply.
	t3 := t0.Add(300 * time.Second)
	if err := c.SetFrequencyAt(t3, 10); err != nil {
		t.Fatal(err)
	}
	total := ((1+ppm*1e-6)*(1+10e-6) - 1) * 1e6
	if got := c.FrequencyErrorPPM(t3); math.Abs(got-total) > 1e-9 {
		t.Errorf("FrequencyErrorPPM = %.12f, want %.12f", got, total)
	}
	p3 := c.ErrorAt(t3)
	dt := 7 * 24 * time.Hour
	if got, want := c.ErrorAt(t3.Add(dt))-p3, time.Duration(math.Round(total*1e-6*float64(dt))); absDur(got-want) > 1 {
		t.Errorf("phase change over a week at %v ppm: %v, want %v", total, got, want)
	}
	if got := c.OscillatorPPM(t3); got != ppm {
		t.Errorf("OscillatorPPM = %v, want %v", got, ppm)
	}

	// A command for an instant before the current segment takes effect at the segment's start instead.
	c.StepAt(t1, time.Second)
	if got, want := c.ErrorAt(t3), p3+time.Second; got != want {
		t.Errorf("a step dated in the past: error at t3 %v, want %v", got, want)
	}
}

func TestBoardSetFrequencyRejectsBadValues(t *testing.T) {
	c := mustBoard(t, quietOsc(0, 0))
	for _, ppm := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 500.1, -501} {
		err := c.SetFrequencyAt(t0, ppm)
		if err == nil || !strings.Contains(err.Error(), "SetFrequencyAt") {
			t.Errorf("SetFrequencyAt(%v) = %v, want an error naming the call", ppm, err)
		}
	}
	if got := c.SteeringPPM(); got != 0 {
		t.Errorf("a rejected frequency was applied: %v", got)
	}
	if err := c.SetFrequencyAt(t0, -500); err != nil {
		t.Errorf("SetFrequencyAt(-500) = %v, want nil (the kernel's limit)", err)
	}
}

func TestBoardTemperature(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  TempStep
		a, b  float64
		at    time.Duration
		want  float64 // ppm change from the initial frequency
		wantT float64 // °C
	}{
		{"instant step", TempStep{At: 100 * time.Second, DeltaC: 10}, 0.1, 0, 150 * time.Second, 1.0, 35},
		{"before the step", TempStep{At: 100 * time.Second, DeltaC: 10}, 0.1, 0, 99 * time.Second, 0, 25},
		{"one time constant", TempStep{At: 100 * time.Second, DeltaC: 10, Tau: 60 * time.Second}, 0.1, 0, 160 * time.Second,
			1 - math.Exp(-1), 25 + 10*(1-math.Exp(-1))},
		{"negative coefficient", TempStep{At: 0, DeltaC: -5}, -0.2, 0, time.Minute, 1.0, 20},
		{"quadratic", TempStep{At: 0, DeltaC: 10}, 0.1, -0.003, time.Minute, 1.0 - 0.3, 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quietOsc(-3, 0)
			cfg.TempCoeffPPMPerC, cfg.TempCoeff2PPMPerC2 = tc.a, tc.b
			cfg.Temperature.Steps = []TempStep{tc.step}
			c := mustBoard(t, cfg)
			at := t0.Add(tc.at)
			c.Advance(at)
			if got := c.OscillatorPPM(at) - (-3); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("frequency change = %v ppm, want %v", got, tc.want)
			}
			if got := c.TemperatureC(); math.Abs(got-tc.wantT) > 1e-9 {
				t.Errorf("TemperatureC = %v, want %v", got, tc.wantT)
			}
		})
	}
}

// The random walk's spread after τ is WanderPPMPerSqrtS·√τ, over many independent clocks.
func TestBoardWanderStatistics(t *testing.T) {
	const (
		w      = 0.002
		tau    = 900
		clocks = 300
	)
	cfg := quietOsc(5, 0)
	cfg.WanderPPMPerSqrtS = w
	var sum, sum2 float64
	for i := 0; i < clocks; i++ {
		c, err := NewBoardClock(cfg, t0, uint64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		end := t0.Add(tau * time.Second)
		c.Advance(end)
		d := c.OscillatorPPM(end) - 5
		sum += d
		sum2 += d * d
	}
	sd := math.Sqrt(sum2 / clocks)
	want := w * math.Sqrt(tau)
	// The sample σ of 300 normal draws is within ±15% with probability > 0.99.
	if sd < 0.85*want || sd > 1.15*want {
		t.Errorf("wander σ after %d s = %v ppm, want %v ± 15%%", tau, sd, want)
	}
	if m := sum / clocks; math.Abs(m) > 4*want/math.Sqrt(clocks) {
		t.Errorf("wander mean = %v ppm, want 0 ± %v", m, 4*want/math.Sqrt(clocks))
	}
}

// Property: TruthAt inverts At to the nanosecond, on random lines with steps and steering, including
// instants in the previous segment.
func TestBoardTruthAtRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		c := mustBoard(t, quietOsc((rng.Float64()*2-1)*500, time.Duration(rng.Int64N(int64(1000*time.Hour)))-500*time.Hour))
		at := t0
		for cut := 0; cut < 5; cut++ {
			at = at.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
			if rng.IntN(2) == 0 {
				c.StepAt(at, time.Duration(rng.Int64N(int64(time.Hour)))) // forward steps keep the clock invertible
			} else if err := c.SetFrequencyAt(at, (rng.Float64()*2-1)*500); err != nil {
				t.Fatal(err)
			}
		}
		seg := c.seg.Load()
		for i := 0; i < 200; i++ {
			// Within the current or previous segment.
			x := seg.prev.truth0 + timebase.Instant(rng.Int64N(int64(100*time.Hour)))
			b := c.At(x)
			if back := c.TruthAt(b); absDur(back.Sub(x)) > 1 {
				t.Fatalf("trial %d: TruthAt(At(%v)) = %v", trial, x, back)
			}
			bb := seg.prev.board0 + timebase.Instant(rng.Int64N(int64(100*time.Hour)))
			// A forward step leaves a gap of readings the clock never shows; they have no inverse.
			if gapLo, _ := seg.prev.eval(seg.truth0); bb >= gapLo && bb < seg.board0 {
				continue
			}
			if fwd := c.At(c.TruthAt(bb)); absDur(fwd.Sub(bb)) > 1 {
				t.Fatalf("trial %d: At(TruthAt(%v)) = %v", trial, bb, fwd)
			}
		}
	}
}

func TestBoardAdaptersAndStatus(t *testing.T) {
	c := mustBoard(t, quietOsc(0, 0))
	var now atomic.Int64
	now.Store(int64(t0.Add(10 * time.Second)))
	s := c.Steerable(func() timebase.Instant { return timebase.Instant(now.Load()) })
	if err := s.Step(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(10 * time.Second))
	if err := s.SetFrequency(100); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFrequency(1000); err == nil {
		t.Error("SetFrequency(1000) = nil, want an error")
	}
	// Error: +2 s from t0+10s, then +100 ppm from t0+20s.
	at := t0.Add(30 * time.Second)
	if got, want := c.ErrorAt(at), 2*time.Second+time.Millisecond; got != want {
		t.Errorf("error after step and steering = %v, want %v", got, want)
	}
	if err := s.SetStatus(true, time.Microsecond, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if synced, est, mx := c.Status(); !synced || est != time.Microsecond || mx != time.Millisecond {
		t.Errorf("Status = %v %v %v", synced, est, mx)
	}
	if err := s.SetStatus(false, -1, 0); err == nil {
		t.Error("SetStatus with a negative bound = nil, want an error")
	}

	host := fixedClock(at)
	sc := c.ServedClock(host)
	if got := sc.Now(); got != c.At(at) {
		t.Errorf("ServedClock.Now = %v, want %v", got, c.At(at))
	}
	k := at.Add(-time.Millisecond)
	if got := sc.FromKernel(k); got != c.At(k) {
		t.Errorf("ServedClock.FromKernel = %v, want %v", got, c.At(k))
	}
}

type fixedClock timebase.Instant

func (f fixedClock) Now() timebase.Instant { return timebase.Instant(f) }

// Readers on many goroutines while a writer integrates and steers: no data race, and each reader's
// readings at increasing truth never go backwards (the clock is only steered forward and by frequency).
func TestBoardConcurrentReaders(t *testing.T) {
	cfg := quietOsc(30, 0)
	cfg.WanderPPMPerSqrtS = 0.01
	cfg.Temperature.NoiseC = 1
	c := mustBoard(t, cfg)
	var truth atomic.Int64
	truth.Store(int64(t0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	served := c.ServedClock(clockFunc(func() timebase.Instant { return timebase.Instant(truth.Load()) }))
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last timebase.Instant
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := served.Now()
				if b < last-1 {
					t.Errorf("reading went backwards: %v after %v", b, last)
					return
				}
				last = b
				_ = c.TruthAt(b)
				_ = c.FrequencyErrorPPM(timebase.Instant(truth.Load()))
			}
		}()
	}
	for i := 0; i < 3000; i++ {
		at := timebase.Instant(truth.Add(int64(100 * time.Millisecond)))
		c.Advance(at)
		if i%10 == 0 {
			if err := c.SetFrequencyAt(at, float64(i%7)-3); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			c.StepAt(at, time.Microsecond)
		}
	}
	close(stop)
	wg.Wait()
}

type clockFunc func() timebase.Instant

func (f clockFunc) Now() timebase.Instant { return f() }

func TestNewBoardClockRejectsBadConfig(t *testing.T) {
	cfg := quietOsc(600, 0)
	if _, err := NewBoardClock(cfg, t0, 1); err == nil || !strings.Contains(err.Error(), "Osc.InitialPPM") {
		t.Errorf("NewBoardClock with 600 ppm: %v, want an error naming Osc.InitialPPM", err)
	}
}

func BenchmarkBoardAt(b *testing.B) {
	c := mustBoard(b, DefaultConfig().Osc)
	c.Advance(t0.Add(time.Hour))
	at := t0.Add(time.Hour)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = c.At(at + timebase.Instant(i))
	}
}

// The past stays readable after many later cuts: readings taken at the time and re-read later agree, and
// TruthAt inverts them, as far back as the history reaches.
func TestBoardReadsThePastExactly(t *testing.T) {
	cfg := quietOsc(-17, 50*time.Millisecond)
	cfg.WanderPPMPerSqrtS = 0.01
	cfg.Temperature.NoiseC = 0.5
	c := mustBoard(t, cfg)
	type reading struct {
		truth, board timebase.Instant
		ppm          float64
	}
	var rs []reading
	at := t0
	for i := 0; i < 3000; i++ { // 3000 cuts of the servo plus 750 of the oscillator
		at = at.Add(250 * time.Millisecond)
		c.Advance(at)
		if i%3 == 0 {
			c.StepAt(at, time.Duration(i%7-3)*time.Microsecond) // forward and backward
		} else if err := c.SetFrequencyAt(at, float64(i%11)-5); err != nil {
			t.Fatal(err)
		}
		probe := at.Add(100 * time.Millisecond)
		rs = append(rs, reading{probe, c.At(probe), c.FrequencyErrorPPM(probe)})
	}
	c.Advance(at.Add(time.Second)) // the last probe now lies behind the newest cut
	for _, r := range rs {
		if got := c.At(r.truth); got != r.board {
			t.Fatalf("At(%v) = %v now, %v at the time", r.truth, got, r.board)
		}
		if got := c.FrequencyErrorPPM(r.truth); got != r.ppm {
			t.Fatalf("FrequencyErrorPPM(%v) = %v now, %v at the time", r.truth, got, r.ppm)
		}
		if got := c.TruthAt(r.board); absDur(got.Sub(r.truth)) > 1 {
			t.Fatalf("TruthAt(%v) = %v, want %v", r.board, got, r.truth)
		}
	}
}
