package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"path/filepath"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/discipline/dacosc"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/statefile"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/pps/gpiocdev"
)

// dacOptions are the flags of the optional DAC-steered oscillator (issue 4): its DAC on I2C, the GPIO line
// capturing its divided 1PPS, and the tuning slope if known.
type dacOptions struct {
	device string // -dac PART@BUS:ADDR[,opts]
	pps    string // -dac-pps CHIP:LINE
	gain   float64

	spec     dacosc.Spec
	line     dacosc.LineSpec
	stateDir string // where the DAC state file lives (-state-dir)
}

// register adds -dac, -dac-pps and -dac-gain to fs.
func (d *dacOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&d.device, "dac", "", "DAC tuning an external oscillator, as PART@BUS:ADDR[,OPTS] (mcp4725@/dev/i2c-1:0x60, ad5693r@i2c-1:0x4c,gain2)")
	fs.StringVar(&d.pps, "dac-pps", "", "GPIO line capturing the DAC-steered oscillator's divided 1PPS, as CHIP:LINE (e.g. gpiochip0:17)")
	fs.Float64Var(&d.gain, "dac-gain", 0, "the oscillator's tuning slope in ppb per DAC step (LSB); 0 calibrates it at start")
}

// validate checks the DAC flags against the others (o.sim: the simulator has no DAC oscillator; the loop
// needs the GPS pulse).
func (d *dacOptions) validate(o *options) error {
	if d.device == "" {
		switch {
		case d.pps != "":
			return errors.New("flag -dac-pps needs -dac (the DAC tuning the oscillator)")
		case d.gain != 0:
			return errors.New("flag -dac-gain needs -dac")
		}
		return nil
	}
	spec, err := dacosc.ParseDAC(d.device)
	if err != nil {
		return fmt.Errorf("invalid value %q for flag -dac: %w", d.device, err)
	}
	d.spec = spec
	if d.pps == "" {
		return errors.New("flag -dac needs -dac-pps (the GPIO line of the oscillator's 1PPS)")
	}
	line, err := dacosc.ParseLine(d.pps)
	if err != nil {
		return fmt.Errorf("invalid value %q for flag -dac-pps: %w", d.pps, err)
	}
	d.line = line
	d.stateDir = o.stateDir
	if math.IsNaN(d.gain) || math.IsInf(d.gain, 0) || math.Abs(d.gain) > 1e6 {
		return fmt.Errorf("invalid value %v for flag -dac-gain: ppb per LSB, within ±1e6 (0: calibrate)", d.gain)
	}
	switch {
	case o.sim:
		return errors.New("flags -sim and -dac exclude each other: the simulator has no DAC oscillator")
	case o.ppsGPIO == "" && o.ppsDevice == "":
		return errors.New("flag -dac needs a GPS PPS source (-pps-gpio or -pps-device) to steer the oscillator to")
	case o.ppsGPIO != "" && sameLine(o.ppsGPIO, line):
		return fmt.Errorf("flags -dac-pps and -pps-gpio name the same line %s", line)
	}
	return nil
}

// sameLine says whether a -pps-gpio value names line.
func sameLine(ppsGPIO string, line dacosc.LineSpec) bool {
	l, err := gpiocdev.ParseLine(ppsGPIO)
	return err == nil && l.Chip == line.Chip && l.Offset == line.Offset
}

// edgeLine is an opened GPIO line delivering edges (gpiocdev.Line; a fake in tests).
type edgeLine interface {
	Run(ctx context.Context, out chan<- timebase.Edge) error
	Close() error
	Realtime() bool
}

// dacOpeners open the hardware: the I2C DAC and the oscillator's PPS line.
type dacOpeners struct {
	dac  func(dacosc.Spec) (dacosc.DAC, io.Closer, error)
	line func(dacosc.LineSpec) (edgeLine, error)
}

// hardwareDAC opens the real devices.
var hardwareDAC = dacOpeners{
	dac: dacosc.OpenDevice,
	line: func(l dacosc.LineSpec) (edgeLine, error) {
		// Rising edges only: the divided output's rising edge is on time, and a line's events are the same
		// GPIO line events (with the kernel's timestamps) as the GPS PPS capture's.
		return gpiocdev.Open(gpiocdev.LineSpec{Chip: l.Chip, Offset: l.Offset}, gpiocdev.Rising, "gpsntpd-osc")
	},
}

// dacSetup is an opened DAC loop: the daemon's configuration, the edge capture to run, what to close.
type dacSetup struct {
	cfg      daemon.DACConfig
	part     dacosc.Part
	stateDir string
	name     string // for the status page: the -dac spec
	ppsName  string
	steerer  *dacosc.Steerer
	run      func(ctx context.Context, out chan<- timebase.Edge) error
	close    func()
}

