package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// LeapConfig puts one leap second into the world. With a leap second, truth is uniform time: a leap-free
// count of SI seconds equal to POSIX time before the event (leap.POSIXFromUniform); after an insertion
// POSIX time, and so what the receiver labels and a correct kernel clock reads, is one second behind it.
// The zero value has no leap second, and then truth is POSIX time as before.
type LeapConfig struct {
	// At is the POSIX instant at which the new TAI-UTC applies: 00:00:00 UTC on the first of a month.
	// Zero: no leap second.
	At timebase.Instant
	// Change is +1 (a second inserted: 23:59:60) or -1 (23:59:59 deleted).
	Change int
	// Label is how the receiver names the inserted second.
	Label LeapLabel
	// Report makes the receiver report leap information with each epoch, as a u-blox configured for it:
	// UBX NAV-TIMELS (GPS-UTC, its source, the next leap and the time to it) and PUBX,04 (GPS-UTC, with a
	// D suffix while it is the firmware default). It may be set without a leap second (At zero): the
	// receiver then reports none scheduled, or what AnnounceAt and AnnounceChange say.
	Report bool
	// GPSMinusUTC is GPS-UTC before the event (17 in 2016, 18 since 2017); used with Report.
	GPSMinusUTC int
	// AnnounceAt and AnnounceChange replace, in what the receiver reports, the event and its size (a receiver
	// with corrupt or stale data; the seconds it labels still follow the true event). Zero: the true ones.
	// They are not validated: an absurd announcement is a test of the daemon.
	AnnounceAt     timebase.Instant
	AnnounceChange int
	// ForgetFrom is a truth instant from which the receiver has lost its almanac (a cold start after a power
	// cut): it reports its firmware default GPS-UTC (FirmwareDefault, marked as such) and no leap second.
	// Zero: never.
	ForgetFrom      timebase.Instant
	FirmwareDefault int
}

// LeapLabel is how a receiver names the inserted second in its NMEA output.
type LeapLabel int

const (
	LeapSixty  LeapLabel = iota // 23:59:60, as u-blox timing receivers do
	LeapRepeat                  // 23:59:59 a second time, as POSIX does
	LeapSkip                    // nothing at all for that second (its pulse still comes)
)

func (l LeapLabel) String() string {
	switch l {
	case LeapSixty:
		return "sixty"
	case LeapRepeat:
		return "repeat-59"
	case LeapSkip:
		return "skip"
	}
	return fmt.Sprintf("LeapLabel(%d)", int(l))
}

// Has reports whether a leap second is configured.
func (l LeapConfig) Has() bool { return l.At != 0 }

// Event is the configured leap second in the leap package's terms (TAIMinusUTC is left zero: the world does
// not need it).
func (l LeapConfig) Event() leap.Event { return leap.Event{At: l.At, Change: l.Change} }

// POSIX maps truth (uniform time) to POSIX UTC: what the receiver labels and what a board clock that applies
// the leap second as Linux does reads. repeat is true during an inserted second (23:59:59 again).
func (l LeapConfig) POSIX(u timebase.Instant) (posix timebase.Instant, repeat bool) {
	if !l.Has() {
		return u, false
	}
	return leap.POSIXFromUniform(l.Event(), u)
}

func (l LeapConfig) validate(bad func(field string, v any, why string)) {
	if l.Has() && !leap.MonthStart(l.At) {
		bad("Leap.At", l.At, "must be 00:00:00 UTC on the first of a month")
	}
	if l.Has() && l.Change != 1 && l.Change != -1 {
		bad("Leap.Change", l.Change, "must be +1 or -1")
	}
	if l.Label < LeapSixty || l.Label > LeapSkip {
		bad("Leap.Label", l.Label, "must be LeapSixty, LeapRepeat or LeapSkip")
	}
	if l.Report && (l.GPSMinusUTC < 0 || l.GPSMinusUTC > 100) {
		bad("Leap.GPSMinusUTC", l.GPSMinusUTC, "must be in [0, 100] s")
	}
	if l.AnnounceChange < -127 || l.AnnounceChange > 127 {
		bad("Leap.AnnounceChange", l.AnnounceChange, "must fit NAV-TIMELS's signed byte")
	}
	if l.ForgetFrom != 0 && (l.FirmwareDefault < 0 || l.FirmwareDefault > 100) {
		bad("Leap.FirmwareDefault", l.FirmwareDefault, "must be in [0, 100] s")
	}
}

// rxLabel is how the receiver names one second.
type rxLabel struct {
	posix timebase.Instant // the POSIX second (23:59:59 for the inserted one)
	sixty bool             // print it as 23:59:60
	skip  bool             // send nothing for it
}

