package daemon

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// These tests drive the real Core (gps decoder, PPS pairer, servo) across a leap second inserted by a
// kernel-like board clock, with hand-made receiver output, in virtual time. The internal/sim world has no
// leap second model (its truth is leap-free POSIX time and its receiver sends no 23:59:60), so the world
// here is small and explicit: a perfect oscillator steered by the servo, the Linux leap rule applied to it
// (STA_INS armed by leap.Controller, as the daemon is to do it), and a receiver whose leap-second behaviour
// is a parameter.

// leapBoard is the board clock: uniform (leap-free) time u reads u + koff + off, where off is the servo's
// steering (steps and frequency) and koff the kernel's leap seconds.
type leapBoard struct {
	now     timebase.Instant // uniform time of the call in progress
	last    timebase.Instant
	off     float64 // seconds
	ppm     float64 // the servo's correction
	osc     float64 // the oscillator's own frequency error, ppm
	koff    timebase.Instant
	flag    leap.KernelFlag
	waiting bool             // TIME_WAIT: applied, flag not yet cleared
	oopEnd  timebase.Instant // uniform end of the inserted second
	applied int
}

func (b *leapBoard) kernel(u timebase.Instant) timebase.Instant {
	return u + b.koff + timebase.Instant(b.off*1e9)
}

// advance moves the board to uniform u, applying frequency and, as Linux does at the first midnight its own
// clock crosses with STA_INS or STA_DEL armed, the leap second.
func (b *leapBoard) advance(u timebase.Instant) {
	if u <= b.last {
		return
	}
	p0 := b.kernel(b.last)
	b.off += (b.ppm + b.osc) * 1e-6 * u.Sub(b.last).Seconds()
	b.last = u
	p1 := b.kernel(u)
	if b.flag == leap.KernelNone {
		b.waiting = false
	}
	if b.waiting {
		return
	}
	next := p0.Truncate(24*time.Hour) + 86400*timebase.Second
	switch {
	case b.flag == leap.KernelInsert && p1 >= next:
		b.oopEnd = u - (p1 - next) + timebase.Second
		b.koff -= timebase.Second
		b.applied, b.waiting = b.applied+1, true
	case b.flag == leap.KernelDelete && p1 >= next-timebase.Second:
		b.koff += timebase.Second
		b.applied, b.waiting = b.applied+1, true
	}
}

func (b *leapBoard) Step(d time.Duration) error { b.advance(b.now); b.off += d.Seconds(); return nil }
func (b *leapBoard) SetFrequency(ppm float64) error {
	b.advance(b.now)
	b.ppm = ppm
	return nil
}
func (b *leapBoard) SetStatus(bool, time.Duration, time.Duration) error { return nil }

// SetLeap arms the kernel's leap flag, as adjtimex's STA_INS and STA_DEL do.
func (b *leapBoard) SetLeap(li timebase.LeapIndicator) error {
	b.advance(b.now)
	switch li {
	case timebase.LeapInsert:
		b.flag = leap.KernelInsert
	case timebase.LeapDelete:
		b.flag = leap.KernelDelete
	default:
		b.flag = leap.KernelNone
	}
	return nil
}

// receiverLeap is how the simulated receiver labels the seconds around an inserted leap second.
type receiverLeap int

const (
	rxSixty    receiverLeap = iota // names the leap second 23:59:60 (u-blox, most timing receivers)
	rxRepeat59                     // names it 23:59:59 again, as POSIX does
	rxSilent                       // sends nothing for the leap second
)

func rmc(posix timebase.Instant, sixty bool) []byte {
	t := posix.Time()
	h, m, s := t.Clock()
	if sixty {
		s = 60
	}
	body := fmt.Sprintf("GPRMC,%02d%02d%02d.00,A,4807.038,N,01131.000,E,0.0,,%02d%02d%02d,,,A", h, m, s, t.Day(), int(t.Month()), t.Year()%100)
	cs := byte(0)
	for i := 0; i < len(body); i++ {
		cs ^= body[i]
	}
	return fmt.Appendf(nil, "$%s*%02X\r\n", body, cs)
}

