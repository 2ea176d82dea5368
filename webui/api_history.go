package webui

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// maxQuery bounds the query string /api/history accepts; a valid one is far shorter.
const maxQuery = 512

// historyQuery is a validated /api/history request.
type historyQuery struct {
	r      Range
	series []Series
	since  int64
}

// parseHistoryQuery validates raw (the URL's raw query). Every parameter may appear once; unknown
// parameters, unknown or repeated series and malformed numbers are errors, so a typo is never silently
// answered with something else.
func parseHistoryQuery(raw string) (historyQuery, error) {
	q := historyQuery{r: RangeHour}
	if len(raw) > maxQuery {
		return q, fmt.Errorf("query string is %d bytes, at most %d allowed", len(raw), maxQuery)
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, fmt.Errorf("malformed query string: %w", err)
	}
	for k, v := range vals {
		if len(v) != 1 {
			return q, fmt.Errorf("parameter %q given %d times, at most once allowed", k, len(v))
		}
		switch k {
		case "range":
			switch v[0] {
			case "1h":
				q.r = RangeHour
			case "1d":
				q.r = RangeDay
			default:
				return q, fmt.Errorf("range %q: want 1h or 1d", v[0])
			}
		case "series":
			var seen [NumSeries]bool
			for _, name := range strings.Split(v[0], ",") {
				s, ok := ParseSeries(name)
				if !ok {
					return q, fmt.Errorf("series %q: want a comma-separated list of %s", name, strings.Join(seriesNames(), ", "))
				}
				if seen[s] {
					return q, fmt.Errorf("series %q listed twice", name)
				}
				seen[s] = true
				q.series = append(q.series, s)
			}
		case "since":
			n, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil || n < 0 {
				return q, fmt.Errorf("since %q: want a Unix time in whole seconds, >= 0", v[0])
			}
			q.since = n
		default:
			return q, fmt.Errorf("unknown parameter %q: want range, series, since", k)
		}
	}
	if q.series == nil {
		for s := Series(0); s < NumSeries; s++ {
			q.series = append(q.series, s)
		}
	}
	return q, nil
}

func seriesNames() []string {
	n := make([]string, NumSeries)
	for i := range n {
		n[i] = Series(i).String()
	}
	return n
}

// appendHistoryJSON encodes a window by hand: encoding/json refuses NaN, and a gap must be null. The
// output is bounded by the ring sizes: at most 7 series x 3600 values.
//
//	{"range":"1h","step_s":1,"start":S,"end":E,"t":[...],
//	 "series":[{"name":"pps_offset","unit":"s","mean":[...]}, ...]}
//
// RangeDay adds "min" and "max" arrays beside "mean".
func appendHistoryJSON(b []byte, w Window) []byte {
	b = append(b, `{"range":"`...)
	b = append(b, w.Range.String()...)
	b = append(b, `","step_s":`...)
	b = strconv.AppendInt(b, w.Range.Step(), 10)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, w.Start, 10)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, w.End, 10)
	b = append(b, `,"t":[`...)
	for i, t := range w.T {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	b = append(b, `],"series":[`...)
	for i, s := range w.Series {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, s.String()...)
		b = append(b, `","unit":"`...)
		b = append(b, s.Unit()...)
		b = append(b, '"')
		if w.Range == RangeDay {
			b = appendFloats(append(b, `,"min":`...), w.Min[i])
		}
		b = appendFloats(append(b, `,"mean":`...), w.Mean[i])
		if w.Range == RangeDay {
			b = appendFloats(append(b, `,"max":`...), w.Max[i])
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

func appendFloats(b []byte, v []float64) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'g', 7, 64)
	}
	return append(b, ']')
}
