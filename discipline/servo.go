package discipline

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Config parameterises the servo. Zero values take the defaults in DefaultConfig.
type Config struct {
	// StepThreshold: before the first lock, an offset beyond this is stepped away at once; under it the clock
	// is slewed, however long that takes at MaxFrequencyPPM.
	StepThreshold time.Duration
	// LockThreshold and LockSamples: the servo declares lock when the estimated phase plus three standard
	// deviations of its uncertainty stays under LockThreshold for LockSamples accepted samples in a row.
	LockThreshold time.Duration
	LockSamples   int
	// UnlockThreshold and UnlockSamples: an estimated phase beyond UnlockThreshold for UnlockSamples samples
	// drops lock (to locking).
	UnlockThreshold time.Duration
	UnlockSamples   int
	// PanicSamples: after the first lock the clock is never stepped, unless this many consecutive samples all
	// lie beyond StepThreshold (a real, confirmed jump of the reference, not one bad label).
	PanicSamples int
	// HoldoverAfter: no sample for this long after lock means holdover.
	HoldoverAfter time.Duration

	// MeasurementNoise is the starting guess for the σ of one offset sample (PPS capture jitter). The filter
	// re-estimates it from its innovations.
	MeasurementNoise time.Duration
	// WanderPPMPerSqrtS is the oscillator's random-walk frequency noise: its frequency moves by this·√τ ppm
	// over τ seconds. It sets how fast the filter forgets, and how fast the error bound grows in holdover.
	WanderPPMPerSqrtS float64
	// PhaseNoise is white frequency noise, as the σ of the phase wander over one second (sawtooth residue,
	// interrupt-path drift): a floor under the filter's confidence.
	PhaseNoise time.Duration
	// SlewTime: each sample plans to remove the estimated phase over this long, through frequency.
	SlewTime time.Duration
	// GateSigmas: a sample whose innovation exceeds this many standard deviations of its prediction is an
	// outlier; GateReset outliers in a row mean the world changed, and the filter re-learns from the sample.
	GateSigmas float64
	GateReset  int
	// BoundSigmas is how many standard deviations of the filter's phase uncertainty the error bound covers;
	// HoldoverSigmas how many RMS misses of the learned holdover record (see wanderLearner) it covers in a
	// long holdover.
	BoundSigmas    float64
	HoldoverSigmas float64

	// DriftPPMPerHour and MaxDriftPPM describe what the environment can do to the oscillator that the
	// random walk does not: the frequency may move by DriftPPMPerHour per hour (temperature slewing), up
	// to MaxDriftPPM in all (the crystal's temperature range times its coefficient). The holdover bound
	// allows for both, deterministically.
	DriftPPMPerHour float64
	MaxDriftPPM     float64

	// TempSensorLag is how far the temperature sensor's reading may lag the crystal's temperature (a SoC
	// sensor is on another die, with its own thermal mass). A holdover steered by the temperature fit (see
	// Temperature) allows for that lag in its bound.
	TempSensorLag time.Duration

	// Holdover limits on the error bound served: stratum 1 up to HoldoverStratum1Limit, then
	// HoldoverStratum (synchronized, but second-rate) up to HoldoverUnsyncLimit, then LI=3 stratum 16.
	HoldoverStratum1Limit time.Duration
	HoldoverUnsyncLimit   time.Duration
	HoldoverStratum       uint8

	MaxFrequencyPPM float64 // clamp on the applied correction (the kernel's ±500 ppm)
	InitialPPM      float64 // starting frequency correction (from the drift file)
	InitialErrorPPM float64 // its uncertainty; 0 means unknown (MaxFrequencyPPM/5)
	Precision       int8    // log2 s of the clock's read precision, for the snapshot
	RefID           string  // reference id served when synchronized
}

