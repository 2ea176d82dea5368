// Package daemon is the one composer: it wires the receiver decoder (gps), the pulse pairing (pps) and the
// servo (discipline), and publishes the servo's Snapshot to the server through a function it is given.
//
// It comes in two layers. Core is a deterministic state machine with no clock and no goroutines: it is fed
// receiver bytes, PPS edges and ticks with explicit times, so the simulator can drive the very loop the
// appliance runs through hours of virtual time in milliseconds. Run is the thin real-time shell around it:
// a select over the edges' channels and one timer, nothing else. Concrete edges never appear here; they
// arrive as channels, and the clock to steer as a timebase.Steerable.
//
// Optionally it also steers an external DAC-tuned oscillator (dac.go): its 1PPS comes in through OscEdge, the
// DAC writes go out through the DACSteer interface the caller gives, and in a GPS outage the board clock
// follows that oscillator instead of free-running.
package daemon

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
	"github.com/gpsntp/gpsntp/pps"
)

// Config wires a Core.
type Config struct {
	GPS     gps.Options
	PPS     pps.Config    // pairing and gates; its Bias defaults to PPSBias
	PPSBias time.Duration // latency of PPS timestamps, subtracted from each edge
	Servo   discipline.Config
	// Leap is the leap-second table (nil: the built-in copy); LeapMode is step (default) or smear.
	Leap     *leap.Table
	LeapMode leap.Mode
	// Publish receives every new snapshot (the NTP server's Publish). It must not block.
	Publish func(*timebase.Snapshot)
	// DAC is the optional DAC-steered oscillator (see dac.go); its 1PPS comes in through OscEdge.
	DAC DACConfig
	// NMEA, when set, times the seconds by the receiver's sentences instead of PPS edges (see NMEATime).
	NMEA *NMEATime
}

// View is an immutable picture of the loop for status readers on other goroutines.
type View struct {
	Snapshot  *timebase.Snapshot
	Epoch     gps.Epoch // last epoch decoded
	HaveEpoch bool
	GPS       gps.Counts
	PPS       pps.Counts
	Steps     uint64
	PPSOffset time.Duration // last paired offset, bias removed
	PPSJitter time.Duration // the pairer's robust spread of recent offsets

	// Drift is the servo's frequency estimate and its uncertainty, for the drift file; DriftOK is false
	// until the estimate is worth keeping.
	DriftPPM, DriftErrPPM float64
	DriftOK               bool

	Leap          leap.Decision   // what is known of leap seconds and from where, with warnings
	LeapSchedule  leap.Schedule   // the next leap as scheduled
	LeapKernel    leap.KernelFlag // the flag the kernel clock is armed with
	LeapArtifacts uint64          // samples skipped because the leap second itself made them off by a second
	LeapError     error           // the last failure to arm the kernel clock

	DAC *DACView // nil when no DAC loop is configured

	// Temp is the temperature sensor's last reading and the servo's fit of the crystal's frequency against
	// it (see Core.Temperature); Temp.Have is false without a sensor.
	Temp discipline.TempFit
}

// Core is the event-driven heart of the daemon. Its methods must be called from one goroutine; View may be
// called from any.
type Core struct {
	dec     *gps.Decoder
	pair    *pps.Pairer
	servo   *discipline.Servo
	publish func(*timebase.Snapshot)

	leapCtl       *leap.Controller
	leapClk       timebase.LeapClock // nil when the steered clock cannot apply leaps itself
	leapOut       leap.Output
	leapArtifacts uint64
	leapErr       error

	dac       *dacLoop      // nil: no DAC loop
	stepped   time.Duration // sum of the servo's steps: the DAC controller's timescale leaves them out
	ppsOnTime pps.Polarity
	// the servo's holdover limits, applied to the served bound while the board follows the oscillator
	holdStratum1, holdUnsync time.Duration
	holdStratum              uint8

	nmea     *NMEATime // nil: PPS edges time the seconds
	nmeaLast timebase.Instant

	temp discipline.TempFit // with a DAC loop: the last reading only (see Temperature)

	lastEpoch gps.Epoch
	haveEpoch bool
	lastOff   time.Duration
	nextTick  timebase.Instant
	view      atomic.Pointer[View]
}

