package ntpserve

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

func TestServeBeforeFirstPublish(t *testing.T) {
	clk := newFakeClock(t0 + 250*timebase.Second/1000)
	s := mustServer(t, Config{}, clk)
	rx := t0
	h, n := handle(t, s, request(4, wire.ModeClient, 6), client4, rx)
	if n != 48 {
		t.Fatalf("no reply")
	}
	want := wire.Header{
		Leap: timebase.LeapUnsync, Version: 4, Mode: wire.ModeServer, Stratum: 16, Poll: 6, Precision: -20,
		RootDelay: 0, RootDispersion: 16 << 16, RefID: timebase.RefID{}, ReferenceTime: 0,
		OriginTime: reqXmt, ReceiveTime: rx.NTP(), TransmitTime: (t0 + 250*timebase.Second/1000).NTP(),
	}
	if h != want {
		t.Fatalf("reply\n got %+v\nwant %+v", h, want)
	}
	if r := clk.reads.Load(); r != 1 {
		t.Fatalf("clock read %d times, want once", r)
	}
}

func TestServeSynchronized(t *testing.T) {
	ref := t0 - 10*timebase.Second
	clk := newFakeClock(t0 + timebase.Second/1000)
	s := mustServer(t, Config{}, clk)
	snap := lockedSnapshot(ref)
	snap.RootDelay = 3 * time.Microsecond
	s.Publish(snap)
	h, n := handle(t, s, request(4, wire.ModeClient, 4), client6, t0)
	if n != 48 {
		t.Fatal("no reply")
	}
	// Root dispersion at transmit (ref + 10.001 s): 1 ms + 10.001 s * 10e-6 = 1.10001 ms = 72.09 -> 73.
	// Root delay 3 µs = 0.197 -> 1 (rounded up).
	want := wire.Header{
		Leap: timebase.LeapNone, Version: 4, Mode: wire.ModeServer, Stratum: 1, Poll: 4, Precision: -23,
		RootDelay: 1, RootDispersion: 73, RefID: timebase.RefIDFromString("GPS"), ReferenceTime: ref.NTP(),
		OriginTime: reqXmt, ReceiveTime: t0.NTP(), TransmitTime: (t0 + timebase.Second/1000).NTP(),
	}
	if h != want {
		t.Fatalf("reply\n got %+v\nwant %+v", h, want)
	}
	// The snapshot is copied: changing it after Publish changes nothing.
	snap.Stratum = 7
	if h, _ := handle(t, s, request(4, wire.ModeClient, 4), client6, t0); h.Stratum != 1 {
		t.Fatalf("stratum %d after mutating the published snapshot", h.Stratum)
	}
}

// Root dispersion follows the snapshot's model at the transmit instant, rounded up to 2^-16 s.
func TestDispersionGrowsWithTime(t *testing.T) {
	ref := t0
	for _, tt := range []struct {
		name  string
		after time.Duration
		want  timebase.NTPShort
	}{
		{"before RefTime", -time.Hour, 66},               // 1 ms = 65.536
		{"at RefTime", 0, 66},                            // 1 ms
		{"1 s later", time.Second, 67},                   // 1.01 ms = 66.19
		{"1000 s later", 1000 * time.Second, 721},        // 11 ms = 720.9
		{"a day later", 24 * time.Hour, 56689},           // 865 ms = 56688.6
		{"a year later", 365 * 24 * time.Hour, 20667499}, // 315.361 s = 20667498.5
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(ref.Add(tt.after))
			s := mustServer(t, Config{}, clk)
			s.Publish(lockedSnapshot(ref))
			// rx is far from the transmit time on purpose: dispersion must use the transmit instant.
			h, n := handle(t, s, request(4, wire.ModeClient, 6), client4, ref-timebase.Second)
			if n == 0 {
				t.Fatal("no reply")
			}
			if h.RootDispersion != tt.want {
				t.Fatalf("root dispersion %d, want %d", h.RootDispersion, tt.want)
			}
		})
	}
}

