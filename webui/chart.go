package webui

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

// The charts are SVG drawn here, on the server, from the history rings: see the package doc for why.
// Colours and sizes are presentation attributes, not style attributes, so a Content-Security-Policy
// without 'unsafe-inline' styles allows them; text inherits the page's font.

// chartLine is one series drawn in a chart; band draws the min..max envelope of each bucket under its mean.
type chartLine struct {
	s     Series
	label string
	color string
	band  bool
}

type chartSpec struct {
	id, title string
	lines     []chartLine
}

// charts are the time-series plots of the page, in order.
var charts = []chartSpec{
	{"offset", "PPS offset and jitter", []chartLine{{SeriesPPSOffset, "offset", "#2563eb", true}, {SeriesJitter, "jitter", "#d97706", false}}},
	{"frequency", "Frequency correction", []chartLine{{SeriesFrequency, "frequency", "#7c3aed", true}}},
	{"error", "Estimated error", []chartLine{{SeriesEstError, "est. error", "#059669", true}}},
	{"ntp", "NTP requests per second", []chartLine{{SeriesRequests, "requests", "#2563eb", true}, {SeriesRateLimited, "rate-limited", "#dc2626", false}}},
}

func (c chartSpec) series() []Series {
	s := make([]Series, len(c.lines))
	for i, l := range c.lines {
		s[i] = l.s
	}
	return s
}

// Geometry of a time-series chart, in viewBox units.
// The fonts are large for a 640-unit-wide picture because a phone shows it about 350 pixels wide.
const (
	chartW, chartH = 640, 236
	plotX0, plotX1 = 64, 630
	plotY0, plotY1 = 30, 204
	chartBuckets   = 283 // two viewBox units per bucket: finer than a phone shows, and a small document
	tickFont       = 15
)

// bucket is the min, mean and max of a series over one bucket of time.
type bucket struct {
	ok             bool
	min, mean, max float64
}

// bucketize spreads a window over n buckets of equal time. Values are averaged by sample count: for a day
// window each minute's mean counts once, its min and max bound the envelope.
func bucketize(w Window, idx, n int, start, spanS int64) []bucket {
	b := make([]bucket, n)
	sum := make([]float64, n)
	cnt := make([]int, n)
	span := float64(spanS)
	for j, t := range w.T {
		k := int(float64(t-start) / span * float64(n))
		if k < 0 || k >= n {
			continue
		}
		mean := w.Mean[idx][j]
		if math.IsNaN(mean) {
			continue
		}
		lo, hi := mean, mean
		if w.Range == RangeDay {
			lo, hi = w.Min[idx][j], w.Max[idx][j]
		}
		bk := &b[k]
		if !bk.ok || lo < bk.min {
			bk.min = lo
		}
		if !bk.ok || hi > bk.max {
			bk.max = hi
		}
		bk.ok = true
		sum[k] += mean
		cnt[k]++
	}
	for k := range b {
		if cnt[k] > 0 {
			b[k].mean = sum[k] / float64(cnt[k])
		}
	}
	return b
}

// scale picks a display unit for values in unit with magnitude up to m: seconds become ns, µs or ms.
func scale(unit string, m float64) (factor float64, label string) {
	switch unit {
	case "s":
		switch {
		case m < 1e-6:
			return 1e9, "ns"
		case m < 1e-3:
			return 1e6, "µs"
		case m < 1:
			return 1e3, "ms"
		}
		return 1, "s"
	case "1/s":
		return 1, "req/s"
	}
	return 1, unit
}

