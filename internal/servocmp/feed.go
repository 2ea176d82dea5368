package servocmp

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Feed is how the simulated receiver reaches chrony.
type Feed int

const (
	// FeedLabelled: one SOCK refclock (refid GPS) receives a full sample per genuine pulse, paired with its
	// receiver label, as gpsd sends PPS to chrony's SOCK refclock. Missing pulses send nothing; spurious
	// edges are not sent (the bridge is taken to drop them all, which flatters chrony); a label slip is sent
	// as it comes, one second off.
	FeedLabelled Feed = iota
	// FeedPPSLock: chrony pairs pulses itself, as with `refclock PPS /dev/pps0 lock NMEA`: one SOCK refclock
	// (refid NMEA, noselect, calibrated offset) receives each valid NMEA epoch as a full sample stamped at
	// its first chunk's arrival, and another (refid PPS, lock NMEA) receives every captured edge, spurious
	// ones included, as a bare pulse, exactly as chrony's PPS driver hands a kernel PPS timestamp to
	// refclock.c (RCL_AddPulse with the timestamp's fraction of a second).
	FeedPPSLock
)

func (f Feed) String() string {
	switch f {
	case FeedLabelled:
		return "labelled"
	case FeedPPSLock:
		return "pps-lock"
	}
	return fmt.Sprintf("Feed(%d)", int(f))
}

// ParseFeed parses a Feed's name.
func ParseFeed(s string) (Feed, error) {
	for _, f := range []Feed{FeedLabelled, FeedPPSLock} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("servocmp: feed %q unknown; known: labelled, pps-lock", s)
}

// Refclock sockets, by index (Chrony.Send).
const (
	SockScored = 0 // GPS (labelled) or PPS (pps-lock): the refclock whose samples are scored
	SockNMEA   = 1 // NMEA (pps-lock only)
)

// planned is one datagram to send.
type planned struct {
	sock int
	s    SockSample
	fed  *Fed // for SockScored: what scoring needs
}

// usRound rounds an instant to chrony's microsecond.
func usRound(t timebase.Instant) timebase.Instant { return t.Round(time.Microsecond) }

// plan lays out every datagram of a run, in time order, with raw times mapped by H(b) = t0 + (b − start).
// nmeaOffset is the calibrated delay of an NMEA epoch's first chunk (pps-lock only).
func plan(tr Trace, feed Feed, t0 timebase.Instant) []planned {
	h := func(b timebase.Instant) timebase.Instant { return t0 + (b - tr.Start) }
	var out []planned
	for _, p := range tr.Pulses {
		f := &Fed{Second: p.Second, TV: usRound(h(p.Board)), Offset: p.Second.Sub(p.Board).Seconds(), BoardErr: p.BoardErr.Seconds()}
		s := SockSample{TV: f.TV}
		switch feed {
		case FeedLabelled:
			// The label is what the bridge believes: a slip makes the sample one second off.
			s.Offset = p.Label.Sub(p.Board).Seconds()
		case FeedPPSLock:
			s.Pulse, s.Offset = true, fraction(p.Board)
		}
		out = append(out, planned{sock: SockScored, s: s, fed: f})
	}
	if feed == FeedPPSLock {
		for _, g := range tr.Spurious {
			f := &Fed{Second: g.Truth, TV: usRound(h(g.Board)), Offset: g.Board.Round(time.Second).Sub(g.Board).Seconds(), Spurious: true}
			out = append(out, planned{sock: SockScored, s: SockSample{TV: f.TV, Pulse: true, Offset: fraction(g.Board)}, fed: f})
		}
		for _, ep := range tr.Epochs {
			out = append(out, planned{sock: SockNMEA, s: SockSample{TV: usRound(h(ep.Board)), Offset: ep.Label.Sub(ep.Board).Seconds()}})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].s.TV < out[j].s.TV })
	return out
}

// fraction is how far past its whole second a board reading is, in seconds: what chrony's PPS driver
// passes as the pulse's "second" (1e-9·tv_nsec of the kernel's timestamp).
func fraction(b timebase.Instant) float64 {
	_, ns := b.Unix()
	return float64(ns) / 1e9
}

// NMEADelay is the median delay of an epoch's first chunk after the second's pulse, both on the board
// clock: the `offset` a chrony user calibrates an NMEA refclock with (as our daemon is given its PPS bias).
func NMEADelay(tr Trace) time.Duration {
	pulse := make(map[timebase.Instant]timebase.Instant, len(tr.Pulses))
	for _, p := range tr.Pulses {
		pulse[p.Second] = p.Board
	}
	var ds []time.Duration
	for _, ep := range tr.Epochs {
		if b, ok := pulse[ep.Second]; ok {
			ds = append(ds, ep.Board.Sub(b))
		}
	}
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	d := ds[len(ds)/2]
	// chrony takes the offset in seconds with its own precision; a microsecond is plenty for an NMEA source.
	return time.Duration(math.Round(float64(d)/1e3)) * time.Microsecond
}
