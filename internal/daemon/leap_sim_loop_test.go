package daemon

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// The leap_sim tests run the real Core against internal/sim with a leap second in the world: uniform truth,
// a receiver that labels and (optionally) announces the leap, and a board clock that applies it as Linux does
// when the Core arms it through timebase.LeapClock. They check, second by second of truth, what a client
// would get: the Leap Indicator served, the served (board) time against UTC, and the kernel flag the board
// holds.

// leapWorld is the default box around a leap second: started lead before it, with a receiver that has a fix
// within seconds and talks fast enough for NAV-TIMELS and PUBX,04.
func leapWorld(seed uint64, lc sim.LeapConfig, at timebase.Instant, lead time.Duration) sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Seed = seed
	cfg.Start = at.Add(-lead)
	cfg.Receiver.ColdStartNoFix = 5 * time.Second
	cfg.Receiver.ColdStartNoTime = 2 * time.Second
	cfg.Receiver.Baud = 38400
	cfg.Receiver.ChunkBytes = 128 // fewer, larger reads: the test is about seconds, not serial timing
	cfg.Leap = lc
	return cfg
}

// newLeapLoop is newLoop with a leap table and a decoder floor below the world's start.
func newLeapLoop(t *testing.T, cfg sim.Config, table *leap.Table) *loop {
	t.Helper()
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &loop{t: t, w: w, shadow: shadow, cur: w.Now()}
	core, err := NewCore(Config{
		GPS:     gps.Options{Floor: cfg.Start.Add(-366 * 24 * time.Hour)},
		Leap:    table,
		PPSBias: cfg.PPS.Bias + cfg.PPS.CaptureLatencyMean,
		Publish: func(s *timebase.Snapshot) { l.last = s },
	}, w.Board().Steerable(func() timebase.Instant { return l.cur }))
	if err != nil {
		t.Fatal(err)
	}
	l.core = core
	return l
}

