package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Config describes one simulated box: the board oscillator, the GNSS receiver and its PPS output.
// Zero values that have a documented default are filled in by NewWorld; everything else is validated
// and rejected with an error naming the field.
type Config struct {
	Seed     uint64           // the same seed and config give the same event stream, byte for byte
	Start    timebase.Instant // truth at which the world begins (in real-time mode: the host clock's now)
	Osc      OscillatorConfig
	Receiver ReceiverConfig
	PPS      PPSConfig
	// Leap puts a leap second into the world (zero: none); see LeapConfig.
	Leap LeapConfig
}

// OscillatorConfig describes the board's crystal and how its frequency moves.
//
// The fractional frequency error of the free-running oscillator at truth t is
//
//	y(t) = InitialPPM + w(t) + TempCoeffPPMPerC·ΔT(t) + TempCoeff2PPMPerC2·ΔT(t)²,   ΔT(t) = T(t) − T(Start)
//
// where w is a random walk (w(0) = 0) and T the crystal temperature from the Temperature profile. y is
// re-evaluated every UpdateInterval of truth and held constant in between, so the phase is piecewise linear.
type OscillatorConfig struct {
	InitialPPM         float64 // frequency error at Start, ppm; positive: the board clock runs fast
	WanderPPMPerSqrtS  float64 // random-walk frequency noise: σ of the frequency change over τ is this·√τ
	TempCoeffPPMPerC   float64 // linear temperature sensitivity, ppm per °C
	TempCoeff2PPMPerC2 float64 // quadratic temperature sensitivity, ppm per °C², around T(Start)
	Temperature        TemperatureProfile
	InitialOffset      time.Duration // board reading minus truth at Start
	UpdateInterval     time.Duration // how often wander and temperature are integrated; 0 means 1 s
}

// TemperatureProfile is the crystal's temperature over truth time, measured from the world's start:
//
//	T(e) = BaseC + SwingC·sin(2π e / SwingPeriod) + Σ steps + n(e)
//
// where each step approaches its DeltaC exponentially with time constant Tau (the board's thermal mass),
// and n is an Ornstein-Uhlenbeck fluctuation (σ NoiseC, correlation time NoiseTau) standing for drafts and
// changing CPU load.
type TemperatureProfile struct {
	BaseC       float64
	SwingC      float64       // amplitude of the slow periodic swing (day and night, heating cycles)
	SwingPeriod time.Duration // 0 means 24 h
	NoiseC      float64       // stationary σ of the random fluctuation, °C
	NoiseTau    time.Duration // correlation time of the fluctuation; 0 means 15 min
	Steps       []TempStep
}

// TempStep is a change of ambient conditions just after At from Start, e.g. the CPU getting busy: the
// crystal's temperature moves towards +DeltaC with time constant Tau (0: at once).
type TempStep struct {
	At     time.Duration
	DeltaC float64
	Tau    time.Duration
}

