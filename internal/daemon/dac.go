package daemon

// The optional DAC loop: an external oscillator (TCXO/OCXO) tuned by a DAC, its divided 1PPS captured by a
// second GPIO line. The Core pairs each oscillator edge with the GPS edge of its second (discipline.DACPairer),
// hands the phase difference to discipline.DACController, and gives every command it returns to the DACSteer
// the caller supplied (the I2C edge on the appliance, a fake in tests: never a concrete edge here).
//
// While the GPS is good the board clock is disciplined from the GPS PPS as before and the oscillator is only
// steered. When the board servo loses the GPS (its holdover) and the DAC loop has locked, the oscillator
// becomes the board's reference: each oscillator edge stamped b marks the second S at true time
// S − (θ̂ + Offset) + latency, so the board's offset is
//
//	b − latency − S + θ̂ + Offset,   S the whole second nearest to b − latency + θ̂ + Offset
//
// (θ̂ the controller's phase estimate predicted to b, Offset the phase it adopted in software, latency the
// oscillator pulse's capture delay: Config.PPSBias − DAC PPSBias). The board clock is far better than half a
// second, so its own second names S. The servo takes those samples like GPS ones and stays locked; the
// served snapshot says holdover and adds the controller's error bound to the servo's, and degrades stratum
// and LI with the servo's holdover limits applied to that sum. The first GPS sample back ends it.
//
// Pairs reach the controller only once the board servo has locked (see dacSample): the two pulses are up to
// half a second apart on the board's timescale, so a board still slewing at ppm scales their difference by
// microseconds. With a remembered state this halves the time to the DAC loop's lock in the daemon's
// simulation (TestDACRestartFromLearnedState: 2m4s instead of 3m18s ungated, 7m24s without the state).
//
// A restart resumes from what an earlier run learned when the caller sets DACConfig.Controller.Learned (the
// DAC state file, loaded by cmd/gpsntpd): the controller then starts at the learned code with the learned
// gain and checks it instead of calibrating; DACView.Learned is what to save.
//
// The controller's timescale is the board clock with the servo's steps taken out: a boot-time step of hours
// must not make every later sample look older than the last one (the controller drops those as late).

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/pps"
)

// DACSteer applies the DAC controller's commands to the hardware: it writes DACCommand.Code when Write is
// set and reloads the oscillator's divider on the next GPS pulse when Sync is set (an implementation without
// a sync line goes with DACConfig.Controller.NoSync, and never sees Sync).
type DACSteer interface {
	Apply(discipline.DACCommand) error
}

// DACConfig is the optional DAC loop. Steer nil means none; then Controller must be zero.
type DACConfig struct {
	Controller discipline.DACConfig
	Steer      DACSteer
}

// DACView is the DAC loop's picture for status readers.
type DACView struct {
	discipline.DACStatus
	Bound   time.Duration // the oscillator's phase error bound now (BoundOK false: nothing promised yet)
	BoundOK bool
	// Following: the board clock is following the oscillator (the GPS is lost), since FollowingSince.
	Following      bool
	FollowingSince timebase.Instant
	OscEdges       uint64 // oscillator edges fed
	Pairs          uint64 // GPS and oscillator edges paired into samples
	Unpaired       uint64 // edges that found no partner
	Unsettled      uint64 // pairs withheld while the board servo had not locked (its rate not yet settled)
	ApplyFails     uint64
	Err            error // the last failure to apply a command
	// Learned is what the controller has learned, for the DAC state file (LearnedOK false: nothing worth
	// keeping yet; Model and Written are the caller's to set).
	Learned   discipline.DACLearned
	LearnedOK bool
}

type dacLoop struct {
	ctl     *discipline.DACController
	steer   DACSteer
	pair    discipline.DACPairer
	center  uint32
	latency time.Duration // capture delay of the oscillator's pulse
	sigmas  float64

	filterAt    timebase.Instant // controller time of the filter's last update
	lastFilter  [3]float64       // phase, phase σ, frequency: a change means the filter moved to a sample
	syncPending bool

	following  bool
	followFrom timebase.Instant // the first oscillator sample the board servo took
	holdFrom   timebase.Instant // the servo's holdover start: when the GPS was last heard
	oscEdges   uint64
	unsettled  uint64 // samples withheld while the board servo had not locked
	fails      uint64
	err        error
}

// stepTracker passes steering through and sums the steps, so the Core can keep the DAC controller on a
// timescale without them.
type stepTracker struct {
	timebase.Steerable
	total *time.Duration
}

func (s stepTracker) Step(d time.Duration) error {
	if err := s.Steerable.Step(d); err != nil {
		return err
	}
	*s.total += d
	return nil
}

