// Package adjtimex is the kernel clock (CLOCK_REALTIME) as a timebase.Steerable: the discipline's commands
// become adjtimex(2) calls, and the kernel's status words tell other programs (chronyc, ntptime, the kernel's
// RTC sync) what the discipline knows.
//
// Our own loop steers; the kernel's PLL/FLL and hard-PPS discipline are never enabled (STA_PLL, STA_FLL,
// STA_PPSFREQ, STA_PPSTIME are cleared on every status write). The clock is driven by:
//
//   - frequency: ADJ_FREQUENCY, struct timex.freq in ppm scaled by 2^16, positive making the clock run faster,
//     clamped here to the kernel's ±500 ppm (MAXFREQ) so a wild command is a clear error, not a silent clamp;
//   - steps: ADJ_SETOFFSET|ADJ_NANO, which adds timex.time (seconds, and nanoseconds in the tv_usec field
//     because of ADJ_NANO, normalised to [0, 1e9)) to the clock atomically, without a read-modify-write race;
//   - status: STA_UNSYNC cleared when synchronised and set otherwise, timex.esterror and timex.maxerror in
//     microseconds (maxerror saturates at the kernel's 16 s NTP_PHASE_LIMIT); the kernel grows maxerror by
//     500 µs/s by itself between writes, a conservative bound for readers of ntp_adjtime;
//   - leap: STA_INS or STA_DEL armed for the end of the current UTC day (the leap package decides when).
//
// Every call goes through the one-method Syscall interface so tests run against a fake that fails on any call
// it did not expect: a test must never move the host's clock. Only a read (modes = 0) may touch the real
// kernel in a test.
package adjtimex

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Mode bits (struct timex.modes) and status bits (struct timex.status), from include/uapi/linux/timex.h.
const (
	AdjOffset    = 0x0001
	AdjFrequency = 0x0002
	AdjMaxError  = 0x0004
	AdjEstError  = 0x0008
	AdjStatus    = 0x0010
	AdjSetOffset = 0x0100
	AdjNano      = 0x2000

	StaPLL      = 0x0001
	StaPPSFreq  = 0x0002
	StaPPSTime  = 0x0004
	StaFLL      = 0x0008
	StaIns      = 0x0010
	StaDel      = 0x0020
	StaUnsync   = 0x0040
	StaFreqHold = 0x0080
	StaNano     = 0x2000
)

// MaxFrequencyPPM is the kernel's frequency limit (MAXFREQ, 500 ppm).
const MaxFrequencyPPM = 500

// maxErrorUS is the kernel's NTP_PHASE_LIMIT in microseconds (16 s): larger maxerror means unsynchronised.
const maxErrorUS = 16_000_000

// Timex is the part of struct timex this package uses.
type Timex struct {
	Modes    uint32
	Freq     int64 // ppm · 2^16
	MaxError int64 // µs
	EstError int64 // µs
	Status   int32
	TimeSec  int64 // ADJ_SETOFFSET: seconds to add
	TimeUsec int64 // ADJ_SETOFFSET: with ADJ_NANO, nanoseconds to add, in [0, 1e9)
	Tick     int64 // read only
}

// Syscall performs adjtimex(2) on CLOCK_REALTIME. It returns the kernel's clock state (TIME_OK, TIME_INS,
// ... TIME_ERROR) and fills t with the kernel's values after the call.
type Syscall interface {
	Adjtimex(t *Timex) (state int, err error)
}

// Clock steers the kernel clock. It is not safe for concurrent use (the servo owns it).
type Clock struct {
	sys Syscall
}

// NewWith returns a clock over sys.
func NewWith(sys Syscall) *Clock { return &Clock{sys: sys} }

var _ timebase.Steerable = (*Clock)(nil)

// ErrFrequencyRange is returned for a frequency beyond the kernel's limit.
var ErrFrequencyRange = errors.New("adjtimex: frequency beyond ±500 ppm")

// SetFrequency sets the frequency correction (positive: the clock runs faster).
func (c *Clock) SetFrequency(ppm float64) error {
	if math.IsNaN(ppm) || math.Abs(ppm) > MaxFrequencyPPM {
		return fmt.Errorf("adjtimex: ADJ_FREQUENCY %g ppm: %w", ppm, ErrFrequencyRange)
	}
	t := Timex{Modes: AdjFrequency, Freq: int64(math.Round(ppm * 65536))}
	if _, err := c.sys.Adjtimex(&t); err != nil {
		return fmt.Errorf("adjtimex: ADJ_FREQUENCY %g ppm: %w", ppm, err)
	}
	return nil
}