// ReceiverConfig describes the GNSS receiver's serial output.
type ReceiverConfig struct {
	Baud int // line speed; each byte takes 10 bit times (start, 8 data, stop)
	// Sentences to emit each second, a subset of RMC, GGA, GSA, GSV, ZDA; nil means all of them. They are
	// always emitted in the order RMC, GGA, GSA, GSV, ZDA, whatever the order here.
	Sentences []string
	// Talker is "GP" (a GPS-only receiver, NMEA 2.3 fields, as a u-blox 6 or an MTK3339) or "GN" (a
	// multi-GNSS receiver, NMEA 4.10 fields, as a u-blox 8: GN for RMC, GGA, GSA and ZDA, one GSA per
	// constellation with its system ID, GSV with each constellation's own talker). "" means "GN".
	Talker string
	// Constellations tracked: any of "GPS", "GLONASS", "Galileo". nil means GPS only for talker GP, and
	// GPS+GLONASS for GN (the u-blox 8 default). Talker GP allows GPS only.
	Constellations []string
	LatencyMean    time.Duration // from the UTC second to the epoch's first start bit
	LatencyJitter  time.Duration // σ of that latency (gaussian, clipped at 0 and at ±6σ)
	ChunkBytes     int           // bytes per delivered read, as a UART FIFO and read() hand them over; 0 means 32
	Latitude       float64       // degrees, north positive
	Longitude      float64       // degrees, east positive
	AltitudeM      float64       // above mean sea level
	GeoidSepM      float64       // geoid separation reported in GGA
	PositionNoiseM float64       // σ of the reported position's wander, metres (Ornstein-Uhlenbeck, τ 60 s)
	// Outages are truth intervals in which the receiver is silent or has no fix; see OutageKind.
	Outages []Interval
	// ColdStartNoFix is how long after Start the receiver reports no fix (RMC status V, GGA quality 0);
	// for the first ColdStartNoTime of it (≤ ColdStartNoFix) it does not even know the time and leaves
	// the time and date fields empty.
	ColdStartNoFix  time.Duration
	ColdStartNoTime time.Duration
}

// OutageKind says what the receiver does during an outage.
type OutageKind int

const (
	// OutageNoFix: the receiver keeps talking but has lost its fix (antenna unplugged, indoors, jamming):
	// RMC status V, GGA quality 0, GSA fix type 1, satellites listed without SNR; time still comes from the
	// receiver's own clock and is correct. PPS pulses stop unless PPSConfig.NoFixPulses.
	OutageNoFix OutageKind = iota
	// OutageSilent: no bytes and no pulses at all (receiver reset, power or cable fault).
	OutageSilent
)

func (k OutageKind) String() string {
	switch k {
	case OutageNoFix:
		return "no-fix"
	case OutageSilent:
		return "silent"
	}
	return fmt.Sprintf("OutageKind(%d)", int(k))
}

// Interval is a truth interval [From, To) with the kind of outage the receiver has during it. A UTC
// second S is affected when From ≤ S < To.
type Interval struct {
	From, To timebase.Instant
	Kind     OutageKind
}

// PPSConfig describes the receiver's pulse-per-second output and how the board captures it.
//
// A pulse marking UTC second S leaves the receiver at
//
//	emitted = S + Bias + jitter + quantization (+ free-running drift while it has no fix)
//
// and is timestamped by the board after an interrupt latency:
//
//	captured = emitted + latency,  latency ~ N(CaptureLatencyMean, CaptureLatencySigma) clipped at 0,
//	plus, with probability OutlierProb, an extra delay uniform in [0.5, 1.5]·OutlierLatency.
type PPSConfig struct {
	Bias   time.Duration // constant offset (cable, antenna and receiver delays left uncompensated)
	Jitter time.Duration // σ of the receiver's gaussian pulse noise (clipped at ±6σ)
	// SawtoothNs is the amplitude of the quantization error: the receiver can only start the pulse on a
	// tick of its internal clock of period 2·SawtoothNs, so the pulse lands up to ±SawtoothNs off. 0: none.
	SawtoothNs float64
	// SawtoothSlipNsPerS is how far the receiver's tick grid slides against UTC each second (its clock's
	// drift modulo the tick period); it sets the sawtooth's period. Near 0 or a multiple of the tick period
	// the error stays put for a long time (a "hanging bridge"). SawtoothSlipWander is the random walk of that
	// slip, ns/s per √s, as the receiver's TCXO drifts.
	SawtoothSlipNsPerS float64
	SawtoothSlipWander float64
	MissingProb        float64 // probability that a pulse is not captured
	SpuriousProb       float64 // probability per second of an extra edge at a random time (line noise)
	// CaptureLatencyMean and CaptureLatencySigma describe the GPIO interrupt latency that delays the
	// board's timestamp.
	CaptureLatencyMean  time.Duration
	CaptureLatencySigma time.Duration
	OutlierProb         float64       // probability that an interrupt is delayed much longer
	OutlierLatency      time.Duration // typical size of that delay
	// NoFixPulses keeps pulses coming while the receiver has no fix, as a u-blox configured to output an
	// unlocked time pulse: during the cold start they sit at an arbitrary phase of the second; after a fix
	// was lost they drift away from UTC by NoFixDriftNsPerS each second (the receiver's free-running clock).
	NoFixPulses      bool
	NoFixDriftNsPerS float64
}

