package pps

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Polarity names which edge of the pulse is on time.
type Polarity uint8

const (
	// AnyEdge: every edge offered is a pulse's on-time edge; the capture already selected one polarity.
	AnyEdge Polarity = iota
	// RisingEdge: rising edges are on time; falling edges end the pulse and measure its width.
	RisingEdge
	// FallingEdge: falling edges are on time (an inverted line); rising edges end the pulse.
	FallingEdge
)

func (p Polarity) String() string {
	switch p {
	case AnyEdge:
		return "any"
	case RisingEdge:
		return "rising"
	case FallingEdge:
		return "falling"
	}
	return fmt.Sprintf("Polarity(%d)", uint8(p))
}

// Config parameterises a Pairer. Zero values take the defaults in parentheses.
type Config struct {
	Bias   time.Duration // capture latency subtracted from every pulse timestamp (0)
	OnTime Polarity      // which edges are on time (AnyEdge)

	// IntervalTolerance is how far, per second of gap, an edge may sit from the whole-second grid of the
	// edges before it (1 ms: twice the kernel's ±500 ppm frequency limit, and far above capture jitter).
	IntervalTolerance time.Duration
	// MaxGap is the history an edge is verified against and missing pulses are counted over (8 s). After a
	// longer silence the next edge starts afresh, unverified.
	MaxGap time.Duration
	// LabelWindow is how long after its pulse a label may arrive (1 s).
	LabelWindow time.Duration
	// MinInterval: an on-time edge closer than this after a verified pulse is spurious (50 ms). It catches
	// ringing and bounce right after a pulse, which would otherwise form a second 1 Hz train just behind the
	// first. It is kept short because the pulse it protects may itself be a glitch that happened to verify:
	// a long interval would then reject the true pulses behind it.
	MinInterval time.Duration
	// MinWidth and MaxWidth bound the pulse width when both edges are captured (1 µs, 900 ms). Set them
	// around the receiver's configured width (u-blox default 100 ms) to make the check tight.
	MinWidth, MaxWidth time.Duration
	// JumpConfirm is how many consecutive labels must agree on a new second numbering before it is
	// believed (10). Fewer are counted as label slips and yield no sample.
	JumpConfirm int
	// MaxAnchorAge: the numbering check compares with the last good pair no older than this (64 s: the
	// check allows IntervalTolerance of drift per second, 64 ms over that span, still far from a glitch's
	// typical place in the second and from a whole second).
	MaxAnchorAge time.Duration
	// MaxQErr is the largest credible quantization error (100 ns; u-blox 6/8 ticks give ±21 ns at most).
	MaxQErr time.Duration
	// Gate configures the outlier gate.
	Gate GateConfig
}

