package gps

import (
	"bytes"
	"strconv"
)

// GSV and GSA are read here, without go-nmea and without allocating. They are the bulk of a receiver's
// output (a multi-GNSS receiver sends twenty GSV lines a second against one RMC) and carry nothing the
// time label depends on: lists of satellite numbers, angles, C/N0 and DOPs. Through go-nmea each costs a
// string, a field slice and a boxed result; here a sentence is walked in place.

const maxFields = 24

// splitFields cuts the fields after the address of a sentence body ("GPGSV,3,1,...") into dst and returns
// how many there are, or -1 when there are more than dst holds.
func splitFields(body []byte, dst *[maxFields][]byte) int {
	c := bytes.IndexByte(body, ',')
	if c < 0 {
		return 0
	}
	rest := body[c+1:]
	n := 0
	for {
		if n == maxFields {
			return -1
		}
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			dst[n] = rest
			return n + 1
		}
		dst[n] = rest[:i]
		rest = rest[i+1:]
		n++
	}
}

// atoi reads an unsigned decimal of at most 6 digits; ok is false when the field is empty or not one.
func atoi(b []byte) (v int, ok bool) {
	if len(b) == 0 || len(b) > 6 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// dop reads a dilution of precision; 0 when empty or outside (0, 99), as receivers print 99.99 for unknown.
func dop(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v < 0 {
		return 0, false
	}
	if v >= 99 {
		return 0, true
	}
	return v, true
}

// gsv reads $--GSV,total,num,inview{,prn,elev,azim,snr}[,signal]: up to four satellites per sentence.
func gsv(o *obs, body []byte, f *[maxFields][]byte) bool {
	n := splitFields(body, f)
	if n < 3 {
		return false
	}
	for k := 0; k < 3; k++ {
		if _, ok := atoi(f[k]); !ok && len(f[k]) > 0 {
			return false
		}
	}
	c := talkerConst(o.talker)
	for i := 3; i+3 < n; i += 4 {
		prn, ok := atoi(f[i])
		if !ok {
			if len(f[i]) > 0 {
				return false
			}
			continue // an empty slot
		}
		if prn == 0 || prn > 999 {
			continue
		}
		s := Sat{Constellation: constFor(c, uint16(prn)), PRN: uint16(prn)}
		elev, eok := signedAtoi(f[i+1])
		az, aok := atoi(f[i+2])
		if (!eok && len(f[i+1]) > 0) || (!aok && len(f[i+2]) > 0) {
			return false
		}
		if eok && aok {
			if elev < -90 || elev > 90 || az > 360 {
				return false
			}
			s.HasAngles, s.Elevation, s.Azimuth = true, int8(elev), int16(az)
		}
		snr, sok := atoi(f[i+3])
		if !sok && len(f[i+3]) > 0 {
			return false
		}
		if snr > 0 && snr < 100 {
			s.CN0 = uint8(snr)
		}
		o.sats = append(o.sats, s)
	}
	return true
}

func signedAtoi(b []byte) (int, bool) {
	if len(b) > 1 && b[0] == '-' {
		v, ok := atoi(b[1:])
		return -v, ok
	}
	return atoi(b)
}

var systemIDs = [...]Constellation{ConstUnknown, GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC}

// gsa reads $--GSA,mode,fix,sv1..sv12,pdop,hdop,vdop[,systemID]. SiRF receivers put a TDOP where
// NMEA 4.11 has the system ID; it is taken as a system ID only when it is one.
func gsa(o *obs, body []byte, f *[maxFields][]byte) bool {
	n := splitFields(body, f)
	if n < 17 {
		return false
	}
	switch string(f[1]) {
	case "1":
		o.fixGSA, o.claim = FixNone, claimNo
	case "2":
		o.fixGSA = Fix2D
	case "3":
		o.fixGSA = Fix3D
	case "":
	default:
		return false
	}
	c := talkerConst(o.talker)
	if n > 17 {
		if id, ok := atoi(f[17]); ok && id >= 1 && id < len(systemIDs) {
			c = systemIDs[id]
		}
	}
	for i := 2; i < 14; i++ {
		if len(f[i]) == 0 {
			continue
		}
		prn, ok := atoi(f[i])
		if !ok || prn == 0 || prn > 999 {
			return false
		}
		o.usedIDs = append(o.usedIDs, satID{constFor(c, uint16(prn)), uint16(prn)})
	}
	var ok1, ok2, ok3 bool
	o.pdop, ok1 = dop(f[14])
	o.hdop, ok2 = dop(f[15])
	o.vdop, ok3 = dop(f[16])
	return ok1 && ok2 && ok3
}