func TestEraOne(t *testing.T) {
	rx := eraEdge + 5*timebase.Second + 250*timebase.Second/1000 // 2036-02-07T06:28:21.25Z
	ref := eraEdge - timebase.Second                             // the last second of era 0
	clk := newFakeClock(rx + timebase.Second/2)
	s := mustServer(t, Config{}, clk)
	s.Publish(lockedSnapshot(ref))
	h, n := handle(t, s, request(4, wire.ModeClient, 6), client4, rx)
	if n == 0 {
		t.Fatal("no reply")
	}
	if h.ReceiveTime.Seconds() != 5 || h.ReceiveTime.Fraction() != 1<<30 {
		t.Fatalf("receive %#x, want seconds 5, fraction 0.25", uint64(h.ReceiveTime))
	}
	if h.TransmitTime.Seconds() != 5 || h.TransmitTime.Fraction() != 3<<30 {
		t.Fatalf("transmit %#x, want seconds 5, fraction 0.75", uint64(h.TransmitTime))
	}
	if h.ReferenceTime.Seconds() != 0xffffffff {
		t.Fatalf("reference %#x, want the last second of era 0", uint64(h.ReferenceTime))
	}
	pivot := timebase.Date(2036, 1, 1, 0, 0, 0, 0) // a client whose clock is five weeks behind
	if got := timebase.FromNTP(h.TransmitTime, pivot); got != rx+timebase.Second/2 {
		t.Fatalf("transmit resolves to %v", got)
	}
	if got := timebase.FromNTP(h.ReferenceTime, pivot); got != ref {
		t.Fatalf("reference resolves to %v", got)
	}
}

func TestVersionsEchoed(t *testing.T) {
	s := mustServer(t, Config{}, newFakeClock(t0))
	for vn := uint8(1); vn <= 4; vn++ {
		h, n := handle(t, s, request(vn, wire.ModeClient, 6), client4, t0)
		if n != 48 || h.Version != vn || h.Mode != wire.ModeServer || h.OriginTime != reqXmt {
			t.Fatalf("v%d: n=%d header %+v", vn, n, h)
		}
	}
}

func TestPollClamped(t *testing.T) {
	s := mustServer(t, Config{}, newFakeClock(t0))
	for _, tt := range []struct{ in, want int8 }{
		{-128, MinPoll}, {-7, MinPoll}, {-6, -6}, {-2, -2}, {0, 0}, {6, 6}, {17, 17}, {18, MaxPoll}, {127, MaxPoll},
	} {
		h, _ := handle(t, s, request(4, wire.ModeClient, tt.in), client4, t0)
		if h.Poll != tt.want {
			t.Errorf("poll %d -> %d, want %d", tt.in, h.Poll, tt.want)
		}
	}
}

func TestPublishSanitizes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		snap        *timebase.Snapshot
		leap        timebase.LeapIndicator
		stratum     uint8
		refid       string
		leapInserts bool
	}{
		{"nil is unsynchronized", nil, timebase.LeapUnsync, 16, "", false},
		{"stratum 0 would be a kiss", &timebase.Snapshot{Stratum: 0, RefID: timebase.RefIDFromString("GPS")}, timebase.LeapUnsync, 16, "GPS", false},
		{"stratum 17", &timebase.Snapshot{Stratum: 17}, timebase.LeapUnsync, 16, "", false},
		{"LI 4", &timebase.Snapshot{Stratum: 1, Leap: 4}, timebase.LeapUnsync, 16, "", false},
		{"leap insert passes", &timebase.Snapshot{Stratum: 1, Leap: timebase.LeapInsert, RefID: timebase.RefIDFromString("PPS")}, timebase.LeapInsert, 1, "PPS", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, Config{}, newFakeClock(t0))
			s.Publish(lockedSnapshot(t0)) // something else first, to see Publish replace it
			s.Publish(tt.snap)
			h, n := handle(t, s, request(4, wire.ModeClient, 6), client4, t0)
			if n == 0 || h.Leap != tt.leap || h.Stratum != tt.stratum || h.RefID.String() != tt.refid {
				t.Fatalf("n=%d LI=%v stratum=%d refid=%q; want LI=%v stratum=%d refid=%q", n, h.Leap, h.Stratum, h.RefID, tt.leap, tt.stratum, tt.refid)
			}
		})
	}
}

