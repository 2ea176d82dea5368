package gps

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// The logs are from gpsd's regression suite (../shared/testdata/gpsd, see INDEX.txt there). Expectations
// come from the logs themselves, read by the simple line reader below, which shares no code with the
// decoder: a sentence counts when it is the last '$' segment of a line, printable, with one '*' followed
// by two hex digits that match the XOR of the text.

var logFloors = map[string]timebase.Instant{
	// The receivers in these logs ran around the 2019-04-06 GPS week rollover.
	"april6_2019.log":                  timebase.Date(2019, time.March, 1, 0, 0, 0, 0),
	"gp-320fw-2019-04-06-overflow.log": timebase.Date(2019, time.March, 1, 0, 0, 0, 0),
	"gp-320fw-2019-04-07-coldboot.log": timebase.Date(2019, time.March, 1, 0, 0, 0, 0),
}

// The other logs date from 2005 on: a floor of 2000 leaves their dates alone.
var defaultLogFloor = timebase.Date(2000, time.January, 1, 0, 0, 0, 0)

type refSentence struct {
	typ    string
	fields []string
}

// refRead returns the good and the bad-checksum sentences of a log, after its '#' comment header.
func refRead(data []byte) (good []refSentence, bad int) {
	header := true
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if header && len(line) > 0 && line[0] == '#' {
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			header = false
		}
		i := bytes.LastIndexByte(line, '$')
		if i < 0 {
			continue
		}
		seg := string(line[i+1:])
		printable := true
		for _, c := range []byte(seg) {
			if c < 0x20 || c > 0x7e || c == '!' || c == '\\' {
				printable = false
			}
		}
		star := strings.IndexByte(seg, '*')
		if !printable || star < 0 || star != len(seg)-3 {
			continue
		}
		want, err := strconv.ParseUint(seg[star+1:], 16, 8)
		if err != nil {
			continue
		}
		var x byte
		for _, c := range []byte(seg[:star]) {
			x ^= c
		}
		if uint64(x) != want {
			bad++
			continue
		}
		f := strings.Split(seg[:star], ",")
		typ := f[0]
		if len(typ) == 5 {
			typ = typ[2:]
		}
		good = append(good, refSentence{typ: typ, fields: f})
	}
	return good, bad
}

