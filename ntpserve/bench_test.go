package ntpserve

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// benchClients returns n distinct IPv4 sources.
func benchClients(n int, base byte) []netip.AddrPort {
	cs := make([]netip.AddrPort, n)
	for i := range cs {
		cs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, base, byte(i >> 8), byte(i)}), uint16(1024+i))
	}
	return cs
}

// TestHandleZeroAlloc: no outcome allocates, so no traffic, hostile or not, makes garbage.
func TestHandleZeroAlloc(t *testing.T) {
	clk := newFakeClock(t0)
	s := mustServer(t, Config{Rate: 1, Burst: 1, Allow: prefixes("10.0.0.0/8 2001:db8::/32"), Deny: prefixes("10.66.0.0/16")}, clk)
	s.Publish(lockedSnapshot(t0))
	v4 := request(4, wire.ModeClient, 6)
	ext := withTrailer(v4, field(0x2005, 32), field(0x2006, 100), field(0x2007, 36))
	resp := make([]byte, len(ext))
	zoned := netip.MustParseAddrPort("[2001:db8::1%eth0]:123")
	clients := benchClients(256, 1)
	var rx timebase.Instant = t0
	i := 0
	for _, tt := range []struct {
		name string
		run  func()
	}{
		{"served", func() {
			rx += timebase.Second // past the limit's interval: always served
			if s.Handle(resp, v4, clients[0], rx) != 48 {
				t.Fatal("not served")
			}
		}},
		{"served with extension fields, zoned IPv6", func() {
			rx += timebase.Second
			if s.Handle(resp, ext, zoned, rx) != 48 {
				t.Fatal("not served")
			}
		}},
		{"new clients evicting", func() {
			i++
			s.Handle(resp, v4, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 123), rx)
		}},
		{"rate limited", func() { s.Handle(resp, v4, clients[1], t0) }},
		{"denied", func() { s.Handle(resp, v4, netip.MustParseAddrPort("10.66.0.1:123"), rx) }},
		{"malformed", func() { s.Handle(resp, v4[:30], clients[2], rx) }},
		{"malformed extension", func() { s.Handle(resp, withTrailerNoAlloc(ext), clients[2], rx) }},
		{"ignored", func() { s.Handle(resp, []byte{0x26, 0, 0, 0}, clients[3], rx) }},
	} {
		if allocs := testing.AllocsPerRun(500, tt.run); allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", tt.name, allocs)
		}
	}
}

// withTrailerNoAlloc returns ext cut inside its second field, a malformed layout, without allocating.
func withTrailerNoAlloc(ext []byte) []byte { return ext[:wire.HeaderLen+36+40] }

// benchClock is a clock as cheap as a clock can be, so the benchmark measures the handler.
type benchClock struct{ t atomic.Int64 }

func (c *benchClock) Now() timebase.Instant { return timebase.Instant(c.t.Load()) }

// BenchmarkHandle measures one served request through the default policy (rate limiting on), from a
// population of 4096 clients each within its limit: the production hot path.
func BenchmarkHandle(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"nolimit", Config{}},
		{"acl", func() Config {
			c := DefaultConfig()
			c.Allow = prefixes("10.0.0.0/8 192.168.0.0/16 172.16.0.0/12 2001:db8::/32")
			c.Deny = prefixes("10.66.0.0/16 10.1.255.0/24")
			return c
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			clk := new(benchClock)
			clk.t.Store(int64(t0))
			s := mustServer(b, bc.cfg, clk)
			s.Publish(lockedSnapshot(t0))
			req := request(4, wire.ModeClient, 6)
			resp := make([]byte, 64)
			clients := benchClients(4096, 1)
			rx := t0
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				rx += timebase.Instant(time.Millisecond) // each client every 4 s: within 8/s
				if s.Handle(resp, req, clients[i&4095], rx) != 48 {
					b.Fatal("not served")
				}
				i++
			}
		})
	}
}

// BenchmarkHandleRateLimited measures the cost of dropping a flooding client's requests.
func BenchmarkHandleRateLimited(b *testing.B) {
	clk := new(benchClock)
	s := mustServer(b, DefaultConfig(), clk)
	req := request(4, wire.ModeClient, 6)
	resp := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		s.Handle(resp, req, client4, t0)
	}
}

// BenchmarkHandleParallel runs Handle from GOMAXPROCS goroutines at once, each with its own clients, as
// the SO_REUSEPORT sockets do. ns/op close to BenchmarkHandle/default divided by the core count means
// the shared state (limiter shards, counters, snapshot) does not serialise the goroutines.
func BenchmarkHandleParallel(b *testing.B) {
	clk := new(benchClock)
	clk.t.Store(int64(t0))
	s := mustServer(b, DefaultConfig(), clk)
	s.Publish(lockedSnapshot(t0))
	var next atomic.Int32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1)
		clients := benchClients(4096, byte(g))
		req := request(4, wire.ModeClient, 6)
		resp := make([]byte, 64)
		rx := t0
		i := 0
		for pb.Next() {
			rx += timebase.Instant(time.Millisecond)
			if s.Handle(resp, req, clients[i&4095], rx) != 48 {
				b.Error("not served")
				return
			}
			i++
		}
	})
}
