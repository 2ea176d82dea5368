package discipline

import (
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Temperature compensation of holdover.
//
// A board crystal's frequency follows its temperature (about 0.1 ppm/°C near room temperature for a cut
// that is not temperature-compensated), and in holdover-1h that is most of the hour's error: a ramp of
// 1 °C/h no servo can foresee from the phase record alone. A Raspberry Pi's SoC sensor is a proxy for the
// crystal's temperature: offset (the SoC runs hotter), late (thermal mass) and noisy (CPU load), but it
// moves with it. So while the reference is there the servo learns the crystal's frequency against the
// sensor, and in holdover it steers by the frequency the fit predicts from the current reading, with an
// error bound made of the fit's own uncertainty instead of the blind drift allowance. This is what
// chrony's tempcomp does with a configured polynomial, and what good GPSDOs do with a learned one.
//
// # The fit
//
// Every tcBlock seconds of accepted samples gives one observation: the mean free-running frequency over the
// block, (φ̂_end − φ̂_start)/Δt from the filter's free-running phase estimate (the steering cancels out of
// it), against the mean sensor reading over the block. The model is
//
//	y_block = a + k·(T_block − T0)
//
// where k is the temperature coefficient and a the frequency at the first block's temperature T0. a is not
// a constant: the crystal's frequency also wanders as a random walk independent of temperature, and a plain
// regression of y on T would blame that wander on whatever the temperature did meanwhile (over a day the
// walk is as large as the day's temperature effect). So the fit is a two-state Kalman filter in which a
// random-walks and k almost does not (tcCoeffWalk: a sliding memory of many hours, for a tempco that
// changes with age or mounting). The filter then learns k only from temperature changes faster than the
// wander can imitate, and its covariance says how well it knows k. The block's white noise (the phase
// estimate's noise over the block, the sensor's noise, what the model leaves out) is re-estimated from the
// innovations like the servo's measurement noise: E[ν²] = HPHᵀ + R. The temperature-free wander is not the
// servo's prior (which also holds the temperature noise): five filters run side by side with intensities of
// 0.1 to 1 times the prior (tcWanderFracs), and the one whose innovations are the likeliest over the last
// tcMemory blocks is used (maximum likelihood; on the simulator's board it picks 0.2 × 1.5e-3 = 3e-4 ppm/√s,
// the simulated walk). The temperature is used relative to T0, so the sensor's constant offset does not
// matter.
//
// Linear, not quadratic: over the few °C a box sees in a day the quadratic term of an AT-cut crystal near its
// turnover is well under the wander, and a third state would need a wider span to be determined. A curved
// crystal shows up as a larger residual R, which the trust test and the bound both see.
//
// # Trust
//
// The fit steers a holdover only when it has earned it: at least tcMinBlocks blocks (about 4.5 h), a
// temperature span of tcMinSpanC over the last tcSpanWindow of blocks (a coefficient learned from a
// constant temperature is the wander's, not the crystal's), a coefficient known to tcMaxRelSigma of itself
// or to tcMinSigma absolutely (a crystal with no tempco is a legitimate, trusted answer), and a residual
// under tcMaxResidual (the model explains the blocks). Otherwise the holdover runs exactly as without a
// sensor.
//
// # Holdover
//
// At the start of a trusted holdover (once the last phase slew is over) the servo notes the smoothed
// temperature T_ref and coasts on the frequency it would have coasted on anyway, plus k̂·(T − T_ref) at
// every reading (T smoothed over tcSmooth); k̂ and its σ are frozen for the holdover. The bound's drift
// allowance is replaced by
//
//   - the fit's uncertainty: BoundSigmas·σ_k·∫|T − T_ref|dt;
//   - the lag of the smoothed reading behind the crystal (tcSmooth plus Config.TempSensorLag for the sensor's
//     own): with k at its 5σ worst, |k|·L·max|T − T_ref|, times 1.5;
//   - the sensor's quantization: |k|·½step·h (the step is learned from the readings);
//   - the block residual as white frequency noise: HoldoverSigmas·√(R·tcBlock·h);
//   - a ramp at DriftPPMPerHour after the last reading, which the steering cannot have seen.
//
// The lag of the coasting estimate stays as it is. The spread stays a measured one, but of the compensated
// prediction: while the fit is trusted, the wander learner's trials also record what coasting with the
// compensation would have missed (see tcObs), and once enough of them have completed every horizon the
// compensated holdover's spread is HoldoverSigmas times their drift-free RMS. That is where most of the gain
// in the bound comes from when the temperature is restless: the uncompensated record counts the temperature
// noise as wander, the compensated one only what the sensor does not see.

const (
	tcBlock       = 256.0 // seconds of samples per fit observation
	tcMinBlocks   = 64
	tcSpanWindow  = 168 // blocks whose temperatures count for the span: 12 h
	tcMinSpanC    = 1.0
	tcMaxRelSigma = 0.25
	tcMinSigma    = 1e-8 // fractional per °C: 0.01 ppm/°C
	tcMaxResidual = 10e-9
	tcWarm        = 8           // blocks before the innovations count for R and the likelihood
	tcMemory      = 128         // blocks: the memory of R and the likelihood (9 h)
	tcCoeffWalk   = 1e-9 / 60   // fractional/°C per √s: 0.001 ppm/°C per hour
	tcSmooth      = 32.0        // seconds, the holdover's smoothing of the readings
	tcStale       = time.Minute // a last reading older than this at the start: the sensor is gone
	tcMinC        = -60.0
	tcMaxC        = 150.0
)

// tcWanderFracs are the temperature-free random walks the fit tries, as fractions of the servo's wander
// prior (which also covers temperature noise): the likeliest wins.
var tcWanderFracs = [...]float64{0.1, 0.2, 0.35, 0.6, 1}

// tempFit learns the crystal's frequency against the temperature sensor (see above).
type tempFit struct {
	// Readings.
	have       bool
	lastAt     timebase.Instant
	raw        float64 // last reading as given
	smooth     float64 // exponentially smoothed over tcSmooth
	res        float64 // smallest non-zero step between consecutive readings (the quantization), 0: unknown
	base       float64 // the first reading: j and obs are relative to it
	j          float64 // ∫(smooth − base)dt up to lastAt, °C·s
	readings   uint64
	rejected   uint64
	blockSum   float64
	blockCount int

	// The open block.
	open bool
	b0   timebase.Instant
	phi0 float64

	// The filters, one per wander intensity (tcWanderFracs), and which explains the blocks best.
	started   bool
	t0C       float64
	models    [len(tcWanderFracs)]tcModel
	n         int
	lastBlock timebase.Instant
	temps     []float64 // the last tcSpanWindow block temperatures, a ring
	tempsNext int
}

// tcModel is the fit's Kalman filter for one wander intensity: a (fractional frequency at T0), k (fractional
// per °C), their covariance, the block noise R and the exponentially forgotten log-likelihood of its
// innovations.
type tcModel struct {
	qa            float64
	a, k          float64
	paa, pak, pkk float64
	r             float64
	ll            float64
}

func newTempFit(wanderPPMPerSqrtS float64) tempFit {
	var f tempFit
	for i, m := range tcWanderFracs {
		w := wanderPPMPerSqrtS * 1e-6 * m
		f.models[i].qa = w * w
	}
	return f
}

// reading takes one sensor reading; it reports false for a reading that is not a temperature or not after
// the previous one.
func (f *tempFit) reading(at timebase.Instant, c float64) bool {
	if math.IsNaN(c) || c < tcMinC || c > tcMaxC || (f.have && at <= f.lastAt) {
		f.rejected++
		return false
	}
	f.readings++
	if !f.have {
		f.have, f.smooth, f.base = true, c, c
	} else {
		if d := math.Abs(c - f.raw); d > 0 && (f.res == 0 || d < f.res) {
			f.res = d
		}
		dt := at.Sub(f.lastAt).Seconds()
		f.j += (f.smooth - f.base) * dt
		f.smooth += (1 - math.Exp(-dt/tcSmooth)) * (c - f.smooth)
	}
	f.lastAt, f.raw = at, c
	if f.open && at >= f.b0 {
		f.blockSum += c
		f.blockCount++
	}
	return true
}

// obs is the fit's view at board instant t for the wander learner's compensated trials (see tcObs): usable
// when the fit is trusted and the sensor is answering.
func (f *tempFit) obs(t timebase.Instant) tcObs {
	if !f.have || t < f.lastAt || t.Sub(f.lastAt) > tcStale || !f.trusted() {
		return tcObs{}
	}
	ts := f.smooth - f.base
	return tcObs{ok: true, k: f.best().k, j: f.j + ts*t.Sub(f.lastAt).Seconds(), ts: ts}
}

// resetBlock drops the open block (a step, a re-learn or a gap broke the phase record); the fit stays.
func (f *tempFit) resetBlock() { f.open = false }

// observe takes the filter's free-running phase estimate at an accepted sample; gap is the time since the
// previous accepted sample.
func (f *tempFit) observe(t timebase.Instant, phi, gap float64) {
	if gap > maxGap {
		f.open = false
	}
	if !f.open {
		f.openBlock(t, phi)
		return
	}
	dt := t.Sub(f.b0).Seconds()
	if dt < tcBlock {
		return
	}
	if f.blockCount >= 3 {
		f.update(t, (phi-f.phi0)/dt, f.blockSum/float64(f.blockCount))
	}
	f.openBlock(t, phi)
}

func (f *tempFit) openBlock(t timebase.Instant, phi float64) {
	f.open, f.b0, f.phi0 = true, t, phi
	f.blockSum, f.blockCount = 0, 0
}

// update folds in one block: mean frequency y at mean temperature c, the block ending at t.
func (f *tempFit) update(t timebase.Instant, y, c float64) {
	if !f.started {
		f.started = true
		f.t0C = c
		for i := range f.models {
			m := &f.models[i]
			m.a, m.k = y, 0
			m.paa, m.pak = 1e-12, 0 // 1 ppm: unknown
			m.pkk = 1e-12           // 1 ppm/°C: far beyond any crystal's
			m.r = math.Pow(2e-9, 2) // 2 ppb, re-estimated
		}
		f.lastBlock = t
		f.n = 1
		f.pushTemp(c)
		return
	}
	dt := t.Sub(f.lastBlock).Seconds()
	f.lastBlock = t
	f.n++
	for i := range f.models {
		f.models[i].update(dt, y, c-f.t0C, f.n)
	}
	f.pushTemp(c)
}

func (m *tcModel) update(dt, y, d float64, n int) {
	m.paa += m.qa * dt
	m.pkk += tcCoeffWalk * tcCoeffWalk * dt
	hp := m.paa + 2*d*m.pak + d*d*m.pkk // HPHᵀ
	s := hp + m.r
	nu := y - (m.a + m.k*d)
	k0 := (m.paa + d*m.pak) / s
	k1 := (m.pak + d*m.pkk) / s
	m.a += k0 * nu
	m.k += k1 * nu
	m.paa -= k0 * k0 * s
	m.pak -= k0 * k1 * s
	m.pkk -= k1 * k1 * s
	if n <= tcWarm {
		return // acquisition: the innovations are the prior's
	}
	// How well this wander intensity explains the blocks, and the block noise from the innovation's excess
	// over the state's own uncertainty (E[ν²] = HPHᵀ + R), both with a memory of tcMemory blocks.
	const alpha = 1.0 / tcMemory
	m.ll = (1-alpha)*m.ll + alpha*-0.5*(math.Log(s)+nu*nu/s)
	m.r = math.Max(math.Pow(0.2e-9, 2), (1-alpha)*m.r+alpha*(nu*nu-hp))
}

// best is the model whose innovations are the likeliest: the wander intensity the record supports.
func (f *tempFit) best() *tcModel {
	b := &f.models[0]
	for i := range f.models {
		if f.models[i].ll > b.ll {
			b = &f.models[i]
		}
	}
	return b
}

func (f *tempFit) pushTemp(c float64) {
	if len(f.temps) < tcSpanWindow {
		f.temps = append(f.temps, c)
		return
	}
	f.temps[f.tempsNext] = c
	f.tempsNext = (f.tempsNext + 1) % len(f.temps)
}

func (f *tempFit) span() float64 {
	if len(f.temps) == 0 {
		return 0
	}
	lo, hi := f.temps[0], f.temps[0]
	for _, c := range f.temps[1:] {
		lo, hi = math.Min(lo, c), math.Max(hi, c)
	}
	return hi - lo
}

func (m *tcModel) sigmaK() float64 { return math.Sqrt(math.Max(m.pkk, 0)) }

// trusted says whether the fit has earned steering a holdover (see Trust above).
func (f *tempFit) trusted() bool {
	if !f.started || !f.have || f.n < tcMinBlocks || f.span() < tcMinSpanC {
		return false
	}
	m := f.best()
	return (m.sigmaK() <= tcMaxRelSigma*math.Abs(m.k) || m.sigmaK() <= tcMinSigma) && math.Sqrt(m.r) <= tcMaxResidual
}

// holdComp is a holdover steered by the temperature fit: the fit frozen at its start, and the integrals of
// the temperature excursion the steering and the bound need.
type holdComp struct {
	active bool
	tried  bool // this holdover's start has been considered (a fit not trusted then is not used later)
	from   timebase.Instant
	k, sk  float64 // coefficient and its σ, frozen
	r      float64 // block noise variance, frozen
	res    float64 // sensor quantization step
	tRef   float64 // smoothed temperature at the start
	lastAt timebase.Instant
	lastT  float64 // smoothed temperature in force since lastAt
	absInt float64 // ∫|T − T_ref| from the start to lastAt, °C·s
	maxDev float64 // largest |T − T_ref| seen
}

// comp is the frequency the crystal is predicted to have moved by since the start (fractional).
func (h *holdComp) comp() float64 {
	if !h.active {
		return 0
	}
	return h.k * (h.lastT - h.tRef)
}

// advance integrates the reading in force up to at and makes c (smoothed) the one in force from then.
func (h *holdComp) advance(at timebase.Instant, c float64) {
	if at <= h.lastAt {
		return
	}
	dt := at.Sub(h.lastAt).Seconds()
	h.absInt += math.Abs(h.lastT-h.tRef) * dt
	h.lastAt, h.lastT = at, c
	h.maxDev = math.Max(h.maxDev, math.Abs(c-h.tRef))
}

// allowance replaces the drift allowance in a compensated holdover, at board instant t (see the package
// comment at the top of this file); sigmas is Config.BoundSigmas, hold Config.HoldoverSigmas, lag the
// reading's lag behind the crystal in seconds, driftRate the configured ramp (fractional per second).
func (h *holdComp) allowance(t timebase.Instant, sigmas, hold, lag, driftRate float64) float64 {
	e := max(t.Sub(h.from).Seconds(), 0)
	abs := h.absInt
	ahead := 0.0
	if t > h.lastAt {
		ahead = t.Sub(h.lastAt).Seconds()
		abs += math.Abs(h.lastT-h.tRef) * ahead
	}
	kMax := math.Abs(h.k) + sigmas*h.sk
	fit := sigmas * h.sk * abs
	lagged := 1.5 * kMax * lag * h.maxDev
	quant := kMax * h.res / 2 * e
	resid := hold * math.Sqrt(h.r*tcBlock*e)
	future := driftRate * ahead * ahead / 2
	return fit + lagged + quant + resid + future
}

// TempFit is the temperature fit as people see it.
type TempFit struct {
	Have         bool             // a reading has arrived
	At           timebase.Instant // board time of the last reading
	Celsius      float64          // the last reading
	Readings     uint64           // accepted readings
	Rejected     uint64           // readings that were not temperatures, or not after the previous one
	Samples      int              // blocks folded into the fit
	CoeffPPMPerC float64          // learned frequency coefficient (positive: faster when warmer)
	SigmaPPMPerC float64          // its standard deviation
	SpanC        float64          // temperature span over the fit's window
	ResidualPPB  float64          // the block noise the model leaves unexplained, σ
	// WanderPPMPerSqrtS is the temperature-free random walk of the frequency the fit chose (the likeliest).
	WanderPPMPerSqrtS float64
	Trusted           bool // good enough to steer a holdover
	Compensating      bool // this holdover is steered by it
}

// TempFit returns the temperature fit's state.
func (s *Servo) TempFit() TempFit {
	f := &s.tc
	out := TempFit{Have: f.have, At: f.lastAt, Celsius: f.raw, Readings: f.readings, Rejected: f.rejected,
		Trusted: f.trusted(), Compensating: s.hc.active}
	if f.started {
		m := f.best()
		out.Samples = f.n
		out.CoeffPPMPerC = m.k * 1e6
		out.SigmaPPMPerC = m.sigmaK() * 1e6
		out.SpanC = f.span()
		out.ResidualPPB = math.Sqrt(m.r) * 1e9
		out.WanderPPMPerSqrtS = math.Sqrt(m.qa) * 1e6
	}
	return out
}

// Temperature feeds one reading of the temperature sensor (°C) taken at board instant at. Readings are
// learned against the frequency while samples flow; in a holdover steered by the fit each one moves the
// frequency correction to the fit's prediction. A reading out of [−60, 150] °C, NaN, or not after the
// previous one is counted and ignored.
func (s *Servo) Temperature(at timebase.Instant, celsius float64) {
	if !s.tc.reading(at, celsius) {
		return
	}
	if !s.hc.active || at <= s.hc.lastAt {
		return
	}
	s.version++
	s.hc.advance(at, s.tc.smooth)
	u := s.compensated(s.u[len(s.u)-1].u)
	if err := s.steer.SetFrequency(u * 1e6); err != nil {
		s.counts.SteerFails++
		s.lastErr = fmt.Errorf("discipline: SetFrequency(%g ppm): %w", u*1e6, err)
	}
}

// compensated is the correction applied for the correction u of the log: in a compensated holdover, minus
// the fit's predicted frequency change.
//
// The correction log (and so the filter's prediction, the bound's predicted phase and the free-running phase
// record) keeps the holdover's bare correction −ŷ: the model's frequency ŷ + k̂·ΔT steered by −ŷ − k̂·ΔT
// predicts exactly the phase that ŷ steered by −ŷ does, so nothing downstream changes, and a log entry every
// reading (every 2 s for hours) is not needed. The fit's frequency enters the filter when the holdover ends
// (endComp).
func (s *Servo) compensated(u float64) float64 {
	if !s.hc.active {
		return u
	}
	lim := s.cfg.MaxFrequencyPPM * 1e-6
	return math.Max(-lim, math.Min(lim, u-s.hc.comp()))
}

// startComp begins a compensated holdover at now if the fit is trusted; it is considered once per
// holdover, when the phase slew of the last sample is over (the correction is then the bare frequency).
func (s *Servo) startComp(now timebase.Instant) {
	if s.state != timebase.StateHoldover || s.hc.tried || s.slewEnd != 0 {
		return
	}
	s.hc.tried = true
	f := &s.tc
	if !f.trusted() || now < f.lastAt || now.Sub(f.lastAt) > tcStale {
		return
	}
	s.version++
	m := f.best()
	s.hc = holdComp{active: true, tried: true, from: now, k: m.k, sk: m.sigmaK(), r: m.r, res: f.res,
		tRef: f.smooth, lastAt: now, lastT: f.smooth}
}

// endComp folds a compensated holdover's predicted frequency into the filter's state, which has just been
// predicted to the sample ending it, and stops compensating.
func (s *Servo) endComp() {
	if s.hc.active {
		s.kf.y += s.hc.comp()
	}
	s.hc = holdComp{}
}
