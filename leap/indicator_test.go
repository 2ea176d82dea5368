package leap

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var (
	insert2016 = Event{At: timebase.Date(2017, 1, 1, 0, 0, 0, 0), Change: 1, TAIMinusUTC: 37}
	delete2027 = Event{At: timebase.Date(2027, 10, 1, 0, 0, 0, 0), Change: -1, TAIMinusUTC: 36}
	march2027  = Event{At: timebase.Date(2027, 4, 1, 0, 0, 0, 0), Change: 1, TAIMinusUTC: 38}
)

func TestIndicatorAndKernel(t *testing.T) {
	s := Schedule{Event: insert2016, Has: true}
	d := Schedule{Event: delete2027, Has: true}
	m := Schedule{Event: march2027, Has: true}
	sm := Schedule{Event: insert2016, Has: true, Mode: ModeSmear}
	tests := []struct {
		name   string
		s      Schedule
		now    timebase.Instant
		synced bool
		li     timebase.LeapIndicator
		k      KernelFlag
	}{
		{"insert: day before", s, timebase.Date(2016, 12, 30, 23, 59, 59, 999999999), true, timebase.LeapNone, KernelNone},
		{"insert: leap day starts", s, timebase.Date(2016, 12, 31, 0, 0, 0, 0), true, timebase.LeapInsert, KernelInsert},
		{"insert: 23:59:59", s, timebase.Date(2016, 12, 31, 23, 59, 59, 500000000), true, timebase.LeapInsert, KernelInsert},
		{"insert: after", s, timebase.Date(2017, 1, 1, 0, 0, 0, 0), true, timebase.LeapNone, KernelNone},
		{"insert: unsynced", s, timebase.Date(2016, 12, 31, 12, 0, 0, 0), false, timebase.LeapUnsync, KernelInsert},
		{"delete: leap day", d, timebase.Date(2027, 9, 30, 12, 0, 0, 0), true, timebase.LeapDelete, KernelDelete},
		{"delete: 23:59:58", d, timebase.Date(2027, 9, 30, 23, 59, 58, 0), true, timebase.LeapDelete, KernelDelete},
		{"delete: after", d, timebase.Date(2027, 10, 1, 0, 0, 0, 0), true, timebase.LeapNone, KernelNone},
		{"end of March", m, timebase.Date(2027, 3, 31, 6, 0, 0, 0), true, timebase.LeapInsert, KernelInsert},
		{"end of March, day before", m, timebase.Date(2027, 3, 30, 6, 0, 0, 0), true, timebase.LeapNone, KernelNone},
		{"smear hides LI", sm, timebase.Date(2016, 12, 31, 12, 0, 0, 0), true, timebase.LeapNone, KernelInsert},
		{"nothing announced", Schedule{}, timebase.Date(2016, 12, 31, 12, 0, 0, 0), true, timebase.LeapNone, KernelNone},
	}
	for _, tt := range tests {
		if li := tt.s.Indicator(tt.now, tt.synced); li != tt.li {
			t.Errorf("%s: LI %v, want %v", tt.name, li, tt.li)
		}
		if k := tt.s.Kernel(tt.now); k != tt.k {
			t.Errorf("%s: kernel %v, want %v", tt.name, k, tt.k)
		}
	}
	at, ok := s.NextChange(timebase.Date(2016, 12, 1, 0, 0, 0, 0))
	if !ok || at != timebase.Date(2016, 12, 31, 0, 0, 0, 0) {
		t.Errorf("NextChange before = %s %v", at, ok)
	}
	at, ok = s.NextChange(timebase.Date(2016, 12, 31, 0, 0, 0, 0))
	if !ok || at != insert2016.At {
		t.Errorf("NextChange on the day = %s %v", at, ok)
	}
	if _, ok := s.NextChange(insert2016.At); ok {
		t.Errorf("NextChange after the event reported one")
	}
	at, _ = sm.NextChange(timebase.Date(2016, 12, 31, 1, 0, 0, 0))
	if at != timebase.Date(2016, 12, 31, 12, 0, 0, 0) {
		t.Errorf("smear NextChange = %s", at)
	}
}

