package discipline

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var learnedAt = timebase.Date(2026, 11, 22, 12, 0, 0, 0)

func TestDACLearnedRoundTrip(t *testing.T) {
	tests := []struct {
		l    DACLearned
		line string
	}{
		{DACLearned{"ad5693r", 65535, 33012, 0.01220703125, 0.00031, -0.0123, 0.045, learnedAt},
			"gpsntp-dac/1 ad5693r 65535 33012 0.01220703125 0.00031 -0.0123 0.045 1795348800\n"},
		{DACLearned{"mcp4725", 4095, 0, -0.5, 0, 1e5, 0, timebase.Date(2036, 2, 7, 6, 28, 16, 0)},
			"gpsntp-dac/1 mcp4725 4095 0 -0.5 0 100000 0 2085978496\n"},
		{DACLearned{"mcp4725", 4095, 4095, 1e6, 1e6, -1e-9, 1e5, 1e9},
			"gpsntp-dac/1 mcp4725 4095 4095 1e+06 1e+06 -1e-09 100000 1\n"},
	}
	for _, tt := range tests {
		b, err := EncodeDACLearned(tt.l)
		if err != nil || string(b) != tt.line {
			t.Errorf("EncodeDACLearned(%+v) = %q, %v; want %q", tt.l, b, err, tt.line)
			continue
		}
		got, err := DecodeDACLearned(b)
		if err != nil || got != tt.l {
			t.Errorf("DecodeDACLearned(%q) = %+v, %v; want %+v", b, got, err, tt.l)
		}
	}
}

func TestDACLearnedRefusesCorruptFiles(t *testing.T) {
	good := "gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\n"
	if _, err := DecodeDACLearned([]byte(good)); err != nil {
		t.Fatalf("the good line: %v", err)
	}
	bad := []string{
		"",
		"\n",
		strings.TrimSuffix(good, "\n"), // torn: no newline
		"gpsntp-dac/2 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\n", // a future version
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04\n",            // a field missing
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800 1\n",
		"gpsntp-dac/1  ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\n", // double space
		"gpsntp-dac/1 AD5693R 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\n",  // not a part name
		"gpsntp-dac/1 ad5693r 65535 65536 0.0122 0.0003 -0.01 0.04 1795348800\n",  // code beyond full scale
		"gpsntp-dac/1 ad5693r 100 50 0.0122 0.0003 -0.01 0.04 1795348800\n",       // not a DAC's full scale
		"gpsntp-dac/1 ad5693r 65535 -1 0.0122 0.0003 -0.01 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0 0 -0.01 0.04 1795348800\n", // a dead gain
		"gpsntp-dac/1 ad5693r 65535 33012 NaN 0.0003 -0.01 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 +Inf 0.0003 -0.01 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 2e6 0.0003 -0.01 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.02 -0.01 0.04 1795348800\n", // σ beyond the gain itself
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 -0.0003 -0.01 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 1e6 0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 -0.04 1795348800\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 0\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 99999999999999999\n",
		"gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\r\n",
		good + good,
		strings.Repeat("x", MaxDACStateFile+1),
	}
	for _, s := range bad {
		if l, err := DecodeDACLearned([]byte(s)); !errors.Is(err, ErrCorruptDACState) {
			t.Errorf("DecodeDACLearned(%q) = %+v, %v; want an ErrCorruptDACState", s, l, err)
		}
	}
	if _, err := EncodeDACLearned(DACLearned{Model: "ad5693r", MaxCode: 65535, Code: 1, Written: learnedAt}); !errors.Is(err, ErrCorruptDACState) {
		t.Errorf("encoding a state without a gain: %v", err)
	}
}

func TestDACLearnedCheckAndAge(t *testing.T) {
	l := DACLearned{"mcp4725", 4095, 2100, 0.2, 0.004, 0.3, 0.1, learnedAt}
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	for _, c := range []struct {
		model string
		cfg   func(*DACConfig)
		want  string
	}{
		{"mcp4725", func(*DACConfig) {}, ""},
		{"ad5693r", func(*DACConfig) {}, "for a mcp4725, this DAC is a ad5693r"},
		{"mcp4725", func(c *DACConfig) { c.MaxCode = 65535 }, "full scale 4095"},
		{"mcp4725", func(c *DACConfig) { c.MinCode = 2200 }, "outside [2200, 4095]"},
	} {
		cc := cfg
		c.cfg(&cc)
		err := l.Check(c.model, cc)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%s, %+v) = %v, want %q", c.model, cc, err, c.want)
		}
	}
	// A state the controller's Validate also refuses when it does not fit the configured range.
	bad := cfg
	bad.Learned = l
	bad.MinCode = 2200
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepted a learned code outside the range")
	}
	good := cfg
	good.Learned = l
	if err := good.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// Ageing: the retrace of a power cycle at once, then a ppb a day, in quadrature with the saved σ.
	for _, c := range []struct {
		at   timebase.Instant
		want float64
	}{
		{learnedAt.Add(-time.Hour), math.Sqrt(0.01 + 25)},
		{learnedAt, math.Sqrt(0.01 + 25)},
		{learnedAt.Add(48 * time.Hour), math.Sqrt(0.01 + 25 + 4)},
	} {
		if got := l.Aged(c.at).FreqErrPPB; math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Aged(%v) σ %g ppb, want %g", c.at, got, c.want)
		}
	}
}

