package discipline

import (
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// wanderLearner measures how well the time would have been held had the reference gone away, at every moment
// of the record, and from that picks the frequency estimate to coast on and the random-walk intensity q the
// holdover bound grows with.
//
// # Which frequency to coast on
//
// The filter's own frequency estimate ŷ follows the oscillator closely, which is what tracking wants, and is
// therefore noisy over an hour: with 1 µs capture jitter and a filter memory of a minute it is good to a few
// ppb, 10-20 µs an hour. A slope fitted to the free-running phase over longer memories is quieter but lags a
// frequency that drifts. Which is better depends on the oscillator and its environment, so the learner keeps
// candidates (ŷ, and exponentially weighted least-squares slopes of the free-running phase with memories of
// 256, 1024 and 4096 s) and lets the record decide.
//
// # Trials
//
// Every trialSpacing seconds while samples flow, a trial remembers the free-running phase φ̂ (the filter's
// phase minus every correction applied: the oscillator's own phase) and each candidate's frequency. When the
// record reaches each horizon h, each candidate's prediction φ̂0 + y0·h, exactly what coasting on it would
// have served, is compared with φ̂ then: the miss m(t0, h).
//
// The miss has two parts of different nature. The random part (the candidate's frequency error at t0, the
// random walk of the frequency, the short-term temperature noise) is what the bound's spread must cover with
// HoldoverSigmas of its RMS. The drift part (½·d·h² for a frequency drifting at d, plus d·L·h for an estimate
// lagging L seconds behind it) is steady over hours, and the drift allowance covers it, from the configured
// worst case and the largest drift the record showed: counting it in the spread too would count it twice. So
// the spread's statistic is Hadamard's: the half mean square of the difference between the misses of two
// trials one horizon apart, m(t0, h) − m(t0 − h, h), in which a drift steady over 2h cancels while the random
// parts of two disjoint windows, independent, add (var = 2σ²). A drift that changes within 2h leaves
// ½·Δd·h² in the difference: it makes the spread larger, never smaller. The candidate to coast on is
// chosen on the raw mean square miss, drift and lag included, since that is what coasting on it serves.
//
// Why learn rather than configure: a crystal's wander differs by an order of magnitude between a board in a
// closet and one next to a busy SoC in a draught, and a bound drawn from the wrong figure is either a lie or
// useless. The prior (Config.WanderPPMPerSqrtS) and ŷ are used until minTrials trials have completed every
// horizon.
type wanderLearner struct {
	trials []trial
	next   timebase.Instant // when the next trial starts
	fits   [nCand - 1]ewls
	drift  ewquad  // the oscillator's current frequency drift, to tell drift from wander
	maxD   float64 // largest |drift| seen after warm-up, fractional frequency per second
	sumSq  [nCand][len(horizons)]float64
	n      [len(horizons)]int
	// Per horizon, the misses of the trials completed within the last horizon and a spacing, waiting for
	// the trial one horizon later; dSumSq and dn accumulate the halved squared differences.
	recent [len(horizons)][]doneTrial
	dSumSq [nCand][len(horizons)]float64
	dn     [len(horizons)]int
	// The same statistics for the temperature-compensated prediction (see tcObs), from the trials that began
	// with a trusted temperature fit: what a compensated holdover's spread must cover.
	cSumSq  [nCand][len(horizons)]float64
	cn      [len(horizons)]int
	cdSumSq [nCand][len(horizons)]float64
	cdn     [len(horizons)]int
}

type doneTrial struct {
	t0    timebase.Instant
	miss  [nCand]float64
	missC [nCand]float64 // compensated, when hasC
	hasC  bool
}

// tcObs is the temperature fit's view at an instant, for compensated trials: whether it is trusted, its
// coefficient k (fractional per °C), j = ∫(T − T_b)dt and ts = T − T_b for the smoothed reading T and a fixed
// base T_b. A trial started with ok predicts φ0 + y0·h + k0·(j − j0 − ts0·h), as a compensated holdover steers.
type tcObs struct {
	ok       bool
	k, j, ts float64
}

// Candidates: 0 is the filter's ŷ, 1.. the fits with these memories (seconds).
var fitMemories = [...]float64{256, 1024, 4096}

const nCand = len(fitMemories) + 1

type trial struct {
	t0   timebase.Instant
	phi0 float64
	y0   [nCand]float64
	k    int   // next horizon index
	c    tcObs // the temperature fit at t0
}

// horizons, seconds: up to the hour a holdover is judged over, and a little beyond.
var horizons = [...]float64{256, 512, 1024, 2048, 4096}

const (
	trialSpacing = 128 // seconds between trial starts
	minTrials    = 8   // completed trials per horizon before the estimate is used
	maxGap       = 16  // seconds without an accepted sample that end all running trials and fits
)

// observe records the free-running phase estimate phi and the filter's frequency y at t (an accepted sample);
// gap is the time since the previous accepted sample.
func (w *wanderLearner) observe(t timebase.Instant, phi, y, gap float64) {
	w.observeTemp(t, phi, y, gap, tcObs{})
}

// observeTemp is observe with the temperature fit's view at t (see tcObs).
func (w *wanderLearner) observeTemp(t timebase.Instant, phi, y, gap float64, tc tcObs) {
	if gap > maxGap {
		w.reset()
	}
	for i := range w.fits {
		w.fits[i].add(t, phi, fitMemories[i])
	}
	w.drift.add(t, phi, driftMemory)
	d, dok := w.drift.curvature()
	warm := w.fits[len(w.fits)-1].span >= fitMemories[len(fitMemories)-1]
	if dok && warm {
		w.maxD = math.Max(w.maxD, math.Abs(d))
	}
	cand := w.candidates(y)
	keep := w.trials[:0]
	for _, tr := range w.trials {
		h := t.Sub(tr.t0).Seconds()
		for tr.k < len(horizons) && h >= horizons[tr.k] {
			var miss [nCand]float64
			for c := range nCand {
				miss[c] = phi - (tr.phi0 + tr.y0[c]*h)
				w.sumSq[c][tr.k] += miss[c] * miss[c]
			}
			w.n[tr.k]++
			var missC [nCand]float64
			hasC := tr.c.ok && tc.ok
			if hasC {
				comp := tr.c.k * (tc.j - tr.c.j - tr.c.ts*h)
				for c := range nCand {
					missC[c] = miss[c] - comp
					w.cSumSq[c][tr.k] += missC[c] * missC[c]
				}
				w.cn[tr.k]++
			}
			w.difference(tr.k, tr.t0, doneTrial{t0: tr.t0, miss: miss, missC: missC, hasC: hasC})
			tr.k++
		}
		if tr.k < len(horizons) {
			keep = append(keep, tr)
		}
	}
	w.trials = keep
	if t >= w.next && warm && dok {
		w.trials = append(w.trials, trial{t0: t, phi0: phi, y0: cand, c: tc})
		w.next = t.Add(trialSpacing * 1e9)
	}
}

// difference pairs a trial's misses at horizon k with those of the trial that started one horizon earlier
// (within half a spacing), accumulating the drift-free statistic, and keeps them for the trial one horizon
// later.
func (w *wanderLearner) difference(k int, t0 timebase.Instant, done doneTrial) {
	hz := horizons[k] * 1e9
	half := trialSpacing * 1e9 / 2
	want := t0.Add(-time.Duration(hz))
	keep := w.recent[k][:0]
	for _, p := range w.recent[k] {
		if d := float64(p.t0.Sub(want)); d >= -half && d < half {
			for c := range nCand {
				e := done.miss[c] - p.miss[c]
				w.dSumSq[c][k] += e * e / 2
			}
			w.dn[k]++
			if done.hasC && p.hasC {
				for c := range nCand {
					e := done.missC[c] - p.missC[c]
					w.cdSumSq[c][k] += e * e / 2
				}
				w.cdn[k]++
			}
		}
		if p.t0 >= want {
			keep = append(keep, p)
		}
	}
	w.recent[k] = append(keep, done)
}

func (w *wanderLearner) candidates(y float64) [nCand]float64 {
	c := [nCand]float64{y}
	for i := range w.fits {
		c[i+1] = w.fits[i].slope(y)
	}
	return c
}

// reset drops the running trials and fits (a step or a re-learn broke the phase record); completed
// statistics stay.
func (w *wanderLearner) reset() {
	w.trials = w.trials[:0]
	for k := range w.recent {
		w.recent[k] = w.recent[k][:0]
	}
	w.fits = [nCand - 1]ewls{}
	w.drift = ewquad{}
}

// maxDrift returns the largest frequency drift (fractional per second) the record has shown.
func (w *wanderLearner) maxDrift() float64 { return w.maxD }

// best returns the candidate with the smallest mean squared miss at the longest horizon and its current
// frequency; ok is false while the record is too short.
func (w *wanderLearner) best(y float64) (cand int, freq float64, ok bool) {
	for i := range horizons {
		if w.n[i] < minTrials || w.dn[i] < minTrials {
			return 0, y, false
		}
	}
	last := len(horizons) - 1
	for c := 1; c < nCand; c++ {
		if w.sumSq[c][last] < w.sumSq[cand][last] {
			cand = c
		}
	}
	return cand, w.candidates(y)[cand], true
}

// missVar returns the learned variance of the random part of the best candidate's miss h seconds into a
// holdover (the drift-free statistic above): measured at the horizons, interpolated between them as a power
// law, and carried past the longest as h³ (random-walk FM, the steepest growth a wander has). ok is false
// while the record is too short or h is below the shortest horizon.
func (w *wanderLearner) missVar(cand int, h float64) (float64, bool) {
	if h < horizons[0] || w.dn[0] == 0 {
		return 0, false
	}
	return powerLaw(h, func(i int) float64 { return math.Max(w.dSumSq[cand][i]/float64(max(w.dn[i], 1)), 1e-24) }), true
}

// missVarTemp is missVar for the temperature-compensated prediction; ok is false until minTrials compensated
// trials have completed every horizon, and their differences too.
func (w *wanderLearner) missVarTemp(cand int, h float64) (float64, bool) {
	if h < horizons[0] {
		return 0, false
	}
	for i := range horizons {
		if w.cn[i] < minTrials || w.cdn[i] < minTrials {
			return 0, false
		}
	}
	return powerLaw(h, func(i int) float64 { return math.Max(w.cdSumSq[cand][i]/float64(w.cdn[i]), 1e-24) }), true
}

// powerLaw interpolates the variances mse(i) measured at the horizons (see missVar).
func powerLaw(h float64, mse func(i int) float64) float64 {
	for i := 0; i+1 < len(horizons); i++ {
		if h <= horizons[i+1] {
			a, b := mse(i), mse(i+1)
			// Non-decreasing: a wander the record saw at a shorter horizon is not undone by a longer one.
			b = math.Max(a, b)
			p := math.Log(b/a) / math.Log(horizons[i+1]/horizons[i])
			return a * math.Pow(h/horizons[i], p)
		}
	}
	last := len(horizons) - 1
	m := mse(last)
	for i := range last {
		m = math.Max(m, mse(i))
	}
	r := h / horizons[last]
	return m * r * r * r
}

// lag returns how far behind a steadily drifting frequency candidate c's estimate runs, in seconds: its
// share of the miss is d·lag·h. An exponentially weighted least-squares line of memory τ through a phase
// ½·d·t² has the slope of 2τ ago (its weights' centroid is τ back, its spread τ²: slope = −2dτ + the true
// one). For the filter's ŷ (c = 0), the steady-state two-state filter tracking a frequency ramp settles with
// a frequency error d·(K₀/K₁ − ½) per one-second sample, and K₀/K₁ = p00/p01 of its covariance after an
// update; that is given as filterLag.
func (w *wanderLearner) lag(c int, filterLag float64) float64 {
	if c == 0 {
		return math.Max(filterLag, 0)
	}
	return 2 * fitMemories[c-1]
}

// driftMemory is the memory of the drift fit: long enough to see curvature through the capture noise, short
// against the day's temperature cycle.
const driftMemory = 4096

// ewquad is an exponentially weighted least-squares parabola through (t, φ), for the frequency drift (twice
// its quadratic coefficient). Times are in kiloseconds relative to the newest point, which keeps the
// fourth-power sums within a few orders of magnitude of each other.
type ewquad struct {
	last                             timebase.Instant
	s0, s1, s2, s3, s4, sy, sty, s2y float64
	span                             float64
	have                             bool
}

func (f *ewquad) add(t timebase.Instant, phi, tau float64) {
	if f.have {
		dt := t.Sub(f.last).Seconds()
		d := dt / 1000
		s0, s1, s2, s3, s4, sy, sty, s2y := f.s0, f.s1, f.s2, f.s3, f.s4, f.sy, f.sty, f.s2y
		f.s1 = s1 - d*s0
		f.s2 = s2 - 2*d*s1 + d*d*s0
		f.s3 = s3 - 3*d*s2 + 3*d*d*s1 - d*d*d*s0
		f.s4 = s4 - 4*d*s3 + 6*d*d*s2 - 4*d*d*d*s1 + d*d*d*d*s0
		f.sty = sty - d*sy
		f.s2y = s2y - 2*d*sty + d*d*sy
		a := math.Exp(-dt / tau)
		f.s0, f.s1, f.s2, f.s3, f.s4 = s0*a, f.s1*a, f.s2*a, f.s3*a, f.s4*a
		f.sy, f.sty, f.s2y = sy*a, f.sty*a, f.s2y*a
		f.span += dt
	}
	f.last, f.have = t, true
	f.s0++
	f.sy += phi
}

// curvature returns the fitted drift d (φ ≈ a + b·t + ½·d·t², t in seconds).
func (f *ewquad) curvature() (float64, bool) {
	if !f.have || f.span < driftMemory {
		return 0, false
	}
	// Normal equations [s0 s1 s2; s1 s2 s3; s2 s3 s4]·[a b c] = [sy sty s2y]; c by Cramer's rule.
	det := f.s0*(f.s2*f.s4-f.s3*f.s3) - f.s1*(f.s1*f.s4-f.s3*f.s2) + f.s2*(f.s1*f.s3-f.s2*f.s2)
	if det <= 0 || math.IsNaN(det) {
		return 0, false
	}
	num := f.s0*(f.s2*f.s2y-f.s3*f.sty) - f.s1*(f.s1*f.s2y-f.s2*f.sty) + f.sy*(f.s1*f.s3-f.s2*f.s2)
	c := num / det // per ks²
	return 2 * c / 1e6, true
}

// ewls is an exponentially weighted least-squares line through (t, φ): its slope is a frequency estimate with
// a memory of about τ. Times are kept relative to the newest point, so the sums stay small.
type ewls struct {
	last                timebase.Instant
	s0, s1, s2, sy, sty float64
	span                float64 // seconds of record in the fit, for warm-up
	have                bool
}

func (f *ewls) add(t timebase.Instant, phi, tau float64) {
	if f.have {
		dt := t.Sub(f.last).Seconds()
		// Shift the origin to t (old points at −dt), then forget.
		f.s2 = f.s2 - 2*dt*f.s1 + dt*dt*f.s0
		f.s1 -= dt * f.s0
		f.sty -= dt * f.sy
		a := math.Exp(-dt / tau)
		f.s0 *= a
		f.s1 *= a
		f.s2 *= a
		f.sy *= a
		f.sty *= a
		f.span += dt
	}
	f.last, f.have = t, true
	// The new point at the origin: t = 0.
	f.s0++
	f.sy += phi
}

// slope returns the fitted frequency, or fallback while the fit is degenerate.
func (f *ewls) slope(fallback float64) float64 {
	den := f.s0*f.s2 - f.s1*f.s1
	if !f.have || den <= 0 || f.s0 < 3 {
		return fallback
	}
	return (f.s0*f.sty - f.s1*f.sy) / den
}
