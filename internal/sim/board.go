package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// segment is one linear piece of the board clock's reading as a function of truth:
//
//	board(t) = board0 + (t − truth0) + round(frac0 + (t − truth0)·rate)
//
// The integer nanoseconds carry the bulk exactly; only the frequency-error term goes through float64,
// over the segment's own (short) span, so the reading stays exact to the nanosecond over days. frac0 is
// the sub-nanosecond remainder carried from the previous segment, so that cutting the line into many
// segments accumulates no rounding error. A segment is immutable once published; it keeps the piece
// before it by value so that a reader holding a truth instant slightly older than the newest cut (a
// packet's kernel receive timestamp, say) still evaluates the line that was in force at that instant
// without a lock. Older lines are kept in the clock's history.
type segment struct {
	line
	prev    line
	hasPrev bool
}

type line struct {
	truth0, board0 timebase.Instant
	frac0          float64 // sub-ns part of the reading at truth0, in [-0.5, 0.5]
	rate           float64 // fractional frequency error: board seconds per truth second, minus 1
	osc, steer     float64 // its parts, ppm: free-running oscillator, and steering correction
}

// eval returns the reading at t and its sub-ns remainder.
func (l *line) eval(t timebase.Instant) (timebase.Instant, float64) {
	d := int64(t - l.truth0)
	x := l.frac0 + float64(d)*l.rate
	r := math.Round(x)
	return l.board0 + timebase.Instant(d) + timebase.Instant(r), x - r
}

// inverse returns the truth instant at which this line reads b.
//
// With B = b − board0 and d = t − truth0: B = d + frac0 + d·rate, so d = B − (B·rate + frac0)/(1 + rate).
func (l *line) inverse(b timebase.Instant) timebase.Instant {
	bd := int64(b - l.board0)
	corr := (float64(bd)*l.rate + l.frac0) / (1 + l.rate)
	return l.truth0 + timebase.Instant(bd) - timebase.Instant(math.Round(corr))
}

// historyLines bounds the superseded lines kept for reading the past: at one cut per second for the
// oscillator and one per servo update, about half an hour.
const historyLines = 4096