// DefaultConfig returns the defaults: a Raspberry Pi crystal in a warm box, PPS captured by GPIO interrupts.
func DefaultConfig() Config {
	return Config{
		StepThreshold:         128 * time.Millisecond,
		LockThreshold:         10 * time.Microsecond,
		LockSamples:           5,
		UnlockThreshold:       500 * time.Microsecond,
		UnlockSamples:         5,
		PanicSamples:          10,
		HoldoverAfter:         3 * time.Second,
		MeasurementNoise:      time.Microsecond,
		WanderPPMPerSqrtS:     1.5e-3,
		PhaseNoise:            5 * time.Nanosecond,
		SlewTime:              4 * time.Second,
		GateSigmas:            5,
		GateReset:             6,
		BoundSigmas:           5,
		HoldoverSigmas:        3,
		DriftPPMPerHour:       0.2,
		MaxDriftPPM:           2,
		TempSensorLag:         time.Minute,
		HoldoverStratum1Limit: 100 * time.Microsecond,
		HoldoverUnsyncLimit:   10 * time.Millisecond,
		HoldoverStratum:       2,
		MaxFrequencyPPM:       500,
		Precision:             -20,
		RefID:                 "PPS",
	}
}

// orDefault sets *v to def when it holds its type's zero value: an unset configuration field.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	orDefault(&c.StepThreshold, d.StepThreshold)
	orDefault(&c.LockThreshold, d.LockThreshold)
	orDefault(&c.LockSamples, d.LockSamples)
	orDefault(&c.UnlockThreshold, d.UnlockThreshold)
	orDefault(&c.UnlockSamples, d.UnlockSamples)
	orDefault(&c.PanicSamples, d.PanicSamples)
	orDefault(&c.HoldoverAfter, d.HoldoverAfter)
	orDefault(&c.MeasurementNoise, d.MeasurementNoise)
	orDefault(&c.WanderPPMPerSqrtS, d.WanderPPMPerSqrtS)
	orDefault(&c.PhaseNoise, d.PhaseNoise)
	orDefault(&c.SlewTime, d.SlewTime)
	orDefault(&c.GateSigmas, d.GateSigmas)
	orDefault(&c.GateReset, d.GateReset)
	orDefault(&c.BoundSigmas, d.BoundSigmas)
	orDefault(&c.HoldoverSigmas, d.HoldoverSigmas)
	orDefault(&c.DriftPPMPerHour, d.DriftPPMPerHour)
	orDefault(&c.MaxDriftPPM, d.MaxDriftPPM)
	orDefault(&c.TempSensorLag, d.TempSensorLag)
	orDefault(&c.HoldoverStratum1Limit, d.HoldoverStratum1Limit)
	orDefault(&c.HoldoverUnsyncLimit, d.HoldoverUnsyncLimit)
	if c.HoldoverStratum == 0 {
		c.HoldoverStratum = d.HoldoverStratum
	}
	orDefault(&c.MaxFrequencyPPM, d.MaxFrequencyPPM)
	orDefault(&c.InitialErrorPPM, c.MaxFrequencyPPM/5)
	if c.Precision == 0 {
		c.Precision = d.Precision
	}
	if c.RefID == "" {
		c.RefID = d.RefID
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	c.fill()
	finite := func(vs ...float64) bool {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
		return true
	}
	switch {
	case !finite(c.WanderPPMPerSqrtS, c.GateSigmas, c.BoundSigmas, c.DriftPPMPerHour, c.MaxDriftPPM, c.MaxFrequencyPPM, c.InitialPPM, c.InitialErrorPPM):
		return errors.New("discipline: a numeric setting is NaN or infinite")
	case c.StepThreshold < 0 || c.LockThreshold < 0 || c.UnlockThreshold < 0 || c.HoldoverAfter < 0:
		return errors.New("discipline: thresholds must not be negative")
	case c.LockThreshold >= c.UnlockThreshold:
		return fmt.Errorf("discipline: lock threshold %v must be below unlock threshold %v", c.LockThreshold, c.UnlockThreshold)
	case c.LockSamples < 0 || c.UnlockSamples < 0 || c.PanicSamples < 0 || c.GateReset < 0:
		return errors.New("discipline: sample counts must not be negative")
	case c.MeasurementNoise < 0 || c.PhaseNoise < 0 || c.WanderPPMPerSqrtS < 0 || c.WanderPPMPerSqrtS > 1:
		return fmt.Errorf("discipline: noise model (measurement %v, wander %g ppm/√s, phase %v) out of range", c.MeasurementNoise, c.WanderPPMPerSqrtS, c.PhaseNoise)
	case c.SlewTime < time.Second || c.SlewTime > time.Hour:
		return fmt.Errorf("discipline: slew time %v outside [1s, 1h]", c.SlewTime)
	case c.GateSigmas < 3 || c.BoundSigmas < 1 || c.HoldoverSigmas < 1:
		return fmt.Errorf("discipline: gate %g σ (min 3) or bound %g σ (min 1) too small", c.GateSigmas, c.BoundSigmas)
	case c.DriftPPMPerHour < 0 || c.MaxDriftPPM < 0:
		return errors.New("discipline: drift allowances must not be negative")
	case c.TempSensorLag < 0 || c.TempSensorLag > time.Hour:
		return fmt.Errorf("discipline: temperature sensor lag %v outside [0, 1h]", c.TempSensorLag)
	case c.HoldoverStratum1Limit <= 0 || c.HoldoverUnsyncLimit < c.HoldoverStratum1Limit:
		return fmt.Errorf("discipline: holdover limits %v (stratum 1) and %v (unsynchronized) must be positive and ordered", c.HoldoverStratum1Limit, c.HoldoverUnsyncLimit)
	case c.HoldoverStratum < 1 || c.HoldoverStratum > 15:
		return fmt.Errorf("discipline: holdover stratum %d outside [1, 15]", c.HoldoverStratum)
	case c.MaxFrequencyPPM <= 0 || c.MaxFrequencyPPM > 500:
		return fmt.Errorf("discipline: frequency limit %g ppm outside (0, 500]", c.MaxFrequencyPPM)
	case math.Abs(c.InitialPPM) > c.MaxFrequencyPPM:
		return fmt.Errorf("discipline: initial frequency %g ppm beyond the %g ppm limit", c.InitialPPM, c.MaxFrequencyPPM)
	case c.InitialErrorPPM < 0:
		return fmt.Errorf("discipline: initial frequency error %g ppm negative", c.InitialErrorPPM)
	case len(c.RefID) > 4:
		return fmt.Errorf("discipline: refid %q longer than 4 characters", c.RefID)
	}
	return nil
}

