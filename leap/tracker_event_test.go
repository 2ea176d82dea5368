package leap

import (
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// An epoch whose label was not valid carries the receiver's announced change but no instant for it. That
// is not a receiver forgetting the leap: the announcement stays, with no warning.
func TestTrackerKeepsAnnouncementWithoutInstant(t *testing.T) {
	table := Builtin()
	now := table.Expiry().Add(24 * 3600e9) // past the table: the receiver's word counts (rule 3)
	at := timebase.Date(2028, 1, 1, 0, 0, 0, 0)
	full := Receiver{Known: true, Current: 18, Source: "NAV-TIMELS", ChangeKnown: true, Change: 1, Event: at, EventKnown: true}
	var tr Tracker
	d := tr.Update(table, full, now)
	if !d.HasNext || d.Next.At != at || d.Next.Change != 1 {
		t.Fatalf("announcement not taken: %+v", d)
	}
	partial := full
	partial.EventKnown, partial.Event = false, 0
	d = tr.Update(table, partial, now.Add(1e9))
	if !d.HasNext || d.Next.At != at {
		t.Errorf("announcement dropped when an epoch named no instant: %+v", d)
	}
	if d.Has(WarnForgotten) {
		t.Errorf("warned %v for an epoch that still reports the change", d.Warnings)
	}
	// A receiver that reports nothing about leaps at all has forgotten: kept, and said.
	d = tr.Update(table, Receiver{Known: true, Current: 18, Source: "NAV-TIMELS"}, now.Add(2e9))
	if !d.HasNext || !d.Has(WarnForgotten) {
		t.Errorf("a receiver that stopped reporting: HasNext=%v warnings %v", d.HasNext, d.Warnings)
	}
}
