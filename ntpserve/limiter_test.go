package ntpserve

import (
	"math"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// A client flooding at 10 requests/s against a limit of 1/s with burst 3 and one KoD per 10 s, for 30 s:
//
//	t = 0.0, 0.1, 0.2        served (the burst), credit left 0.2 s
//	t = 0.3                  limited, KoD
//	t = 0.4 .. 0.9           limited, silent
//	t = 1.0, 2.0, ... 29.0   served (one credit per second)
//	t = 10.3, 20.3           limited, KoD (10 s since the last)
//
// 300 requests: 32 served, 268 rate limited of which 3 KoDs.
func TestRateLimitAndKoDFrequency(t *testing.T) {
	clk := newFakeClock(t0)
	s := mustServer(t, Config{Rate: 1, Burst: 3, KoDInterval: 10 * time.Second}, clk)
	s.Publish(lockedSnapshot(t0))
	req := request(4, wire.ModeClient, -4)
	var servedAt, kodAt []time.Duration
	for i := range 300 {
		at := time.Duration(i) * 100 * time.Millisecond
		rx := t0.Add(at)
		clk.set(rx)
		h, n := handle(t, s, req, client4, rx)
		if n == 0 {
			continue
		}
		if h.OriginTime != reqXmt {
			t.Fatalf("t=%v: origin %#x", at, uint64(h.OriginTime))
		}
		if h.Stratum == 0 {
			kodAt = append(kodAt, at)
			want := wire.Header{Leap: timebase.LeapUnsync, Version: 4, Mode: wire.ModeServer, Stratum: 0,
				Poll: 0, RefID: timebase.RefIDFromString("RATE"), // 2^0 s: the interval 1 request/s sustains
				OriginTime: reqXmt, ReceiveTime: reqXmt, TransmitTime: reqXmt}
			if h != want {
				t.Fatalf("KoD\n got %+v\nwant %+v", h, want)
			}
			continue
		}
		servedAt = append(servedAt, at)
		if h.Stratum != 1 || h.Leap != timebase.LeapNone {
			t.Fatalf("t=%v: served reply %+v", at, h)
		}
	}
	wantServed := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond}
	for sec := 1; sec <= 29; sec++ {
		wantServed = append(wantServed, time.Duration(sec)*time.Second)
	}
	if !equalDurations(servedAt, wantServed) {
		t.Fatalf("served at %v\nwant %v", servedAt, wantServed)
	}
	wantKoD := []time.Duration{300 * time.Millisecond, 10300 * time.Millisecond, 20300 * time.Millisecond}
	if !equalDurations(kodAt, wantKoD) {
		t.Fatalf("KoDs at %v, want %v", kodAt, wantKoD)
	}
	st := s.Stats()
	if st.Requests != 300 || st.Served != 32 || st.RateLimited != 268 || st.KoDSent != 3 || st.ClientsTracked != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The KoD's poll tells the client the interval the limit sustains, unless the client already polls slower.
func TestKoDPoll(t *testing.T) {
	for _, tt := range []struct {
		rate     float64
		reqPoll  int8
		wantPoll int8
	}{{8, -6, -3}, {8, 6, 6}, {1.0 / 16, 0, 4}, {1.0 / 16, 10, 10}, {8, 100, MaxPoll}} {
		s := mustServer(t, Config{Rate: tt.rate, Burst: 1}, newFakeClock(t0))
		req := request(4, wire.ModeClient, tt.reqPoll)
		handle(t, s, req, client4, t0)
		h, n := handle(t, s, req, client4, t0)
		if n == 0 || h.Stratum != 0 || h.Poll != tt.wantPoll {
			t.Errorf("rate %v poll %d: KoD poll %d (n=%d stratum %d), want %d", tt.rate, tt.reqPoll, h.Poll, n, h.Stratum, tt.wantPoll)
		}
	}
}

func TestRateLimitOff(t *testing.T) {
	s := mustServer(t, Config{}, newFakeClock(t0))
	for range 1000 {
		if _, n := handle(t, s, request(4, wire.ModeClient, 6), client4, t0); n == 0 {
			t.Fatal("limited with rate limiting off")
		}
	}
	if st := s.Stats(); st.Served != 1000 || st.ClientsCapacity != 0 {
		t.Fatalf("%+v", st)
	}
}

// IPv6 clients share a bucket per prefix; IPv4 clients, native or IPv4-mapped, per address.
func TestClientAggregation(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		name   string
		prefix int
		a, b   netip.AddrPort
		shared bool
	}{
		{"same /64", 0, ap("[2001:db8:1:2::1]:1000"), ap("[2001:db8:1:2:ffff::9]:2000"), true},
		{"neighbouring /64", 0, ap("[2001:db8:1:2::1]:1000"), ap("[2001:db8:1:3::1]:1000"), false},
		{"same /48 at /48", 48, ap("[2001:db8:1:2::1]:1000"), ap("[2001:db8:1:ffff::1]:1000"), true},
		{"/128 separates hosts", 128, ap("[2001:db8:1:2::1]:1000"), ap("[2001:db8:1:2::2]:1000"), false},
		{"/128 same host other port", 128, ap("[2001:db8:1:2::1]:1000"), ap("[2001:db8:1:2::1]:1001"), true},
		{"/72 splits a /64", 72, ap("[2001:db8:1:2:0100::1]:1000"), ap("[2001:db8:1:2:0200::1]:1000"), false},
		{"/72 joins", 72, ap("[2001:db8:1:2:01ff::1]:1000"), ap("[2001:db8:1:2:0100::2]:1000"), true},
		{"IPv4 per address", 0, ap("192.0.2.1:1000"), ap("192.0.2.2:1000"), false},
		{"IPv4-mapped is IPv4", 0, ap("192.0.2.1:1000"), ap("[::ffff:192.0.2.1]:1000"), true},
		{"zones do not matter", 0, ap("[fe80::1%eth0]:1000"), ap("[fe80::2%eth1]:1000"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, Config{Rate: 1, Burst: 1, IPv6Prefix: tt.prefix}, newFakeClock(t0))
			req := request(4, wire.ModeClient, 6)
			if h, n := handle(t, s, req, tt.a, t0); n == 0 || h.Stratum == 0 {
				t.Fatal("first request not served")
			}
			h, n := handle(t, s, req, tt.b, t0)
			limited := n == 0 || h.Stratum == 0
			if limited != tt.shared {
				t.Fatalf("second client limited=%v, want shared bucket=%v", limited, tt.shared)
			}
		})
	}
}