// DefaultConfig is a Raspberry Pi with a u-blox 8 class HAT at 9600 baud, reporting GPS and GLONASS: a
// ±20 ppm class board crystal a little warm from the SoC, gently swinging with the day; a pulse good to
// tens of nanoseconds captured by a GPIO interrupt with microseconds of latency.
func DefaultConfig() Config {
	return Config{
		Seed:  1,
		Start: timebase.Date(2026, time.November, 22, 0, 0, 0, 0),
		Osc: OscillatorConfig{
			InitialPPM:        14.2,
			WanderPPMPerSqrtS: 3e-4,
			TempCoeffPPMPerC:  0.1,
			Temperature: TemperatureProfile{
				BaseC:       45,
				SwingC:      2,
				SwingPeriod: 24 * time.Hour,
				NoiseC:      0.3,
				NoiseTau:    15 * time.Minute,
			},
			InitialOffset:  1234567891 * time.Nanosecond,
			UpdateInterval: time.Second,
		},
		Receiver: ReceiverConfig{
			Baud:            9600,
			Talker:          "GN",
			Constellations:  []string{"GPS", "GLONASS"},
			LatencyMean:     60 * time.Millisecond,
			LatencyJitter:   5 * time.Millisecond,
			ChunkBytes:      32,
			Latitude:        46.5197,
			Longitude:       6.6323,
			AltitudeM:       495,
			GeoidSepM:       48.3,
			PositionNoiseM:  1.5,
			ColdStartNoFix:  5 * time.Second,
			ColdStartNoTime: 2 * time.Second,
		},
		PPS: PPSConfig{
			Bias:                40 * time.Nanosecond,
			Jitter:              20 * time.Nanosecond,
			SawtoothNs:          10.4, // a 48 MHz time-pulse clock
			SawtoothSlipNsPerS:  1.9,
			SawtoothSlipWander:  0.01,
			MissingProb:         0.001,
			SpuriousProb:        0.0002,
			CaptureLatencyMean:  5 * time.Microsecond,
			CaptureLatencySigma: time.Microsecond,
			OutlierProb:         0.002,
			OutlierLatency:      50 * time.Microsecond,
			NoFixDriftNsPerS:    30,
		},
	}
}

// Limits the validation enforces. They keep the model's assumptions true (an epoch's events lie in
// [S−0.2 s, S+1 s) plus serial backlog) and catch unit mistakes (ms typed for ns).
const (
	maxPPM            = 500 // the Linux kernel's frequency adjustment range, MAXFREQ
	maxPPSOffset      = 100 * time.Millisecond
	maxPPSJitter      = time.Millisecond
	maxCaptureLatency = 100 * time.Millisecond
	maxOutage         = 31 * 24 * time.Hour
)

var (
	minStart = timebase.Date(1980, time.January, 6, 0, 0, 0, 0) // the GPS epoch
	maxStart = timebase.Date(2200, time.January, 1, 0, 0, 0, 0)
)

var sentenceOrder = [...]string{"RMC", "GGA", "GSA", "GSV", "ZDA"}