// refTOD reads hhmmss[.fff] as the second it names: rounded up when within 25 ms of the next second.
func refTOD(s string) (time.Duration, bool) {
	if len(s) < 6 {
		return 0, false
	}
	h, e1 := strconv.Atoi(s[0:2])
	m, e2 := strconv.Atoi(s[2:4])
	sec, e3 := strconv.ParseFloat(s[4:], 64)
	if e1 != nil || e2 != nil || e3 != nil || h > 23 || m > 59 || sec >= 60 {
		return 0, false
	}
	whole := int(sec)
	if sec-float64(whole) >= 0.975 {
		whole++
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(whole)*time.Second, true
}

// refDate reads ddmmyy (RMC) against a floor: century window, then +1024 weeks while before the floor.
func refDate(s string, floor timebase.Instant) (timebase.Instant, bool) {
	if len(s) != 6 {
		return 0, false
	}
	dd, e1 := strconv.Atoi(s[0:2])
	mm, e2 := strconv.Atoi(s[2:4])
	yy, e3 := strconv.Atoi(s[4:6])
	if e1 != nil || e2 != nil || e3 != nil || yy < 0 {
		return 0, false
	}
	fy := floor.Time().Year()
	y := fy - 50 + ((yy-(fy-50)%100)%100+100)%100
	t := time.Date(y, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if t.Day() != dd || t.Month() != time.Month(mm) {
		return 0, false
	}
	return timebase.FromTime(t), true
}

func TestReceiverLogs(t *testing.T) {
	dir := gpsdDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) < 30 {
		t.Fatalf("glob %s: %d files, %v", dir, len(files), err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			floor, ok := logFloors[name]
			if !ok {
				floor = defaultLogFloor
			}
			d := NewDecoder(Options{Floor: floor, JumpTolerance: -1})
			var epochs []Epoch
			if _, err := Replay(bytes.NewReader(data), d, t0, ReplayOptions{SkipComments: true}, func(e Epoch) {
				epochs = append(epochs, e)
			}); err != nil {
				t.Fatal(err)
			}
			c := d.Counts()
			good, bad := refRead(data)
			if c.BadChecksum != uint64(bad) {
				t.Errorf("bad checksums: decoder %d, log %d", c.BadChecksum, bad)
			}
			if n := c.SentencesOK + c.Unknown; n > uint64(len(good)) || n+c.Malformed < uint64(len(good)) {
				t.Errorf("good sentences: decoder ok %d + unknown %d (malformed %d), log %d", c.SentencesOK, c.Unknown, c.Malformed, len(good))
			}

			// What the sentences name.
			tods := map[time.Duration]bool{}
			dates := map[timebase.Instant]bool{}
			wantValid := map[timebase.Instant]bool{}
			zdaAt := map[time.Duration]timebase.Instant{}
			ggaValidAt := map[time.Duration]bool{}
			for _, s := range good {
				f := s.fields
				timeField := map[string]int{"RMC": 1, "GGA": 1, "GNS": 1, "ZDA": 1, "GST": 1, "GLL": 5}
				i, ok := timeField[s.typ]
				if !ok || i >= len(f) {
					continue
				}
				tod, ok := refTOD(f[i])
				if !ok {
					continue
				}
				tods[tod] = true
				switch s.typ {
				case "RMC":
					if len(f) <= 9 {
						continue
					}
					day, ok := refDate(f[9], floor)
					if !ok {
						continue
					}
					for day < floor {
						day += timebase.Instant(1024 * 7 * 24 * time.Hour)
					}
					dates[day] = true
					mode := ""
					if len(f) > 12 {
						mode = f[12]
					}
					if f[2] == "A" && mode != "N" && mode != "E" && mode != "M" && mode != "S" {
						wantValid[day+timebase.Instant(tod)] = true
					}
				case "ZDA":
					if len(f) < 5 {
						continue
					}
					dd, _ := strconv.Atoi(f[2])
					mm, _ := strconv.Atoi(f[3])
					yy, _ := strconv.Atoi(f[4])
					day := timebase.Date(yy, time.Month(mm), dd, 0, 0, 0, 0)
					dates[day] = true
					zdaAt[tod] = day
				case "GGA":
					if q, err := strconv.Atoi(f[6]); err == nil && q >= 1 && q <= 5 {
						ggaValidAt[tod] = true
					}
				}
			}
			for tod, day := range zdaAt {
				if ggaValidAt[tod] {
					wantValid[day+timebase.Instant(tod)] = true
				}
			}

			gotValid := map[timebase.Instant]bool{}
			for _, e := range epochs {
				if strings.HasPrefix(e.Label.Source, "NAV-") {
					continue // UBX epochs: TestUbloxM8TLog checks them against the frames
				}
				if !e.HasTime {
					if e.Label.Valid {
						t.Errorf("valid epoch without a time: %+v", e)
					}
					continue
				}
				if !tods[e.TimeOfDay] {
					t.Errorf("epoch names %v, which no good sentence of the log names", e.TimeOfDay)
				}
				if e.Label.Second != 0 {
					day := e.Label.Second.Truncate(24 * time.Hour)
					if !dates[day] && !dates[day-timebase.Instant(24*time.Hour)] && !dates[day+timebase.Instant(24*time.Hour)] {
						t.Errorf("epoch dated %v, a date no good sentence of the log gives", e.Label.Second)
					}
				}
				if e.Label.Valid {
					if e.Label.Second < floor {
						t.Errorf("valid epoch %v before the floor", e.Label.Second)
					}
					gotValid[e.Label.Second] = true
				}
			}
			missing := 0
			for s := range wantValid {
				if !gotValid[s] {
					missing++
					t.Logf("no valid epoch for %v", s)
				}
			}
			if uint64(missing) > c.TimeJumps+c.Repeats+c.Conflicts {
				t.Errorf("%d seconds the receiver reported valid are missing; jumps %d repeats %d conflicts %d", missing, c.TimeJumps, c.Repeats, c.Conflicts)
			}
			t.Logf("%d epochs (%d valid, %d expected valid); %+v", len(epochs), len(gotValid), len(wantValid), c)
		})
	}
}