// openDAC opens the DAC and the oscillator's PPS line the flags name, and builds the controller's
// configuration: the part's range, the gain if given, no divider sync (no part here drives a reload line,
// so the controller re-phases in software), and a PPSBias of 0 (the oscillator is steered to the GPS pulse
// as captured: -pps-bias then corrects both the same way).
func openDAC(d dacOptions, open dacOpeners) (*dacSetup, error) {
	dac, bus, err := open.dac(d.spec)
	if err != nil {
		return nil, fmt.Errorf("DAC %s: %w", d.spec, err)
	}
	line, err := open.line(d.line)
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("oscillator PPS GPIO %s: %w", d.line, err)
	}
	if !line.Realtime() {
		log.Printf("gpsntpd: oscillator PPS %s: the kernel timestamps GPIO events on the monotonic clock only; mapping to realtime", d.line)
	}
	cc := discipline.DefaultDACConfig()
	cc.MaxCode = dac.MaxCode()
	cc.GainPPBPerLSB = d.gain
	cc.NoSync = true
	if err := cc.Validate(); err != nil {
		line.Close()
		bus.Close()
		return nil, fmt.Errorf("DAC %s: %w", d.spec, err)
	}
	if d.stateDir != "" {
		var note string
		cc.Learned, note = loadDACState(d.stateDir, d.spec.Part, cc, timebase.Instant(time.Now().UnixNano()))
		if note != "" {
			log.Printf("gpsntpd: %s", note)
		}
	}
	st := dacosc.NewSteerer(dac)
	return &dacSetup{
		cfg:      daemon.DACConfig{Controller: cc, Steer: st},
		part:     d.spec.Part,
		stateDir: d.stateDir,
		name:     d.spec.String(),
		ppsName:  "gpio " + d.line.String(),
		steerer:  st,
		run:      line.Run,
		close:    func() { line.Close(); bus.Close() },
	}, nil
}

// dacStatus is the /api/status dac section from the daemon's view; nil without a DAC loop.
func dacStatus(v *daemon.View, ds *dacSetup) *status.DAC {
	d := v.DAC
	if d == nil || ds == nil {
		return nil
	}
	s := &status.DAC{
		Device:           ds.name,
		PPS:              ds.ppsName,
		Writes:           ds.steerer.Writes(),
		State:            d.State.String(),
		Code:             d.Code,
		GainPPBPerLSB:    d.GainPPBPerLSB,
		GainErrPPBPerLSB: d.GainErrPPB,
		GainSource:       d.GainSource.String(),
		Checking:         d.Checking,
		Calibrations:     d.Counts.Calibrations,
		StateRefused:     d.Counts.StateRefused,
		FrequencyPPB:     d.FreqPPB,
		PhaseOffsetS:     d.Phase.Seconds(),
		SoftwareOffsetS:  d.Offset.Seconds(),
		Following:        d.Following,
		FollowingSince:   status.Time(d.FollowingSince),
		Pairs:            d.Pairs,
		Outliers:         d.Counts.Outliers,
	}
	if d.BoundOK {
		b := d.Bound.Seconds()
		s.BoundS = &b
	}
	if d.Err != nil {
		s.Error = d.Err.Error()
	}
	return s
}

// dacStateFile is the DAC state file's name in the state directory, next to the drift file: the learned
// code, gain and frequency (discipline.DACLearned), so that a restart skips the calibration.
const dacStateFile = "gpsntp.dac"

// loadDACState reads the DAC state file in dir and checks it against the part and the controller's range.
// It returns the state to resume from (zero: calibrate) and a line for the log: none for a missing file,
// what is resumed, or why the file is ignored (a corrupt file, another part, a code out of range). The
// state's frequency uncertainty is widened for the time since it was written (DACLearned.Aged).
func loadDACState(dir string, part dacosc.Part, cc discipline.DACConfig, now timebase.Instant) (discipline.DACLearned, string) {
	path := filepath.Join(dir, dacStateFile)
	b, err := statefile.Read(path, discipline.MaxDACStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return discipline.DACLearned{}, ""
	}
	ignored := func(err error) (discipline.DACLearned, string) {
		return discipline.DACLearned{}, fmt.Sprintf("DAC state file %s ignored (calibrating instead): %v", path, err)
	}
	if err != nil {
		return ignored(err)
	}
	l, err := discipline.DecodeDACLearned(b)
	if err != nil {
		return ignored(err)
	}
	if err := l.Check(string(part), cc); err != nil {
		return ignored(err)
	}
	l = l.Aged(now)
	cc.Learned = l
	if err := cc.Validate(); err != nil {
		return ignored(err)
	}
	return l, fmt.Sprintf("DAC state file: resuming at code %d, gain %.6g ppb/LSB, frequency %+.3g ppb ±%.3g (saved %s); checking it instead of calibrating",
		l.Code, l.GainPPBPerLSB, l.FreqPPB, l.FreqErrPPB, l.Written)
}

// saveDACState writes what the DAC loop has learned, if anything, to the state file (atomically: a power
// cut leaves the old state or the new one). It reports whether it wrote.
func (ds *dacSetup) saveDACState(v *daemon.View, now timebase.Instant) (bool, error) {
	if v.DAC == nil || !v.DAC.LearnedOK {
		return false, nil
	}
	l := v.DAC.Learned
	l.Model, l.Written = string(ds.part), now.Truncate(time.Second)
	b, err := discipline.EncodeDACLearned(l)
	if err != nil {
		return false, fmt.Errorf("DAC state: %w", err)
	}
	if err := statefile.WriteAtomic(ds.stateDir, dacStateFile, b, 0o644); err != nil {
		return false, fmt.Errorf("DAC state: %w", err)
	}
	return true, nil
}

// keepDACState saves the DAC state a minute after the loop first has something worth keeping (a power cut
// in the first hour then does not cost the calibration), hourly after that, and once more at shutdown.
func (ds *dacSetup) keepDACState(ctx context.Context, core *daemon.Core, clock timebase.Clock) {
	var last timebase.Instant
	save := func(force bool) {
		now := clock.Now()
		if !force && last != 0 && now.Sub(last) < time.Hour {
			return
		}
		ok, err := ds.saveDACState(core.View(), now)
		if err != nil {
			log.Printf("gpsntpd: %v", err)
		}
		if ok {
			last = now
		}
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			save(true)
			return
		case <-t.C:
			save(false)
		}
	}
}
