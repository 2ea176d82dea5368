package ubx

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// FuzzConfigurator drives the state machine with arbitrary events: receiver identities (protocol strings
// included), ACKs for any class and id, and ticks at any time, including backwards. Invariants: it never
// panics, it only ever sends MON-VER polls or frames of its plan, the number of sends is bounded by polls
// plus steps times attempts, a live state always asks to be woken, and enough time always ends it.
func FuzzConfigurator(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 1}, "18.00")
	f.Add([]byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, "27.12")
	f.Add([]byte{1, 6, 1, 1, 6, 0x8A, 1, 6, 0x24}, "")
	f.Add([]byte{3, 3, 3, 0, 0, 0}, "34.10")
	f.Fuzz(func(t *testing.T, ev []byte, proto string) {
		opt := Options{AckTimeout: time.Second, Attempts: 2, IdentifyTimeout: time.Second, IdentifyPolls: 2}
		c := NewConfigurator(opt)
		now := t0
		sends := 0
		check := func(a Action) {
			if a.Send != nil {
				sends++
				ok := string(a.Send) == string(PollMonVER())
				for _, s := range c.Plan().Steps {
					ok = ok || string(a.Send) == string(s.Frame)
				}
				if !ok {
					t.Fatalf("sent a frame outside the plan: %x", a.Send)
				}
			}
			if !c.Finished() && c.State() != StateIdle && a.Wake == 0 {
				t.Fatalf("state %v returned no wake-up", c.State())
			}
			if c.Finished() && !a.None() {
				t.Fatalf("finished but returned %+v", a)
			}
		}
		check(c.Start(now))
		for i := 0; i+2 < len(ev); i += 3 {
			switch ev[i] % 4 {
			case 0:
				now += timebase.Instant(ev[i+1]) * timebase.Instant(20*time.Millisecond)
				check(c.Tick(now))
			case 1:
				check(c.Ack(gps.Ack{Class: ev[i+1], ID: ev[i+2], OK: ev[i+1]&1 == 0, Received: now + timebase.Instant(ev[i+2]) - 128}))
			case 2:
				vendor := "u-blox"
				if ev[i+1]%5 == 0 {
					vendor = "other"
				}
				check(c.Receiver(gps.Receiver{Vendor: vendor, Protocol: proto, Hardware: string(ev[i+2 : i+3])}, now))
			case 3:
				now -= timebase.Instant(ev[i+1]) * timebase.Instant(time.Millisecond)
				check(c.Tick(now))
			}
		}
		limit := opt.IdentifyPolls + len(c.Plan().Steps)*opt.Attempts
		if sends > limit {
			t.Fatalf("%d sends, bound %d", sends, limit)
		}
		for i := 0; i < 100 && !c.Finished(); i++ {
			now += timebase.Instant(opt.AckTimeout + opt.IdentifyTimeout)
			check(c.Tick(now))
		}
		if !c.Finished() {
			t.Fatalf("not finished after time passed: %v", c.State())
		}
	})
}
