package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/discipline/adjtimex"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/statefile"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/pps"
	"github.com/gpsntp/gpsntp/pps/gpiocdev"
	"github.com/gpsntp/gpsntp/pps/kpps"
)

// ppsSource is a configured pulse capture: it runs until ctx ends, sending edges.
type ppsSource struct {
	name string
	run  func(ctx context.Context, out chan<- timebase.Edge) error
	stop func() error
}

// openPPS opens the capture the flags name: a GPIO line (the appliance: the gokrazy Pi kernel has no
// pps-gpio driver) or an RFC 2783 device (kernels that have one). It returns nil when neither is set.
func openPPS(o *options) (*ppsSource, pps.Polarity, error) {
	switch {
	case o.ppsGPIO != "" && o.ppsDevice != "":
		return nil, 0, errors.New("flags -pps-gpio and -pps-device: give one PPS source, not both")
	case o.ppsGPIO != "":
		spec, err := gpiocdev.ParseLine(o.ppsGPIO)
		if err != nil {
			return nil, 0, fmt.Errorf("invalid value %q for flag -pps-gpio: %w", o.ppsGPIO, err)
		}
		mode, err := gpiocdev.ParseEdgeMode(o.ppsEdge)
		if err != nil {
			return nil, 0, fmt.Errorf("invalid value %q for flag -pps-edge: %w", o.ppsEdge, err)
		}
		line, err := gpiocdev.Open(spec, mode, "gpsntpd")
		if err != nil {
			return nil, 0, fmt.Errorf("PPS GPIO %s: %w", spec, err)
		}
		if !line.Realtime() {
			log.Printf("gpsntpd: PPS %s: the kernel timestamps GPIO events on the monotonic clock only; mapping to realtime", spec)
		}
		return &ppsSource{name: "gpio " + spec.String(), run: line.Run, stop: line.Close}, polarity(mode == gpiocdev.Both), nil
	case o.ppsDevice != "":
		sel, err := kpps.ParseEdgeSelect(o.ppsEdge)
		if err != nil {
			return nil, 0, fmt.Errorf("invalid value %q for flag -pps-edge: %w", o.ppsEdge, err)
		}
		dev, err := kpps.Open(o.ppsDevice)
		if err != nil {
			return nil, 0, fmt.Errorf("PPS device %s: %w", o.ppsDevice, err)
		}
		src, err := kpps.New(dev, sel)
		if err != nil {
			dev.Close()
			return nil, 0, fmt.Errorf("PPS device %s: %w", o.ppsDevice, err)
		}
		return &ppsSource{name: o.ppsDevice, run: src.Run, stop: dev.Close}, polarity(sel == kpps.Both), nil
	}
	return nil, 0, nil
}

// polarity tells the pairer which edges are on time: with both edges captured, the rising one (the
// receiver's pulse starts on time; its width is checked from the falling one).
func polarity(both bool) pps.Polarity {
	if both {
		return pps.RisingEdge
	}
	return pps.AnyEdge
}

// kernelClock is the board clock the appliance steers.
func kernelClock() timebase.Steerable { return adjtimex.New() }

// loadDrift returns the frequency correction saved by the last run, so a restart starts within a fraction
// of a ppm instead of tens. A missing file is normal on first boot; a corrupt one is reported and ignored.
func loadDrift(dir string) (d discipline.Drift, ok bool, note string) {
	d, err := statefile.LoadDrift(dir)
	switch {
	case err == nil:
		return d, true, fmt.Sprintf("drift file: starting at %+.3f ppm ±%.3f (saved %s)", d.FrequencyPPM, d.ErrorPPM, d.Written)
	case errors.Is(err, fs.ErrNotExist):
		return d, false, ""
	default:
		return d, false, fmt.Sprintf("drift file ignored: %v", err)
	}
}

// keepDrift saves the frequency correction while locked, hourly and once more at shutdown.
func keepDrift(ctx context.Context, dir string, core *daemon.Core, clock timebase.Clock) {
	save := func() {
		v := core.View()
		if !v.DriftOK {
			return
		}
		d := discipline.Drift{FrequencyPPM: v.DriftPPM, ErrorPPM: v.DriftErrPPM, Written: clock.Now().Truncate(time.Second)}
		if err := statefile.SaveDrift(dir, d); err != nil {
			log.Printf("gpsntpd: drift file: %v", err)
		}
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-t.C:
			save()
		}
	}
}