func (c *Config) fill() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.IntervalTolerance, time.Millisecond)
	def(&c.MaxGap, 8*time.Second)
	def(&c.LabelWindow, time.Second)
	def(&c.MinInterval, 50*time.Millisecond)
	def(&c.MinWidth, time.Microsecond)
	def(&c.MaxWidth, 900*time.Millisecond)
	def(&c.MaxAnchorAge, 64*time.Second)
	def(&c.MaxQErr, 100*time.Nanosecond)
	if c.JumpConfirm == 0 {
		c.JumpConfirm = 10
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	f := c
	f.fill()
	switch {
	case c.OnTime > FallingEdge:
		return fmt.Errorf("pps: on-time polarity %v unknown", c.OnTime)
	case c.Bias < -time.Second || c.Bias > time.Second:
		return fmt.Errorf("pps: bias %v beyond ±1 s", c.Bias)
	case f.IntervalTolerance < 0 || f.IntervalTolerance > 100*time.Millisecond:
		return fmt.Errorf("pps: interval tolerance %v outside (0, 100ms]", c.IntervalTolerance)
	case f.MaxGap < 2*time.Second || f.MaxGap > time.Minute:
		return fmt.Errorf("pps: max gap %v outside [2s, 1m]", c.MaxGap)
	case f.MinInterval < 0 || f.MinInterval > 900*time.Millisecond:
		return fmt.Errorf("pps: min interval %v outside (0, 900ms]", c.MinInterval)
	case f.LabelWindow < 0 || f.LabelWindow > 2*time.Second:
		return fmt.Errorf("pps: label window %v outside (0, 2s]", c.LabelWindow)
	case f.MinWidth < 0 || f.MaxWidth >= time.Second || f.MinWidth >= f.MaxWidth:
		return fmt.Errorf("pps: pulse width bounds [%v, %v] not within (0, 1s) and ordered", c.MinWidth, c.MaxWidth)
	case f.JumpConfirm < 0:
		return fmt.Errorf("pps: jump confirmation count %d negative", c.JumpConfirm)
	case f.MaxAnchorAge < 0 || f.MaxAnchorAge > time.Hour:
		return fmt.Errorf("pps: max anchor age %v outside (0, 1h]", c.MaxAnchorAge)
	case f.MaxQErr < 0:
		return fmt.Errorf("pps: max qErr %v negative", c.MaxQErr)
	case c.Gate.K < 0 || c.Gate.Floor < 0 || c.Gate.Fraction < 0 || c.Gate.Fraction >= 1 || c.Gate.MinSamples < 0 ||
		c.Gate.ResetAfter < 0 || c.Gate.MaxGap < 0:
		return errors.New("pps: outlier gate parameters negative or fraction not below 1")
	}
	return nil
}

// Counts are totals since start. Edges = taken + Repeats + Spurious + Trailing; Rejected sums the edges not
// used as pulses for a fault (Repeats + Spurious + BadWidth), for the status line.
type Counts struct {
	Edges     uint64 // edges offered
	Rejected  uint64 // Repeats + Spurious + BadWidth
	Repeats   uint64 // same sequence number or timestamp as the edge before
	Spurious  uint64 // on-time edges off the whole-second grid of the edges before them
	BadWidth  uint64 // pulses whose width was outside [MinWidth, MaxWidth]
	Trailing  uint64 // trailing edges seen (both-edge capture)
	Orphans   uint64 // trailing edges with no on-time edge in the second before them
	Missing   uint64 // pulses missing from the grid within MaxGap
	Outages   uint64 // silences longer than MaxGap
	TimeJumps uint64 // edges earlier than the edge before (the board clock went back without a Reset)

	Labels        uint64 // labels offered
	InvalidLabels uint64 // labels without a valid time
	Paired        uint64 // samples produced
	Unpaired      uint64 // valid labels with no usable pulse in the window before them
	Ambiguous     uint64 // of those, labels with two verified pulse trains in the window and no numbering to choose
	LabelSlips    uint64 // labels a whole number of seconds off the pulse count: withheld
	PhaseSlips    uint64 // pulses off the anchor's phase by less than a second (a glitch train, a re-aligned pulse)
	LabelJumps    uint64 // new numberings or phases confirmed by JumpConfirm pairs in a row
	Outliers      uint64 // samples rejected by the outlier gate
	Relearned     uint64 // outlier gate restarts after ResetAfter outliers in a row
	BadOffsets    uint64 // offsets beyond ±100 years (a nonsense label)
	Confirming    uint64 // pairs that only proposed a second numbering (after a start, Reset or long gap)

	QErrApplied   uint64 // quantization corrections applied
	QErrUnmatched uint64 // reports dropped: no pulse named by them followed within a second
	QErrInvalid   uint64 // reports beyond MaxQErr
}

// Outcome is what became of one label.
type Outcome uint8