// newDACLoop makes the loop and applies the controller's first command.
func newDACLoop(cfg DACConfig, ppsBias time.Duration) (*dacLoop, error) {
	ctl, cmd, err := discipline.NewDACController(cfg.Controller)
	if err != nil {
		return nil, fmt.Errorf("daemon: DAC controller: %w", err)
	}
	cc := cfg.Controller
	center := cc.CenterCode
	if center == 0 {
		center = cc.MinCode + (cc.MaxCode-cc.MinCode+1)/2
	}
	sigmas := cc.BoundSigmas
	if sigmas == 0 {
		sigmas = discipline.DefaultDACConfig().BoundSigmas
	}
	d := &dacLoop{ctl: ctl, steer: cfg.Steer, center: center, latency: ppsBias - cc.PPSBias, sigmas: sigmas}
	if err := cfg.Steer.Apply(cmd); err != nil {
		return nil, fmt.Errorf("daemon: DAC: first write (code %d): %w", cmd.Code, err)
	}
	return d, nil
}

// apply hands a command to the hardware; a failure is kept for the view and retried by the next command.
func (d *dacLoop) apply(cmd discipline.DACCommand) {
	if !cmd.Write && !cmd.Sync {
		return
	}
	if cmd.Sync {
		d.syncPending = true
	}
	if err := d.steer.Apply(cmd); err != nil {
		d.fails++
		d.err = fmt.Errorf("daemon: DAC Apply(code %d, sync %t): %w", cmd.Code, cmd.Sync, err)
		return
	}
	d.err = nil
}

// sample feeds one paired phase difference (at on the controller's timescale).
func (d *dacLoop) sample(s discipline.DACSample) {
	d.apply(d.ctl.Sample(s))
	st := d.ctl.Status()
	if f := [3]float64{float64(st.Phase), float64(st.PhaseSigma), st.FreqPPB}; f != d.lastFilter {
		d.lastFilter, d.filterAt = f, s.At
	}
}

// dacSample hands a paired sample to the controller once the board clock's rate is settled (the servo
// locked, or coasting after a lock). The two pulses of a pair are stamped up to half a second apart by the
// board clock, so its frequency error scales their difference: a board still being stepped and slewed at
// tens of ppm moves the measured phase by microseconds (0.37 s × 10 ppm = 3.7 µs) that the controller
// would steer the oscillator to follow and then slew back over minutes. Once the servo has locked the
// board's residual is a few 1e-8 and the effect a few ns.
func (c *Core) dacSample(s discipline.DACSample) {
	if st := c.servo.State(); st != timebase.StateLocked && st != timebase.StateHoldover {
		c.dac.unsettled++
		return
	}
	c.dac.sample(s)
}

// usable says whether the oscillator may stand in for the GPS: locked once, and locked or coasting now.
func (d *dacLoop) usable() bool {
	st := d.ctl.State()
	return d.ctl.Status().EverLocked && (st == discipline.DACLocked || st == discipline.DACHoldover)
}

// phaseAt predicts the controller's phase estimate (oscillator ahead of UTC, beyond Offset) to controller
// time t: the filter's phase plus the residual frequency (free-running estimate plus the tuning in force)
// since its last update.
func (d *dacLoop) phaseAt(st discipline.DACStatus, t timebase.Instant) time.Duration {
	h := math.Max(t.Sub(d.filterAt).Seconds(), 0)
	y := (st.FreqPPB + st.GainPPBPerLSB*(float64(st.Code)-float64(d.center))) * 1e-9
	return st.Phase + time.Duration(math.Round(y*h*1e9))
}

// foldSecond returns x's distance from its nearest whole second, in [−0.5 s, 0.5 s).
func foldSecond(x timebase.Instant) time.Duration {
	r := time.Duration(int64(x) % int64(time.Second))
	switch {
	case r >= time.Second/2:
		r -= time.Second
	case r < -time.Second/2:
		r += time.Second
	}
	return r
}

// dacTime is board time b on the controller's timescale (the servo's steps taken out).
func (c *Core) dacTime(b timebase.Instant) timebase.Instant { return b.Add(-c.stepped) }

// onTime says whether a GPS PPS edge is the on-time edge of its pulse.
func (c *Core) onTime(e timebase.Edge) bool {
	switch c.ppsOnTime {
	case pps.RisingEdge:
		return e.Rising
	case pps.FallingEdge:
		return !e.Rising
	}
	return true
}

// dacGPSEdge feeds a GPS pulse to the DAC pairer.
func (c *Core) dacGPSEdge(e timebase.Edge) {
	d := c.dac
	if !c.onTime(e) {
		return
	}
	if d.syncPending {
		// The hardware reloads the divider on this pulse: an oscillator edge waiting is of the old phase.
		d.syncPending = false
		d.pair.Reset()
	}
	if s, ok := d.pair.Edge(c.dacTime(e.Time), false); ok {
		c.dacSample(s)
	}
}

