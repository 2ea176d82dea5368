package servocmp

import (
	"errors"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Lines as chronyd 4.3 wrote them in this package's runs, with the banner it writes unless logbanner 0.
const sampleLog = `====================================================================================
   Date (UTC) Time         Refid  DP L P  Raw offset   Cooked offset      Disp.
====================================================================================
2026-11-22 09:48:05.000000 GPS     0 N 0 -1.233969e+00 -1.233969e+00  1.000e-07
2026-11-22 09:48:11.500000 GPS     - N -       -       -1.233838e+00  2.441e-07
2026-11-22 09:45:27.998905 GPS     0 N 0 -1.095000e-03  3.837375e-10  1.000e-07

2026-11-22 09:45:29.498897 PPS     - + -       -        5.323040e-10  2.236e-06
2026-11-22 09:45:30.998890 PPS    12 - 1 -1.110000e-03  6.808702e-10  1.000e-07
`

func TestParseRefclocks(t *testing.T) {
	recs, err := ParseRefclocks(strings.NewReader(sampleLog))
	if err != nil {
		t.Fatal(err)
	}
	want := []RefclockRecord{
		{Time: timebase.Date(2026, 11, 22, 9, 48, 5, 0), RefID: "GPS", Leap: 'N', RawOffset: -1.233969, CookedOffset: -1.233969, Dispersion: 1e-7},
		{Time: timebase.Date(2026, 11, 22, 9, 48, 11, 500000000), RefID: "GPS", Filtered: true, Leap: 'N', CookedOffset: -1.233838, Dispersion: 2.441e-7},
		{Time: timebase.Date(2026, 11, 22, 9, 45, 27, 998905000), RefID: "GPS", Leap: 'N', RawOffset: -1.095e-3, CookedOffset: 3.837375e-10, Dispersion: 1e-7},
		{Time: timebase.Date(2026, 11, 22, 9, 45, 29, 498897000), RefID: "PPS", Filtered: true, Leap: '+', CookedOffset: 5.32304e-10, Dispersion: 2.236e-6},
		{Time: timebase.Date(2026, 11, 22, 9, 45, 30, 998890000), RefID: "PPS", DP: 12, Leap: '-', Pulse: true, RawOffset: -1.11e-3, CookedOffset: 6.808702e-10, Dispersion: 1e-7},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d = %+v\nwant        %+v", i, recs[i], want[i])
		}
	}
}

func TestParseRefclocksErrors(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"fields", "2026-11-22 09:48:05.000000 GPS 0 N 0 -1.2e+00 -1.2e+00", "8 fields"},
		{"time", "2026-11-22 09:48:5.000000 GPS     0 N 0 -1.2e+00 -1.2e+00  1.0e-07", "time"},
		{"no microseconds", "2026-11-22 09:48:05 GPS     0 N 0 -1.2e+00 -1.2e+00  1.0e-07", "time"},
		{"leap", "2026-11-22 09:48:05.000000 GPS     0 X 0 -1.2e+00 -1.2e+00  1.0e-07", "leap"},
		{"dp", "2026-11-22 09:48:05.000000 GPS    -3 N 0 -1.2e+00 -1.2e+00  1.0e-07", "DP"},
		{"pulse", "2026-11-22 09:48:05.000000 GPS     0 N 2 -1.2e+00 -1.2e+00  1.0e-07", "pulse"},
		{"raw", "2026-11-22 09:48:05.000000 GPS     0 N 0 abc -1.2e+00  1.0e-07", "raw offset"},
		{"cooked NaN", "2026-11-22 09:48:05.000000 GPS     0 N 0 -1.2e+00 NaN  1.0e-07", "cooked offset"},
		{"huge", "2026-11-22 09:48:05.000000 GPS     0 N 0 -1.2e+00 1e300  1.0e-07", "cooked offset"},
		{"filtered half", "2026-11-22 09:48:05.000000 GPS     - N 0 -1.2e+00 -1.2e+00  1.0e-07", "filtered"},
		{"dispersion", "2026-11-22 09:48:05.000000 GPS     0 N 0 -1.2e+00 -1.2e+00  x", "dispersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRefclocks(strings.NewReader("\n" + tc.line + "\n"))
			if !errors.Is(err, ErrLog) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("err = %v, want ErrLog naming line 2 and %q", err, tc.want)
			}
		})
	}
	long := strings.Repeat("x", maxLogLine+1)
	if _, err := ParseRefclocks(strings.NewReader(long)); !errors.Is(err, ErrLog) {
		t.Fatalf("over-long line: err = %v, want ErrLog", err)
	}
}

func FuzzParseRefclocks(f *testing.F) {
	f.Add(sampleLog)
	f.Add("2026-11-22 09:48:05.000000 GPS     0 N 0 -1.2e+00 -1.2e+00  1.0e-07\n")
	f.Add("=====\n   Date (UTC)\n")
	f.Fuzz(func(t *testing.T, s string) {
		recs, err := ParseRefclocks(strings.NewReader(s))
		if err != nil && !errors.Is(err, ErrLog) {
			t.Fatalf("error %v does not wrap ErrLog", err)
		}
		for _, r := range recs {
			if r.Filtered && (r.Pulse || r.RawOffset != 0 || r.DP != 0) {
				t.Fatalf("filtered record with sample fields: %+v", r)
			}
			if !strings.ContainsRune("N+-?", rune(r.Leap)) {
				t.Fatalf("leap %q", r.Leap)
			}
		}
	})
}
