package ntpserve

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// FuzzHandle drives the whole handler path with arbitrary datagrams, sources and receive times, through a
// server with rate limiting (a small table, so eviction runs) and access rules. It checks: no panic; a
// reply only to a mode 3, version 1-4 request of at least 48 bytes; a reply of exactly 48 bytes, never
// longer than the request, with nothing written beyond it; the reply is mode 4 with the request's version
// and its origin is the request's transmit timestamp; every call is counted exactly once.
func FuzzHandle(f *testing.F) {
	v4 := request(4, wire.ModeClient, 6)
	for _, seed := range [][]byte{
		v4,
		request(1, wire.ModeClient, -6),
		request(3, wire.ModeClient, 17),
		request(0, wire.ModeClient, 0),
		request(5, wire.ModeClient, 0),
		request(4, wire.ModeControl, 0),
		request(4, wire.ModeServer, 0),
		withTrailer(v4, field(0x0104, 32), field(0x0204, 100), field(0x0404, 36)),
		withTrailer(v4, field(0x2005, 24), mac(16)),
		withTrailer(v4, mac(20)),
		withTrailer(v4, []byte{0, 1, 0, 12}),
		v4[:47],
		{},
		{0x26, 0x01, 0, 1},
	} {
		f.Add(seed, []byte{192, 0, 2, 1}, uint16(123), int64(t0))
		f.Add(seed, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(50000), int64(eraEdge))
	}
	f.Add(v4, []byte{10, 9, 9, 9}, uint16(1), int64(-1))   // denied by the rules below
	f.Add(v4, []byte{224, 0, 0, 1}, uint16(123), int64(0)) // multicast source
	f.Add(v4, []byte{}, uint16(123), int64(0))             // no address at all

	clk := newFakeClock(t0)
	s, err := NewServer(Config{Rate: 2, Burst: 3, Clients: 256, KoDInterval: time.Second,
		Allow: prefixes("0.0.0.0/0 ::/0 10.9.9.0/24"), Deny: prefixes("10.9.0.0/16 2001:db8:bad::/48")}, clk)
	if err != nil {
		f.Fatal(err)
	}
	s.Publish(lockedSnapshot(t0))

	f.Fuzz(func(t *testing.T, req, addr []byte, port uint16, rx int64) {
		var client netip.AddrPort
		switch len(addr) {
		case 4:
			client = netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr)), port)
		case 16:
			client = netip.AddrPortFrom(netip.AddrFrom16([16]byte(addr)), port)
		}
		clk.set(timebase.Instant(rx))
		before := s.Stats()
		resp := bytes.Repeat([]byte{0xee}, len(req)+wire.HeaderLen+8)
		n := s.Handle(resp, req, client, timebase.Instant(rx))
		after := s.Stats()

		if after.Requests != before.Requests+1 {
			t.Fatalf("requests went from %d to %d", before.Requests, after.Requests)
		}
		replies := (after.Served - before.Served) + (after.KoDSent - before.KoDSent)
		if (n > 0) != (replies == 1) || replies > 1 {
			t.Fatalf("reply %d bytes but served+KoD moved by %d", n, replies)
		}
		for i, c := range resp[n:] {
			if c != 0xee {
				t.Fatalf("byte %d written beyond a %d-byte reply", n+i, n)
			}
		}
		if n == 0 {
			return
		}
		if n != wire.HeaderLen || n > len(req) {
			t.Fatalf("reply of %d bytes to a request of %d", n, len(req))
		}
		vn, mode, _ := wire.Peek(req)
		if mode != wire.ModeClient || vn < 1 || vn > 4 {
			t.Fatalf("replied to version %d mode %v", vn, mode)
		}
		var q, h wire.Header
		if err := q.Unmarshal(req); err != nil {
			t.Fatal(err)
		}
		if err := h.Unmarshal(resp); err != nil {
			t.Fatal(err)
		}
		if h.Mode != wire.ModeServer || h.Version != vn || h.OriginTime != q.TransmitTime {
			t.Fatalf("reply %+v to request %+v", h, q)
		}
		if h.Poll < MinPoll || h.Poll > MaxPoll {
			t.Fatalf("poll %d out of range", h.Poll)
		}
		if h.Stratum == 0 {
			if h.RefID != kissRATE || h.Leap != timebase.LeapUnsync || h.TransmitTime != q.TransmitTime {
				t.Fatalf("bad KoD %+v", h)
			}
		} else if binary.BigEndian.Uint64(resp[40:48]) != uint64(timebase.Instant(rx).NTP()) {
			t.Fatalf("transmit %#x is not the clock's reading", binary.BigEndian.Uint64(resp[40:48]))
		}
	})
}