// niceTicks returns about n round tick values covering lo..hi, and the padded range they span.
func niceTicks(lo, hi float64, n int) (ticks []float64, tlo, thi float64) {
	if hi-lo < 1e-12*math.Max(1, math.Abs(hi)) {
		pad := math.Max(math.Abs(hi)*0.1, 1e-9)
		if hi == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	tlo = math.Floor(lo/step) * step
	thi = math.Ceil(hi/step) * step
	for v := tlo; v <= thi+step/2; v += step {
		ticks = append(ticks, v)
		if len(ticks) > 2*n+2 { // cannot happen with the arithmetic above; bounds the loop regardless
			break
		}
	}
	return ticks, tlo, thi
}

func fmtTick(v, step float64) string {
	if math.Abs(v) < step/1e6 {
		v = 0
	}
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// renderChart draws spec from a window holding spec's series in order.
func renderChart(spec chartSpec, w Window) []byte {
	n := chartBuckets
	start, span := timeAxis(w)
	bs := make([][]bucket, len(spec.lines))
	lo, hi := math.Inf(1), math.Inf(-1)
	points := 0
	for i, l := range spec.lines {
		bs[i] = bucketize(w, i, n, start, span)
		for _, b := range bs[i] {
			if !b.ok {
				continue
			}
			points++
			if l.band {
				lo, hi = math.Min(lo, b.min), math.Max(hi, b.max)
			} else {
				lo, hi = math.Min(lo, b.mean), math.Max(hi, b.mean)
			}
		}
	}
	// A few extreme buckets (the first offset before the clock was stepped, a burst of requests) would
	// flatten the rest of the hour into a line: when the 2nd..98th percentile (at least two values cut at
	// each end, so a single bucket's min and max go) spans less than a quarter of the whole range, scale to
	// it and clip the extremes, and say so.
	clipped := false
	if vals := chartValues(spec, bs); len(vals) >= 20 {
		sort.Float64s(vals)
		k := max(2, len(vals)/50)
		if rlo, rhi := vals[k], vals[len(vals)-1-k]; rhi > rlo && hi-lo > 4*(rhi-rlo) {
			pad := (rhi - rlo) * 0.1
			lo, hi, clipped = rlo-pad, rhi+pad, true
		}
	}
	unit := spec.lines[0].s.Unit()
	out := make([]byte, 0, 16<<10)
	out = fmt.Appendf(out, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" class="chart" id="chart-%s" data-points="%d" role="img" aria-label="%s, last %s">`,
		chartW, chartH, spec.id, points, html.EscapeString(spec.title), w.Range)
	out = fmt.Appendf(out, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#9ca3af" stroke-width="0.5"/>`, plotX0, plotY0, plotX1-plotX0, plotY1-plotY0)

	// Time axis: round UTC times, three to six of them.
	xOf := func(t float64) float64 { return plotX0 + (t-float64(start))/float64(span)*(plotX1-plotX0) }
	if w.End > 0 {
		every := int64(3 * 3600)
		for _, e := range []int64{60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600} {
			if span/e <= 6 {
				every = e
				break
			}
		}
		for t := start + floorMod(-start, every); t <= w.End+w.Range.Step(); t += every {
			x := xOf(float64(t))
			out = fmt.Appendf(out, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e5e7eb" stroke-width="0.5"/>`, f1(x), plotY0, f1(x), plotY1)
			out = fmt.Appendf(out, `<text x="%s" y="%d" font-size="%d" text-anchor="middle" fill="#4b5563">%s</text>`, f1(x), plotY1+tickFont+4, tickFont, time.Unix(t, 0).UTC().Format("15:04"))
		}
	}

	// Legend.
	lx := plotX0
	for _, l := range spec.lines {
		out = fmt.Appendf(out, `<rect x="%d" y="8" width="13" height="13" fill="%s"/><text x="%d" y="20" font-size="%d" fill="#111827">%s</text>`, lx, l.color, lx+17, tickFont, html.EscapeString(l.label))
		lx += 17 + 9*len(l.label) + 16
	}

	if points == 0 {
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="16" text-anchor="middle" fill="#6b7280">no data yet</text></svg>`, (plotX0+plotX1)/2, (plotY0+plotY1)/2)
		return out
	}
	factor, ulabel := scale(unit, math.Max(math.Abs(lo), math.Abs(hi)))
	ticks, tlo, thi := niceTicks(lo*factor, hi*factor, 4)
	step := 1.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	yOf := func(v float64) float64 { return plotY1 - (v*factor-tlo)/(thi-tlo)*(plotY1-plotY0) }
	for _, tv := range ticks {
		y := plotY1 - (tv-tlo)/(thi-tlo)*(plotY1-plotY0)
		out = fmt.Appendf(out, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e5e7eb" stroke-width="0.5"/>`, plotX0, f1(y), plotX1, f1(y))
		out = fmt.Appendf(out, `<text x="%d" y="%s" font-size="%d" text-anchor="end" fill="#4b5563">%s</text>`, plotX0-5, f1(y+5), tickFont, fmtTick(tv, step))
	}
	note := ulabel
	if clipped {
		note = "extremes clipped · " + ulabel
	}
	out = fmt.Appendf(out, `<text x="%d" y="20" font-size="%d" text-anchor="end" fill="#4b5563">%s</text>`, plotX1, tickFont, html.EscapeString(note))
	out = fmt.Appendf(out, `<clipPath id="clip-%s"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>`, spec.id, plotX0, plotY0, plotX1-plotX0, plotY1-plotY0)

	bw := float64(plotX1-plotX0) / float64(n)
	for i, l := range spec.lines {
		b := bs[i]
		if l.band {
			out = append(out, `<path class="band" fill="`...)
			out = append(out, l.color...)
			out = append(out, `" fill-opacity="0.22" stroke="none" clip-path="url(#clip-`...)
			out = append(out, spec.id...)
			out = append(out, `)" d="`...)
			for k := 0; k < n; {
				if !b[k].ok {
					k++
					continue
				}
				e := k
				for e < n && b[e].ok {
					e++
				}
				// One polygon per run of buckets with data: along the maxima, back along the minima.
				for j := k; j < e; j++ {
					cmd := "L"
					if j == k {
						cmd = "M"
					}
					out = fmt.Appendf(out, "%s%s %s", cmd, f1(plotX0+float64(j)*bw), f1(yOf(b[j].max)))
					out = fmt.Appendf(out, "L%s %s", f1(plotX0+float64(j+1)*bw), f1(yOf(b[j].max)))
				}
				for j := e - 1; j >= k; j-- {
					out = fmt.Appendf(out, "L%s %s", f1(plotX0+float64(j+1)*bw), f1(yOf(b[j].min)))
					out = fmt.Appendf(out, "L%s %s", f1(plotX0+float64(j)*bw), f1(yOf(b[j].min)))
				}
				out = append(out, 'Z')
				k = e
			}
			out = append(out, `"/>`...)
		}
		out = append(out, `<path class="line" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round" clip-path="url(#clip-`...)
		out = append(out, spec.id...)
		out = append(out, `)" stroke="`...)
		out = append(out, l.color...)
		out = append(out, `" d="`...)
		pen := false
		for k := 0; k < n; k++ {
			if !b[k].ok {
				pen = false
				continue
			}
			x, y := f1(plotX0+(float64(k)+0.5)*bw), f1(yOf(b[k].mean))
			if pen {
				out = fmt.Appendf(out, "L%s %s", x, y)
			} else {
				// A lone bucket still shows: a zero-length segment with a round cap is a dot.
				out = fmt.Appendf(out, "M%s %sh0.01", x, y)
				pen = true
			}
		}
		out = append(out, `"/>`...)
	}
	return append(out, "</svg>"...)
}

// timeAxis returns the first second and the length of the chart's time axis: the whole window once the
// history fills it, and before that (after a start) the time since the first sample, at least a twelfth of
// the window, so a young box shows its first minutes across the chart rather than in a sliver at its edge.
func timeAxis(w Window) (start, span int64) {
	start, span = w.Start, w.Range.Span()
	if len(w.T) == 0 {
		return start, span
	}
	end := w.End + w.Range.Step()
	if have := end - w.T[0]; have < span {
		span = max(have, w.Range.Span()/12)
		start = end - span
	}
	return start, span
}

// chartValues lists the values that set the vertical range: the envelope of band lines, the means of others.
func chartValues(spec chartSpec, bs [][]bucket) []float64 {
	var v []float64
	for i, l := range spec.lines {
		for _, b := range bs[i] {
			switch {
			case !b.ok:
			case l.band:
				v = append(v, b.min, b.max)
			default:
				v = append(v, b.mean)
			}
		}
	}
	return v
}

// constColors tells the constellations apart in the sky plot and the C/N0 bars.
var constColors = map[string]string{
	"gps": "#2563eb", "sbas": "#6b7280", "glonass": "#dc2626", "galileo": "#059669",
	"beidou": "#d97706", "qzss": "#7c3aed", "navic": "#92400e",
}

func constColor(name string) string {
	if c, ok := constColors[name]; ok {
		return c
	}
	return "#374151"
}

// renderSky draws the sky view: elevation rings at 0, 30 and 60 degrees, north up and azimuth clockwise
// (east on the right, as on a map and in most receiver tools). Filled dots are satellites used in the
// solution, hollow ones are only in view.
func renderSky(sky []status.Sat) []byte {
	const size, cx, cy, r = 240, 120, 120, 104
	out := make([]byte, 0, 4<<10)
	placed := 0
	for _, s := range sky {
		if s.ElevationDeg != nil && s.AzimuthDeg != nil && *s.ElevationDeg >= 0 {
			placed++
		}
	}
	out = fmt.Appendf(out, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" class="sky" id="sky" data-points="%d" role="img" aria-label="Sky plot: %d satellites with a position">`, size, size, placed, placed)
	for _, el := range []int{0, 30, 60} {
		rr := float64(r) * float64(90-el) / 90
		out = fmt.Appendf(out, `<circle cx="%d" cy="%d" r="%s" fill="none" stroke="#d1d5db" stroke-width="0.8"/>`, cx, cy, f1(rr))
	}
	out = fmt.Appendf(out, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e5e7eb" stroke-width="0.6"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e5e7eb" stroke-width="0.6"/>`,
		cx-r, cy, cx+r, cy, cx, cy-r, cx, cy+r)
	for _, d := range []struct {
		t    string
		x, y int
	}{{"N", cx, cy - r - 4}, {"E", cx + r + 8, cy + 4}, {"S", cx, cy + r + 13}, {"W", cx - r - 8, cy + 4}} {
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="#4b5563">%s</text>`, d.x, d.y, d.t)
	}
	for _, s := range sky {
		if s.ElevationDeg == nil || s.AzimuthDeg == nil || *s.ElevationDeg < 0 {
			continue
		}
		el := math.Min(float64(*s.ElevationDeg), 90)
		az := float64(*s.AzimuthDeg) * math.Pi / 180
		rr := float64(r) * (90 - el) / 90
		x, y := cx+rr*math.Sin(az), cy-rr*math.Cos(az)
		c := constColor(s.Constellation)
		fill := "#ffffff"
		if s.Used {
			fill = c
		}
		out = fmt.Appendf(out, `<circle class="sat" cx="%s" cy="%s" r="5" fill="%s" stroke="%s" stroke-width="1.5"><title>%s %d: elevation %d°, azimuth %d°, C/N0 %d dB-Hz%s</title></circle>`,
			f1(x), f1(y), fill, c, html.EscapeString(s.Constellation), s.PRN, *s.ElevationDeg, *s.AzimuthDeg, s.CN0, usedWord(s.Used))
		out = fmt.Appendf(out, `<text x="%s" y="%s" font-size="8" fill="#374151">%d</text>`, f1(x+6), f1(y-5), s.PRN)
	}
	if placed == 0 {
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#6b7280">no sky view yet</text>`, cx, cy+4)
	}
	return append(out, "</svg>"...)
}

func usedWord(u bool) string {
	if u {
		return ", used"
	}
	return ""
}

// renderCN0 draws one bar per tracked satellite, by constellation and number; the bar's height is its
// carrier-to-noise density (0..55 dB-Hz), solid when used in the solution.
func renderCN0(sky []status.Sat) []byte {
	var sats []status.Sat
	for _, s := range sky {
		if s.CN0 > 0 {
			sats = append(sats, s)
		}
	}
	sort.SliceStable(sats, func(i, j int) bool {
		if sats[i].Constellation != sats[j].Constellation {
			return sats[i].Constellation < sats[j].Constellation
		}
		return sats[i].PRN < sats[j].PRN
	})
	const h, y0, y1, x0, maxCN0 = 150, 8, 122, 26, 55.0
	bw := 16
	w := x0 + bw*max(len(sats), 12) + 4
	out := make([]byte, 0, 4<<10)
	out = fmt.Appendf(out, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" class="cn0" id="cn0" data-points="%d" role="img" aria-label="C/N0 of %d tracked satellites">`, w, h, len(sats), len(sats))
	for _, v := range []int{0, 20, 40} {
		y := y1 - float64(v)/maxCN0*(y1-y0)
		out = fmt.Appendf(out, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e5e7eb" stroke-width="0.6"/><text x="%d" y="%s" font-size="9" text-anchor="end" fill="#4b5563">%d</text>`, x0, f1(y), w-2, f1(y), x0-3, f1(y+3), v)
	}
	out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="9" fill="#4b5563">dB-Hz</text>`, x0+2, y0+6)
	for i, s := range sats {
		v := math.Min(float64(s.CN0), maxCN0)
		bh := v / maxCN0 * (y1 - y0)
		x := x0 + i*bw + 2
		c := constColor(s.Constellation)
		op := "1"
		if !s.Used {
			op = "0.35"
		}
		out = fmt.Appendf(out, `<rect class="bar" x="%d" y="%s" width="%d" height="%s" fill="%s" fill-opacity="%s"><title>%s %d: %d dB-Hz%s</title></rect>`,
			x, f1(y1-bh), bw-4, f1(bh), c, op, html.EscapeString(s.Constellation), s.PRN, s.CN0, usedWord(s.Used))
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="8" text-anchor="middle" fill="#374151">%d</text>`, x+(bw-4)/2, y1+11, s.PRN)
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="7" text-anchor="middle" fill="%s">%s</text>`, x+(bw-4)/2, y1+21, c, constAbbrev(s.Constellation))
	}
	if len(sats) == 0 {
		out = fmt.Appendf(out, `<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#6b7280">no satellites tracked</text>`, w/2, (y0+y1)/2)
	}
	return append(out, "</svg>"...)
}

func constAbbrev(name string) string {
	switch name {
	case "gps":
		return "G"
	case "sbas":
		return "S"
	case "glonass":
		return "R"
	case "galileo":
		return "E"
	case "beidou":
		return "C"
	case "qzss":
		return "J"
	case "navic":
		return "I"
	}
	return "?"
}
