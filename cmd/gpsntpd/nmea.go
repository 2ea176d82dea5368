package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// nmeaOptions are the -nmea-* flags: time from the receiver's sentences when no PPS is wired.
type nmeaOptions struct {
	on                 bool
	delay, uncertainty time.Duration
	byteTiming         string // auto, on, off
}

func (n *nmeaOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&n.on, "nmea-time", false, "without a PPS source, time the seconds by the receiver's sentences (millisecond time, served with a root dispersion that says so)")
	fs.DurationVar(&n.delay, "nmea-delay", 200*time.Millisecond, "-nmea-time: mean lag of the receiver's first byte behind the second it names")
	fs.DurationVar(&n.uncertainty, "nmea-uncertainty", 300*time.Millisecond, "-nmea-time: bound on the error of -nmea-delay, added to the root dispersion served")
	fs.StringVar(&n.byteTiming, "nmea-byte-timing", "auto", "-nmea-time: work each byte's arrival back from its read at -gps-baud (on: a UART that hands bytes over as they come; off: USB and virtual lines deliver bursts; auto: on for ttyAMA*, ttyS*, serial0/1)")
}

// byteTime is the per-character time the decoder works arrival times back with (see gps.Options.ByteTime):
// right for a UART, whose reads return as characters come at the line speed, and wrong for USB receivers
// and virtual lines, which hand over a whole burst at once (the correction would then date it up to a
// burst's length too early).
func (n *nmeaOptions) byteTime(device string, baud int) time.Duration {
	on := n.byteTiming == "on"
	if n.byteTiming == "auto" {
		base := filepath.Base(device)
		on = strings.HasPrefix(base, "ttyAMA") || strings.HasPrefix(base, "ttyS") || base == "serial0" || base == "serial1"
	}
	if !on || baud <= 0 {
		return 0
	}
	return 10 * time.Second / time.Duration(baud)
}

func (n *nmeaOptions) validate(o *options) error {
	if !n.on {
		return nil
	}
	switch {
	case o.sim:
		return errors.New("flags -nmea-time and -sim exclude each other: the simulator has a PPS")
	case o.ppsGPIO != "" || o.ppsDevice != "":
		return errors.New("flag -nmea-time is for boxes without PPS; -pps-gpio/-pps-device give better time")
	case o.gps.device == "":
		return errors.New("flag -nmea-time needs -gps-device: the sentences are the reference")
	case n.delay < 0 || n.delay >= time.Second:
		return fmt.Errorf("invalid value %v for flag -nmea-delay: must be 0..1s", n.delay)
	case n.uncertainty <= 0 || n.uncertainty > time.Second:
		return fmt.Errorf("invalid value %v for flag -nmea-uncertainty: must be in (0, 1s]", n.uncertainty)
	case n.byteTiming != "auto" && n.byteTiming != "on" && n.byteTiming != "off":
		return fmt.Errorf("invalid value %q for flag -nmea-byte-timing: want auto, on or off", n.byteTiming)
	}
	return nil
}