// withDefaults returns a copy with documented zero-value defaults filled in; slices are copied so the
// World never shares memory with the caller.
func (c Config) withDefaults() Config {
	o := &c.Osc
	if o.UpdateInterval == 0 {
		o.UpdateInterval = time.Second
	}
	if o.Temperature.SwingPeriod == 0 {
		o.Temperature.SwingPeriod = 24 * time.Hour
	}
	if o.Temperature.NoiseTau == 0 {
		o.Temperature.NoiseTau = 15 * time.Minute
	}
	o.Temperature.Steps = append([]TempStep(nil), o.Temperature.Steps...)
	r := &c.Receiver
	if r.Talker == "" {
		r.Talker = "GN"
	}
	if r.ChunkBytes == 0 {
		r.ChunkBytes = 32
	}
	if r.Sentences == nil {
		r.Sentences = sentenceOrder[:]
	}
	r.Sentences = append([]string(nil), r.Sentences...)
	if r.Constellations == nil {
		if r.Talker == "GP" {
			r.Constellations = []string{"GPS"}
		} else {
			r.Constellations = []string{"GPS", "GLONASS"}
		}
	}
	r.Constellations = append([]string(nil), r.Constellations...)
	r.Outages = append([]Interval(nil), r.Outages...)
	return c
}