// labelFor is the receiver's name for truth second sec.
func (l LeapConfig) labelFor(sec timebase.Instant) rxLabel {
	p, repeat := l.POSIX(sec)
	lb := rxLabel{posix: p}
	if repeat {
		switch l.Label {
		case LeapSixty:
			lb.sixty = true
		case LeapSkip:
			lb.skip = true
		}
	}
	return lb
}

// gpsEpoch is 1980-01-06 00:00:00 UTC, where GPS time began (GPS-UTC was 0 then).
var gpsEpoch = timebase.Date(1980, time.January, 6, 0, 0, 0, 0)

const weekSeconds = 7 * 86400

// appendLeapReport appends the epoch's PUBX,04 and NAV-TIMELS for truth second sec, labelled lb.
//
// NAV-TIMELS (class 0x01, id 0x26), 24-byte payload, little-endian:
//
//	0 iTOW U4 ms | 4 version U1 = 0 | 5 reserved[3] | 8 srcOfCurrLs U1 (0 default, 2 GPS) | 9 currLs I1
//	10 srcOfLsChange U1 (0 none, 2 GPS) | 11 lsChange I1 | 12 timeToLsEvent I4 s | 16 dateOfLsGpsWn U2
//	18 dateOfLsGpsDn U2 | 20 reserved[3] | 23 valid X1: bit0 validCurrLs, bit1 validTimeToLsEvent
//
// framed as B5 62 class id len(U2) payload ckA ckB (8-bit Fletcher over class..payload).
func (l LeapConfig) appendLeapReport(buf []byte, sec timebase.Instant, lb rxLabel) []byte {
	forgot := l.ForgetFrom != 0 && sec >= l.ForgetFrom
	cur := l.GPSMinusUTC
	if l.Has() && lb.posix >= l.At {
		cur += l.Change
	}
	ev, change := l.At, l.Change
	if l.AnnounceAt != 0 {
		ev = l.AnnounceAt
	}
	if l.AnnounceChange != 0 {
		change = l.AnnounceChange
	}
	if ev == 0 {
		change = 0 // no leap second in the world and none announced: "none scheduled", from the sky
	}
	curSrc, chSrc := byte(2), byte(2)
	if forgot {
		cur, curSrc, chSrc, change = l.FirmwareDefault, 0, 0, 0
	}

	// PUBX,04: time, date, UTC time of week and week, GPS-UTC (D: default), clock bias and drift, granularity.
	t := lb.posix.Time()
	h, m, s := t.Clock()
	if lb.sixty {
		s = 60
	}
	year, month, day := t.Date()
	utcSec := lb.posix.Sub(gpsEpoch).Seconds()
	utcWk := int(math.Floor(utcSec / weekSeconds))
	utcTow := utcSec - float64(utcWk)*weekSeconds
	if lb.sixty {
		utcTow++
	}
	w := sentence{b: buf}
	w.begin("P", "UBX")
	w.f("04")
	w.clock(h, m, s)
	w.b = append(w.b, ',')
	w.b = appendPadded(w.b, day, 2)
	w.b = appendPadded(w.b, int(month), 2)
	w.b = appendPadded(w.b, year%100, 2)
	w.fixed(utcTow, 2)
	w.int(utcWk, 1)
	ls := fmt.Sprint(cur)
	if curSrc == 0 {
		ls += "D"
	}
	w.f(ls)
	w.f("0")
	w.f("0.000")
	w.f("21")
	w.end()
	buf = w.b

	// NAV-TIMELS. GPS time of the epoch: uniform time plus GPS-UTC before the event (GPS time has no leaps).
	gpsSec := int64(sec.Sub(gpsEpoch)/time.Second) + int64(l.GPSMinusUTC)
	itow := uint32((gpsSec % weekSeconds) * 1000)
	toEvent := int32(ev.Sub(lb.posix) / time.Second)
	if lb.sixty {
		toEvent = 0 // the leap second itself: the event is now
	}
	var p [24]byte
	binary.LittleEndian.PutUint32(p[0:], itow)
	p[8], p[9] = curSrc, byte(int8(cur))
	p[10], p[11] = chSrc, byte(int8(change))
	binary.LittleEndian.PutUint32(p[12:], uint32(toEvent))
	p[23] = 0x01
	if chSrc != 0 {
		p[23] |= 0x02
	}
	return appendUBX(buf, 0x01, 0x26, p[:])
}

// appendUBX frames a UBX message.
func appendUBX(buf []byte, class, id byte, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, 0xB5, 0x62, class, id, byte(len(payload)), byte(len(payload)>>8))
	buf = append(buf, payload...)
	var a, b byte
	for _, c := range buf[start+2:] {
		a += c
		b += a
	}
	return append(buf, a, b)
}