// TestRolloverLogs pins what the 2019 week-rollover logs decode to.
func TestRolloverLogs(t *testing.T) {
	dir := gpsdDir(t)
	floor := timebase.Date(2019, time.March, 1, 0, 0, 0, 0)
	type want struct {
		second   timebase.Instant
		valid    bool
		rollover bool
	}
	for _, tc := range []struct {
		file  string
		wants []want
	}{
		// The receiver that was not restarted still reports 2019-04-06: nothing to correct.
		{"gp-320fw-2019-04-06-overflow.log", []want{
			{timebase.Date(2019, 4, 6, 23, 57, 24, 0), true, false},
			{timebase.Date(2019, 4, 6, 23, 57, 43, 0), true, false},
		}},
		// Before the restart it reports 2019-04-07 correctly; after a cold boot its RTC gives 2006 and
		// 2010 dates (status V), then 220899 (1999-08-22, week 0 of the second era), which is 2019-04-07
		// 1024 weeks later; it never regains a fix in the log, so those seconds stay invalid.
		{"gp-320fw-2019-04-07-coldboot.log", []want{
			{timebase.Date(2019, 4, 7, 0, 3, 45, 0), true, false},
			{timebase.Date(2006, 12, 16, 23, 59, 48, 0) + timebase.Instant(rolloverPeriod), false, true},
			{timebase.Date(2019, 4, 7, 0, 4, 30, 0), false, true},
		}},
		// Telit HE910: one RMC with year "-1" (malformed, dropped), then 220899 with status A.
		{"april6_2019.log", []want{
			{timebase.Date(2019, 4, 7, 0, 2, 31, 0), true, true},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder(Options{Floor: floor, JumpTolerance: -1})
			got := map[timebase.Instant]Epoch{}
			Replay(bytes.NewReader(data), d, t0, ReplayOptions{SkipComments: true}, func(e Epoch) {
				got[e.Label.Second] = e
				if e.Label.Valid && e.Label.Second.Time().Year() != 2019 {
					t.Errorf("valid epoch in %d: %v", e.Label.Second.Time().Year(), e.Label.Second)
				}
			})
			rollovers := false
			for _, w := range tc.wants {
				e, ok := got[w.second]
				if !ok {
					t.Errorf("no epoch labelled %v", w.second)
					continue
				}
				if e.Label.Valid != w.valid || (e.Warnings&WarnRollover != 0) != w.rollover {
					t.Errorf("%v: valid %v warnings %v; want valid %v rollover %v", w.second, e.Label.Valid, e.Warnings, w.valid, w.rollover)
				}
				rollovers = rollovers || w.rollover
			}
			if got := d.Counts().Rollovers > 0; got != rollovers {
				t.Errorf("rollovers counted %d", d.Counts().Rollovers)
			}
		})
	}
}