// lineAt returns the line in force at truth t: lock-free for the current and previous segments, from the
// history under the mutex for older instants (tests scoring the past; a reader at the present never goes
// there). Before the oldest line kept, the oldest line is extrapolated.
func (c *BoardClock) lineAt(t timebase.Instant) line {
	s := c.seg.Load()
	if t >= s.truth0 || !s.hasPrev {
		return s.line
	}
	if t >= s.prev.truth0 {
		return s.prev
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hist
	i := sort.Search(len(h), func(i int) bool { return h[i].truth0 > t }) // first line starting after t
	if i == 0 {
		return h[0] // hasPrev means the history is not empty
	}
	return h[i-1]
}

// BoardClock is the simulated board clock: a free-running crystal (frequency error, random-walk wander,
// temperature sensitivity) plus the steering the discipline applies (steps and a frequency correction, as
// adjtimex would). It reads board(t) = t + phase(t) at truth t.
//
// Readers (At, TruthAt, ErrorAt, FrequencyErrorPPM, and the ServedClock adapter) take no lock for instants
// in the current or previous segment: they load the immutable segment through an atomic pointer, so the NTP
// server can read the clock from many goroutines. Only reads further in the past consult the history under
// the mutex. Writers (Advance, StepAt, SetFrequencyAt, SetStatus) serialize on that mutex; they are rare
// (once per UpdateInterval and per servo update).
//
// At is exact for the present and for the past as far back as the history reaches (at least the last 4096
// segments, about half an hour); readings further back extrapolate the oldest line kept.
type BoardClock struct {
	seg atomic.Pointer[segment]

	mu       sync.Mutex
	cfg      OscillatorConfig
	start    timebase.Instant
	rng      *rand.Rand // oscillator wander and temperature noise: a stream of its own
	k        int64      // the next grid point to integrate is start + k·UpdateInterval
	wander   float64    // ppm, random walk
	tempOU   float64    // °C, the fluctuation part of the temperature
	tempC    float64    // temperature at the last grid point
	steerPPM float64
	hist     []line // superseded lines, oldest first, at most 2·historyLines
	constant bool   // no wander and a constant temperature: the oscillator never changes
	synced   bool
	estErr   time.Duration
	maxErr   time.Duration

	// The kernel's leap second machinery (see SetLeapAt): the armed flag, TIME_WAIT after applying it, how
	// far in truth the crossing of midnight has been checked, and the truth instants at which leaps were
	// applied. leapArmed mirrors leapFlag != none for lock-free readers.
	leapArmed   atomic.Bool
	leapFlag    timebase.LeapIndicator
	leapWait    bool
	leapChecked timebase.Instant
	leapApplied []LeapApplied
}

// NewBoardClock makes a board clock that reads start+cfg.InitialOffset at truth start. The seed feeds the
// wander and temperature noise; the same seed and config give the same clock.
func NewBoardClock(cfg OscillatorConfig, start timebase.Instant, seed uint64) (*BoardClock, error) {
	full := DefaultConfig()
	full.Osc = cfg
	full.Start = start
	if err := full.Validate(); err != nil {
		return nil, fmt.Errorf("sim: NewBoardClock: %w", err)
	}
	return newBoardClock(full.withDefaults().Osc, start, seed), nil
}

func newBoardClock(cfg OscillatorConfig, start timebase.Instant, seed uint64) *BoardClock {
	c := &BoardClock{
		cfg:   cfg,
		start: start,
		rng:   rand.New(rand.NewPCG(seed, streamOscillator)),
		k:     1,
	}
	tp := cfg.Temperature
	c.constant = cfg.WanderPPMPerSqrtS == 0 && tp.NoiseC == 0 && tp.SwingC == 0 && len(tp.Steps) == 0
	c.tempC = c.temperatureAt(0)
	osc := cfg.InitialPPM
	c.seg.Store(&segment{line: line{
		truth0: start,
		board0: start.Add(cfg.InitialOffset),
		rate:   combine(osc, 0),
		osc:    osc,
	}})
	return c
}

// combine gives the total fractional frequency error of an oscillator off by osc ppm, steered by steer ppm.
// A frequency correction scales the clock's increments, so the two multiply; the cross term is 1e-10 at
// 10 ppm, which is 100 ns after 1000 s and matters at this simulator's resolution.
func combine(osc, steer float64) float64 {
	return (1+osc*1e-6)*(1+steer*1e-6) - 1
}

// At returns the board clock's reading at truth instant t.
func (c *BoardClock) At(t timebase.Instant) timebase.Instant {
	if c.leapArmed.Load() {
		// Armed for a leap second (one day at most): the kernel applies it as its reading crosses midnight,
		// whether or not anything else has advanced the clock since.
		c.Advance(t)
	}
	l := c.lineAt(t)
	b, _ := l.eval(t)
	return b
}

// ErrorAt returns the board clock's true error at truth t: its reading minus truth.
func (c *BoardClock) ErrorAt(t timebase.Instant) time.Duration {
	return c.At(t).Sub(t)
}

// TruthAt returns the truth instant at which the board clock reads b: the inverse of At, |At(TruthAt(b)) − b|
// ≤ 1 ns. Readings at or after the current segment's start, or in the previous segment, take no lock; older
// ones search the history. Where a backward step made the clock read b twice, the latest instant is
// returned; a reading a forward step skipped maps to the instant of the step.
func (c *BoardClock) TruthAt(b timebase.Instant) timebase.Instant {
	s := c.seg.Load()
	if b >= s.board0 || !s.hasPrev {
		return s.line.inverse(b)
	}
	if t := s.prev.inverse(b); t >= s.prev.truth0 && t < s.truth0 {
		return t
	} else if t >= s.truth0 {
		return s.truth0 // skipped by a forward step
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	end := s.prev.truth0
	for i := len(c.hist) - 1; i >= 0; i-- {
		l := &c.hist[i]
		if l.truth0 >= end {
			continue // newer than what s covers: published after s was loaded
		}
		t := l.inverse(b)
		if t >= l.truth0 && t < end || i == 0 {
			return min(t, end)
		}
		if t >= end {
			return end // skipped by a forward step
		}
		end = l.truth0
	}
	return s.prev.inverse(b)
}

// FrequencyErrorPPM returns the board clock's true total fractional frequency error at truth t (free-running
// oscillator combined with steering), as far as the clock has been advanced.
func (c *BoardClock) FrequencyErrorPPM(t timebase.Instant) float64 {
	return c.lineAt(t).rate * 1e6
}

// OscillatorPPM returns the free-running oscillator's frequency error at truth t (without steering), as
// far as the clock has been advanced.
func (c *BoardClock) OscillatorPPM(t timebase.Instant) float64 {
	return c.lineAt(t).osc
}

// SteeringPPM returns the frequency correction currently applied.
func (c *BoardClock) SteeringPPM() float64 {
	return c.seg.Load().steer
}

// TemperatureC returns the crystal temperature at the last integration point.
func (c *BoardClock) TemperatureC() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tempC
}

// Status returns what the discipline last reported with SetStatus.
func (c *BoardClock) Status() (synced bool, est, max time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced, c.estErr, c.maxErr
}

// SetStatus records the discipline's sync state and error bounds, as adjtimex's STA_UNSYNC, esterror and
// maxerror would.
func (c *BoardClock) SetStatus(synced bool, est, max time.Duration) error {
	if est < 0 || max < 0 {
		return fmt.Errorf("sim: BoardClock.SetStatus(%v, %v, %v): error bounds must not be negative", synced, est, max)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced, c.estErr, c.maxErr = synced, est, max
	return nil
}

// Advance integrates the oscillator's wander and temperature up to truth t: every grid point
// start + k·UpdateInterval ≤ t gets its new frequency. Calling it with an earlier t does nothing.
func (c *BoardClock) Advance(t timebase.Instant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(t)
}

// StepAt steps the board clock by d at truth t (or at the start of the current segment, if t is older:
// the clock cannot be changed in the past).
func (c *BoardClock) StepAt(t timebase.Instant, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(t)
	cur := c.seg.Load()
	c.cutLocked(t, cur.osc, cur.steer, d)
}

// SetFrequencyAt sets the steering frequency correction to ppm (positive: the clock runs faster) from
// truth t on (or from the start of the current segment, if t is older), like adjtimex ADJ_FREQUENCY.
// The correction is limited to ±500 ppm, the kernel's range.
func (c *BoardClock) SetFrequencyAt(t timebase.Instant, ppm float64) error {
	if math.IsNaN(ppm) || math.IsInf(ppm, 0) || math.Abs(ppm) > maxPPM {
		return fmt.Errorf("sim: BoardClock.SetFrequencyAt(%v, %v): frequency must be within ±%d ppm", t, ppm, maxPPM)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(t)
	cur := c.seg.Load()
	c.steerPPM = ppm
	c.cutLocked(t, cur.osc, ppm, 0)
	return nil
}

// cutLocked publishes a new segment from truth t (clamped to the current segment's start) with the given
// frequency parts and a phase step.
func (c *BoardClock) cutLocked(t timebase.Instant, osc, steer float64, step time.Duration) {
	cur := c.seg.Load()
	if t < cur.truth0 {
		t = cur.truth0
	}
	b, frac := cur.line.eval(t)
	next := &segment{
		line: line{truth0: t, board0: b.Add(step), frac0: frac, rate: combine(osc, steer), osc: osc, steer: steer},
	}
	if t == cur.truth0 {
		// Replacing a segment that has not run yet: its predecessor stays the previous line.
		next.prev, next.hasPrev = cur.prev, cur.hasPrev
	} else {
		next.prev, next.hasPrev = cur.line, true
		if len(c.hist) == 2*historyLines {
			c.hist = append(c.hist[:0], c.hist[historyLines:]...)
		}
		c.hist = append(c.hist, cur.line)
	}
	c.seg.Store(next)
}

func (c *BoardClock) advanceLocked(t timebase.Instant) {
	dt := c.cfg.UpdateInterval
	if c.constant {
		// Nothing moves the frequency: skip the grid points without visiting them.
		if n := int64(t-c.start)/int64(dt) + 1; n > c.k {
			c.k = n
		}
		c.leapLocked(t)
		return
	}
	for {
		g := c.start + timebase.Instant(c.k)*timebase.Instant(dt)
		if g > t {
			c.leapLocked(t)
			return
		}
		c.leapLocked(g)
		c.k++
		sdt := dt.Seconds()
		if c.cfg.WanderPPMPerSqrtS > 0 {
			c.wander += c.cfg.WanderPPMPerSqrtS * math.Sqrt(sdt) * c.rng.NormFloat64()
		}
		tp := c.cfg.Temperature
		if tp.NoiseC > 0 {
			a := math.Exp(-sdt / tp.NoiseTau.Seconds())
			c.tempOU = c.tempOU*a + tp.NoiseC*math.Sqrt(1-a*a)*c.rng.NormFloat64()
		}
		t0 := c.temperatureAt(0)
		c.tempC = c.temperatureAt(g.Sub(c.start)) + c.tempOU
		dT := c.tempC - t0
		osc := c.cfg.InitialPPM + c.wander + c.cfg.TempCoeffPPMPerC*dT + c.cfg.TempCoeff2PPMPerC2*dT*dT
		if cur := c.seg.Load(); osc != cur.osc {
			c.cutLocked(g, osc, cur.steer, 0)
		}
	}
}

// temperatureAt is the deterministic part of the temperature profile, e after start.
func (c *BoardClock) temperatureAt(e time.Duration) float64 {
	tp := c.cfg.Temperature
	T := tp.BaseC
	if tp.SwingC != 0 {
		T += tp.SwingC * math.Sin(2*math.Pi*e.Seconds()/tp.SwingPeriod.Seconds())
	}
	for _, s := range tp.Steps {
		if e <= s.At {
			continue
		}
		if s.Tau == 0 {
			T += s.DeltaC
		} else {
			T += s.DeltaC * (1 - math.Exp(-(e-s.At).Seconds()/s.Tau.Seconds()))
		}
	}
	return T
}

// Steerable returns the board clock as a timebase.Steerable whose commands take effect at truth now().
func (c *BoardClock) Steerable(now func() timebase.Instant) timebase.Steerable {
	return steerable{c: c, now: now}
}

type steerable struct {
	c   *BoardClock
	now func() timebase.Instant
}

func (s steerable) Step(d time.Duration) error {
	s.c.StepAt(s.now(), d)
	return nil
}

func (s steerable) SetFrequency(ppm float64) error { return s.c.SetFrequencyAt(s.now(), ppm) }

func (s steerable) SetStatus(synced bool, est, max time.Duration) error {
	return s.c.SetStatus(synced, est, max)
}

// SetLeap makes the steerable a timebase.LeapClock: the flag is armed (or cleared) at truth now().
func (s steerable) SetLeap(li timebase.LeapIndicator) error { return s.c.SetLeapAt(s.now(), li) }

// ServedClock returns the board clock as the NTP server sees it, with host as truth: Now reads the board at
// host.Now(), and FromKernel maps a kernel (host) timestamp onto the board's timescale.
func (c *BoardClock) ServedClock(host timebase.Clock) timebase.ServedClock {
	if host == nil {
		panic(errors.New("sim: BoardClock.ServedClock(nil): a host clock is required"))
	}
	return servedClock{c: c, host: host}
}

type servedClock struct {
	c    *BoardClock
	host timebase.Clock
}

func (s servedClock) Now() timebase.Instant                          { return s.c.At(s.host.Now()) }
func (s servedClock) FromKernel(k timebase.Instant) timebase.Instant { return s.c.At(k) }

// LeapApplied records one leap second the board clock applied: the truth instant and the step (−1 s for an
// insertion, +1 s for a deletion).
type LeapApplied struct {
	Truth timebase.Instant
	Step  time.Duration
}

// SetLeapAt arms the board clock's leap second flag from truth t on, as adjtimex's STA_INS (li =
// LeapInsert) or STA_DEL (LeapDelete) do, or clears it (LeapNone). It follows the Linux rule: armed, the
// clock inserts a second when its own reading reaches the next 00:00:00 (it reads 23:59:59 again: a step
// back by one second) or deletes one when it reaches 23:59:59 (a step forward to 00:00:00), once; it then
// waits, as the kernel's TIME_WAIT, until the flag is cleared. The midnight is the board's, not truth's: a
// board clock that is off by a few microseconds applies the leap that far off.
func (c *BoardClock) SetLeapAt(t timebase.Instant, li timebase.LeapIndicator) error {
	switch li {
	case timebase.LeapNone, timebase.LeapInsert, timebase.LeapDelete:
	default:
		return fmt.Errorf("sim: BoardClock.SetLeapAt(%v, %v): want LeapNone, LeapInsert or LeapDelete", t, li)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(t)
	if li == timebase.LeapNone {
		c.leapWait = false
	}
	if c.leapFlag == timebase.LeapNone && li != timebase.LeapNone {
		c.leapChecked = t
	}
	c.leapFlag = li
	c.leapArmed.Store(li != timebase.LeapNone)
	return nil
}

// LeapState returns the leap flag the board clock holds and the leap seconds it has applied so far.
func (c *BoardClock) LeapState() (flag timebase.LeapIndicator, applied []LeapApplied) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leapFlag, append([]LeapApplied(nil), c.leapApplied...)
}

// leapLocked applies an armed leap second if the board's reading crosses its trigger before truth t: the
// next midnight (insertion) or the second before it (deletion) after the reading at the last check. The
// crossing is found on the current segment: every cut calls this first, so no segment is skipped.
func (c *BoardClock) leapLocked(t timebase.Instant) {
	if c.leapFlag == timebase.LeapNone || c.leapWait {
		return
	}
	cur := c.seg.Load()
	from := max(c.leapChecked, cur.truth0)
	if t <= from {
		return
	}
	const day = 86400 * timebase.Second
	b0, _ := cur.line.eval(from)
	midnight := b0.Truncate(24*time.Hour) + day
	trig, step := midnight, -time.Second
	if c.leapFlag == timebase.LeapDelete {
		trig, step = midnight-timebase.Second, time.Second
		if b0 >= trig { // already inside 23:59:59: Linux deletes at the next tick
			trig = b0
		}
	}
	b1, _ := cur.line.eval(t)
	c.leapChecked = t
	if b1 < trig {
		return
	}
	at := min(max(cur.line.inverse(trig), from), t)
	for at > from {
		if b, _ := cur.line.eval(at - 1); b < trig {
			break
		}
		at-- // inverse rounds: the first nanosecond reading trig or later
	}
	for b, _ := cur.line.eval(at); b < trig && at < t; b, _ = cur.line.eval(at) {
		at++
	}
	c.cutLocked(at, cur.osc, cur.steer, step)
	c.leapWait = true
	c.leapApplied = append(c.leapApplied, LeapApplied{Truth: at, Step: step})
}
