package daemon

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// oscRig runs the real Core against a simulated world plus internal/sim's DAC-steered OCXO, in virtual time,
// in the manner of loop (a shadow World gives the next event's truth so that steering lands at the right
// instant). The oscillator's pulses are emitted, then captured with its own latency model, and fed to
// Core.OscEdge; the Core's DAC commands reach the oscillator through fakeDAC.
type oscRig struct {
	t         *testing.T
	w, shadow *sim.World
	osc       *sim.DACOscillator // nil: no DAC loop (the control run)
	dac       *fakeDAC
	core      *Core
	last      *timebase.Snapshot
	cur       timebase.Instant
	now       timebase.Instant
	pending   timebase.Instant
	nextTick  timebase.Instant
	oscEmit   timebase.Instant
	oscCapt   timebase.Instant // the emitted pulse's capture (0: none pending)
	seq       uint64
}

// fakeDAC is the DACSteer of the test: it records the codes and sets them on the simulated oscillator at
// the rig's current truth. A Sync fails the test: the rig's oscillator has no divider reload (NoSync).
type fakeDAC struct {
	r     *oscRig
	codes []uint32
}

func (f *fakeDAC) Apply(cmd discipline.DACCommand) error {
	if cmd.Sync {
		f.r.t.Errorf("unexpected divider sync %+v with NoSync configured", cmd)
		return errors.New("no sync line")
	}
	if !cmd.Write {
		f.r.t.Errorf("Apply called with nothing to do: %+v", cmd)
		return nil
	}
	f.codes = append(f.codes, cmd.Code)
	if f.r.osc == nil {
		return nil
	}
	if err := f.r.osc.SetCodeAt(f.r.cur, cmd.Code); err != nil {
		return err
	}
	if f.r.oscCapt == 0 && f.r.oscEmit != 0 { // the next pulse moves with the new frequency unless it is out
		f.r.oscEmit = f.r.osc.NextPulse(f.r.cur)
	}
	return nil
}

func newOscRig(t *testing.T, cfg sim.Config, withDAC bool) *oscRig {
	t.Helper()
	return newOscRigLearned(t, cfg, withDAC, discipline.DACLearned{})
}

// newOscRigLearned is newOscRig whose controller resumes from learned (the DAC state file's content).
func newOscRigLearned(t *testing.T, cfg sim.Config, withDAC bool, learned discipline.DACLearned) *oscRig {
	t.Helper()
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &oscRig{t: t, w: w, shadow: shadow, cur: w.Now()}
	r.dac = &fakeDAC{r: r}
	bias := cfg.PPS.Bias + cfg.PPS.CaptureLatencyMean
	dc := DACConfig{}
	if withDAC {
		oc := sim.DefaultDACOscConfig()
		oc.Osc.Temperature.NoiseC = 0.05 // in its oven
		r.osc, err = sim.NewDACOscillator(oc, cfg.Start, cfg.Seed)
		if err != nil {
			t.Fatal(err)
		}
		cc := discipline.DefaultDACConfig()
		cc.MaxCode = 1<<oc.Bits - 1
		cc.NoSync = true
		// The controller steers the oscillator's pulse to GPS PPS − PPSBias: the GPS pulse's delay less the
		// oscillator pulse's own capture delay.
		cc.PPSBias = bias - oc.CaptureLatencyMean
		cc.Learned = learned
		dc = DACConfig{Controller: cc, Steer: r.dac}
	}
	core, err := NewCore(Config{
		PPSBias: bias,
		Publish: func(s *timebase.Snapshot) { r.last = s },
		DAC:     dc,
	}, w.Board().Steerable(func() timebase.Instant { return r.cur }))
	if err != nil {
		t.Fatal(err)
	}
	r.core = core
	if r.osc != nil {
		r.oscEmit = r.osc.NextPulse(cfg.Start)
	}
	return r
}