// Each request lands in exactly one outcome counter, and only served requests and KoDs get a reply.
func TestOutcomesCountedOnce(t *testing.T) {
	v4 := request(4, wire.ModeClient, 6)
	const (
		served = iota
		rateLimited
		kodSent
		denied
		malformed
		ignored
		errs
		ntsNAK
		ntsDropped
	)
	type tc struct {
		name    string
		req     []byte
		client  netip.AddrPort
		respLen int
		want    int // index into outcomes()
		reply   bool
	}
	tests := []tc{
		{name: "v4 client", req: v4, want: served, reply: true},
		{name: "v3 client", req: request(3, wire.ModeClient, 6), want: served, reply: true},
		{name: "v1 client", req: request(1, wire.ModeClient, 6), want: served, reply: true},
		// Without an NTS processor, NTS requests are never answered (an answer would be unauthenticated).
		{name: "v4 with NTS-shaped fields", req: withTrailer(v4, field(0x0104, 32), field(0x0204, 100), field(0x0404, 36)), want: ntsDropped},
		{name: "v4 with a field and MD5 MAC", req: withTrailer(v4, field(0x2005, 24), mac(16)), want: served, reply: true},
		{name: "v4 with SHA-1 MAC", req: withTrailer(v4, mac(20)), want: served, reply: true},
		{name: "v3 with MAC", req: withTrailer(request(3, wire.ModeClient, 6), mac(16)), want: served, reply: true},
		{name: "empty", req: nil, want: malformed},
		{name: "47 bytes", req: v4[:47], want: malformed},
		{name: "1 byte of mode 3", req: v4[:1], want: malformed},
		{name: "version 0", req: request(0, wire.ModeClient, 6), want: malformed},
		{name: "field length 12", req: withTrailer(v4, []byte{0, 1, 0, 12}, make([]byte, 24)), want: malformed},
		{name: "field overruns", req: withTrailer(v4, []byte{0, 1, 0, 64}, make([]byte, 28)), want: malformed},
		{name: "odd trailing bytes", req: withTrailer(v4, []byte{1, 2, 3}), want: malformed},
		{name: "v3 with an extension field", req: withTrailer(request(3, wire.ModeClient, 6), field(1, 28)), want: malformed},
		{name: "version 5", req: request(5, wire.ModeClient, 6), want: ignored},
		{name: "version 7", req: request(7, wire.ModeClient, 6), want: ignored},
		{name: "v1 mode 0", req: request(1, wire.ModeReserved, 6), want: ignored},
		{name: "12-byte mode 6 (ntpq)", req: []byte{0x26, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, want: ignored},
		{name: "mode 7 monlist probe", req: append([]byte{0x17, 0x00, 0x03, 0x2a}, make([]byte, 44)...), want: ignored},
		{name: "multicast source", req: v4, client: netip.MustParseAddrPort("224.0.1.1:123"), want: denied},
		{name: "IPv6 multicast source", req: v4, client: netip.MustParseAddrPort("[ff02::1]:123"), want: denied},
		{name: "broadcast source", req: v4, client: netip.MustParseAddrPort("255.255.255.255:123"), want: denied},
		{name: "unspecified source", req: v4, client: netip.MustParseAddrPort("0.0.0.0:123"), want: denied},
		{name: "port 0", req: v4, client: netip.MustParseAddrPort("192.0.2.1:0"), want: denied},
		{name: "zero AddrPort", req: v4, client: netip.AddrPort{}, want: denied},
		{name: "reply buffer too short", req: v4, respLen: 47, want: errs},
	}
	for mode := wire.Mode(0); mode <= 7; mode++ {
		if mode != wire.ModeClient {
			tests = append(tests, tc{name: "v4 " + mode.String(), req: request(4, mode, 6), want: ignored})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, DefaultConfig(), newFakeClock(t0))
			client := tt.client
			if client == (netip.AddrPort{}) && tt.name != "zero AddrPort" {
				client = client4
			}
			var n int
			var h wire.Header
			if tt.respLen > 0 {
				n = s.Handle(make([]byte, tt.respLen), tt.req, client, t0)
			} else {
				h, n = handle(t, s, tt.req, client, t0)
			}
			if (n > 0) != tt.reply {
				t.Fatalf("reply %d bytes, want reply=%v", n, tt.reply)
			}
			if n > 0 && (h.OriginTime != reqXmt || h.Mode != wire.ModeServer) {
				t.Fatalf("bad reply %+v", h)
			}
			st := s.Stats()
			var want [9]uint64
			want[tt.want] = 1
			if outcomes(st) != want || st.Requests != 1 {
				t.Fatalf("stats %+v, want outcome %d counted once", st, tt.want)
			}
		})
	}
}