// Sample is one offset measurement: at board time At (the pulse), the board clock read Offset ahead of the
// reference. Now is the board time the sample is handed over (the label arrives after the pulse, so
// steering decided from it takes effect then, not at At); zero means At.
type Sample struct {
	At     timebase.Instant
	Offset time.Duration
	Now    timebase.Instant
}

// Counts are the servo's totals since start.
type Counts struct {
	Samples    uint64 // offered
	Accepted   uint64 // folded into the filter
	Outliers   uint64 // rejected by the innovation gate
	Relearned  uint64 // filter restarts after GateReset outliers in a row
	Late       uint64 // samples not after the previous one: ignored
	PanicHeld  uint64 // samples beyond the step threshold after lock, held back by the panic rule
	Steps      uint64
	Unlocks    uint64
	Holdovers  uint64
	SteerFails uint64 // steering calls that failed
}

// uChange is a correction in force from a board instant on.
type uChange struct {
	at timebase.Instant
	u  float64 // fractional
}

// Servo is the clock discipline. It is not safe for concurrent use: the daemon's event loop owns it and
// publishes its snapshots.
type Servo struct {
	cfg   Config
	steer timebase.Steerable

	state       timebase.SyncState
	kf          kalman
	haveFilter  bool
	t           timebase.Instant // the instant the filter's state describes: the last accepted sample
	r           float64          // measurement noise variance, s², re-estimated
	u           []uChange        // corrections since t, the first in force at t
	slewEnd     timebase.Instant // when the planned phase correction is complete (0: none pending)
	pending     bool             // a new estimate awaits its control at the next Tick
	cum         float64          // ∫u from the phase record's origin to t: free-running phase = θ − cum
	wander      wanderLearner
	tc          tempFit  // the crystal's frequency against the temperature sensor
	hc          holdComp // a holdover steered by tc
	lastOffset  time.Duration
	lastAt      timebase.Instant // the last sample offered (accepted or not)
	inLock      int
	outLock     int
	panicCount  int
	rejectRow   int
	everLocked  bool
	lockedSince timebase.Instant
	holdFrom    timebase.Instant
	counts      Counts
	lastErr     error

	// The bound's chord (see Snapshot) is costly enough to compute once per change, not once per reader:
	// version counts changes to the state it depends on.
	version   uint64
	chordVer  uint64
	chordFrom timebase.Instant
	chordB0   float64
	chordRate float64
}