// The controller resumes from a learned state: it writes the learned code first, starts the filter on the
// learned frequency without calibrating, holds off lock until the check segment agreed, and hands back
// what it learned once locked.
func TestDACControllerResumesFromLearned(t *testing.T) {
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	cfg.NoSync = true
	const gain = 0.2  // ppb/LSB
	const free = 25.0 // ppb at the centre code 2048
	l := DACLearned{"mcp4725", 4095, 2048 - 125, gain, 0.002, 0, 0.5, learnedAt}
	cfg.Learned = l.Aged(learnedAt)
	c, cmd, err := NewDACController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cmd != (DACCommand{Code: l.Code, Write: true}) {
		t.Fatalf("first command %+v, want the learned code %d", cmd, l.Code)
	}
	// A noiseless oscillator whose tuning is the learned line: phase integrates its residual frequency.
	theta, code := 0.0, l.Code
	at := learnedAt
	var lockedAt time.Duration
	for i := 1; i <= 600; i++ {
		y := (free + gain*(float64(code)-2048)) * 1e-9
		theta += y
		at = at.Add(time.Second)
		cmd := c.Sample(DACSample{At: at, Phase: -seconds(theta) - 371*time.Millisecond})
		if cmd.Write {
			code = cmd.Code
		}
		st := c.Status()
		if i == 30 && (!st.Checking || st.State != DACLocking) {
			t.Errorf("30 s in: %v, checking %v; want locking while the check runs", st.State, st.Checking)
		}
		if st.State == DACLocked && lockedAt == 0 {
			lockedAt = time.Duration(i) * time.Second
		}
	}
	st := c.Status()
	if st.Counts.Calibrations != 0 || st.Counts.StateRefused != 0 || st.GainSource != GainRemembered || st.Checking {
		t.Errorf("status %+v", st)
	}
	if lockedAt < cfg.CalSegment || lockedAt > 3*time.Minute {
		t.Errorf("locked after %v, want after the %v check and within 3 min", lockedAt, cfg.CalSegment)
	}
	got, ok := c.Learned()
	if !ok || got.Code != code || got.GainPPBPerLSB != gain || math.Abs(got.FreqPPB) > 0.5 || got.MaxCode != 4095 {
		t.Errorf("Learned() = %+v, %v", got, ok)
	}
}

// A learned state this oscillator contradicts (its frequency at the learned code is 40 ppb off) is refused
// after the check segment, and the controller calibrates from the centre code.
func TestDACControllerRefusesContradictedState(t *testing.T) {
	cfg := DefaultDACConfig()
	cfg.MaxCode = 4095
	cfg.NoSync = true
	cfg.Learned = DACLearned{"mcp4725", 4095, 2048 - 125, 0.2, 0.002, 0, 0.5, learnedAt}.Aged(learnedAt)
	c, _, err := NewDACController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	theta, code := 0.0, cfg.Learned.Code
	at := learnedAt
	for i := 1; i <= 120; i++ {
		theta += (65 + 0.2*(float64(code)-2048)) * 1e-9
		at = at.Add(time.Second)
		if cmd := c.Sample(DACSample{At: at, Phase: -seconds(theta)}); cmd.Write {
			code = cmd.Code
		}
		if c.State() == DACCalibrating {
			break
		}
	}
	st := c.Status()
	if st.Counts.StateRefused != 1 || st.State != DACCalibrating || st.GainSource != GainUnknown || st.EverLocked {
		t.Errorf("status %+v", st)
	}
	if code != 2048+cfg.CalStep && code != 2048+(4095/8) {
		t.Errorf("code %d: want the calibration's first segment", code)
	}
}

func FuzzDecodeDACLearned(f *testing.F) {
	f.Add([]byte("gpsntp-dac/1 ad5693r 65535 33012 0.0122 0.0003 -0.01 0.04 1795348800\n"))
	f.Add([]byte("gpsntp-dac/1 mcp4725 4095 0 -0.5 0 100000 0 2085978496\n"))
	f.Add([]byte("gpsntp-dac/1 x 255 255 1e-300 0 0 0 1\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeDACLearned(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptDACState) {
				t.Fatalf("error %v does not wrap ErrCorruptDACState", err)
			}
			return
		}
		out, err := EncodeDACLearned(l)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", l, err)
		}
		back, err := DecodeDACLearned(out)
		if err != nil || back != l {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v, %v", b, l, out, back, err)
		}
	})
}
