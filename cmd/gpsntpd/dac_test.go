package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/discipline/dacosc"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestDACFlags(t *testing.T) {
	hw := []string{"-pps-gpio", "gpiochip0:18"}
	with := func(extra ...string) []string { return append(append([]string{}, hw...), extra...) }
	for _, c := range []struct {
		args []string
		want string // "" means valid
	}{
		{with(), ""},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17"), ""},
		{with("-dac", "ad5693r@i2c-1:0x4c,gain2", "-dac-pps", "/dev/gpiochip0:17", "-dac-gain", "0.0122"), ""},
		{with("-dac", "mcp4725@/dev/i2c-1:0x70", "-dac-pps", "gpiochip0:17"), "-dac"},
		{with("-dac", "lm317@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17"), "-dac"},
		{with("-dac", "mcp4725", "-dac-pps", "gpiochip0:17"), "-dac"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60"), "-dac-pps"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0"), "-dac-pps"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:18"), "-dac-pps and -pps-gpio"},
		{with("-dac-pps", "gpiochip0:17"), "-dac-pps needs -dac"},
		{with("-dac-gain", "0.01"), "-dac-gain needs -dac"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17", "-dac-gain", "NaN"), "-dac-gain"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17", "-dac-gain", "2e6"), "-dac-gain"},
		{with("-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17", "-dac-gain", "x"), "-dac-gain"},
		{[]string{"-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17"}, "GPS PPS source"},
		{[]string{"-sim", "-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17"}, "-sim and -dac"},
	} {
		o, err := parseFlags(c.args, io.Discard)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.want == "":
			if o.dac.device != "" && (o.dac.spec.Part == "" || o.dac.line.Chip == "") {
				t.Errorf("%v: parsed %+v", c.args, o.dac)
			}
		case err == nil:
			t.Errorf("%v: accepted, want an error naming %s", c.args, c.want)
		case !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: %q, want one line naming %s", c.args, err, c.want)
		}
	}
}

// fakeDAC is a 12-bit part that records its codes.
type fakeDAC struct {
	codes []uint32
	fail  error
}

func (f *fakeDAC) SetCode(c uint32) error {
	if f.fail != nil {
		return f.fail
	}
	f.codes = append(f.codes, c)
	return nil
}
func (f *fakeDAC) MaxCode() uint32 { return 4095 }
func (f *fakeDAC) String() string  { return "fake@0x60" }

type closeCount struct{ n *int }

func (c closeCount) Close() error { *c.n++; return nil }

type fakeLine struct {
	closed *int
	edges  []timebase.Edge
}

func (l fakeLine) Run(ctx context.Context, out chan<- timebase.Edge) error {
	for _, e := range l.edges {
		out <- e
	}
	<-ctx.Done()
	return nil
}
func (l fakeLine) Close() error   { *l.closed++; return nil }
func (l fakeLine) Realtime() bool { return true }