// New makes a servo steering clock. It applies the initial frequency at once.
func New(cfg Config, clock timebase.Steerable) (*Servo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	s := &Servo{cfg: cfg, steer: clock, tc: newTempFit(cfg.WanderPPMPerSqrtS)}
	m := cfg.MeasurementNoise.Seconds()
	s.r = m * m
	s.kf.q = math.Pow(cfg.WanderPPMPerSqrtS*1e-6, 2)
	s.kf.qPhase = math.Pow(cfg.PhaseNoise.Seconds(), 2)
	u0 := cfg.InitialPPM * 1e-6
	s.kf.y = -u0
	s.kf.p11 = math.Pow(cfg.InitialErrorPPM*1e-6, 2)
	s.u = []uChange{{u: u0}}
	if err := clock.SetFrequency(cfg.InitialPPM); err != nil {
		return nil, fmt.Errorf("discipline: SetFrequency(%g ppm): %w", cfg.InitialPPM, err)
	}
	if err := clock.SetStatus(false, 0, 16*time.Second); err != nil {
		return nil, fmt.Errorf("discipline: SetStatus: %w", err)
	}
	return s, nil
}

// State returns the current state.
func (s *Servo) State() timebase.SyncState { return s.state }

// Steps returns how many times the clock was stepped.
func (s *Servo) Steps() uint64 { return s.counts.Steps }

// Counts returns the servo's totals.
func (s *Servo) Counts() Counts { return s.counts }

// FrequencyPPM returns the applied frequency correction (the frequency estimate plus any phase slew, and in a
// temperature-compensated holdover the fit's prediction).
func (s *Servo) FrequencyPPM() float64 { return s.compensated(s.u[len(s.u)-1].u) * 1e6 }

// Drift returns what the drift file should keep: the correction that cancels the oscillator's estimated
// frequency error, and that estimate's standard deviation, in ppm. ok is false until the filter has one.
func (s *Servo) Drift() (ppm, errPPM float64, ok bool) {
	if !s.haveFilter {
		return 0, 0, false
	}
	return -s.kf.y * 1e6, math.Sqrt(s.kf.p11) * 1e6, true
}

// MeasurementNoise returns the current estimate of one sample's noise σ (the PPS jitter).
func (s *Servo) MeasurementNoise() time.Duration { return seconds(math.Sqrt(s.r)) }

// LastError returns the last steering error, if any (the servo keeps running: the next sample retries).
func (s *Servo) LastError() error { return s.lastErr }

func seconds(x float64) time.Duration { return time.Duration(math.Round(x * 1e9)) }

