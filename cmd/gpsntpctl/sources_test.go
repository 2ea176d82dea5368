package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

func testDoc() status.Status {
	alt := 495.4
	return status.Status{
		Version: "v1", Mode: "sim", Now: "2026-11-22T01:00:00Z", UptimeS: 3600,
		Sync: status.Sync{State: "locked", Stratum: 1, RefID: "GPS", Leap: 0, OffsetS: -12e-9, JitterS: 40e-9,
			FrequencyPPM: -15.7, EstErrorS: 80e-9, LockedSince: "2026-11-22T00:01:00Z"},
		GPS: status.GPS{Device: "simulator", Model: "u-blox NEO-M8T", Firmware: "ROM 3.01", Fix: "3d", Valid: true, SatsUsed: 13, SatsVisible: 22,
			Constellations: []status.Constellation{{Name: "gps", Used: 7, Visible: 12}, {Name: "glonass", Used: 6, Visible: 10}},
			Position:       &status.Position{LatDeg: 46.5197, LonDeg: 6.6323, AltM: &alt}},
		Sources: []status.Source{
			{Name: "PPS", Kind: "pps", Reach: 0o377, OffsetS: -9e-9, JitterS: 20e-9, Tally: "*", LastSeen: "2026-11-22T00:59:59.5Z", Note: "disciplining the clock"},
			{Name: "GPS", Kind: "receiver", Reach: 0o376, OffsetS: 0.0971, JitterS: 4.2e-3, Tally: "+", LastSeen: "2026-11-22T00:58:00Z"},
			{Name: "DAC", Kind: "oscillator", Reach: 0, Tally: " "},
		},
	}
}

func serve(t *testing.T, s status.Status) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSourcesTable(t *testing.T) {
	url := serve(t, testDoc())
	var out, errb bytes.Buffer
	if code := runSources([]string{"-url", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := ` source     kind       reach     offset    jitter   last
========================================================
*PPS        pps          377       -9ns      20ns     0s
+GPS        receiver     376    +97.1ms     4.2ms     2m
 DAC        oscillator     0       +0ns       0ns      -
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if code := runSources([]string{"-url", url, "-v"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "disciplining the clock") {
		t.Errorf("-v: %d %s", code, out.String())
	}
	out.Reset()
	if code := runSources([]string{"-url", url, "-json"}, &out, &errb); code != 0 {
		t.Fatalf("-json: %d", code)
	}
	var src []status.Source
	if err := json.Unmarshal(out.Bytes(), &src); err != nil || len(src) != 3 || src[1].Reach != 0o376 {
		t.Errorf("-json: %v %s", err, out.String())
	}
}

func TestSourcesErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runSources([]string{"-url", "http://127.0.0.1:1"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "/api/status") {
		t.Errorf("unreachable: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := runSources([]string{"extra"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `"extra"`) {
		t.Errorf("extra argument: %d %q", code, errb.String())
	}
	if code := runSources([]string{"-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: %d", code)
	}
}

func TestStatusTracking(t *testing.T) {
	url := serve(t, testDoc())
	var out, errb bytes.Buffer
	if code := runStatus([]string{"-url", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"Reference ID    : GPS\n", "Stratum         : 1\n", "State           : locked since 2026-11-22T00:01:00Z\n",
		"Last offset     : -0.000000012 seconds\n", "Frequency       : 15.700 ppm fast\n", "Estimated error : ±0.000000080 seconds\n",
		"Leap status     : Normal (LI=0)\n", "Receiver        : simulator (u-blox NEO-M8T, firmware ROM 3.01): fix 3d, 13/22 satellites",
		"Constellations  : gps 7/12, glonass 6/10 (used/visible)\n", "Position        : 46.519700 6.632300, 495.4 m\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHumanUnits(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "+0ns"}, {-9e-9, "-9ns"}, {1.5e-6, "+1.5us"}, {-0.0971, "-97.1ms"}, {2.5, "+2.50s"}} {
		if got := humanSigned(c.v); got != c.want {
			t.Errorf("humanSigned(%g) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct{ now, ts, want string }{
		{"2026-11-22T01:00:00Z", "", "-"},
		{"2026-11-22T01:00:00Z", "2026-11-22T00:59:01Z", "59s"},
		{"2026-11-22T01:00:00Z", "2026-11-21T23:00:00Z", "2h"},
		{"2026-11-22T01:00:00Z", "2026-11-20T01:00:00Z", "2d"},
		{"2026-11-22T01:00:00Z", "garbage", "?"},
	} {
		if got := ago(c.now, c.ts); got != c.want {
			t.Errorf("ago(%s, %s) = %q, want %q", c.now, c.ts, got, c.want)
		}
	}
}
