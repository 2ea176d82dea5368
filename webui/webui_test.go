package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

func intp(v int) *int { return &v }

// lockedDoc is a full document of a locked box at t0+3599.
func lockedDoc() status.Status {
	alt := 112.0
	return status.Status{
		Version: "v1.2.3", Mode: "sim", Now: "2026-11-22T00:59:59Z", UptimeS: 3599,
		Sync: status.Sync{State: "locked", Stratum: 1, RefID: "GPS", Leap: 0, LeapStatus: "none",
			OffsetS: 12e-9, FrequencyPPM: 12.345, JitterS: 40e-9, EstErrorS: 80e-9, RootDispersionS: 1e-6,
			LockedSince: "2026-11-22T00:01:00Z", Steps: 1},
		NTP: status.NTP{Listen: []string{"127.0.0.1:123"}, Requests: 1000, Served: 990, RateLimited: 10, KoDSent: 4, ClientsTracked: 3},
		GPS: status.GPS{Device: "simulator", Model: "u-blox NEO-M8T", Firmware: "ROM 3.01", Fix: "3d", Valid: true,
			SatsUsed: 2, SatsVisible: 3, SentencesOK: 5000, SentencesBad: 2, Epochs: 3599,
			Position: &status.Position{LatDeg: 52.5, LonDeg: -13.4, AltM: &alt}, HDOP: 0.9,
			Constellations: []status.Constellation{{Name: "gps", Used: 2, Visible: 2, Tracked: 2, MeanCN0: 41, MaxCN0: 44}, {Name: "galileo", Visible: 1, Tracked: 1, MeanCN0: 30, MaxCN0: 30}},
			Sky: []status.Sat{
				{Constellation: "gps", PRN: 5, ElevationDeg: intp(60), AzimuthDeg: intp(90), CN0: 44, Used: true},
				{Constellation: "gps", PRN: 12, ElevationDeg: intp(10), AzimuthDeg: intp(200), CN0: 38, Used: true},
				{Constellation: "galileo", PRN: 3, ElevationDeg: intp(35), AzimuthDeg: intp(315), CN0: 30},
				{Constellation: "gps", PRN: 30, CN0: 0},
			}},
		PPS: status.PPS{Source: "simulator", Edges: 3600, Paired: 3598, OffsetS: 9e-9, JitterS: 40e-9},
		Sources: []status.Source{
			{Name: "PPS", Kind: "pps", Reach: 0o377, OffsetS: 9e-9, JitterS: 20e-9, Tally: "*", LastSeen: "2026-11-22T00:59:59Z"},
			{Name: "GPS", Kind: "receiver", Reach: 0o376, OffsetS: 0.12, JitterS: 2e-3, Tally: "+", LastSeen: "2026-11-22T00:59:58Z"},
		},
	}
}

