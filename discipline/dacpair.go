package discipline

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DACPairer pairs the GPS pulse and the oscillator's pulse of the same second into a DACSample: each edge
// waits for one of the other kind within half a second; an edge that finds none replaces the previous
// unpaired edge of its kind. It needs no labels: which second it is does not matter to a phase difference.
// A glitch pairs like a pulse; the controller's gate removes what that pairs.
type DACPairer struct {
	gps, osc timebase.Instant // board times of the unpaired edges (0: none)
	Pairs    uint64
	Unpaired uint64 // edges replaced without a partner (missing pulses, glitches)
}

// Edge takes one edge's board time; it returns a sample when the edge completes a pair.
func (p *DACPairer) Edge(at timebase.Instant, oscillator bool) (DACSample, bool) {
	mine, other := &p.gps, &p.osc
	if oscillator {
		mine, other = other, mine
	}
	if *other != 0 && at.Sub(*other).Abs() < time.Second/2 {
		gps, osc := *other, at
		if !oscillator {
			gps, osc = at, *other
		}
		if *mine != 0 {
			p.Unpaired++ // an older edge of this kind never found its partner
		}
		*other, *mine = 0, 0
		p.Pairs++
		return DACSample{At: at, Phase: osc.Sub(gps)}, true
	}
	if *mine != 0 {
		p.Unpaired++
	}
	*mine = at
	return DACSample{}, false
}

// Reset forgets unpaired edges (after a divider sync, the oscillator's earlier edge is of the old phase).
func (p *DACPairer) Reset() { p.gps, p.osc = 0, 0 }
