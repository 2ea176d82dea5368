package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// PulseTruth is the ground truth of one captured edge, which the real system never sees.
type PulseTruth struct {
	// Emitted is when the edge left the receiver (for a spurious edge: when the glitch occurred).
	Emitted timebase.Instant
	// QuantErr is the quantization (sawtooth) part of the pulse's error: the pulse left QuantErr later than
	// the receiver intended. Emitted − QuantErr is the pulse a perfect time-pulse generator would have made;
	// a receiver's quantization report (u-blox TIM-TP qErr) carries this value, up to that message's sign
	// convention.
	QuantErr time.Duration
	// CaptureLatency is the interrupt latency, outlier included: the edge's capture truth minus Emitted.
	CaptureLatency time.Duration
	Spurious       bool // a glitch on the line, not a pulse
	Outlier        bool // the capture suffered an outlier latency
	FreeRunning    bool // emitted without a fix (PPSConfig.NoFixPulses): not aligned to UTC
}

// pulse is one edge planned for capture.
type pulse struct {
	captured timebase.Instant
	second   timebase.Instant // zero for a spurious edge
	truth    PulseTruth
}

// ppsModel produces each second's edges.
type ppsModel struct {
	cfg       PPSConfig
	rng       *rand.Rand
	period    float64 // ns, the receiver's time-pulse clock period (2·SawtoothNs)
	grid      float64 // ns, where the ideal pulse falls within the tick period, [0, period)
	slip      float64 // ns/s
	coldPhase time.Duration
}

func newPPSModel(cfg PPSConfig, seed uint64) *ppsModel {
	m := &ppsModel{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(seed, streamPPS)),
		period: 2 * cfg.SawtoothNs,
		slip:   cfg.SawtoothSlipNsPerS,
	}
	setup := rand.New(rand.NewPCG(seed, streamPPSSetup))
	m.grid = setup.Float64() * m.period
	m.coldPhase = time.Duration(0.1e9 + setup.Float64()*0.7e9)
	return m
}

// quantization advances the receiver's tick grid by one second and returns this second's quantization
// error, in [−SawtoothNs, +SawtoothNs): the pulse goes out on the tick nearest to the ideal instant.
func (m *ppsModel) quantization() float64 {
	if m.period == 0 {
		return 0
	}
	q := m.grid
	if q >= m.period/2 {
		q -= m.period
	}
	m.grid = math.Mod(m.grid+m.slip, m.period)
	if m.grid < 0 {
		m.grid += m.period
	}
	if m.cfg.SawtoothSlipWander > 0 {
		m.slip += m.cfg.SawtoothSlipWander * m.rng.NormFloat64()
	}
	return q
}

// capture draws the interrupt latency of one edge.
func (m *ppsModel) capture() (lat time.Duration, outlier bool) {
	l := float64(m.cfg.CaptureLatencyMean) + clipNorm(m.rng.NormFloat64())*float64(m.cfg.CaptureLatencySigma)
	lat = time.Duration(math.Max(l, 0))
	if m.cfg.OutlierProb > 0 && m.rng.Float64() < m.cfg.OutlierProb {
		lat += time.Duration((0.5 + m.rng.Float64()) * float64(m.cfg.OutlierLatency))
		outlier = true
	}
	return lat, outlier
}

// pulseMode says whether and how the receiver pulses in a second.
type pulseMode int

const (
	pulseNone      pulseMode = iota
	pulseLocked              // aligned to UTC
	pulseColdStart           // free-running at an arbitrary phase: the receiver has never had time
	pulseFreeRun             // free-running since the fix was lost freeRunFor ago
)

// second plans the edges for UTC second sec. The random draws happen in a fixed order whatever the mode,
// so that one parameter does not reshuffle every other model's noise.
func (m *ppsModel) second(sec timebase.Instant, mode pulseMode, freeRunFor time.Duration, out []pulse) []pulse {
	q := m.quantization()
	jit := clipNorm(m.rng.NormFloat64()) * float64(m.cfg.Jitter)
	missing := m.rng.Float64() < m.cfg.MissingProb
	lat, outlier := m.capture()
	spurious := m.rng.Float64() < m.cfg.SpuriousProb
	spurAt := time.Duration((0.05 + 0.9*m.rng.Float64()) * 1e9)
	spurLat, spurOutlier := m.capture()

	if mode != pulseNone && !missing {
		qd := time.Duration(math.Round(q))
		off := m.cfg.Bias + time.Duration(math.Round(jit)) + qd
		switch mode {
		case pulseColdStart:
			off += m.coldPhase
		case pulseFreeRun:
			drift := time.Duration(m.cfg.NoFixDriftNsPerS * freeRunFor.Seconds())
			off += wrapPhase(drift)
		}
		emitted := sec.Add(off)
		p := pulse{
			captured: emitted.Add(lat),
			second:   sec,
			truth: PulseTruth{
				Emitted:        emitted,
				QuantErr:       qd,
				CaptureLatency: lat,
				Outlier:        outlier,
				FreeRunning:    mode != pulseLocked,
			},
		}
		out = append(out, p)
	}
	if spurious {
		at := sec.Add(spurAt)
		out = append(out, pulse{
			captured: at.Add(spurLat),
			truth:    PulseTruth{Emitted: at, CaptureLatency: spurLat, Spurious: true, Outlier: spurOutlier},
		})
	}
	return out
}

// wrapPhase folds a free-running pulse's drift into [−0.1 s, 0.9 s): once it has drifted past half a
// second it is simply nearer another second, and the world's event ordering relies on edges of second S
// lying after S − 0.2 s.
func wrapPhase(d time.Duration) time.Duration {
	const lo = -100 * time.Millisecond
	r := (d - lo) % time.Second
	if r < 0 {
		r += time.Second
	}
	return r + lo
}
