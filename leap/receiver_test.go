package leap

import (
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// subframe builds subframe 4 page 18 words (parity bits zero, data de-inverted, as u-blox delivers them).
func subframe(dtLS, wnLSF, dn, dtLSF int) [10]uint32 {
	var w [10]uint32
	w[0] = 0x8B << 16
	w[1] = 4 << 2
	w[2] = 1<<22 | 56<<16
	w[7] = 0x89
	w[8] = uint32(uint8(int8(dtLS)))<<16 | uint32(uint8(wnLSF))<<8 | uint32(uint8(dn))
	w[9] = uint32(uint8(int8(dtLSF))) << 16
	for i := range w {
		w[i] = w[i]<<6 | 0xC000_0000 // the two pad bits must be ignored
	}
	return w
}

func utc(dtLS, wnLSF, dn, dtLSF int) UTCParams {
	p, err := DecodeSubframe(subframe(dtLS, wnLSF, dn, dtLSF))
	if err != nil {
		panic(err)
	}
	return p
}

func TestDecodeSubframe(t *testing.T) {
	p, err := DecodeSubframe(subframe(17, 1929%256, 7, 18))
	if err != nil {
		t.Fatal(err)
	}
	if p != (UTCParams{DeltaTLS: 17, WNLSF: 137, DN: 7, DeltaTLSF: 18, WNt: 0x89}) {
		t.Fatalf("decoded %+v", p)
	}
	leap2017 := timebase.Date(2017, 1, 1, 0, 0, 0, 0)
	tests := []struct {
		name string
		p    UTCParams
		now  timebase.Instant
		ev   Event
		ok   bool
		err  string
	}{
		{"2016-12-31 insert", p, timebase.Date(2016, 7, 15, 0, 0, 0, 0), Event{leap2017, 1, 37}, true, ""},
		{"seen after the event", p, timebase.Date(2017, 3, 1, 0, 0, 0, 0), Event{leap2017, 1, 37}, true, ""},
		// Week 2047 -> 2048 rollover of the 10-bit week (2019-04-06) and of the 8-bit WN_LSF: an event in
		// week 2049 (= 1 mod 256) seen from week 2040.
		{"8-bit week across 256", UTCParams{DeltaTLS: 18, WNLSF: 2049 % 256, DN: 1, DeltaTLSF: 17}, timebase.Date(2019, 2, 10, 0, 0, 0, 0), Event{}, false, "not at the end of a month"},
		{"no change", UTCParams{DeltaTLS: 18, WNLSF: 137, DN: 7, DeltaTLSF: 18}, timebase.Date(2026, 1, 1, 0, 0, 0, 0), Event{}, false, ""},
		{"two seconds", UTCParams{DeltaTLS: 18, WNLSF: 137, DN: 7, DeltaTLSF: 20}, timebase.Date(2016, 7, 15, 0, 0, 0, 0), Event{}, false, "one second"},
		{"bad DN", UTCParams{DeltaTLS: 17, WNLSF: 137, DN: 0, DeltaTLSF: 18}, timebase.Date(2016, 7, 15, 0, 0, 0, 0), Event{}, false, "DN=0"},
		{"mid-week", UTCParams{DeltaTLS: 17, WNLSF: 137, DN: 3, DeltaTLSF: 18}, timebase.Date(2016, 7, 15, 0, 0, 0, 0), Event{}, false, "2016-12-27"},
		{"deletion", UTCParams{DeltaTLS: 18, WNLSF: uint8(GPSWeek(timebase.Date(2027, 9, 30, 0, 0, 0, 0))), DN: 5, DeltaTLSF: 17}, timebase.Date(2027, 6, 1, 0, 0, 0, 0), Event{timebase.Date(2027, 10, 1, 0, 0, 0, 0), -1, 36}, true, ""},
	}
	for _, tt := range tests {
		ev, ok, err := tt.p.Event(tt.now)
		if ev != tt.ev || ok != tt.ok || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: Event = %v,%v,%v want %v,%v,%q", tt.name, ev, ok, err, tt.ev, tt.ok, tt.err)
		}
	}
	// 2049 is 2019-04-14..20; its DN 1 ends 2019-04-15: resolved to the right week (not 1793 or 2305).
	ev, _, err := UTCParams{DeltaTLS: 18, WNLSF: 2049 % 256, DN: 1, DeltaTLSF: 17}.Event(timebase.Date(2019, 2, 10, 0, 0, 0, 0))
	if err == nil || !strings.Contains(err.Error(), "2019-04-14") {
		t.Errorf("week resolution: %v %v", ev, err)
	}

	bad := subframe(17, 137, 7, 18)
	bad[0] ^= 1 << 29
	if _, err := DecodeSubframe(bad); err == nil || !strings.Contains(err.Error(), "preamble") {
		t.Errorf("bad preamble: %v", err)
	}
	other := subframe(17, 137, 7, 18)
	other[2] = (1<<22 | 57<<16) << 6
	if _, err := DecodeSubframe(other); err == nil || !strings.Contains(err.Error(), ErrNotUTCPage.Error()) {
		t.Errorf("other page: %v", err)
	}
	sf3 := subframe(17, 137, 7, 18)
	sf3[1] = (3 << 2) << 6
	if _, err := DecodeSubframe(sf3); err == nil {
		t.Errorf("subframe 3 accepted")
	}
}

