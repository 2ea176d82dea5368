package discipline

import (
	"errors"
	"math"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestDriftRoundTrip(t *testing.T) {
	tests := []struct {
		d    Drift
		line string
	}{
		{Drift{-12.345678, 0.012, timebase.Date(2026, 11, 22, 12, 0, 0, 0)}, "-12.345678 0.012000 1795348800\n"},
		{Drift{500, 0, timebase.Date(2036, 2, 7, 6, 28, 16, 0)}, "500.000000 0.000000 2085978496\n"},
		{Drift{0.0000004, 3, 1e9}, "0.000000 3.000000 1\n"},
	}
	for _, tt := range tests {
		b, err := EncodeDrift(tt.d)
		if err != nil || string(b) != tt.line {
			t.Errorf("EncodeDrift(%+v) = %q, %v; want %q", tt.d, b, err, tt.line)
			continue
		}
		got, err := DecodeDrift(b)
		if err != nil || math.Abs(got.FrequencyPPM-tt.d.FrequencyPPM) > 1e-6 || got.ErrorPPM != tt.d.ErrorPPM || got.Written != tt.d.Written {
			t.Errorf("DecodeDrift(%q) = %+v, %v", b, got, err)
		}
	}
}

func TestDriftRefusesCorruptFiles(t *testing.T) {
	bad := []string{
		"",
		"\n",
		"-12.3 0.01 1795348800",          // truncated: no newline
		"-12.3 0.01\n",                   // a field missing
		"-12.3 0.01 1795348800 7\n",      // one too many
		"-12.3  0.01 1795348800\n",       // double space
		"x 0.01 1795348800\n",            // not a number
		"NaN 0.01 1795348800\n",          // not finite
		"600 0.01 1795348800\n",          // beyond the kernel's limit
		"1 -0.5 1795348800\n",            // negative error
		"1 0.5 0\n",                      // no time
		"1 0.5 -5\n",                     // before 1970
		"1 0.5 99999999999999999999\n",   // overflows
		"1 0.5 1795348800\n1 0.5 1795\n", // two lines
		"\x00\x00\x00\n",
	}
	for _, s := range bad {
		if d, err := DecodeDrift([]byte(s)); !errors.Is(err, ErrCorruptDrift) {
			t.Errorf("DecodeDrift(%q) = %+v, %v; want ErrCorruptDrift", s, d, err)
		}
	}
	if _, err := DecodeDrift(make([]byte, MaxDriftFile+1)); !errors.Is(err, ErrCorruptDrift) {
		t.Error("oversized file accepted")
	}
	if _, err := EncodeDrift(Drift{FrequencyPPM: math.Inf(1), Written: 1e9}); err == nil {
		t.Error("infinite frequency encoded")
	}
}

func FuzzDecodeDrift(f *testing.F) {
	f.Add([]byte("-12.345678 0.012000 1795348800\n"))
	f.Add([]byte("1e2 0x1p-2 1\n"))
	f.Add([]byte("500 500 9223372036\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDrift(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptDrift) {
				t.Fatalf("error %v does not wrap ErrCorruptDrift", err)
			}
			return
		}
		if math.Abs(d.FrequencyPPM) > 500 || d.ErrorPPM < 0 || d.Written <= 0 {
			t.Fatalf("accepted %+v", d)
		}
		enc, err := EncodeDrift(d)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", d, err)
		}
		d2, err := DecodeDrift(enc)
		if err != nil || math.Abs(d2.FrequencyPPM-d.FrequencyPPM) > 1e-6 || d2.Written != d.Written {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", d, enc, d2, err)
		}
	})
}
