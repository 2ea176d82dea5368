package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// The board's temperature sensor feeds the servo's holdover temperature compensation (see discipline).
//
// -temp-sensor auto (the default) reads /sys/class/thermal/thermal_zone0/temp in hardware mode when the file
// exists, and the simulator's own sensor in -sim. Default on, because the servo only steers by the sensor
// once its fit has earned trust (hours of samples over a temperature span, a coefficient known to 25 %, a
// residual that explains the data): a sensor that tells nothing about the crystal costs one sysfs read every
// tempEvery and changes nothing served. A path reads that file instead (another thermal zone, a sensor
// closer to the crystal); off (or "") reads none.
const (
	tempAuto    = "auto"
	thermalZone = "/sys/class/thermal/thermal_zone0/temp"
	tempEvery   = 2 * time.Second
)

// parseThermal parses a Linux thermal zone's temp file: a decimal integer of millidegrees Celsius, as
// "51540\n". Anything else, or a temperature outside [-273.15, 1000] °C, is an error.
func parseThermal(b []byte) (float64, error) {
	s := bytes.TrimRight(b, "\n")
	if len(s) == 0 || len(s) > 12 {
		return 0, fmt.Errorf("thermal reading %q: not a millidegree integer", b)
	}
	m, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("thermal reading %q: %w", b, err)
	}
	if m < -273150 || m > 1000000 {
		return 0, fmt.Errorf("thermal reading %q: %d m°C out of range", b, m)
	}
	return float64(m) / 1000, nil
}

// tempSource reads a temperature every tempEvery and hands it to the core, timestamped by the board clock.
// A read or parse that fails is counted and the next one tried: a sensor is never a reason to stop.
type tempSource struct {
	name  string
	read  func() (float64, error)   // the reading
	stamp func() timebase.Instant   // the board clock's time of a reading
	every time.Duration             // between readings
	out   chan<- daemon.TempReading // to the core
	errs  atomic.Uint64
	mu    sync.Mutex
	last  string // the last error
}

// fileTemp reads a thermal zone file.
func fileTemp(path string) func() (float64, error) {
	return func() (float64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		return parseThermal(b)
	}
}

func (t *tempSource) run(ctx context.Context) error {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		c, err := t.read()
		if err != nil {
			t.errs.Add(1)
			t.mu.Lock()
			t.last = err.Error()
			t.mu.Unlock()
		} else {
			select {
			case t.out <- daemon.TempReading{At: t.stamp(), Celsius: c}:
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// section is the status document's temperature section, from the core's view; nil without a sensor.
func (t *tempSource) section(v *daemon.View) *status.Temperature {
	if t == nil {
		return nil
	}
	f := v.Temp
	s := &status.Temperature{
		Sensor: t.name, Celsius: f.Celsius, Readings: f.Readings, Errors: t.errs.Load() + f.Rejected,
		CoeffPPMPerC: f.CoeffPPMPerC, CoeffSigmaPPMPerC: f.SigmaPPMPerC, Samples: f.Samples, SpanC: f.SpanC,
		ResidualPPB: f.ResidualPPB, Trusted: f.Trusted, Compensating: f.Compensating,
	}
	if f.Have {
		s.ReadAt = status.Time(f.At)
	}
	t.mu.Lock()
	s.LastError = t.last
	t.mu.Unlock()
	return s
}

// hardwareTempPath resolves -temp-sensor in hardware mode: "" for none.
func hardwareTempPath(flagValue string) (string, error) {
	switch flagValue {
	case "", "off":
		return "", nil
	case tempAuto:
		if _, err := os.Stat(thermalZone); err != nil {
			return "", nil
		}
		return thermalZone, nil
	}
	if _, err := os.Stat(flagValue); err != nil {
		return "", fmt.Errorf("flag -temp-sensor: %w", err)
	}
	return flagValue, nil
}

var errSimTempPath = errors.New("invalid value for flag -temp-sensor: -sim has its own sensor (auto) or none (off); a file would be another board's temperature")
