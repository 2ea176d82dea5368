package ntpserve

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// fakeClock is a settable clock that counts its reads, so tests can check when the server reads it.
type fakeClock struct {
	now   atomic.Int64
	reads atomic.Int64
}

func newFakeClock(t timebase.Instant) *fakeClock {
	c := new(fakeClock)
	c.now.Store(int64(t))
	return c
}

func (c *fakeClock) Now() timebase.Instant {
	c.reads.Add(1)
	return timebase.Instant(c.now.Load())
}

func (c *fakeClock) set(t timebase.Instant) { c.now.Store(int64(t)) }

// Fixed instants for the tests.
var (
	t0      = timebase.Date(2025, time.March, 1, 12, 0, 0, 123_456_789)
	eraEdge = timebase.Date(2036, time.February, 7, 6, 28, 16, 0)
)

var (
	client4 = netip.MustParseAddrPort("192.0.2.10:40123")
	client6 = netip.MustParseAddrPort("[2001:db8:1:2::10]:40123")
)

const reqXmt = timebase.NTPTime(0x0123456789abcdef)

// request builds a 48-byte request with the given version, mode and poll, transmit timestamp reqXmt, and
// the other fields set to values a reply must not echo.
func request(vn uint8, mode wire.Mode, poll int8) []byte {
	h := wire.Header{Leap: timebase.LeapUnsync, Version: vn, Mode: mode, Stratum: 9, Poll: poll, Precision: -7,
		RootDelay: 0x11111111, RootDispersion: 0x22222222, RefID: timebase.RefID{1, 2, 3, 4},
		ReferenceTime: 0x3333333333333333, OriginTime: 0x4444444444444444, ReceiveTime: 0x5555555555555555,
		TransmitTime: reqXmt}
	b := make([]byte, wire.HeaderLen)
	if _, err := h.Marshal(b); err != nil {
		panic(err)
	}
	return b
}

func withTrailer(req []byte, parts ...[]byte) []byte {
	r := append([]byte{}, req...)
	for _, p := range parts {
		r = append(r, p...)
	}
	return r
}

// field returns an extension field of the given type with an n-byte value.
func field(typ uint16, n int) []byte {
	b, err := wire.AppendField(nil, typ, bytes.Repeat([]byte{0x5a}, n))
	if err != nil {
		panic(err)
	}
	return b
}

func mac(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 42)
	return append(b, bytes.Repeat([]byte{0xcc}, n)...)
}

// handle runs one request through s with a fresh reply buffer and checks the invariants every call must
// keep: the reply is 0 or 48 bytes (these tests send no NTS), never longer than the request, and nothing
// is written past it.
func handle(t testing.TB, s *Server, req []byte, client netip.AddrPort, rx timebase.Instant) (wire.Header, int) {
	t.Helper()
	resp := bytes.Repeat([]byte{0xee}, max(len(req), wire.HeaderLen)+16)
	n := s.Handle(resp, req, client, rx)
	if n != 0 && n != wire.HeaderLen {
		t.Fatalf("reply length %d", n)
	}
	if n > len(req) {
		t.Fatalf("reply of %d bytes to a request of %d", n, len(req))
	}
	for i, c := range resp[n:] {
		if c != 0xee {
			t.Fatalf("Handle wrote byte %d beyond its %d-byte reply", n+i, n)
		}
	}
	var h wire.Header
	if n > 0 {
		if err := h.Unmarshal(resp[:n]); err != nil {
			t.Fatal(err)
		}
	}
	return h, n
}

func mustServer(t testing.TB, cfg Config, clock timebase.Clock) *Server {
	t.Helper()
	s, err := NewServer(cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lockedSnapshot is a stratum-1 GPS snapshot with a dispersion model: 1 ms at RefTime, growing 10 µs/s.
func lockedSnapshot(ref timebase.Instant) *timebase.Snapshot {
	return &timebase.Snapshot{
		State:          timebase.StateLocked,
		Leap:           timebase.LeapNone,
		Stratum:        1,
		RefID:          timebase.RefIDFromString("GPS"),
		RefTime:        ref,
		Precision:      -23,
		RootDelay:      0,
		RootDispersion: time.Millisecond,
		DispersionRate: 10e-6,
	}
}

// outcomes returns the eight outcome counters and KoDSent of st as a comparable array.
func outcomes(st Stats) [9]uint64 {
	return [9]uint64{st.Served, st.RateLimited, st.KoDSent, st.Denied, st.Malformed, st.Ignored, st.Errors, st.NTSNAK, st.NTSDropped}
}