// The transmit timestamp is the clock's reading; no other path reads the clock.
func TestClockReadOnlyToServe(t *testing.T) {
	clk := newFakeClock(t0)
	s := mustServer(t, Config{Rate: 1, Burst: 1, Deny: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, clk)
	handle(t, s, request(4, wire.ModeControl, 6), client4, t0)
	handle(t, s, request(4, wire.ModeClient, 6)[:40], client4, t0)
	handle(t, s, request(4, wire.ModeClient, 6), netip.MustParseAddrPort("198.51.100.7:123"), t0)
	if r := clk.reads.Load(); r != 0 {
		t.Fatalf("clock read %d times without serving", r)
	}
	handle(t, s, request(4, wire.ModeClient, 6), client4, t0) // served
	handle(t, s, request(4, wire.ModeClient, 6), client4, t0) // KoD
	handle(t, s, request(4, wire.ModeClient, 6), client4, t0) // silence
	if r := clk.reads.Load(); r != 1 {
		t.Fatalf("clock read %d times for one served request", r)
	}
	if st := s.Stats(); st.Served != 1 || st.KoDSent != 1 || st.RateLimited != 2 {
		t.Fatalf("%+v", st)
	}
}

func TestNewServerErrors(t *testing.T) {
	if _, err := NewServer(Config{}, nil); err == nil || !strings.Contains(err.Error(), "clock is nil") {
		t.Fatalf("nil clock: %v", err)
	}
	_, err := NewServer(Config{Rate: -1}, newFakeClock(t0))
	if err == nil || !strings.HasPrefix(err.Error(), "ntpserve.NewServer: ") || !strings.Contains(err.Error(), "Config.Rate = -1") {
		t.Fatalf("bad rate: %v", err)
	}
	if errors.Unwrap(err) == nil {
		t.Fatal("NewServer does not wrap the validation error")
	}
}

func TestConfigValidate(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct {
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{DefaultConfig(), ""},
		{Config{Rate: MinRate, Burst: MaxBurst, IPv6Prefix: 128, Clients: MaxClients, KoDInterval: time.Hour}, ""},
		{Config{Rate: MaxRate, Burst: 1, IPv6Prefix: MinIPv6Prefix, Clients: 1}, ""},
		{Config{Rate: -1}, "Config.Rate = -1"},
		{Config{Rate: math.NaN()}, "Config.Rate = NaN"},
		{Config{Rate: math.Inf(1)}, "Config.Rate = +Inf"},
		{Config{Rate: MaxRate * 2}, "Config.Rate"},
		{Config{Rate: MinRate / 2}, "Config.Rate"},
		{Config{Burst: -1}, "Config.Burst = -1"},
		{Config{Burst: MaxBurst + 1}, "Config.Burst"},
		{Config{IPv6Prefix: 8}, "Config.IPv6Prefix = 8"},
		{Config{IPv6Prefix: 129}, "Config.IPv6Prefix = 129"},
		{Config{IPv6Prefix: -1}, "Config.IPv6Prefix = -1"},
		{Config{Clients: -5}, "Config.Clients = -5"},
		{Config{Clients: MaxClients + 1}, "Config.Clients"},
		{Config{KoDInterval: -time.Second}, "Config.KoDInterval = -1s"},
		{Config{Allow: []netip.Prefix{{}}}, "Config.Allow[0]"},
		{Config{Deny: []netip.Prefix{p("10.0.0.0/8"), {}}}, "Config.Deny[1]"},
		{Config{Allow: []netip.Prefix{p("::ffff:0:0/80")}}, "IPv4-mapped"},
		{Config{Allow: []netip.Prefix{p("10.0.0.0/8")}, Deny: []netip.Prefix{p("10.1.2.3/8")}}, "in both Allow and Deny"},
		{Config{Allow: []netip.Prefix{p("::ffff:10.0.0.0/104")}, Deny: []netip.Prefix{p("10.0.0.0/8")}}, "in both Allow and Deny"},
		{Config{Allow: []netip.Prefix{p("10.0.0.0/8"), p("10.0.0.0/8")}}, ""},
	} {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil {
			t.Errorf("%+v: unexpected %v", tt.cfg, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: error %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
}

func TestRatePoll(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		want int8
	}{{8, -3}, {1, 0}, {0.5, 1}, {0.3, 2}, {1e6, MinPoll}, {MinRate, 14}, {1.0 / 64, 6}} {
		if got := ratePoll(tt.rate); got != tt.want {
			t.Errorf("ratePoll(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}
