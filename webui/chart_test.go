package webui

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

// wellFormed fails unless b parses as XML to the end.
func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%.300s", err, b)
		}
	}
}

var pathD = regexp.MustCompile(`class="line"[^>]* d="([^"]*)"`)

func TestRenderChartDrawsDataAndGaps(t *testing.T) {
	h := NewHistory()
	for i := int64(0); i < 3600; i++ {
		if i >= 1000 && i < 1500 { // the sampler stopped for 500 s
			continue
		}
		h.Sample(at(t0+i), doc(i))
	}
	spec := charts[0] // offset and jitter
	svg := renderChart(spec, h.Window(RangeHour, spec.series(), 0))
	wellFormed(t, svg)
	s := string(svg)
	m := pathD.FindAllStringSubmatch(s, -1)
	if len(m) != 2 {
		t.Fatalf("%d line paths, want 2", len(m))
	}
	// The gap splits the offset line in two runs: two moves.
	if n := strings.Count(m[0][1], "M"); n != 2 {
		t.Errorf("offset line has %d runs, want 2: %.200s", n, m[0][1])
	}
	if !strings.Contains(s, `class="band"`) || !strings.Contains(s, ">ns<") {
		t.Errorf("no band or no ns unit: %.400s", s)
	}
	if !strings.Contains(s, `data-points="`) || strings.Contains(s, `data-points="0"`) {
		t.Error("data-points missing or zero")
	}
	// Time ticks on round UTC ten-minute marks.
	if !strings.Contains(s, ">00:10<") || !strings.Contains(s, ">00:50<") {
		t.Errorf("no 00:10 / 00:50 ticks")
	}

	empty := renderChart(spec, NewHistory().Window(RangeHour, spec.series(), 0))
	wellFormed(t, empty)
	if !strings.Contains(string(empty), "no data yet") || !strings.Contains(string(empty), `data-points="0"`) {
		t.Errorf("empty chart: %s", empty)
	}

	for _, r := range []Range{RangeHour, RangeDay} {
		for _, c := range charts {
			wellFormed(t, renderChart(c, h.Window(r, c.series(), 0)))
		}
	}
}

func TestRenderChartClipsExtremes(t *testing.T) {
	h := NewHistory()
	for i := int64(0); i < 600; i++ {
		d := doc(i)
		if i == 5 {
			d.PPS.OffsetS = 0.8 // the clock before its first step
		}
		h.Sample(at(t0+i), d)
	}
	spec := charts[0]
	s := string(renderChart(spec, h.Window(RangeHour, spec.series(), 0)))
	wellFormed(t, []byte(s))
	if !strings.Contains(s, "extremes clipped · ns") || !strings.Contains(s, `clip-path="url(#clip-offset)"`) {
		t.Errorf("a lone 0.8 s spike among ns offsets was not clipped: %.600s", s)
	}
	// Without the spike the full range is used.
	h = NewHistory()
	for i := int64(0); i < 600; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	if s := string(renderChart(spec, h.Window(RangeHour, spec.series(), 0))); strings.Contains(s, "clipped") {
		t.Error("steady data was clipped")
	}
}

