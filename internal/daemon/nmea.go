package daemon

import (
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// NMEATime makes the receiver's sentences the reference when no PPS is wired (a USB receiver, a HAT whose
// PPS pin is not connected, the VM): each second's sample is the arrival of the epoch's first byte, less
// Delay, against the second the sentences name. The arrival wanders by milliseconds (the receiver's
// output scheduling, the UART, the reading process) and its mean lag behind the second is the
// receiver's and the baud rate's, typically 50-500 ms and not knowable without a PPS to calibrate it.
// So the box serves this time honestly: stratum 1 with refid NMEA, and a root dispersion that always
// includes Uncertainty, the bound on how wrong Delay may be. A client like chrony weighs such a server
// accordingly; nobody is told it is microsecond time.
type NMEATime struct {
	Delay       time.Duration // mean lag of the first byte behind the second it names
	Uncertainty time.Duration // bound on the error of Delay, added to every root dispersion served
}

// Validate rejects settings that cannot describe a receiver.
func (n NMEATime) Validate() error {
	if n.Delay < 0 || n.Delay >= time.Second {
		return fmt.Errorf("daemon: NMEA delay %v: want 0..1s", n.Delay)
	}
	if n.Uncertainty <= 0 || n.Uncertainty > time.Second {
		return fmt.Errorf("daemon: NMEA uncertainty %v: want (0, 1s]", n.Uncertainty)
	}
	return nil
}

// NMEAServoConfig adapts a servo configuration to NMEA timing: millisecond samples, a lock that means
// "within tens of milliseconds" rather than a microsecond, and the NMEA refid.
func NMEAServoConfig(c discipline.Config) discipline.Config {
	c.MeasurementNoise = 5 * time.Millisecond
	c.PhaseNoise = 200 * time.Microsecond
	c.LockThreshold = 20 * time.Millisecond
	c.UnlockThreshold = 100 * time.Millisecond
	c.RefID = "NMEA"
	// The servo's stratum rule is written for microsecond time: its bound past 100 µs means "second-rate",
	// past 10 ms "unsynchronized". For NMEA time those are the normal and the doubtful case.
	c.HoldoverStratum1Limit = 50 * time.Millisecond
	c.HoldoverUnsyncLimit = 500 * time.Millisecond
	return c
}

// nmeaSample turns an on-second epoch's label into a servo sample: its time and the board clock's offset
// from the named second. ok is false for labels that cannot give one: invalid time, or a second not after
// the last one used (a repeated or backwards label is a receiver fault, not a measurement).
func (c *Core) nmeaSample(l timebase.TimeLabel) (at timebase.Instant, off time.Duration, ok bool) {
	if !l.Valid || l.Second == 0 || l.Received == 0 {
		return 0, 0, false
	}
	if c.nmeaLast != 0 && l.Second <= c.nmeaLast {
		return 0, 0, false // the decoder counts these (GPS repeats and time jumps in the status)
	}
	c.nmeaLast = l.Second
	at = l.Received - timebase.Instant(c.nmea.Delay)
	return at, time.Duration(at - l.Second), true
}

// withNMEAUncertainty widens a synchronized snapshot's root dispersion by the bound on the NMEA delay.
func (c *Core) withNMEAUncertainty(s *timebase.Snapshot) *timebase.Snapshot {
	if c.nmea == nil || s.Leap == timebase.LeapUnsync {
		return s
	}
	cp := *s
	cp.RootDispersion += c.nmea.Uncertainty
	return &cp
}
