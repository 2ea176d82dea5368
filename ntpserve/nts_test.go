package ntpserve

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// ntsClient is a client's NTS association, made through nts.ServeKE with a stand-in for the TLS exporter.
type ntsClient struct {
	keys    nts.SessionKeys
	cookies [][]byte
}

func chacha(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

func exporter(label string, context []byte, length int) ([]byte, error) {
	h := sha256.Sum256(append([]byte(label), context...))
	return h[:length], nil
}

func newNTS(t testing.TB, alg nts.AlgorithmID) (*nts.Processor, ntsClient) {
	t.Helper()
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, t0, chacha(1))
	if err != nil {
		t.Fatal(err)
	}
	p, err := nts.NewProcessor(nts.ProcessorConfig{Rand: chacha(2)}, ks)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := nts.ParseMessage(nts.AppendKERequest(nil, []nts.AlgorithmID{alg}, true))
	resp, _, err := nts.ServeKE(&nts.KEConfig{}, recs, exporter, ks, chacha(3))
	if err != nil {
		t.Fatal(err)
	}
	rrecs, _, _ := nts.ParseMessage(resp)
	r, err := nts.ParseKEResponse(rrecs, []nts.AlgorithmID{alg})
	if err != nil {
		t.Fatal(err)
	}
	k, err := nts.ExportKeys(r.Negotiation(), exporter)
	if err != nil {
		t.Fatal(err)
	}
	return p, ntsClient{keys: k, cookies: r.Cookies}
}

var ntsUID = bytes.Repeat([]byte{0x42}, 32)