func newTestServer(t *testing.T, st status.Status, samples int64) (*httptest.Server, *History) {
	t.Helper()
	h := NewHistory()
	for i := int64(0); i < samples; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	srv := httptest.NewServer(Handler(func() status.Status { return st }, WithHistory(h)))
	t.Cleanup(srv.Close)
	return srv, h
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestHistoryAPI(t *testing.T) {
	srv, _ := newTestServer(t, lockedDoc(), 120)
	resp, body := get(t, srv.URL+"/api/history?series=pps_offset,ntp_requests&range=1h&since="+fmt.Sprint(t0+116))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got struct {
		Range  string  `json:"range"`
		StepS  int64   `json:"step_s"`
		Start  int64   `json:"start"`
		End    int64   `json:"end"`
		T      []int64 `json:"t"`
		Series []struct {
			Name, Unit string
			Mean       []*float64
			Min, Max   []*float64
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Range != "1h" || got.StepS != 1 || got.End != t0+119 || len(got.T) != 3 || got.T[0] != t0+117 {
		t.Fatalf("window: %+v", got)
	}
	if len(got.Series) != 2 || got.Series[0].Name != "pps_offset" || got.Series[1].Unit != "1/s" || got.Series[0].Min != nil {
		t.Fatalf("series: %s", body)
	}
	if v := got.Series[1].Mean[0]; v == nil || *v != 10 {
		t.Errorf("requests/s = %v", v)
	}

	// The day range has min, mean and max; all series by default; a gap is null.
	_, body = get(t, srv.URL+"/api/history?range=1d")
	if !bytes.Contains(body, []byte(`"step_s":60`)) || !bytes.Contains(body, []byte(`"min":[`)) || !bytes.Contains(body, []byte(`"name":"ntp_rate_limited"`)) {
		t.Errorf("1d: %s", body)
	}
	_, body = get(t, srv.URL+"/api/history?series=ntp_served&range=1h")
	if !bytes.HasPrefix(bytes.SplitN(bytes.SplitN(body, []byte(`"mean":[`), 2)[1], []byte(","), 2)[0], []byte("null")) {
		t.Errorf("first rate is not null: %.200s", body)
	}
}

func TestHistoryAPIRejectsAbsurdQueries(t *testing.T) {
	srv, _ := newTestServer(t, lockedDoc(), 10)
	cases := []struct{ q, want string }{
		{"range=2h", `range "2h"`},
		{"range=1h&range=1d", `"range" given 2 times`},
		{"series=pps_offset,bogus", `series "bogus"`},
		{"series=pps_offset,pps_offset", "listed twice"},
		{"series=", `series ""`},
		{"since=-1", `since "-1"`},
		{"since=1e9", `since "1e9"`},
		{"since=99999999999999999999999", "since"},
		{"limit=5", `unknown parameter "limit"`},
		{"range=%zz", "malformed query"},
		{"series=" + strings.Repeat("pps_offset,", 100), "at most 512"},
	}
	for _, c := range cases {
		resp, body := get(t, srv.URL+"/api/history?"+c.q)
		if resp.StatusCode != 400 || !strings.Contains(string(body), c.want) {
			t.Errorf("?%.40s: %d %q, want 400 mentioning %s", c.q, resp.StatusCode, body, c.want)
		}
	}
	for _, u := range []string{"/?range=1y", "/?x=1", "/fragment/charts?range=", "/fragment/summary?a=b", "/api/status?pretty=1"} {
		if resp, body := get(t, srv.URL+u); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", u, resp.StatusCode, body)
		}
	}
	for _, u := range []string{"/nope", "/api/", "/static/nope.js"} {
		if resp, _ := get(t, srv.URL+u); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", u, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/api/status", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/status: %d, want 405", resp.StatusCode)
	}
}

func TestPageAndFragments(t *testing.T) {
	srv, _ := newTestServer(t, lockedDoc(), 300)
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows something unsafe: %q", csp)
	}
	page := html.UnescapeString(string(body))
	for _, want := range []string{
		`<h1 id="headline">Serving GPS time. Locked 58 min 59 s. Estimated error ±80 ns.</h1>`,
		`<script src="/static/app.js" defer></script>`, `id="chart-offset"`, `id="chart-ntp"`, `id="sky"`, `id="cn0"`,
		"u-blox NEO-M8T, firmware ROM 3.01", "52.50000° N, 13.40000° W, 112 m", "<td class=\"num\">377</td>",
		"+12.345 ppm", "no leap second pending (LI=0)", "127.0.0.1:123",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No inline script, no inline style, nothing from another origin.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script>|<script [^>]*>[^<]`), regexp.MustCompile(`style=|<style`), regexp.MustCompile(`(src|href)="(https?:)?//`), regexp.MustCompile(`\son[a-z]+=`)} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("page contains %q", m)
		}
	}
	_, frag := get(t, srv.URL+"/fragment/summary")
	if !strings.HasPrefix(string(frag), `<div id="summary">`) || !strings.Contains(string(frag), "Serving GPS time.") {
		t.Errorf("summary fragment: %.200s", frag)
	}
	_, frag = get(t, srv.URL+"/fragment/charts?range=1d")
	if !strings.HasPrefix(string(frag), `<section id="charts" data-range="1d">`) || strings.Count(string(frag), "<svg") != len(charts) {
		t.Errorf("charts fragment: %.300s", frag)
	}
	for _, f := range []struct{ path, ctype string }{{"/static/app.js", "text/javascript"}, {"/static/style.css", "text/css"}, {"/static/favicon.svg", "image/svg+xml"}} {
		resp, body := get(t, srv.URL+f.path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), f.ctype) || len(body) == 0 {
			t.Errorf("%s: %d %q", f.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestStatusAPIIsTheDocument(t *testing.T) {
	want := lockedDoc()
	srv, _ := newTestServer(t, want, 0)
	_, body := get(t, srv.URL+"/api/status")
	var got status.Status
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
}

// TestFloodIsBounded checks that more concurrent requests than slots get a quick 503 rather than queueing,
// and that the handler is race-free under concurrent page loads while the history is being sampled.
func TestFloodIsBounded(t *testing.T) {
	block := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	var once [2]sync.Once
	n := 0
	var mu sync.Mutex
	p := func() status.Status {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		if i < 2 {
			once[i].Do(entered.Done)
			<-block
		}
		return lockedDoc()
	}
	h := NewHistory()
	srv := httptest.NewServer(Handler(p, WithHistory(h), WithMaxInFlight(2)))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/api/status")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	entered.Wait()
	resp, _ := get(t, srv.URL+"/")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request while two are in flight: %d, want 503 with Retry-After", resp.StatusCode)
	}
	close(block)
	wg.Wait()

	// Now a burst of concurrent readers with the sampler writing.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(0); i < 200; i++ {
			h.Sample(at(t0+i), doc(i))
		}
	}()
	var ok, busy int
	var rmu sync.Mutex
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			paths := []string{"/", "/fragment/charts?range=1d", "/api/history", "/metrics"}
			resp, err := http.Get(srv.URL + paths[i%len(paths)])
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rmu.Lock()
			defer rmu.Unlock()
			switch resp.StatusCode {
			case 200:
				ok++
			case 503:
				busy++
			default:
				t.Errorf("%s: %d", paths[i%len(paths)], resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	<-done
	if ok == 0 {
		t.Errorf("no request succeeded (%d busy)", busy)
	}
}

func TestMetricsPromtool(t *testing.T) {
	srv, _ := newTestServer(t, lockedDoc(), 0)
	resp, body := get(t, srv.URL+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`gpsntp_sync_state{state="locked"} 1`, `gpsntp_sync_state{state="holdover"} 0`, "gpsntp_stratum 1",
		"gpsntp_estimated_error_seconds 8e-08", "gpsntp_frequency_ppm 12.345",
		`gpsntp_ntp_requests_total{outcome="served"} 990`, `gpsntp_ntp_requests_total{outcome="rate_limited"} 10`,
		"# TYPE gpsntp_ntp_requests_total counter", "# TYPE gpsntp_pps_offset_seconds gauge",
		`gpsntp_gps_sentences_total{result="bad"} 2`, `gpsntp_gps_constellation_satellites_visible{constellation="galileo"} 1`,
		"gpsntp_pps_paired_total 3598", `gpsntp_source_reach{source="PPS"} 255`, `gpsntp_source_selected{source="PPS"} 1`,
		`gpsntp_build_info{mode="sim",version="v1.2.3"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	promtool := requireTool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// requireTool skips when a tool is absent, or fails under CI where `make deps` installs it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; `make deps` installs it", name)
	}
	t.Skipf("%s is not installed (run `make deps`); skipping", name)
	return ""
}

func TestHeadline(t *testing.T) {
	base := lockedDoc()
	cases := []struct {
		name string
		mod  func(*status.Status)
		want string
		tone Tone
	}{
		{"locked", func(*status.Status) {}, "Serving GPS time. Locked 58 min 59 s. Estimated error ±80 ns.", ToneOK},
		{"locked days", func(s *status.Status) { s.Now = "2026-11-24T03:01:00Z" }, "Serving GPS time. Locked 2 d 3 h. Estimated error ±80 ns.", ToneOK},
		{"holdover", func(s *status.Status) {
			s.Sync.State, s.Sync.HoldoverSince, s.Sync.RootDispersionS = "holdover", "2026-11-22T00:49:59Z", 2.5e-6
		}, "Holdover since 00:49:59 UTC (10 min 0 s): PPS or receiver time lost; serving on the learned frequency, error bound ±2.5 µs.", ToneWarn},
		{"holdover exceeded", func(s *status.Status) {
			s.Sync.State, s.Sync.Stratum, s.GPS.Valid = "holdover", 16, false
		}, "Not serving synchronized time: holdover error bound exceeded; the receiver has no fix.", ToneBad},
		{"locking", func(s *status.Status) { s.Sync.State = "locking" }, "Not yet serving: locking to GPS and PPS.", ToneWarn},
		{"no receiver", func(s *status.Status) { s.Sync.State, s.GPS.Device = "unsynced", "" }, "Not serving synchronized time: no receiver configured.", ToneBad},
		{"silent", func(s *status.Status) { s.Sync.State, s.GPS.Epochs = "unsynced", 0 }, "Not serving synchronized time: nothing heard from the receiver yet.", ToneBad},
		{"no fix", func(s *status.Status) { s.Sync.State, s.GPS.Valid = "unsynced", false }, "Not serving synchronized time: the receiver has no fix.", ToneBad},
		{"no pps", func(s *status.Status) { s.Sync.State, s.PPS.Paired = "unsynced", 0 }, "Not serving synchronized time: no PPS pulses paired with receiver time.", ToneBad},
	}
	for _, c := range cases {
		s := base
		c.mod(&s)
		got, tone := headline(s)
		if got != c.want || tone != c.tone {
			t.Errorf("%s: %q (%s), want %q (%s)", c.name, got, tone, c.want, c.tone)
		}
	}
}

// BenchmarkPage measures a page load with a full hour of history, the charts cached (as under a flood)
// and not (the first load after each new second).
func BenchmarkPage(b *testing.B) {
	h := NewHistory()
	for i := int64(0); i < 3600; i++ {
		h.Sample(at(t0+i), doc(i))
	}
	st := lockedDoc()
	hd := Handler(func() status.Status { return st }, WithHistory(h))
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rec := httptest.NewRecorder()
			hd.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		}
	})
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			h.Sample(at(t0+3600+int64(i)), doc(3600+int64(i)))
			rec := httptest.NewRecorder()
			hd.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		}
	})
}
