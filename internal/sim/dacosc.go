package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DACOscConfig describes an external oscillator (an OCXO or TCXO) tuned by a DAC, whose output is divided
// down to one pulse per second and captured by a second GPIO line of the board, as the GPS pulse is.
//
// The oscillator's fractional frequency error at truth t, with the DAC at code c, is
//
//	y(t) = osc(t) + tune(c),   tune(c) = GainPPBPerLSB·d·(1 + Curvature·d/H),   d = c − H,  H = 2^(Bits−1)
//
// where osc is the free-running part (Osc: InitialPPM at mid-scale, random-walk wander, temperature
// coefficient, as for the board's crystal but two to three orders smaller for an OCXO) and tune the tuning
// curve: a varactor's frequency-voltage curve is not a straight line, so the slope at the ends of the range
// differs from the slope at mid-scale by the fraction Curvature (|Curvature| < 0.5 keeps it monotonic).
// A code takes effect when it is written (a DAC settles in microseconds; the oscillator's tuning input
// filter is ignored).
//
// The divider's pulses come whenever the oscillator's own count of seconds crosses a whole second: its
// "reading" is a clock like BoardClock (which it reuses), starting at InitialOffset of Osc (the arbitrary
// phase a divider powers up with). SyncTo models a divider reload from the GPS pulse: the reading is set to
// the GPS second at the pulse's emission, to within one oscillator cycle (SyncResidual, uniform).
type DACOscConfig struct {
	Osc           OscillatorConfig
	Bits          int     // DAC resolution: 12 or 16 (any of 8..24)
	GainPPBPerLSB float64 // tuning slope at mid-scale
	Curvature     float64 // fractional change of the slope at the ends of the range
	// Capture of the oscillator's pulse by the board: the same model as PPSConfig's.
	CaptureLatencyMean  time.Duration
	CaptureLatencySigma time.Duration
	OutlierProb         float64
	OutlierLatency      time.Duration
	SyncResidual        time.Duration // one oscillator cycle: 100 ns at 10 MHz
}

// DefaultDACOscConfig is a 10 MHz OCXO (about 5e-9 over 0..70 °C in its oven: 0.1 ppb/°C seen by the
// crystal; random-walk FM 3e-12/√s) with ±0.4 ppm of tuning on a 16-bit DAC (0.0122 ppb/LSB at mid-scale,
// 20 % curvature), its pulse captured like the default GPS pulse.
func DefaultDACOscConfig() DACOscConfig {
	return DACOscConfig{
		Osc: OscillatorConfig{
			InitialPPM:        0.087,
			WanderPPMPerSqrtS: 3e-6,
			TempCoeffPPMPerC:  1e-4,
			Temperature: TemperatureProfile{
				BaseC: 35, SwingC: 2, SwingPeriod: 24 * time.Hour, NoiseC: 0.3, NoiseTau: 15 * time.Minute,
			},
			InitialOffset:  371234567 * time.Nanosecond,
			UpdateInterval: time.Second,
		},
		Bits:                16,
		GainPPBPerLSB:       800.0 / 65536,
		Curvature:           0.2,
		CaptureLatencyMean:  5 * time.Microsecond,
		CaptureLatencySigma: time.Microsecond,
		OutlierProb:         0.002,
		OutlierLatency:      50 * time.Microsecond,
		SyncResidual:        100 * time.Nanosecond,
	}
}

// Validate reports every problem in the configuration, each naming its field.
func (c DACOscConfig) Validate() error {
	var errs []error
	full := DefaultConfig()
	full.Osc = c.Osc
	if err := full.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Bits < 8 || c.Bits > 24 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.Bits = %d: must be between 8 and 24", c.Bits))
	}
	if math.IsNaN(c.GainPPBPerLSB) || c.GainPPBPerLSB == 0 || math.Abs(c.GainPPBPerLSB) > 1e4 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.GainPPBPerLSB = %v: must be non-zero and within ±1e4", c.GainPPBPerLSB))
	} else if c.Bits >= 8 && c.Bits <= 24 && math.Abs(c.GainPPBPerLSB)*math.Exp2(float64(c.Bits-1))*1.5 > maxPPM*1e3 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.GainPPBPerLSB = %v: the tuning range exceeds ±%d ppm", c.GainPPBPerLSB, maxPPM))
	}
	if math.IsNaN(c.Curvature) || math.Abs(c.Curvature) >= 0.5 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.Curvature = %v: must be within ±0.5 (a monotonic tuning curve)", c.Curvature))
	}
	if c.CaptureLatencyMean < 0 || c.CaptureLatencyMean > maxCaptureLatency {
		errs = append(errs, fmt.Errorf("sim: DACOsc.CaptureLatencyMean = %v: must be in [0, 100ms]", c.CaptureLatencyMean))
	}
	if c.CaptureLatencySigma < 0 || c.CaptureLatencySigma > maxCaptureLatency/10 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.CaptureLatencySigma = %v: must be in [0, 10ms]", c.CaptureLatencySigma))
	}
	if math.IsNaN(c.OutlierProb) || c.OutlierProb < 0 || c.OutlierProb > 1 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.OutlierProb = %v: must be a probability", c.OutlierProb))
	}
	if c.OutlierLatency < 0 || c.OutlierLatency > maxCaptureLatency/2 {
		errs = append(errs, fmt.Errorf("sim: DACOsc.OutlierLatency = %v: must be in [0, 50ms]", c.OutlierLatency))
	}
	if c.SyncResidual < 0 || c.SyncResidual > time.Millisecond {
		errs = append(errs, fmt.Errorf("sim: DACOsc.SyncResidual = %v: must be in [0, 1ms]", c.SyncResidual))
	}
	return errors.Join(errs...)
}