func (c *ntsClient) request(t testing.TB, placeholders int) []byte {
	t.Helper()
	a, _ := nts.NewAEAD(c.keys.AEAD, c.keys.C2S())
	req, err := nts.AppendRequest(request(4, wire.ModeClient, 4), ntsUID, c.cookies[0], placeholders, &c.keys, make([]byte, a.NonceSize()))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHandleNTS(t *testing.T) {
	for _, alg := range []nts.AlgorithmID{nts.AESSIVCMAC256, nts.AES128GCMSIV} {
		p, c := newNTS(t, alg)
		clock := newFakeClock(t0.Add(time.Millisecond))
		s := mustServer(t, Config{NTS: p}, clock)
		s.Publish(lockedSnapshot(t0))
		req := c.request(t, 2)
		resp := make([]byte, 1500)
		n := s.Handle(resp, req, client4, t0)
		if n != len(req) {
			t.Fatalf("%v: reply %d bytes to %d", alg, n, len(req))
		}
		var h wire.Header
		h.Unmarshal(resp[:n])
		if h.Stratum != 1 || h.OriginTime != reqXmt || h.TransmitTime != t0.Add(time.Millisecond).NTP() || h.Mode != wire.ModeServer {
			t.Fatalf("%v: header %+v", alg, h)
		}
		cookies, err := nts.VerifyResponse(resp[:n], ntsUID, &c.keys)
		if err != nil || len(cookies) != 3 {
			t.Fatalf("%v: %d cookies, %v", alg, len(cookies), err)
		}

		// A cookie the server cannot open: an NTS NAK, shorter than the request, with only the identifier.
		p.SetKeys(mustKeySet(t))
		n = s.Handle(resp, req, client4, t0)
		h.Unmarshal(resp[:n])
		if _, err := nts.VerifyResponse(resp[:n], ntsUID, &c.keys); !errors.Is(err, nts.ErrNTSNAK) || h.Stratum != 0 || h.RefID != kissNTSN || h.OriginTime != reqXmt {
			t.Fatalf("%v: NAK expected: %v, header %+v", alg, err, h)
		}
		// Malformed NTS: no reply at all.
		if n := s.Handle(resp, withTrailer(request(4, wire.ModeClient, 4), field(nts.FieldUniqueID, 32)), client4, t0); n != 0 {
			t.Fatalf("%v: malformed NTS request answered", alg)
		}
		// Extension fields that are not NTS: plain NTP.
		if _, n := handle(t, s, withTrailer(request(4, wire.ModeClient, 4), field(0x2005, 24)), client4, t0); n != wire.HeaderLen {
			t.Fatalf("%v: plain request with a field: %d", alg, n)
		}
		st := s.Stats()
		if st.NTSServed != 1 || st.Served != 2 || st.NTSNAK != 1 || st.NTSDropped != 1 || st.Requests != 4 {
			t.Fatalf("%v: stats %+v", alg, st)
		}
	}
}

func mustKeySet(t testing.TB) *nts.KeySet {
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, t0, chacha(9))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// Without NTS, an NTS request gets no reply rather than an unauthenticated one.
func TestHandleNTSDisabled(t *testing.T) {
	_, c := newNTS(t, nts.AESSIVCMAC256)
	s := mustServer(t, Config{}, newFakeClock(t0))
	if n := s.Handle(make([]byte, 1500), c.request(t, 0), client4, t0); n != 0 {
		t.Fatalf("answered %d bytes", n)
	}
	if st := s.Stats(); st.NTSDropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A reply buffer too small for the NTS reply is the edge's bug: counted, no reply.
func TestHandleNTSShortBuffer(t *testing.T) {
	p, c := newNTS(t, nts.AESSIVCMAC256)
	s := mustServer(t, Config{NTS: p}, newFakeClock(t0))
	if n := s.Handle(make([]byte, 100), c.request(t, 0), client4, t0); n != 0 {
		t.Fatalf("answered %d bytes", n)
	}
	if st := s.Stats(); st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkHandleNTS(b *testing.B) {
	for _, alg := range []nts.AlgorithmID{nts.AESSIVCMAC256, nts.AES128GCMSIV} {
		b.Run(alg.String(), func(b *testing.B) {
			p, c := newNTS(b, alg)
			s := mustServer(b, Config{NTS: p}, newFakeClock(t0))
			req := c.request(b, 0)
			resp := make([]byte, 1500)
			b.ReportAllocs()
			for b.Loop() {
				if s.Handle(resp, req, client4, t0) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}

var _ = timebase.Instant(0)

// An authenticated AES-SIV request allocates nothing once its session is in the processor's cache (the
// first request fills it); AES-128-GCM-SIV allocates only its two per-message AES keys (see nts's doc).
func TestHandleNTSAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so pooled scratch is allocated again")
	}
	for _, tc := range []struct {
		alg  nts.AlgorithmID
		want float64
	}{{nts.AESSIVCMAC256, 0}, {nts.AES128GCMSIV, 2}} {
		p, c := newNTS(t, tc.alg)
		s := mustServer(t, Config{NTS: p}, newFakeClock(t0))
		s.Publish(lockedSnapshot(t0))
		req := c.request(t, 0)
		resp := make([]byte, 1500)
		allocs := testing.AllocsPerRun(200, func() {
			if s.Handle(resp, req, client4, t0) != len(req) {
				t.Fatalf("%v: no authenticated reply", tc.alg)
			}
		})
		if allocs > tc.want {
			t.Errorf("%v: %v allocations per request, want at most %v", tc.alg, allocs, tc.want)
		}
	}
}

// A Batch prepares every request before it finishes any: no clock reading (no transmit timestamp) happens
// until all of the batch's NTS cryptography is done, and the replies and counters are those Handle gives.
func TestBatchPreparesBeforeFinishing(t *testing.T) {
	p, c := newNTS(t, nts.AESSIVCMAC256)
	clock := newFakeClock(t0.Add(time.Millisecond))
	s := mustServer(t, Config{NTS: p, Rate: 1, Burst: 2, KoDInterval: time.Nanosecond, Deny: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, clock)
	s.Publish(lockedSnapshot(t0))
	limited := netip.MustParseAddrPort("192.0.2.99:123")
	batch := []struct {
		req    []byte
		client netip.AddrPort
		want   string
	}{
		{c.request(t, 1), client4, "nts"},
		{request(4, wire.ModeClient, 4), client6, "plain"},
		{request(4, wire.ModeClient, 4), netip.MustParseAddrPort("198.51.100.7:123"), "none"}, // denied
		{request(4, wire.ModeControl, 4), client4, "none"},
		{withTrailer(request(4, wire.ModeClient, 4), field(nts.FieldUniqueID, 32)), client4, "none"}, // malformed NTS
		{request(3, wire.ModeClient, 4), limited, "plain"},
		{request(3, wire.ModeClient, 4), limited, "plain"},
		{request(3, wire.ModeClient, 4), limited, "kiss"}, // over the burst: RATE
		{c.request(t, 0), netip.MustParseAddrPort("192.0.2.11:123"), "nts"},
	}
	b := s.NewBatch(len(batch))
	for i, r := range batch {
		b.Prepare(i, r.req, r.client, t0)
	}
	if n := clock.reads.Load(); n != 0 {
		t.Fatalf("the clock was read %d times before any reply was finished", n)
	}
	for i, r := range batch {
		resp := make([]byte, 1500)
		n := b.Finish(i, resp)
		var h wire.Header
		h.Unmarshal(resp[:max(n, wire.HeaderLen)])
		got := "none"
		switch {
		case n == 0:
		case h.Stratum == 0 && h.RefID == kissRATE:
			got = "kiss"
		case n > wire.HeaderLen:
			if _, err := nts.VerifyResponse(resp[:n], ntsUID, &c.keys); err != nil {
				t.Fatalf("%d: NTS reply does not verify: %v", i, err)
			}
			got = "nts"
		case n == wire.HeaderLen && h.Stratum == 1 && h.TransmitTime == t0.Add(time.Millisecond).NTP():
			got = "plain"
		}
		if got != r.want {
			t.Errorf("%d: reply %q (%d bytes), want %q", i, got, n, r.want)
		}
	}
	st := s.Stats()
	if st.NTSServed != 2 || st.Served != 5 || st.Denied != 1 || st.Ignored != 1 || st.NTSDropped != 1 ||
		st.RateLimited != 1 || st.KoDSent != 1 || st.Requests != uint64(len(batch)) {
		t.Errorf("stats %+v", st)
	}
	if n := clock.reads.Load(); n != int64(st.Served) {
		t.Errorf("%d clock readings, want one per reply with time (%d)", n, st.Served)
	}
}
