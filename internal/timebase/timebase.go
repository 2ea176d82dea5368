// Package timebase holds the leaf types every other gpsntp package speaks: instants, NTP timestamps,
// PPS edges, receiver time labels, the published sync snapshot, and the two interfaces through which
// the pure core meets a clock (Clock, to read one; Steerable, to steer one).
//
// Instants are integer nanoseconds on the POSIX UTC timescale (leap seconds not counted, as the kernel's
// CLOCK_REALTIME), which covers 1678 to 2262. NTP timestamps carry only 32 bits of seconds and wrap every
// 2^32 s (the first wrap, era 0 to era 1, is on 2036-02-07); FromNTP resolves the era against a pivot
// instant, as RFC 5905 section 6 prescribes, so nothing here breaks in 2036.
//
// This package imports nothing but the standard library and reads no clock: it is pure data and arithmetic.
package timebase

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Instant is a point in time: nanoseconds since 1970-01-01T00:00:00Z on the POSIX timescale.
type Instant int64

// Second is one second as an Instant difference, for readability in arithmetic on instants.
const Second = Instant(time.Second)

// FromTime converts a time.Time to an Instant.
func FromTime(t time.Time) Instant { return Instant(t.UnixNano()) }

// Date is a convenience constructor in UTC, mostly for tests and the simulator.
func Date(year int, month time.Month, day, hour, min, sec, nsec int) Instant {
	return FromTime(time.Date(year, month, day, hour, min, sec, nsec, time.UTC))
}

// Time converts to a time.Time in UTC.
func (i Instant) Time() time.Time { return time.Unix(0, int64(i)).UTC() }

// Add returns i+d.
func (i Instant) Add(d time.Duration) Instant { return i + Instant(d) }

// Sub returns i-j as a Duration.
func (i Instant) Sub(j Instant) time.Duration { return time.Duration(i - j) }

// Unix splits the instant into whole seconds and nanoseconds in [0, 1e9), flooring for instants before 1970.
func (i Instant) Unix() (sec int64, nsec int64) {
	sec = int64(i) / 1e9
	nsec = int64(i) % 1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return sec, nsec
}

// Truncate rounds down to a multiple of d (d > 0), flooring for negative instants.
func (i Instant) Truncate(d time.Duration) Instant {
	r := int64(i) % int64(d)
	if r < 0 {
		r += int64(d)
	}
	return i - Instant(r)
}

// Round rounds to the nearest multiple of d (d > 0), halves away from the earlier multiple.
func (i Instant) Round(d time.Duration) Instant {
	t := i.Truncate(d)
	if i-t >= Instant(d)/2 {
		return t + Instant(d)
	}
	return t
}

// String formats as RFC 3339 with nanoseconds.
func (i Instant) String() string { return i.Time().Format(time.RFC3339Nano) }

// NTPEpochOffset is the number of seconds from the NTP prime epoch (1900-01-01) to the Unix epoch.
const NTPEpochOffset = 2208988800

// NTPTime is a 64-bit NTP timestamp: 32 bits of seconds since the start of its era, 32 bits of fraction.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Seconds                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Fraction                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type NTPTime uint64

// NTP converts an instant to an NTP timestamp; the era number is dropped, as on the wire.
// The fraction is rounded to the nearest 2^-32 s so that a round trip is exact to the nanosecond.
func (i Instant) NTP() NTPTime {
	sec, nsec := i.Unix()
	hi, lo := bits.Mul64(uint64(nsec), 1<<32)
	frac, rem := bits.Div64(hi, lo, 1e9)
	if rem >= 1e9/2 {
		frac++ // cannot overflow: nsec < 1e9 keeps frac < 2^32
	}
	return NTPTime(uint64(uint32(sec+NTPEpochOffset))<<32 | frac)
}

// Seconds returns the timestamp's seconds field.
func (t NTPTime) Seconds() uint32 { return uint32(t >> 32) }