// Sample feeds one offset measurement and steers. It returns true when it stepped the clock, so that the
// caller drops measurements taken before the step.
func (s *Servo) Sample(m Sample) (stepped bool) {
	s.version++
	s.counts.Samples++
	now := m.Now
	if now < m.At {
		now = m.At
	}
	if s.lastAt != 0 && m.At <= s.lastAt {
		s.counts.Late++
		return false
	}
	s.lastAt = m.At
	s.lastOffset = m.Offset
	x := m.Offset.Seconds()
	beyond := m.Offset.Abs() > s.cfg.StepThreshold

	switch {
	case beyond && !s.everLocked:
		s.step(m, now)
		return true
	case beyond:
		s.panicCount++
		if s.panicCount >= s.cfg.PanicSamples {
			s.step(m, now)
			return true
		}
		// One bad label or pulse must not move served time: hold it back.
		s.counts.PanicHeld++
		return false
	}
	s.panicCount = 0

	if !s.haveFilter {
		s.initFilter(m.At, x)
		s.counts.Accepted++
		s.state = timebase.StateLocking
		s.steerFrom(m, now)
		s.reportStatus(now)
		return false
	}

	dt := m.At.Sub(s.t).Seconds()
	s.kf.predict(dt, s.integral(s.t, m.At))
	// A temperature-compensated holdover ends here: from now on the filter's frequency carries the
	// predicted change (endComp).
	s.endComp()
	nu := x - s.kf.theta
	sInn := s.kf.p00 + s.r
	if nu*nu > s.cfg.GateSigmas*s.cfg.GateSigmas*sInn {
		s.counts.Outliers++
		s.rejectRow++
		// Winsorised contribution to the noise estimate: a capture path noisier than believed widens the
		// gate instead of rejecting everything.
		s.adaptR(9*sInn, s.kf.p00)
		if s.rejectRow < s.cfg.GateReset {
			// The prediction stands in for the sample: the state is now at At, uncertainty grown.
			s.rebase(m.At)
			s.steerFrom(m, now)
			return false
		}
		// Persistent disagreement: the reference or the oscillator really moved. Re-learn the phase from the
		// sample, and open the frequency up enough to explain the disagreement over the rejected run.
		s.counts.Relearned++
		span := math.Max(dt*float64(s.rejectRow), 1)
		s.kf.theta = x
		s.kf.p00 = s.r
		s.kf.p01 = 0
		s.kf.p11 += math.Pow(nu/span, 2)
		s.rejectRow = 0
		s.rebase(m.At)
		s.wander.reset()
		s.tc.resetBlock()
	} else {
		s.rejectRow = 0
		s.adaptR(nu*nu, s.kf.p00)
		s.kf.update(x, s.r)
		s.counts.Accepted++
		s.rebase(m.At)
		s.wander.observeTemp(m.At, s.kf.theta-s.cum, s.kf.y, dt, s.tc.obs(m.At))
		s.tc.observe(m.At, s.kf.theta-s.cum, dt)
	}
	s.steerFrom(m, now)
	s.lockLogic(m.At)
	s.reportStatus(now)
	return false
}

// steerFrom applies the control for a new estimate: at once when the caller said when the sample was handed
// over, else at the next Tick. A correction applied at an instant the filter does not know would enter its
// prediction at the wrong time (the label, and so the sample, arrives up to a second after the pulse), and
// while the frequency is being learned that mismatch is large enough to make the loop ring; a correction
// applied up to a second late, at a known instant, costs nothing the filter cannot predict.
func (s *Servo) steerFrom(m Sample, now timebase.Instant) {
	if m.Now != 0 {
		s.control(now)
		s.pending = false
		return
	}
	s.pending = true
}

// adaptR moves the measurement-noise estimate towards an innovation's excess over the prediction's own
// variance: E[ν²] = P⁻θθ + R. A 128-sample memory follows a change of capture path within minutes while a
// single sample moves it by under 1 %.
func (s *Servo) adaptR(nu2, pPred float64) {
	const alpha = 1.0 / 128
	if pPred > 4*s.r {
		// The innovation is mostly the filter's own uncertainty (acquisition, after a gap): it says little
		// about the capture noise.
		return
	}
	e := nu2 - pPred
	floor := math.Pow(1e-9, 2) // 1 ns: the timestamp resolution
	s.r = math.Max(floor, (1-alpha)*s.r+alpha*e)
}

