package scenario

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// The leap scenarios put one leap second into the world (sim.LeapConfig) and give the daemon a leap table;
// the run is scored on POSIX time (a correct clock repeats 23:59:59) and summarised by a leap.Recorder.
//
//	leap-2016       2016-12-31 insertion; the built-in table lists it; the receiver (u-blox, NAV-TIMELS and
//	                PUBX,04) announces it too and names the leap second 23:59:60.
//	leap-delete     a synthetic deletion at the end of September 2027, in a synthetic leap-seconds.list and
//	                announced by the receiver.
//	leap-gps-only   an insertion at the end of 2027 announced by the receiver only: the built-in table has
//	                expired (2027-06-28), so the GPS broadcast is followed.
//	leap-file-only  an insertion at the end of June 2027 listed only in a (synthetic, valid) table; the receiver
//	                says nothing about leap seconds (NMEA only) and repeats 23:59:59.
//	leap-disagree   the same table, and a receiver announcing the leap for the end of July instead; the table
//	                wins (it covers that instant) with an event-disagree warning; the receiver sends nothing
//	                for the leap second itself.

// leapAfter is how long a leap scenario runs on after the leap second.
const leapAfter = 5 * time.Minute

var (
	leapInsert2016 = timebase.Date(2017, time.January, 1, 0, 0, 0, 0)
	leapDelete2027 = timebase.Date(2027, time.October, 1, 0, 0, 0, 0)
	leapInsert2027 = timebase.Date(2027, time.July, 1, 0, 0, 0, 0)
	leapGPS2027    = timebase.Date(2028, time.January, 1, 0, 0, 0, 0)
)

func leapSpecs() []Spec {
	mk := func(name, summary string, build func(seed uint64, d time.Duration) (Setup, error)) Spec {
		return Spec{Name: name, Summary: summary, DefaultDuration: 20 * time.Minute, MinDuration: 10 * time.Minute, build: build}
	}
	return []Spec{
		mk("leap-2016", "2016-12-31 leap second: built-in table and receiver (NAV-TIMELS, PUBX,04, 23:59:60) agree",
			func(seed uint64, d time.Duration) (Setup, error) {
				return leapSetup(seed, d, leap.Builtin(), sim.LeapConfig{At: leapInsert2016, Change: 1, Label: sim.LeapSixty, Report: true, GPSMinusUTC: 17})
			}),
		mk("leap-delete", "synthetic leap second deletion 2027-09-30 in a leap-seconds.list, announced by the receiver too",
			func(seed uint64, d time.Duration) (Setup, error) {
				t, err := SyntheticTable(leap.Entry{At: leapDelete2027, TAIMinusUTC: 36}, timebase.Date(2027, 3, 1, 0, 0, 0, 0), timebase.Date(2028, 6, 28, 0, 0, 0, 0))
				if err != nil {
					return Setup{}, err
				}
				return leapSetup(seed, d, t, sim.LeapConfig{At: leapDelete2027, Change: -1, Report: true, GPSMinusUTC: 18})
			}),
		mk("leap-gps-only", "insertion 2027-12-31 announced by GPS only: the built-in table expired on 2027-06-28",
			func(seed uint64, d time.Duration) (Setup, error) {
				return leapSetup(seed, d, leap.Builtin(), sim.LeapConfig{At: leapGPS2027, Change: 1, Label: sim.LeapSixty, Report: true, GPSMinusUTC: 18})
			}),
		mk("leap-file-only", "insertion 2027-06-30 in a valid leap-seconds.list only; NMEA-only receiver repeats 23:59:59",
			func(seed uint64, d time.Duration) (Setup, error) {
				t, err := fileOnlyTable()
				if err != nil {
					return Setup{}, err
				}
				return leapSetup(seed, d, t, sim.LeapConfig{At: leapInsert2027, Change: 1, Label: sim.LeapRepeat})
			}),
		mk("leap-disagree", "table: insertion 2027-06-30; receiver announces 2027-07-31: the table wins, with a warning",
			func(seed uint64, d time.Duration) (Setup, error) {
				t, err := fileOnlyTable()
				if err != nil {
					return Setup{}, err
				}
				return leapSetup(seed, d, t, sim.LeapConfig{At: leapInsert2027, Change: 1, Label: sim.LeapSkip, Report: true, GPSMinusUTC: 18,
					AnnounceAt: timebase.Date(2027, time.August, 1, 0, 0, 0, 0)})
			}),
	}
}

func fileOnlyTable() (*leap.Table, error) {
	return SyntheticTable(leap.Entry{At: leapInsert2027, TAIMinusUTC: 38}, timebase.Date(2027, 1, 6, 0, 0, 0, 0), timebase.Date(2027, 12, 28, 0, 0, 0, 0))
}

// leapSetup is the base box, started so that a run of d ends leapAfter after the leap, with a receiver that
// gets its fix within seconds and talks at 38400 baud (room for NAV-TIMELS and PUBX,04).
func leapSetup(seed uint64, d time.Duration, table *leap.Table, lc sim.LeapConfig) (Setup, error) {
	su := base(seed)
	su.Sim.Start = lc.At.Add(-(d - leapAfter))
	su.Sim.Receiver.ColdStartNoFix = 5 * time.Second
	su.Sim.Receiver.ColdStartNoTime = 2 * time.Second
	su.Sim.Receiver.Baud = 38400
	su.Sim.Receiver.ChunkBytes = 128 // a faster line hands over larger reads; fewer events to simulate
	su.Sim.Leap = lc
	su.Leap = table
	su.GPS = gps.Options{Floor: lc.At.Add(-366 * 24 * time.Hour)}
	return su, nil
}

// SyntheticTable is the built-in leap table's history plus one entry, as a leap-seconds.list with the given
// update and expiry times and a valid hash, parsed by leap.Parse: the tables of leap seconds that have not
// (yet) been decided, for the scenarios and tests.
func SyntheticTable(extra leap.Entry, updated, expiry timebase.Instant) (*leap.Table, error) {
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
	t, err := leap.Parse(strings.NewReader(b.String()))
	if err != nil {
		return nil, fmt.Errorf("SyntheticTable(%v): %w", extra, err)
	}
	return t, nil
}

// kernelFlag is the board clock's leap flag in the leap package's terms.
func kernelFlag(li timebase.LeapIndicator) leap.KernelFlag {
	switch li {
	case timebase.LeapInsert:
		return leap.KernelInsert
	case timebase.LeapDelete:
		return leap.KernelDelete
	}
	return leap.KernelNone
}

// posixError is the served clock's error against UTC at truth u: its reading minus the POSIX time of u.
// Within two seconds of the leap, the board applies it at its own midnight, nanoseconds off truth's; a
// reading on the other side of the step is compared with the POSIX time on that side.
func posixError(lc sim.LeapConfig, u, board timebase.Instant) time.Duration {
	p, _ := lc.POSIX(u)
	e := board.Sub(p)
	if lc.Has() && time.Duration(u-lc.At).Abs() <= 2*time.Second {
		for _, alt := range []time.Duration{e - time.Second, e + time.Second} {
			if alt.Abs() < e.Abs() {
				e = alt
			}
		}
	}
	return e
}
