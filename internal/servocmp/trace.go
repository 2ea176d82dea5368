package servocmp

import (
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/internal/scenario"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Pulse is one PPS capture, as a refclock measures it against the free-running board clock.
type Pulse struct {
	// Second is the UTC second the pulse marks.
	Second timebase.Instant
	// Label is the second a pairing that trusts the receiver gives it: Second, or Second+1 s where the
	// receiver's epoch slipped.
	Label timebase.Instant
	// Board is the capture's board-clock timestamp less the calibrated PPS bias: Second + e(Second) + n.
	Board timebase.Instant
	// BoardErr is the free-running board clock's true error e at truth Second.
	BoardErr time.Duration
}

// Measured is the board clock's apparent offset from this pulse, e + n.
func (p Pulse) Measured() time.Duration { return p.Board.Sub(p.Second) }

// Noise is the capture's measurement noise n = Measured − BoardErr: receiver jitter, sawtooth, and the
// interrupt latency's deviation from its calibrated mean (outliers included).
func (p Pulse) Noise() time.Duration { return p.Measured() - p.BoardErr }

// Spurious is a glitch on the PPS line: an edge that marks no second.
type Spurious struct {
	Truth timebase.Instant // when it was captured
	Board timebase.Instant // its board timestamp less the calibrated PPS bias
}

// Epoch is the start of one NMEA epoch with a valid fix, as a serial refclock sees it.
type Epoch struct {
	Second timebase.Instant // the second the receiver describes
	Label  timebase.Instant // the second it names (Second+1 s in a slip)
	// Board is when the epoch's first chunk of bytes was read, on the board clock.
	Board timebase.Instant
}

// Trace is what the receiver and the PPS line deliver over a run, with ground truth: the same edges and
// epochs, in the same order and with the same noise, that the scenario's World hands the daemon for this
// seed.
type Trace struct {
	Start, End timebase.Instant
	Pulses     []Pulse
	Spurious   []Spurious
	Epochs     []Epoch
}

// BuildTrace runs a World for the setup, never steered, from its start to start+d, and records every
// captured edge and the start of every valid NMEA epoch. Steering changes only the board's timestamps,
// never the events, their truth or the oscillator's noise (see internal/sim), so the unsteered board is the
// free-running oscillator the daemon disciplines in scenario.RunSetup for the same setup, and the captures
// are the same captures.
//
// Label slips: su.Slips names seconds whose NMEA epoch names the next second (scenario rewrites the bytes);
// the epoch and the pulse of that second carry the slipped label.
func BuildTrace(su scenario.Setup, d time.Duration) (Trace, error) {
	w, err := sim.NewWorld(su.Sim)
	if err != nil {
		return Trace{}, fmt.Errorf("servocmp: BuildTrace: %w", err)
	}
	slipped := map[timebase.Instant]bool{}
	for _, s := range su.Slips {
		slipped[s] = true
	}
	label := func(s timebase.Instant) timebase.Instant {
		if slipped[s] {
			return s.Add(time.Second)
		}
		return s
	}
	tr := Trace{Start: su.Sim.Start, End: su.Sim.Start.Add(d)}
	var lastEpoch timebase.Instant
	for {
		ev := w.Next()
		if ev.Truth > tr.End {
			return tr, nil
		}
		switch {
		case ev.Kind == sim.EventBytes:
			if ev.Valid && ev.Second != lastEpoch {
				lastEpoch = ev.Second
				tr.Epochs = append(tr.Epochs, Epoch{Second: ev.Second, Label: label(ev.Second), Board: ev.Received})
			}
		case ev.Valid:
			tr.Pulses = append(tr.Pulses, Pulse{
				Second:   ev.Second,
				Label:    label(ev.Second),
				Board:    ev.Edge.Time.Add(-su.PPSBias),
				BoardErr: w.Board().ErrorAt(ev.Second),
			})
		case ev.Pulse.Spurious:
			tr.Spurious = append(tr.Spurious, Spurious{Truth: ev.Truth, Board: ev.Edge.Time.Add(-su.PPSBias)})
		}
	}
}
