package leap

import (
	"errors"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestChoose(t *testing.T) {
	bt := Builtin()
	now := timebase.Date(2026, 11, 22, 7, 0, 0, 0)
	newer := makeList(ntp(2027, 1, 6), ntp(2027, 12, 28), history)
	newest := makeList(ntp(2027, 2, 6), ntp(2027, 12, 28), history)
	withLeap := makeList(ntp(2027, 1, 6), ntp(2028, 6, 28), append(append([]line(nil), history...), line{ntp(2027, 7, 1), 38}))
	older := makeList(ntp(2025, 7, 6), ntp(2026, 12, 28), history)
	expired := makeList(ntp(2027, 1, 6), ntp(2027, 6, 30), history)
	rewritten := append([]line(nil), history[:len(history)-1]...)
	forged := makeList(ntp(2027, 1, 6), ntp(2027, 12, 28), rewritten)
	bad := newer[:len(newer)-2] + string(newer[len(newer)-2]^1) + "\n"

	tests := []struct {
		name       string
		cands      []Candidate
		now        timebase.Instant
		source     string
		expired    bool
		rejections []string // substrings, in order
	}{
		{"none", nil, now, "builtin", false, nil},
		{"newer wins", []Candidate{{Name: "state", Data: strings.NewReader(newer)}}, now, "state", false, nil},
		{"newest of two", []Candidate{{Name: "flag", Data: strings.NewReader(newer)}, {Name: "state", Data: strings.NewReader(newest)}}, now, "state", false, nil},
		{"tie goes to first", []Candidate{{Name: "flag", Data: strings.NewReader(newer)}, {Name: "state", Data: strings.NewReader(newer)}}, now, "flag", false, nil},
		{"bad hash", []Candidate{{Name: "state", Data: strings.NewReader(bad)}}, now, "builtin", false, []string{"hash mismatch"}},
		{"older", []Candidate{{Name: "state", Data: strings.NewReader(older)}}, now, "builtin", false, []string{"not newer"}},
		{"expired", []Candidate{{Name: "state", Data: strings.NewReader(expired)}}, timebase.Date(2027, 7, 1, 0, 0, 0, 0), "state", true, nil},
		{"expired but builtin valid", []Candidate{{Name: "state", Data: strings.NewReader(expired)}}, timebase.Date(2027, 6, 28, 0, 0, 0, 0) - 1, "state", false, nil},
		{"forged history", []Candidate{{Name: "state", Data: strings.NewReader(forged)}}, now, "builtin", false, []string{"contradicts"}},
		{"unreadable", []Candidate{{Name: "flag", Err: errors.New("open x: no such file")}, {Name: "nil"}}, now, "builtin", false, []string{"no such file", "no data"}},
		{"all expired", []Candidate{{Name: "state", Data: strings.NewReader(older)}}, timebase.Date(2030, 1, 1, 0, 0, 0, 0), "builtin", true, []string{"not newer"}},
		{"leap file", []Candidate{{Name: "state", Data: strings.NewReader(withLeap)}, {Name: "x", Data: strings.NewReader("garbage")}}, now, "state", false, []string{"wants 2 fields"}},
	}
	for _, tt := range tests {
		ch := Choose(bt, tt.cands, tt.now)
		if ch.Source != tt.source || ch.Expired != tt.expired {
			t.Errorf("%s: source %q expired %v, want %q %v (rejected %v)", tt.name, ch.Source, ch.Expired, tt.source, tt.expired, ch.Rejected)
		}
		if len(ch.Rejected) != len(tt.rejections) {
			t.Errorf("%s: rejected %v, want %d", tt.name, ch.Rejected, len(tt.rejections))
			continue
		}
		for i, r := range ch.Rejected {
			if !strings.Contains(r.Reason, tt.rejections[i]) {
				t.Errorf("%s: rejection %d = %q, want %q", tt.name, i, r.Reason, tt.rejections[i])
			}
		}
	}
	// The expired-candidate case: "expired but builtin valid" uses the candidate only because it is
	// newer and still valid a nanosecond before its expiry; one nanosecond later the builtin is expired too.
	ch := Choose(bt, []Candidate{{Name: "state", Data: strings.NewReader(withLeap)}}, now)
	if ev, ok := ch.Table.NextLeap(now); !ok || ev.At != timebase.Date(2027, 7, 1, 0, 0, 0, 0) {
		t.Errorf("chosen table lost the announced leap: %v %v", ev, ok)
	}
}
