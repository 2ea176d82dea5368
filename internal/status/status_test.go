package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// TestDocumentKeys pins the JSON names that gpsntpctl, the page and users' scripts read: renaming one is a
// breaking change of the API.
func TestDocumentKeys(t *testing.T) {
	alt := 10.0
	el, az := 45, 90
	bound := 2e-6
	s := Status{
		Sync: FromSnapshot(&timebase.Snapshot{State: timebase.StateLocked, Stratum: 1, RefTime: 1e18,
			RootDispersion: time.Microsecond, DispersionRate: 1e-6}, 1e18+1e9),
		GPS: GPS{Position: &Position{LatDeg: 1, LonDeg: 2, AltM: &alt},
			Constellations: []Constellation{{Name: "gps"}},
			Sky:            []Sat{{Constellation: "gps", PRN: 1, ElevationDeg: &el, AzimuthDeg: &az}}},
		Sources: []Source{{Name: "PPS", Kind: "pps", Reach: 0o377, Tally: TallySelected, LastSeen: "x"}},
		Temperature: &Temperature{Sensor: "/sys/class/thermal/thermal_zone0/temp", Celsius: 51.5, Readings: 7,
			CoeffPPMPerC: 0.1, CoeffSigmaPPMPerC: 0.01, Samples: 80, SpanC: 2, Trusted: true},
		DAC: &DAC{Device: "mcp4725@/dev/i2c-1:0x60", State: "locked", Code: 2048, FrequencyPPB: 1.5, PhaseOffsetS: 1e-7, BoundS: &bound},
		Update: &Update{BootedSlot: 3, DefaultSlot: 2, Phase: "trial", TrialLeftS: 41.5, Health: "no NTP socket",
			ImageVersion: "v1.2", ImageProfile: "rpi4/uputronics", CheckedAt: "2026-11-22T10:00:00Z",
			Last: &LastUpdate{State: UpdateTrying, FromSlot: 2, ToSlot: 3, Version: "v1.2", Requested: "2026-11-22T09:58:00Z"}},
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, key := range []string{
		`"version"`, `"mode"`, `"now"`, `"uptime_s"`, `"sync":{"state":"locked","stratum":1`, `"root_dispersion_s":0.000002`,
		`"leap_status"`, `"offset_s"`, `"frequency_ppm"`, `"jitter_s"`, `"est_error_s"`, `"steps"`,
		`"ntp":{"listen"`, `"requests"`, `"served"`, `"rate_limited"`, `"kod_sent"`, `"clients_tracked"`,
		`"gps":{"device"`, `"sats_used"`, `"sats_visible"`, `"sentences_ok"`, `"sentences_bad"`, `"epochs"`,
		`"position":{"lat_deg":1,"lon_deg":2,"alt_m":10}`, `"constellations":[{"name":"gps"`,
		`"sky":[{"constellation":"gps","prn":1,"elevation_deg":45,"azimuth_deg":90,"cn0":0,"used":false}]`,
		`"dac":{"device":"mcp4725@/dev/i2c-1:0x60","pps":"","state":"locked","code":2048,"gain_ppb_per_lsb":0,"frequency_ppb":1.5,"phase_offset_s":1e-7,"software_offset_s":0,"bound_s":0.000002,"following":false`,
		`"update":{"booted_slot":3,"default_slot":2,"phase":"trial","trial_left_s":41.5,"health":"no NTP socket","image_version":"v1.2","image_profile":"rpi4/uputronics","last_update":{"state":"trying","from_slot":2,"to_slot":3,"version":"v1.2","requested":"2026-11-22T09:58:00Z"},"checked_at":"2026-11-22T10:00:00Z"}`,
		`"temperature":{"sensor":"/sys/class/thermal/thermal_zone0/temp","celsius":51.5,"readings":7,"errors":0,"coeff_ppm_per_c":0.1,"coeff_sigma_ppm_per_c":0.01,"samples":80,"span_c":2,"residual_ppb":0,"trusted":true,"compensating":false}`,
		`"pps":{"source"`, `"paired"`, `"sources":[{"name":"PPS","kind":"pps","reach":255,"offset_s":0,"jitter_s":0,"tally":"*","last_seen":"x"}]`,
	} {
		if !strings.Contains(doc, key) {
			t.Errorf("document lacks %s:\n%s", key, doc)
		}
	}
}

// Without a DAC oscillator the document has no dac key at all; without -ota-status no update key.
func TestDACAbsent(t *testing.T) {
	b, err := json.Marshal(Status{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"dac"`) {
		t.Errorf("document without a DAC has a dac key: %s", b)
	}
	if strings.Contains(string(b), `"temperature"`) {
		t.Errorf("document without a sensor has a temperature key: %s", b)
	}
	if strings.Contains(string(b), `"update"`) {
		t.Errorf("document without -ota-status has an update key: %s", b)
	}
}

// An update section from a failed poll before any answer keeps the slot and phase keys (0 and "": not
// known yet) and carries the error; the verdict's decision keys appear once decided.
func TestUpdateKeys(t *testing.T) {
	b, err := json.Marshal(Status{Update: &Update{Error: "gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: connection refused"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `"update":{"booted_slot":0,"default_slot":0,"phase":"","error":"gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: connection refused"}`
	if !strings.Contains(string(b), want) {
		t.Errorf("document lacks %s:\n%s", want, b)
	}
	b, err = json.Marshal(Update{BootedSlot: 2, DefaultSlot: 2, Phase: "normal",
		Last: &LastUpdate{State: UpdateRolledBack, FromSlot: 2, ToSlot: 3, Requested: "a", Decided: "b", Detail: "not healthy within 5m0s: no NTP socket"}})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"booted_slot":2,"default_slot":2,"phase":"normal","last_update":{"state":"rolled-back","from_slot":2,"to_slot":3,"requested":"a","decided":"b","detail":"not healthy within 5m0s: no NTP socket"}}`
	if string(b) != want {
		t.Errorf("update section:\n got %s\nwant %s", b, want)
	}
}