// Step moves the clock by d at once.
func (c *Clock) Step(d time.Duration) error {
	sec := int64(d / time.Second)
	nsec := int64(d % time.Second)
	if nsec < 0 {
		sec--
		nsec += int64(time.Second)
	}
	t := Timex{Modes: AdjSetOffset | AdjNano, TimeSec: sec, TimeUsec: nsec}
	if _, err := c.sys.Adjtimex(&t); err != nil {
		return fmt.Errorf("adjtimex: ADJ_SETOFFSET %v: %w", d, err)
	}
	return nil
}

// statusMask is what a status write replaces: sync, and the kernel disciplines we keep off.
const statusMask = StaUnsync | StaPLL | StaFLL | StaPPSFreq | StaPPSTime | StaFreqHold

// SetStatus publishes sync state and error bounds.
func (c *Clock) SetStatus(synced bool, estError, maxError time.Duration) error {
	cur, err := c.read()
	if err != nil {
		return fmt.Errorf("adjtimex: SetStatus: %w", err)
	}
	status := cur.Status &^ statusMask
	if !synced {
		status |= StaUnsync
	}
	t := Timex{
		Modes:    AdjStatus | AdjEstError | AdjMaxError,
		Status:   status,
		EstError: micros(estError),
		MaxError: micros(maxError),
	}
	if _, err := c.sys.Adjtimex(&t); err != nil {
		return fmt.Errorf("adjtimex: ADJ_STATUS %#x esterror %dµs maxerror %dµs: %w", status, t.EstError, t.MaxError, err)
	}
	return nil
}

// SetLeap arms (LeapInsert, LeapDelete) or disarms (anything else) the kernel's leap second at the end of the
// current UTC day.
func (c *Clock) SetLeap(li timebase.LeapIndicator) error {
	cur, err := c.read()
	if err != nil {
		return fmt.Errorf("adjtimex: SetLeap: %w", err)
	}
	status := cur.Status &^ (StaIns | StaDel | StaPLL | StaFLL | StaPPSFreq | StaPPSTime)
	switch li {
	case timebase.LeapInsert:
		status |= StaIns
	case timebase.LeapDelete:
		status |= StaDel
	}
	t := Timex{Modes: AdjStatus, Status: status}
	if _, err := c.sys.Adjtimex(&t); err != nil {
		return fmt.Errorf("adjtimex: ADJ_STATUS leap %v (%#x): %w", li, status, err)
	}
	return nil
}

// State is the kernel clock's state as adjtimex reports it.
type State struct {
	ClockState   int // TIME_OK 0, TIME_INS 1, TIME_DEL 2, TIME_OOP 3, TIME_WAIT 4, TIME_ERROR 5
	FrequencyPPM float64
	Status       int32
	MaxError     time.Duration
	EstError     time.Duration
	Tick         int64
}

// Synced reports whether STA_UNSYNC is clear.
func (s State) Synced() bool { return s.Status&StaUnsync == 0 }

// Read queries the kernel without changing anything (modes = 0).
func (c *Clock) Read() (State, error) {
	var t Timex
	st, err := c.sys.Adjtimex(&t)
	if err != nil {
		return State{}, fmt.Errorf("adjtimex: read: %w", err)
	}
	return State{
		ClockState:   st,
		FrequencyPPM: float64(t.Freq) / 65536,
		Status:       t.Status,
		MaxError:     time.Duration(t.MaxError) * time.Microsecond,
		EstError:     time.Duration(t.EstError) * time.Microsecond,
		Tick:         t.Tick,
	}, nil
}

func (c *Clock) read() (Timex, error) {
	var t Timex
	if _, err := c.sys.Adjtimex(&t); err != nil {
		return Timex{}, fmt.Errorf("read status: %w", err)
	}
	return t, nil
}

// micros converts to whole microseconds, rounding up (an error bound is never understated) and saturating at
// the kernel's 16 s limit.
func micros(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	us := int64((d + time.Microsecond - 1) / time.Microsecond)
	return min(us, maxErrorUS)
}
