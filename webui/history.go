package webui

import (
	"math"
	"sync"

	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Series names one time series the history keeps.
type Series int

// The series, in the order /api/history lists them by default.
const (
	SeriesPPSOffset   Series = iota // last paired PPS offset, s (absent in a second without a paired pulse)
	SeriesJitter                    // servo jitter, s (absent while unsynchronized)
	SeriesFrequency                 // frequency correction, ppm
	SeriesEstError                  // the servo's estimated error of the clock, s (absent while unsynchronized)
	SeriesRequests                  // NTP requests per second
	SeriesServed                    // NTP replies with time per second
	SeriesRateLimited               // NTP requests over a client's rate limit per second
	NumSeries
)

var seriesInfo = [NumSeries]struct{ name, unit string }{
	SeriesPPSOffset:   {"pps_offset", "s"},
	SeriesJitter:      {"jitter", "s"},
	SeriesFrequency:   {"frequency", "ppm"},
	SeriesEstError:    {"est_error", "s"},
	SeriesRequests:    {"ntp_requests", "1/s"},
	SeriesServed:      {"ntp_served", "1/s"},
	SeriesRateLimited: {"ntp_rate_limited", "1/s"},
}

func (s Series) String() string {
	if s >= 0 && s < NumSeries {
		return seriesInfo[s].name
	}
	return "invalid"
}

// Unit is the series' unit: "s", "ppm" or "1/s".
func (s Series) Unit() string {
	if s >= 0 && s < NumSeries {
		return seriesInfo[s].unit
	}
	return ""
}

// ParseSeries returns the series of a name.
func ParseSeries(name string) (Series, bool) {
	for i, in := range seriesInfo {
		if in.name == name {
			return Series(i), true
		}
	}
	return 0, false
}

// Range is a history window with its resolution.
type Range int

const (
	RangeHour Range = iota // the last hour at 1 s resolution
	RangeDay               // the last day at 1 min resolution (min, mean, max of each minute)
)

// Ring sizes: one slot per step of the window.
const (
	hourSlots = 3600
	daySlots  = 1440
)

func (r Range) String() string {
	if r == RangeDay {
		return "1d"
	}
	return "1h"
}

// Step is the resolution in seconds.
func (r Range) Step() int64 {
	if r == RangeDay {
		return 60
	}
	return 1
}

// Span is the window length in seconds.
func (r Range) Span() int64 {
	if r == RangeDay {
		return daySlots * 60
	}
	return hourSlots
}

type secondSlot struct {
	t int64 // unix second; 0: never written
	v [NumSeries]float64
}

type minuteSlot struct {
	t             int64 // unix second of the minute's start; 0: never written
	n             [NumSeries]int32
	min, max, sum [NumSeries]float64
}

// History keeps the series in two fixed rings: 3600 seconds and 1440 minutes. Its memory is fixed at
// creation (about half a megabyte), whatever the uptime. Slots are addressed by time modulo the ring size
// and carry their time, so a second the sampler missed is simply absent, never a stale value.
//
// Sample is called by one goroutine; Window by any number (the lock is held for a copy, never for I/O).
type History struct {
	mu      sync.RWMutex
	sec     [hourSlots]secondSlot
	min     [daySlots]minuteSlot
	last    int64 // newest second sampled; 0: none
	sampler sampler
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{} }

// sampler turns successive status documents into one point per second: gauges as they are, counters as
// rates over the time since the previous document.
type sampler struct {
	prevT                       int64
	prevReq, prevServed, prevRL uint64
	prevPaired                  uint64
	havePrev                    bool
}

// point computes the sample of st taken at unix second t.
func (s *sampler) point(t int64, st *status.Status) [NumSeries]float64 {
	var v [NumSeries]float64
	for i := range v {
		v[i] = math.NaN()
	}
	v[SeriesFrequency] = st.Sync.FrequencyPPM
	if st.Sync.State != "unsynced" && st.Sync.State != "" {
		v[SeriesJitter] = st.Sync.JitterS
		v[SeriesEstError] = st.Sync.EstErrorS
	}
	if s.havePrev && t > s.prevT {
		dt := float64(t - s.prevT)
		rate := func(now, prev uint64) float64 {
			if now < prev { // counters went back: a restarted source; no honest rate for this interval
				return math.NaN()
			}
			return float64(now-prev) / dt
		}
		v[SeriesRequests] = rate(st.NTP.Requests, s.prevReq)
		v[SeriesServed] = rate(st.NTP.Served, s.prevServed)
		v[SeriesRateLimited] = rate(st.NTP.RateLimited, s.prevRL)
		if st.PPS.Paired > s.prevPaired {
			v[SeriesPPSOffset] = st.PPS.OffsetS
		}
	}
	for i := range v {
		if math.IsInf(v[i], 0) {
			v[i] = math.NaN()
		}
	}
	s.prevT, s.havePrev = t, true
	s.prevReq, s.prevServed, s.prevRL = st.NTP.Requests, st.NTP.Served, st.NTP.RateLimited
	s.prevPaired = st.PPS.Paired
	return v
}

// Sample records the status document observed at now. A second already sampled is not sampled again; a
// clock that went back by a minute or more (a step of the system clock at first sync, on a board without a
// real-time clock) clears the history, since its times no longer mean what they did.
func (h *History) Sample(now timebase.Instant, st status.Status) {
	t := floorDiv(int64(now), 1e9)
	if t <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t <= h.last && h.last-t < 60 {
		// The same second again, or a small step back (the servo stepping the clock before lock): the
		// seconds in between were already sampled.
		return
	}
	if t < h.last {
		h.sec = [hourSlots]secondSlot{}
		h.min = [daySlots]minuteSlot{}
		h.sampler = sampler{}
	}
	h.last = t
	v := h.sampler.point(t, &st)
	h.sec[t%hourSlots] = secondSlot{t: t, v: v}
	mt := t - t%60
	m := &h.min[(mt/60)%daySlots]
	if m.t != mt {
		*m = minuteSlot{t: mt}
	}
	for i, x := range v {
		if math.IsNaN(x) {
			continue
		}
		if m.n[i] == 0 || x < m.min[i] {
			m.min[i] = x
		}
		if m.n[i] == 0 || x > m.max[i] {
			m.max[i] = x
		}
		m.n[i]++
		m.sum[i] += x
	}
}

// Window is a copy of part of the history. T holds the times (unix seconds; for RangeDay the start of
// each minute) of the steps that have at least been sampled, oldest first; each requested series has one
// value per T in Mean (and Min, Max), NaN where the series had no value.
type Window struct {
	Range  Range
	Start  int64 // first second of the window (newest - span + step)
	End    int64 // newest second sampled (for RangeDay, the start of its minute); 0 when empty
	T      []int64
	Series []Series
	Min    [][]float64 // RangeDay only
	Mean   [][]float64
	Max    [][]float64 // RangeDay only
}

// Window copies the steps of range r newer than since (unix seconds; 0 for all) for the given series.
func (h *History) Window(r Range, series []Series, since int64) Window {
	w := Window{Range: r, Series: series}
	w.Mean = make([][]float64, len(series))
	if r == RangeDay {
		w.Min = make([][]float64, len(series))
		w.Max = make([][]float64, len(series))
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.last == 0 {
		return w
	}
	step := r.Step()
	end := h.last - h.last%step
	w.End = end
	w.Start = end - r.Span() + step
	from := w.Start
	if since >= from {
		from = since + 1
		if rem := floorMod(from, step); rem != 0 {
			from += step - rem
		}
	}
	for t := from; t <= end; t += step {
		switch r {
		case RangeHour:
			sl := &h.sec[t%hourSlots]
			if sl.t != t {
				continue
			}
			w.T = append(w.T, t)
			for i, s := range series {
				w.Mean[i] = append(w.Mean[i], sl.v[s])
			}
		case RangeDay:
			sl := &h.min[(t/60)%daySlots]
			if sl.t != t {
				continue
			}
			w.T = append(w.T, t)
			for i, s := range series {
				mn, mean, mx := math.NaN(), math.NaN(), math.NaN()
				if n := sl.n[s]; n > 0 {
					mn, mean, mx = sl.min[s], sl.sum[s]/float64(n), sl.max[s]
				}
				w.Min[i] = append(w.Min[i], mn)
				w.Mean[i] = append(w.Mean[i], mean)
				w.Max[i] = append(w.Max[i], mx)
			}
		}
	}
	return w
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