func TestYoungHistoryFillsTheChart(t *testing.T) {
	h := NewHistory()
	for i := int64(0); i < 100; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	w := h.Window(RangeHour, charts[1].series(), 0)
	if start, span := timeAxis(w); span != 300 || start != t0+100-300 {
		t.Errorf("100 s of history: axis from %d for %d s, want the last 5 minutes", start-t0, span)
	}
	s := string(renderChart(charts[1], w))
	if !strings.Contains(s, ">00:00<") || !strings.Contains(s, ">23:57<") {
		t.Errorf("minute ticks missing: %.500s", s)
	}
	// 100 s of a 300 s axis: the line spans the last third of the width.
	d := pathD.FindStringSubmatch(s)[1]
	x, _ := strconv.ParseFloat(strings.Fields(strings.TrimPrefix(d, "M"))[0], 64)
	if want := plotX0 + 2.0/3*(plotX1-plotX0); math.Abs(x-want) > 3 {
		t.Errorf("the line starts at x=%v", x)
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi   float64
		wantStep float64
	}{
		{-37, 41, 20}, {0, 1, 0.5}, {9.98, 10.02, 0.01}, {5, 5, 0.5}, {0, 0, 0.5}, {-1e-3, 2e-3, 1e-3},
	}
	for _, c := range cases {
		ticks, tlo, thi := niceTicks(c.lo, c.hi, 4)
		if len(ticks) < 2 {
			t.Errorf("%v..%v: ticks %v", c.lo, c.hi, ticks)
			continue
		}
		step := ticks[1] - ticks[0]
		if math.Abs(step-c.wantStep) > c.wantStep*1e-9 || tlo > math.Min(c.lo, c.hi) || thi < c.hi {
			t.Errorf("%v..%v: ticks %v (%v..%v), want step %v", c.lo, c.hi, ticks, tlo, thi, c.wantStep)
		}
	}
	if got := fmtTick(0.30000000000000004, 0.1); got != "0.3" {
		t.Errorf("fmtTick = %q", got)
	}
	if got := fmtTick(-1e-17, 0.01); got != "0.00" {
		t.Errorf("fmtTick(-0) = %q", got)
	}
}

func TestScale(t *testing.T) {
	for _, c := range []struct {
		unit string
		m    float64
		want string
	}{{"s", 80e-9, "ns"}, {"s", 3e-6, "µs"}, {"s", 0.2, "ms"}, {"s", 2, "s"}, {"ppm", 12, "ppm"}, {"1/s", 3, "req/s"}} {
		if _, got := scale(c.unit, c.m); got != c.want {
			t.Errorf("scale(%s, %g) = %s, want %s", c.unit, c.m, got, c.want)
		}
	}
}

func TestSkyAndCN0(t *testing.T) {
	sky := lockedDoc().GPS.Sky
	s := renderSky(sky)
	wellFormed(t, s)
	// Three satellites have a position; the one without is not placed.
	if n := strings.Count(string(s), `class="sat"`); n != 3 || !strings.Contains(string(s), `data-points="3"`) {
		t.Errorf("sky: %d satellites drawn", n)
	}
	// PRN 5 at elevation 60, azimuth 90 (east): right of the centre, on the 60-degree ring.
	if !strings.Contains(string(s), `cx="154.7" cy="120.0"`) {
		t.Errorf("PRN 5 misplaced: %s", s)
	}
	c := renderCN0(sky)
	wellFormed(t, c)
	if n := strings.Count(string(c), `class="bar"`); n != 3 {
		t.Errorf("cn0: %d bars, want 3 (untracked satellites have none)", n)
	}
	// An escape attempt in a name the receiver controls never reaches the markup unescaped.
	evil := []status.Sat{{Constellation: `<script>"`, PRN: 1, ElevationDeg: intp(10), AzimuthDeg: intp(10), CN0: 20}}
	for _, b := range [][]byte{renderSky(evil), renderCN0(evil)} {
		wellFormed(t, b)
		if strings.Contains(string(b), "<script>") {
			t.Errorf("unescaped: %s", b)
		}
	}
	empty := renderSky(nil)
	wellFormed(t, empty)
	if !strings.Contains(string(empty), "no sky view yet") {
		t.Error("empty sky has no note")
	}
}

func FuzzHistoryQuery(f *testing.F) {
	for _, s := range []string{"", "range=1d", "series=pps_offset,jitter&range=1h&since=1795305600", "since=-1", "range=1h&range=1h", "%zz", "series=,"} {
		f.Add(s)
	}
	h := NewHistory()
	for i := int64(0); i < 200; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseHistoryQuery(raw)
		if err != nil {
			return
		}
		b := appendHistoryJSON(nil, h.Window(q.r, q.series, q.since))
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %.200s", raw, b)
		}
		if len(b) > 400<<10 {
			t.Fatalf("response of %d bytes for %q", len(b), raw)
		}
	})
}
