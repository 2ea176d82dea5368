package gps

import (
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// kind is the message an observation came from.
type kind uint8

const (
	kOther kind = iota
	kRMC
	kGGA
	kGNS
	kGLL
	kZDA
	kGST
	kGSA
	kGSV
	kTXT
	kPUBX
	kPUBX00
	kPUBX04
	kNavPVT
	kNavTimeUTC
	kNavTimeGPS
	kNavTimeLS
	kNavStatus
	kNavSat
	kNavDOP
	kNavPosLLH
	kTimTP
	kTimSVIN
)

// source is a set of messages that named the epoch's time; its names make TimeLabel.Source.
type source uint16

const (
	srcRMC source = 1 << iota
	srcGGA
	srcGNS
	srcGLL
	srcZDA
	srcGST
	srcPUBX00
	srcPUBX04
	srcNavPVT
	srcNavTimeUTC
	srcNavTimeGPS
	numSources = iota
)

var sourceNames = [numSources]string{"RMC", "GGA", "GNS", "GLL", "ZDA", "GST", "PUBX00", "PUBX04", "NAV-PVT", "NAV-TIMEUTC", "NAV-TIMEGPS"}

// Validity claims.
const (
	claimNone int8 = 0
	claimYes  int8 = 1
	claimNo   int8 = -1
)

// Bounds on one epoch.
const (
	maxEpochMessages = 1024
	maxSeen          = 64
	maxUsedIDs       = 1024
	maxSky           = 512
)

// sameTimeWindow: two messages name the same epoch when their times are closer than this. It absorbs
// NMEA's centisecond rounding against UBX nanoseconds and stays well under the 100 ms of a 10 Hz receiver.
const sameTimeWindow = 25 * time.Millisecond

type satID struct {
	c   Constellation
	prn uint16
}

// obs is one decoded message, normalised: what it says about the epoch it belongs to. The decoder keeps
// one and reuses it, so decoding a message allocates nothing here.
type obs struct {
	kind   kind
	talker [2]byte
	src    source // non-zero when the message named a UTC time
	dup    bool   // one per epoch: a second one starts a new epoch
	raw    []byte // the message bytes, hashed (for once-per-epoch messages) to tell an exact copy from a new message
	hash   uint32

	hasTOD   bool
	todNs    int64 // time of day as named, ns; may stray just outside [0, 24h) by a UBX nano correction
	leap     bool  // named 23:59:60 (todNs then reads 23:59:59)
	hasDate  bool
	y, m, dd int

	hasITOW bool
	itow    uint32

	claim  int8
	fixGSA Fix
	fixUBX Fix
	used   int // satellites used, -1 unknown

	hdop, pdop, vdop float64
	tdop             float64
	pos              Position
	errs             Errors
	sky              bool // sats is a complete sky view (NAV-SAT), not a GSV page
	sats             []Sat
	usedIDs          []satID

	tp   TimePulse
	svin SurveyIn

	hasLS     bool
	lsChange  int
	lsToEvent int32
}

func (o *obs) reset() {
	sats, used := o.sats[:0], o.usedIDs[:0]
	*o = obs{sats: sats, usedIDs: used, used: -1}
}

type dupKey struct {
	k kind
	t [2]byte
	h uint32
}

// building is the epoch being assembled.
type building struct {
	open  bool
	first timebase.Instant
	msgs  int
	seen  []dupKey

	src      source
	hasTOD   bool
	todNs    int64
	leap     bool
	hasDate  bool
	y, m, dd int
	conflict bool

	hasITOW bool
	itow    uint32

	yes, no int
	fixGSA  Fix
	fixUBX  Fix
	used    int

	hdop, pdop, vdop float64
	tdop             float64
	pos              Position
	errs             Errors
	sky              []Sat
	idx              *skyIndex
	usedIDs          []satID

	tp   TimePulse
	svin SurveyIn

	hasLS     bool
	lsChange  int
	lsToEvent int32
}

// maxPRN bounds satellite numbers: NMEA numbers go to 999 (u-blox extended), UBX svId to 255.
const maxPRN = 1024

// skyIndex finds a satellite's entry in the sky view in constant time: index+1, 0 for none.
type skyIndex [NumConstellations][maxPRN]uint16

func (b *building) reset() {
	if b.idx != nil {
		for _, s := range b.sky {
			b.idx[s.Constellation][s.PRN] = 0
		}
	}
	seen, sky, used, idx := b.seen[:0], b.sky[:0], b.usedIDs[:0], b.idx
	*b = building{seen: seen, sky: sky, usedIDs: used, idx: idx, used: -1}
}

// sameTime reports whether two times of day name the same epoch, across midnight too.
func sameTime(a int64, aLeap bool, b int64, bLeap bool) bool {
	if aLeap != bLeap {
		return false
	}
	diff := (a - b) % int64(day)
	if diff > int64(day)/2 {
		diff -= int64(day)
	} else if diff < -int64(day)/2 {
		diff += int64(day)
	}
	return diff > -int64(sameTimeWindow) && diff < int64(sameTimeWindow)
}

// observe adds a message to the epoch it belongs to, first completing the open epoch when the message
// names another time (or another UBX navigation epoch), or is a second copy of a once-per-epoch message.
func (d *Decoder) observe(o *obs, recv timebase.Instant) {
	b := &d.cur
	if o.dup && o.raw != nil {
		o.hash = fnv32(o.raw)
	}
	if b.open {
		split := (o.hasTOD && b.hasTOD && !sameTime(o.todNs, o.leap, b.todNs, b.leap)) ||
			(o.hasITOW && b.hasITOW && o.itow != b.itow)
		if !split && o.dup {
			for _, k := range b.seen {
				if k.k == o.kind && k.t == o.talker {
					if k.h == o.hash {
						// An exact copy (a multiplexer repeating a sentence) adds nothing.
						d.counts.Duplicates++
						return
					}
					split = true
					break
				}
			}
		}
		// A stream that never names a time and never pauses still yields epochs, and memory stays bounded.
		if split || b.msgs >= maxEpochMessages || len(b.seen) >= maxSeen || len(b.usedIDs) >= maxUsedIDs {
			d.closeEpoch()
		}
	}
	if !b.open {
		b.open = true
		b.first = recv
	}
	b.msgs++
	if o.dup {
		b.seen = append(b.seen, dupKey{o.kind, o.talker, o.hash})
	}
	if o.src != 0 {
		b.src |= o.src
	}
	if o.hasTOD && !b.hasTOD {
		b.hasTOD, b.todNs, b.leap = true, o.todNs, o.leap
	}
	if o.hasDate {
		if !b.hasDate {
			b.hasDate, b.y, b.m, b.dd = true, o.y, o.m, o.dd
		} else if b.y != o.y || b.m != o.m || b.dd != o.dd {
			b.conflict = true
		}
	}
	if o.hasITOW && !b.hasITOW {
		b.hasITOW, b.itow = true, o.itow
	}
	switch o.claim {
	case claimYes:
		b.yes++
	case claimNo:
		b.no++
	}
	if o.fixGSA > b.fixGSA {
		b.fixGSA = o.fixGSA
	}
	if o.fixUBX != FixUnknown {
		b.fixUBX = o.fixUBX
	}
	if o.used >= 0 {
		b.used = o.used
	}
	if o.hdop > 0 {
		b.hdop = o.hdop
	}
	if o.pdop > 0 {
		b.pdop = o.pdop
	}
	if o.vdop > 0 {
		b.vdop = o.vdop
	}
	if o.tdop > 0 {
		b.tdop = o.tdop
	}
	if o.pos.Valid {
		b.pos = o.pos
	}
	if o.errs.Valid {
		b.errs = o.errs
	}
	if o.sky {
		// A complete view replaces GSV pages.
		for _, s := range b.sky {
			b.idx[s.Constellation][s.PRN] = 0
		}
		b.sky = b.sky[:0]
	}
	for _, s := range o.sats {
		b.addSat(s)
	}
	b.usedIDs = append(b.usedIDs, o.usedIDs...)
	if o.tp.Valid {
		b.tp = o.tp
	}
	if o.svin.Valid {
		b.svin = o.svin
	}
	if o.hasLS {
		b.hasLS, b.lsChange, b.lsToEvent = true, o.lsChange, o.lsToEvent
	}
}

// addSat merges a satellite into the sky view: receivers list a satellite once per signal (L1, L5, ...),
// so keep one entry with the best C/N0.
func (b *building) addSat(s Sat) {
	if s.Constellation >= NumConstellations || s.PRN >= maxPRN {
		return
	}
	if b.idx == nil {
		b.idx = new(skyIndex)
	}
	if i := b.idx[s.Constellation][s.PRN]; i > 0 {
		e := &b.sky[i-1]
		if s.CN0 > e.CN0 {
			e.CN0 = s.CN0
		}
		if !e.HasAngles && s.HasAngles {
			e.HasAngles, e.Elevation, e.Azimuth = true, s.Elevation, s.Azimuth
		}
		e.Used = e.Used || s.Used
		return
	}
	if len(b.sky) < maxSky {
		b.sky = append(b.sky, s)
		b.idx[s.Constellation][s.PRN] = uint16(len(b.sky))
	}
}

// sourceString names a set of sources, cached so a steady stream allocates no strings.
func (d *Decoder) sourceString(s source) string {
	if s == 0 {
		return ""
	}
	if d.srcCache == nil {
		d.srcCache = make(map[source]string)
	}
	if v, ok := d.srcCache[s]; ok {
		return v
	}
	var parts []string
	for i, n := range sourceNames {
		if s&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	v := strings.Join(parts, "+")
	if len(d.srcCache) < 256 {
		d.srcCache[s] = v
	}
	return v
}

// closeEpoch completes the epoch being built: it settles the date, corrects a week rollover, checks the
// time against the previous epoch, decides validity and queues the result.
func (d *Decoder) closeEpoch() {
	b := &d.cur
	if !b.open {
		return
	}
	e := Epoch{
		Messages: b.msgs,
		HDOP:     b.hdop, PDOP: b.pdop, VDOP: b.vdop, TDOP: b.tdop,
		Errors:    b.errs,
		TimePulse: b.tp,
		SurveyIn:  b.svin,
		Receiver:  d.receiver,
	}
	e.Label.Received = b.first
	e.Label.Source = d.sourceString(b.src)
	var w Warnings

	// Time and date.
	dated := false
	if !b.hasTOD {
		w |= WarnNoTime
	} else {
		e.HasTime = true
		named := nameSecond(b.todNs)
		var start timebase.Instant
		switch {
		case b.hasDate:
			start = dayStart(b.y, b.m, b.dd)
			dated = true
		case d.dateCtx.ok && b.first-d.dateCtx.recv <= timebase.Instant(d.dateCtxAge) && b.first >= d.dateCtx.recv:
			predicted := d.dateCtx.time + (b.first - d.dateCtx.recv)
			y, m, dd, _ := splitDay(predicted)
			start = dayStart(y, m, dd)
			best := start
			for _, c := range [...]timebase.Instant{start - timebase.Instant(day), start + timebase.Instant(day)} {
				if abs(c+timebase.Instant(named)-predicted) < abs(best+timebase.Instant(named)-predicted) {
					best = c
				}
			}
			start = best
			dated = true
			w |= WarnDateFromContext
		default:
			w |= WarnNoDate
		}
		e.TimeOfDay = time.Duration(named)
		if e.TimeOfDay < 0 || e.TimeOfDay >= day {
			e.TimeOfDay = time.Duration((int64(named)%int64(day) + int64(day)) % int64(day))
		}
		e.LeapSecond = b.leap
		if dated {
			if w&WarnDateFromContext == 0 {
				for k := 0; start+timebase.Instant(named) < d.opt.Floor && k < 8; k++ {
					start += timebase.Instant(rolloverPeriod)
					w |= WarnRollover
				}
				if w&WarnRollover != 0 {
					d.counts.Rollovers++
				}
			}
			e.Label.Second = start + timebase.Instant(named)
			e.Time = start + timebase.Instant(b.todNs)
			if e.Label.Second < d.opt.Floor {
				w |= WarnBeforeFloor
			}
		}
	}
	if b.leap {
		w |= WarnLeapSecond
	}
	if b.conflict {
		w |= WarnConflict
	}

	// Against the previous epoch: a repeat, a step backwards, or a step that the receive clock does not
	// account for. A step that fits the last good epoch is fine even when it does not fit the previous
	// one: the receiver glitched for one epoch (a repeated second) and is right again.
	if dated {
		cur := prevEpoch{ok: true, time: e.Time, leap: b.leap, recv: b.first}
		if d.prev.ok {
			if step := d.step(d.prev, cur); step > -sameTimeWindow && step < sameTimeWindow {
				w |= WarnRepeat
				d.counts.Repeats++
			} else if !d.follows(d.prev, cur) && !(d.lastGood.ok && d.follows(d.lastGood, cur)) {
				w |= WarnTimeJump
				d.counts.TimeJumps++
			}
		}
		d.prev = cur
		if w&(WarnRepeat|WarnTimeJump) == 0 {
			d.lastGood = cur
		}
	}

	// Validity: the receiver must claim it, nothing may contradict it.
	if b.yes == 0 && b.no == 0 {
		w |= WarnNoValidity
	}
	if b.no > 0 {
		w |= WarnReceiverInvalid
		if b.yes > 0 {
			w |= WarnConflict
		}
	}
	if w&WarnConflict != 0 {
		d.counts.Conflicts++
	}
	bad := WarnNoTime | WarnNoDate | WarnNoValidity | WarnReceiverInvalid | WarnConflict | WarnTimeJump | WarnRepeat | WarnBeforeFloor
	e.Label.Valid = dated && b.yes > 0 && w&bad == 0
	if e.Label.Valid {
		d.dateCtx = prevEpoch{ok: true, time: e.Label.Second, recv: b.first}
	}

	// Fix.
	switch {
	case b.fixUBX != FixUnknown:
		e.Fix = b.fixUBX
	case b.fixGSA != FixUnknown:
		e.Fix = b.fixGSA
	case b.yes > 0 && b.no == 0:
		e.Fix = FixPresent
	case b.no > 0:
		e.Fix = FixNone
	}
	if b.yes > 0 && b.no == 0 {
		e.Position = b.pos
	}

	// Satellites.
	d.satellites(&e, b)

	// Leap-second event from NAV-TIMELS, placed on the epoch's own time.
	if b.hasLS {
		d.leap.ChangeKnown, d.leap.Change = true, b.lsChange
		d.leap.EventKnown = false
		if b.lsChange != 0 && dated && e.Label.Valid {
			ev := e.Label.Second + timebase.Instant(b.lsToEvent)*timebase.Second
			if mid := ev.Round(day); abs(ev-mid) <= 2*timebase.Second {
				ev = mid
			}
			d.leap.Event, d.leap.EventKnown = ev, true
		}
	}
	e.Leap = d.leap

	e.Warnings = w
	d.counts.Epochs++
	if e.Label.Valid {
		d.counts.ValidEpochs++
	} else {
		d.counts.InvalidEpochs++
	}
	d.push(e)
	b.reset()
}

// fnv32 hashes a message (FNV-1a).
func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// step is how far the named time moved from p to c, counting a leap second 23:59:60 as the second it is.
func (d *Decoder) step(p, c prevEpoch) time.Duration {
	s := time.Duration(c.time - p.time)
	if c.leap && !p.leap {
		s += time.Second // 23:59:59 -> 23:59:60 reads the same POSIX second
	}
	return s
}

// follows reports whether c can come after p: forward, and (unless the check is off) by about the time
// that passed on the receive clock.
func (d *Decoder) follows(p, c prevEpoch) bool {
	s := d.step(p, c)
	if s <= 0 {
		return false
	}
	if d.jumpTol < 0 {
		return true
	}
	el := time.Duration(c.recv - p.recv)
	return s-el <= d.jumpTol && el-s <= d.jumpTol
}

// nameSecond returns the second a time of day names: the nearest whole second when the time is within
// sameTimeWindow of it (a receiver whose solution sits a few ms before the second, e.g. 12:00:00.997,
// means 12:00:01), otherwise the whole second below (the 12:00:00.2 epoch of a 5 Hz receiver).
func nameSecond(tod int64) int64 {
	r := (tod + 5e8) / 1e9 * 1e9
	if tod+5e8 < 0 {
		r = -1e9
	}
	if tod-r > -int64(sameTimeWindow) && tod-r < int64(sameTimeWindow) {
		return r
	}
	f := tod / 1e9 * 1e9
	if tod < 0 && tod%1e9 != 0 {
		f -= 1e9
	}
	return f
}

func abs(x timebase.Instant) timebase.Instant {
	if x < 0 {
		return -x
	}
	return x
}

// satellites fills the epoch's sky view and counts.
func (d *Decoder) satellites(e *Epoch, b *building) {
	// Satellites used: dedupe the GSA / NAV-SAT lists (receivers repeat a GSA per signal band).
	var seen [NumConstellations][maxPRN / 64]uint64
	nUsed := 0
	for _, id := range b.usedIDs {
		if id.c >= NumConstellations || id.prn >= maxPRN {
			continue
		}
		w, bit := &seen[id.c][id.prn/64], uint64(1)<<(id.prn%64)
		if *w&bit != 0 {
			continue
		}
		*w |= bit
		nUsed++
		e.Constellations[id.c].Used++
		if b.idx != nil {
			if i := b.idx[id.c][id.prn]; i > 0 {
				b.sky[i-1].Used = true
			}
		}
	}
	var sum [NumConstellations]int
	for _, s := range b.sky {
		c := &e.Constellations[s.Constellation]
		c.Visible++
		if s.CN0 > 0 {
			c.Tracked++
			sum[s.Constellation] += int(s.CN0)
			if s.CN0 > c.MaxCN0 {
				c.MaxCN0 = s.CN0
			}
		}
	}
	for i := range e.Constellations {
		if c := &e.Constellations[i]; c.Tracked > 0 {
			c.MeanCN0 = float64(sum[i]) / float64(c.Tracked)
		}
	}
	if len(b.sky) > 0 {
		e.Sky = append([]Sat(nil), b.sky...)
	}
	e.SatsVisible = len(b.sky)
	e.SatsUsed = nUsed
	if b.used >= 0 {
		e.SatsUsed = b.used
	}
}
