package leap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func FuzzParse(f *testing.F) {
	f.Add(builtinList)
	f.Add([]byte(makeList(ntp(2036, 3, 1)%(1<<32), ntp(2037, 6, 28)%(1<<32), append(append([]line(nil), history...), line{ntp(2036, 7, 1) % (1 << 32), 38}))))
	f.Add([]byte("#$ 1\n#@ 2\n2272060800 10\n#h 0 0 0 0 0\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "leap.Parse: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		// Whatever verifies must be a well-formed table.
		es := tb.Entries()
		if len(es) == 0 || tb.Expiry() <= tb.Updated() {
			t.Fatalf("accepted a malformed table: %d entries, updated %s expiry %s", len(es), tb.Updated(), tb.Expiry())
		}
		for i, e := range es {
			if !MonthStart(e.At) {
				t.Fatalf("entry %d at %s is not a month start", i, e.At)
			}
			if i > 0 {
				if es[i-1].At >= e.At {
					t.Fatalf("entries out of order at %d", i)
				}
				ev, ok := tb.NextLeap(es[i-1].At)
				if !ok || ev.At != e.At || (ev.Change != 1 && ev.Change != -1) {
					t.Fatalf("NextLeap(%s) = %v %v", es[i-1].At, ev, ok)
				}
			}
		}
	})
}

// FuzzTracker drives the cross-check with arbitrary receiver reports and raw subframe words: it must never
// panic and must never announce an impossible leap second.
func FuzzTracker(f *testing.F) {
	leap2017 := int64(insert2016.At)
	f.Add(true, 17, false, true, 1, leap2017, true, int64(insert2016.At-43200*1e9), uint32(17), uint32(137), uint32(7), uint32(18), false)
	f.Add(true, 18, true, false, 0, int64(0), false, int64(timebase.Date(2027, 12, 31, 0, 0, 0, 0)), uint32(18), uint32(0), uint32(6), uint32(19), true)
	f.Add(true, 18, false, true, -1, int64(timebase.Date(2028, 1, 1, 0, 0, 0, 0)), true, int64(timebase.Date(2027, 12, 31, 0, 0, 0, 0)), uint32(18), uint32(0), uint32(6), uint32(17), true)
	f.Add(false, 0, false, true, 3, int64(-1), true, int64(-1)<<62, uint32(255), uint32(255), uint32(255), uint32(0), true)
	f.Fuzz(func(t *testing.T, known bool, cur int, def bool, chKnown bool, change int, event int64, evKnown bool, now int64,
		dtLS, wnLSF, dn, dtLSF uint32, hasUTC bool) {
		rx := Receiver{Known: known, Current: cur, Default: def, Source: "fuzz", ChangeKnown: chKnown, Change: change,
			Event: timebase.Instant(event), EventKnown: evKnown}
		if hasUTC {
			p, err := DecodeSubframe(subframe(int(int8(dtLS)), int(wnLSF), int(dn), int(int8(dtLSF))))
			if err != nil {
				t.Fatalf("synthetic subframe: %v", err)
			}
			rx.HasUTC, rx.UTC = true, p
		}
		// Keep now where Instants and GPS weeks are meaningful (1980..2200).
		n := timebase.Instant(now)
		lo, hi := timebase.Date(1980, 2, 1, 0, 0, 0, 0), timebase.Date(2200, 1, 1, 0, 0, 0, 0)
		if n < lo || n > hi {
			n = lo + timebase.Instant(uint64(now)%uint64(hi-lo))
		}
		var tr Tracker
		for i := 0; i < 3; i++ {
			d := tr.Update(Builtin(), rx, n)
			if d.HasNext {
				if !MonthStart(d.Next.At) || (d.Next.Change != 1 && d.Next.Change != -1) || d.Next.At <= n {
					t.Fatalf("impossible announcement %v at %s from %v", d.Next, n, d.NextSource)
				}
			}
			s := ScheduleFor(d, ModeStep)
			if li := s.Indicator(n, true); li == timebase.LeapUnsync {
				t.Fatalf("synced LI 3")
			}
			rx = Receiver{} // then a cold start
			n += timebase.Second
		}
	})
}

func FuzzDecodeSFRBX(f *testing.F) {
	w := subframe(17, 137, 7, 18)
	pl := []byte{0, 12, 0, 0, 10, 3, 2, 0}
	for _, x := range w {
		pl = append(pl, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	f.Add(pl)
	f.Add([]byte{0, 1, 0, 0, 10})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeSFRBX(b)
		if err != nil {
			return
		}
		if len(b) != 48 || b[0] != 0 || b[8+2]>>6|b[8+3]<<2 != 0x8B {
			t.Fatalf("accepted a payload that is not a GPS subframe: % x", b)
		}
		for _, now := range []timebase.Instant{insert2016.At - 86400*timebase.Second, timebase.Date(2035, 6, 1, 0, 0, 0, 0)} {
			ev, ok, err := p.Event(now)
			if ok && (err != nil || !MonthStart(ev.At) || ev.Change*ev.Change != 1 || ev.TAIMinusUTC != p.DeltaTLSF+TAIMinusGPS) {
				t.Fatalf("Event(%s) of %+v = %v, %v", now, p, ev, err)
			}
		}
	})
}
