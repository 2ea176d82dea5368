package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"

	"github.com/gpsntp/gpsntp/gps/serialdev"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// gpsOptions are the receiver's flags.
type gpsOptions struct {
	device    string
	baud      int
	configure bool
}

// register adds -gps-device, -gps-baud and -gps-configure to fs.
func (g *gpsOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&g.device, "gps-device", "", "serial device of the GPS receiver, e.g. /dev/ttyAMA0 or /dev/serial/by-id/... (empty: none)")
	fs.IntVar(&g.baud, "gps-baud", 0, "receiver line speed; 0 detects it among 4800..460800")
	fs.BoolVar(&g.configure, "gps-configure", true, "configure a u-blox receiver for timing: NAV-TIMEUTC, TIM-TP, NAV-TIMELS and NAV-SAT output, stationary model, 1 Hz UTC time pulse (RAM only)")
}

// validate checks the receiver flags; sim says whether -sim is set, which has a receiver of its own.
func (g *gpsOptions) validate(sim bool) error {
	if err := serialdev.CheckBaud(g.baud); err != nil {
		return fmt.Errorf("invalid value %d for flag -gps-baud: %w", g.baud, err)
	}
	if sim && g.device != "" {
		return errors.New("flags -sim and -gps-device exclude each other: the simulator is the receiver")
	}
	return nil
}

// receiver is the GPS serial edge wired to the daemon's byte channel.
type receiver struct {
	port *serialdev.Port
	out  chan<- daemon.Chunk
}

// newReceiver prepares the receiver's port; nothing is opened before Run. Reads are stamped with clock
// (the host's CLOCK_REALTIME, the clock the daemon disciplines) and sent to out as daemon.Chunk.
func newReceiver(g gpsOptions, clock timebase.Clock, out chan<- daemon.Chunk) (*receiver, error) {
	port, err := serialdev.New(serialdev.Config{
		Path:      g.device,
		Baud:      g.baud,
		Clock:     clock.Now,
		Configure: g.configure,
		Logf:      log.Printf,
	})
	if err != nil {
		return nil, err
	}
	return &receiver{port: port, out: out}, nil
}

// Run reads the receiver until ctx ends, reopening the device when it goes away; it returns nil then.
func (r *receiver) Run(ctx context.Context) error {
	return r.port.Run(ctx, func(data []byte, recv timebase.Instant) {
		select {
		case r.out <- daemon.Chunk{Data: data, Received: recv}:
		case <-ctx.Done():
		}
	})
}

// Status is the port's state (connected, baud, reconnects, configuration) for the status page.
func (r *receiver) Status() serialdev.Status { return r.port.Status() }