func (s *Servo) initFilter(at timebase.Instant, x float64) {
	s.haveFilter = true
	s.wander.reset()
	s.tc.resetBlock()
	s.hc = holdComp{}
	s.t, s.cum = 0, 0
	s.kf.theta = x
	s.kf.p00 = s.r
	s.kf.p01 = 0
	s.rejectRow = 0
	s.rebase(at)
}

// rebase moves the correction log's origin to at (the filter now describes that instant).
func (s *Servo) rebase(at timebase.Instant) {
	if s.t != 0 && at > s.t {
		s.cum += s.integral(s.t, at)
	}
	cur := s.uAt(at)
	keep := s.u[:0]
	keep = append(keep, uChange{at: at, u: cur})
	for _, c := range s.u {
		if c.at > at {
			keep = append(keep, c)
		}
	}
	s.u = keep
	s.t = at
}

// uAt returns the correction in force at board instant t (t ≥ the log's origin).
func (s *Servo) uAt(t timebase.Instant) float64 {
	u := s.u[0].u
	for _, c := range s.u[1:] {
		if c.at > t {
			break
		}
		u = c.u
	}
	return u
}

// integral returns ∫u over [from, to] from the correction log, extended past its end by the plan: the last
// correction until slewEnd, then the bare frequency estimate.
func (s *Servo) integral(from, to timebase.Instant) float64 {
	var sum float64
	for i, c := range s.u {
		a := max(c.at, from)
		b := to
		if i+1 < len(s.u) {
			b = min(s.u[i+1].at, to)
		} else if s.slewEnd != 0 && s.slewEnd > a && s.slewEnd < to {
			sum += c.u * s.slewEnd.Sub(a).Seconds()
			a, b = s.slewEnd, to
			sum += -s.kf.y * b.Sub(a).Seconds()
			break
		}
		if b > a {
			sum += c.u * b.Sub(a).Seconds()
		}
	}
	return sum
}

// phaseAt predicts the phase at board instant t from the filter and the correction plan.
func (s *Servo) phaseAt(t timebase.Instant) float64 {
	return s.kf.theta + s.kf.y*t.Sub(s.t).Seconds() + s.integral(s.t, t)
}

// control plans the correction from now: cancel the oscillator's estimated frequency error and remove the
// predicted phase over SlewTime (longer if that would exceed the frequency limit), then return to the bare
// frequency estimate. With the filter's phase estimate already averaged, a short slew time passes little noise
// to the clock and follows the oscillator closely.
func (s *Servo) control(now timebase.Instant) {
	theta := s.phaseAt(now)
	lim := s.cfg.MaxFrequencyPPM * 1e-6
	base := math.Max(-lim, math.Min(lim, -s.kf.y))
	tc := s.cfg.SlewTime.Seconds()
	u := base - theta/tc
	u = math.Max(-lim, math.Min(lim, u))
	rate := base - u // phase removed per second
	dur := tc
	if rate != 0 {
		dur = theta / rate
	}
	if dur <= 0 || math.IsNaN(dur) {
		u, dur = base, 0
	}
	s.setU(now, u)
	s.slewEnd = 0
	if dur > 0 {
		s.slewEnd = now.Add(seconds(dur))
	}
}

func (s *Servo) setU(at timebase.Instant, u float64) {
	s.version++
	last := &s.u[len(s.u)-1]
	if at < last.at {
		at = last.at
	}
	if at == last.at && len(s.u) > 1 {
		last.u = u
	} else if u != last.u {
		s.u = append(s.u, uChange{at: at, u: u})
	}
	if err := s.steer.SetFrequency(u * 1e6); err != nil {
		s.counts.SteerFails++
		s.lastErr = fmt.Errorf("discipline: SetFrequency(%g ppm): %w", u*1e6, err)
	}
}

