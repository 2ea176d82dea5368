package daemon

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// checkNoLeap holds a run in which no leap second happens to: LI 0 and no kernel flag whenever synced,
// nothing applied, served time UTC within a microsecond once settled, no jump, no step.
func checkNoLeap(t *testing.T, w *leapWatch) {
	t.Helper()
	if w.lockedAt == 0 {
		t.Fatal("never synchronized")
	}
	if len(w.liWrong) > 0 || len(w.flagWrong) > 0 {
		t.Errorf("LI wrong %q; kernel flag wrong %q", firstN(w.liWrong, 3), firstN(w.flagWrong, 3))
	}
	if len(w.applied) != 0 || len(w.jumps) != 0 || w.steps != 0 {
		t.Errorf("board applied %+v, served time jumped %v, servo stepped %d times", w.applied, w.jumps, w.steps)
	}
	if w.maxErr > time.Microsecond {
		t.Errorf("served time off UTC by up to %v", w.maxErr)
	}
}

// A receiver announcing a leap second in the middle of a month: rejected as absurd, nothing scheduled.
func TestLeapSimAbsurdAnnouncementNotAtMonthEnd(t *testing.T) {
	mid := timebase.Date(2026, time.December, 15, 0, 0, 0, 0)
	lc := sim.LeapConfig{Report: true, GPSMinusUTC: 18, AnnounceAt: mid, AnnounceChange: 1}
	l := newLeapLoop(t, leapWorld(11, lc, mid, 4*time.Minute), leap.Builtin())
	w := watchLeap(l, lc, leap.Event{}, false, 6*time.Minute)
	checkNoLeap(t, w)
	if !w.saw(leap.WarnAbsurd) {
		t.Error("the mid-month announcement was not flagged as absurd")
	}
	if d := l.core.View().Leap; d.HasNext {
		t.Errorf("a leap second is scheduled: %+v", d.Next)
	}
}

// A receiver announcing a leap of two seconds at a month end: NAV-TIMELS cannot carry it as valid, the
// decoder rejects the message (counted as malformed), and nothing is scheduled.
func TestLeapSimAbsurdAnnouncementTwoSeconds(t *testing.T) {
	at := timebase.Date(2027, time.January, 1, 0, 0, 0, 0)
	lc := sim.LeapConfig{Report: true, GPSMinusUTC: 18, AnnounceAt: at, AnnounceChange: 2}
	l := newLeapLoop(t, leapWorld(12, lc, at, 4*time.Minute), leap.Builtin())
	w := watchLeap(l, lc, leap.Event{}, false, 6*time.Minute)
	checkNoLeap(t, w)
	if n := l.core.View().GPS.UBXMalformed; n < 300 {
		t.Errorf("%d malformed UBX messages counted, want every NAV-TIMELS (about 355)", n)
	}
	if d := l.core.View().Leap; d.HasNext {
		t.Errorf("a leap second is scheduled: %+v", d.Next)
	}
}

// A receiver that announced a leap second (the table has expired, so GPS is the only source) loses its
// almanac two minutes before it, and from then on reports its firmware default GPS-UTC and no leap. The
// leap second must still be served and applied exactly.
func TestLeapSimReceiverForgetsAfterColdStart(t *testing.T) {
	at := timebase.Date(2028, time.January, 1, 0, 0, 0, 0)
	lc := sim.LeapConfig{At: at, Change: 1, Label: sim.LeapSixty, Report: true, GPSMinusUTC: 18,
		ForgetFrom: at.Add(-2 * time.Minute), FirmwareDefault: 18}
	ev := leap.Event{At: at, Change: 1}
	l := newLeapLoop(t, leapWorld(13, lc, at, 4*time.Minute), leap.Builtin())
	w := watchLeap(l, lc, ev, true, 6*time.Minute)
	checkLeapWatch(t, w, ev)
	if !w.saw(leap.WarnTableExpired) {
		t.Error("the expired table was not flagged")
	}
	// What the daemon says of the receiver after the cold start. The gps decoder keeps the leap information
	// last read from the sky and ignores firmware defaults (gps/ubx.go setLeapCurrent), so the announcement
	// survives in the decoder; leap.Tracker's memory would keep it too (WarnForgotten).
	v := l.core.View()
	t.Logf("receiver after its cold start: %+v; warnings %v", v.Epoch.Leap, v.Leap.Warnings)
}