// Fraction returns the timestamp's fraction field.
func (t NTPTime) Fraction() uint32 { return uint32(t) }

// FromNTP converts an NTP timestamp to the instant nearest to pivot among all eras: the timestamp is taken
// to lie within ±68 years of pivot. pivot is usually the receiver's own clock.
func FromNTP(t NTPTime, pivot Instant) Instant {
	frac := uint64(t.Fraction())
	nsec := int64((frac*1e9 + 1<<31) >> 32)
	// Seconds since 1900 in pivot's era, then move by whole eras towards pivot.
	psec, _ := pivot.Unix()
	pivot1900 := psec + NTPEpochOffset
	// The difference between the timestamp's seconds and pivot's, as a signed 32-bit number, picks the
	// nearest era without computing eras explicitly.
	delta := int64(int32(t.Seconds() - uint32(pivot1900)))
	sec1900 := pivot1900 + delta
	return Instant((sec1900-NTPEpochOffset)*1e9 + nsec)
}

// Era returns the NTP era number of the instant (0 until 2036-02-07T06:28:16Z, then 1).
func (i Instant) Era() int64 {
	sec, _ := i.Unix()
	s := sec + NTPEpochOffset
	if s < 0 {
		return -((-s + (1 << 32) - 1) >> 32)
	}
	return s >> 32
}

// NTPShort is the 32-bit NTP short format (16.16 fixed-point seconds) used for root delay and dispersion.
type NTPShort uint32

// ShortFromDuration converts a non-negative duration to NTP short format, rounding up (so an error bound is
// never understated) and saturating at the largest value.
func ShortFromDuration(d time.Duration) NTPShort {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), 1<<16)
	if hi >= 1e9 {
		return math.MaxUint32
	}
	q, rem := bits.Div64(hi, lo, 1e9)
	if rem != 0 {
		q++
	}
	if q > math.MaxUint32 {
		return math.MaxUint32
	}
	return NTPShort(q)
}

// Duration converts from NTP short format.
func (s NTPShort) Duration() time.Duration {
	return time.Duration((uint64(s) * 1e9) >> 16)
}

// LeapIndicator is the two-bit LI field of an NTP header.
type LeapIndicator uint8

const (
	LeapNone   LeapIndicator = 0 // no warning
	LeapInsert LeapIndicator = 1 // the last minute of the day has 61 seconds
	LeapDelete LeapIndicator = 2 // the last minute of the day has 59 seconds
	LeapUnsync LeapIndicator = 3 // clock unsynchronized
)

func (l LeapIndicator) String() string {
	switch l {
	case LeapNone:
		return "none"
	case LeapInsert:
		return "insert"
	case LeapDelete:
		return "delete"
	case LeapUnsync:
		return "unsynchronized"
	}
	return fmt.Sprintf("LeapIndicator(%d)", uint8(l))
}

// SyncState is the discipline's state machine position.
type SyncState uint8

const (
	StateUnsynced SyncState = iota // no usable reference yet
	StateStepping                  // a reference is seen; the clock is being stepped onto it
	StateLocking                   // within the step threshold; slewing until the lock criterion holds
	StateLocked                    // following the reference within the lock criterion
	StateHoldover                  // the reference was lost after lock; free-running on the learned frequency
)

var stateNames = [...]string{"unsynced", "stepping", "locking", "locked", "holdover"}

func (s SyncState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("SyncState(%d)", uint8(s))
}

// RefID is the NTP reference identifier: for stratum 1, four ASCII characters naming the source kind.
type RefID [4]byte

// RefIDFromString makes a RefID from up to four ASCII characters, zero-padded.
func RefIDFromString(s string) RefID {
	var r RefID
	copy(r[:], s)
	return r
}

func (r RefID) String() string {
	n := 0
	for n < 4 && r[n] != 0 {
		n++
	}
	for _, c := range r[:n] {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%d.%d.%d.%d", r[0], r[1], r[2], r[3])
		}
	}
	return string(r[:n])
}