type leapRunResult struct {
	lockedBefore  bool
	stepsAcross   uint64
	maxOffset     time.Duration // largest |servo offset| published while crossing
	maxDispersion time.Duration // largest root dispersion served while crossing
	lostLock      bool
	applied       int
	li            leap.Summary
}

// runCoreAcross runs Core from 40 minutes before ev to 5 minutes after, with the leap.Controller arming the
// board's kernel flag and choosing the published LI, the way the daemon is to do it.
func runCoreAcross(t *testing.T, ev leap.Event, table *leap.Table, mode receiverLeap) leapRunResult {
	t.Helper()
	b := &leapBoard{}
	var last *timebase.Snapshot
	// The decoder's week-rollover floor defaults to the build era; a 2016 scenario must lower it.
	gcfg := gps.Options{Floor: ev.At - 365*86400*timebase.Second}
	core, err := NewCore(Config{GPS: gcfg, Leap: table, Publish: func(s *timebase.Snapshot) { last = s }}, b)
	if err != nil {
		t.Fatal(err)
	}
	var rec leap.Recorder
	var res leapRunResult

	start := ev.At - 40*timebase.Instant(time.Minute)
	end := ev.At + 5*timebase.Instant(time.Minute)
	b.last = start
	b.off = 0.0123 // the board starts 12.3 ms off: the servo must step once, before the leap
	b.osc = 3.7    // and runs 3.7 ppm fast
	crossFrom, crossTo := ev.At-timebase.Instant(time.Minute), ev.At+2*timebase.Instant(time.Minute)
	var stepsAtCross uint64
	seq := uint64(0)
	const tick = 100 * time.Millisecond
	for u := start; u < end; u = u.Add(tick) {
		b.now = u
		b.advance(u)
		board := b.kernel(u)
		// The receiver: a pulse at each uniform second, its sentence 120 ms later.
		if u%timebase.Second == 0 {
			seq++
			core.Edge(timebase.Edge{Time: board, Seq: seq, Rising: true})
		}
		if u%timebase.Second == timebase.Instant(100*time.Millisecond) {
			sec := u - timebase.Instant(100*time.Millisecond)
			posix, repeat := leap.POSIXFromUniform(ev, sec)
			switch {
			case repeat && mode == rxSilent:
			case repeat && mode == rxSixty:
				core.Bytes(rmc(posix, true), b.kernel(u.Add(20*time.Millisecond)))
			default:
				core.Bytes(rmc(posix, false), b.kernel(u.Add(20*time.Millisecond)))
			}
		}
		core.Tick(board)

		// The Core's own leap wiring arms the board: the receiver says nothing about leap seconds here (RMC
		// only), so the table alone announces it.
		v := core.View()
		snap := v.Snapshot
		rec.Observe(u, board, 0, snap.Leap, b.flag, v.Leap.Warnings)

		if u == crossFrom {
			res.lockedBefore = snap.State == timebase.StateLocked
			stepsAtCross = core.View().Steps
		}
		if u >= crossFrom && u < crossTo && last != nil {
			// The samples right around the leap are dropped on purpose, so a few seconds of holdover at
			// stratum 1 are honest; falling back to locking (LI=3) or stepping is not.
			if snap.State != timebase.StateLocked && snap.State != timebase.StateHoldover {
				res.lostLock = true
			}
			res.maxOffset = max(res.maxOffset, snap.Offset.Abs())
			res.maxDispersion = max(res.maxDispersion, last.RootDispersionAt(board))
		}
	}
	res.stepsAcross = core.View().Steps - stepsAtCross
	res.applied = b.applied
	res.li = rec.Summary()
	return res
}