// Validate reports every problem in the configuration (after defaults), each naming its field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("sim: %s = %v: %s", field, v, why))
	}
	finite := func(field string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(field, v, "must be a finite number")
			return false
		}
		return true
	}
	if c.Start < minStart || c.Start >= maxStart {
		bad("Start", c.Start, "must lie between the GPS epoch (1980-01-06) and 2200")
	}

	o := c.Osc
	if finite("Osc.InitialPPM", o.InitialPPM) && math.Abs(o.InitialPPM) > maxPPM {
		bad("Osc.InitialPPM", o.InitialPPM, fmt.Sprintf("must be within ±%d ppm", maxPPM))
	}
	if finite("Osc.WanderPPMPerSqrtS", o.WanderPPMPerSqrtS) && (o.WanderPPMPerSqrtS < 0 || o.WanderPPMPerSqrtS > 1) {
		bad("Osc.WanderPPMPerSqrtS", o.WanderPPMPerSqrtS, "must be in [0, 1] ppm/√s")
	}
	if finite("Osc.TempCoeffPPMPerC", o.TempCoeffPPMPerC) && math.Abs(o.TempCoeffPPMPerC) > 10 {
		bad("Osc.TempCoeffPPMPerC", o.TempCoeffPPMPerC, "must be within ±10 ppm/°C")
	}
	if finite("Osc.TempCoeff2PPMPerC2", o.TempCoeff2PPMPerC2) && math.Abs(o.TempCoeff2PPMPerC2) > 1 {
		bad("Osc.TempCoeff2PPMPerC2", o.TempCoeff2PPMPerC2, "must be within ±1 ppm/°C²")
	}
	if o.UpdateInterval < time.Millisecond || o.UpdateInterval > time.Minute {
		bad("Osc.UpdateInterval", o.UpdateInterval, "must be between 1ms and 1m")
	}
	t := o.Temperature
	if finite("Osc.Temperature.BaseC", t.BaseC) && (t.BaseC < -60 || t.BaseC > 150) {
		bad("Osc.Temperature.BaseC", t.BaseC, "must be between -60 and 150 °C")
	}
	if finite("Osc.Temperature.SwingC", t.SwingC) && (t.SwingC < 0 || t.SwingC > 100) {
		bad("Osc.Temperature.SwingC", t.SwingC, "must be between 0 and 100 °C")
	}
	if t.SwingPeriod < time.Second {
		bad("Osc.Temperature.SwingPeriod", t.SwingPeriod, "must be at least 1s")
	}
	if finite("Osc.Temperature.NoiseC", t.NoiseC) && (t.NoiseC < 0 || t.NoiseC > 50) {
		bad("Osc.Temperature.NoiseC", t.NoiseC, "must be between 0 and 50 °C")
	}
	if t.NoiseTau < time.Second {
		bad("Osc.Temperature.NoiseTau", t.NoiseTau, "must be at least 1s")
	}
	for i, s := range t.Steps {
		f := fmt.Sprintf("Osc.Temperature.Steps[%d]", i)
		if s.At < 0 {
			bad(f+".At", s.At, "must not be negative")
		}
		if s.Tau < 0 {
			bad(f+".Tau", s.Tau, "must not be negative")
		}
		if finite(f+".DeltaC", s.DeltaC) && math.Abs(s.DeltaC) > 100 {
			bad(f+".DeltaC", s.DeltaC, "must be within ±100 °C")
		}
	}

	r := c.Receiver
	if r.Baud < 300 || r.Baud > 4000000 {
		bad("Receiver.Baud", r.Baud, "must be between 300 and 4000000")
	}
	seen := map[string]bool{}
	for i, s := range r.Sentences {
		f := fmt.Sprintf("Receiver.Sentences[%d]", i)
		if !isSentence(s) {
			bad(f, fmt.Sprintf("%q", s), "must be one of RMC, GGA, GSA, GSV, ZDA")
		} else if seen[s] {
			bad(f, fmt.Sprintf("%q", s), "is listed twice")
		}
		seen[s] = true
	}
	if r.Talker != "GP" && r.Talker != "GN" {
		bad("Receiver.Talker", fmt.Sprintf("%q", r.Talker), `must be "GP" or "GN"`)
	}
	if len(r.Constellations) == 0 {
		bad("Receiver.Constellations", r.Constellations, "must not be empty")
	}
	seenC := map[string]bool{}
	for i, name := range r.Constellations {
		f := fmt.Sprintf("Receiver.Constellations[%d]", i)
		if constellationByName(name) == nil {
			bad(f, fmt.Sprintf("%q", name), "must be one of GPS, GLONASS, Galileo")
		} else if seenC[name] {
			bad(f, fmt.Sprintf("%q", name), "is listed twice")
		} else if r.Talker == "GP" && name != "GPS" {
			bad(f, fmt.Sprintf("%q", name), `talker "GP" is a GPS-only receiver; use talker "GN"`)
		}
		seenC[name] = true
	}
	if r.LatencyMean < 0 || r.LatencyMean >= 900*time.Millisecond {
		bad("Receiver.LatencyMean", r.LatencyMean, "must be in [0, 900ms)")
	}
	if r.LatencyJitter < 0 || r.LatencyJitter > 100*time.Millisecond {
		bad("Receiver.LatencyJitter", r.LatencyJitter, "must be in [0, 100ms]")
	}
	if r.ChunkBytes < 1 || r.ChunkBytes > 4096 {
		bad("Receiver.ChunkBytes", r.ChunkBytes, "must be between 1 and 4096")
	}
	if finite("Receiver.Latitude", r.Latitude) && math.Abs(r.Latitude) > 90 {
		bad("Receiver.Latitude", r.Latitude, "must be within ±90°")
	}
	if finite("Receiver.Longitude", r.Longitude) && math.Abs(r.Longitude) > 180 {
		bad("Receiver.Longitude", r.Longitude, "must be within ±180°")
	}
	if finite("Receiver.AltitudeM", r.AltitudeM) && (r.AltitudeM < -1000 || r.AltitudeM > 100000) {
		bad("Receiver.AltitudeM", r.AltitudeM, "must be between -1000 and 100000 m")
	}
	if finite("Receiver.GeoidSepM", r.GeoidSepM) && math.Abs(r.GeoidSepM) > 200 {
		bad("Receiver.GeoidSepM", r.GeoidSepM, "must be within ±200 m")
	}
	if finite("Receiver.PositionNoiseM", r.PositionNoiseM) && (r.PositionNoiseM < 0 || r.PositionNoiseM > 10000) {
		bad("Receiver.PositionNoiseM", r.PositionNoiseM, "must be between 0 and 10000 m")
	}
	for i, iv := range r.Outages {
		f := fmt.Sprintf("Receiver.Outages[%d]", i)
		if iv.To <= iv.From {
			bad(f, fmt.Sprintf("[%v, %v)", iv.From, iv.To), "must end after it starts")
		} else if iv.To.Sub(iv.From) > maxOutage {
			// Next plans silent seconds one by one until something happens; a bound keeps that finite.
			bad(f, fmt.Sprintf("[%v, %v)", iv.From, iv.To), "must not last longer than 31 days")
		}
		if iv.Kind != OutageNoFix && iv.Kind != OutageSilent {
			bad(f+".Kind", iv.Kind, "must be OutageNoFix or OutageSilent")
		}
	}
	if r.ColdStartNoFix < 0 {
		bad("Receiver.ColdStartNoFix", r.ColdStartNoFix, "must not be negative")
	}
	if r.ColdStartNoTime < 0 || r.ColdStartNoTime > r.ColdStartNoFix {
		bad("Receiver.ColdStartNoTime", r.ColdStartNoTime, "must be in [0, ColdStartNoFix]")
	}

	c.Leap.validate(bad)

	p := c.PPS
	if p.Bias < -maxPPSOffset || p.Bias > maxPPSOffset {
		bad("PPS.Bias", p.Bias, "must be within ±100ms")
	}
	if p.Jitter < 0 || p.Jitter > maxPPSJitter {
		bad("PPS.Jitter", p.Jitter, "must be in [0, 1ms]")
	}
	if finite("PPS.SawtoothNs", p.SawtoothNs) && (p.SawtoothNs < 0 || p.SawtoothNs > 1e6) {
		bad("PPS.SawtoothNs", p.SawtoothNs, "must be in [0, 1e6] ns")
	}
	if finite("PPS.SawtoothSlipNsPerS", p.SawtoothSlipNsPerS) && math.Abs(p.SawtoothSlipNsPerS) > 1e6 {
		bad("PPS.SawtoothSlipNsPerS", p.SawtoothSlipNsPerS, "must be within ±1e6 ns/s")
	}
	if finite("PPS.SawtoothSlipWander", p.SawtoothSlipWander) && (p.SawtoothSlipWander < 0 || p.SawtoothSlipWander > 1e3) {
		bad("PPS.SawtoothSlipWander", p.SawtoothSlipWander, "must be in [0, 1000] ns/s/√s")
	}
	for _, pr := range []struct {
		name string
		v    float64
	}{{"PPS.MissingProb", p.MissingProb}, {"PPS.SpuriousProb", p.SpuriousProb}, {"PPS.OutlierProb", p.OutlierProb}} {
		if finite(pr.name, pr.v) && (pr.v < 0 || pr.v > 1) {
			bad(pr.name, pr.v, "must be a probability in [0, 1]")
		}
	}
	if p.CaptureLatencyMean < 0 || p.CaptureLatencyMean > maxCaptureLatency {
		bad("PPS.CaptureLatencyMean", p.CaptureLatencyMean, "must be in [0, 100ms]")
	}
	if p.CaptureLatencySigma < 0 || p.CaptureLatencySigma > maxCaptureLatency/10 {
		bad("PPS.CaptureLatencySigma", p.CaptureLatencySigma, "must be in [0, 10ms]")
	}
	if p.OutlierLatency < 0 || p.OutlierLatency > maxCaptureLatency/2 {
		bad("PPS.OutlierLatency", p.OutlierLatency, "must be in [0, 50ms]")
	}
	if finite("PPS.NoFixDriftNsPerS", p.NoFixDriftNsPerS) && math.Abs(p.NoFixDriftNsPerS) > 1e5 {
		bad("PPS.NoFixDriftNsPerS", p.NoFixDriftNsPerS, "must be within ±1e5 ns/s")
	}
	return errors.Join(errs...)
}

func isSentence(s string) bool {
	for _, k := range sentenceOrder {
		if s == k {
			return true
		}
	}
	return false
}
