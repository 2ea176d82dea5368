// Package discipline turns offset samples (board clock minus the GPS/PPS reference) into steering commands
// for a timebase.Steerable, runs the sync state machine, and publishes the immutable Snapshot the NTP server
// serves from.
//
// States: unsynced (no sample yet), stepping (the first sample is past the step threshold: the clock is
// stepped once), locking (within the threshold: a few samples estimate the frequency error, then a PI loop
// slews), locked (|offset| under the lock threshold for LockSamples samples in a row), holdover (locked once,
// and no sample for HoldoverAfter). Before the first lock the snapshot says LI=3, stratum 16, so no client
// ever takes time from a box that has not proven itself.
//
// The loop is a proportional-integral controller on phase, acting through frequency only (slew, never step,
// once locking): every sample sets the frequency correction to -(I + Kp*x), with I += Ki*x, x the offset in
// seconds and the gains per second of sample interval. With Kp=0.2, Ki=0.02 the closed loop's poles sit at
// |z|≈0.89 per second, a time constant of about 9 s: fast enough to lock within a minute from a ±50 ppm
// oscillator once the frequency estimate has removed the bulk, slow enough to average GPIO capture jitter of
// a microsecond down by an order of magnitude. This is the foundation's servo; the PPS/servo issue replaces it
// with one argued from simulation figures.
//
// After lock the clock is never stepped unless the panic rule fires: PanicSamples consecutive samples all
// beyond the step threshold (a real time jump of the reference, confirmed, not one bad label).
//
// The error bound is honest by construction: while locked the root dispersion is |offset| + 3·jitter + the
// clock's precision, growing at 1 ppm between samples (chrony's default maxclockerror); in holdover it grows at
// the holdover rate from the last good sample, and past MaxHoldoverError the box says it is unsynchronized.
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
	StepThreshold    time.Duration // step instead of slewing past this offset (before first lock)
	LockThreshold    time.Duration // |offset| under this counts towards lock
	LockSamples      int           // consecutive samples under LockThreshold to declare lock
	UnlockThreshold  time.Duration // |offset| over this for UnlockSamples samples drops lock to locking
	UnlockSamples    int
	PanicSamples     int           // after lock, consecutive samples beyond StepThreshold before a step is allowed
	HoldoverAfter    time.Duration // no sample for this long after lock: holdover
	MaxHoldoverError time.Duration // holdover bound past which the box says it is unsynchronized
	HoldoverRate     float64       // growth of the error bound in holdover, seconds per second
	Kp, Ki           float64       // loop gains per second of sample interval
	MaxFrequencyPPM  float64       // clamp on the frequency correction
	InitialPPM       float64       // starting frequency correction (e.g. from a drift file)
	Precision        int8          // log2 s of the clock's read precision, for the snapshot
	RefID            string        // reference id served when locked
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		StepThreshold:    128 * time.Millisecond,
		LockThreshold:    10 * time.Microsecond,
		LockSamples:      10,
		UnlockThreshold:  500 * time.Microsecond,
		UnlockSamples:    5,
		PanicSamples:     10,
		HoldoverAfter:    3 * time.Second,
		MaxHoldoverError: 10 * time.Millisecond,
		HoldoverRate:     5e-6,
		Kp:               0.2,
		Ki:               0.02,
		MaxFrequencyPPM:  500,
		Precision:        -20,
		RefID:            "PPS",
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.StepThreshold, d.StepThreshold)
	setDur(&c.LockThreshold, d.LockThreshold)
	setInt(&c.LockSamples, d.LockSamples)
	setDur(&c.UnlockThreshold, d.UnlockThreshold)
	setInt(&c.UnlockSamples, d.UnlockSamples)
	setInt(&c.PanicSamples, d.PanicSamples)
	setDur(&c.HoldoverAfter, d.HoldoverAfter)
	setDur(&c.MaxHoldoverError, d.MaxHoldoverError)
	setF(&c.HoldoverRate, d.HoldoverRate)
	setF(&c.Kp, d.Kp)
	setF(&c.Ki, d.Ki)
	setF(&c.MaxFrequencyPPM, d.MaxFrequencyPPM)
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
	switch {
	case c.StepThreshold < 0 || c.LockThreshold < 0 || c.UnlockThreshold < 0:
		return errors.New("discipline: thresholds must not be negative")
	case c.LockThreshold >= c.UnlockThreshold:
		return fmt.Errorf("discipline: lock threshold %v must be below unlock threshold %v", c.LockThreshold, c.UnlockThreshold)
	case c.Kp <= 0 || c.Kp >= 1 || c.Ki <= 0 || c.Ki >= c.Kp:
		return fmt.Errorf("discipline: gains Kp=%g Ki=%g out of the stable range 0 < Ki < Kp < 1", c.Kp, c.Ki)
	case math.Abs(c.InitialPPM) > c.MaxFrequencyPPM:
		return fmt.Errorf("discipline: initial frequency %g ppm beyond the %g ppm limit", c.InitialPPM, c.MaxFrequencyPPM)
	case len(c.RefID) > 4:
		return fmt.Errorf("discipline: refid %q longer than 4 characters", c.RefID)
	}
	return nil
}