// Second by second across the 2016-12-31 insertion, as the kernel does it.
func TestServedAcrossInsertion(t *testing.T) {
	s := Schedule{Event: insert2016, Has: true}
	base := timebase.Date(2016, 12, 31, 23, 59, 58, 0)
	want := []struct {
		posix  timebase.Instant
		repeat bool
	}{
		{timebase.Date(2016, 12, 31, 23, 59, 58, 0), false},
		{timebase.Date(2016, 12, 31, 23, 59, 59, 0), false},
		{timebase.Date(2016, 12, 31, 23, 59, 59, 0), true}, // 23:59:60 reads 23:59:59 again
		{timebase.Date(2017, 1, 1, 0, 0, 0, 0), false},
		{timebase.Date(2017, 1, 1, 0, 0, 1, 0), false},
	}
	for i, w := range want {
		for _, frac := range []timebase.Instant{0, 500 * timebase.Instant(time.Millisecond)} {
			u := base + timebase.Instant(i)*timebase.Second + frac
			p, rep := POSIXFromUniform(insert2016, u)
			if p != w.posix+frac || rep != w.repeat {
				t.Errorf("uniform %s: posix %s repeat %v, want %s %v", u, p, rep, w.posix+frac, w.repeat)
			}
			if back := UniformFromPOSIX(insert2016, p, rep); back != u {
				t.Errorf("UniformFromPOSIX(%s, %v) = %s, want %s", p, rep, back, u)
			}
			if got := s.Served(u); got != p {
				t.Errorf("Served(%s) = %s, want %s", u, got, p)
			}
			if s.SmearOffset(p, rep) != 0 {
				t.Errorf("step mode has a smear offset")
			}
		}
	}
}

func TestServedAcrossDeletion(t *testing.T) {
	base := timebase.Date(2027, 9, 30, 23, 59, 57, 0)
	want := []timebase.Instant{
		timebase.Date(2027, 9, 30, 23, 59, 57, 0),
		timebase.Date(2027, 9, 30, 23, 59, 58, 0),
		timebase.Date(2027, 10, 1, 0, 0, 0, 0), // 23:59:59 is skipped
		timebase.Date(2027, 10, 1, 0, 0, 1, 0),
	}
	for i, w := range want {
		u := base + timebase.Instant(i)*timebase.Second
		p, rep := POSIXFromUniform(delete2027, u)
		if p != w || rep {
			t.Errorf("uniform %s: posix %s %v, want %s", u, p, rep, w)
		}
		if back := UniformFromPOSIX(delete2027, p, false); back != u {
			t.Errorf("UniformFromPOSIX(%s) = %s, want %s", p, back, u)
		}
	}
}

func TestSmear(t *testing.T) {
	for _, ev := range []Event{insert2016, delete2027} {
		s := Schedule{Event: ev, Has: true, Mode: ModeSmear}
		start := ev.At - 12*timebase.Instant(time.Hour)
		prev := s.Served(start - timebase.Second)
		if prev != start-timebase.Second {
			t.Errorf("%v: smear starts early", ev)
		}
		first := start - 10*timebase.Second
		prev = s.Served(first - 997*timebase.Instant(time.Millisecond))
		maxDev := time.Duration(0)
		for u := first; u < start+timebase.Instant(86402)*timebase.Second; u += 997 * timebase.Instant(time.Millisecond) {
			got := s.Served(u)
			if got <= prev {
				t.Fatalf("%v: served time not increasing at %s: %s after %s", ev, u, got, prev)
			}
			step := got.Sub(prev)
			if step > 998*time.Millisecond || step < 996*time.Millisecond {
				t.Fatalf("%v: served step %v at %s", ev, step, u)
			}
			p, rep := POSIXFromUniform(ev, u)
			if dev := got.Sub(p); dev.Abs() > maxDev {
				maxDev = dev.Abs()
			}
			if off := s.SmearOffset(p, rep); off != got.Sub(p) {
				t.Fatalf("%v: SmearOffset(%s,%v) = %v, want %v", ev, p, rep, off, got.Sub(p))
			}
			prev = got
		}
		if maxDev < 499*time.Millisecond || maxDev > 501*time.Millisecond {
			t.Errorf("%v: largest smear deviation %v, want 0.5 s", ev, maxDev)
		}
		end := start + timebase.Instant(86400+ev.Change)*timebase.Second
		if p, _ := POSIXFromUniform(ev, end); s.Served(end) != p {
			t.Errorf("%v: smear does not end on POSIX time", ev)
		}
	}
}