// TestUbloxM8TLog checks the binary u-blox timing log against its own frames: every NAV-TIMEUTC second
// becomes a valid epoch, leap seconds come from NAV-TIMELS, and every TIM-TP's qErr is reported.
func TestUbloxM8TLog(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(gpsdDir(t), "u-blox-m8t-time.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Independent frame walk.
	type tp struct {
		qerr  int32
		pulse timebase.Instant
	}
	var seconds []timebase.Instant
	var pulses []tp
	leap := -1
	frames := 0
	for i := 0; i+8 <= len(data); {
		if data[i] != 0xB5 || data[i+1] != 0x62 {
			i++
			continue
		}
		n := int(binary.LittleEndian.Uint16(data[i+4:]))
		if i+8+n > len(data) {
			break
		}
		var a, b byte
		for _, c := range data[i+2 : i+6+n] {
			a += c
			b += a
		}
		if a != data[i+6+n] || b != data[i+7+n] {
			i++
			continue
		}
		p := data[i+6 : i+6+n]
		frames++
		switch [2]byte{data[i+2], data[i+3]} {
		case [2]byte{0x01, 0x21}:
			if p[19]&7 == 7 {
				seconds = append(seconds, timebase.Date(int(binary.LittleEndian.Uint16(p[12:])), time.Month(p[14]), int(p[15]), int(p[16]), int(p[17]), int(p[18]), 0))
			}
		case [2]byte{0x0D, 0x01}:
			tow := time.Duration(binary.LittleEndian.Uint32(p)) * time.Millisecond
			week := int(binary.LittleEndian.Uint16(p[12:]))
			if p[14]&1 != 1 {
				t.Fatal("expected UTC-based TIM-TP in this log")
			}
			pulses = append(pulses, tp{int32(binary.LittleEndian.Uint32(p[8:])), timebase.Date(1980, 1, 6, 0, 0, 0, 0) + timebase.Instant(week)*timebase.Instant(7*24*time.Hour) + timebase.Instant(tow)})
		case [2]byte{0x01, 0x26}:
			leap = int(int8(p[9]))
		}
		i += 8 + n
	}
	if len(seconds) < 150 || len(pulses) < 150 || leap != 18 {
		t.Fatalf("reference walk: %d seconds, %d pulses, leap %d", len(seconds), len(pulses), leap)
	}

	d := NewDecoder(Options{Floor: defaultLogFloor, JumpTolerance: -1})
	var got []timebase.Instant
	var gotTP []tp
	var last Epoch
	Replay(bytes.NewReader(data), d, t0, ReplayOptions{SkipComments: true}, func(e Epoch) {
		if e.Label.Valid {
			got = append(got, e.Label.Second)
			if e.Fix != FixTimeOnly || e.Label.Source != "NAV-TIMEUTC+NAV-TIMEGPS" || e.SatsUsed < 8 || e.SatsVisible < e.SatsUsed {
				t.Errorf("epoch %v: fix %v source %q used %d visible %d", e.Label.Second, e.Fix, e.Label.Source, e.SatsUsed, e.SatsVisible)
			}
			// Surveyed-in timing mode: the survey is over (inactive), DOPs other than time and geometric are
			// reported as 99.99 (unknown), TDOP is about 0.3.
			if !e.SurveyIn.Valid || e.SurveyIn.Active || !e.Position.Valid || e.PDOP != 0 || e.TDOP <= 0 || e.TDOP > 1 {
				t.Errorf("epoch %v: survey-in %+v position %+v pdop %v tdop %v", e.Label.Second, e.SurveyIn, e.Position, e.PDOP, e.TDOP)
			}
			if e.TimePulse.Valid && e.TimePulse.Pulse != e.Label.Second+timebase.Second {
				t.Errorf("epoch %v: TIM-TP for %v, want the next second", e.Label.Second, e.TimePulse.Pulse)
			}
		}
		if e.TimePulse.Valid {
			if !e.TimePulse.PulseKnown || !e.TimePulse.QErrValid {
				t.Errorf("TIM-TP %+v", e.TimePulse)
			}
			gotTP = append(gotTP, tp{e.TimePulse.QErrPS, e.TimePulse.Pulse})
		}
		last = e
	})
	if len(got) != len(seconds) {
		t.Fatalf("%d valid epochs, log has %d valid NAV-TIMEUTC", len(got), len(seconds))
	}
	for i := range got {
		if got[i] != seconds[i] {
			t.Fatalf("epoch %d: %v, log %v", i, got[i], seconds[i])
		}
	}
	if len(gotTP) != len(pulses) {
		t.Fatalf("%d TIM-TP reported, log has %d", len(gotTP), len(pulses))
	}
	for i := range gotTP {
		if gotTP[i] != pulses[i] {
			t.Fatalf("TIM-TP %d: %+v, log %+v", i, gotTP[i], pulses[i])
		}
	}
	if l := last.Leap; !l.Known || l.Current != leap || l.Default || l.Source != "NAV-TIMELS" {
		t.Errorf("leap %+v, log says %d", l, leap)
	}
	c := d.Counts()
	if c.UBXBad != 0 || c.SentencesOK != 0 || c.TimeJumps+c.Repeats != 0 || c.UBXOK+c.UBXUnknown != uint64(frames) || c.UBXMalformed != 0 {
		t.Errorf("counts %+v", c)
	}
}

// TestTrimbleLog: a TSIP (binary, non-UBX) stream yields no epochs and no accepted frames, only counted
// bytes.
func TestTrimbleLog(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(gpsdDir(t), "trimble-res720.log"))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(Options{Floor: defaultLogFloor, JumpTolerance: -1})
	n := 0
	Replay(bytes.NewReader(data), d, t0, ReplayOptions{SkipComments: true}, func(Epoch) { n++ })
	c := d.Counts()
	if n != 0 || c.UBXOK != 0 || c.SentencesOK != 0 || c.OtherBytes < uint64(len(data))*9/10 {
		t.Errorf("%d epochs, counts %+v of %d bytes", n, c, len(data))
	}
}
