package nts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// session is a client's view of one NTS association, made through ServeKE as a real client's would be.
type session struct {
	keys    SessionKeys
	cookies [][]byte
}

func newSession(t testing.TB, ks *KeySet, alg AlgorithmID) session {
	t.Helper()
	recs, _, err := ParseMessage(AppendKERequest(nil, []AlgorithmID{alg}, true))
	if err != nil {
		t.Fatal(err)
	}
	exp := fakeExporter("tls session")
	resp, _, err := ServeKE(&KEConfig{}, recs, exp, ks, testRand(11))
	if err != nil {
		t.Fatal(err)
	}
	rrecs, _, _ := ParseMessage(resp)
	r, err := ParseKEResponse(rrecs, []AlgorithmID{alg})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ExportKeys(r.Negotiation(), exp)
	if err != nil {
		t.Fatal(err)
	}
	return session{keys: k, cookies: r.Cookies}
}

func clientHeader(t testing.TB) []byte {
	t.Helper()
	h := wire.Header{Version: 4, Mode: wire.ModeClient, TransmitTime: t0.NTP()}
	b := make([]byte, wire.HeaderLen)
	if _, err := h.Marshal(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *session) request(t testing.TB, uid []byte, placeholders int) []byte {
	t.Helper()
	a, _ := NewAEAD(s.keys.AEAD, s.keys.C2S())
	nonce := bytes.Repeat([]byte{0x5a}, a.NonceSize())
	req, err := AppendRequest(clientHeader(t), uid, s.cookies[0], placeholders, &s.keys, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// serverReply plays ntpserve.Handle's part: header, then Reply or AppendNAK.
func serverReply(t testing.TB, p *Processor, req []byte) ([]byte, Verdict) {
	t.Helper()
	x, v := p.Open(req)
	defer p.Release(x)
	resp := make([]byte, 2048)
	h := wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1, OriginTime: t0.NTP(), TransmitTime: t0.Add(time.Millisecond).NTP()}
	switch v {
	case Authentic:
		h.Marshal(resp)
		n, err := x.Reply(resp, wire.HeaderLen)
		if err != nil {
			t.Fatal(err)
		}
		if n > len(req) {
			t.Fatalf("reply %d bytes to a %d-byte request", n, len(req))
		}
		return resp[:n], v
	case NAK:
		h.Stratum, h.RefID = 0, timebase.RefIDFromString("NTSN")
		h.Marshal(resp)
		n, err := x.AppendNAK(resp, wire.HeaderLen)
		if err != nil {
			t.Fatal(err)
		}
		return resp[:n], v
	}
	if x != nil {
		t.Fatalf("verdict %v with an exchange", v)
	}
	return nil, v
}

func newProcessor(t testing.TB, ks *KeySet) *Processor {
	p, err := NewProcessor(ProcessorConfig{Rand: testRand(77)}, ks)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testUID = bytes.Repeat([]byte{0xa5}, 32)

func TestProcessorRoundTrip(t *testing.T) {
	for _, master := range []AlgorithmID{AESSIVCMAC256, AES128GCMSIV} {
		ks, _ := NewKeySet(KeyPolicy{AEAD: master}, t0, testRand(1))
		p := newProcessor(t, ks)
		for _, alg := range []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
			s := newSession(t, ks, alg)
			for _, ph := range []int{0, 1, 3, 7, 9} {
				req := s.request(t, testUID, ph)
				resp, v := serverReply(t, p, req)
				if v != Authentic {
					t.Fatalf("%v/%v ph %d: verdict %v", master, alg, ph, v)
				}
				if len(resp) != len(req) {
					t.Fatalf("%v/%v ph %d: reply %d bytes, request %d: replies are padded to the request", master, alg, ph, len(resp), len(req))
				}
				cookies, err := VerifyResponse(resp, testUID, &s.keys)
				if err != nil {
					t.Fatalf("%v/%v ph %d: %v", master, alg, ph, err)
				}
				if want := min(ph+1, MaxCookies); len(cookies) != want {
					t.Fatalf("%v/%v ph %d: %d cookies, want %d", master, alg, ph, len(cookies), want)
				}
				for _, c := range cookies {
					if k, err := ks.OpenCookie(c); err != nil || k != s.keys {
						t.Fatalf("fresh cookie does not carry the session keys: %v", err)
					}
				}
				// Tampering with anything the authenticator covers is detected by the client.
				// (Not the additional padding at the end: RFC 8915 leaves it unauthenticated.)
				ao := authOffset(t, resp)
				for _, off := range []int{1, 40, 47, 50, ao + 4, ao + 8, ao + 8 + 12 + len(cookies)*60} {
					resp[off] ^= 1
					if _, err := VerifyResponse(resp, testUID, &s.keys); err == nil {
						t.Fatalf("tampered byte %d verified", off)
					}
					resp[off] ^= 1
				}
			}
		}
		if st := p.Stats(); st.Authentic != 15 || st.NAKAuth+st.NAKCookie+st.DropLayout+st.DropNoRoom != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A reply must fit in the request even when the request's cookie is shorter than ours (a cookie sealed by
// an older master key of another algorithm): then fewer cookies are returned.
func TestProcessorShrinksToFit(t *testing.T) {
	r := testRand(3)
	ks, _ := NewKeySet(KeyPolicy{AEAD: AES128GCMSIV}, t0, r)
	s := newSession(t, ks, AESSIVCMAC512) // cookie: 4+12+4+128+16 = 164 bytes
	ks2 := &KeySet{policy: KeyPolicy{Rotation: 24 * time.Hour, Lifetime: 48 * time.Hour, AEAD: AESSIVCMAC512}, keys: ks.keys}
	ks2, _ = ks2.Rotate(t0.Add(25*time.Hour), r) // new cookies: 4+16+4+128+16 = 168 bytes
	p := newProcessor(t, ks2)
	for _, ph := range []int{0, 1, 7} {
		req := s.request(t, testUID, ph)
		resp, v := serverReply(t, p, req)
		if v != Authentic {
			t.Fatalf("ph %d: %v", ph, v)
		}
		cookies, err := VerifyResponse(resp, testUID, &s.keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp) > len(req) || len(cookies) != ph {
			t.Fatalf("ph %d: %d-byte reply to %d bytes with %d cookies", ph, len(resp), len(req), len(cookies))
		}
	}
}

func TestProcessorNAK(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p := newProcessor(t, ks)
	s := newSession(t, ks, AESSIVCMAC256)
	other, _ := NewKeySet(KeyPolicy{}, t0, testRand(2))
	stranger := newSession(t, other, AESSIVCMAC256)

	check := func(name string, req []byte, want Verdict) {
		t.Helper()
		resp, v := serverReply(t, p, req)
		if v != want {
			t.Fatalf("%s: verdict %v, want %v", name, v, want)
		}
		if v == NAK {
			if _, err := VerifyResponse(resp, testUID, &s.keys); !errors.Is(err, ErrNTSNAK) {
				t.Fatalf("%s: client does not see a NAK: %v", name, err)
			}
			if len(resp) >= len(req) {
				t.Fatalf("%s: NAK longer than the request", name)
			}
			it := wire.Extensions(resp)
			for it.Next() {
				if f := it.Field(); f.Type != FieldUniqueID {
					t.Fatalf("%s: NAK carries field %#x", name, f.Type)
				}
			}
		}
	}
	check("unknown key", stranger.request(t, testUID, 0), NAK)

	req := s.request(t, testUID, 2)
	// A bad authenticator: flip a bit of the header (associated data), of the ciphertext, of the nonce.
	for _, off := range []int{5, 40, len(req) - 5, len(req) - 30} {
		bad := bytes.Clone(req)
		bad[off] ^= 0x80
		check("tampered", bad, NAK)
	}
	// A forged cookie: right key id, wrong bytes.
	bad := bytes.Clone(req)
	bad[wire.HeaderLen+36+4+10] ^= 1
	check("forged cookie", bad, NAK)
	// The key expired.
	later, _ := ks.Rotate(t0.Add(24*time.Hour), testRand(5))
	later, _ = later.Rotate(t0.Add(100*time.Hour), testRand(5))
	p.SetKeys(later)
	check("expired", req, NAK)
	if st := p.Stats(); st.NAKCookie != 3 || st.NAKAuth != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func field(t testing.TB, typ uint16, body []byte) []byte {
	f, err := wire.AppendField(nil, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProcessorLayout(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p := newProcessor(t, ks)
	s := newSession(t, ks, AESSIVCMAC256)
	good := s.request(t, testUID, 1)
	a, _ := NewAEAD(AESSIVCMAC256, s.keys.C2S())
	nonce := bytes.Repeat([]byte{1}, 16)
	uidF := field(t, FieldUniqueID, testUID)
	cookieF := field(t, FieldCookie, s.cookies[0])
	auth := func(pkt []byte) []byte { return appendAuthenticator(pkt, a, nonce, nil, 0) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{clientHeader(t)}, parts...), nil) }

	if IsRequest(clientHeader(t)) || IsRequest(cat(field(t, 0x2005, make([]byte, 24)))) || !IsRequest(good) || !IsRequest(cat(uidF)) {
		t.Fatal("IsRequest misclassifies")
	}
	for _, c := range []struct {
		name string
		req  []byte
		want Verdict
	}{
		{"plain", clientHeader(t), NotNTS},
		{"other field", cat(field(t, 0x2005, make([]byte, 24))), NotNTS},
		{"good", good, Authentic},
		{"no uid", auth(cat(cookieF)), Drop},
		{"two uids", auth(cat(uidF, uidF, cookieF)), Drop},
		{"short uid", auth(cat(field(t, FieldUniqueID, make([]byte, 16)), cookieF)), Drop},
		{"no cookie", auth(cat(uidF)), Drop},
		{"two cookies", auth(cat(uidF, cookieF, cookieF)), Drop},
		{"no authenticator", cat(uidF, cookieF), Drop},
		{"field after authenticator", append(auth(cat(uidF, cookieF)), field(t, 0x2005, make([]byte, 24))...), Drop},
		{"placeholder of another length", auth(cat(uidF, field(t, FieldCookiePlaceholder, make([]byte, 8)), cookieF)), Drop},
		{"placeholder only", auth(cat(uidF, field(t, FieldCookiePlaceholder, make([]byte, 104)))), Drop},
		{"unknown field before auth is fine", auth(cat(field(t, 0x2005, make([]byte, 24)), uidF, cookieF)), Authentic},
		{"trailing MAC", append(auth(cat(uidF, cookieF)), make([]byte, 20)...), Drop},
		{"broken layout", append(cat(uidF, cookieF), 0, 0, 0, 3), Drop},
	} {
		if _, v := serverReply(t, p, c.req); v != c.want {
			t.Errorf("%s: verdict %v, want %v", c.name, v, c.want)
		}
	}

	// Authenticator bodies that lie about their lengths are NAKed, never read out of bounds.
	base := cat(uidF, cookieF)
	for _, c := range []struct{ nl, cl, body int }{
		{0, 16, 32}, {16, 8, 32}, {16, 16, 28}, {8, 16, 24}, {16, 0xfff0, 32}, {0xffff, 16, 32},
	} {
		pkt := bytes.Clone(base)
		pkt = binary.BigEndian.AppendUint16(pkt, FieldAuthenticator)
		pkt = binary.BigEndian.AppendUint16(pkt, uint16(4+c.body))
		pkt = binary.BigEndian.AppendUint16(pkt, uint16(c.nl))
		pkt = binary.BigEndian.AppendUint16(pkt, uint16(c.cl))
		pkt = append(pkt, make([]byte, c.body-4)...)
		if _, v := serverReply(t, p, pkt); v != NAK {
			t.Errorf("authenticator nl %d cl %d body %d: %v, want NAK", c.nl, c.cl, c.body, v)
		}
	}
}

// Placeholders may be sent inside the encrypted fields; they count like clear ones.
func TestProcessorEncryptedPlaceholders(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p := newProcessor(t, ks)
	s := newSession(t, ks, AESSIVCMAC256)
	a, _ := NewAEAD(AESSIVCMAC256, s.keys.C2S())
	pkt := append(clientHeader(t), field(t, FieldUniqueID, testUID)...)
	pkt = append(pkt, field(t, FieldCookie, s.cookies[0])...)
	inner := append(field(t, FieldCookiePlaceholder, make([]byte, len(s.cookies[0]))), field(t, FieldCookiePlaceholder, make([]byte, len(s.cookies[0])))...)
	pkt = appendAuthenticator(pkt, a, bytes.Repeat([]byte{3}, 16), inner, 0)
	resp, v := serverReply(t, p, pkt)
	if v != Authentic {
		t.Fatalf("verdict %v", v)
	}
	cookies, err := VerifyResponse(resp, testUID, &s.keys)
	if err != nil || len(cookies) != 3 || len(resp) > len(pkt) {
		t.Fatalf("%d cookies, %v; %d-byte reply to %d", len(cookies), err, len(resp), len(pkt))
	}
	// An encrypted placeholder of the wrong length, or garbage inside, drops the request.
	pkt = append(clientHeader(t), field(t, FieldUniqueID, testUID)...)
	pkt = append(pkt, field(t, FieldCookie, s.cookies[0])...)
	pkt = appendAuthenticator(pkt, a, bytes.Repeat([]byte{3}, 16), []byte{1, 2, 3}, 0)
	if _, v := serverReply(t, p, pkt); v != Drop {
		t.Fatalf("garbage inside: %v", v)
	}
}

func TestProcessorEntropyFailure(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	s := newSession(t, ks, AESSIVCMAC256)
	p, _ := NewProcessor(ProcessorConfig{Rand: bytes.NewReader(nil)}, ks)
	if _, v := serverReply(t, p, s.request(t, testUID, 0)); v != Drop {
		t.Fatalf("verdict %v with no entropy", v)
	}
	if p.Stats().DropEntropy != 1 {
		t.Fatal("not counted")
	}
	if _, err := NewProcessor(ProcessorConfig{}, ks); err == nil {
		t.Fatal("nil Rand accepted")
	}
	if _, err := NewProcessor(ProcessorConfig{Rand: testRand(1), MaxCookies: 9}, ks); err == nil {
		t.Fatal("MaxCookies 9 accepted")
	}
}

func BenchmarkProcessor(b *testing.B) {
	for _, alg := range []AlgorithmID{AESSIVCMAC256, AES128GCMSIV} {
		b.Run(alg.String(), func(b *testing.B) {
			ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
			p := newProcessor(b, ks)
			s := newSession(b, ks, alg)
			req := s.request(b, testUID, 0)
			resp := make([]byte, 1500)
			b.ReportAllocs()
			for b.Loop() {
				x, v := p.Open(req)
				if v != Authentic {
					b.Fatal(v)
				}
				if _, err := x.Reply(resp, wire.HeaderLen); err != nil {
					b.Fatal(err)
				}
				p.Release(x)
			}
		})
	}
}

func authOffset(t testing.TB, pkt []byte) int {
	it := wire.Extensions(pkt)
	for it.Next() {
		if f := it.Field(); f.Type == FieldAuthenticator {
			return f.Offset
		}
	}
	t.Fatal("no authenticator")
	return 0
}

// The processor must not make request buffers escape to the heap (through an interface call or a kept
// slice): ntpserve.Handle promises not to allocate for plain NTP, and the NTP edge's and tests' buffers
// would all move to the heap. Escape analysis is static, so a literal request on the NotNTS path, which
// allocates nothing else, shows it.
func TestOpenDoesNotLeakRequest(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p := newProcessor(t, ks)
	allocs := testing.AllocsPerRun(100, func() {
		req := [wire.HeaderLen + 16]byte{0: 0x23, wire.HeaderLen: 0x20, wire.HeaderLen + 1: 0x05, wire.HeaderLen + 3: 16}
		if x, v := p.Open(req[:]); v != NotNTS || x != nil {
			t.Fatalf("verdict %v", v)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations: the request escapes", allocs)
	}
}

// countingReader counts what is read from it.
type countingReader struct {
	r            io.Reader
	calls, bytes int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.calls++
	c.bytes += n
	return n, err
}

// The processor reads its random source a block at a time, hands out fresh bytes to every request (no two
// replies share a nonce) and wipes what it handed out.
func TestProcessorRandomBlocks(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	src := &countingReader{r: testRand(5)}
	p, err := NewProcessor(ProcessorConfig{Rand: src}, ks)
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(t, ks, AESSIVCMAC256)
	req := s.request(t, testUID, 0)
	const requests = 300 // 32 random bytes each (reply nonce and one cookie nonce): more than two blocks
	seen := make(map[[16]byte]bool)
	for i := range requests {
		x, v := p.Open(req)
		if v != Authentic {
			t.Fatalf("request %d: %v", i, v)
		}
		if seen[x.nonce] {
			t.Fatalf("request %d: reply nonce %x used before", i, x.nonce)
		}
		seen[x.nonce] = true
		p.Release(x)
	}
	if want := (requests*32 + randBlock - 1) / randBlock; src.calls != want || src.bytes != want*randBlock {
		t.Errorf("%d reads of %d bytes in all, want %d reads of %d bytes", src.calls, src.bytes, want, randBlock)
	}
	for i, b := range p.randBuf[:p.randOff] {
		if b != 0 {
			t.Fatalf("byte %d of the random block was handed out but not wiped", i)
		}
	}
	// A request larger than a block reads the source directly.
	big := make([]byte, randBlock+1)
	if err := p.random(big); err != nil || bytes.Equal(big, make([]byte, len(big))) {
		t.Fatalf("large read: %v", err)
	}
}
