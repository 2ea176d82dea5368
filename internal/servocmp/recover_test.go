package servocmp

import (
	"errors"
	"math"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestRecover(t *testing.T) {
	s0 := timebase.Date(2026, 11, 22, 0, 0, 31, 0) // simulated seconds
	tv := func(sec, usec int) timebase.Instant { return timebase.Date(2026, 11, 22, 9, 45, sec, usec*1000) }
	fed := []Fed{
		// Before chrony's first update: board 1.2339681234 s ahead, capture noise +1 µs.
		{Second: s0, TV: tv(5, 0), Offset: -1.2339691234, BoardErr: 1.2339681234},
		// Never logged by chrony (dropped).
		{Second: s0 + timebase.Second, TV: tv(6, 0), Offset: -1.2339491234, BoardErr: 1.2339481234},
		// After the update: board 1.094 ms ahead, noise +1 µs; chrony corrects by −(1.095 ms + 0.38 ns).
		{Second: s0 + 2*timebase.Second, TV: tv(28, 0), Offset: -1.095e-3, BoardErr: 1.094e-3},
		// A one-second label slip: the label says one second later than the pulse marks.
		{Second: s0 + 3*timebase.Second, TV: tv(29, 0), Offset: 1 - 1.1e-3, BoardErr: 1.0995e-3},
	}
	recs := []RefclockRecord{
		{Time: tv(5, 0), RefID: "GPS", Leap: 'N', RawOffset: -1.233969, CookedOffset: -1.233969},
		{Time: tv(11, 500000), RefID: "GPS", Filtered: true, Leap: 'N', CookedOffset: -1.233838},
		{Time: tv(27, 998904), RefID: "GPS", Leap: 'N', RawOffset: -1.095e-3, CookedOffset: 3.837375e-10},
		{Time: tv(28, 0), RefID: "NMEA", Leap: 'N', RawOffset: -1.095e-3, CookedOffset: 1e-3}, // another refclock
		// The slipped sample, cooked with the same correction: cooked time 29 s − 1.095004 ms.
		{Time: tv(28, 998904), RefID: "GPS", Leap: 'N', RawOffset: 9.989000e-01, CookedOffset: 1.0000000e+00 - 4.996e-6},
		// Matches nothing sent: 0.5 s away from every tv.
		{Time: tv(40, 500000), RefID: "GPS", Leap: 'N', RawOffset: -1.1e-3, CookedOffset: 1e-9},
	}
	pts, st, err := Recover(fed, recs, "GPS")
	if err != nil {
		t.Fatal(err)
	}
	if want := (RecoverStats{Fed: 4, Logged: 4, Matched: 3, Unmatched: 1}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	// E = offset + board error − cooked offset.
	want := []Point{
		{s0, (-1.2339691234 + 1.2339681234 + 1.233969) * 1e9}, // 1.233968 s: uncorrected
		{s0 + 2*timebase.Second, (-1e-6 - 3.837375e-10) * 1e9},
		{s0 + 3*timebase.Second, (1 - 1.1e-3 + 1.0995e-3 - 1 + 4.996e-6) * 1e9}, // chrony took the slip as 1 s: E = +4.5 µs
	}
	if len(pts) != len(want) {
		t.Fatalf("points %+v, want %+v", pts, want)
	}
	for i := range want {
		if pts[i].Second != want[i].Second || math.Abs(pts[i].ErrNs-want[i].ErrNs) > 1e-3 {
			t.Errorf("point %d = %+v, want %+v", i, pts[i], want[i])
		}
	}
	if math.Abs(pts[1].ErrNs-(-1000.3837375)) > 1e-6 {
		t.Errorf("E after the update = %.7f ns, want −1000.3837375", pts[1].ErrNs)
	}
}

func TestRecoverMatching(t *testing.T) {
	tv := timebase.Date(2026, 11, 22, 9, 45, 28, 0)
	fed := []Fed{{Second: 1e9, TV: tv, Offset: -1.095e-3, BoardErr: 1.094e-3}}
	line := RefclockRecord{Time: tv - 1095000, RefID: "GPS", RawOffset: -1.095e-3, CookedOffset: 0}
	for _, tc := range []struct {
		name  string
		edit  func(r *RefclockRecord)
		match bool
	}{
		{"exact", func(r *RefclockRecord) {}, true},
		{"truncated by 0.9 µs", func(r *RefclockRecord) { r.Time -= 900 }, true},
		{"raw offset lost a ns to a timespec", func(r *RefclockRecord) { r.RawOffset = -1.094999e-3 }, true},
		{"time 3 µs off", func(r *RefclockRecord) { r.Time -= 3000 }, false},
		{"raw offset differs", func(r *RefclockRecord) { r.RawOffset = -1.096e-3; r.Time -= 1000 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := line
			tc.edit(&r)
			_, st, err := Recover(fed, []RefclockRecord{r}, "GPS")
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Matched == 1; got != tc.match {
				t.Fatalf("matched %v, want %v (%+v)", got, tc.match, st)
			}
		})
	}
}

func TestRecoverErrors(t *testing.T) {
	a := timebase.Date(2026, 11, 22, 9, 45, 28, 0)
	b := a + timebase.Second
	fed := []Fed{{TV: a, Offset: -1e-3}, {TV: b, Offset: -1e-3}}
	rec := RefclockRecord{Time: a - 1e6, RefID: "GPS", RawOffset: -1e-3}
	if _, _, err := Recover(fed, []RefclockRecord{rec, rec}, "GPS"); !errors.Is(err, ErrRecover) {
		t.Errorf("two lines for one sample: err = %v, want ErrRecover", err)
	}
	if _, _, err := Recover([]Fed{fed[1], fed[0]}, nil, "GPS"); !errors.Is(err, ErrRecover) {
		t.Errorf("unsorted samples: err = %v, want ErrRecover", err)
	}
}
