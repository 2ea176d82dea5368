package servocmp

import (
	"math"
	"sort"
	"time"

	"github.com/gpsntp/gpsntp/internal/scenario"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Settle is where the scored window starts after the first fix: scenario's steady-state window (first fix
// + 120 s to the end), so both sides are scored over the same seconds `gpsntpctl simulate` scores.
const Settle = 120 * time.Second

// minSustain is scenario's: a lock that holds for less than this before the end is not reported.
const minSustain = 60 * time.Second

// Side is one discipline's figures over the scored window.
type Side struct {
	Name     string   `json:"name"`
	LockS    *float64 `json:"lock_s"` // null: never locked (|error| < 1 µs) for 60 s before the end
	RMSNs    float64  `json:"rms_ns"`
	P99AbsNs float64  `json:"p99_abs_ns"`
	MaxAbsNs float64  `json:"max_abs_ns"`
	WindowS  int      `json:"window_s"` // seconds scored
}

// Score scores chrony's points with scenario's definitions (internal/scenario, Result.finish):
//
//   - window: the points at or after firstFix + Settle, up to end;
//   - lock_s: from firstFix to the second after the last point before refEnd with |error| ≥ 1 µs, reported
//     if the lock then held for 60 s before refEnd; seconds before chrony's first sample count as unlocked
//     (chrony has had nothing to correct its clock by);
//   - rms, p99 (linear interpolation between order statistics), max of |error| over the window.
//
// chrony's error is known only at the seconds it logged a sample, so seconds with no pulse (a missed
// capture) are not scored for chrony; in cold-start there are none.
func Score(name string, pts []Point, firstFix, refEnd, end timebase.Instant) Side {
	s := Side{Name: name}
	if len(pts) == 0 || firstFix == 0 {
		return s
	}
	lastBad := pts[0].Second.Add(-time.Second)
	var window []float64
	for _, p := range pts {
		abs := math.Abs(p.ErrNs)
		if p.Second < refEnd && (p.Second < firstFix || abs >= float64(scenario.LockThreshold)) {
			lastBad = max(lastBad, p.Second)
		}
		if p.Second >= firstFix.Add(Settle) && p.Second <= end {
			window = append(window, abs)
		}
	}
	lock := lastBad.Add(time.Second)
	if lock.Add(minSustain) <= refEnd {
		l := math.Max(lock.Sub(firstFix).Seconds(), 0)
		s.LockS = &l
	}
	s.WindowS = len(window)
	if len(window) > 0 {
		var ss float64
		for _, x := range window {
			ss += x * x
		}
		s.RMSNs = round1(math.Sqrt(ss / float64(len(window))))
		sort.Float64s(window)
		s.P99AbsNs = round1(scenario.Quantile(window, 0.99))
		s.MaxAbsNs = round1(window[len(window)-1])
	}
	return s
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