func TestDecodeSFRBX(t *testing.T) {
	w := subframe(17, 137, 7, 18)
	pl := []byte{0, 12, 0, 0, 10, 3, 2, 0}
	for _, x := range w {
		pl = append(pl, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	p, err := DecodeSFRBX(pl)
	if err != nil || p.DeltaTLSF != 18 || p.WNLSF != 137 {
		t.Fatalf("DecodeSFRBX = %+v, %v", p, err)
	}
	for name, b := range map[string][]byte{
		"short":   pl[:7],
		"galileo": append([]byte{2}, pl[1:]...),
		"9 words": append(append([]byte(nil), pl[:4]...), append([]byte{9}, pl[5:44]...)...),
		"trailer": append(append([]byte(nil), pl...), 0),
	} {
		if _, err := DecodeSFRBX(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTrackerUpdate(t *testing.T) {
	bt := Builtin()
	leap2017 := timebase.Date(2017, 1, 1, 0, 0, 0, 0)
	ev2017 := Event{leap2017, 1, 37}
	day2016 := timebase.Date(2016, 12, 31, 12, 0, 0, 0)
	afterExpiry := timebase.Date(2027, 12, 31, 12, 0, 0, 0)
	leap2028 := timebase.Date(2028, 1, 1, 0, 0, 0, 0)
	tls := func(cur int, change int, at timebase.Instant) Receiver {
		return Receiver{Known: true, Current: cur, Source: "NAV-TIMELS", ChangeKnown: true, Change: change, Event: at, EventKnown: at != 0}
	}
	wk2027 := GPSWeek(timebase.Date(2027, 12, 31, 0, 0, 0, 0))
	wk2036 := GPSWeek(timebase.Date(2036, 6, 30, 0, 0, 0, 0))
	tests := []struct {
		name     string
		rx       Receiver
		now      timebase.Instant
		tai      int
		src      Source
		next     Event
		nextSrc  Source
		warnings []WarningKind
		ahead    int
	}{
		{"table only", Receiver{}, day2016, 36, SourceTable, ev2017, SourceTable, nil, 0},
		{"receiver agrees", tls(17, 1, leap2017), day2016, 36, SourceTable, ev2017, SourceTable, nil, 0},
		{"navmsg agrees", Receiver{HasUTC: true, UTC: utc(17, 137, 7, 18)}, day2016, 36, SourceTable, ev2017, SourceTable, nil, 0},
		{"receiver announces another month", tls(17, 1, timebase.Date(2017, 2, 1, 0, 0, 0, 0)), day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnEventDisagree}, 0},
		{"receiver announces none", tls(17, 0, 0), day2016, 36, SourceTable, ev2017, SourceTable, nil, 0},
		{"firmware default", Receiver{Known: true, Current: 18, Default: true, Source: "PUBX04"}, day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnReceiverDefault}, -1},
		{"trusted but wrong", Receiver{Known: true, Current: 17, Source: "NAV-TIMEGPS"}, timebase.Date(2026, 11, 22, 0, 0, 0, 0), 37, SourceTable, Event{}, SourceNone, []WarningKind{WarnCurrentDisagree}, 1},
		{"not a month end", tls(17, 1, timebase.Date(2017, 1, 2, 0, 0, 0, 0)), day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnAbsurd}, 0},
		{"two-second leap", tls(17, 2, leap2017), day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnAbsurd}, 0},
		{"navmsg two seconds", Receiver{HasUTC: true, UTC: utc(17, 137, 7, 19)}, day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnAbsurd}, 0},
		{"navmsg jumps TAI-UTC", Receiver{HasUTC: true, UTC: utc(19, 137, 7, 20)}, day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnAbsurd}, 0},
		{"absurd current", Receiver{Known: true, Current: -3, Source: "PUBX04"}, day2016, 36, SourceTable, ev2017, SourceTable, []WarningKind{WarnAbsurd}, 0},
		{"beyond a valid table", tls(18, 1, timebase.Date(2027, 7, 1, 0, 0, 0, 0)), timebase.Date(2027, 6, 1, 0, 0, 0, 0), 37, SourceTable, Event{timebase.Date(2027, 7, 1, 0, 0, 0, 0), 1, 38}, SourceReceiver, nil, 0},
		{"expired, GPS announces", tls(18, 1, leap2028), afterExpiry, 37, SourceReceiver, Event{leap2028, 1, 38}, SourceReceiver, []WarningKind{WarnTableExpired}, 0},
		{"expired, navmsg announces", Receiver{HasUTC: true, UTC: utc(18, wk2027, 6, 19)}, afterExpiry, 37, SourceNavMsg, Event{leap2028, 1, 38}, SourceNavMsg, []WarningKind{WarnTableExpired}, 0},
		{"expired, GPS deletes", tls(18, -1, leap2028), afterExpiry, 37, SourceReceiver, Event{leap2028, -1, 36}, SourceReceiver, []WarningKind{WarnTableExpired}, 0},
		{"expired, sources disagree", func() Receiver {
			r := tls(18, 1, timebase.Date(2028, 7, 1, 0, 0, 0, 0))
			r.HasUTC, r.UTC = true, utc(18, wk2027, 6, 19)
			return r
		}(), afterExpiry, 37, SourceReceiver, Event{leap2028, 1, 38}, SourceNavMsg, []WarningKind{WarnSourcesDisagree, WarnTableExpired}, 0},
		{"expired, GPS-UTC jumps", tls(21, 1, leap2028), afterExpiry, 37, SourceTable, Event{}, SourceNone, []WarningKind{WarnAbsurd, WarnAbsurd, WarnNoLeapInfo}, -3},
		{"expired, one unknown leap", tls(19, 1, timebase.Date(2029, 1, 1, 0, 0, 0, 0)), timebase.Date(2028, 12, 31, 0, 0, 0, 0), 38, SourceReceiver, Event{timebase.Date(2029, 1, 1, 0, 0, 0, 0), 1, 39}, SourceReceiver, []WarningKind{WarnTableExpired}, 0},
		{"expired, nothing", Receiver{}, afterExpiry, 37, SourceTable, Event{}, SourceNone, []WarningKind{WarnNoLeapInfo}, 0},
		{"expired, default only", Receiver{Known: true, Current: 18, Default: true, Source: "NAV-TIMELS"}, afterExpiry, 37, SourceTable, Event{}, SourceNone, []WarningKind{WarnReceiverDefault, WarnNoLeapInfo}, 0},
		{"expired, receiver says none", tls(18, 0, 0), afterExpiry, 37, SourceReceiver, Event{}, SourceNone, []WarningKind{WarnTableExpired}, 0},
		{"after abolition", Receiver{HasUTC: true, UTC: utc(18, wk2036, int(timebase.Date(2036, 6, 30, 0, 0, 0, 0).Time().Weekday())+1, 19)}, timebase.Date(2036, 6, 1, 0, 0, 0, 0), 37, SourceNavMsg, Event{timebase.Date(2036, 7, 1, 0, 0, 0, 0), 1, 38}, SourceNavMsg, []WarningKind{WarnTableExpired, WarnAfterAbolition}, 0},
	}
	for _, tt := range tests {
		var tr Tracker
		d := tr.Update(bt, tt.rx, tt.now)
		var kinds []WarningKind
		for _, w := range d.Warnings {
			kinds = append(kinds, w.Kind)
			if w.Message == "" {
				t.Errorf("%s: warning %v without message", tt.name, w.Kind)
			}
		}
		if d.TAIMinusUTC != tt.tai || !d.Known || d.Source != tt.src {
			t.Errorf("%s: TAI-UTC %d %v from %v, want %d from %v", tt.name, d.TAIMinusUTC, d.Known, d.Source, tt.tai, tt.src)
		}
		if d.HasNext != (tt.nextSrc != SourceNone) || d.Next != tt.next || d.NextSource != tt.nextSrc {
			t.Errorf("%s: next %v %v from %v, want %v from %v", tt.name, d.Next, d.HasNext, d.NextSource, tt.next, tt.nextSrc)
		}
		if len(kinds) != len(tt.warnings) {
			t.Errorf("%s: warnings %v, want %v", tt.name, d.Warnings, tt.warnings)
		} else {
			for i := range kinds {
				if kinds[i] != tt.warnings[i] {
					t.Errorf("%s: warnings %v, want %v", tt.name, d.Warnings, tt.warnings)
				}
			}
		}
		if d.ReceiverUTCAhead != tt.ahead {
			t.Errorf("%s: receiver ahead %d, want %d", tt.name, d.ReceiverUTCAhead, tt.ahead)
		}
	}
}

