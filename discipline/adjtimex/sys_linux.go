//go:build linux

package adjtimex

import "golang.org/x/sys/unix"

// New returns the kernel clock. Changing it needs CAP_SYS_TIME.
func New() *Clock { return NewWith(kernel{}) }

type kernel struct{}

func (kernel) Adjtimex(t *Timex) (int, error) {
	// struct timex's longs are 32 bits on 32-bit targets; set converts to whichever the target has.
	k := unix.Timex{Modes: t.Modes, Status: t.Status}
	set(&k.Freq, t.Freq)
	set(&k.Maxerror, t.MaxError)
	set(&k.Esterror, t.EstError)
	set(&k.Time.Sec, t.TimeSec)
	set(&k.Time.Usec, t.TimeUsec)
	st, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &k)
	if err != nil {
		return st, err
	}
	*t = Timex{
		Modes: k.Modes, Freq: int64(k.Freq), MaxError: int64(k.Maxerror), EstError: int64(k.Esterror),
		Status: k.Status, TimeSec: int64(k.Time.Sec), TimeUsec: int64(k.Time.Usec), Tick: int64(k.Tick),
	}
	return st, nil
}

func set[T ~int32 | ~int64](dst *T, v int64) { *dst = T(v) }
