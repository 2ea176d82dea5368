package webui

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

func pageBody(t *testing.T, st *status.Status) string {
	t.Helper()
	srv := httptest.NewServer(Handler(func() status.Status { return *st }))
	defer srv.Close()
	var page string
	for _, path := range []string{"/", "/fragment/summary"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		// The live refresh swaps the summary fragment: it must carry the same card as the page.
		if path == "/" {
			page = string(body)
		} else if strings.Contains(page, `id="daccard"`) != strings.Contains(string(body), `id="daccard"`) {
			t.Errorf("the page and the summary fragment disagree on the DAC card")
		}
	}
	return page
}

// The steered oscillator's card: part, bus and address, code, gain with its σ and where it came from,
// state, phase against the GPS pulse with its bound, and failures; absent without a DAC.
func TestPageShowsDAC(t *testing.T) {
	bound := 4.2e-7
	st := status.Status{Version: "test", Mode: "hardware", Now: "2026-11-22T12:00:00Z"}
	st.DAC = &status.DAC{Device: "ad5693r@/dev/i2c-1:0x4c,gain2", PPS: "gpio /dev/gpiochip0:17", State: "locked",
		Code: 33012, GainPPBPerLSB: 0.0122071, GainErrPPBPerLSB: 0.00031, GainSource: "calibrated", Calibrations: 1,
		FrequencyPPB: -87.25, PhaseOffsetS: -3.1e-8, SoftwareOffsetS: 0.371234, BoundS: &bound,
		Pairs: 7200, Outliers: 9, Writes: 7190}
	page := pageBody(t, &st)
	for _, want := range []string{
		`id="daccard"`, "ad5693r", "/dev/i2c-1:0x4c,gain2", "gpio /dev/gpiochip0:17", ">locked", "33012", "7190 writes",
		"0.012207 ppb/LSB", "± 0.00031", "calibrated in this run", "1 calibration)", "-87.250 ppb",
		"Phase vs GPS PPS", "-31", "bound ±420", "371", "7200 pairs, 9 outliers",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "following") || strings.Contains(page, "refused") {
		t.Error("page says following or refused for a locked loop with a calibrated gain")
	}

	// A restart resumed from the state file, still checking; the board following the oscillator; a write
	// failure (its text escaped).
	st.DAC.GainSource, st.DAC.Checking, st.DAC.Calibrations, st.DAC.GainErrPPBPerLSB = "remembered", true, 0, 0
	st.DAC.BoundS, st.DAC.SoftwareOffsetS = nil, 0
	st.DAC.Following, st.DAC.FollowingSince = true, "2026-11-22T11:00:00Z"
	st.DAC.Error = "daemon: DAC Apply(code 3, sync false): i2c <nack>"
	page = pageBody(t, &st)
	for _, want := range []string{"remembered from the state file, being checked", "0 calibrations", "no bound yet",
		"board clock following it since", "i2c &lt;nack&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "adopted at start") || strings.Contains(page, "± 0") {
		t.Error("page shows a zero software offset or gain σ")
	}
	st.DAC.Checking, st.DAC.StateRefused, st.DAC.GainSource, st.DAC.State = false, 1, "unknown", "calibrating"
	page = pageBody(t, &st)
	for _, want := range []string{">calibrating", "state file refused"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// Without a DAC the card is absent rather than empty.
	st.DAC = nil
	if page := pageBody(t, &st); strings.Contains(page, `id="daccard"`) || strings.Contains(page, "Steered oscillator") {
		t.Error("DAC card shown without a DAC")
	}
}
