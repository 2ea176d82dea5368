package gps

import (
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Fix is the kind of navigation solution a receiver reports for an epoch.
type Fix uint8

const (
	FixUnknown  Fix = iota // the epoch said nothing about a fix
	FixNone                // the receiver says it has no fix
	FixPresent             // the receiver claims a fix but did not say 2D or 3D (RMC/GGA without GSA)
	Fix2D                  // two-dimensional fix
	Fix3D                  // three-dimensional fix
	FixTimeOnly            // time-only solution of a surveyed or fixed-position timing receiver
)

var fixNames = [...]string{"unknown", "none", "fix", "2d", "3d", "time"}

func (f Fix) String() string {
	if int(f) < len(fixNames) {
		return fixNames[f]
	}
	return "invalid"
}

// MarshalText makes a Fix print as its name in JSON.
func (f Fix) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Constellation is a satellite system.
type Constellation uint8

const (
	ConstUnknown Constellation = iota
	GPS
	SBAS
	GLONASS
	Galileo
	BeiDou
	QZSS
	NavIC
	// NumConstellations sizes the per-constellation arrays in Epoch.
	NumConstellations
)

var constNames = [...]string{"unknown", "gps", "sbas", "glonass", "galileo", "beidou", "qzss", "navic"}

func (c Constellation) String() string {
	if int(c) < len(constNames) {
		return constNames[c]
	}
	return "invalid"
}

// MarshalText makes a Constellation print as its name in JSON.
func (c Constellation) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Sat is one satellite of the sky view.
type Sat struct {
	Constellation Constellation
	PRN           uint16 // satellite number as the receiver numbers it (NMEA PRN or UBX svId)
	Elevation     int8   // degrees above the horizon, valid when HasAngles
	Azimuth       int16  // degrees from true north, valid when HasAngles
	HasAngles     bool
	CN0           uint8 // carrier-to-noise density in dB-Hz; 0 when not tracked
	Used          bool  // used in the navigation solution
}

// ConstellationSats summarises one constellation of an epoch.
type ConstellationSats struct {
	Used    int     // satellites used in the solution
	Visible int     // satellites in view (from GSV or NAV-SAT)
	Tracked int     // satellites in view with a C/N0 reading
	MeanCN0 float64 // mean C/N0 of tracked satellites, dB-Hz
	MaxCN0  uint8   // best C/N0, dB-Hz
}

// Position is the antenna position of an epoch, when the receiver reported one.
type Position struct {
	Valid    bool
	Lat, Lon float64 // degrees, WGS84, north and east positive
	HasAlt   bool
	Alt      float64 // metres above mean sea level
}

// Errors are the receiver's own 1-sigma error estimates (NMEA GST).
type Errors struct {
	Valid         bool
	RMS           float64 // RMS of the pseudorange residuals, metres
	Lat, Lon, Alt float64 // metres
}

// Leap is what the receiver says about leap seconds. GPS time runs ahead of UTC by Current seconds; a
// receiver learns the value from the navigation message (or starts with a firmware default).
type Leap struct {
	Known   bool   // Current is known
	Current int    // GPS-UTC in seconds (18 since 2017)
	Default bool   // Current is the firmware's built-in value, not yet confirmed by the broadcast
	Source  string // "NAV-TIMELS", "NAV-TIMEGPS" or "PUBX04"

	ChangeKnown bool             // the receiver reported the next (or last) leap second event
	Change      int              // +1 insert, -1 delete, 0 none announced
	Event       timebase.Instant // POSIX instant at which the new offset applies (midnight UTC), when known
	EventKnown  bool
}

// TimeBase names the time scale of a TIM-TP pulse time.
type TimeBase uint8

const (
	TimeBaseGNSS TimeBase = iota // a GNSS system time (GPS unless TimePulse.RefGNSS says otherwise)
	TimeBaseUTC
)

// TimePulse is u-blox TIM-TP: the time of the next pulse and its quantization error. A receiver can place
// its pulse only on its own clock ticks; qErr is how far the pulse it is about to send is from the ideal
// one, so a PPS time stamp can be corrected by it (sawtooth correction).
type TimePulse struct {
	Valid      bool
	Pulse      timebase.Instant // UTC (POSIX) time of the next pulse, when PulseKnown
	PulseKnown bool
	TimeBase   TimeBase
	RefGNSS    uint8  // 0 GPS, 1 GLONASS, 2 BeiDou, 3 Galileo, 15 unknown (only meaningful for TimeBaseGNSS)
	Week       uint16 // week number of the pulse in TimeBase
	TOW        time.Duration
	QErrPS     int32 // quantization error of the next pulse in picoseconds (pulse time - ideal time)
	QErrValid  bool
}

// SurveyIn is u-blox TIM-SVIN: the progress of a timing receiver's position survey.
type SurveyIn struct {
	Valid        bool // a TIM-SVIN was seen in this epoch
	Active       bool
	Done         bool // the survey reached its accuracy and the receiver holds the position fixed
	Duration     time.Duration
	Observations uint32
	MeanAcc      float64 // metres
}

// Receiver is what the receiver said about itself, from UBX MON-VER or NMEA TXT.
type Receiver struct {
	Vendor   string // "u-blox" when recognised
	Model    string // e.g. "NEO-M8T"
	Firmware string
	Hardware string
	Protocol string // protocol version, e.g. "18.00"
	Antenna  string // antenna status from TXT, e.g. "OK", "OPEN", "SHORT"
}

// Ack is a UBX ACK-ACK or ACK-NAK: the receiver's answer to a configuration message.
type Ack struct {
	Class, ID byte // the acknowledged message
	OK        bool // ACK-ACK; false for ACK-NAK
	Received  timebase.Instant
}

// Warnings is a set of reasons an epoch is suspect or was corrected.
type Warnings uint32

const (
	WarnNoTime          Warnings = 1 << iota // no message of the epoch named a time
	WarnNoDate                               // a time of day without a date and no recent valid date to borrow
	WarnDateFromContext                      // the date was borrowed from the last valid epoch (GGA-only receivers)
	WarnRollover                             // the date was 1024 weeks (or a multiple) behind the floor and was corrected
	WarnNoValidity                           // no message claimed a valid fix (e.g. ZDA alone)
	WarnReceiverInvalid                      // the receiver flagged the epoch invalid (RMC V, GGA 0, no fix, ...)
	WarnConflict                             // messages of the epoch disagree (dates, or one says valid and another not)
	WarnTimeJump                             // the time does not follow the previous epoch (backwards, or off the receive clock)
	WarnRepeat                               // the same time as the previous epoch
	WarnLeapSecond                           // the receiver named 23:59:60
	WarnBeforeFloor                          // the time is before the floor even after rollover correction
)

var warnNames = [...]string{
	"no-time", "no-date", "date-from-context", "week-rollover-corrected", "no-validity",
	"receiver-invalid", "conflict", "time-jump", "repeat", "leap-second", "before-floor",
}

// List returns the names of the set warnings, in a fixed order.
func (w Warnings) List() []string {
	var out []string
	for i, n := range warnNames {
		if w&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (w Warnings) String() string { return strings.Join(w.List(), ",") }

// Epoch is everything one navigation epoch (normally one second) of receiver output said.
type Epoch struct {
	// Label is the time label for the pulse that began this second. Label.Second is the whole UTC second
	// the receiver named (its hhmmss, or the UBX second field), zero when no date is known. Label.Valid is
	// true only when the receiver claimed a valid solution and nothing in the epoch contradicts it.
	Label timebase.TimeLabel

	HasTime    bool             // some message named a time of day
	TimeOfDay  time.Duration    // the time of day as named, 0..24h (a leap second 23:59:60 reads 23:59:59)
	Time       timebase.Instant // full fix time including the fraction (zero when no date)
	LeapSecond bool             // the receiver named 23:59:60; Label.Second then repeats 23:59:59, as the kernel does

	Fix                   Fix
	SatsUsed, SatsVisible int
	Constellations        [NumConstellations]ConstellationSats
	Sky                   []Sat // the epoch's GSV / NAV-SAT sky view, nil when none was sent this epoch

	HDOP, PDOP, VDOP float64 // 0 when not reported
	TDOP             float64 // time dilution of precision (NAV-DOP, PUBX,00), 0 when not reported
	Position         Position
	Errors           Errors

	Leap      Leap      // latest leap-second information from the receiver (persists across epochs)
	TimePulse TimePulse // TIM-TP of this epoch
	SurveyIn  SurveyIn  // TIM-SVIN of this epoch
	Receiver  Receiver  // latest receiver identity (persists across epochs)

	Warnings Warnings
	Messages int // sentences and frames that made up the epoch
}

// OnSecond reports whether the epoch's time is on its labelled second (within 25 ms). A receiver running
// faster than 1 Hz sends several epochs per second; only the one on the second labels a pulse.
func (e *Epoch) OnSecond() bool {
	if e.Time == 0 && e.Label.Second == 0 {
		return false
	}
	d := e.Time - e.Label.Second
	return d > -timebase.Instant(sameTimeWindow) && d < timebase.Instant(sameTimeWindow)
}
