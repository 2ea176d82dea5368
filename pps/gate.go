package pps

import (
	"math"
	"slices"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// gateWindow is how many accepted offsets the gate remembers: enough for a median that shrugs off a few bad
// rates, few enough to follow a servo that changes the clock's frequency every second.
const gateWindow = 16

// GateConfig parameterises the outlier gate. Zero values take the defaults in parentheses.
type GateConfig struct {
	K          float64       // residuals beyond K·σ are outliers (6)
	Floor      time.Duration // the gate is never narrower than this (2 µs: below GPIO interrupt jitter)
	Fraction   float64       // nor narrower than this fraction of the predicted offset (0.25), see Gate
	MinSamples int           // accept everything until this many offsets are known (8: a MAD of fewer rates is luck)
	ResetAfter int           // this many outliers in a row re-learn from the latest (4)
	MaxGap     time.Duration // a gap longer than this between offsets re-learns (30 s)
}

func (c *GateConfig) fill() {
	if c.K == 0 {
		c.K = 6
	}
	if c.Floor == 0 {
		c.Floor = 2 * time.Microsecond
	}
	if c.Fraction == 0 {
		c.Fraction = 0.25
	}
	if c.MinSamples == 0 {
		c.MinSamples = 8
	}
	if c.ResetAfter == 0 {
		c.ResetAfter = 4
	}
	if c.MaxGap == 0 {
		c.MaxGap = 30 * time.Second
	}
}

// Gate is a robust outlier filter on a sequence of offset samples.
//
// It predicts each offset from the previous accepted one and the median of the recent rates of change
// (Δoffset/Δt between consecutive accepted samples), and takes σ = 1.4826·MAD of those rates (times the gap in
// seconds) as the noise scale: a median-absolute-deviation estimate, which a minority of wild samples cannot
// inflate as they would a standard deviation. The residual must lie within max(K·σ, Floor, Fraction·|prediction|).
// The last term exists because the servo moves the clock's frequency between samples: while the offset is
// large the servo's corrections are large, and a residual that is a small part of the offset is the servo at
// work, not capture noise. Once locked the offset is near zero and the K·σ term rules.
type Gate struct {
	cfg   GateConfig
	at    [gateWindow]timebase.Instant
	off   [gateWindow]time.Duration
	n     int // samples stored
	head  int // index of the newest
	inRow int // outliers in a row
	sigma float64
}

// NewGate returns a gate; zero fields of cfg take their defaults.
func NewGate(cfg GateConfig) *Gate {
	cfg.fill()
	return &Gate{cfg: cfg}
}

// GateVerdict is the gate's decision on one sample.
type GateVerdict uint8

const (
	GateLearning GateVerdict = iota // too few samples to judge, or after a gap: accepted
	GateAccept                      // within the gate
	GateOutlier                     // rejected
	GateRelearn                     // ResetAfter outliers in a row: the history was dropped, this one accepted
)

// Reset forgets the history, e.g. after the clock was stepped.
func (g *Gate) Reset() { g.n, g.inRow, g.sigma = 0, 0, 0 }

// Sigma returns the last noise scale (seconds per sample interval) the gate used, 0 while learning.
func (g *Gate) Sigma() time.Duration { return time.Duration(g.sigma * 1e9) }

// Check judges the offset measured at board time at and, unless it is an outlier, remembers it.
func (g *Gate) Check(at timebase.Instant, off time.Duration) GateVerdict {
	if g.n > 0 {
		dt := at - g.at[g.head]
		if dt <= 0 || time.Duration(dt) > g.cfg.MaxGap {
			g.Reset()
		}
	}
	if g.n < g.cfg.MinSamples {
		g.push(at, off)
		return GateLearning
	}
	var rates [gateWindow - 1]float64
	k := 0
	for i := 0; i+1 < g.n; i++ {
		a := (g.head - i - 1 + gateWindow) % gateWindow
		b := (g.head - i + gateWindow) % gateWindow
		dt := float64(g.at[b]-g.at[a]) / 1e9
		rates[k] = float64(g.off[b]-g.off[a]) / 1e9 / dt
		k++
	}
	med := median(rates[:k])
	var dev [gateWindow - 1]float64
	for i, r := range rates[:k] {
		dev[i] = math.Abs(r - med)
	}
	mad := median(dev[:k])
	gap := float64(at-g.at[g.head]) / 1e9
	pred := float64(g.off[g.head])/1e9 + med*gap
	g.sigma = 1.4826 * mad
	width := g.cfg.K * g.sigma * math.Max(1, gap)
	width = math.Max(width, g.cfg.Floor.Seconds())
	width = math.Max(width, g.cfg.Fraction*math.Abs(pred))
	if math.Abs(float64(off)/1e9-pred) <= width {
		g.inRow = 0
		g.push(at, off)
		return GateAccept
	}
	g.inRow++
	if g.inRow >= g.cfg.ResetAfter {
		g.Reset()
		g.push(at, off)
		return GateRelearn
	}
	return GateOutlier
}

func (g *Gate) push(at timebase.Instant, off time.Duration) {
	g.head = (g.head + 1) % gateWindow
	g.at[g.head], g.off[g.head] = at, off
	if g.n < gateWindow {
		g.n++
	}
}

// median sorts xs in place and returns its median.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
