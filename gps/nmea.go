package gps

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	nmea "github.com/adrianmo/go-nmea"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// nmeaState holds the go-nmea parser the decoder hands verified sentences to.
type nmeaState struct {
	parser nmea.SentenceParser
	fields [maxFields][]byte // GSV/GSA field scratch
}

// go-nmea is used as a framework: its SentenceParser splits a sentence into talker, type and fields and
// dispatches on the type, and its field parser (nmea.NewParser: String, NullInt64, NullFloat64,
// EnumString, Date) reads the fields. For the sentence types the decoder uses we register parsers of our
// own into it, for three reasons:
//   - speed: the built-in parsers read times with a regular expression and coordinates through
//     fmt.Sprintf and a trial of three notations, 15 allocations for an RMC; ours read both fields
//     directly (fieldTime, fieldLatLon): 3 allocations, and less than half the time in our measurement;
//   - strictness where it matters and leniency where it does not: go-nmea rejects GGA fix qualities
//     above 6 (7 manual and 8 simulator are standard) and a whole RMC for an odd course field; ours
//     validate the fields time depends on and skip the others;
//   - gaps and a crash: GST and the u-blox PUBX,00/PUBX,04 (talker "P", type "UBX") are not in go-nmea,
//     and its TXT parser indexes past the end of a TXT without counters ($GPTXT,DEFAULT PVT
//     CONFIGURATION, sent by ST Teseo receivers) and panics.
//
// GSV and GSA, the bulk of the bytes, are walked in place without go-nmea (satlist.go). A panic inside
// the library is contained (nmeaState.parse).
var customParsers = map[string]nmea.ParserFunc{
	"RMC": parseRMC,
	"GGA": parseGGA,
	"GNS": parseGNS,
	"GLL": parseGLL,
	"ZDA": parseZDA,
	"GST": parseGST,
	"TXT": parseTXT,
	"UBX": parsePUBX,
}

// fieldTime reads hhmmss[.sss] (go-nmea's ParseTime does the same with a regular expression). An empty
// field is no time; ranges are checked later, where 23:59:60 is handled.
func fieldTime(p *nmea.Parser, i int, context string) nmea.Time {
	s := p.String(i, context)
	if p.Err() != nil || s == "" {
		return nmea.Time{}
	}
	if len(s) < 6 || !isDigits(s[:6]) || (len(s) > 6 && (s[6] != '.' || (len(s) > 7 && !isDigits(s[7:])))) {
		p.SetErr(context, s)
		return nmea.Time{}
	}
	t := nmea.Time{
		Valid:  true,
		Hour:   int(s[0]-'0')*10 + int(s[1]-'0'),
		Minute: int(s[2]-'0')*10 + int(s[3]-'0'),
		Second: int(s[4]-'0')*10 + int(s[5]-'0'),
	}
	// Milliseconds, rounded to nearest from up to nine fraction digits.
	var ns int64
	scale := int64(1e8)
	for k := 7; k < len(s) && k < 16; k++ {
		ns += int64(s[k]-'0') * scale
		scale /= 10
	}
	t.Millisecond = int((ns + 5e5) / 1e6)
	return t
}

// fieldLatLon reads a coordinate, ddmm.mmmm (latitude) or dddmm.mmmm (longitude), and its hemisphere.
func fieldLatLon(p *nmea.Parser, i, j int, context string) (float64, bool) {
	v, dir := p.String(i, context), p.String(j, context)
	if p.Err() != nil || v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		p.SetErr(context, v)
		return 0, false
	}
	deg := math.Floor(f / 100)
	mins := f - deg*100
	if mins >= 60 {
		p.SetErr(context, v)
		return 0, false
	}
	val := deg + mins/60
	switch dir {
	case "N", "S":
		if val > 90 {
			p.SetErr(context, v)
			return 0, false
		}
	case "E", "W":
		if val > 180 {
			p.SetErr(context, v)
			return 0, false
		}
	default:
		p.SetErr(context, dir)
		return 0, false
	}
	if dir == "S" || dir == "W" {
		val = -val
	}
	return val, true
}

type rmcSentence struct {
	nmea.BaseSentence
	Time     nmea.Time
	Validity string
	Lat, Lon float64
	HasPos   bool
	Date     nmea.Date
	FAAMode  string
}