// NewCore builds the loop around a steerable clock.
func NewCore(cfg Config, steer timebase.Steerable) (*Core, error) {
	c := &Core{}
	servoSteer := steer
	if cfg.DAC.Steer != nil {
		servoSteer = stepTracker{Steerable: steer, total: &c.stepped}
	} else if cfg.DAC.Controller != (discipline.DACConfig{}) {
		return nil, errDACSteerMissing
	}
	servo, err := discipline.New(cfg.Servo, servoSteer)
	if err != nil {
		return nil, fmt.Errorf("daemon: servo: %w", err)
	}
	table := cfg.Leap
	if table == nil {
		table = leap.Builtin()
	}
	if cfg.PPS.Bias == 0 {
		cfg.PPS.Bias = cfg.PPSBias
	}
	pair, err := pps.New(cfg.PPS)
	if err != nil {
		return nil, fmt.Errorf("daemon: pps: %w", err)
	}
	if cfg.NMEA != nil {
		if err := cfg.NMEA.Validate(); err != nil {
			return nil, err
		}
		n := *cfg.NMEA
		c.nmea = &n
	}
	c.dec, c.pair, c.servo, c.publish = gps.NewDecoder(cfg.GPS), pair, servo, cfg.Publish
	c.leapCtl = leap.NewController(table, cfg.LeapMode)
	c.ppsOnTime = cfg.PPS.OnTime
	def := discipline.DefaultConfig()
	c.holdStratum1, c.holdUnsync, c.holdStratum = cfg.Servo.HoldoverStratum1Limit, cfg.Servo.HoldoverUnsyncLimit, cfg.Servo.HoldoverStratum
	if c.holdStratum1 == 0 {
		c.holdStratum1 = def.HoldoverStratum1Limit
	}
	if c.holdUnsync == 0 {
		c.holdUnsync = def.HoldoverUnsyncLimit
	}
	if c.holdStratum == 0 {
		c.holdStratum = def.HoldoverStratum
	}
	if cfg.DAC.Steer != nil {
		if c.dac, err = newDACLoop(cfg.DAC, cfg.PPS.Bias); err != nil {
			return nil, err
		}
	}
	c.leapClk, _ = steer.(timebase.LeapClock)
	if c.publish == nil {
		c.publish = func(*timebase.Snapshot) {}
	}
	c.publish(timebase.Unsynchronized())
	dppm, derr, dok := c.servo.Drift()
	c.view.Store(&View{
		DriftPPM: dppm, DriftErrPPM: derr, DriftOK: dok, Snapshot: timebase.Unsynchronized(), DAC: c.dacView(0)})
	return c, nil
}

// Bytes feeds bytes read from the receiver at board time recv.
func (c *Core) Bytes(p []byte, recv timebase.Instant) {
	c.dec.Write(p, recv)
	c.drainEpochs(recv)
}

// Edge feeds one captured PPS edge.
func (c *Core) Edge(e timebase.Edge) {
	c.pair.Edge(e)
	if c.dac != nil {
		c.dacGPSEdge(e)
	}
	c.updateView(e.Time)
}

// Temperature feeds one reading of the board's temperature sensor (°C) taken at board time at. The servo
// learns the crystal's frequency against it and, once the fit has earned trust, steers a holdover by it
// (see discipline.Servo.Temperature). With a DAC-steered oscillator the holdover follows that oscillator,
// not the board crystal, so the reading is only shown.
func (c *Core) Temperature(at timebase.Instant, celsius float64) {
	if c.dac != nil {
		t := &c.temp
		if at > t.At && celsius >= -60 && celsius <= 150 {
			t.Have, t.At, t.Celsius = true, at, celsius
			t.Readings++
		} else {
			t.Rejected++
		}
		return
	}
	before := c.servo.TempFit().Compensating
	c.servo.Temperature(at, celsius)
	if before {
		// The frequency correction moved with the reading: what is served moves with it.
		c.publishAt(at)
	}
}

// Tick lets time pass: completes quiet receiver epochs, moves the servo's state machine (holdover), and
// publishes. It returns when it next wants to be called.
func (c *Core) Tick(now timebase.Instant) timebase.Instant {
	c.dec.Flush(now)
	c.drainEpochs(now)
	next := c.servo.Tick(now)
	if c.dac != nil {
		if w := c.dacTick(now); w != 0 && w > now && w < next {
			next = w
		}
	}
	c.leapTick(now)
	c.publishAt(now)
	c.updateView(now)
	if w := c.leapOut.Wake; w != 0 && w > now && w < next {
		next = w
	}
	if d, ok := c.dec.Deadline(); ok && d < next {
		next = d
	}
	c.nextTick = next
	return next
}

