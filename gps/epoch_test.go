package gps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// write is one read: bytes at a receive time offset from t0.
type write struct {
	at   time.Duration
	data string
}

func feedWrites(d *Decoder, ws ...write) []Epoch {
	var last timebase.Instant
	for _, w := range ws {
		last = t0 + timebase.Instant(w.at)
		d.Write([]byte(w.data), last)
	}
	d.Flush(last + timebase.Instant(time.Hour))
	return drain(d)
}

func labels(es []Epoch) (out []string) {
	for _, e := range es {
		s := "-"
		if e.Label.Second != 0 {
			s = e.Label.Second.Time().Format("15:04:05")
		}
		if e.Label.Valid {
			s += "+"
		}
		out = append(out, s)
	}
	return out
}

func TestEpochAssembly(t *testing.T) {
	ms := time.Millisecond
	gsv := nm("GPGSV,1,1,01,05,45,120,44")
	zda := func(hhmmss, ddmmyyyy string) string {
		return nm("GPZDA," + hhmmss + "," + ddmmyyyy[:2] + "," + ddmmyyyy[2:4] + "," + ddmmyyyy[4:] + ",,")
	}
	gga := func(hhmmss string, q string) string {
		return nm("GPGGA," + hhmmss + ",4807.038,N,01131.000,E," + q + ",08,0.9,545.4,M,46.9,M,,")
	}
	for _, tc := range []struct {
		name   string
		opt    Options
		writes []write
		labels []string // "hh:mm:ss" plus "+" when valid, "-" when undated
		want   Counts   // only the epoch-level fields are compared
		check  func(t *testing.T, es []Epoch)
	}{
		{
			name: "a quiet line splits epochs: a GSV sent first belongs to the new second",
			writes: []write{
				{60 * ms, rmcAt("120000")}, {70 * ms, gsv},
				{1050 * ms, gsv}, {1060 * ms, rmcAt("120001")},
			},
			labels: []string{"12:00:00+", "12:00:01+"},
			check: func(t *testing.T, es []Epoch) {
				if es[0].SatsVisible != 1 || es[1].SatsVisible != 1 || es[1].Label.Received != t0+timebase.Instant(1050*ms) {
					t.Errorf("visible %d %d, second received %v", es[0].SatsVisible, es[1].SatsVisible, es[1].Label.Received)
				}
			},
		},
		{
			name:   "without a gap the next second's time splits it",
			writes: []write{{60 * ms, rmcAt("120000") + gsv + rmcAt("120001") + gsv}},
			labels: []string{"12:00:00+", "12:00:01+"},
			opt:    Options{JumpTolerance: -1},
		},
		{
			name:   "a receiver repeating a second",
			writes: []write{{60 * ms, rmcAt("120000")}, {1060 * ms, rmcAt("120000")}, {2060 * ms, rmcAt("120002")}},
			labels: []string{"12:00:00+", "12:00:00", "12:00:02+"},
			want:   Counts{Epochs: 3, ValidEpochs: 2, InvalidEpochs: 1, Repeats: 1},
		},
		{
			name:   "a repeat inside one read is still a repeat",
			writes: []write{{60 * ms, rmcAt("120000") + nm("GPRMC,120000,A,4807.039,N,01131.000,E,0.0,0.0,140326,,,A")}},
			labels: []string{"12:00:00+", "12:00:00"},
			want:   Counts{Epochs: 2, ValidEpochs: 1, InvalidEpochs: 1, Repeats: 1},
			opt:    Options{JumpTolerance: -1},
		},
		{
			name:   "an exact copy (a multiplexer) is ignored",
			writes: []write{{60 * ms, rmcAt("120000") + zda("120000", "14032026") + zda("120000", "14032026")}},
			labels: []string{"12:00:00+"},
			want:   Counts{Epochs: 1, ValidEpochs: 1, Duplicates: 1},
		},
		{
			name:   "a step backwards",
			writes: []write{{60 * ms, rmcAt("120000")}, {1060 * ms, rmcAt("115959")}, {2060 * ms, rmcAt("120000")}},
			labels: []string{"12:00:00+", "11:59:59", "12:00:00+"},
			want:   Counts{Epochs: 3, ValidEpochs: 2, InvalidEpochs: 1, TimeJumps: 1},
		},
		{
			name:   "a step forward the receive clock does not account for",
			writes: []write{{60 * ms, rmcAt("120000")}, {1060 * ms, rmcAt("120002")}, {2060 * ms, rmcAt("120003")}},
			labels: []string{"12:00:00+", "12:00:02", "12:00:03+"},
			want:   Counts{Epochs: 3, ValidEpochs: 2, InvalidEpochs: 1, TimeJumps: 1},
		},
		{
			name:   "a silent receiver that comes back on time is fine",
			writes: []write{{60 * ms, rmcAt("120000")}, {10060 * ms, rmcAt("120010")}},
			labels: []string{"12:00:00+", "12:00:10+"},
			want:   Counts{Epochs: 2, ValidEpochs: 2},
		},
		{
			name:   "replay mode: no forward check, backward still caught",
			opt:    Options{JumpTolerance: -1},
			writes: []write{{60 * ms, rmcAt("120000")}, {60 * ms, rmcAt("120005")}, {60 * ms, rmcAt("120004")}},
			labels: []string{"12:00:00+", "12:00:05+", "12:00:04"},
			want:   Counts{Epochs: 3, ValidEpochs: 2, InvalidEpochs: 1, TimeJumps: 1},
		},
		{
			name: "a leap second: 23:59:60 repeats 23:59:59 and is flagged, nothing jumps",
			writes: []write{
				{60 * ms, nm("GPRMC,235959,A,4807.038,N,01131.000,E,0.0,0.0,311226,,,A")},
				{1060 * ms, nm("GPRMC,235960,A,4807.038,N,01131.000,E,0.0,0.0,311226,,,A")},
				{2060 * ms, nm("GPRMC,000000,A,4807.038,N,01131.000,E,0.0,0.0,010127,,,A")},
			},
			labels: []string{"23:59:59+", "23:59:59+", "00:00:00+"},
			want:   Counts{Epochs: 3, ValidEpochs: 3},
			check: func(t *testing.T, es []Epoch) {
				if es[0].LeapSecond || !es[1].LeapSecond || es[2].LeapSecond || es[1].Warnings != WarnLeapSecond || es[2].Label.Second != timebase.Date(2027, 1, 1, 0, 0, 0, 0) {
					t.Errorf("%v %v %v", es[1].LeapSecond, es[1].Warnings, es[2].Label.Second)
				}
			},
		},
		{
			name: "a 5 Hz receiver: five epochs per second, one on the second",
			writes: []write{
				{60 * ms, rmcAt("120000.00")}, {260 * ms, rmcAt("120000.20")}, {460 * ms, rmcAt("120000.40")},
				{660 * ms, rmcAt("120000.60")}, {860 * ms, rmcAt("120000.80")}, {1060 * ms, rmcAt("120001.00")},
			},
			labels: []string{"12:00:00+", "12:00:00+", "12:00:00+", "12:00:00+", "12:00:00+", "12:00:01+"},
			want:   Counts{Epochs: 6, ValidEpochs: 6},
			check: func(t *testing.T, es []Epoch) {
				for i, e := range es {
					if e.OnSecond() != (i == 0 || i == 5) {
						t.Errorf("epoch %d at %v: OnSecond %v", i, e.Time, e.OnSecond())
					}
				}
			},
		},
		{
			name:   "a solution a few ms before the second names that second",
			writes: []write{{60 * ms, rmcAt("115959.997")}, {1060 * ms, rmcAt("120000.997")}},
			labels: []string{"12:00:00+", "12:00:01+"},
			check: func(t *testing.T, es []Epoch) {
				if es[0].Time != es[0].Label.Second-timebase.Instant(3*ms) || !es[0].OnSecond() {
					t.Errorf("time %v", es[0].Time)
				}
			},
		},
		{
			name: "a date borrowed across midnight",
			writes: []write{
				{60 * ms, nm("GPRMC,235959,A,4807.038,N,01131.000,E,0.0,0.0,140326,,,A")},
				{1060 * ms, gga("000000", "1")},
			},
			labels: []string{"23:59:59+", "00:00:00+"},
			check: func(t *testing.T, es []Epoch) {
				if es[1].Label.Second != timebase.Date(2026, 3, 15, 0, 0, 0, 0) {
					t.Errorf("borrowed date: %v", es[1].Label.Second)
				}
			},
		},
		{
			name:   "a borrowed date carries on from epoch to epoch, and expires over a long gap",
			opt:    Options{DateContext: time.Minute},
			writes: []write{{60 * ms, rmcAt("120000")}, {59060 * ms, gga("120059", "1")}, {61060 * ms, gga("120101", "1")}, {122060 * ms, gga("120202", "1")}},
			labels: []string{"12:00:00+", "12:00:59+", "12:01:01+", "-"},
		},
		{
			name:   "no date from an epoch the receiver called invalid (stale RTC at cold boot)",
			writes: []write{{60 * ms, nm("GPRMC,235948.00,V,0000.0000,N,00000.0000,E,,,161206,,,N")}, {1060 * ms, gga("120000", "1")}},
			labels: []string{"23:59:48", "-"},
			check: func(t *testing.T, es []Epoch) {
				if es[0].Warnings&(WarnReceiverInvalid|WarnRollover) != WarnReceiverInvalid|WarnRollover || es[1].Warnings&WarnNoDate == 0 {
					t.Errorf("warnings %v / %v", es[0].Warnings, es[1].Warnings)
				}
			},
		},
		{
			name:   "sentences disagreeing on the date",
			writes: []write{{60 * ms, rmcAt("120000") + zda("120000", "15032026")}},
			labels: []string{"12:00:00"},
			want:   Counts{Epochs: 1, InvalidEpochs: 1, Conflicts: 1},
		},
		{
			name:   "sentences disagreeing on validity",
			writes: []write{{60 * ms, rmcAt("120000") + gga("120000", "0")}},
			labels: []string{"12:00:00"},
			want:   Counts{Epochs: 1, InvalidEpochs: 1, Conflicts: 1},
		},
		{
			name:   "satellites without any time make an epoch without a time",
			writes: []write{{60 * ms, gsv + nm("GPGSA,A,1,,,,,,,,,,,,,,,")}},
			labels: []string{"-"},
			check: func(t *testing.T, es []Epoch) {
				if e := es[0]; e.HasTime || e.Fix != FixNone || e.SatsVisible != 1 || e.Warnings&WarnNoTime == 0 {
					t.Errorf("%+v", e)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			opt.Floor = testOpts.Floor
			d := NewDecoder(opt)
			es := feedWrites(d, tc.writes...)
			got := labels(es)
			if len(got) != len(tc.labels) {
				t.Fatalf("epochs %v, want %v", got, tc.labels)
			}
			for i := range got {
				if got[i] != tc.labels[i] {
					t.Fatalf("epochs %v, want %v (warnings of %d: %v)", got, tc.labels, i, es[i].Warnings)
				}
			}
			if tc.want != (Counts{}) {
				c := d.Counts()
				c = Counts{Epochs: c.Epochs, ValidEpochs: c.ValidEpochs, InvalidEpochs: c.InvalidEpochs, TimeJumps: c.TimeJumps,
					Repeats: c.Repeats, Conflicts: c.Conflicts, Duplicates: c.Duplicates}
				if c != tc.want {
					t.Errorf("counts %+v\nwant   %+v", c, tc.want)
				}
			}
			if tc.check != nil {
				tc.check(t, es)
			}
		})
	}
}

func TestDeadlineAndFlush(t *testing.T) {
	d := NewDecoder(testOpts)
	if _, ok := d.Deadline(); ok {
		t.Fatal("deadline with nothing open")
	}
	d.Write([]byte(rmcAt("120000")), t0)
	d.Write([]byte(nm("GPGSV,1,1,01,05,45,120,44")), t0+10)
	dl, ok := d.Deadline()
	if !ok || dl != t0+10+timebase.Instant(DefaultEpochQuiet) {
		t.Fatalf("deadline %v %v", dl, ok)
	}
	d.Flush(dl - 1)
	if _, ok := d.Next(); ok {
		t.Fatal("completed before the deadline")
	}
	d.Flush(dl)
	if e, ok := d.Next(); !ok || !e.Label.Valid || e.Messages != 2 {
		t.Fatalf("after the deadline: %+v %v", e, ok)
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("deadline after completion")
	}
	// A late read after a quiet line completes the open epoch by itself, before its own bytes.
	d.Write([]byte(rmcAt("120001")), t0+timebase.Second)
	d.Write([]byte(nm("GPGSV,1,1,01,05,45,120,44")), t0+2*timebase.Second)
	if e, ok := d.Next(); !ok || e.SatsVisible != 0 || e.Label.Second != timebase.Date(2026, 3, 14, 12, 0, 1, 0) {
		t.Fatalf("%+v %v", e, ok)
	}
}

func TestQueueBound(t *testing.T) {
	d := NewDecoder(Options{Floor: testOpts.Floor, MaxQueue: 4})
	for i := 0; i < 10; i++ {
		d.Write([]byte(rmcAt(fmt6(12*3600+i))), t0+timebase.Instant(i)*timebase.Second)
	}
	d.Flush(t0 + timebase.Instant(time.Hour))
	es := drain(d)
	if len(es) != 4 || d.Counts().Dropped != 6 || es[0].Label.Second != timebase.Date(2026, 3, 14, 12, 0, 6, 0) || es[3].Label.Second != timebase.Date(2026, 3, 14, 12, 0, 9, 0) {
		t.Errorf("%v dropped %d", labels(es), d.Counts().Dropped)
	}
}
