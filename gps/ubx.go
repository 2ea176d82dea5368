package gps

import (
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// UBX message classes and ids the decoder reads. Payloads are little-endian; offsets below are bytes
// into the payload (u-blox protocol specification, M8 and F9 editions).
const (
	ubxNavPOSLLH  = 0x0102
	ubxNavSTATUS  = 0x0103
	ubxNavDOP     = 0x0104
	ubxNavPVT     = 0x0107
	ubxNavTIMEGPS = 0x0120
	ubxNavTIMEUTC = 0x0121
	ubxNavTIMELS  = 0x0126
	ubxNavSAT     = 0x0135
	ubxAckNAK     = 0x0500
	ubxAckACK     = 0x0501
	ubxMonVER     = 0x0A04
	ubxTimTP      = 0x0D01
	ubxTimSVIN    = 0x0D04
)

// ubxMaxLen is the longest payload a message of the class can have, 0 for classes u-blox does not use.
// A false sync (0xB5 0x62 inside other binary data) then claims at most this much before its checksum
// fails, which bounds the rescanning it costs.
func ubxMaxLen(class byte) int {
	switch class {
	case 0x05: // ACK
		return 2
	case 0x04, 0x0B, 0x0D, 0x10, 0x27, 0x28: // INF, AID, TIM, ESF, SEC, HNR
		return 1024
	case 0x01, 0x06, 0x0A, 0x29: // NAV (NAV-SAT: 8+12*255), CFG, MON, NAV2
		return 4096
	case 0x02, 0x09, 0x13, 0x21: // RXM (RAWX: 16+32*255), UPD, MGA, LOG
		return maxUBXPayload
	}
	return 0
}

func knownUBXClass(c byte) bool { return ubxMaxLen(c) > 0 }

var le = binary.LittleEndian

// ubx handles one UBX frame whose checksum is good.
func (d *Decoder) ubx(class, id byte, p []byte, recv timebase.Instant) {
	o := &d.scratch
	o.reset()
	o.raw = p
	var ok bool
	switch uint16(class)<<8 | uint16(id) {
	case ubxNavTIMEUTC:
		ok = d.navTimeUTC(o, p)
	case ubxNavTIMEGPS:
		ok = d.navTimeGPS(o, p)
	case ubxNavTIMELS:
		ok = d.navTimeLS(o, p)
	case ubxNavPVT:
		ok = d.navPVT(o, p)
	case ubxNavSTATUS:
		ok = navStatus(o, p)
	case ubxNavSAT:
		ok = navSat(o, p)
	case ubxNavDOP:
		ok = navDOP(o, p)
	case ubxNavPOSLLH:
		ok = navPosLLH(o, p)
	case ubxTimTP:
		ok = d.timTP(o, p)
	case ubxTimSVIN:
		ok = timSVIN(o, p)
	case ubxMonVER:
		if !d.monVer(p) {
			d.counts.UBXMalformed++
			return
		}
		d.counts.UBXOK++
		return
	case ubxAckACK, ubxAckNAK:
		if len(p) != 2 {
			d.counts.UBXMalformed++
			return
		}
		d.counts.UBXOK++
		if len(d.acks) >= maxAcks {
			copy(d.acks, d.acks[1:])
			d.acks = d.acks[:len(d.acks)-1]
		}
		d.acks = append(d.acks, Ack{Class: p[0], ID: p[1], OK: id == 0x01, Received: recv})
		return
	default:
		d.counts.UBXUnknown++
		return
	}
	if !ok {
		d.counts.UBXMalformed++
		return
	}
	d.counts.UBXOK++
	d.observe(o, recv)
}

// setUTC records a UBX UTC date and time (second field plus a signed nanosecond correction).
func (o *obs) setUTC(y, mo, dd, h, mi, s int, nano int32) bool {
	if h > 23 || mi > 59 || s > 60 || (s == 60 && (h != 23 || mi != 59)) || nano < -1e9 || nano > 1e9 {
		return false
	}
	if !o.setDate(y, mo, dd) {
		return false
	}
	if s == 60 {
		s = 59
		o.leap = true
	}
	o.hasTOD = true
	o.todNs = int64(h*3600+mi*60+s)*1e9 + int64(nano)
	return true
}

// navTimeUTC: NAV-TIMEUTC (0x01 0x21), 20 bytes.
//
//	0 iTOW U4 ms | 4 tAcc U4 ns | 8 nano I4 | 12 year U2 | 14 month | 15 day | 16 hour | 17 min | 18 sec
//	19 valid X1: bit0 validTOW, bit1 validWKN, bit2 validUTC
func (d *Decoder) navTimeUTC(o *obs, p []byte) bool {
	if len(p) != 20 {
		return false
	}
	o.kind, o.src, o.dup = kNavTimeUTC, srcNavTimeUTC, true
	o.hasITOW, o.itow = true, le.Uint32(p)
	valid := p[19]&0x07 == 0x07
	if !o.setUTC(int(le.Uint16(p[12:])), int(p[14]), int(p[15]), int(p[16]), int(p[17]), int(p[18]), int32(le.Uint32(p[8:]))) {
		if valid {
			return false
		}
		// An invalid solution may carry zeros; it names no time.
		o.hasTOD, o.hasDate, o.leap = false, false, false
	}
	o.claim = claimNo
	if valid {
		o.claim = claimYes
	}
	return true
}

// navTimeGPS: NAV-TIMEGPS (0x01 0x20), 16 bytes.
//
//	0 iTOW U4 ms | 4 fTOW I4 ns | 8 week I2 | 10 leapS I1 | 11 valid X1: bit0 TOW, bit1 week, bit2 leapS
//	12 tAcc U4 ns
func (d *Decoder) navTimeGPS(o *obs, p []byte) bool {
	if len(p) != 16 {
		return false
	}
	o.kind = kNavTimeGPS
	o.hasITOW, o.itow = true, le.Uint32(p)
	itow := le.Uint32(p)
	ftow := int32(le.Uint32(p[4:]))
	week := int16(le.Uint16(p[8:]))
	leapS := int8(p[10])
	valid := p[11]
	if itow >= 7*86400*1000 || ftow < -500000 || ftow > 500000 {
		return false
	}
	if leapS >= 0 && leapS <= 100 {
		d.setLeapCurrent(int(leapS), valid&0x04 == 0, "NAV-TIMEGPS")
	}
	o.claim = claimNo
	if valid&0x07 != 0x07 || week < 0 {
		return true
	}
	t := gpsToInstant(int(week), time.Duration(itow)*time.Millisecond+time.Duration(ftow)) - timebase.Instant(leapS)*timebase.Second
	y, m, dd, tod := splitDay(t)
	if !o.setDate(y, m, dd) {
		return false
	}
	o.src, o.dup = srcNavTimeGPS, true
	o.hasTOD, o.todNs = true, int64(tod)
	o.claim = claimYes
	return true
}

// navTimeLS: NAV-TIMELS (0x01 0x26), 24 bytes.
//
//	0 iTOW U4 | 4 version U1 (0) | 5 reserved[3] | 8 srcOfCurrLs U1 | 9 currLs I1 | 10 srcOfLsChange U1
//	11 lsChange I1 | 12 timeToLsEvent I4 s | 16 dateOfLsGpsWn U2 | 18 dateOfLsGpsDn U2 | 20 reserved[3]
//	23 valid X1: bit0 validCurrLs, bit1 validTimeToLsEvent
//
// srcOfCurrLs 0 is the firmware default; srcOfLsChange 0 means no source has announced anything.
func (d *Decoder) navTimeLS(o *obs, p []byte) bool {
	if len(p) != 24 || p[4] != 0 {
		return false
	}
	o.kind = kNavTimeLS
	o.hasITOW, o.itow = true, le.Uint32(p)
	currLs := int8(p[9])
	change := int8(p[11])
	if change < -1 || change > 1 || currLs < 0 || currLs > 100 {
		return false
	}
	if p[23]&0x01 != 0 {
		d.setLeapCurrent(int(currLs), p[8] == 0, "NAV-TIMELS")
	}
	if p[23]&0x02 != 0 && p[10] != 0 {
		o.hasLS = true
		o.lsChange = int(change)
		o.lsToEvent = int32(le.Uint32(p[12:]))
	}
	return true
}

// navPVT: NAV-PVT (0x01 0x07), 92 bytes (84 on protocol 14).
//
//	0 iTOW U4 | 4 year U2 | 6 month | 7 day | 8 hour | 9 min | 10 sec | 11 valid X1: bit0 validDate,
//	bit1 validTime, bit2 fullyResolved | 12 tAcc U4 | 16 nano I4 | 20 fixType U1 | 21 flags X1: bit0
//	gnssFixOK | 22 flags2 X1: bit5 confirmedAvai, bit6 confirmedDate, bit7 confirmedTime | 23 numSV U1
//	24 lon I4 1e-7 deg | 28 lat I4 | 32 height I4 mm | 36 hMSL I4 mm | ... | 76 pDOP U2 0.01
func (d *Decoder) navPVT(o *obs, p []byte) bool {
	if len(p) != 92 && len(p) != 84 {
		return false
	}
	o.kind, o.src, o.dup = kNavPVT, srcNavPVT, true
	o.hasITOW, o.itow = true, le.Uint32(p)
	valid := p[11]&0x07 == 0x07
	fixOK := p[21]&0x01 != 0
	if f2 := p[22]; f2&0x20 != 0 && f2&0xC0 != 0xC0 {
		valid = false // the receiver could not confirm date and time
	}
	fixType := p[20]
	switch fixType {
	case 0, 1:
		o.fixUBX = FixNone
	case 2:
		o.fixUBX = Fix2D
	case 3, 4:
		o.fixUBX = Fix3D
	case 5:
		o.fixUBX = FixTimeOnly
	default:
		return false
	}
	if !o.setUTC(int(le.Uint16(p[4:])), int(p[6]), int(p[7]), int(p[8]), int(p[9]), int(p[10]), int32(le.Uint32(p[16:]))) {
		if valid {
			return false
		}
		o.hasTOD, o.hasDate, o.leap = false, false, false
	}
	o.claim = claimNo
	if valid && fixOK && fixType >= 2 {
		o.claim = claimYes
		o.used = int(p[23])
	}
	if fixOK && fixType >= 2 && fixType <= 4 {
		lon := float64(int32(le.Uint32(p[24:]))) * 1e-7
		lat := float64(int32(le.Uint32(p[28:]))) * 1e-7
		if math.Abs(lat) > 90 || math.Abs(lon) > 180 {
			return false
		}
		o.pos = Position{Valid: true, Lat: lat, Lon: lon, HasAlt: fixType != 2, Alt: float64(int32(le.Uint32(p[36:]))) / 1000}
	}
	if v := le.Uint16(p[76:]); v > 0 && v < 9999 {
		o.pdop = float64(v) / 100
	}
	return true
}

// navStatus: NAV-STATUS (0x01 0x03), 16 bytes.
//
//	0 iTOW U4 | 4 gpsFix U1 (0 none, 1 DR, 2 2D, 3 3D, 4 GNSS+DR, 5 time only) | 5 flags X1: bit0
//	gpsFixOk, bit1 diffSoln, bit2 wknSet, bit3 towSet | 6 fixStat | 7 flags2 | 8 ttff U4 | 12 msss U4
func navStatus(o *obs, p []byte) bool {
	if len(p) != 16 {
		return false
	}
	o.kind = kNavStatus
	o.hasITOW, o.itow = true, le.Uint32(p)
	switch p[4] {
	case 0, 1:
		o.fixUBX = FixNone
	case 2:
		o.fixUBX = Fix2D
	case 3, 4:
		o.fixUBX = Fix3D
	case 5:
		o.fixUBX = FixTimeOnly
	default:
		return false
	}
	o.claim = claimNo
	if p[5]&0x0D == 0x0D && p[4] >= 2 {
		o.claim = claimYes
	}
	return true
}

// navSat: NAV-SAT (0x01 0x35), 8 + 12*numSvs bytes.
//
//	0 iTOW U4 | 4 version U1 | 5 numSvs U1 | 6 reserved[2]
//	per satellite at 8+12n: gnssId U1 | svId U1 | cno U1 dBHz | elev I1 deg | azim I2 deg | prRes I2
//	| flags X4: bits0-2 qualityInd, bit3 svUsed
func navSat(o *obs, p []byte) bool {
	if len(p) < 8 || len(p) != 8+12*int(p[5]) {
		return false
	}
	o.kind = kNavSat
	o.hasITOW, o.itow = true, le.Uint32(p)
	o.sky = true
	for k := 0; k < int(p[5]); k++ {
		s := p[8+12*k:]
		c := ubxGNSS(s[0])
		sat := Sat{Constellation: c, PRN: uint16(s[1]), CN0: s[2]}
		elev, az := int8(s[3]), int16(le.Uint16(s[4:]))
		if elev >= -90 && elev <= 90 && az >= 0 && az <= 360 {
			sat.HasAngles, sat.Elevation, sat.Azimuth = true, elev, az
		}
		if le.Uint32(s[8:])&0x08 != 0 {
			sat.Used = true
			o.usedIDs = append(o.usedIDs, satID{c, sat.PRN})
		}
		o.sats = append(o.sats, sat)
	}
	return true
}

func ubxGNSS(id byte) Constellation {
	switch id {
	case 0:
		return GPS
	case 1:
		return SBAS
	case 2:
		return Galileo
	case 3:
		return BeiDou
	case 5:
		return QZSS
	case 6:
		return GLONASS
	case 7:
		return NavIC
	}
	return ConstUnknown
}

// navDOP: NAV-DOP (0x01 0x04), 18 bytes: iTOW U4, then gDOP pDOP tDOP vDOP hDOP nDOP eDOP, U2 each, 0.01.
func navDOP(o *obs, p []byte) bool {
	if len(p) != 18 {
		return false
	}
	o.kind = kNavDOP
	o.hasITOW, o.itow = true, le.Uint32(p)
	dop := func(off int) float64 {
		if v := le.Uint16(p[off:]); v > 0 && v < 9999 {
			return float64(v) / 100
		}
		return 0
	}
	o.pdop, o.tdop, o.vdop, o.hdop = dop(6), dop(8), dop(10), dop(12)
	return true
}

// navPosLLH: NAV-POSLLH (0x01 0x02), 28 bytes: iTOW U4, lon I4 1e-7 deg, lat I4, height I4 mm,
// hMSL I4 mm, hAcc U4 mm, vAcc U4 mm.
func navPosLLH(o *obs, p []byte) bool {
	if len(p) != 28 {
		return false
	}
	o.kind = kNavPosLLH
	o.hasITOW, o.itow = true, le.Uint32(p)
	lon := float64(int32(le.Uint32(p[4:]))) * 1e-7
	lat := float64(int32(le.Uint32(p[8:]))) * 1e-7
	if math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return false
	}
	o.pos = Position{Valid: true, Lat: lat, Lon: lon, HasAlt: true, Alt: float64(int32(le.Uint32(p[16:]))) / 1000}
	return true
}