// run advances virtual time by d; visit is called once per truth second.
func (r *oscRig) run(d time.Duration, visit func(truth timebase.Instant)) {
	if r.now == 0 {
		r.now = r.w.Now()
		r.nextTick = r.now
	}
	end := r.now.Add(d)
	nextVisit := r.now.Truncate(time.Second).Add(time.Second)
	board := r.w.Board()
	for {
		next := r.pending
		if next != 0 {
			r.pending = 0
		} else {
			next = r.shadow.Next().Truth
		}
		limit := min(next, end)
		for {
			oscNext := timebase.Instant(1<<63 - 1)
			if r.osc != nil {
				oscNext = r.oscEmit
				if r.oscCapt != 0 {
					oscNext = r.oscCapt
				}
			}
			t := min(r.nextTick, nextVisit, oscNext)
			if t > limit {
				break
			}
			switch t {
			case r.nextTick:
				r.cur = t
				r.nextTick = max(board.TruthAt(r.core.Tick(board.At(t))), r.cur+1)
			case oscNext:
				r.cur = t
				if r.oscCapt == 0 {
					lat, _ := r.osc.CaptureLatency()
					r.oscCapt = r.oscEmit.Add(lat)
					continue
				}
				r.oscCapt = 0
				r.oscEmit = r.osc.NextPulse(r.oscEmit)
				board.Advance(t)
				r.seq++
				r.core.OscEdge(timebase.Edge{Time: board.At(t), Seq: r.seq, Rising: true})
				r.wake()
			default:
				board.Advance(t)
				if r.osc != nil {
					r.osc.Advance(t)
				}
				if visit != nil {
					visit(t)
				}
				nextVisit = nextVisit.Add(time.Second)
			}
		}
		if next > end {
			r.pending = next
			r.now = end
			return
		}
		ev := r.w.Next()
		r.cur = ev.Truth
		switch ev.Kind {
		case sim.EventBytes:
			r.core.Bytes(ev.Bytes, ev.Received)
		case sim.EventEdge:
			r.core.Edge(ev.Edge)
		}
		r.wake()
	}
}

func (r *oscRig) wake() {
	if w := r.core.NextWake(); w != 0 {
		if tw := r.w.Board().TruthAt(w); tw < r.nextTick {
			r.nextTick = tw
		}
	}
}