const (
	OutcomePaired     Outcome = iota // a sample
	OutcomeInvalid                   // the label did not claim a valid time
	OutcomeNoPulse                   // no verified, unused pulse in the window before the label
	OutcomeSlip                      // whole-second mismatch with the pulse count: withheld
	OutcomeOutlier                   // rejected by the outlier gate
	OutcomeBadOffset                 // absurd offset
	OutcomeConfirming                // first pair after a start, Reset or long gap: its numbering awaits the next
	OutcomePhase                     // the pulse is off the phase of the last good pair by less than a second
)

var outcomeNames = [...]string{"paired", "invalid-label", "no-pulse", "label-slip", "outlier", "bad-offset", "confirming", "phase-slip"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Sample is one offset measurement from a pulse and its label.
type Sample struct {
	At     timebase.Instant // board time of the pulse, bias and quantization error removed
	Offset time.Duration    // At minus Second: how far the board clock is ahead of the reference
	Second timebase.Instant // the labelled UTC second
	Seq    uint64           // the pulse's capture sequence number
	QErr   time.Duration    // quantization correction applied (added to the edge), 0 if none
	// Jump is set on the first sample after a confirmed new second numbering or an outlier-gate restart:
	// the offset may differ from the previous one by much more than noise.
	Jump bool
}

// QErr is a timing receiver's quantization-error report for one pulse (u-blox UBX-TIM-TP).
type QErr struct {
	Pulse    timebase.Instant // UTC second of the pulse it describes (TIM-TP's next pulse); 0 if not known
	PS       int32            // qErr in picoseconds, as on the wire: ideal − actual pulse time
	Received timebase.Instant // board time the report arrived
}

// stored is one on-time edge in the history.
type stored struct {
	e        timebase.Edge
	verified bool // on the 1 s grid of an earlier edge
	spurious bool // off the grid of the edges before it
	used     bool // paired with a label already
	badWidth bool
}

const ringSize = 16

// Pairer validates edges and pairs them with labels. It is not safe for concurrent use. The zero value is not
// ready: use New or NewPairer.
type Pairer struct {
	cfg Config

	ring [ringSize]stored
	n    int // stored, up to ringSize
	head int // index of the newest

	haveLast  bool
	lastSeq   uint64
	lastTime  timebase.Instant
	havePulse bool // some on-time edge was ever stored (to tell an outage from a start)
	lastWidth time.Duration

	haveAnchor  bool // anchorAt, anchorOff hold the last pair whose numbering passed (or the candidate)
	confirmed   bool // two consecutive pairs agreed on the numbering since the start or Reset
	anchorAt    timebase.Instant
	anchorOff   time.Duration
	anchorEdge  timebase.Instant // the anchor pulse's raw edge time, for choosing between pulse trains
	pendingAt   timebase.Instant // the last pair off the anchor, and how many in a row agreed with each other
	pendingOff  time.Duration
	pendingSeen int

	qerr  [2]QErr
	haveQ [2]bool

	gate   *Gate
	counts Counts
}

// NewPairer returns a pairer with the given bias and defaults otherwise (every edge on time).
func NewPairer(bias time.Duration) *Pairer {
	p, err := New(Config{Bias: bias})
	if err != nil {
		// Only the bias can be wrong here; clamp rather than fail, as the flag was validated upstream.
		p, _ = New(Config{Bias: max(min(bias, time.Second), -time.Second)})
	}
	return p
}

// New returns a pairer for cfg.
func New(cfg Config) (*Pairer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	return &Pairer{cfg: cfg, gate: NewGate(cfg.Gate)}, nil
}

// Counts returns the totals.
func (p *Pairer) Counts() Counts { return p.counts }

// Jitter returns the outlier gate's current estimate of the per-sample offset noise (σ of one offset), 0
// while it is learning.
func (p *Pairer) Jitter() time.Duration { return time.Duration(float64(p.gate.Sigma()) / math.Sqrt2) }

// LastWidth returns the last pulse width measured (both-edge capture), 0 if none.
func (p *Pairer) LastWidth() time.Duration { return p.lastWidth }

// Reset forgets stored edges, the second-numbering anchor, pending quantization reports and the outlier
// gate's history: call it after the clock was stepped, since all of them are on the old timescale.
func (p *Pairer) Reset() {
	p.n = 0
	p.haveLast = false
	p.haveAnchor, p.confirmed = false, false
	p.pendingSeen = 0
	p.haveQ = [2]bool{}
	p.gate.Reset()
}

func (p *Pairer) onTime(e timebase.Edge) bool {
	switch p.cfg.OnTime {
	case RisingEdge:
		return e.Rising
	case FallingEdge:
		return !e.Rising
	}
	return true
}

// at returns the i-th newest stored edge (0 = newest).
func (p *Pairer) at(i int) *stored { return &p.ring[(p.head-i+ringSize)%ringSize] }

// Edge offers one captured edge. It returns true when the edge was kept as a pulse's on-time edge (verified,
// or the first after a start or silence), false for repeats, spurious edges and trailing edges.
func (p *Pairer) Edge(e timebase.Edge) bool {
	p.counts.Edges++
	if p.haveLast {
		if e.Seq != 0 && e.Seq == p.lastSeq || e.Time == p.lastTime {
			p.counts.Repeats++
			p.counts.Rejected++
			return false
		}
		if e.Time < p.lastTime {
			p.counts.TimeJumps++
			p.Reset()
		}
	}
	p.haveLast, p.lastSeq, p.lastTime = true, e.Seq, e.Time
	if !p.onTime(e) {
		p.trailing(e)
		return false
	}
	for i := 0; i < p.n; i++ {
		// Only a verified pulse can make an edge too close: a lone glitch at a start must not block the
		// pulse that follows it.
		if s := p.at(i); s.verified {
			if e.Time.Sub(s.e.Time) < p.cfg.MinInterval {
				p.counts.Spurious++
				p.counts.Rejected++
				return false // not stored: it must not verify anything either
			}
			break
		}
	}
	tol := int64(p.cfg.IntervalTolerance)
	recent, verified := false, false
	missing := int64(0)
	for i := 0; i < p.n; i++ {
		s := p.at(i)
		d := int64(e.Time - s.e.Time)
		if d < 0 || d > int64(p.cfg.MaxGap)+tol*int64(p.cfg.MaxGap/time.Second) {
			break // older edges are further still (d < 0: the difference overflowed, further still)
		}
		recent = true
		if s.badWidth {
			continue
		}
		k := (d + int64(time.Second)/2) / int64(time.Second)
		if k >= 1 && abs64(d-k*int64(time.Second)) <= k*tol {
			verified, missing = true, k-1
			break
		}
	}
	st := stored{e: e, verified: verified}
	switch {
	case verified:
		p.counts.Missing += uint64(missing)
	case !recent:
		if p.havePulse {
			p.counts.Outages++
		}
	default:
		st.spurious = true
		p.counts.Spurious++
		p.counts.Rejected++
	}
	p.head = (p.head + 1) % ringSize
	p.ring[p.head] = st
	if p.n < ringSize {
		p.n++
	}
	p.havePulse = true
	return !st.spurious
}

// trailing handles the edge that ends a pulse: it measures the width of the pulse it ends.
func (p *Pairer) trailing(e timebase.Edge) {
	p.counts.Trailing++
	for i := 0; i < p.n; i++ {
		s := p.at(i)
		w := e.Time.Sub(s.e.Time)
		if w >= time.Second {
			break
		}
		if w <= 0 {
			continue
		}
		p.lastWidth = w
		if (w < p.cfg.MinWidth || w > p.cfg.MaxWidth) && !s.badWidth {
			s.badWidth = true
			p.counts.BadWidth++
			p.counts.Rejected++
		}
		return
	}
	p.counts.Orphans++
}

// QErr records a quantization-error report for a coming pulse. Up to two reports are kept (the one for the
// pulse about to be paired and the one for the pulse after), so the order in which a receiver epoch's label
// and report are handed over does not matter.
func (p *Pairer) QErr(q QErr) {
	if d := qerrDuration(q.PS); d > p.cfg.MaxQErr || d < -p.cfg.MaxQErr {
		p.counts.QErrInvalid++
		return
	}
	if q.Pulse != 0 {
		// TIM-TP names the pulse by its time, which a configured user delay moves off the whole second.
		q.Pulse = q.Pulse.Round(time.Second)
	}
	slot := 0
	if p.haveQ[0] && (!p.haveQ[1] || p.qerr[1].Received < p.qerr[0].Received) {
		slot = 1 // keep the newer of the two, replace the older
	}
	if p.haveQ[slot] {
		p.counts.QErrUnmatched++
	}
	p.qerr[slot], p.haveQ[slot] = q, true
}

// takeQErr finds the report for the pulse captured at edge that began second sec, and drops reports that
// came before that pulse but name another one (they will never match).
func (p *Pairer) takeQErr(edge, sec timebase.Instant) (time.Duration, bool) {
	var got time.Duration
	found := false
	for i := range p.qerr {
		if !p.haveQ[i] {
			continue
		}
		q := p.qerr[i]
		if q.Received >= edge {
			continue // about a later pulse
		}
		p.haveQ[i] = false
		if !found && edge.Sub(q.Received) <= p.cfg.LabelWindow && (q.Pulse == 0 || q.Pulse == sec) {
			got, found = qerrDuration(q.PS), true
			continue
		}
		p.counts.QErrUnmatched++
	}
	if found {
		p.counts.QErrApplied++
	}
	return got, found
}

// qerrDuration converts picoseconds to a Duration, rounding to the nearest nanosecond.
func qerrDuration(ps int32) time.Duration {
	v := int64(ps)
	if v >= 0 {
		return time.Duration((v + 500) / 1000)
	}
	return -time.Duration((-v + 500) / 1000)
}

// Label pairs a receiver label with the pulse that began its second, returning the offset sample's time (the
// pulse, bias and quantization error removed) and the offset (board time of the pulse minus the labelled
// second). ok is false when no sample results; Pair tells why.
func (p *Pairer) Label(l timebase.TimeLabel) (at timebase.Instant, offset time.Duration, ok bool) {
	s, o := p.Pair(l)
	return s.At, s.Offset, o == OutcomePaired
}

// Pair pairs a receiver label with the pulse that began its second. The Sample is valid only with
// OutcomePaired.
func (p *Pairer) Pair(l timebase.TimeLabel) (Sample, Outcome) {
	p.counts.Labels++
	if !l.Valid {
		p.counts.InvalidLabels++
		return Sample{}, OutcomeInvalid
	}
	// Candidates: verified pulses in the window before the label. Normally one. Two mean a second 1 Hz train
	// (a periodic glitch): the one on the grid of the last good pair wins; without one, no choice is safe.
	var s *stored
	n, bestDev := 0, int64(math.MaxInt64)
	for i := 0; i < p.n; i++ {
		c := p.at(i)
		d := l.Received.Sub(c.e.Time)
		if d > p.cfg.LabelWindow || d < 0 && c.e.Time < l.Received {
			break // too old, or the difference overflowed
		}
		if d <= 0 || !c.verified || c.badWidth {
			continue
		}
		n++
		dev := int64(0)
		if p.confirmed {
			g := int64(c.e.Time-p.anchorEdge) % int64(time.Second)
			dev = min(abs64(g), int64(time.Second)-abs64(g))
		}
		if s == nil || dev < bestDev {
			s, bestDev = c, dev
		}
	}
	if n > 1 && !p.confirmed {
		p.counts.Ambiguous++
		s = nil
	}
	if s == nil || s.used {
		p.counts.Unpaired++
		return Sample{}, OutcomeNoPulse
	}
	s.used = true
	smp := Sample{Second: l.Second, Seq: s.e.Seq}
	smp.At = s.e.Time.Add(-p.cfg.Bias)
	if q, ok := p.takeQErr(s.e.Time, l.Second); ok {
		smp.QErr = q
		smp.At = smp.At.Add(q)
	}
	// Instants are int64 ns; a difference of two arbitrary ones can overflow, so bound first.
	const century = 100 * 365 * 24 * time.Hour
	if d := float64(smp.At) - float64(l.Second); d > float64(century) || d < -float64(century) {
		p.counts.BadOffsets++
		return Sample{}, OutcomeBadOffset
	}
	smp.Offset = smp.At.Sub(l.Second)

	fresh := p.haveAnchor && smp.At > p.anchorAt && smp.At.Sub(p.anchorAt) <= p.cfg.MaxAnchorAge
	if !fresh {
		p.confirmed = false // too long since the last good pair to count seconds across the gap
	}
	if !p.confirmed {
		// No numbering to hold this label against yet: it becomes the candidate, and the next label must
		// agree with it. One slipped label (or a glitch taken for a pulse) at a start thus costs a second,
		// never a wrong sample.
		if !fresh || !p.follows(smp.At, smp.Offset, p.anchorAt, p.anchorOff) {
			p.setAnchor(smp, s.e.Time)
			p.counts.Confirming++
			return Sample{}, OutcomeConfirming
		}
		p.confirmed = true
	} else if !p.follows(smp.At, smp.Offset, p.anchorAt, p.anchorOff) {
		// Off the anchor's numbering or phase. Believe it only once JumpConfirm pairs in a row agree with
		// each other.
		if p.pendingSeen > 0 && p.follows(smp.At, smp.Offset, p.pendingAt, p.pendingOff) {
			p.pendingSeen++
		} else {
			p.pendingSeen = 1
		}
		p.pendingAt, p.pendingOff = smp.At, smp.Offset
		if p.pendingSeen < p.cfg.JumpConfirm {
			if roundSeconds(smp.Offset-p.anchorOff) != 0 {
				p.counts.LabelSlips++
				return Sample{}, OutcomeSlip
			}
			p.counts.PhaseSlips++
			return Sample{}, OutcomePhase
		}
		p.counts.LabelJumps++
		p.gate.Reset()
		smp.Jump = true
	}
	p.setAnchor(smp, s.e.Time)

	switch p.gate.Check(smp.At, smp.Offset) {
	case GateOutlier:
		p.counts.Outliers++
		return Sample{}, OutcomeOutlier
	case GateRelearn:
		p.counts.Relearned++
		smp.Jump = true
	}
	p.counts.Paired++
	return smp, OutcomePaired
}

func (p *Pairer) setAnchor(smp Sample, edge timebase.Instant) {
	p.haveAnchor, p.anchorAt, p.anchorOff, p.anchorEdge, p.pendingSeen = true, smp.At, smp.Offset, edge, 0
}

// follows reports whether a pair (pulse at at, offset off) continues the numbering and phase of an earlier
// pair: the offset may differ by no more than the board clock's drift over the interval (IntervalTolerance per
// second, at least one tolerance), and certainly not by a whole second.
func (p *Pairer) follows(at timebase.Instant, off time.Duration, refAt timebase.Instant, refOff time.Duration) bool {
	if at <= refAt {
		return false
	}
	d := off - refOff
	if d < 0 {
		d = -d
	}
	secs := max(1, float64(at-refAt)/1e9)
	return float64(d) <= float64(p.cfg.IntervalTolerance)*secs
}

// roundSeconds returns d in whole seconds, rounded to the nearest.
func roundSeconds(d time.Duration) int64 {
	if d >= 0 {
		return int64((d + time.Second/2) / time.Second)
	}
	return -int64((-d + time.Second/2) / time.Second)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
