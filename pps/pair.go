// Package pps validates pulse-per-second edges and pairs each with the receiver's label for the second it
// began, yielding offset samples (board clock minus reference) for the discipline.
//
// Pairing is by arrival order on the board's own clock, not by rounding the edge to the nearest second: a
// receiver sends the sentences naming second S after the pulse that began S (u-blox, MTK and most others), so
// the pulse that began S is the latest edge captured before the label's first byte arrived, and no more than a
// second before it. That holds whatever the board clock's offset, so the first sample after a cold start
// measures a clock that is seconds or years off just as well as one that is nanoseconds off.
//
// Edge timestamps are late by the capture path's latency (interrupt and timestamping, cable, receiver), a
// constant Bias subtracted before the offset is formed. Repeated edges (same sequence number or timestamp)
// and edges closer than MinInterval to the previous one (spurious edges) are rejected and counted.
//
// This is the foundation's pairing; the PPS issue adds interval statistics, outlier gates, whole-second
// mismatch detection and sawtooth correction here.
package pps

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Counts are totals since start.
type Counts struct {
	Edges      uint64 // edges offered
	Rejected   uint64 // repeats and spurious edges
	Paired     uint64 // edges paired with a valid label
	Unpaired   uint64 // valid labels with no edge in the second before them
	BadOffsets uint64 // pairs whose offset was not finite or sane
}

// Pairer holds the last few edges and pairs them with labels. The zero value is not ready: use NewPairer.
type Pairer struct {
	Bias        time.Duration // subtracted from every edge timestamp
	MinInterval time.Duration // edges closer than this to the previous accepted one are spurious

	ring   [4]timebase.Edge
	used   [4]bool
	n      int // edges stored, up to len(ring)
	head   int // index of the newest
	counts Counts
}

// NewPairer returns a pairer with the given bias.
func NewPairer(bias time.Duration) *Pairer {
	return &Pairer{Bias: bias, MinInterval: 500 * time.Millisecond}
}

// Counts returns the totals.
func (p *Pairer) Counts() Counts { return p.counts }

// Reset forgets stored edges, e.g. after the clock was stepped and their timestamps are on the old timescale.
func (p *Pairer) Reset() { p.n = 0 }

// Edge offers one captured edge. It returns false when the edge was rejected.
func (p *Pairer) Edge(e timebase.Edge) bool {
	p.counts.Edges++
	if p.n > 0 {
		last := p.ring[p.head]
		if e.Seq == last.Seq && e.Seq != 0 || e.Time == last.Time || e.Time.Sub(last.Time) < p.MinInterval && e.Time > last.Time {
			p.counts.Rejected++
			return false
		}
	}
	p.head = (p.head + 1) % len(p.ring)
	p.ring[p.head] = e
	p.used[p.head] = false
	if p.n < len(p.ring) {
		p.n++
	}
	return true
}

// Label pairs a receiver label with the edge that began its second, returning the offset sample's time
// (the edge, bias removed) and the offset (board time of the pulse minus the labelled second).
func (p *Pairer) Label(l timebase.TimeLabel) (at timebase.Instant, offset time.Duration, ok bool) {
	if !l.Valid {
		return 0, 0, false
	}
	best := -1
	for i := 0; i < p.n; i++ {
		idx := (p.head - i + len(p.ring)) % len(p.ring)
		e := p.ring[idx]
		if d := l.Received.Sub(e.Time); d > 0 && d < time.Second {
			best = idx
			break
		}
	}
	if best < 0 || p.used[best] {
		p.counts.Unpaired++
		return 0, 0, false
	}
	p.used[best] = true
	at = p.ring[best].Time.Add(-p.Bias)
	offset = at.Sub(l.Second)
	if offset > 100*365*24*time.Hour || offset < -100*365*24*time.Hour {
		p.counts.BadOffsets++
		return 0, 0, false
	}
	p.counts.Paired++
	return at, offset, true
}