// parseRMC reads $--RMC,time,status,lat,N,lon,E,speed,course,ddmmyy,magvar,E[,mode[,navstatus]].
// Speed, course and magnetic variation are not read: receivers fill them oddly and time needs none of them.
func parseRMC(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	r := rmcSentence{BaseSentence: s, Time: fieldTime(p, 0, "time"), Validity: p.EnumString(1, "status", "A", "V")}
	lat, ok1 := fieldLatLon(p, 2, 3, "latitude")
	lon, ok2 := fieldLatLon(p, 4, 5, "longitude")
	r.Lat, r.Lon, r.HasPos = lat, lon, ok1 && ok2
	r.Date = p.Date(8, "date")
	if len(s.Fields) > 11 {
		r.FAAMode = s.Fields[11]
	}
	return r, p.Err()
}

type gllSentence struct {
	nmea.BaseSentence
	Time     nmea.Time
	Validity string
	FAAMode  string
}

// parseGLL reads $--GLL,lat,N,lon,E,time,status[,mode].
func parseGLL(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	fieldLatLon(p, 0, 1, "latitude")
	fieldLatLon(p, 2, 3, "longitude")
	g := gllSentence{BaseSentence: s, Time: fieldTime(p, 4, "time"), Validity: p.EnumString(5, "status", "A", "V")}
	if len(s.Fields) > 6 {
		g.FAAMode = s.Fields[6]
	}
	return g, p.Err()
}

type gnsSentence struct {
	nmea.BaseSentence
	Time     nmea.Time
	Lat, Lon float64
	HasPos   bool
	Mode     string
	SVs      nmea.Int64
	HDOP     nmea.Float64
	Alt      nmea.Float64
}

// parseGNS reads $--GNS,time,lat,N,lon,E,mode,numSV,HDOP,alt,sep,age,station[,navstatus]; mode has one
// character per constellation.
func parseGNS(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	g := gnsSentence{BaseSentence: s, Time: fieldTime(p, 0, "time")}
	lat, ok1 := fieldLatLon(p, 1, 2, "latitude")
	lon, ok2 := fieldLatLon(p, 3, 4, "longitude")
	g.Lat, g.Lon, g.HasPos = lat, lon, ok1 && ok2
	g.Mode = p.String(5, "mode")
	g.SVs = p.NullInt64(6, "satellites")
	g.HDOP = p.NullFloat64(7, "hdop")
	g.Alt = p.NullFloat64(8, "altitude")
	return g, p.Err()
}

type zdaSentence struct {
	nmea.BaseSentence
	Time             nmea.Time
	Day, Month, Year nmea.Int64
}

// parseZDA reads $--ZDA,time,dd,mm,yyyy,tzh,tzm.
func parseZDA(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	return zdaSentence{
		BaseSentence: s,
		Time:         fieldTime(p, 0, "time"),
		Day:          p.NullInt64(1, "day"),
		Month:        p.NullInt64(2, "month"),
		Year:         p.NullInt64(3, "year"),
	}, p.Err()
}

type txtSentence struct {
	nmea.BaseSentence
	Message string
}

// parseTXT reads $--TXT,total,number,id,text; without the three counters the whole field list is the text.
func parseTXT(s nmea.BaseSentence) (nmea.Sentence, error) {
	f := s.Fields
	if len(f) >= 4 && isDigits(f[0]) && isDigits(f[1]) && isDigits(f[2]) {
		return txtSentence{BaseSentence: s, Message: strings.Join(f[3:], ",")}, nil
	}
	return txtSentence{BaseSentence: s, Message: strings.Join(f, ",")}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (s *nmeaState) init() {
	s.parser = nmea.SentenceParser{
		CustomParsers: customParsers,
		// Framing and checksum were verified by the decoder before the sentence got here (and sentences
		// without a checksum never get here), so go-nmea's own check would only repeat the work.
		CheckCRC: func(nmea.BaseSentence, string) error { return nil },
	}
}

// parse runs go-nmea on a verified sentence. A panic inside the library (it has indexed past the end of
// short sentences before) is turned into an error: hostile input must never take the daemon down.
func (s *nmeaState) parse(line string) (msg nmea.Sentence, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("go-nmea Parse %q: panic: %v", line, r)
		}
	}()
	return s.parser.Parse(line)
}