// Edge is one pulse-per-second edge as captured at the edge of the system.
type Edge struct {
	Time   Instant // when the edge was seen, on the board clock's timescale
	Seq    uint64  // the capture's sequence number, to detect drops and repeats
	Rising bool    // polarity of the edge
}

// TimeLabel is a receiver's statement about which UTC second began at the most recent pulse.
type TimeLabel struct {
	Second   Instant // the UTC second the receiver names (whole second)
	Valid    bool    // the receiver claims a valid fix/time for this second
	Source   string  // which sentences or frames gave it, e.g. "RMC+GGA"
	Received Instant // board-clock time the epoch's first byte arrived
}

// Snapshot is what the discipline publishes for the server and the status page: immutable once published.
// The server computes root dispersion from it at send time, so an error bound grows while the box free-runs.
type Snapshot struct {
	State     SyncState
	Leap      LeapIndicator
	Stratum   uint8
	RefID     RefID
	RefTime   Instant // when the clock was last set or corrected from the reference
	Precision int8    // log2 seconds of the clock's read precision
	RootDelay time.Duration

	// Root dispersion at RefTime, and its growth rate in seconds per second after RefTime.
	RootDispersion time.Duration
	DispersionRate float64

	// Discipline figures for people (status page, gpsntpctl).
	Offset       time.Duration // last measured offset of the board clock from the reference (clock - ref)
	FrequencyPPM float64       // current frequency correction applied to the board clock
	Jitter       time.Duration // RMS of recent offsets
	EstError     time.Duration // estimated error of served time
	LockedSince  Instant       // zero when not locked
	HoldoverFrom Instant       // zero unless in holdover
}

// RootDispersionAt returns the root dispersion to serve at now: the value at RefTime plus its growth.
func (s *Snapshot) RootDispersionAt(now Instant) time.Duration {
	d := s.RootDispersion
	if now > s.RefTime && s.DispersionRate > 0 {
		d += time.Duration(float64(now-s.RefTime) * s.DispersionRate)
	}
	return d
}

// Unsynchronized is the snapshot a server publishes before the first lock: LI=3, stratum 16.
func Unsynchronized() *Snapshot {
	return &Snapshot{State: StateUnsynced, Leap: LeapUnsync, Stratum: 16, Precision: -20, RootDispersion: 16 * time.Second}
}

// Clock is something that reads time.
type Clock interface {
	Now() Instant
}

// ServedClock is the clock the NTP server reads. FromKernel translates a timestamp the kernel took with
// CLOCK_REALTIME (a packet's receive time) onto the served timescale. On the appliance the board clock is
// CLOCK_REALTIME and FromKernel is the identity; in the simulator the served clock is a model and the host
// clock is its reference, never touched.
type ServedClock interface {
	Clock
	FromKernel(k Instant) Instant
}

// Steerable is a clock the discipline can steer. Implementations: the kernel clock (adjtimex), a
// DAC-steered oscillator, a null clock, and the simulator's board clock.
type Steerable interface {
	// Step moves the clock by d at once.
	Step(d time.Duration) error
	// SetFrequency sets the clock's frequency correction in parts per million (positive: runs faster).
	SetFrequency(ppm float64) error
	// SetStatus reports sync state and error bounds to whoever else reads the clock (the kernel's
	// STA_UNSYNC, esterror and maxerror).
	SetStatus(synced bool, estError, maxError time.Duration) error
}

// LeapClock is implemented by a Steerable that can insert or delete a leap second itself, as the Linux
// kernel does with STA_INS and STA_DEL: armed on the leap day, it applies the leap at the next UTC midnight.
// SetLeap takes LeapInsert, LeapDelete, or LeapNone to disarm.
type LeapClock interface {
	SetLeap(li LeapIndicator) error
}
