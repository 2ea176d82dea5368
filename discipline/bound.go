package discipline

import (
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// bound returns the error bound at board instant t ≥ s.t: how far the served clock can be from the
// reference, given everything the servo knows. It is the sum of
//
//   - |predicted phase|: the filter's phase, carried forward by its frequency estimate and the corrections
//     applied and planned;
//   - BoundSigmas standard deviations of the filter's prediction: its own uncertainty at the last sample, grown
//     by the frequency uncertainty (linear in h), the random-walk wander (h^1.5) and white phase noise (√h);
//   - the drift allowance: a frequency moving by up to DriftPPMPerHour per hour, capped at MaxDriftPPM, which
//     the random walk does not cover (temperature ramps are steady, not random);
//   - the lag allowance: the coasting frequency estimate runs its lag behind a drifting frequency (the filter's
//     steady-state tracking delay, or a fit's memory), an error linear in h that the drift-free spread leaves
//     out;
//   - the clock's read precision.
//
// Every term grows with h, so the bound is non-decreasing once the phase slew is over, and each is convex in h
// but the √h of white phase noise, which is negligible after seconds.

// bound returns the error bound at board instant t ≥ s.t (see boundParts).
func (s *Servo) bound(t timebase.Instant, l learned) float64 {
	h := t.Sub(s.t).Seconds()
	if h < 0 {
		h = 0
	}
	drift := s.driftAllowance(h)
	if s.hc.active {
		// A holdover steered by the temperature fit: its uncertainty replaces the blind ramp (tempcomp.go).
		lag := tcSmooth + s.cfg.TempSensorLag.Seconds()
		drift = s.hc.allowance(t, s.cfg.BoundSigmas, s.cfg.HoldoverSigmas, lag, s.driftRate())
	}
	return math.Abs(s.phaseAt(t)) + s.spread(h, l) + drift + s.lagAllowance(h, l) + s.precision()
}

// learned is the learner's verdict, taken once per bound computation.
type learned struct {
	cand int
	ok   bool
}

func (s *Servo) learned() learned {
	c, _, ok := s.wander.best(s.kf.y)
	return learned{c, ok}
}

// spread is the random part of the bound h seconds after the last sample. Below the learner's shortest
// horizon, or before it has a record, it is BoundSigmas standard deviations of the filter's prediction. Once
// the record has holdover trials, at longer horizons it is HoldoverSigmas times the RMS of the random part of
// the miss the trials measured for the frequency the servo coasts on (drift-free: see wanderLearner; taken no
// smaller than the filter's own short-term spread at the shortest horizon): a measured error, not a modelled
// one.
func (s *Servo) spread(h float64, l learned) float64 {
	model := s.cfg.BoundSigmas * math.Sqrt(s.kf.varAhead(h))
	if !l.ok {
		return model
	}
	v, ok := s.wander.missVar(l.cand, h)
	if s.hc.active {
		// A compensated holdover: the random part of the compensated prediction's miss, once measured.
		if vc, okc := s.wander.missVarTemp(l.cand, h); okc {
			v, ok = vc, true
		}
	}
	if !ok {
		return model
	}
	floor := s.cfg.BoundSigmas * math.Sqrt(s.kf.varAhead(horizons[0]))
	return math.Max(floor, s.cfg.HoldoverSigmas*math.Sqrt(v+s.kf.p00))
}

// Wander returns the oscillator's random-walk frequency noise the filter assumes (ppm/√s), and, once the
// record has enough holdover trials, the RMS miss they measured over an hour for the frequency estimate the
// servo would coast on.
func (s *Servo) Wander() (ppmPerSqrtS float64, hourMiss time.Duration, learned bool) {
	cand, _, ok := s.wander.best(s.kf.y)
	if ok {
		v, _ := s.wander.missVar(cand, 3600)
		hourMiss = seconds(math.Sqrt(v))
	}
	return math.Sqrt(s.kf.q) * 1e6, hourMiss, ok
}

func (s *Servo) precision() float64 { return math.Ldexp(1, int(s.cfg.Precision)) }

// driftRate is the frequency drift the bound allows for, fractional frequency per second: DriftPPMPerHour,
// or more when the record has shown the environment driving the oscillator harder (then that, with a
// margin).
func (s *Servo) driftRate() float64 {
	return math.Max(s.cfg.DriftPPMPerHour*1e-6/3600, 1.5*s.wander.maxDrift())
}

// lagAllowance is the phase a frequency estimate lagging a drift gathers in h seconds: the coasting
// frequency is the drift rate times the estimate's lag (see wanderLearner.lag) behind, at most MaxDriftPPM.
// The lag is behind the drift before the holdover, which the record measured (not the drift to come, which
// driftAllowance covers): its rate is the largest the record showed, with the same margin of 1.5. For the
// filter's own estimate the lag is its steady-state tracking delay, tens of seconds: a microsecond or two in
// an hour; a fit of memory τ lags 2τ. The spread, being drift-free, includes neither.
func (s *Servo) lagAllowance(h float64, l learned) float64 {
	filterLag := 0.0
	if s.kf.p01 > 0 {
		filterLag = s.kf.p00/s.kf.p01 - 0.5
	}
	return math.Min(1.5*s.wander.maxDrift()*s.wander.lag(l.cand, filterLag), s.cfg.MaxDriftPPM*1e-6) * h
}

// driftAllowance is the phase that a frequency ramping at driftRate, saturating at MaxDriftPPM, gathers
// in h seconds.
func (s *Servo) driftAllowance(h float64) float64 {
	a := s.driftRate()
	fmax := s.cfg.MaxDriftPPM * 1e-6
	if a == 0 {
		return 0
	}
	if a*h <= fmax {
		return a * h * h / 2
	}
	return fmax*h - fmax*fmax/(2*a)
}

// horizon is how far ahead a published snapshot's linear growth must keep covering the bound: a stale
// snapshot (the daemon publishes every second) stays honest this long.
const horizon = 16 * time.Second

// Snapshot returns what the server should serve, as of now.
//
// The snapshot's dispersion is linear in time (RootDispersion at RefTime plus DispersionRate after it), while
// the servo's bound is not (it grows as h² in holdover). RefTime stays the last sample (the time the clock was
// last corrected from the reference, as NTP defines it) and the line is the steepest chord of the bound from
// RefTime over [now, now+horizon]: it meets or exceeds the bound at every instant of that window, so whatever
// instant the server reads it at before the next snapshot, the root dispersion it serves covers the bound.
func (s *Servo) Snapshot(now timebase.Instant) *timebase.Snapshot {
	base := &timebase.Snapshot{
		State:        s.state,
		Precision:    s.cfg.Precision,
		Offset:       s.lastOffset,
		FrequencyPPM: s.FrequencyPPM(),
		Jitter:       s.MeasurementNoise(),
		LockedSince:  s.lockedSince,
		HoldoverFrom: s.holdFrom,
	}
	if !s.haveFilter {
		return s.unsynced(base)
	}
	b0, rate := s.chord(now)
	base.RefID = timebase.RefIDFromString(s.cfg.RefID)
	base.RefTime = s.t
	base.RootDispersion = time.Duration(math.Ceil(b0 * 1e9))
	base.DispersionRate = rate
	h0 := max(now.Sub(s.t), 0)
	ph := s.phaseAt(now)
	base.EstError = seconds(math.Sqrt(ph*ph + s.kf.varAhead(h0.Seconds())))
	if !s.everLocked {
		return s.unsynced(base)
	}
	maxErr := base.RootDispersionAt(now)
	switch {
	case maxErr <= s.cfg.HoldoverStratum1Limit:
		base.Leap, base.Stratum = timebase.LeapNone, 1
	case maxErr <= s.cfg.HoldoverUnsyncLimit:
		base.Leap, base.Stratum = timebase.LeapNone, s.cfg.HoldoverStratum
	default:
		return s.unsynced(base)
	}
	return base
}

// chord returns the bound at the last sample and the steepest slope from there to the bound over
// [now, now+horizon]. It is recomputed when the servo's state changed or a second has passed since the last
// computation; a chord computed up to a second earlier covers [now, now+horizon−1s], so it stays honest.
func (s *Servo) chord(now timebase.Instant) (b0, rate float64) {
	if s.chordVer == s.version && now >= s.chordFrom && now <= s.chordFrom.Add(time.Second) {
		return s.chordB0, s.chordRate
	}
	l := s.learned()
	b0 = s.bound(s.t, l)
	h0 := max(now.Sub(s.t), 0)
	const step = 500 * time.Millisecond
	for h := h0; h <= h0+horizon; h += step {
		if h <= 0 {
			continue
		}
		if r := (s.bound(s.t.Add(h), l) - b0) / h.Seconds(); r > rate {
			rate = r
		}
	}
	s.chordVer, s.chordFrom, s.chordB0, s.chordRate = s.version, now, b0, rate
	return b0, rate
}

// unsynced dresses base as the LI=3 stratum 16 snapshot, keeping the figures for people.
func (s *Servo) unsynced(base *timebase.Snapshot) *timebase.Snapshot {
	u := timebase.Unsynchronized()
	u.State = base.State
	u.Precision = base.Precision
	u.Offset, u.FrequencyPPM, u.Jitter, u.EstError = base.Offset, base.FrequencyPPM, base.Jitter, base.EstError
	u.LockedSince, u.HoldoverFrom = base.LockedSince, base.HoldoverFrom
	if base.RefTime != 0 {
		u.RefID, u.RefTime = base.RefID, base.RefTime
	}
	return u
}