// NextWake returns when Tick wants to be called, taking the decoder's pending deadline into account.
func (c *Core) NextWake() timebase.Instant {
	next := c.nextTick
	if d, ok := c.dec.Deadline(); ok && (next == 0 || d < next) {
		next = d
	}
	return next
}

func (c *Core) drainEpochs(now timebase.Instant) {
	changed := false
	for {
		ep, ok := c.dec.Next()
		if !ok {
			break
		}
		changed = true
		c.lastEpoch, c.haveEpoch = ep, true
		if tp := ep.TimePulse; tp.Valid && tp.QErrValid {
			// u-blox TIM-TP announces the quantization error of the next pulse: the pairer corrects
			// that pulse's timestamp by it, removing the sawtooth.
			q := pps.QErr{PS: tp.QErrPS, Received: ep.Label.Received}
			if tp.PulseKnown {
				q.Pulse = tp.Pulse
			}
			c.pair.QErr(q)
		}
		if !ep.OnSecond() {
			// A 5 Hz or 10 Hz receiver names fractions of a second too; only the epoch on the second
			// belongs to a pulse.
			continue
		}
		var at timebase.Instant
		var off time.Duration
		if c.nmea != nil {
			at, off, ok = c.nmeaSample(ep.Label)
		} else {
			at, off, ok = c.pair.Label(ep.Label)
		}
		if !ok {
			continue
		}
		c.lastOff = off
		if c.dac != nil && c.dac.following {
			// The GPS is back: the board goes back to its pulse (the oscillator is slewed back by its loop).
			c.dac.following = false
		}
		if c.leapOut.Schedule.Artifact(at, off) {
			// The kernel and the receiver apply the leap second at instants that need not agree to the
			// second (a receiver may label 23:59:60 as 00:00:00, or apply the leap late): a sample a whole
			// second off next to a leap is the leap itself, not a clock error, and must not be stepped on.
			c.leapArtifacts++
			continue
		}
		if c.servo.Sample(discipline.Sample{At: at, Offset: off}) {
			// Edges captured before the step are on the old timescale.
			c.pair.Reset()
			if c.dac != nil {
				c.dac.pair.Reset()
			}
		}
		c.leapTick(at)
		c.publishAt(at)
	}
	if changed {
		c.updateView(now)
	}
}

// leapTick updates the leap-second decision from the table and the receiver, and arms or disarms the
// kernel clock's leap flag when the schedule says so.
func (c *Core) leapTick(now timebase.Instant) {
	synced := c.servo.Snapshot(now).Leap != timebase.LeapUnsync
	c.leapOut = c.leapCtl.Tick(leapReceiver(c.lastEpoch.Leap), now, synced)
	if c.leapOut.SetKernel && c.leapClk != nil {
		li := timebase.LeapNone
		switch c.leapOut.Kernel {
		case leap.KernelInsert:
			li = timebase.LeapInsert
		case leap.KernelDelete:
			li = timebase.LeapDelete
		}
		if err := c.leapClk.SetLeap(li); err != nil {
			c.leapErr = fmt.Errorf("daemon: SetLeap(%v): %w", li, err)
			return
		}
		c.leapErr = nil
		c.leapCtl.KernelApplied(c.leapOut.Kernel)
	}
}

// servedSnapshot is the servo's snapshot with the leap indicator the schedule calls for: the servo knows
// whether the box is synchronized (LI=3 or not), the leap schedule which warning a synchronized box gives.
func (c *Core) servedSnapshot(now timebase.Instant) *timebase.Snapshot {
	snap := c.withNMEAUncertainty(c.dacSnapshot(c.servo.Snapshot(now), now))
	if snap.Leap != timebase.LeapUnsync && c.leapOut.Leap != timebase.LeapUnsync && c.leapOut.Leap != snap.Leap {
		cp := *snap
		cp.Leap = c.leapOut.Leap
		snap = &cp
	}
	return snap
}

func (c *Core) publishAt(now timebase.Instant) { c.publish(c.servedSnapshot(now)) }

// leapReceiver carries the receiver's leap information over to the leap package's type.
func leapReceiver(l gps.Leap) leap.Receiver {
	return leap.Receiver{
		Known: l.Known, Current: l.Current, Default: l.Default, Source: l.Source,
		ChangeKnown: l.ChangeKnown, Change: l.Change, Event: l.Event, EventKnown: l.EventKnown,
	}
}

