package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// TestStatusLeapSection fills the leap section from a real Core on the day of the 2016 leap second, with a
// refused leap file, and checks the document's shape.
func TestStatusLeapSection(t *testing.T) {
	now := timebase.Date(2016, 12, 31, 12, 0, 0, 0)
	choice := leap.Choose(leap.Builtin(), []leap.Candidate{{Name: "/perm/leap-seconds.list", Data: strings.NewReader("#$\t1\n#h\tdeadbeef\n")}}, now)
	core, err := daemon.NewCore(daemon.Config{Leap: choice.Table}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	core.Tick(now)
	srv, err := ntpserve.NewServer(ntpserve.Config{Rate: 8, Burst: 16, IPv6Prefix: 64}, hostClock{})
	if err != nil {
		t.Fatal(err)
	}
	p := &statusProvider{version: "test", mode: "sim", clock: fixedClock(now), core: core, server: srv, leap: choice}
	b, err := json.Marshal(p.status())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Leap status.Leap `json:"leap"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	l := doc.Leap
	if l.TAIUTC == nil || *l.TAIUTC != 36 || l.TAIUTCSource != "table" {
		t.Errorf("TAI-UTC %v from %q, want 36 from the table", l.TAIUTC, l.TAIUTCSource)
	}
	if n := l.Next; n == nil || n.At != "2017-01-01T00:00:00Z" || n.Change != 1 || n.Source != "table" {
		t.Errorf("next %+v", n)
	}
	if l.Table.Source != "builtin" || l.Table.Expiry != "2027-06-28T00:00:00Z" || l.Table.Expired || l.Table.Updated == "" {
		t.Errorf("table %+v", l.Table)
	}
	// Not synchronized (no receiver): LI 3 is served, but the kernel is armed for the leap day regardless.
	if l.LIServed != 3 || l.KernelFlag != "insert" || l.Mode != "step" {
		t.Errorf("LI %d, kernel flag %q, mode %q", l.LIServed, l.KernelFlag, l.Mode)
	}
	if len(l.Warnings) == 0 || l.Warnings[0].Kind != "file-rejected" || !strings.Contains(l.Warnings[0].Message, "/perm/leap-seconds.list") {
		t.Errorf("warnings %+v, want the refused file", l.Warnings)
	}
	// The zero provider field stands for the built-in table; warnings are never null.
	p.leap = leap.Choice{}
	if s := p.status(); s.Leap.Table.Source != "builtin" || s.Leap.Warnings == nil {
		t.Errorf("without a choice: %+v", s.Leap)
	}
	if !strings.Contains(string(b), `"leap":{"tai_utc":36,`) {
		t.Errorf("document: %s", b)
	}
}