// timTP: TIM-TP (0x0D 0x01), 16 bytes: the time of the NEXT pulse and its quantization error.
//
//	0 towMS U4 ms | 4 towSubMS U4 ms*2^-32 | 8 qErr I4 ps | 12 week U2 | 14 flags X1: bit0 timeBase
//	(0 GNSS, 1 UTC), bit1 utc available, bits2-3 raim, bit4 qErrInvalid | 15 refInfo X1: bits0-3
//	timeRefGnss (0 GPS, 1 GLONASS, 2 BeiDou, 3 Galileo, 15 unknown), bits4-7 utcStandard
func (d *Decoder) timTP(o *obs, p []byte) bool {
	if len(p) != 16 {
		return false
	}
	towMS := le.Uint32(p)
	if towMS >= 7*86400*1000 {
		return false
	}
	o.kind, o.dup = kTimTP, true
	sub := time.Duration((uint64(le.Uint32(p[4:])) * 1e6) >> 32)
	tp := TimePulse{
		Valid:     true,
		TimeBase:  TimeBase(p[14] & 1),
		RefGNSS:   p[15] & 0x0F,
		Week:      le.Uint16(p[12:]),
		TOW:       time.Duration(towMS)*time.Millisecond + sub,
		QErrPS:    int32(le.Uint32(p[8:])),
		QErrValid: p[14]&0x10 == 0,
	}
	t := gpsToInstant(int(tp.Week), tp.TOW)
	switch {
	case tp.TimeBase == TimeBaseUTC:
		tp.Pulse, tp.PulseKnown = t, true
	case tp.RefGNSS == 0 && d.leap.Known:
		tp.Pulse, tp.PulseKnown = t-timebase.Instant(d.leap.Current)*timebase.Second, true
	}
	o.tp = tp
	return true
}

