package servocmp

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Fed is one sample given to chrony, with the ground truth needed to score it.
type Fed struct {
	Second timebase.Instant // the simulated UTC second the pulse marks
	TV     timebase.Instant // the raw time sent (host clock, whole µs)
	// Offset is the reference time minus the raw time meant, seconds: Second − Board = −(e + n) for a
	// pulse (a pairing may make it a whole number of seconds more: a label slip, a misaligned pulse).
	Offset float64
	// BoardErr is the free-running board clock's true error e at Second, seconds.
	BoardErr float64
	// Spurious marks a glitch edge: matched in the log, never scored (it marks no second).
	Spurious bool
}

// Point is chrony's true error at a simulated second.
type Point struct {
	Second timebase.Instant
	ErrNs  float64
}

// RecoverStats counts how the log lines matched the samples sent.
type RecoverStats struct {
	Fed       int // samples sent
	Logged    int // unfiltered lines for the refclock in the log
	Matched   int // lines matched to a sample sent
	Unmatched int // lines that matched no sample (should be 0)
	// Spurious counts matched lines that were glitch edges chrony accepted as pulses.
	Spurious int
	// Misaligned counts matched pulses chrony took for a different second than the one they mark (a label
	// slip that got through its pairing).
	Misaligned int
}

// ErrRecover is wrapped when the log cannot be reconciled with what was sent.
var ErrRecover = errors.New("recover chrony's error")

// Recover computes chrony's true clock error at each sample it logged.
//
// The mapping. chrony's raw clock stands for the free-running board clock: a raw time is the host-clock
// image H(b) = t0 + (b − start) of a board reading b (t0 and start whole seconds), so whole seconds and
// fractions are preserved. The board reads b = t + e(t) at truth t. A pulse that marks second S is captured
// at board time S + e + n (n the capture noise, calibrated bias removed), and the sample sent says: at raw
// time tv = H(S + e + n) the reference read H(S), i.e. offset o = S − (S + e + n) = −(e + n). (tv is
// rounded to chrony's microsecond; o is exact, so the rounding only moves the sample's time tag.)
//
// chrony's clock reads cooked = raw + c(raw), c its correction (with -x, the null driver's virtual one).
// chrony logs the sample's cooked offset ref − cooked = o − c(tv), from which c(tv) = o − cooked_offset.
// The clock chrony would serve from the board is b + c(b); at truth S its error is
//
//	E = e(S) + c(tv) = o − cooked_offset + e   (= −n − cooked_offset)
//
// (c is taken at the capture, n after S: at 20 ppm that is 1e-10 s.) So E is the cooked offset chrony
// logged, less the part of it that was capture noise. Where chrony took a sample for another second than
// the one meant (a label slip; a pulse aligned to a slipped NMEA label), its raw offset is o + k for a
// whole k, read off the log, and c(tv) = o + k − cooked_offset.
//
// Matching a line to a sample: the line's time is the cooked time of tv, truncated to the microsecond,
// and its raw offset is o (+ k); so tv = time − c(tv) = time − (raw − cooked_offset) to within the log's
// rounding (1 µs of truncation plus seven significant digits of the offsets). A line matches the sample
// whose tv is nearest that estimate, if within the rounding and if the logged raw offset is o (+ k) to
// seven digits.
func Recover(fed []Fed, recs []RefclockRecord, refid string) ([]Point, RecoverStats, error) {
	st := RecoverStats{Fed: len(fed)}
	if !sort.SliceIsSorted(fed, func(i, j int) bool { return fed[i].TV < fed[j].TV }) {
		return nil, st, fmt.Errorf("%w: samples sent are not in time order", ErrRecover)
	}
	used := make([]bool, len(fed))
	var out []Point
	for _, r := range recs {
		if r.Filtered || r.RefID != refid {
			continue
		}
		st.Logged++
		i, ok := match(fed, r)
		if !ok {
			st.Unmatched++
			continue
		}
		if used[i] {
			return nil, st, fmt.Errorf("%w: two log lines match the sample sent at %v", ErrRecover, fed[i].TV)
		}
		used[i] = true
		st.Matched++
		f := fed[i]
		if f.Spurious {
			st.Spurious++
			continue
		}
		k := math.Round(r.RawOffset - f.Offset)
		if k != 0 {
			st.Misaligned++
		}
		e := f.Offset + k + f.BoardErr - r.CookedOffset
		out = append(out, Point{Second: f.Second, ErrNs: e * 1e9})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Second < out[j].Second })
	return out, st, nil
}

// match returns the index of the sample a log line records.
func match(fed []Fed, r RefclockRecord) (int, bool) {
	corr := r.RawOffset - r.CookedOffset
	// Instants near 2026 are ~1.8e18 ns, where a float64 resolves only 256 ns: subtract in integers.
	tv := r.Time - timebase.Instant(math.Round(corr*1e9))
	// Tolerance: 1 µs of truncation of the logged time, and the print rounding of both offsets.
	tol := timebase.Instant(1e3 + 1e9*5e-7*(math.Abs(r.RawOffset)+math.Abs(r.CookedOffset)) + 2)
	j := sort.Search(len(fed), func(k int) bool { return fed[k].TV >= tv })
	best, bestD := -1, timebase.Instant(math.MaxInt64)
	for _, k := range []int{j - 1, j} {
		if k < 0 || k >= len(fed) {
			continue
		}
		d := fed[k].TV - tv
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best < 0 || bestD > tol {
		return 0, false
	}
	// The raw offset is printed with seven significant digits, after chrony has carried the reference time
	// in a timespec (so it may have lost up to a nanosecond to truncation); it may differ by whole seconds
	// from the offset meant, when chrony's pairing took the pulse for another second.
	d := r.RawOffset - fed[best].Offset
	if math.Abs(d-math.Round(d)) > 5e-7*math.Abs(r.RawOffset)+2e-9 {
		return 0, false
	}
	return best, true
}
