package leap

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Controller is the one object the daemon needs: it owns a Tracker and the table in use, and on each tick
// turns the receiver's latest report into the Leap Indicator to publish, the kernel flag to hold and when to
// wake next. It remembers which kernel flag was last applied so the daemon calls the kernel only on a change.
// Like everything here it is pure: the daemon passes now and applies the outputs.
type Controller struct {
	table   *Table
	mode    Mode
	tr      Tracker
	applied KernelFlag
	known   bool // applied is known (false until the first KernelApplied: the kernel may hold a stale flag)
	// recent is the last announced leap second once it has passed, kept for a day so that the schedule's
	// smear and quiet window run on after it (decisions only carry future events).
	recent    Event
	hasRecent bool
	next      Event
	hasNext   bool
}

// NewController starts a controller on a table (usually Choose(...).Table).
func NewController(table *Table, mode Mode) *Controller { return &Controller{table: table, mode: mode} }

// SetTable replaces the table (a newer file arrived); the tracker's memory is kept.
func (c *Controller) SetTable(t *Table) { c.table = t }

// Table returns the table in use.
func (c *Controller) Table() *Table { return c.table }

// Output is what the daemon does with one tick.
type Output struct {
	Decision Decision
	Schedule Schedule
	// Leap is the LI to put in the published snapshot (3 when not synced).
	Leap timebase.LeapIndicator
	// Kernel is the flag the kernel should hold; SetKernel is true when it differs from what was last
	// applied (or nothing was applied yet): call the clock's leap method, then KernelApplied.
	Kernel    KernelFlag
	SetKernel bool
	// Wake is the next instant at which the outputs change by themselves (0: none). The daemon ticks then.
	Wake timebase.Instant
}

// Tick computes the outputs at now from the receiver's latest report.
func (c *Controller) Tick(rx Receiver, now timebase.Instant, synced bool) Output {
	d := c.tr.Update(c.table, rx, now)
	if c.hasNext && c.next.At <= now && (!d.HasNext || d.Next.At != c.next.At) {
		c.recent, c.hasRecent = c.next, true
	}
	if c.hasRecent && now >= c.recent.At+86400*timebase.Second {
		c.hasRecent = false
	}
	c.next, c.hasNext = d.Next, d.HasNext
	s := ScheduleFor(d, c.mode)
	if !s.Has && c.hasRecent {
		// Past the event: LI and the kernel flag are already back to none, but the smear and the quiet
		// window run on after it.
		s.Event, s.Has = c.recent, true
	}
	o := Output{Decision: d, Schedule: s, Leap: s.Indicator(now, synced), Kernel: s.Kernel(now)}
	o.SetKernel = !c.known || o.Kernel != c.applied
	if w, ok := s.NextChange(now); ok {
		o.Wake = w
	}
	return o
}

// KernelApplied records that the kernel now holds f.
func (c *Controller) KernelApplied(f KernelFlag) { c.applied, c.known = f, true }

// quietBefore and quietAfter bound the window around a leap second in which a PPS sample may be off by the
// leap second itself: receivers label the pulse of 23:59:60 as 23:59:60, as 23:59:59 again, as 00:00:00, or
// not at all, and the kernel's own step lands within a tick of midnight. A sample there says nothing about
// the oscillator.
const (
	quietBefore = 2 * time.Second
	quietAfter  = 3 * time.Second
)

// Quiet reports whether a PPS sample taken at board (POSIX) time at should be dropped by the servo rather
// than treated as a clock error: it falls within a few seconds of an announced leap second, coming or just
// passed. Outside that window a one-second offset is real (the kernel missed the leap, or the announcement
// was wrong) and the servo steps as it would for any error.
func (s Schedule) Quiet(at timebase.Instant) bool {
	return s.Has && at >= s.Event.At-timebase.Instant(quietBefore) && at < s.Event.At+timebase.Instant(quietAfter)
}

// lateWindow is how long around a leap second an offset of exactly one second is taken for a receiver that
// applies the leap late (or early) rather than for a clock error. Receivers have been seen applying a leap
// seconds to minutes late; a locked clock cannot drift by a whole second, so within this window such an
// offset is the receiver's, and the servo should coast rather than step to it. Beyond the window the
// ordinary step rule applies, so a leap the kernel failed to apply is still corrected.
const (
	lateWindow      = 5 * time.Minute
	artifactMaxSkew = 5 * time.Millisecond
)

// Artifact reports whether a PPS sample taken at board time at with the given offset (board minus
// receiver) is an artifact of the leap second: any sample in the Quiet window, or, within lateWindow of the
// event, an offset within 5 ms of a whole second. The daemon drops such samples instead of feeding the
// servo (the servo would otherwise step by a second and back).
func (s Schedule) Artifact(at timebase.Instant, offset time.Duration) bool {
	if !s.Has {
		return false
	}
	if s.Quiet(at) {
		return true
	}
	w := timebase.Instant(lateWindow)
	if at < s.Event.At-w || at >= s.Event.At+w {
		return false
	}
	return (offset-time.Second).Abs() <= artifactMaxSkew || (offset+time.Second).Abs() <= artifactMaxSkew
}