func TestRateLimitTimeSteps(t *testing.T) {
	s := mustServer(t, Config{Rate: 1, Burst: 2, KoDInterval: time.Minute}, newFakeClock(t0))
	req := request(4, wire.ModeClient, 6)
	served := func(rx timebase.Instant) bool {
		h, n := handle(t, s, req, client4, rx)
		return n > 0 && h.Stratum != 0
	}
	at := func(d time.Duration) timebase.Instant { return t0.Add(d) }
	steps := []struct {
		rx   timebase.Instant
		want bool
	}{
		{at(100 * time.Second), true},
		{at(100 * time.Second), true},
		{at(100 * time.Second), false}, // burst used up (KoD)
		{at(50 * time.Second), false},  // 50 s back: no refill, but no debt either
		{at(51 * time.Second), true},   // one second after the step: one credit, as if time had not jumped
		{at(51 * time.Second), false},
		{at(time.Hour), true},                    // forward: refilled to the burst
		{at(time.Hour), true},                    //
		{timebase.Instant(math.MinInt64), false}, // absurd receive times do not panic or overflow
		{timebase.Instant(math.MaxInt64), true},
		{timebase.Instant(math.MaxInt64), true},
		{timebase.Instant(math.MaxInt64), false},
		{timebase.Instant(math.MinInt64), false},
		{timebase.Instant(math.MinInt64 + int64(time.Second)), true},
	}
	for i, st := range steps {
		if got := served(st.rx); got != st.want {
			t.Fatalf("step %d (rx %d): served=%v, want %v", i, int64(st.rx), got, st.want)
		}
	}
}

// KoD timing survives a backwards step: the interval counts from the step, it does not wait for the clock
// to return to where it was.
func TestKoDIntervalTimeBackwards(t *testing.T) {
	s := mustServer(t, Config{Rate: MinRate, Burst: 1, KoDInterval: 10 * time.Second}, newFakeClock(t0)) // 10000 s per request
	req := request(4, wire.ModeClient, 6)
	kod := func(rx timebase.Instant) bool {
		h, n := handle(t, s, req, client4, rx)
		return n > 0 && h.Stratum == 0
	}
	handle(t, s, req, client4, t0)
	at := func(d time.Duration) timebase.Instant { return t0.Add(d) }
	for i, st := range []struct {
		rx   timebase.Instant
		want bool
	}{
		{at(time.Hour), true},
		{at(time.Hour + 5*time.Second), false},
		{at(time.Minute), false},                 // stepped back: re-anchored, no KoD
		{at(time.Minute + 9*time.Second), false}, // within 10 s of the re-anchor
		{at(time.Minute + 10*time.Second), true}, // 10 s after it
		{at(time.Minute + 11*time.Second), false},
	} {
		if got := kod(st.rx); got != st.want {
			t.Fatalf("step %d: KoD=%v, want %v", i, got, st.want)
		}
	}
}

func key4(i int) (hi, lo uint64) {
	return 0, 0x0000ffff00000000 | uint64(i)
}

