package webui

import (
	"math"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// t0 is a fixed start: 2026-11-22 00:00:00 UTC, on a minute boundary.
const t0 = int64(1795305600)

func at(sec int64) timebase.Instant { return timebase.Instant(sec * 1e9) }

// doc is a status document at second i of a steady run: locked, one paired pulse and 10 requests a second.
func doc(i int64) status.Status {
	return status.Status{
		Sync: status.Sync{State: "locked", Stratum: 1, FrequencyPPM: 10 + float64(i%60)/100, JitterS: 50e-9, EstErrorS: 80e-9},
		NTP:  status.NTP{Requests: uint64(10 * i), Served: uint64(9 * i), RateLimited: uint64(i)},
		PPS:  status.PPS{Paired: uint64(i), OffsetS: float64(i%7) * 1e-9},
	}
}

func TestHistoryHourWindow(t *testing.T) {
	h := NewHistory()
	for i := int64(0); i < 100; i++ {
		h.Sample(at(t0+i)+123456789, doc(i)) // a fraction of the second does not matter
	}
	w := h.Window(RangeHour, []Series{SeriesPPSOffset, SeriesRequests, SeriesFrequency, SeriesEstError}, 0)
	if len(w.T) != 100 || w.T[0] != t0 || w.T[99] != t0+99 {
		t.Fatalf("T: len %d first %d last %d", len(w.T), w.T[0], w.T[len(w.T)-1])
	}
	if w.End != t0+99 || w.Start != t0+99-3599 {
		t.Errorf("Start, End = %d, %d", w.Start, w.End)
	}
	// The first point has no previous document: no rate and no evidence of a fresh pulse.
	if !math.IsNaN(w.Mean[0][0]) || !math.IsNaN(w.Mean[1][0]) {
		t.Errorf("first point: offset %v, requests %v, want gaps", w.Mean[0][0], w.Mean[1][0])
	}
	if got := w.Mean[1][50]; got != 10 {
		t.Errorf("requests/s = %v, want 10", got)
	}
	if got := w.Mean[0][50]; got != 1e-9 { // 50 % 7 = 1
		t.Errorf("pps offset = %v, want 1e-9", got)
	}
	if got := w.Mean[2][50]; got != 10.5 {
		t.Errorf("frequency = %v, want 10.5", got)
	}
	if got := w.Mean[3][50]; got != 80e-9 {
		t.Errorf("est error = %v", got)
	}

	// since returns only newer points.
	w = h.Window(RangeHour, []Series{SeriesRequests}, t0+95)
	if len(w.T) != 4 || w.T[0] != t0+96 {
		t.Errorf("since: T = %v", w.T)
	}
	w = h.Window(RangeHour, []Series{SeriesRequests}, t0+1000)
	if len(w.T) != 0 {
		t.Errorf("since in the future: %d points", len(w.T))
	}
}

func TestHistoryGapsAndStaleSlots(t *testing.T) {
	h := NewHistory()
	h.Sample(at(t0), doc(0))
	h.Sample(at(t0+1), doc(1))
	// No pulse paired in this second: the offset is a gap, not the previous value.
	d := doc(2)
	d.PPS.Paired = 1
	h.Sample(at(t0+2), d)
	// The sampler stalls for 10 s; those seconds are absent.
	h.Sample(at(t0+13), doc(13))
	w := h.Window(RangeHour, []Series{SeriesPPSOffset, SeriesRequests}, 0)
	if want := []int64{t0, t0 + 1, t0 + 2, t0 + 13}; !equalInts(w.T, want) {
		t.Fatalf("T = %v, want %v", w.T, want)
	}
	if !math.IsNaN(w.Mean[0][2]) {
		t.Errorf("offset without a fresh pulse = %v, want a gap", w.Mean[0][2])
	}
	// The rate over the stall is the average over the 11 s it spans.
	if got, want := w.Mean[1][3], float64(10*13-10*2)/11; math.Abs(got-want) > 1e-9 {
		t.Errorf("rate after stall = %v, want %v", got, want)
	}
	// An hour later the old seconds' slots are reused; the window never shows a stale slot.
	h.Sample(at(t0+3600+3), doc(3603)) // reuses the slots of t0+3 (empty) and leaves t0..t0+2 out of range
	w = h.Window(RangeHour, []Series{SeriesRequests}, 0)
	if len(w.T) != 2 || w.T[0] != t0+13 || w.T[1] != t0+3603 {
		t.Errorf("after an hour T = %v", w.T)
	}
}

func TestHistorySameSecondAndClockStepBack(t *testing.T) {
	h := NewHistory()
	h.Sample(at(t0), doc(0))
	h.Sample(at(t0+1), doc(1))
	h.Sample(at(t0+1)+5e8, doc(500)) // same second again: ignored
	w := h.Window(RangeDay, []Series{SeriesFrequency}, 0)
	if len(w.T) != 1 || math.Abs(w.Mean[0][0]-(10+10.01)/2) > 1e-12 {
		t.Fatalf("minute after a repeated second: T %v mean %v", w.T, w.Mean)
	}
	// A small step back is ignored: those seconds were sampled already.
	h.Sample(at(t0-30), doc(2))
	if w := h.Window(RangeHour, nil, 0); w.End != t0+1 {
		t.Errorf("End = %d after a small step back", w.End)
	}
	// The clock goes back a long way (first sync stepped it): everything sampled before is dropped.
	h.Sample(at(t0-86400), doc(2))
	w = h.Window(RangeHour, []Series{SeriesFrequency}, 0)
	if len(w.T) != 1 || w.T[0] != t0-86400 {
		t.Errorf("after a step back T = %v", w.T)
	}
	// Instants before 1970 are not sampled.
	h.Sample(-5e9, doc(3))
	if w := h.Window(RangeHour, nil, 0); w.End != t0-86400 {
		t.Errorf("End = %d after a negative instant", w.End)
	}
}

func TestHistoryDayAggregates(t *testing.T) {
	h := NewHistory()
	// 3 minutes; in the second minute the offset goes from -5 ns to +5 ns.
	for i := int64(0); i < 180; i++ {
		d := doc(i)
		d.PPS.OffsetS = float64(i%11-5) * 1e-9
		h.Sample(at(t0+i), d)
	}
	w := h.Window(RangeDay, []Series{SeriesPPSOffset, SeriesRateLimited}, 0)
	if want := []int64{t0, t0 + 60, t0 + 120}; !equalInts(w.T, want) {
		t.Fatalf("T = %v, want %v", w.T, want)
	}
	if w.Min[0][1] != -5e-9 || w.Max[0][1] != 5e-9 {
		t.Errorf("minute 1 offset min/max = %v/%v", w.Min[0][1], w.Max[0][1])
	}
	if w.Mean[1][1] != 1 || w.Min[1][1] != 1 || w.Max[1][1] != 1 {
		t.Errorf("rate-limited/s = %v %v %v, want 1", w.Min[1][1], w.Mean[1][1], w.Max[1][1])
	}
	if w.Start != t0+120-86400+60 || w.End != t0+120 {
		t.Errorf("Start, End = %d, %d", w.Start, w.End)
	}
	// since rounds up to the next minute.
	w = h.Window(RangeDay, []Series{SeriesPPSOffset}, t0+30)
	if !equalInts(w.T, []int64{t0 + 60, t0 + 120}) {
		t.Errorf("since: T = %v", w.T)
	}
}

func TestHistoryCounterReset(t *testing.T) {
	h := NewHistory()
	h.Sample(at(t0), doc(100))
	h.Sample(at(t0+1), doc(5)) // counters went back
	w := h.Window(RangeHour, []Series{SeriesRequests}, 0)
	if !math.IsNaN(w.Mean[0][1]) {
		t.Errorf("rate across a counter reset = %v, want a gap", w.Mean[0][1])
	}
}

func TestSeriesNames(t *testing.T) {
	for s := Series(0); s < NumSeries; s++ {
		got, ok := ParseSeries(s.String())
		if !ok || got != s || s.Unit() == "" || strings.ContainsAny(s.String(), " ,") {
			t.Errorf("series %d: %q %q", s, s.String(), s.Unit())
		}
	}
	if _, ok := ParseSeries("invalid"); ok {
		t.Error("ParseSeries(invalid) succeeded")
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkHistorySample(b *testing.B) {
	h := NewHistory()
	for i := 0; i < b.N; i++ {
		h.Sample(at(t0+int64(i)), doc(int64(i)))
	}
}

func BenchmarkHistoryWindowHour(b *testing.B) {
	h := NewHistory()
	for i := int64(0); i < 3600; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	all := make([]Series, NumSeries)
	for i := range all {
		all[i] = Series(i)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = appendHistoryJSON(nil, h.Window(RangeHour, all, 0))
	}
}