func (c *Core) updateView(now timebase.Instant) {
	dppm, derr, dok := c.servo.Drift()
	c.view.Store(&View{
		DriftPPM: dppm, DriftErrPPM: derr, DriftOK: dok,
		Snapshot:  c.servedSnapshot(now),
		Epoch:     c.lastEpoch,
		HaveEpoch: c.haveEpoch,
		GPS:       c.dec.Counts(),
		PPS:       c.pair.Counts(),
		Steps:     c.servo.Steps(),
		PPSOffset: c.lastOff,
		PPSJitter: c.pair.Jitter(),

		Leap:          c.leapOut.Decision,
		LeapSchedule:  c.leapOut.Schedule,
		LeapKernel:    c.leapOut.Kernel,
		LeapArtifacts: c.leapArtifacts,
		LeapError:     c.leapErr,

		DAC:  c.dacView(now),
		Temp: c.tempView(),
	})
}

func (c *Core) tempView() discipline.TempFit {
	if c.dac != nil {
		return c.temp
	}
	return c.servo.TempFit()
}

// View returns the latest picture; safe from any goroutine.
func (c *Core) View() *View { return c.view.Load() }

// Chunk is one read from the receiver.
type Chunk struct {
	Data     []byte
	Received timebase.Instant
}

// Inputs are the edges' channels. A nil channel is a source that is not configured; a closed one is a
// source that went away (the edge reconnects and sends again on a new Inputs, or the daemon runs without it).
type Inputs struct {
	Bytes <-chan Chunk
	Edges <-chan timebase.Edge
	// OscEdges are the DAC-steered oscillator's 1PPS edges (Core.OscEdge); nil without a DAC loop.
	OscEdges <-chan timebase.Edge
	// Temps are the temperature sensor's readings (Core.Temperature); nil without a sensor.
	Temps <-chan TempReading
}

// TempReading is one reading of the board's temperature sensor, at board time At.
type TempReading struct {
	At      timebase.Instant
	Celsius float64
}

// Run drives core in real time until ctx ends. clock is the board clock (the one being steered), read only
// to timestamp ticks.
func Run(ctx context.Context, core *Core, clock timebase.Clock, in Inputs) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	bytes, edges, osc, temps := in.Bytes, in.Edges, in.OscEdges, in.Temps
	rearm := func() {
		d := core.NextWake().Sub(clock.Now())
		if d < 0 {
			d = 0
		}
		timer.Reset(d)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ch, ok := <-bytes:
			if !ok {
				bytes = nil
				continue
			}
			core.Bytes(ch.Data, ch.Received)
			rearm()
		case e, ok := <-edges:
			if !ok {
				edges = nil
				continue
			}
			core.Edge(e)
		case e, ok := <-osc:
			if !ok {
				osc = nil
				continue
			}
			core.OscEdge(e)
		case r, ok := <-temps:
			if !ok {
				temps = nil
				continue
			}
			core.Temperature(r.At, r.Celsius)
		case <-timer.C:
			// Events already queued happened before this tick: feed them first, or the tick could close
			// a receiver epoch as quiet while the rest of its bytes wait in the channel (select picks
			// among ready cases at random).
			osc = drainOsc(core, osc)
			bytes, edges = drain(core, bytes, edges)
			core.Tick(clock.Now())
			rearm()
		}
	}
}

// drain feeds every event already waiting on the channels, without blocking. It returns the channels,
// nil for one that was found closed.
func drain(core *Core, bytes <-chan Chunk, edges <-chan timebase.Edge) (<-chan Chunk, <-chan timebase.Edge) {
	for {
		select {
		case ch, ok := <-bytes:
			if !ok {
				bytes = nil
				continue
			}
			core.Bytes(ch.Data, ch.Received)
		case e, ok := <-edges:
			if !ok {
				edges = nil
				continue
			}
			core.Edge(e)
		default:
			return bytes, edges
		}
	}
}

// drainOsc feeds every oscillator edge already waiting, without blocking; it returns nil for a closed channel.
func drainOsc(core *Core, osc <-chan timebase.Edge) <-chan timebase.Edge {
	for {
		select {
		case e, ok := <-osc:
			if !ok {
				return nil
			}
			core.OscEdge(e)
		default:
			return osc
		}
	}
}