func TestOpenDACWithFakes(t *testing.T) {
	o, err := parseFlags([]string{"-pps-gpio", "gpiochip0:18", "-dac", "mcp4725@i2c-1:0x61", "-dac-pps", "gpiochip0:17", "-dac-gain", "0.2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var busClosed, lineClosed int
	dac := &fakeDAC{}
	var gotSpec dacosc.Spec
	var gotLine dacosc.LineSpec
	open := dacOpeners{
		dac: func(s dacosc.Spec) (dacosc.DAC, io.Closer, error) {
			gotSpec = s
			return dac, closeCount{&busClosed}, nil
		},
		line: func(l dacosc.LineSpec) (edgeLine, error) {
			gotLine = l
			return fakeLine{closed: &lineClosed, edges: []timebase.Edge{{Time: 1e18, Seq: 1, Rising: true}}}, nil
		},
	}
	ds, err := openDAC(o.dac, open)
	if err != nil {
		t.Fatal(err)
	}
	if gotSpec.Bus != "/dev/i2c-1" || gotSpec.Addr != 0x61 || gotLine.Chip != "/dev/gpiochip0" || gotLine.Offset != 17 {
		t.Errorf("opened %v and %v", gotSpec, gotLine)
	}
	cc := ds.cfg.Controller
	if cc.MaxCode != 4095 || cc.GainPPBPerLSB != 0.2 || !cc.NoSync || ds.cfg.Steer == nil {
		t.Errorf("controller config %+v", cc)
	}
	// The daemon writes the controller's first code (mid-scale) through the setup's steer, and the status
	// section reports the loop.
	core, err := daemon.NewCore(daemon.Config{DAC: ds.cfg}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dac.codes) != 1 || dac.codes[0] != 2048 {
		t.Errorf("codes written %v, want [2048]", dac.codes)
	}
	st := dacStatus(core.View(), ds)
	if st == nil || st.State != "acquiring" || st.Code != 2048 || st.Writes != 1 || st.BoundS != nil ||
		st.Device != "mcp4725@/dev/i2c-1:0x61" || st.PPS != "gpio /dev/gpiochip0:17" {
		t.Errorf("status %+v", st)
	}
	// The setup's run delivers the line's edges.
	ch := make(chan timebase.Edge, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ds.run(ctx, ch) }()
	if e := <-ch; e.Seq != 1 || e.Time != 1e18 {
		t.Errorf("edge %+v", e)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if dacStatus(core.View(), nil) != nil {
		t.Error("a status section without a DAC setup")
	}
	ds.close()
	if busClosed != 1 || lineClosed != 1 {
		t.Errorf("close: bus closed %d, line closed %d times", busClosed, lineClosed)
	}

	// Failures name the device and release what was opened.
	busClosed = 0
	open.line = func(dacosc.LineSpec) (edgeLine, error) { return nil, errors.New("line busy") }
	if _, err := openDAC(o.dac, open); err == nil || !strings.Contains(err.Error(), "gpiochip0:17") || busClosed != 1 {
		t.Errorf("line failure: %v (bus closed %d)", err, busClosed)
	}
	open.dac = func(dacosc.Spec) (dacosc.DAC, io.Closer, error) { return nil, nil, errors.New("no ack") }
	if _, err := openDAC(o.dac, open); err == nil || !strings.Contains(err.Error(), "mcp4725@/dev/i2c-1:0x61") {
		t.Errorf("DAC failure: %v", err)
	}
	// A part that fails its first write fails the daemon's start with the reason.
	ds2, err := openDAC(o.dac, dacOpeners{
		dac: func(dacosc.Spec) (dacosc.DAC, io.Closer, error) {
			return &fakeDAC{fail: errors.New("nack")}, closeCount{&busClosed}, nil
		},
		line: func(dacosc.LineSpec) (edgeLine, error) { return fakeLine{closed: &lineClosed}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.NewCore(daemon.Config{DAC: ds2.cfg}, nullSteer{}); err == nil || !strings.Contains(err.Error(), "nack") {
		t.Errorf("first write failure: %v", err)
	}
}

// The DAC state file: saved from the daemon's view, loaded and checked at start; anything wrong with it is
// one log line and a calibration, never a failure to start.
func TestDACStateFile(t *testing.T) {
	dir := t.TempDir()
	now := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	cc := discipline.DefaultDACConfig()
	cc.MaxCode = 4095
	cc.NoSync = true
	if l, note := loadDACState(dir, dacosc.PartMCP4725, cc, now); l != (discipline.DACLearned{}) || note != "" {
		t.Errorf("no file: %+v, %q", l, note)
	}
	ds := &dacSetup{part: dacosc.PartMCP4725, stateDir: dir}
	if ok, err := ds.saveDACState(&daemon.View{DAC: &daemon.DACView{}}, now); ok || err != nil {
		t.Errorf("saved %v (%v) with nothing learned", ok, err)
	}
	learned := discipline.DACLearned{MaxCode: 4095, Code: 1900, GainPPBPerLSB: 0.2, GainErrPPB: 0.01, FreqPPB: -0.3, FreqErrPPB: 0.2}
	v := &daemon.View{DAC: &daemon.DACView{Learned: learned, LearnedOK: true}}
	if ok, err := ds.saveDACState(v, now.Add(1234567)); !ok || err != nil {
		t.Fatalf("save: %v, %v", ok, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, dacStateFile))
	if err != nil || string(b) != "gpsntp-dac/1 mcp4725 4095 1900 0.2 0.01 -0.3 0.2 1795348800\n" {
		t.Fatalf("state file %q, %v", b, err)
	}
	l, note := loadDACState(dir, dacosc.PartMCP4725, cc, now.Add(24*time.Hour))
	if l.Code != 1900 || l.GainPPBPerLSB != 0.2 || l.FreqErrPPB <= 0.2 || !strings.Contains(note, "resuming at code 1900") {
		t.Errorf("load: %+v, %q", l, note)
	}
	for _, c := range []struct {
		name, content string
		part          dacosc.Part
		want          string
	}{
		{"another part", string(b), dacosc.PartAD5693R, "for a mcp4725"},
		{"corrupt", "gpsntp-dac/1 mcp4725 4095 1900 0.2 0.01 -0.3\n", dacosc.PartMCP4725, "corrupt DAC state"},
		{"torn", string(b[:20]), dacosc.PartMCP4725, "corrupt DAC state"},
		{"code beyond the part", "gpsntp-dac/1 mcp4725 65535 40000 0.2 0.01 -0.3 0.2 1795348800\n", dacosc.PartMCP4725, "full scale 65535"},
		{"too large", strings.Repeat("x", 4096), dacosc.PartMCP4725, "larger than"},
	} {
		if err := os.WriteFile(filepath.Join(dir, dacStateFile), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		l, note := loadDACState(dir, c.part, cc, now)
		if l != (discipline.DACLearned{}) || !strings.Contains(note, "ignored") || !strings.Contains(note, c.want) {
			t.Errorf("%s: %+v, %q; want ignored naming %q", c.name, l, note, c.want)
		}
	}

	// openDAC resumes from a good state in -state-dir: the daemon's first write is the learned code.
	if err := os.WriteFile(filepath.Join(dir, dacStateFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-state-dir", dir, "-pps-gpio", "gpiochip0:18", "-dac", "mcp4725@i2c-1:0x61", "-dac-pps", "gpiochip0:17"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var closed int
	dac := &fakeDAC{}
	ds2, err := openDAC(o.dac, dacOpeners{
		dac:  func(dacosc.Spec) (dacosc.DAC, io.Closer, error) { return dac, closeCount{&closed}, nil },
		line: func(dacosc.LineSpec) (edgeLine, error) { return fakeLine{closed: &closed}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.close()
	core, err := daemon.NewCore(daemon.Config{DAC: ds2.cfg}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dac.codes) != 1 || dac.codes[0] != 1900 {
		t.Errorf("codes written %v, want the learned 1900", dac.codes)
	}
	if st := dacStatus(core.View(), ds2); st.GainSource != "remembered" || st.GainPPBPerLSB != 0.2 || st.GainErrPPBPerLSB != 0.01 {
		t.Errorf("status %+v", st)
	}
	// The keeper saves at shutdown (here: nothing learned yet, so the file is left as it was).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ds2.keepDACState(ctx, core, fixedClock(now))
	if b2, err := os.ReadFile(filepath.Join(dir, dacStateFile)); err != nil || string(b2) != string(b) {
		t.Errorf("state file after a shutdown with nothing learned: %q, %v", b2, err)
	}
}
