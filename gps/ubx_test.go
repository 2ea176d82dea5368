package gps

import (
	"bytes"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// UBX fixtures, built field by field from the layouts in ubx.go.

func navTimeUTC(itow uint32, y, mo, d, h, mi, s int, nano int32, valid byte) []byte {
	p := payload{}.u4(itow).u4(25).i4(nano).u2(uint16(y)).u1(uint8(mo)).u1(uint8(d)).u1(uint8(h)).u1(uint8(mi)).u1(uint8(s)).u1(valid)
	return ubxFrame(0x01, 0x21, p)
}

func navTimeGPS(itow uint32, ftow int32, week int16, leap int8, valid byte) []byte {
	return ubxFrame(0x01, 0x20, payload{}.u4(itow).i4(ftow).u2(uint16(week)).i1(leap).u1(valid).u4(20))
}

func navTimeLS(itow uint32, src uint8, curr int8, srcChange uint8, change int8, toEvent int32, valid byte) []byte {
	p := payload{}.u4(itow).u1(0).zero(3).u1(src).i1(curr).u1(srcChange).i1(change).i4(toEvent).u2(0).u2(0).zero(3).u1(valid)
	return ubxFrame(0x01, 0x26, p)
}

func navStatusFrame(itow uint32, gpsFix, flags uint8) []byte {
	return ubxFrame(0x01, 0x03, payload{}.u4(itow).u1(gpsFix).u1(flags).u1(0).u1(0).u4(15100).u4(123598))
}

func navPVT(itow uint32, y, mo, d, h, mi, s int, nano int32, valid, fixType, flags, flags2, numSV uint8, lat, lon int32) []byte {
	p := payload{}.u4(itow).u2(uint16(y)).u1(uint8(mo)).u1(uint8(d)).u1(uint8(h)).u1(uint8(mi)).u1(uint8(s)).u1(valid).
		u4(30).i4(nano).u1(fixType).u1(flags).u1(flags2).u1(numSV).i4(lon).i4(lat).i4(500000).i4(452000).
		u4(1500).u4(2500).zero(20).u4(0).u4(0).u2(135).zero(14)
	return ubxFrame(0x01, 0x07, p)
}

type satFixture struct {
	gnss, sv, cno uint8
	elev          int8
	azim          int16
	used          bool
}

func navSatFrame(itow uint32, sats ...satFixture) []byte {
	p := payload{}.u4(itow).u1(1).u1(uint8(len(sats))).zero(2)
	for _, s := range sats {
		var flags uint32 = 4 // quality: code locked
		if s.used {
			flags |= 8
		}
		p = p.u1(s.gnss).u1(s.sv).u1(s.cno).i1(s.elev).u2(uint16(s.azim)).u2(0).u4(flags)
	}
	return ubxFrame(0x01, 0x35, p)
}

func navDOPFrame(itow uint32, g, p, t, v, h, n, e uint16) []byte {
	return ubxFrame(0x01, 0x04, payload{}.u4(itow).u2(g).u2(p).u2(t).u2(v).u2(h).u2(n).u2(e))
}

func navPosLLHFrame(itow uint32, lat, lon, height, hmsl int32) []byte {
	return ubxFrame(0x01, 0x02, payload{}.u4(itow).i4(lon).i4(lat).i4(height).i4(hmsl).u4(1000).u4(1500))
}

func timTPFrame(towMS, towSub uint32, qErr int32, week uint16, flags, refInfo uint8) []byte {
	return ubxFrame(0x0D, 0x01, payload{}.u4(towMS).u4(towSub).i4(qErr).u2(week).u1(flags).u1(refInfo))
}

func timSVINFrame(dur uint32, meanV, obs uint32, valid, active uint8) []byte {
	return ubxFrame(0x0D, 0x04, payload{}.u4(dur).i4(1).i4(2).i4(3).u4(meanV).u4(obs).u1(valid).u1(active).zero(2))
}

func monVerFrame(sw, hw string, ext ...string) []byte {
	p := payload{}.str(sw, 30).str(hw, 10)
	for _, e := range ext {
		p = p.str(e, 30)
	}
	return ubxFrame(0x0A, 0x04, p)
}

func cat(parts ...[]byte) string { return string(bytes.Join(parts, nil)) }

// 2026-03-14 (Saturday) is in GPS week 2409; 12:00:00 UTC is GPS 12:00:18, TOW 6*86400+43218 s.
const (
	testWeek = 2409
	testTOW  = (6*86400 + 43218) * 1000
)

func TestUBXFrames(t *testing.T) {
	noon := timebase.Date(2026, time.March, 14, 12, 0, 0, 0)
	for _, tc := range []struct {
		name   string
		cycles []string
		check  func(t *testing.T, es []Epoch, d *Decoder)
	}{
		{
			name: "u-blox timing receiver: TIM-TP, NAV-SAT, NAV-STATUS, NAV-DOP, NAV-POSLLH, NAV-TIMEGPS, NAV-TIMEUTC, NAV-TIMELS, TIM-SVIN",
			cycles: []string{
				cat(timTPFrame(testTOW-18000+1000, 1<<31, -4331, testWeek, 0x0B, 0x0F),
					navSatFrame(testTOW, satFixture{0, 5, 44, 45, 120, true}, satFixture{0, 13, 38, 30, 200, true}, satFixture{6, 8, 35, 20, 45, true}, satFixture{2, 11, 0, -91, 0, false}, satFixture{1, 123, 40, 30, 190, false}),
					navStatusFrame(testTOW, 5, 0xDD),
					navDOPFrame(testTOW, 32, 9999, 30, 9999, 9999, 9999, 9999),
					navPosLLHFrame(testTOW, 481173000, 115166667, 592300, 545400),
					navTimeGPS(testTOW, 321732, testWeek, 18, 7),
					navTimeUTC(testTOW, 2026, 3, 14, 12, 0, 0, 321732, 0x37),
					navTimeLS(testTOW, 2, 18, 2, 0, 0, 3),
					timSVINFrame(86400, 4000000, 86400, 1, 0)),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 1 {
					t.Fatalf("%d epochs", len(es))
				}
				e := es[0]
				if !e.Label.Valid || e.Label.Second != noon || e.Time != noon+321732 || e.Label.Source != "NAV-TIMEUTC+NAV-TIMEGPS" || e.Fix != FixTimeOnly || e.Messages != 9 {
					t.Errorf("label %+v time %v fix %v messages %d warnings %v", e.Label, e.Time, e.Fix, e.Messages, e.Warnings)
				}
				if e.SatsUsed != 3 || e.SatsVisible != 5 || e.Constellations[GPS].Used != 2 || e.Constellations[GLONASS].Used != 1 || e.Constellations[Galileo].Visible != 1 || e.Constellations[Galileo].Tracked != 0 || e.Constellations[SBAS].Visible != 1 {
					t.Errorf("satellites %d/%d %+v", e.SatsUsed, e.SatsVisible, e.Constellations)
				}
				for _, s := range e.Sky {
					if s.Constellation == Galileo && s.HasAngles {
						t.Errorf("elevation -91 means unknown: %+v", s)
					}
				}
				if e.TDOP != 0.3 || e.PDOP != 0 || e.HDOP != 0 {
					t.Errorf("DOPs %v %v %v", e.TDOP, e.PDOP, e.HDOP)
				}
				if p := e.Position; !p.Valid || p.Lat != 48.1173 || p.Lon != 11.5166667 || p.Alt != 545.4 {
					t.Errorf("position %+v", p)
				}
				tp := e.TimePulse
				if !tp.Valid || !tp.PulseKnown || tp.Pulse != noon+timebase.Second+timebase.Instant(time.Millisecond)/2 || tp.QErrPS != -4331 || !tp.QErrValid || tp.TimeBase != TimeBaseUTC {
					t.Errorf("time pulse %+v", tp)
				}
				if l := e.Leap; !l.Known || l.Current != 18 || l.Default || l.Source != "NAV-TIMELS" || !l.ChangeKnown || l.Change != 0 || l.EventKnown {
					t.Errorf("leap %+v", l)
				}
				if s := e.SurveyIn; !s.Valid || !s.Done || s.Active || s.Duration != 24*time.Hour || s.MeanAcc != 2 || s.Observations != 86400 {
					t.Errorf("survey-in %+v", s)
				}
				if c := d.Counts(); c.UBXOK != 9 || c.UBXBad+c.UBXMalformed+c.UBXUnknown+c.OtherBytes != 0 {
					t.Errorf("counts %+v", c)
				}
			},
		},
		{
			name: "NAV-PVT: valid 3D, then no fix, then unconfirmed date",
			cycles: []string{
				string(navPVT(testTOW, 2026, 3, 14, 12, 0, 0, -120, 0x37, 3, 0x01, 0xE0, 12, 481173000, 115166667)),
				string(navPVT(testTOW+1000, 2026, 3, 14, 12, 0, 1, 0, 0x30, 0, 0x00, 0x00, 0, 0, 0)),
				string(navPVT(testTOW+2000, 2026, 3, 14, 12, 0, 2, 0, 0x37, 3, 0x01, 0x20, 12, 481173000, 115166667)),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 3 {
					t.Fatalf("%d epochs", len(es))
				}
				if e := es[0]; !e.Label.Valid || e.Label.Second != noon || e.Time != noon-120 || e.Fix != Fix3D || e.SatsUsed != 12 || e.PDOP != 1.35 || !e.Position.Valid || e.Position.Alt != 452 {
					t.Errorf("valid PVT: %+v", e)
				}
				if e := es[1]; e.Label.Valid || e.Fix != FixNone || e.Label.Second != noon+timebase.Second || e.Warnings&WarnReceiverInvalid == 0 {
					t.Errorf("no-fix PVT: valid %v fix %v warnings %v", e.Label.Valid, e.Fix, e.Warnings)
				}
				if e := es[2]; e.Label.Valid || e.Label.Second != noon+2*timebase.Second {
					t.Errorf("unconfirmed PVT: valid %v second %v", e.Label.Valid, e.Label.Second)
				}
			},
		},
		{
			name: "NAV-TIMEGPS alone gives UTC once the leap seconds are valid",
			cycles: []string{
				string(navTimeGPS(testTOW, 0, testWeek, 18, 0x03)), // leap seconds not valid: no UTC
				string(navTimeGPS(testTOW+1000, -200, testWeek, 18, 0x07)),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 2 {
					t.Fatalf("%d epochs", len(es))
				}
				if e := es[0]; e.Label.Valid || e.HasTime || e.Leap.Current != 18 || !e.Leap.Default {
					t.Errorf("first: %+v", e)
				}
				if e := es[1]; !e.Label.Valid || e.Label.Second != noon+timebase.Second || e.Time != noon+timebase.Second-200 || e.Label.Source != "NAV-TIMEGPS" || e.Leap.Default {
					t.Errorf("second: valid %v %v %v %q %+v", e.Label.Valid, e.Label.Second, e.Time, e.Label.Source, e.Leap)
				}
			},
		},
		{
			name: "NAV-TIMEUTC not valid (cold start) names no valid time",
			cycles: []string{
				string(navTimeUTC(1000, 2015, 1, 1, 0, 0, 1, 0, 0x00)),
				string(navTimeUTC(2000, 0, 0, 0, 0, 0, 0, 0, 0x00)), // zeros
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 2 || es[0].Label.Valid || es[1].Label.Valid || es[1].HasTime {
					t.Errorf("%+v", es)
				}
				if c := d.Counts(); c.UBXOK != 2 || c.UBXMalformed != 0 {
					t.Errorf("counts %+v", c)
				}
			},
		},
		{
			name: "NAV-TIMELS announcing a leap second; the leap second itself in NAV-TIMEUTC",
			cycles: []string{
				cat(navTimeUTC(1000, 2016, 12, 31, 23, 59, 58, 0, 0x37), navTimeLS(1000, 2, 17, 2, 1, 2, 3)),
				cat(navTimeUTC(2000, 2016, 12, 31, 23, 59, 59, 0, 0x37), navTimeLS(2000, 2, 17, 2, 1, 1, 3)),
				cat(navTimeUTC(3000, 2016, 12, 31, 23, 59, 60, 0, 0x37)),
				cat(navTimeUTC(4000, 2017, 1, 1, 0, 0, 0, 0, 0x37), navTimeLS(4000, 2, 18, 2, 1, -1, 3)),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 4 {
					t.Fatalf("%d epochs", len(es))
				}
				newYear := timebase.Date(2017, 1, 1, 0, 0, 0, 0)
				if l := es[0].Leap; !l.ChangeKnown || l.Change != 1 || !l.EventKnown || l.Event != newYear || l.Current != 17 {
					t.Errorf("announcement %+v", l)
				}
				last := newYear - timebase.Second
				for i, want := range []struct {
					second timebase.Instant
					leap   bool
				}{{last - timebase.Second, false}, {last, false}, {last, true}, {newYear, false}} {
					e := es[i]
					if !e.Label.Valid || e.Label.Second != want.second || e.LeapSecond != want.leap || e.Warnings&(WarnRepeat|WarnTimeJump) != 0 {
						t.Errorf("epoch %d: valid %v second %v leap %v warnings %v", i, e.Label.Valid, e.Label.Second, e.LeapSecond, e.Warnings)
					}
				}
				if l := es[3].Leap; l.Current != 18 {
					t.Errorf("after: %+v", l)
				}
			},
		},
		{
			name: "TIM-TP on GPS time needs the leap seconds",
			cycles: []string{
				string(timTPFrame(testTOW+1000, 0, 100, testWeek, 0x10, 0x00)), // GPS base, qErr invalid, leap unknown
				cat(navTimeGPS(testTOW+1000, 0, testWeek, 18, 0x07), timTPFrame(testTOW+2000, 0, 100, testWeek, 0x00, 0x00)),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 2 {
					t.Fatalf("%d epochs", len(es))
				}
				if tp := es[0].TimePulse; !tp.Valid || tp.PulseKnown || tp.QErrValid || tp.TimeBase != TimeBaseGNSS {
					t.Errorf("first %+v", tp)
				}
				if tp := es[1].TimePulse; !tp.PulseKnown || tp.Pulse != noon+2*timebase.Second || !tp.QErrValid {
					t.Errorf("second %+v", tp)
				}
			},
		},
		{
			name: "MON-VER and ACK",
			cycles: []string{
				cat(monVerFrame("ROM CORE 3.01 (107888)", "00080000", "FWVER=TIM 1.10", "PROTVER=22.00", "MOD=NEO-M8T", "GPS;GLO;GAL;BDS"),
					ubxFrame(0x05, 0x01, []byte{0x06, 0x01}), ubxFrame(0x05, 0x00, []byte{0x06, 0x8A})),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 0 {
					t.Errorf("epochs %+v", es)
				}
				if r := d.Receiver(); r != (Receiver{Vendor: "u-blox", Model: "NEO-M8T", Firmware: "TIM 1.10", Hardware: "00080000", Protocol: "22.00"}) {
					t.Errorf("receiver %+v", r)
				}
				a, ok := d.NextAck()
				b, ok2 := d.NextAck()
				_, ok3 := d.NextAck()
				if !ok || !ok2 || ok3 || a != (Ack{Class: 6, ID: 1, OK: true, Received: a.Received}) || b.OK || b.ID != 0x8A || a.Received == 0 {
					t.Errorf("acks %+v %+v", a, b)
				}
			},
		},
		{
			name: "bad checksum, wrong length, unknown message",
			cycles: []string{
				func() string {
					f := navTimeUTC(1000, 2026, 3, 14, 12, 0, 0, 0, 0x37)
					f[len(f)-1] ^= 1
					return cat(f, ubxFrame(0x01, 0x21, make([]byte, 19)), ubxFrame(0x01, 0x01, make([]byte, 20)), ubxFrame(0x01, 0x35, make([]byte, 9)))
				}(),
			},
			check: func(t *testing.T, es []Epoch, d *Decoder) {
				if len(es) != 0 {
					t.Errorf("epochs %+v", es)
				}
				if c := d.Counts(); c.UBXBad != 1 || c.UBXMalformed != 2 || c.UBXUnknown != 1 || c.UBXOK != 0 {
					t.Errorf("counts %+v", c)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Options{Floor: timebase.Date(2010, 1, 1, 0, 0, 0, 0)})
			tc.check(t, feedCycles(d, tc.cycles...), d)
		})
	}
}

// TestUBXSteadyStateAllocs: a u-blox timing receiver's second, decoded and drained, allocates nothing.
func TestUBXSteadyStateAllocs(t *testing.T) {
	d := NewDecoder(testOpts)
	var cycles [][]byte
	for i := 0; i < 100; i++ {
		itow := uint32(testTOW + i*1000)
		s := 12*3600 + i
		cycles = append(cycles, []byte(cat(
			timTPFrame(itow-17000, 0, int32(i), testWeek, 0x0B, 0x0F),
			navStatusFrame(itow, 5, 0xDD),
			navDOPFrame(itow, 32, 9999, 30, 9999, 9999, 9999, 9999),
			navTimeGPS(itow, 100, testWeek, 18, 7),
			navTimeUTC(itow, 2026, 3, 14, s/3600, s/60%60, s%60, 100, 0x37),
			navTimeLS(itow, 2, 18, 2, 0, 0, 3))))
	}
	recv := t0
	i := 0
	step := func() {
		d.Write(cycles[i%len(cycles)], recv)
		recv += timebase.Second
		i++
		for {
			if _, ok := d.Next(); !ok {
				break
			}
		}
	}
	for range 3 {
		step()
	}
	if n := testing.AllocsPerRun(50, step); n != 0 {
		t.Errorf("%v allocations per UBX second", n)
	}
	if c := d.Counts(); c.ValidEpochs < 50 || c.TimeJumps+c.Repeats != 0 {
		t.Errorf("counts %+v", c)
	}
}