// TestDACOscillatorCarriesTheBoardThroughGPSLoss: the DAC loop calibrates and locks the simulated OCXO to the
// GPS PPS; when the receiver goes silent (no labels, no pulses) for an hour, the board clock follows the
// oscillator, within the bound it serves, and far closer to UTC than the same board free-running.
func TestDACOscillatorCarriesTheBoardThroughGPSLoss(t *testing.T) {
	const (
		train  = time.Hour
		outage = 45 * time.Minute
	)
	cfg := sim.DefaultConfig()
	cfg.Seed = 3
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	cfg.Receiver.ColdStartNoFix = 5 * time.Second
	cfg.Receiver.ColdStartNoTime = 2 * time.Second
	from := cfg.Start.Add(train)
	cfg.Receiver.Outages = []sim.Interval{{From: from, To: from.Add(outage), Kind: sim.OutageSilent}}

	// The control: the same box without the oscillator.
	ctrl := newOscRig(t, cfg, false)
	ctrl.run(train, nil)
	var freeRun time.Duration
	ctrl.run(outage, func(u timebase.Instant) { freeRun = max(freeRun, ctrl.w.Board().ErrorAt(u).Abs()) })
	if len(ctrl.dac.codes) != 0 || ctrl.core.View().DAC != nil {
		t.Fatalf("without a DAC loop: %d codes written, view %+v", len(ctrl.dac.codes), ctrl.core.View().DAC)
	}

	r := newOscRig(t, cfg, true)
	var lockedAt timebase.Instant
	var oscErrLocked time.Duration
	r.run(train, func(u timebase.Instant) {
		v := r.core.View().DAC
		if v.State == discipline.DACLocked && lockedAt == 0 {
			lockedAt = u
		}
		if lockedAt != 0 && u.Sub(lockedAt) > 20*time.Minute {
			// Without a sync line the controller adopted the pulse's power-up phase as a software offset: the
			// oscillator's error beyond it is what it steers.
			oscErrLocked = max(oscErrLocked, foldSecond(timebase.Instant(r.osc.ErrorAt(u)-v.Offset)).Abs())
		}
		if v.Following {
			t.Fatalf("at %v the board follows the oscillator with the GPS good", u)
		}
	})
	v := r.core.View()
	if lockedAt == 0 || v.DAC.State != discipline.DACLocked {
		t.Fatalf("the DAC loop did not lock in %v: %+v", train, v.DAC)
	}
	if len(r.dac.codes) < 10 {
		t.Fatalf("only %d codes written", len(r.dac.codes))
	}
	for _, c := range r.dac.codes {
		if c > 65535 {
			t.Fatalf("code %d beyond 16 bits", c)
		}
	}
	if r.dac.codes[0] != 32768 {
		t.Errorf("first code %d, want the centre 32768", r.dac.codes[0])
	}
	if v.Snapshot.State != timebase.StateLocked || v.Snapshot.Stratum != 1 {
		t.Fatalf("board servo before the outage: %v stratum %d", v.Snapshot.State, v.Snapshot.Stratum)
	}
	if oscErrLocked > 2*time.Microsecond {
		t.Errorf("oscillator error up to %v while locked", oscErrLocked)
	}

	var worst, worstBound time.Duration
	var served, following int
	r.run(outage, func(u timebase.Instant) {
		v := r.core.View()
		e := r.w.Board().ErrorAt(u).Abs()
		worst = max(worst, e)
		if v.DAC.Following {
			following++
		}
		snap := r.last
		if snap.Leap == timebase.LeapUnsync {
			return
		}
		served++
		bound := snap.RootDispersionAt(r.w.Board().At(u))
		worstBound = max(worstBound, bound)
		if e > bound {
			t.Errorf("at %v (%v into the outage) true board error %v beyond the served bound %v (DAC %v, bound %v)",
				u, u.Sub(from), e, bound, v.DAC.State, v.DAC.Bound)
		}
	})
	v = r.core.View()
	t.Logf("DAC locked %v after start; %d DAC commands; oscillator max |error| %v from 20 min after lock", lockedAt.Sub(cfg.Start), len(r.dac.codes), oscErrLocked)
	t.Logf("outage of %v: board max |error| %v following the oscillator (served %d s, bound up to %v); free-running board %v",
		outage, worst, served, worstBound, freeRun)
	if v.DAC.State != discipline.DACHoldover || !v.DAC.Following {
		t.Errorf("end of the outage: DAC %v, following %v; want holdover, following", v.DAC.State, v.DAC.Following)
	}
	if want := int(outage/time.Second) - 10; following < want || served < want {
		t.Errorf("followed the oscillator %d s and served %d s of the %v outage", following, served, outage)
	}
	if s := v.Snapshot; s.State != timebase.StateHoldover || s.Stratum != 1 || s.HoldoverFrom == 0 {
		t.Errorf("snapshot in the outage: %v stratum %d holdover from %v; want holdover at stratum 1", s.State, s.Stratum, s.HoldoverFrom)
	}
	if worst*20 > freeRun {
		t.Errorf("board error %v following the oscillator, not far below %v free-running", worst, freeRun)
	}

	// The GPS comes back: the board goes back to its pulse, without a step, and the oscillator is slewed.
	steps := v.Steps
	var after time.Duration
	r.run(5*time.Minute, func(u timebase.Instant) { after = max(after, r.w.Board().ErrorAt(u).Abs()) })
	v = r.core.View()
	t.Logf("5 min after the GPS returned: board max |error| %v, DAC %v", after, v.DAC.State)
	if v.DAC.Following || v.Snapshot.State != timebase.StateLocked || v.Steps != steps {
		t.Errorf("after the GPS returned: following %v, servo %v, %d steps", v.DAC.Following, v.Snapshot.State, v.Steps-steps)
	}
	if v.DAC.State != discipline.DACLocked && v.DAC.State != discipline.DACLocking {
		t.Errorf("after the GPS returned the DAC loop is %v", v.DAC.State)
	}
	if after > 5*time.Microsecond {
		t.Errorf("board error up to %v after the GPS returned", after)
	}
}

