package timebase

import (
	"math"
	"testing"
	"time"
)

func TestNTPRoundTripAcrossEras(t *testing.T) {
	cases := []struct {
		name string
		at   Instant
		sec  uint32 // expected wire seconds
	}{
		{"unix epoch", 0, NTPEpochOffset},
		{"2026", Date(2026, 11, 22, 6, 0, 0, 123456789), uint32(Date(2026, 11, 22, 6, 0, 0, 0)/Second + NTPEpochOffset)},
		{"last second of era 0", Date(2036, 2, 7, 6, 28, 15, 999999999), math.MaxUint32},
		{"first second of era 1", Date(2036, 2, 7, 6, 28, 16, 0), 0},
		{"era 1", Date(2040, 1, 1, 0, 0, 0, 500000000), uint32((Date(2040, 1, 1, 0, 0, 0, 0)/Second + NTPEpochOffset) - 1<<32)},
		{"before 1970", Date(1960, 6, 1, 0, 0, 0, 1), uint32(Date(1960, 6, 1, 0, 0, 0, 0)/Second + NTPEpochOffset)},
	}
	for _, c := range cases {
		ts := c.at.NTP()
		if ts.Seconds() != c.sec {
			t.Errorf("%s: seconds = %d, want %d", c.name, ts.Seconds(), c.sec)
		}
		// A pivot up to decades away on either side resolves to the same era.
		for _, off := range []time.Duration{0, 30 * 365 * 24 * time.Hour, -30 * 365 * 24 * time.Hour} {
			got := FromNTP(ts, c.at.Add(off))
			if got != c.at {
				t.Errorf("%s: FromNTP(pivot %+v) = %v, want %v", c.name, off, got, c.at)
			}
		}
	}
}

func TestEra(t *testing.T) {
	if e := Date(2036, 2, 7, 6, 28, 15, 0).Era(); e != 0 {
		t.Errorf("era before rollover = %d", e)
	}
	if e := Date(2036, 2, 7, 6, 28, 16, 0).Era(); e != 1 {
		t.Errorf("era after rollover = %d", e)
	}
	if e := Date(1899, 12, 31, 0, 0, 0, 0).Era(); e != -1 {
		t.Errorf("era before 1900 = %d", e)
	}
}

func TestNTPFractionRounding(t *testing.T) {
	for ns := int64(0); ns < 1e9; ns += 999983 {
		i := Instant(1700000000*1e9 + ns)
		if got := FromNTP(i.NTP(), i); got != i {
			t.Fatalf("round trip of %d ns gave %v", ns, got-i)
		}
	}
	// The largest fraction rounds to within the second, not into the next one.
	i := Instant(1700000000*1e9 + 999999999)
	if i.NTP().Seconds() != uint32(1700000000+NTPEpochOffset) {
		t.Fatal("fraction rounding carried into the seconds field")
	}
}

func TestNTPShort(t *testing.T) {
	if s := ShortFromDuration(time.Second); s != 1<<16 {
		t.Errorf("1s = %#x", s)
	}
	if s := ShortFromDuration(time.Nanosecond); s != 1 {
		t.Errorf("1ns must round up to one unit, got %d", s)
	}
	if s := ShortFromDuration(-time.Second); s != 0 {
		t.Errorf("negative = %d", s)
	}
	if s := ShortFromDuration(70000 * time.Second); s != math.MaxUint32 {
		t.Errorf("overflow must saturate, got %#x", s)
	}
	if d := NTPShort(1 << 15).Duration(); d != 500*time.Millisecond {
		t.Errorf("half second = %v", d)
	}
}

func TestTruncateRound(t *testing.T) {
	i := Instant(-1)
	if got := i.Truncate(time.Second); got != -Second {
		t.Errorf("Truncate(-1ns) = %d", got)
	}
	if got := Instant(1500 * time.Millisecond).Round(time.Second); got != 2*Second {
		t.Errorf("Round(1.5s) = %d", got)
	}
	if got := Instant(1499 * time.Millisecond).Round(time.Second); got != Second {
		t.Errorf("Round(1.499s) = %d", got)
	}
	s, ns := Instant(-1).Unix()
	if s != -1 || ns != 999999999 {
		t.Errorf("Unix(-1) = %d, %d", s, ns)
	}
}

func TestRootDispersionGrows(t *testing.T) {
	s := &Snapshot{RefTime: 10 * Second, RootDispersion: time.Microsecond, DispersionRate: 15e-6}
	if d := s.RootDispersionAt(5 * Second); d != time.Microsecond {
		t.Errorf("before reftime = %v", d)
	}
	if d := s.RootDispersionAt(110 * Second); d != time.Microsecond+1500*time.Microsecond {
		t.Errorf("after 100 s = %v", d)
	}
	u := Unsynchronized()
	if u.Leap != LeapUnsync || u.Stratum != 16 {
		t.Errorf("unsynchronized snapshot = %+v", u)
	}
}

func TestRefID(t *testing.T) {
	if s := RefIDFromString("PPS").String(); s != "PPS" {
		t.Errorf("PPS refid = %q", s)
	}
	if s := (RefID{192, 168, 1, 2}).String(); s != "192.168.1.2" {
		t.Errorf("address refid = %q", s)
	}
}