func (s *Servo) lockLogic(at timebase.Instant) {
	est := math.Abs(s.kf.theta) + 3*math.Sqrt(s.kf.p00)
	if est < s.cfg.LockThreshold.Seconds() {
		s.inLock++
	} else {
		s.inLock = 0
	}
	if math.Abs(s.kf.theta) > s.cfg.UnlockThreshold.Seconds() {
		s.outLock++
	} else {
		s.outLock = 0
	}
	switch s.state {
	case timebase.StateLocking, timebase.StateHoldover:
		if s.inLock >= s.cfg.LockSamples || (s.state == timebase.StateHoldover && s.inLock > 0) {
			s.state = timebase.StateLocked
			s.everLocked = true
			s.lockedSince = at
			s.holdFrom = 0
		} else if s.state == timebase.StateHoldover {
			s.state = timebase.StateLocking
			s.holdFrom = 0
		}
	case timebase.StateLocked:
		if s.outLock >= s.cfg.UnlockSamples {
			s.state = timebase.StateLocking
			s.lockedSince = 0
			s.inLock = 0
			s.counts.Unlocks++
		}
	}
}

func (s *Servo) step(m Sample, now timebase.Instant) {
	s.state = timebase.StateStepping
	// The offset was measured at At; by now the clock has run on at its frequency error.
	d := -m.Offset
	if s.haveFilter {
		d -= seconds((s.kf.y + s.uAt(now)) * now.Sub(m.At).Seconds())
	}
	if err := s.steer.Step(d); err != nil {
		s.counts.SteerFails++
		s.lastErr = fmt.Errorf("discipline: Step(%v): %w", d, err)
		return
	}
	s.counts.Steps++
	s.panicCount = 0
	s.inLock, s.outLock = 0, 0
	s.lockedSince = 0
	s.holdFrom = 0
	s.hc = holdComp{}
	// The phase is new; the frequency estimate (and its uncertainty) carries over.
	s.haveFilter = false
	s.pending = false
	s.lastAt = 0
	s.slewEnd = 0
	s.reportStatus(now)
}

// Tick advances the state machine without a sample: it ends a completed phase slew and enters holdover when
// samples stop after lock. It returns when it wants to be called again.
func (s *Servo) Tick(now timebase.Instant) timebase.Instant {
	s.version++
	if s.pending && s.haveFilter && now >= s.t {
		s.control(now)
		s.pending = false
	}
	if s.slewEnd != 0 && now >= s.slewEnd {
		lim := s.cfg.MaxFrequencyPPM * 1e-6
		s.setU(s.slewEnd, math.Max(-lim, math.Min(lim, -s.kf.y)))
		s.slewEnd = 0
	}
	if s.haveFilter && s.everLocked && s.state != timebase.StateHoldover && now.Sub(s.t) > s.cfg.HoldoverAfter {
		s.state = timebase.StateHoldover
		s.holdFrom = s.t
		// Coast on the frequency estimate the record says predicts best (see wanderLearner).
		if _, y, ok := s.wander.best(s.kf.y); ok && y != s.kf.y {
			s.kf.y = y
			lim := s.cfg.MaxFrequencyPPM * 1e-6
			s.setU(now, math.Max(-lim, math.Min(lim, -y)))
			s.slewEnd = 0
		}
		s.lockedSince = 0
		s.inLock = 0
		s.counts.Holdovers++
		s.hc = holdComp{}
	}
	s.startComp(now)
	s.reportStatus(now)
	next := now.Add(time.Second)
	if s.slewEnd != 0 && s.slewEnd < next {
		next = s.slewEnd
	}
	return next
}

func (s *Servo) reportStatus(now timebase.Instant) {
	snap := s.Snapshot(now)
	synced := snap.Leap != timebase.LeapUnsync
	if err := s.steer.SetStatus(synced, snap.EstError, snap.RootDispersionAt(now)); err != nil {
		s.counts.SteerFails++
		s.lastErr = fmt.Errorf("discipline: SetStatus: %w", err)
	}
}