// With every client in one four-slot bucket, a flood of fresh addresses replaces only entries with
// credit to spare: the client in debt stays tracked and limited.
func TestLimiterEvictionKeepsDebtors(t *testing.T) {
	l := newLimiter(1, 4, 64, 4, time.Second, 1)
	if l.capacitySlots() != 4 {
		t.Fatalf("capacity %d", l.capacitySlots())
	}
	now := int64(t0)
	dhi, dlo := key4(1)
	for i := range 4 {
		if ok, _ := l.admit(dhi, dlo, now); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if ok, _ := l.admit(dhi, dlo, now); ok {
		t.Fatal("debtor not limited")
	}
	for i := 1000; i < 101000; i++ {
		hi, lo := key4(i)
		now += int64(time.Microsecond)
		if ok, _ := l.admit(hi, lo, now); !ok {
			t.Fatalf("fresh client %d refused", i)
		}
	}
	if ok, _ := l.admit(dhi, dlo, now); ok {
		t.Fatal("the flood flushed the debtor out of the table: it was served again")
	}
	used, evictions := l.stats()
	if used != 4 || evictions != 100000-3 { // three fresh clients took the empty slots
		t.Fatalf("used %d evictions %d", used, evictions)
	}
}

// Among entries with equal credit the oldest is replaced; an empty slot is used before any entry is replaced.
func TestLimiterVictimOrder(t *testing.T) {
	l := newLimiter(1, 2, 64, 4, time.Second, 1)
	now := int64(t0)
	for i := 1; i <= 3; i++ {
		hi, lo := key4(i)
		l.admit(hi, lo, now)
		l.admit(hi, lo, now) // all three in full debt
	}
	if used, ev := l.stats(); used != 3 || ev != 0 {
		t.Fatalf("used %d evictions %d", used, ev)
	}
	hi, lo := key4(4)
	l.admit(hi, lo, now) // fills the last slot, one credit left
	hi, lo = key4(5)
	l.admit(hi, lo, now) // replaces client 4, the one with credit
	if _, ev := l.stats(); ev != 1 {
		t.Fatalf("evictions %d", ev)
	}
	for i := 1; i <= 3; i++ {
		hi, lo := key4(i)
		if ok, _ := l.admit(hi, lo, now); ok {
			t.Fatalf("debtor %d was replaced", i)
		}
	}
}

// Server level: 20k distinct sources (20 times the table) over 10 s cannot grow the table beyond its size,
// cannot flush a fast client's entry (which would hand it a fresh burst), and cannot push a client that keeps
// to its rate out of service.
func TestLimiterMemoryBoundUnderFlood(t *testing.T) {
	s := mustServer(t, Config{Rate: 1, Burst: 2, Clients: 1024, KoDInterval: time.Hour}, newFakeClock(t0))
	req := request(4, wire.ModeClient, 6)
	abuser := netip.MustParseAddrPort("198.51.100.66:123")
	good := netip.MustParseAddrPort("[2001:db8:ffff:ffff::1]:123") // outside the flood's /64s
	rx := t0
	abuserServed := 0
	for range 3 {
		if _, n := handle(t, s, req, abuser, rx); n != 0 {
			abuserServed++
		}
	}
	const step = 500 * time.Microsecond // 20k sources in 10 s
	for i := range 20_000 {
		rx += timebase.Instant(step)
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb9
		a[4], a[5], a[6] = byte(i>>16), byte(i>>8), byte(i)
		src := netip.AddrPortFrom(netip.AddrFrom16(a), 4000)
		if h, n := handle(t, s, req, src, rx); n == 0 || h.Stratum == 0 {
			t.Fatalf("fresh source %d limited", i)
		}
		if i%2_000 == 0 { // once a second: within the limit
			if h, n := handle(t, s, req, good, rx); n == 0 || h.Stratum == 0 {
				t.Fatalf("client keeping to its rate limited during the flood (i=%d)", i)
			}
		}
		if i%100 == 0 { // twenty times a second
			if h, n := handle(t, s, req, abuser, rx); n != 0 && h.Stratum != 0 {
				abuserServed++
			}
		}
	}
	// Its burst of 2, then 1/s over 10 s. Each eviction of its entry would hand it a fresh burst.
	if abuserServed > 2+10+1 {
		t.Errorf("a client sending 20/s was served %d times in 10 s at a limit of 1/s with burst 2: the flood flushed its entry", abuserServed)
	}
	st := s.Stats()
	if st.ClientsCapacity != 1024 || st.ClientsTracked != 1024 || st.ClientsEvicted < 20_000-1024 {
		t.Fatalf("%+v", st)
	}
}

func TestTableSizes(t *testing.T) {
	if n := unsafe.Sizeof(limEntry{}); n != 48 {
		t.Errorf("limEntry is %d bytes; the documented memory bound assumes 48", n)
	}
	if n := unsafe.Sizeof(limShard{}); n != 128 {
		t.Errorf("limShard is %d bytes, want 128 (two cache lines, no false sharing)", n)
	}
	if n := unsafe.Sizeof(counterStripe{}); n != stripeBytes {
		t.Errorf("counterStripe is %d bytes, want %d", n, stripeBytes)
	}
	for _, tt := range []struct{ clients, want int }{{0, DefaultClients}, {1, 1024}, {1000, 1024}, {1024, 1024}, {1025, 2048}, {1 << 18, 1 << 18}} {
		s := mustServer(t, Config{Rate: 1, Clients: tt.clients}, newFakeClock(t0))
		if got := s.Stats().ClientsCapacity; got != uint64(tt.want) {
			t.Errorf("Clients %d: capacity %d, want %d", tt.clients, got, tt.want)
		}
	}
}
