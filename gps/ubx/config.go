package ubx

import (
	"errors"
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// State is where a Configurator is.
type State uint8

const (
	StateIdle        State = iota // Start not called yet
	StateIdentifying              // polling MON-VER, waiting for the receiver's identity
	StateConfiguring              // sending the plan's messages one by one
	StateDone                     // every message sent; Err says whether all were accepted
	StateNotUblox                 // no u-blox identity arrived: nothing was configured (not an error)
)

var stateNames = [...]string{"idle", "identifying", "configuring", "done", "not-u-blox"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// Defaults for Options.
const (
	DefaultAckTimeout      = 2 * time.Second
	DefaultAttempts        = 3
	DefaultIdentifyTimeout = 1500 * time.Millisecond
	DefaultIdentifyPolls   = 3
)

// Options tune a Configurator. The zero value is usable.
type Options struct {
	// AckTimeout is how long to wait for the ACK of one message before sending it again. u-blox answers
	// within a second, but at 9600 baud the answer can queue behind a second of output. Zero means
	// DefaultAckTimeout.
	AckTimeout time.Duration
	// Attempts is how often a message is sent before its silence is an error. Zero means DefaultAttempts.
	Attempts int
	// IdentifyTimeout is how long to wait for MON-VER after each poll; IdentifyPolls how many polls are
	// sent before the receiver is taken for something other than a u-blox. Zero means the defaults.
	IdentifyTimeout time.Duration
	IdentifyPolls   int
	// TimePulse is the pulse to configure; the zero value means DefaultTimePulse.
	TimePulse TimePulse
}

// Action is what the caller must do after an event: write Send to the receiver (when not nil), and call
// Tick at Wake (when Wake is not zero). A Configurator in a final state returns a zero Wake.
type Action struct {
	Send []byte
	Wake timebase.Instant
}

// StepResult is the outcome of one step.
type StepResult struct {
	Name     string
	Attempts int
	Acked    bool
	Nak      bool
	TimedOut bool
	Skipped  bool // an optional step the receiver refused
}

// Configurator runs the configuration conversation with one receiver on one connection. It is a pure
// state machine; it is not safe for concurrent use.
type Configurator struct {
	opt   Options
	state State

	polls    int
	receiver gps.Receiver
	plan     Plan

	step     int // index into plan.Steps of the message in flight
	attempts int
	sentAt   timebase.Instant
	deadline timebase.Instant
	armed    timebase.Instant // when deadline was set, to re-arm it if the clock steps back
	results  []StepResult
	errs     []error
}

// NewConfigurator returns a Configurator with the options' defaults filled in.
func NewConfigurator(opt Options) *Configurator {
	if opt.AckTimeout <= 0 {
		opt.AckTimeout = DefaultAckTimeout
	}
	if opt.Attempts <= 0 {
		opt.Attempts = DefaultAttempts
	}
	if opt.IdentifyTimeout <= 0 {
		opt.IdentifyTimeout = DefaultIdentifyTimeout
	}
	if opt.IdentifyPolls <= 0 {
		opt.IdentifyPolls = DefaultIdentifyPolls
	}
	if opt.TimePulse == (TimePulse{}) {
		opt.TimePulse = DefaultTimePulse
	}
	return &Configurator{opt: opt}
}

// State returns where the conversation is.
func (c *Configurator) State() State { return c.state }

// Finished reports whether the Configurator reached a final state.
func (c *Configurator) Finished() bool { return c.state == StateDone || c.state == StateNotUblox }

// Plan returns the plan being carried out (zero before the receiver was identified).
func (c *Configurator) Plan() Plan { return c.plan }

// Results returns the outcome of each step so far.
func (c *Configurator) Results() []StepResult { return append([]StepResult(nil), c.results...) }

// Err returns the failed steps, each naming its message; nil while running and when all were accepted.
func (c *Configurator) Err() error { return errors.Join(c.errs...) }

// Start begins the conversation at now: it polls MON-VER unless the receiver's identity is already
// known (passed with Receiver before Start).
func (c *Configurator) Start(now timebase.Instant) Action {
	if c.state != StateIdle {
		return c.wake()
	}
	c.state = StateIdentifying
	if c.identified() {
		return c.begin(now)
	}
	return c.poll(now)
}

// Receiver tells the Configurator what the receiver said about itself (gps.Decoder.Receiver after each
// read). It starts configuring once a u-blox has told its protocol version, or at least its hardware.
func (c *Configurator) Receiver(r gps.Receiver, now timebase.Instant) Action {
	c.receiver = r
	if c.state == StateIdentifying && c.identified() {
		return c.begin(now)
	}
	return c.wake()
}

// identified: MON-VER has answered (it sets the hardware version and, from protocol 14, PROTVER).
func (c *Configurator) identified() bool {
	r := c.receiver
	return r.Vendor == "u-blox" && (r.Protocol != "" || r.Hardware != "")
}

// Ack feeds one ACK-ACK or ACK-NAK from the receiver.
func (c *Configurator) Ack(a gps.Ack) Action {
	if c.state != StateConfiguring {
		return c.wake()
	}
	s := &c.plan.Steps[c.step]
	if a.Class != s.Class || a.ID != s.ID || (a.Received != 0 && a.Received < c.sentAt) {
		return c.wake() // not ours, or stale from before this message was sent
	}
	r := &c.results[c.step]
	switch {
	case a.OK:
		r.Acked = true
	case s.Optional:
		r.Nak, r.Skipped = true, true
	default:
		r.Nak = true
		c.errs = append(c.errs, fmt.Errorf("ubx: %s: rejected by the receiver (ACK-NAK)", s.Name))
	}
	at := a.Received
	if at < c.sentAt {
		at = c.sentAt
	}
	return c.next(at)
}

// Tick lets time pass: it resends or gives up on a message whose ACK is overdue, or polls MON-VER again.
func (c *Configurator) Tick(now timebase.Instant) Action {
	if !c.Finished() && c.state != StateIdle && now < c.armed {
		// The clock stepped back (the servo's first step can be hours on a box that booted with a wrong
		// clock): an absolute deadline would now lie that far ahead. Re-arm it the same interval from now.
		c.deadline = now + (c.deadline - c.armed)
		c.armed = now
	}
	if c.Finished() || c.state == StateIdle || now < c.deadline {
		return c.wake()
	}
	switch c.state {
	case StateIdentifying:
		if c.polls >= c.opt.IdentifyPolls {
			if c.receiver.Vendor == "u-blox" {
				// Identified by its NMEA banner but MON-VER never came: configure conservatively.
				return c.begin(now)
			}
			c.state = StateNotUblox
			return Action{}
		}
		return c.poll(now)
	case StateConfiguring:
		s := c.plan.Steps[c.step]
		if c.attempts < c.opt.Attempts {
			return c.send(now)
		}
		r := &c.results[c.step]
		r.TimedOut = true
		c.errs = append(c.errs, fmt.Errorf("ubx: %s: no ACK after %d attempts %v apart", s.Name, c.attempts, c.opt.AckTimeout))
		return c.next(now)
	}
	return c.wake()
}

func (c *Configurator) poll(now timebase.Instant) Action {
	c.polls++
	c.deadline, c.armed = now+timebase.Instant(c.opt.IdentifyTimeout), now
	return Action{Send: PollMonVER(), Wake: c.deadline}
}

func (c *Configurator) begin(now timebase.Instant) Action {
	plan, err := NewPlan(c.receiver, c.opt.TimePulse)
	if err != nil {
		c.errs = append(c.errs, err)
		c.state = StateDone
		return Action{}
	}
	c.plan = plan
	c.state = StateConfiguring
	c.step = 0
	c.results = make([]StepResult, len(plan.Steps))
	for i, s := range plan.Steps {
		c.results[i].Name = s.Name
	}
	if len(plan.Steps) == 0 {
		c.state = StateDone
		return Action{}
	}
	c.attempts = 0
	return c.send(now)
}

func (c *Configurator) send(now timebase.Instant) Action {
	c.attempts++
	c.results[c.step].Attempts = c.attempts
	c.sentAt = now
	c.deadline, c.armed = now+timebase.Instant(c.opt.AckTimeout), now
	return Action{Send: c.plan.Steps[c.step].Frame, Wake: c.deadline}
}

func (c *Configurator) next(now timebase.Instant) Action {
	c.step++
	c.attempts = 0
	if c.step >= len(c.plan.Steps) {
		c.state = StateDone
		return Action{}
	}
	return c.send(now)
}

func (c *Configurator) wake() Action {
	if c.Finished() || c.state == StateIdle {
		return Action{}
	}
	return Action{Wake: c.deadline}
}

// None reports whether the action asks for nothing: no bytes to send and no wake-up.
func (a Action) None() bool { return a.Send == nil && a.Wake == 0 }
