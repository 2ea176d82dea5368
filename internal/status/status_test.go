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
		DAC:     &DAC{Device: "mcp4725@/dev/i2c-1:0x60", State: "locked", Code: 2048, FrequencyPPB: 1.5, PhaseOffsetS: 1e-7, BoundS: &bound},
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
		`"pps":{"source"`, `"paired"`, `"sources":[{"name":"PPS","kind":"pps","reach":255,"offset_s":0,"jitter_s":0,"tally":"*","last_seen":"x"}]`,
	} {
		if !strings.Contains(doc, key) {
			t.Errorf("document lacks %s:\n%s", key, doc)
		}
	}
}

// Without a DAC oscillator the document has no dac key at all.
func TestDACAbsent(t *testing.T) {
	b, err := json.Marshal(Status{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"dac"`) {
		t.Errorf("document without a DAC has a dac key: %s", b)
	}
}