// leapSimTable is the built-in history plus one entry, as a hash-verified leap-seconds.list.
func leapSimTable(t *testing.T, extra leap.Entry, updated, expiry timebase.Instant) *leap.Table {
	t.Helper()
	ntp := func(i timebase.Instant) int64 { s, _ := i.Unix(); return s + timebase.NTPEpochOffset }
	var b strings.Builder
	h := sha1.New()
	upd, exp := ntp(updated), ntp(expiry)
	fmt.Fprintf(&b, "#$\t%d\n#@\t%d\n", upd, exp)
	fmt.Fprintf(h, "%d%d", upd, exp)
	for _, e := range append(leap.Builtin().Entries(), extra) {
		fmt.Fprintf(&b, "%d\t%d\n", ntp(e.At), e.TAIMinusUTC)
		fmt.Fprintf(h, "%d%d", ntp(e.At), e.TAIMinusUTC)
	}
	sum := h.Sum(nil)
	fmt.Fprintf(&b, "#h\t%x %x %x %x %x\n", sum[0:4], sum[4:8], sum[8:12], sum[12:16], sum[16:20])
	tb, err := leap.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// leapWatch is what a run across a leap second looked like, second by second.
type leapWatch struct {
	lockedAt timebase.Instant // first second served as synchronized
	steps    uint64           // clock steps after lockedAt + 1 min (the servo's)
	maxErr   time.Duration    // largest |served − UTC| from a minute after sync (at the leap: see watchLeap)
	// largest |served − UTC| in the first minute of sync, while the servo settles
	maxErrSettling time.Duration
	jumps          []time.Duration // served-time jumps (against truth's second) larger than 1 ms
	liWrong        []string        // seconds at which the LI served was not the one the schedule calls for
	// seconds right after a deletion at which LI=2 was still served (see watchLeap)
	liStaleAfterDelete []string
	flagWrong          []string // seconds at which the board's kernel flag was not the expected one
	rec                leap.Recorder
	warnings           map[leap.WarningKind]bool
	applied            []sim.LeapApplied
}

func (w *leapWatch) saw(k leap.WarningKind) bool { return w.warnings[k] }

// watchLeap runs l for d and checks each second of truth u against ev (the leap second the world has, or
// none): the LI served must be 1 or 2 for a board reading in the leap day and 0 otherwise once synced; the
// board must hold the kernel flag for the leap day and not otherwise; served time must be UTC (POSIX, with
// 23:59:59 repeated); the caller judges the figures.
func watchLeap(l *loop, lc sim.LeapConfig, ev leap.Event, has bool, d time.Duration) *leapWatch {
	w := &leapWatch{warnings: map[leap.WarningKind]bool{}}
	var prevBoard, prevTruth timebase.Instant
	var stepsAt uint64
	const edge = time.Millisecond // readings this close to a boundary are not judged
	l.run(d, func(u timebase.Instant, _ time.Duration) {
		v := l.core.View()
		board := l.w.Board().At(u)
		posix, _ := lc.POSIX(u)
		li := l.last.Leap
		flag, _ := l.w.Board().LeapState()
		for _, wn := range v.Leap.Warnings {
			w.warnings[wn.Kind] = true
		}
		synced := li != timebase.LeapUnsync
		if synced && w.lockedAt == 0 {
			w.lockedAt = u
		}
		served := board
		if w.lockedAt == 0 {
			served = posix
		}
		w.rec.Observe(u, served, 0, li, kernelFlagOf(flag), v.Leap.Warnings)
		if w.lockedAt == 0 {
			return
		}
		if u == w.lockedAt+timebase.Instant(time.Minute) {
			stepsAt = v.Steps
		}
		if u > w.lockedAt+timebase.Instant(time.Minute) {
			w.steps = v.Steps - stepsAt
		}
		// Expected LI and flag from the board's own reading (the kernel's view).
		wantLI, wantFlag := timebase.LeapNone, timebase.LeapNone
		nearEdge := false
		if has {
			start, end := ev.Day()
			if board >= start && board < end {
				wantLI, wantFlag = timebase.LeapInsert, timebase.LeapInsert
				if ev.Change < 0 {
					wantLI, wantFlag = timebase.LeapDelete, timebase.LeapDelete
				}
			}
			nearEdge = board.Sub(start).Abs() < edge || board.Sub(end).Abs() < edge
		}
		switch {
		case li == wantLI:
		case has && ev.Change < 0 && li == timebase.LeapDelete && board >= ev.At && board < ev.At+timebase.Second:
			// The kernel jumped from 23:59:59 to 00:00:00 under the Core, which was woken for 00:00:00 on the
			// old scale (its timer could not know), so the LI published before the jump is still out until
			// its next tick. Counted apart, and bounded by checkLeapWatch.
			w.liStaleAfterDelete = append(w.liStaleAfterDelete, fmt.Sprintf("%s (board %s)", u, board))
		case nearEdge:
		default:
			w.liWrong = append(w.liWrong, fmt.Sprintf("%s (board %s): LI %d, want %d", u, board, li, wantLI))
		}
		if !nearEdge && flag != wantFlag {
			w.flagWrong = append(w.flagWrong, fmt.Sprintf("%s (board %s): flag %v, want %v", u, board, flag, wantFlag))
		}
		// Served time against UTC. Right at the leap the board steps at its own midnight, nanoseconds off
		// truth's: a reading on the other side of the step is compared with POSIX time on that side.
		e := board.Sub(posix)
		if has && u.Sub(ev.At).Abs() <= 2*time.Second {
			for _, alt := range []time.Duration{e - time.Second, e + time.Second} {
				if alt.Abs() < e.Abs() {
					e = alt
				}
			}
		}
		if u >= w.lockedAt+timebase.Instant(time.Minute) {
			w.maxErr = max(w.maxErr, e.Abs()) // after a minute of lock: the servo's transient is over
		} else {
			w.maxErrSettling = max(w.maxErrSettling, e.Abs())
		}
		if prevTruth != 0 {
			if j := board.Sub(prevBoard) - u.Sub(prevTruth); j.Abs() > time.Millisecond {
				w.jumps = append(w.jumps, j)
			}
		}
		prevBoard, prevTruth = board, u
	})
	_, w.applied = l.w.Board().LeapState()
	return w
}

func kernelFlagOf(li timebase.LeapIndicator) leap.KernelFlag {
	switch li {
	case timebase.LeapInsert:
		return leap.KernelInsert
	case timebase.LeapDelete:
		return leap.KernelDelete
	}
	return leap.KernelNone
}

// firstN keeps failure messages short.
func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}