// deletionTable is the built-in history plus a synthetic leap second deletion at the end of September 2027,
// as a hash-verified leap-seconds.list.
func deletionTable(t *testing.T) (*leap.Table, leap.Event) {
	t.Helper()
	at := timebase.Date(2027, 10, 1, 0, 0, 0, 0)
	ntp := func(i timebase.Instant) int64 { s, _ := i.Unix(); return s + timebase.NTPEpochOffset }
	var b strings.Builder
	h := sha1.New()
	upd, exp := ntp(timebase.Date(2027, 3, 1, 0, 0, 0, 0)), ntp(timebase.Date(2028, 6, 28, 0, 0, 0, 0))
	fmt.Fprintf(&b, "#$\t%d\n#@\t%d\n", upd, exp)
	fmt.Fprintf(h, "%d%d", upd, exp)
	entries := append(leap.Builtin().Entries(), leap.Entry{At: at, TAIMinusUTC: 36})
	for _, e := range entries {
		fmt.Fprintf(&b, "%d\t%d\n", ntp(e.At), e.TAIMinusUTC)
		fmt.Fprintf(h, "%d%d", ntp(e.At), e.TAIMinusUTC)
	}
	sum := h.Sum(nil)
	fmt.Fprintf(&b, "#h\t%x %x %x %x %x\n", sum[0:4], sum[4:8], sum[8:12], sum[12:16], sum[16:20])
	tb, err := leap.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return tb, leap.Event{At: at, Change: -1, TAIMinusUTC: 36}
}

func TestCoreAcrossLeapSecond(t *testing.T) {
	ins := leap.Event{At: timebase.Date(2017, 1, 1, 0, 0, 0, 0), Change: 1, TAIMinusUTC: 37}
	delTable, del := deletionTable(t)
	for _, tt := range []struct {
		name  string
		ev    leap.Event
		table *leap.Table
		mode  receiverLeap
	}{
		{"2016 insertion, receiver names 23:59:60", ins, leap.Builtin(), rxSixty},
		{"2016 insertion, receiver repeats 23:59:59", ins, leap.Builtin(), rxRepeat59},
		{"2016 insertion, receiver silent for the leap second", ins, leap.Builtin(), rxSilent},
		{"synthetic deletion", del, delTable, rxSixty},
	} {
		ev := tt.ev
		r := runCoreAcross(t, ev, tt.table, tt.mode)
		if !r.lockedBefore {
			t.Fatalf("%s: not locked a minute before the leap", tt.name)
		}
		if r.applied != 1 {
			t.Errorf("%s: the kernel applied %d leap seconds, want 1", tt.name, r.applied)
		}
		if r.stepsAcross != 0 || r.lostLock {
			t.Errorf("%s: the servo stepped %d times / lost lock %v across the leap: it took the kernel's leap for a clock error", tt.name, r.stepsAcross, r.lostLock)
		}
		if r.maxOffset > 10*time.Microsecond {
			t.Errorf("%s: offset reached %v across the leap", tt.name, r.maxOffset)
		}
		if r.maxDispersion > time.Millisecond {
			t.Errorf("%s: served root dispersion reached %v across the leap", tt.name, r.maxDispersion)
		}
		s := r.li
		wantLI := timebase.LeapInsert
		lastSecond := ev.At - timebase.Second // the repeated 23:59:59
		if ev.Change < 0 {
			wantLI, lastSecond = timebase.LeapDelete, ev.At-2*timebase.Second // 23:59:59 does not exist
		}
		// The run starts 40 minutes before the leap, inside the leap day: LI from the first synced reading.
		if s.LI != wantLI || s.LIFirst == 0 || s.LIFirst > ev.At-timebase.Instant(35*time.Minute) || s.LIChanged {
			t.Errorf("%s: LI summary %+v", tt.name, s.JSON())
		}
		if s.LILast < lastSecond || s.LILast >= lastSecond+timebase.Second {
			t.Errorf("%s: LI last served at %s, want within the second from %s", tt.name, s.LILast, lastSecond)
		}
		wantFlag := leap.KernelInsert
		if ev.Change < 0 {
			wantFlag = leap.KernelDelete
		}
		if s.KernelFlag != wantFlag || s.KernelCleared < ev.At || s.KernelCleared > ev.At+timebase.Second {
			t.Errorf("%s: kernel flag %v cleared at %s", tt.name, s.KernelFlag, s.KernelCleared)
		}
		back, fwd := s.MaxBackward, s.MaxForward
		if ev.Change < 0 {
			back, fwd = fwd, back
		}
		if back < 999*time.Millisecond || back > 1001*time.Millisecond || fwd > time.Millisecond {
			t.Errorf("%s: board time jumped back %v, forward %v; want one 1 s jump", tt.name, s.MaxBackward, s.MaxForward)
		}
		t.Logf("%s: offset ≤ %v, dispersion ≤ %v, %+v", tt.name, r.maxOffset, r.maxDispersion, s.JSON())
	}
}
