package main

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestParseThermal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"51540\n", 51.54, true},
		{"51540", 51.54, true},
		{"-5250\n", -5.25, true},
		{"0\n", 0, true},
		{"1000000\n", 1000, true},
		{"", 0, false},
		{"\n", 0, false},
		{"51.5\n", 0, false},
		{" 51540\n", 0, false},
		{"51540\n\n\n", 51.54, true},
		{"abc\n", 0, false},
		{"-273151\n", 0, false},
		{"1000001\n", 0, false},
		{"99999999999999999999\n", 0, false},
	} {
		got, err := parseThermal([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseThermal(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseThermal(f *testing.F) {
	for _, s := range []string{"51540\n", "-5250", "", "1e3\n", "0x10\n", "+42000\n", "999999999999\n", sim.Millidegrees(47.123)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseThermal(b)
		if err != nil {
			return
		}
		if math.IsNaN(c) || c < -273.15 || c > 1000 {
			t.Fatalf("parseThermal(%q) = %v: out of range", b, c)
		}
		// What the kernel would write for that temperature parses back to it.
		again, err := parseThermal([]byte(sim.Millidegrees(c)))
		if err != nil || again != c {
			t.Fatalf("round trip of %v via %q: %v, %v", c, sim.Millidegrees(c), again, err)
		}
	})
}

// The reader hands good readings over stamped by the board clock, counts failures and carries on.
func TestTempSourceRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "temp")
	if err := os.WriteFile(path, []byte("51540\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := fileTemp(path)
	calls := 0
	out := make(chan daemon.TempReading, 1)
	src := &tempSource{name: path, every: time.Millisecond, out: out,
		stamp: func() timebase.Instant { return 42 },
		read: func() (float64, error) {
			calls++
			if calls%2 == 0 {
				return 0, errors.New("bad read")
			}
			return file()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.run(ctx) }()
	for range 3 {
		select {
		case r := <-out:
			if r.At != 42 || r.Celsius != 51.54 {
				t.Errorf("reading %+v, want 51.54 °C at 42", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reading")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if src.errs.Load() < 2 {
		t.Errorf("errors counted %d, want at least 2", src.errs.Load())
	}
	sec := src.section(&daemon.View{})
	if sec.LastError != "bad read" || sec.Sensor != path {
		t.Errorf("section %+v", sec)
	}
	if (*tempSource)(nil).section(&daemon.View{}) != nil {
		t.Error("no sensor must give no section")
	}
}

func TestTempSensorFlag(t *testing.T) {
	if _, err := parseFlags([]string{"-sim", "-temp-sensor", "/tmp/x"}, nil); !errors.Is(err, errSimTempPath) {
		t.Errorf("-sim with a file: %v, want errSimTempPath", err)
	}
	for _, v := range []string{"auto", "off"} {
		if _, err := parseFlags([]string{"-sim", "-temp-sensor", v}, nil); err != nil {
			t.Errorf("-sim -temp-sensor %s: %v", v, err)
		}
	}
	if p, err := hardwareTempPath("off"); p != "" || err != nil {
		t.Errorf("off: %q, %v", p, err)
	}
	if _, err := hardwareTempPath(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file must be an error")
	}
}