// timSVIN: TIM-SVIN (0x0D 0x04), 28 bytes: dur U4 s | meanX, meanY, meanZ I4 cm | meanV U4 mm^2 | obs U4
// | valid U1 | active U1 | reserved[2].
func timSVIN(o *obs, p []byte) bool {
	if len(p) != 28 {
		return false
	}
	o.kind = kTimSVIN
	o.svin = SurveyIn{
		Valid:        true,
		Duration:     time.Duration(le.Uint32(p)) * time.Second,
		MeanAcc:      math.Sqrt(float64(le.Uint32(p[16:]))) / 1000,
		Observations: le.Uint32(p[20:]),
		Done:         p[24] == 1,
		Active:       p[25] == 1,
	}
	return true
}

// monVer: MON-VER (0x0A 0x04), 40 + 30*N bytes: swVersion CH[30] | hwVersion CH[10] | extension CH[30]
// each, NUL-padded. Extensions carry "FWVER=...", "PROTVER=...", "MOD=...".
func (d *Decoder) monVer(p []byte) bool {
	if len(p) < 40 || (len(p)-40)%30 != 0 {
		return false
	}
	r := &d.receiver
	r.Vendor = "u-blox"
	r.Firmware = cstr(p[:30])
	r.Hardware = cstr(p[30:40])
	for off := 40; off < len(p); off += 30 {
		ext := cstr(p[off : off+30])
		switch {
		case strings.HasPrefix(ext, "FWVER="):
			r.Firmware = ext[6:]
		case strings.HasPrefix(ext, "PROTVER="):
			r.Protocol = strings.TrimSpace(ext[8:])
		case strings.HasPrefix(ext, "PROTVER "):
			r.Protocol = strings.TrimSpace(ext[8:])
		case strings.HasPrefix(ext, "MOD="):
			r.Model = ext[4:]
		}
	}
	return true
}

// cstr returns the printable text of a NUL-padded field.
func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return strings.TrimSpace(string(out))
}

func (d *Decoder) setLeapCurrent(v int, isDefault bool, src string) {
	if isDefault && d.leap.Known && !d.leap.Default {
		return // a firmware default never overrides a value read from the sky
	}
	d.leap.Known, d.leap.Current, d.leap.Default, d.leap.Source = true, v, isDefault, src
}
