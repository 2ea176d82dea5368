package servocmp

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestScore(t *testing.T) {
	start := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	sec := func(s int) timebase.Instant { return start.Add(time.Duration(s) * time.Second) }
	firstFix := sec(30)
	end := sec(400)
	var pts []Point
	// Samples from second 31: 2 µs off until 60, 1.5 µs at 100 (the last bad second), then within 1 µs:
	// 200 ns, with 600 ns every tenth second and 900 ns at 380.
	for s := 31; s <= 400; s++ {
		e := 200.0
		switch {
		case s < 60:
			e = 2000
		case s == 100:
			e = -1500
		case s == 380:
			e = -900
		case s%10 == 0:
			e = 600
		}
		pts = append(pts, Point{Second: sec(s), ErrNs: e})
	}
	got := Score("chrony", pts, firstFix, end, end)
	// Window: seconds 150..400 = 251 points; 25 of them (150..400 step 10, 380 excepted) at 600 ns,
	// 380 at 900 ns, 225 at 200 ns.
	if got.WindowS != 251 {
		t.Fatalf("window %d, want 251", got.WindowS)
	}
	if got.LockS == nil || *got.LockS != 71 {
		t.Fatalf("lock %v, want 71 s (second 101 − first fix 30)", got.LockS)
	}
	// rms = sqrt((25·600² + 900² + 225·200²)/251) = sqrt(18 810 000/251) = 273.75.
	if got.RMSNs != 273.8 {
		t.Errorf("rms %v, want 273.8", got.RMSNs)
	}
	if got.MaxAbsNs != 900 {
		t.Errorf("max %v, want 900", got.MaxAbsNs)
	}
	// p99 of 251 sorted values: position 0.99·250 = 247.5, between order statistics 247 and 248, both 600.
	if got.P99AbsNs != 600 {
		t.Errorf("p99 %v, want 600", got.P99AbsNs)
	}

	// A lock that starts less than 60 s before the end is not reported.
	late := append([]Point(nil), pts...)
	late[len(late)-50].ErrNs = 5000 // second 351
	if got := Score("chrony", late, firstFix, end, end); got.LockS != nil {
		t.Errorf("lock %v with a bad second 49 s before the end, want none", *got.LockS)
	}
	// No samples: nothing to report.
	if got := Score("chrony", nil, firstFix, end, end); got.LockS != nil || got.WindowS != 0 {
		t.Errorf("empty: %+v", got)
	}
}