type ggaSentence struct {
	nmea.BaseSentence
	Time       nmea.Time
	Lat, Lon   float64
	HasPos     bool
	Quality    int64
	HasQuality bool
	Sats       nmea.Int64
	HDOP       nmea.Float64
	Alt        nmea.Float64
}

func parseGGA(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	g := ggaSentence{BaseSentence: s, Time: fieldTime(p, 0, "time")}
	lat, ok1 := fieldLatLon(p, 1, 2, "latitude")
	lon, ok2 := fieldLatLon(p, 3, 4, "longitude")
	g.Lat, g.Lon, g.HasPos = lat, lon, ok1 && ok2
	q := p.NullInt64(5, "fix quality")
	g.Quality, g.HasQuality = q.Value, q.Valid
	g.Sats = p.NullInt64(6, "number of satellites")
	g.HDOP = p.NullFloat64(7, "hdop")
	g.Alt = p.NullFloat64(8, "altitude")
	return g, p.Err()
}

type gstSentence struct {
	nmea.BaseSentence
	Time          nmea.Time
	RMS           nmea.Float64
	Lat, Lon, Alt nmea.Float64
}

// parseGST reads $--GST,hhmmss.ss,rms,semimajor,semiminor,orientation,lat_err,lon_err,alt_err.
func parseGST(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	return gstSentence{
		BaseSentence: s,
		Time:         fieldTime(p, 0, "time"),
		RMS:          p.NullFloat64(1, "rms"),
		Lat:          p.NullFloat64(5, "latitude error"),
		Lon:          p.NullFloat64(6, "longitude error"),
		Alt:          p.NullFloat64(7, "altitude error"),
	}, p.Err()
}

type pubxSentence struct {
	nmea.BaseSentence
	ID   string // "00" position, "04" time
	Time nmea.Time
	// PUBX,00
	Lat, Lon float64
	HasPos   bool
	Alt      nmea.Float64
	NavStat  string
	HDOP     nmea.Float64
	VDOP     nmea.Float64
	TDOP     nmea.Float64
	Sats     nmea.Int64
	// PUBX,04
	Date        nmea.Date
	Leap        int64
	LeapKnown   bool
	LeapDefault bool
}

