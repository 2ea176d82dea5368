package scenario

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// parseJSONTime reads the recorder's RFC 3339 instants back.
func parseJSONTime(t *testing.T, s string) timebase.Instant {
	t.Helper()
	if s == "" {
		return 0
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return timebase.FromTime(tm)
}

func TestLeapScenarios(t *testing.T) {
	for _, tt := range []struct {
		name   string
		at     timebase.Instant
		change int
		want   []leap.WarningKind // must be raised
		never  []leap.WarningKind // must not be raised
	}{
		{"leap-2016", leapInsert2016, 1, nil, []leap.WarningKind{leap.WarnEventDisagree, leap.WarnAbsurd, leap.WarnSourcesDisagree, leap.WarnCurrentDisagree, leap.WarnTableExpired}},
		{"leap-delete", leapDelete2027, -1, nil, []leap.WarningKind{leap.WarnEventDisagree, leap.WarnAbsurd, leap.WarnCurrentDisagree, leap.WarnTableExpired}},
		{"leap-gps-only", leapGPS2027, 1, []leap.WarningKind{leap.WarnTableExpired}, []leap.WarningKind{leap.WarnEventDisagree, leap.WarnAbsurd, leap.WarnCurrentDisagree}},
		{"leap-file-only", leapInsert2027, 1, nil, []leap.WarningKind{leap.WarnEventDisagree, leap.WarnAbsurd, leap.WarnForgotten, leap.WarnNoLeapInfo, leap.WarnTableExpired}},
		{"leap-disagree", leapInsert2027, 1, []leap.WarningKind{leap.WarnEventDisagree}, []leap.WarningKind{leap.WarnTableExpired}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Run(tt.name, 10*time.Minute, 5)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(r)
			t.Logf("%s", b)
			if r.Leap == nil {
				t.Fatal("no leap summary")
			}
			j := *r.Leap
			if r.BoundViolations != 0 || r.Steps != 1 || r.FinalState != "locked" || r.LockS == nil || r.MaxAbsNs > 2000 {
				t.Errorf("violations %d, steps %d, state %s, lock %v, max %.0f ns: the leap disturbed the clock", r.BoundViolations, r.Steps, r.FinalState, r.LockS, r.MaxAbsNs)
			}
			wantLI, flag := 1, "insert"
			lastFrom := tt.at - timebase.Second // the repeated 23:59:59 is still the leap day
			if tt.change < 0 {
				wantLI, flag, lastFrom = 2, "delete", tt.at-2*timebase.Second // 23:59:59 does not exist
			}
			start := tt.at.Add(-5 * time.Minute)
			first, last := parseJSONTime(t, j.LIFirst), parseJSONTime(t, j.LILast)
			if j.LI != wantLI || j.InconsistentLI || first < start || first > start.Add(time.Minute) {
				t.Errorf("LI %d first served at %s (run starts %s), inconsistent %v", j.LI, j.LIFirst, start, j.InconsistentLI)
			}
			if last < lastFrom || last >= lastFrom+timebase.Second {
				t.Errorf("LI last served at %s, want within the second from %s", j.LILast, lastFrom)
			}
			set, cleared := parseJSONTime(t, j.KernelSet), parseJSONTime(t, j.KernelCleared)
			if j.KernelFlag != flag || set == 0 || set > first || cleared < tt.at || cleared > tt.at+2*timebase.Second {
				t.Errorf("kernel flag %s set at %s, cleared at %s", j.KernelFlag, j.KernelSet, j.KernelCleared)
			}
			jump, other := j.MaxBackwardS, j.MaxForwardS
			if tt.change < 0 {
				jump, other = other, jump
			}
			if jump < 0.999 || jump > 1.001 || other > 0.001 || j.Smeared {
				t.Errorf("served time jumped back %v s, forward %v s, smeared %v; want one jump of 1 s", j.MaxBackwardS, j.MaxForwardS, j.Smeared)
			}
			has := func(k leap.WarningKind) bool {
				for _, w := range j.Warnings {
					if strings.HasPrefix(w, k.String()+":") {
						return true
					}
				}
				return false
			}
			for _, k := range tt.want {
				if !has(k) {
					t.Errorf("warning %v not raised: %q", k, j.Warnings)
				}
			}
			for _, k := range tt.never {
				if has(k) {
					t.Errorf("warning %v raised: %q", k, j.Warnings)
				}
			}
		})
	}
}

func TestLeapScenariosListedAndOthersUnchanged(t *testing.T) {
	for _, n := range []string{"leap-2016", "leap-delete", "leap-gps-only", "leap-file-only", "leap-disagree"} {
		if _, err := Lookup(n); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := mustSpec(t, "leap-2016").Build(5*time.Minute, 1); err == nil {
		t.Error("a leap scenario shorter than its minimum was accepted")
	}
	// A scenario without a leap second keeps its summary's shape: no leap object.
	r, err := Run("cold-start", 3*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if r.Leap != nil || strings.Contains(string(b), `"leap"`) {
		t.Errorf("cold-start summary has a leap object: %s", b)
	}
}

func mustSpec(t *testing.T, name string) Spec {
	t.Helper()
	s, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSyntheticTableVerifies(t *testing.T) {
	tb, err := SyntheticTable(leap.Entry{At: leapDelete2027, TAIMinusUTC: 36}, timebase.Date(2027, 3, 1, 0, 0, 0, 0), timebase.Date(2028, 6, 28, 0, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := tb.NextLeap(leapDelete2027 - timebase.Second)
	if !ok || ev.At != leapDelete2027 || ev.Change != -1 || ev.TAIMinusUTC != 36 {
		t.Errorf("next leap %+v %v", ev, ok)
	}
	// An entry that does not follow the table (a jump of two seconds) is refused by leap.Parse.
	if _, err := SyntheticTable(leap.Entry{At: leapDelete2027, TAIMinusUTC: 39}, timebase.Date(2027, 3, 1, 0, 0, 0, 0), timebase.Date(2028, 6, 28, 0, 0, 0, 0)); err == nil {
		t.Error("a two-second leap was accepted")
	}
}