// A restart with the DAC state: a Core trained for 20 minutes offers what its controller learned in its view;
// the next Core (another run of the same oscillator model, the state a day old) writes the learned code
// first, skips the calibration, and its DAC loop locks several times sooner than a Core without the state;
// the board's served time is the same either way (it follows the GPS while the GPS is good).
func TestDACRestartFromLearnedState(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Seed = 3
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	cfg.Receiver.ColdStartNoFix = 5 * time.Second
	cfg.Receiver.ColdStartNoTime = 2 * time.Second
	train := newOscRig(t, cfg, true)
	train.run(20*time.Minute, nil)
	v := train.core.View().DAC
	if !v.LearnedOK {
		t.Fatalf("nothing learned in 20 minutes: %+v", v)
	}
	l := v.Learned
	l.Model, l.Written = "ad5693r", cfg.Start.Add(20*time.Minute)
	if l.Code != v.Code || l.GainPPBPerLSB != v.GainPPBPerLSB || l.MaxCode != 65535 {
		t.Fatalf("learned %+v does not match the view %+v", l, v.DACStatus)
	}

	cfg.Seed = 5
	lockAfter := func(r *oscRig) (time.Duration, discipline.DACStatus) {
		t.Helper()
		var locked timebase.Instant
		r.run(12*time.Minute, func(u timebase.Instant) {
			if locked == 0 && r.core.View().DAC.State == discipline.DACLocked {
				locked = u
			}
		})
		st := r.core.View().DAC.DACStatus
		if locked == 0 {
			t.Fatalf("no lock in 12 min: %+v", st)
		}
		return locked.Sub(cfg.Start), st
	}
	cold := newOscRig(t, cfg, true)
	coldLock, coldSt := lockAfter(cold)
	warm := newOscRigLearned(t, cfg, true, l.Aged(l.Written.Add(24*time.Hour)))
	warmLock, warmSt := lockAfter(warm)
	t.Logf("DAC lock after start: %v without the state (%d calibrations), %v with it (gain %v, code %d first)",
		coldLock, coldSt.Counts.Calibrations, warmLock, warmSt.GainSource, warm.dac.codes[0])
	if warm.dac.codes[0] != l.Code || cold.dac.codes[0] != 32768 {
		t.Errorf("first codes %d with the state (learned %d), %d without", warm.dac.codes[0], l.Code, cold.dac.codes[0])
	}
	if warmSt.Counts.Calibrations != 0 || warmSt.GainSource != discipline.GainRemembered || coldSt.Counts.Calibrations != 1 {
		t.Errorf("with the state %d calibrations (gain %v); without it %d", warmSt.Counts.Calibrations, warmSt.GainSource, coldSt.Counts.Calibrations)
	}
	if 2*warmLock > coldLock {
		t.Errorf("DAC lock %v with the state, not under half of %v without", warmLock, coldLock)
	}
	if s := warm.core.View().Snapshot; s.State != timebase.StateLocked || s.Stratum != 1 {
		t.Errorf("board with the state: %v stratum %d", s.State, s.Stratum)
	}
}

// The DAC loop is all or nothing: a controller without a steer is refused, and a bad controller config or
// a failing first write is an error from NewCore.
func TestNewCoreDACConfig(t *testing.T) {
	failing := steerFunc(func(discipline.DACCommand) error { return errors.New("i2c: no ack") })
	var got []discipline.DACCommand
	ok := steerFunc(func(c discipline.DACCommand) error { got = append(got, c); return nil })
	for _, c := range []struct {
		name string
		dac  DACConfig
		want string
	}{
		{"controller without steer", DACConfig{Controller: discipline.DACConfig{MaxCode: 4095}}, "without a DACSteer"},
		{"no max code", DACConfig{Steer: ok}, "MaxCode"},
		{"first write fails", DACConfig{Controller: discipline.DACConfig{MaxCode: 4095}, Steer: failing}, "no ack"},
	} {
		_, err := NewCore(Config{DAC: c.dac}, nullSteer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewCore error %v, want one saying %q", c.name, err, c.want)
		}
	}
	got = nil
	core, err := NewCore(Config{DAC: DACConfig{Controller: discipline.DACConfig{MaxCode: 4095}, Steer: ok}}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (discipline.DACCommand{Code: 2048, Write: true}) {
		t.Errorf("first commands %+v, want the centre code 2048 written", got)
	}
	v := core.View().DAC
	if v == nil || v.State != discipline.DACAcquiring || v.Code != 2048 || v.BoundOK {
		t.Errorf("view %+v", v)
	}
	// An oscillator edge and a GPS edge of the same second pair into one sample, which waits for the board
	// servo to lock (it has had no label: its rate is not settled).
	at := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	core.Edge(timebase.Edge{Time: at, Seq: 1, Rising: true})
	core.OscEdge(timebase.Edge{Time: at.Add(-371 * time.Millisecond), Seq: 1, Rising: true})
	if v := core.View().DAC; v.Pairs != 1 || v.OscEdges != 1 || v.Unsettled != 1 || v.Counts.Samples != 0 {
		t.Errorf("after one pair: %+v", v)
	}
}

type steerFunc func(discipline.DACCommand) error

func (f steerFunc) Apply(c discipline.DACCommand) error { return f(c) }
