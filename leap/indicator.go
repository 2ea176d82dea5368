package leap

import (
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// KernelFlag is the leap flag the kernel clock should hold (adjtimex STA_INS / STA_DEL). Linux inserts or
// deletes a second at the first UTC midnight it passes with the flag set, so the flag may only be set on the
// day that ends with the leap second, and must be cleared after it (the kernel then leaves TIME_WAIT).
type KernelFlag uint8

const (
	KernelNone   KernelFlag = iota // neither flag
	KernelInsert                   // STA_INS: the day's last minute gets a 61st second
	KernelDelete                   // STA_DEL: the day's last minute loses its 60th second
)

var kernelNames = [...]string{"none", "insert", "delete"}

func (k KernelFlag) String() string {
	if int(k) < len(kernelNames) {
		return kernelNames[k]
	}
	return fmt.Sprintf("KernelFlag(%d)", uint8(k))
}

// MarshalText makes a KernelFlag print as its name in JSON.
func (k KernelFlag) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Mode is how served time crosses a leap second.
type Mode uint8

const (
	// ModeStep is the default: served time is what the kernel does, POSIX time with 23:59:59 repeated for an
	// insertion (or skipped for a deletion), and the Leap Indicator announces the leap all day.
	ModeStep Mode = iota
	// ModeSmear serves a 24-hour linear smear from noon UTC before the leap to noon UTC after it (the
	// scheme Google's public NTP uses): each second of that window is 1/86400 longer (insertion) or shorter
	// (deletion), served time never jumps, and LI stays 0. Smeared time is wrong by up to half a second
	// against UTC around the leap, on purpose. Never mix smeared and non-smeared servers in one client's
	// configuration: the client sees them disagree by up to 0.5 s and may reject the good ones or swing
	// between them. Off by default; for networks whose clients cannot handle a leap second at all.
	ModeSmear
)

func (m Mode) String() string {
	switch m {
	case ModeStep:
		return "step"
	case ModeSmear:
		return "smear"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Schedule is what to do about one announced leap second at any instant: the LI to serve, the kernel
// flag to hold, the served time. It is a value computed from a Decision; its methods are pure.
type Schedule struct {
	Event Event
	Has   bool // Event is a real announcement; without one LI is 0 (or 3) and no flag is held
	Mode  Mode
}

// ScheduleFor makes the schedule for a decision.
func ScheduleFor(d Decision, mode Mode) Schedule {
	return Schedule{Event: d.Next, Has: d.HasNext, Mode: mode}
}

// Indicator returns the Leap Indicator to serve at now (POSIX time read from the served clock): 3 when the
// discipline is not synchronized; 1 (insert) or 2 (delete) during the UTC day that ends with the leap second,
// [At-24h, At), including the repeated 23:59:59; 0 otherwise. In ModeSmear it is never 1 or 2: a smearing
// server hides the leap from its clients.
func (s Schedule) Indicator(now timebase.Instant, synced bool) timebase.LeapIndicator {
	if !synced {
		return timebase.LeapUnsync
	}
	if !s.Has || s.Mode == ModeSmear {
		return timebase.LeapNone
	}
	if start, end := s.Event.Day(); now >= start && now < end {
		if s.Event.Change < 0 {
			return timebase.LeapDelete
		}
		return timebase.LeapInsert
	}
	return timebase.LeapNone
}

// Kernel returns the leap flag the kernel clock should hold at now: set for the leap day [At-24h, At), clear
// otherwise. It does not depend on Mode: the appliance's own clock follows UTC in both modes; smearing only
// changes the timestamps served.
func (s Schedule) Kernel(now timebase.Instant) KernelFlag {
	if !s.Has {
		return KernelNone
	}
	if start, end := s.Event.Day(); now >= start && now < end {
		if s.Event.Change < 0 {
			return KernelDelete
		}
		return KernelInsert
	}
	return KernelNone
}

// NextChange returns the first instant after now at which Indicator, Kernel or the smear changes, so the
// daemon can wake for it; ok is false when nothing is scheduled.
func (s Schedule) NextChange(now timebase.Instant) (at timebase.Instant, ok bool) {
	if !s.Has {
		return 0, false
	}
	start, end := s.Event.Day()
	cands := []timebase.Instant{start, end}
	if s.Event.Change < 0 {
		// A deleting kernel jumps from 23:59:59 straight to 00:00:00: a wake-up asked for 00:00:00 on the
		// clock before the jump would come a second late, so ask for 23:59:59 too.
		cands = append(cands, end-timebase.Second)
	}
	if s.Mode == ModeSmear {
		ss, se := smearWindow(s.Event)
		cands = append(cands, ss, se)
	}
	for _, c := range cands {
		if c > now && (!ok || c < at) {
			at, ok = c, true
		}
	}
	return at, ok
}

// Uniform time is a leap-free count of SI seconds (TAI minus the TAI-UTC in force before the event), written
// as an Instant that equals POSIX time before the event. It is what an oscillator counts, so the simulator
// and the tests run on it; POSIX time and served time are functions of it.

// POSIXFromUniform maps uniform time to what the kernel clock reads across ev (no smearing). For an insertion,
// the leap second [At, At+1s) of uniform time reads [At-1s, At) again: 23:59:59 is repeated, repeat is true,
// and the clock goes back by one second at 00:00:00, as POSIX time does. For a deletion, uniform [At-1s, ...)
// reads one second later: 23:59:59 never appears.
func POSIXFromUniform(ev Event, u timebase.Instant) (posix timebase.Instant, repeat bool) {
	switch {
	case ev.Change > 0 && u >= ev.At:
		return u - timebase.Second, u < ev.At+timebase.Second
	case ev.Change < 0 && u >= ev.At-timebase.Second:
		return u + timebase.Second, false
	}
	return u, false
}

// UniformFromPOSIX is the inverse of POSIXFromUniform. repeat says whether a reading in [At-1s, At) is the
// second pass (the inserted second): the kernel knows (adjtimex reports TIME_OOP); a bare POSIX reading does
// not. A POSIX reading inside a deleted second cannot occur and is mapped as if just after it.
func UniformFromPOSIX(ev Event, posix timebase.Instant, repeat bool) timebase.Instant {
	switch {
	case ev.Change > 0 && posix >= ev.At:
		return posix + timebase.Second
	case ev.Change > 0 && repeat && posix >= ev.At-timebase.Second:
		return posix + timebase.Second
	case ev.Change < 0 && posix >= ev.At-timebase.Second:
		if posix < ev.At {
			posix = ev.At
		}
		return posix - timebase.Second
	}
	return posix
}

// smearWindow is the uniform-time interval of the smear: from noon UTC on the leap day to noon the next day.
// It is 86400+Change uniform seconds long and covers 86400 served seconds.
func smearWindow(ev Event) (start, end timebase.Instant) {
	start = ev.At - 12*timebase.Instant(time.Hour)
	return start, start + timebase.Instant(86400+ev.Change)*timebase.Second
}

// Served returns the time to serve at uniform instant u. ModeStep: the kernel's POSIX time (see
// POSIXFromUniform). ModeSmear: the linear noon-to-noon smear, which is continuous and monotonic, equals
// POSIX time outside the window and is half a second off it at the leap.
func (s Schedule) Served(u timebase.Instant) timebase.Instant {
	if !s.Has {
		return u
	}
	if s.Mode != ModeSmear {
		p, _ := POSIXFromUniform(s.Event, u)
		return p
	}
	start, end := smearWindow(s.Event)
	switch {
	case u < start:
		return u
	case u >= end:
		return u - timebase.Instant(s.Event.Change)*timebase.Second
	}
	// (u-start) < 86401e9 ns; times 86400 stays below 7.5e18, inside int64.
	l := int64(86400 + s.Event.Change)
	return start + timebase.Instant(int64(u-start)*86400/l)
}

// SmearOffset returns served minus POSIX time at a POSIX reading (with the kernel's repeat bit): what a
// smearing server adds to the kernel's timestamps. It is zero in ModeStep.
func (s Schedule) SmearOffset(posix timebase.Instant, repeat bool) time.Duration {
	if !s.Has || s.Mode != ModeSmear {
		return 0
	}
	u := UniformFromPOSIX(s.Event, posix, repeat)
	return s.Served(u).Sub(posix)
}