// streamDACOsc is the oscillator's own random stream (its wander and temperature use streamOscillator of
// a seed derived from the world's, so that adding it reshuffles nothing else).
const streamDACOsc = 0x646163

// DACOscillator is the simulated DAC-steered oscillator. Not safe for concurrent use.
type DACOscillator struct {
	cfg   DACOscConfig
	clock *BoardClock // the oscillator's own count of time: its pulses are its whole seconds
	rng   *rand.Rand
	code  uint32
	max   uint32
}

// NewDACOscillator makes the oscillator at truth start with the DAC at mid-scale.
func NewDACOscillator(cfg DACOscConfig, start timebase.Instant, seed uint64) (*DACOscillator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim: NewDACOscillator: %w", err)
	}
	full := DefaultConfig()
	full.Osc = cfg.Osc
	o := &DACOscillator{
		cfg:   cfg,
		clock: newBoardClock(full.withDefaults().Osc, start, seed^0x6f63786f),
		rng:   rand.New(rand.NewPCG(seed, streamDACOsc)),
		max:   uint32(1)<<cfg.Bits - 1,
	}
	if err := o.SetCodeAt(start, uint32(1)<<(cfg.Bits-1)); err != nil {
		return nil, err
	}
	return o, nil
}

// TuningPPB is the frequency offset the DAC adds at code.
func (o *DACOscillator) TuningPPB(code uint32) float64 {
	h := math.Exp2(float64(o.cfg.Bits - 1))
	d := float64(code) - h
	return o.cfg.GainPPBPerLSB * d * (1 + o.cfg.Curvature*d/h)
}

// Code returns the DAC code in force.
func (o *DACOscillator) Code() uint32 { return o.code }

// SetCodeAt writes code to the DAC at truth t (no earlier than the oscillator's current segment).
func (o *DACOscillator) SetCodeAt(t timebase.Instant, code uint32) error {
	if code > o.max {
		return fmt.Errorf("sim: DACOscillator.SetCodeAt(%v, %d): code beyond %d bits", t, code, o.cfg.Bits)
	}
	o.code = code
	return o.clock.SetFrequencyAt(t, o.TuningPPB(code)*1e-3)
}

// SyncTo reloads the divider from a pulse emitted at truth t marking second sec: the oscillator's reading at t
// becomes sec, to within one cycle (SyncResidual, uniform), so its next pulse comes with the GPS pulse.
func (o *DACOscillator) SyncTo(t, sec timebase.Instant) {
	o.clock.Advance(t)
	res := time.Duration((o.rng.Float64() - 0.5) * float64(o.cfg.SyncResidual))
	o.clock.StepAt(t, sec.Add(res).Sub(o.clock.At(t)))
}

// Advance integrates the oscillator's wander and temperature up to truth t.
func (o *DACOscillator) Advance(t timebase.Instant) { o.clock.Advance(t) }

// ErrorAt is the oscillator's phase error at truth t: its reading minus t, folded into [−0.5 s, 0.5 s)
// (its pulses are periodic: a reading a whole second off makes the same pulses).
func (o *DACOscillator) ErrorAt(t timebase.Instant) time.Duration {
	return foldSecond(o.clock.ErrorAt(t))
}

// FrequencyPPB is the oscillator's total frequency error at truth t (free-running plus tuning).
func (o *DACOscillator) FrequencyPPB(t timebase.Instant) float64 {
	return o.clock.FrequencyErrorPPM(t) * 1e3
}

// FreeRunningPPB is the oscillator's frequency error at truth t without the tuning.
func (o *DACOscillator) FreeRunningPPB(t timebase.Instant) float64 {
	return o.clock.OscillatorPPM(t) * 1e3
}

// NextPulse returns the truth instant of the first divider pulse after truth t, as the oscillator stands now
// (a later code change moves it: ask again after one).
func (o *DACOscillator) NextPulse(after timebase.Instant) timebase.Instant {
	o.clock.Advance(after)
	next := o.clock.At(after).Truncate(time.Second).Add(time.Second)
	emitted := o.clock.TruthAt(next)
	for emitted <= after {
		next = next.Add(time.Second)
		emitted = o.clock.TruthAt(next)
	}
	return emitted
}

// CaptureLatency draws the board's capture latency for one of the oscillator's pulses.
func (o *DACOscillator) CaptureLatency() (latency time.Duration, outlier bool) {
	l := float64(o.cfg.CaptureLatencyMean) + clipNorm(o.rng.NormFloat64())*float64(o.cfg.CaptureLatencySigma)
	latency = time.Duration(math.Max(l, 0))
	if o.cfg.OutlierProb > 0 && o.rng.Float64() < o.cfg.OutlierProb {
		latency += time.Duration((0.5 + o.rng.Float64()) * float64(o.cfg.OutlierLatency))
		outlier = true
	}
	return latency, outlier
}

func foldSecond(d time.Duration) time.Duration {
	r := (d + time.Second/2) % time.Second
	if r < 0 {
		r += time.Second
	}
	return r - time.Second/2
}