// parsePUBX reads the u-blox proprietary sentences we use:
//
//	$PUBX,00,hhmmss.ss,lat,N,lon,E,altRef,navStat,hAcc,vAcc,SOG,COG,vVel,diffAge,HDOP,VDOP,TDOP,numSvs,res,DR*cs
//	$PUBX,04,hhmmss.ss,ddmmyy,utcTow,utcWk,leapSec[D],clkBias,clkDrift,tpGran*cs
//
// leapSec is GPS-UTC; a trailing 'D' means it is the firmware default, not yet read from the sky.
func parsePUBX(s nmea.BaseSentence) (nmea.Sentence, error) {
	p := nmea.NewParser(s)
	x := pubxSentence{BaseSentence: s, ID: p.String(0, "message id")}
	switch x.ID {
	case "00":
		x.Time = fieldTime(p, 1, "time")
		lat, ok1 := fieldLatLon(p, 2, 3, "latitude")
		lon, ok2 := fieldLatLon(p, 4, 5, "longitude")
		x.Lat, x.Lon, x.HasPos = lat, lon, ok1 && ok2
		x.Alt = p.NullFloat64(6, "altitude")
		x.NavStat = p.String(7, "navigation status")
		x.HDOP = p.NullFloat64(14, "hdop")
		x.VDOP = p.NullFloat64(15, "vdop")
		x.TDOP = p.NullFloat64(16, "tdop")
		x.Sats = p.NullInt64(17, "satellites used")
	case "04":
		x.Time = fieldTime(p, 1, "time")
		x.Date = p.Date(2, "date")
		ls := p.String(5, "leap seconds")
		if strings.HasSuffix(ls, "D") {
			x.LeapDefault = true
			ls = ls[:len(ls)-1]
		}
		if ls != "" {
			v, err := strconv.ParseInt(ls, 10, 8)
			if err != nil {
				p.SetErr("leap seconds", ls)
			} else {
				x.Leap, x.LeapKnown = v, true
			}
		}
	}
	return x, p.Err()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// sentence handles one framed line: '$' up to, not including, CR/LF. Only sentences whose checksum is
// present and right go further; of those, only the types the decoder uses are parsed.
func (d *Decoder) sentence(s []byte, recv timebase.Instant) {
	n := len(s)
	star := bytes.IndexByte(s, '*')
	if star < 0 {
		d.counts.NoChecksum++
		return
	}
	if star != n-3 || star < 2 {
		d.counts.Malformed++
		return
	}
	hi, ok1 := unhex(s[n-2])
	lo, ok2 := unhex(s[n-1])
	if !ok1 || !ok2 {
		d.counts.Malformed++
		return
	}
	var x byte
	for _, c := range s[1:star] {
		x ^= c
	}
	if x != hi<<4|lo {
		d.counts.BadChecksum++
		return
	}
	body := s[1:star]
	addr := body
	if c := bytes.IndexByte(body, ','); c >= 0 {
		addr = body[:c]
	}
	o := &d.scratch
	o.reset()
	o.raw = s
	switch {
	case len(addr) == 5 && addr[0] != 'P' && s[0] == '$':
		o.talker = [2]byte{addr[0], addr[1]}
		switch string(addr[2:]) {
		case "RMC":
			o.kind = kRMC
		case "GGA":
			o.kind = kGGA
		case "GNS":
			o.kind = kGNS
		case "GLL":
			o.kind = kGLL
		case "ZDA":
			o.kind = kZDA
		case "GST":
			o.kind = kGST
		case "GSA":
			o.kind = kGSA
		case "GSV":
			o.kind = kGSV
		case "TXT":
			o.kind = kTXT
		default:
			d.counts.Unknown++
			return
		}
	case string(addr) == "PUBX":
		o.kind = kPUBX
	default:
		d.counts.Unknown++
		return
	}
	switch o.kind {
	case kGSV, kGSA:
		ok := false
		if o.kind == kGSV {
			ok = gsv(o, body, &d.nm.fields)
		} else {
			ok = gsa(o, body, &d.nm.fields)
		}
		if !ok {
			d.counts.Malformed++
			return
		}
		d.counts.SentencesOK++
		d.observe(o, recv)
		return
	}
	msg, err := d.nm.parse(string(s))
	if err != nil {
		d.counts.Malformed++
		return
	}
	if !d.fillNMEA(o, msg) {
		d.counts.Malformed++
		return
	}
	d.counts.SentencesOK++
	d.observe(o, recv)
}

// setTime records an NMEA time of day; false if it is absurd. An empty field is no time, not an error.
func (o *obs) setTime(t nmea.Time) bool {
	if !t.Valid {
		return true
	}
	if t.Hour > 23 || t.Minute > 59 || t.Second > 60 || (t.Second == 60 && (t.Hour != 23 || t.Minute != 59)) {
		return false
	}
	ms := t.Millisecond
	if ms > 999 { // go-nmea rounds 59.9996 up to 1000 ms
		ms = 999
	}
	sec := t.Second
	if sec == 60 {
		sec = 59
		o.leap = true
	}
	o.hasTOD = true
	o.todNs = int64(t.Hour*3600+t.Minute*60+sec)*1e9 + int64(ms)*1e6
	return true
}

// setDate2 records a ddmmyy date; false if it is absurd.
func (o *obs) setDate2(dt nmea.Date, floorYear int) bool {
	if !dt.Valid {
		return true
	}
	if dt.YY < 0 || dt.YY > 99 {
		return false
	}
	return o.setDate(fullYear(dt.YY, floorYear), dt.MM, dt.DD)
}

func (o *obs) setDate(y, m, dd int) bool {
	if !validDate(y, m, dd) {
		return false
	}
	o.hasDate, o.y, o.m, o.dd = true, y, m, dd
	return true
}

// fillNMEA turns a parsed sentence into an observation; false if a field is absurd.
func (d *Decoder) fillNMEA(o *obs, msg nmea.Sentence) bool {
	switch m := msg.(type) {
	case rmcSentence:
		o.src, o.dup = srcRMC, true
		if !o.setTime(m.Time) || !o.setDate2(m.Date, d.floorYear) {
			return false
		}
		switch {
		case m.Validity == "A" && faaValid(m.FAAMode):
			o.claim = claimYes
		case m.Validity != "" || m.FAAMode != "":
			o.claim = claimNo
		}
		if m.Validity == "A" && m.HasPos {
			o.pos = Position{Valid: true, Lat: m.Lat, Lon: m.Lon}
		}
	case ggaSentence:
		o.src, o.dup = srcGGA, true
		if !o.setTime(m.Time) {
			return false
		}
		if m.HasQuality {
			o.claim = claimNo
			if m.Quality >= 1 && m.Quality <= 5 {
				o.claim = claimYes
			}
			if m.Sats.Valid && m.Quality > 0 && m.Sats.Value >= 0 && m.Sats.Value < 256 {
				o.used = int(m.Sats.Value)
			}
		}
		if m.HDOP.Valid && m.HDOP.Value > 0 && m.HDOP.Value < 99 {
			o.hdop = m.HDOP.Value
		}
		if m.HasPos && o.claim == claimYes {
			o.pos = Position{Valid: true, Lat: m.Lat, Lon: m.Lon, HasAlt: m.Alt.Valid, Alt: m.Alt.Value}
		}
	case gnsSentence:
		o.src, o.dup = srcGNS, true
		if !o.setTime(m.Time) {
			return false
		}
		o.claim = gnsClaim(m.Mode)
		if o.claim == claimYes {
			if m.SVs.Valid && m.SVs.Value >= 0 && m.SVs.Value < 256 {
				o.used = int(m.SVs.Value)
			}
			if m.HasPos {
				o.pos = Position{Valid: true, Lat: m.Lat, Lon: m.Lon, HasAlt: m.Alt.Valid, Alt: m.Alt.Value}
			}
		}
		if m.HDOP.Valid && m.HDOP.Value > 0 && m.HDOP.Value < 99 {
			o.hdop = m.HDOP.Value
		}
	case gllSentence:
		o.src, o.dup = srcGLL, true
		if !o.setTime(m.Time) {
			return false
		}
		switch {
		case m.Validity == "A" && faaValid(m.FAAMode):
			o.claim = claimYes
		case m.Validity != "":
			o.claim = claimNo
		}
	case zdaSentence:
		o.src, o.dup = srcZDA, true
		if !o.setTime(m.Time) {
			return false
		}
		if m.Day.Valid || m.Month.Valid || m.Year.Valid {
			if m.Year.Value > 9999 || !o.setDate(int(m.Year.Value), int(m.Month.Value), int(m.Day.Value)) {
				return false
			}
		}
		if d.opt.TrustZDA && o.hasTOD && o.hasDate {
			o.claim = claimYes
		}
	case gstSentence:
		o.src, o.dup = srcGST, true
		if !o.setTime(m.Time) {
			return false
		}
		if m.RMS.Valid || m.Lat.Valid {
			o.errs = Errors{Valid: true, RMS: m.RMS.Value, Lat: m.Lat.Value, Lon: m.Lon.Value, Alt: m.Alt.Value}
		}
	case txtSentence:
		d.text(m.Message)
	case pubxSentence:
		switch m.ID {
		case "00":
			o.kind, o.src, o.dup = kPUBX00, srcPUBX00, true
			if !o.setTime(m.Time) {
				return false
			}
			switch m.NavStat {
			case "G2", "D2":
				o.claim, o.fixUBX = claimYes, Fix2D
			case "G3", "D3", "RK":
				o.claim, o.fixUBX = claimYes, Fix3D
			case "TT":
				o.claim, o.fixUBX = claimYes, FixTimeOnly
			case "NF", "DR":
				o.claim, o.fixUBX = claimNo, FixNone
			}
			if o.claim == claimYes {
				if m.Sats.Valid {
					o.used = int(m.Sats.Value)
				}
				if m.HasPos {
					o.pos = Position{Valid: true, Lat: m.Lat, Lon: m.Lon, HasAlt: m.Alt.Valid, Alt: m.Alt.Value}
				}
			}
			if m.HDOP.Valid && m.HDOP.Value > 0 && m.HDOP.Value < 99 {
				o.hdop = m.HDOP.Value
			}
			if m.VDOP.Valid && m.VDOP.Value > 0 && m.VDOP.Value < 99 {
				o.vdop = m.VDOP.Value
			}
			if m.TDOP.Valid && m.TDOP.Value > 0 && m.TDOP.Value < 99 {
				o.tdop = m.TDOP.Value
			}
		case "04":
			o.kind, o.src, o.dup = kPUBX04, srcPUBX04, true
			if !o.setTime(m.Time) || !o.setDate2(m.Date, d.floorYear) {
				return false
			}
			if m.LeapKnown {
				if m.Leap < 0 || m.Leap > 100 {
					return false
				}
				d.setLeapCurrent(int(m.Leap), m.LeapDefault, "PUBX04")
			}
		default:
			o.kind = kOther
		}
	default:
		return false
	}
	return true
}

// faaValid reports whether an NMEA 2.3+ FAA mode indicator allows the fix: estimated (dead reckoning),
// manual, simulated and not-valid solutions are no base for time.
func faaValid(mode string) bool {
	switch mode {
	case "N", "E", "M", "S":
		return false
	}
	return true
}

// gnsClaim reads a GNS mode string, one character per constellation: any autonomous, differential,
// precise or RTK solution is a fix; N (none), E (estimated), M (manual), S (simulator) are not.
func gnsClaim(mode string) int8 {
	claim := int8(claimNone)
	for i := 0; i < len(mode); i++ {
		switch mode[i] {
		case 'A', 'D', 'P', 'R', 'F':
			return claimYes
		default:
			claim = claimNo
		}
	}
	return claim
}

// talkerConst maps an NMEA talker to its constellation; GN (combined) and unknown talkers map to
// ConstUnknown and are resolved by satellite number.
func talkerConst(t [2]byte) Constellation {
	switch string(t[:]) {
	case "GP":
		return GPS
	case "GL":
		return GLONASS
	case "GA":
		return Galileo
	case "GB", "BD":
		return BeiDou
	case "GQ", "QZ":
		return QZSS
	case "GI":
		return NavIC
	}
	return ConstUnknown
}

// constFor refines a talker's constellation by satellite number, using the NMEA 4.x numbering (and the
// u-blox extensions): GPS talkers also carry SBAS (33-64, 120-158) and QZSS (193-202).
func constFor(c Constellation, prn uint16) Constellation {
	switch c {
	case GPS:
		switch {
		case prn >= 33 && prn <= 64, prn >= 120 && prn <= 158:
			return SBAS
		case prn >= 193 && prn <= 202:
			return QZSS
		}
		return GPS
	case ConstUnknown:
		switch {
		case prn >= 1 && prn <= 32:
			return GPS
		case prn >= 33 && prn <= 64, prn >= 120 && prn <= 158:
			return SBAS
		case prn >= 65 && prn <= 96:
			return GLONASS
		case prn >= 193 && prn <= 202:
			return QZSS
		case prn >= 201 && prn <= 264, prn >= 401 && prn <= 463:
			return BeiDou
		case prn >= 301 && prn <= 336:
			return Galileo
		}
		return ConstUnknown
	}
	return c
}

// text learns the receiver's identity and antenna state from TXT messages (u-blox prints its version
// lines at start-up; several receivers report the antenna).
func (d *Decoder) text(msg string) {
	r := &d.receiver
	msg = strings.TrimSpace(msg)
	up := strings.ToUpper(msg)
	switch {
	case strings.Contains(up, "U-BLOX"):
		r.Vendor = "u-blox"
	case strings.HasPrefix(up, "MOD="):
		r.Model = msg[4:]
	case strings.HasPrefix(up, "FWVER="):
		r.Firmware = msg[6:]
	case strings.HasPrefix(up, "PROTVER="):
		r.Protocol = strings.TrimSpace(msg[8:])
	case strings.HasPrefix(up, "PROTVER "):
		r.Protocol = strings.TrimSpace(msg[8:])
	case strings.HasPrefix(up, "HW "):
		r.Hardware = strings.TrimSpace(msg[3:])
	case strings.HasPrefix(up, "ROM CORE "), strings.HasPrefix(up, "EXT CORE "):
		if r.Firmware == "" {
			r.Firmware = msg
		}
	case strings.HasPrefix(up, "ANTSTATUS="):
		r.Antenna = msg[len("ANTSTATUS="):]
	case strings.HasPrefix(up, "ANTENNA "):
		r.Antenna = msg[len("ANTENNA "):]
	}
}