// Sample is one offset measurement: at board time At, the board clock read Offset ahead of the reference.
type Sample struct {
	At     timebase.Instant
	Offset time.Duration
}

// Servo is the clock discipline. It is not safe for concurrent use: the daemon's event loop owns it and
// publishes its snapshots.
type Servo struct {
	cfg   Config
	steer timebase.Steerable

	state       timebase.SyncState
	freqPPM     float64 // applied correction
	integ       float64 // integral term, fractional frequency
	lastSample  Sample
	haveSample  bool
	fll         []Sample // samples collected after a step to estimate frequency
	inLock      int      // consecutive samples under the lock threshold
	outLock     int      // consecutive samples over the unlock threshold
	panicCount  int
	everLocked  bool
	lockedSince timebase.Instant
	holdFrom    timebase.Instant
	steps       uint64
	jitter      float64 // exponentially weighted RMS of offsets, seconds
	lastErr     error
}

// New makes a servo steering clock. It applies the initial frequency at once.
func New(cfg Config, clock timebase.Steerable) (*Servo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	s := &Servo{cfg: cfg, steer: clock, freqPPM: cfg.InitialPPM, integ: -cfg.InitialPPM * 1e-6}
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
func (s *Servo) Steps() uint64 { return s.steps }

// FrequencyPPM returns the applied frequency correction.
func (s *Servo) FrequencyPPM() float64 { return s.freqPPM }

// LastError returns the last steering error, if any (the servo keeps running: the next sample retries).
func (s *Servo) LastError() error { return s.lastErr }

// Sample feeds one offset measurement and steers. It returns true when it stepped the clock, so that the
// caller drops measurements taken before the step.
func (s *Servo) Sample(m Sample) (stepped bool) {
	x := m.Offset.Seconds()
	dt := 1.0
	if s.haveSample && m.At > s.lastSample.At {
		dt = m.At.Sub(s.lastSample.At).Seconds()
		if dt > 16 {
			dt = 16 // after a long gap the sample is still one sample, not sixteen seconds of integration
		}
	}
	abs := math.Abs(x)
	s.jitter = math.Sqrt(0.9*s.jitter*s.jitter + 0.1*x*x)
	if s.state == timebase.StateHoldover {
		// Back from holdover: a reference that agrees with the free-running clock resumes the lock at
		// once; one that does not must earn it again.
		if abs < s.cfg.UnlockThreshold.Seconds() {
			s.state = timebase.StateLocked
			s.lockedSince = m.At
		} else {
			s.state = timebase.StateLocking
		}
		s.holdFrom = 0
	}

	step := false
	switch {
	case !s.everLocked && abs > s.cfg.StepThreshold.Seconds():
		step = true
	case s.everLocked && abs > s.cfg.StepThreshold.Seconds():
		s.panicCount++
		step = s.panicCount >= s.cfg.PanicSamples
		if !step {
			// Ignore the sample: one bad label or pulse must not move served time.
			s.lastSample, s.haveSample = m, true
			return false
		}
	default:
		s.panicCount = 0
	}
	if step {
		s.doStep(m)
		return true
	}

	if s.state == timebase.StateUnsynced {
		s.state = timebase.StateLocking
		s.fll = make([]Sample, 0, 4)
	} else if s.state == timebase.StateStepping {
		s.state = timebase.StateLocking
	}
	// Right after a step (or at start) the frequency may be off by tens of ppm; a PI loop would take minutes
	// to integrate that away. Hold the frequency for a few samples and measure the slope: slope = e + c, the
	// oscillator's error plus the correction applied, so the integrator that cancels e is slope - c.
	if s.fll != nil {
		s.fll = append(s.fll, m)
		if len(s.fll) < 4 {
			s.lastSample, s.haveSample = m, true
			s.reportStatus(m.At)
			return false
		}
		s.integ = fitSlope(s.fll) - s.freqPPM*1e-6
		s.fll = nil
	} else {
		s.integ += s.cfg.Ki * x * dt
	}
	lim := s.cfg.MaxFrequencyPPM * 1e-6
	corr := -(s.integ + s.cfg.Kp*x)
	if math.Abs(corr) > lim {
		// Saturated: stop integrating (conditional integration), or the integrator winds up while the
		// clock slews at the limit and overshoots by as much afterwards.
		s.integ -= s.cfg.Ki * x * dt
		s.integ = math.Max(-lim, math.Min(lim, s.integ))
	}
	s.setFrequency(corr * 1e6)

	if abs < s.cfg.LockThreshold.Seconds() {
		s.inLock++
	} else {
		s.inLock = 0
	}
	if abs > s.cfg.UnlockThreshold.Seconds() {
		s.outLock++
	} else {
		s.outLock = 0
	}
	switch s.state {
	case timebase.StateLocking:
		if s.inLock >= s.cfg.LockSamples {
			s.state = timebase.StateLocked
			s.everLocked = true
			s.lockedSince = m.At
		}
	case timebase.StateLocked:
		if s.outLock >= s.cfg.UnlockSamples {
			s.state = timebase.StateLocking
			s.lockedSince = 0
			s.inLock = 0
		}
	}
	s.lastSample, s.haveSample = m, true
	s.reportStatus(m.At)
	return false
}

func (s *Servo) doStep(m Sample) {
	s.state = timebase.StateStepping
	if err := s.steer.Step(-m.Offset); err != nil {
		s.lastErr = fmt.Errorf("discipline: Step(%v): %w", -m.Offset, err)
		return
	}
	s.steps++
	s.panicCount = 0
	s.inLock, s.outLock = 0, 0
	s.lockedSince = 0
	s.fll = make([]Sample, 0, 4)
	s.jitter = 0
	s.haveSample = false
}

func (s *Servo) setFrequency(ppm float64) {
	max := s.cfg.MaxFrequencyPPM
	if ppm > max {
		ppm = max
	} else if ppm < -max {
		ppm = -max
	}
	s.freqPPM = ppm
	if err := s.steer.SetFrequency(ppm); err != nil {
		s.lastErr = fmt.Errorf("discipline: SetFrequency(%g ppm): %w", ppm, err)
	}
}

func (s *Servo) reportStatus(now timebase.Instant) {
	snap := s.Snapshot(now)
	synced := snap.Leap != timebase.LeapUnsync
	if err := s.steer.SetStatus(synced, snap.EstError, snap.RootDispersionAt(now)); err != nil {
		s.lastErr = fmt.Errorf("discipline: SetStatus: %w", err)
	}
}

// fitSlope returns the least-squares slope of offset over time, in seconds per second.
func fitSlope(ss []Sample) float64 {
	t0 := ss[0].At
	var st, sx, stt, stx float64
	for _, m := range ss {
		t := m.At.Sub(t0).Seconds()
		x := m.Offset.Seconds()
		st += t
		sx += x
		stt += t * t
		stx += t * x
	}
	n := float64(len(ss))
	den := n*stt - st*st
	if den == 0 {
		return 0
	}
	return (n*stx - st*sx) / den
}

// Tick advances the state machine without a sample: it enters holdover when samples stop after lock.
// It returns when it wants to be called again.
func (s *Servo) Tick(now timebase.Instant) timebase.Instant {
	if s.state == timebase.StateLocked && s.haveSample && now.Sub(s.lastSample.At) > s.cfg.HoldoverAfter {
		s.state = timebase.StateHoldover
		s.holdFrom = s.lastSample.At
		s.lockedSince = 0
		s.inLock = 0
		s.reportStatus(now)
	}
	return now.Add(time.Second)
}

// Snapshot returns what the server should serve, as of now.
func (s *Servo) Snapshot(now timebase.Instant) *timebase.Snapshot {
	jit := time.Duration(s.jitter * 1e9)
	prec := time.Duration(math.Ldexp(1e9, int(s.cfg.Precision)))
	off := s.lastSample.Offset
	if off < 0 {
		off = -off
	}
	est := off + jit + prec
	base := &timebase.Snapshot{
		State:        s.state,
		Precision:    s.cfg.Precision,
		Offset:       s.lastSample.Offset,
		FrequencyPPM: s.freqPPM,
		Jitter:       jit,
		EstError:     est,
		LockedSince:  s.lockedSince,
		HoldoverFrom: s.holdFrom,
	}
	switch s.state {
	case timebase.StateLocked:
		base.Leap = timebase.LeapNone
		base.Stratum = 1
		base.RefID = timebase.RefIDFromString(s.cfg.RefID)
		base.RefTime = s.lastSample.At
		base.RootDispersion = off + 3*jit + prec
		base.DispersionRate = 1e-6
		return base
	case timebase.StateHoldover:
		base.RefID = timebase.RefIDFromString(s.cfg.RefID)
		base.RefTime = s.holdFrom
		base.RootDispersion = off + 3*jit + prec
		base.DispersionRate = s.cfg.HoldoverRate
		base.EstError = base.RootDispersionAt(now)
		if base.EstError <= s.cfg.MaxHoldoverError {
			base.Leap = timebase.LeapNone
			base.Stratum = 1
			return base
		}
	}
	u := timebase.Unsynchronized()
	u.State = base.State
	u.Precision = base.Precision
	u.Offset, u.FrequencyPPM, u.Jitter, u.EstError = base.Offset, base.FrequencyPPM, base.Jitter, base.EstError
	u.HoldoverFrom = base.HoldoverFrom
	if base.RefTime != 0 {
		u.RefID, u.RefTime = base.RefID, base.RefTime
	}
	return u
}