// A receiver that announced a leap and then cold-starts (no NAV-TIMELS source, no subframe yet, firmware
// default GPS-UTC) must not cancel it; a later explicit "none" from the sky does.
func TestTrackerColdStart(t *testing.T) {
	bt := Builtin()
	var tr Tracker
	leap2028 := timebase.Date(2028, 1, 1, 0, 0, 0, 0)
	now := timebase.Date(2027, 12, 30, 0, 0, 0, 0)
	d := tr.Update(bt, Receiver{Known: true, Current: 18, Source: "NAV-TIMELS", ChangeKnown: true, Change: 1, Event: leap2028, EventKnown: true}, now)
	if !d.HasNext || d.NextSource != SourceReceiver {
		t.Fatalf("announcement not taken: %+v", d)
	}
	d = tr.Update(bt, Receiver{Known: true, Current: 18, Default: true, Source: "NAV-TIMELS"}, now+timebase.Second)
	if !d.HasNext || d.Next.At != leap2028 || d.NextSource != SourceMemory || !d.Has(WarnForgotten) || !d.Has(WarnReceiverDefault) {
		t.Fatalf("after cold start: %+v", d)
	}
	if d.TAIMinusUTC != 37 || d.Source != SourceMemory {
		t.Errorf("TAI-UTC after cold start %d from %v", d.TAIMinusUTC, d.Source)
	}
	// After the event the remembered TAI-UTC moves on, even with the receiver silent.
	d = tr.Update(bt, Receiver{}, leap2028+timebase.Second)
	if d.HasNext || d.TAIMinusUTC != 38 || d.Source != SourceMemory {
		t.Errorf("after the remembered event: %+v", d)
	}
	// Withdrawal.
	var tr2 Tracker
	tr2.Update(bt, Receiver{Known: true, Current: 18, Source: "NAV-TIMELS", ChangeKnown: true, Change: 1, Event: leap2028, EventKnown: true}, now)
	d = tr2.Update(bt, Receiver{Known: true, Current: 18, Source: "NAV-TIMELS", ChangeKnown: true, Change: 0}, now+timebase.Second)
	if d.HasNext || !d.Has(WarnWithdrawn) {
		t.Errorf("withdrawal: %+v", d)
	}
}