// OscEdge feeds one captured edge of the oscillator's 1PPS (its on-time edges only: capture one polarity).
// Without a DAC loop configured it is ignored.
func (c *Core) OscEdge(e timebase.Edge) {
	d := c.dac
	if d == nil {
		return
	}
	d.oscEdges++
	if s, ok := d.pair.Edge(c.dacTime(e.Time), true); ok {
		c.dacSample(s)
	}
	c.follow(e.Time)
	c.updateView(e.Time)
}

// follow feeds the board servo from an oscillator edge stamped b, when the GPS is lost and the oscillator is
// locked (see the file comment).
func (c *Core) follow(b timebase.Instant) {
	d := c.dac
	if !d.usable() {
		d.following = false
		return
	}
	if !d.following {
		if c.servo.State() != timebase.StateHoldover {
			return
		}
		d.following, d.followFrom = true, b
		d.holdFrom = c.servo.Snapshot(b).HoldoverFrom
		if d.holdFrom == 0 {
			d.holdFrom = b
		}
	}
	st := d.ctl.Status()
	x := b.Add(-d.latency + d.phaseAt(st, c.dacTime(b)) + st.Offset)
	off := foldSecond(x)
	c.lastOff = off
	if c.servo.Sample(discipline.Sample{At: b, Offset: off, Now: b}) {
		c.pair.Reset()
		d.pair.Reset()
	}
	c.publishAt(b)
}

// dacSnapshot dresses the servo's snapshot while the board follows the oscillator: holdover, with the
// oscillator's bound added to the served error and the holdover limits applied to the sum.
func (c *Core) dacSnapshot(snap *timebase.Snapshot, now timebase.Instant) *timebase.Snapshot {
	d := c.dac
	if d == nil || !d.following {
		return snap
	}
	t := c.dacTime(now)
	b, ok := d.ctl.Bound(t)
	if !ok {
		return snap
	}
	cp := *snap
	cp.State = timebase.StateHoldover
	cp.HoldoverFrom = d.holdFrom
	cp.LockedSince = 0
	if cp.Leap == timebase.LeapUnsync {
		return &cp
	}
	// RootDispersion is referenced to RefTime (at or before now): adding the bound at now over-covers the
	// interval since, and the rate covers the bound's growth until the next publish (at most a second on).
	const ahead = 10 * time.Second
	b2, _ := d.ctl.Bound(t.Add(ahead))
	cp.RootDispersion += b
	cp.DispersionRate += math.Max((b2-b).Seconds()/ahead.Seconds(), 0)
	dacSigma := b.Seconds() / d.sigmas
	cp.EstError = time.Duration(math.Round(math.Hypot(cp.EstError.Seconds(), dacSigma) * 1e9))
	switch maxErr := cp.RootDispersionAt(now); {
	case maxErr > c.holdUnsync:
		u := timebase.Unsynchronized()
		u.State, u.Precision, u.RefID, u.RefTime = cp.State, cp.Precision, cp.RefID, cp.RefTime
		u.Offset, u.FrequencyPPM, u.Jitter, u.EstError, u.HoldoverFrom = cp.Offset, cp.FrequencyPPM, cp.Jitter, cp.EstError, cp.HoldoverFrom
		return u
	case maxErr > c.holdStratum1 && cp.Stratum < c.holdStratum:
		cp.Stratum = c.holdStratum
	}
	return &cp
}

// dacView is the loop's picture at board time now.
func (c *Core) dacView(now timebase.Instant) *DACView {
	d := c.dac
	if d == nil {
		return nil
	}
	v := &DACView{DACStatus: d.ctl.Status(), Following: d.following, OscEdges: d.oscEdges,
		Pairs: d.pair.Pairs, Unpaired: d.pair.Unpaired, Unsettled: d.unsettled, ApplyFails: d.fails, Err: d.err}
	if d.following {
		v.FollowingSince = d.followFrom
	}
	v.Bound, v.BoundOK = d.ctl.Bound(c.dacTime(now))
	v.Learned, v.LearnedOK = d.ctl.Learned()
	return v
}

// dacTick lets the controller notice lost samples (its holdover); it returns its next wake on the board
// clock, 0 for none.
func (c *Core) dacTick(now timebase.Instant) timebase.Instant {
	d := c.dac
	cmd, due := d.ctl.Tick(c.dacTime(now))
	d.apply(cmd)
	if d.following && !d.usable() {
		d.following = false
	}
	if due == 0 {
		return 0
	}
	return due.Add(c.stepped)
}

var errDACSteerMissing = errors.New("daemon: a DAC controller is configured without a DACSteer")
