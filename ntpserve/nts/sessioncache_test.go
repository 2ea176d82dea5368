package nts

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// namedSession is newSession with its own TLS exporter secret, so that sessions have distinct keys.
func namedSession(t testing.TB, ks *KeySet, alg AlgorithmID, secret string) session {
	t.Helper()
	recs, _, err := ParseMessage(AppendKERequest(nil, []AlgorithmID{alg}, true))
	if err != nil {
		t.Fatal(err)
	}
	exp := fakeExporter(secret)
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

// cached reports whether p's cache holds the AEADs of k.
func cached(p *Processor, k *SessionKeys) bool {
	return p.sessions.get(k, p.sessions.hash(k)) != nil
}

// cachedCount counts the occupied slots.
func cachedCount(c *sessionCache) int {
	n := 0
	for i := range c.sets {
		for j := range c.sets[i].ways {
			if c.sets[i].ways[j].Load() != nil {
				n++
			}
		}
	}
	return n
}

// The cache changes nothing a client sees: with the same randomness, a processor without it and one with
// it (missing, then hitting) produce the same bytes, for every algorithm and with encrypted placeholders.
func TestSessionCacheSameReplies(t *testing.T) {
	for _, alg := range []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
		ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
		off, err := NewProcessor(ProcessorConfig{Rand: testRand(5), SessionCache: -1}, ks)
		if err != nil {
			t.Fatal(err)
		}
		on, err := NewProcessor(ProcessorConfig{Rand: testRand(5)}, ks)
		if err != nil {
			t.Fatal(err)
		}
		if off.sessions != nil || on.sessions == nil {
			t.Fatalf("cache off %v, on %v", off.sessions != nil, on.sessions != nil)
		}
		s := namedSession(t, ks, alg, "same replies "+alg.String())
		for i, req := range [][]byte{s.request(t, testUID, 0), s.request(t, testUID, 2), s.request(t, testUID, 0)} {
			a, va := serverReply(t, off, req)
			b, vb := serverReply(t, on, req)
			if va != Authentic || vb != Authentic || !bytes.Equal(a, b) {
				t.Fatalf("%v request %d: verdicts %v/%v, replies equal %v", alg, i, va, vb, bytes.Equal(a, b))
			}
			if _, err := VerifyResponse(b, testUID, &s.keys); err != nil {
				t.Fatalf("%v request %d: %v", alg, i, err)
			}
			if !cached(on, &s.keys) {
				t.Fatalf("%v request %d: session not cached", alg, i)
			}
		}
	}
}

// A session is cached only once its authenticator verified; a request that fails authentication is a
// NAK whether or not the session is cached.
func TestSessionCacheOnlyAuthentic(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p := newProcessor(t, ks)
	s := namedSession(t, ks, AESSIVCMAC256, "only authentic")
	bad := s.request(t, testUID, 0)
	bad[len(bad)-1] ^= 1 // the ciphertext's last byte
	if _, v := serverReply(t, p, bad); v != NAK {
		t.Fatalf("forged request: %v", v)
	}
	if cached(p, &s.keys) {
		t.Fatal("cached after a failed authentication")
	}
	if _, v := serverReply(t, p, s.request(t, testUID, 0)); v != Authentic || !cached(p, &s.keys) {
		t.Fatalf("genuine request: %v, cached %v", v, cached(p, &s.keys))
	}
	if _, v := serverReply(t, p, bad); v != NAK {
		t.Fatalf("forged request, session cached: %v", v)
	}
	if st := p.Stats(); st.NAKAuth != 2 || st.Authentic != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A hit needs the whole keys: an entry with the same hash but other keys, or another algorithm, is no hit.
func TestSessionCacheComparesKeys(t *testing.T) {
	c := newSessionCache(8)
	a, _ := NewSessionKeys(AESSIVCMAC256, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	h := c.hash(&a)
	c.put(&a, h, nil, nil)
	if c.get(&a, h) == nil {
		t.Fatal("no hit on the stored keys")
	}
	for _, k := range []struct {
		alg      AlgorithmID
		c2s, s2c []byte
		sameHash bool // the hash covers the algorithm and C2S's first 16 bytes only
	}{
		{AESSIVCMAC256, bytes.Repeat([]byte{1}, 32), append(bytes.Repeat([]byte{2}, 31), 3), true},
		{AESSIVCMAC256, append(bytes.Repeat([]byte{1}, 31), 0), bytes.Repeat([]byte{2}, 32), true},
		{AESSIVCMAC256, append([]byte{0}, bytes.Repeat([]byte{1}, 31)...), bytes.Repeat([]byte{2}, 32), false},
		{AES128GCMSIV, bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), false},
	} {
		b, err := NewSessionKeys(k.alg, k.c2s, k.s2c)
		if err != nil {
			t.Fatal(err)
		}
		if c.get(&b, h) != nil { // the stored entry's hash, forced: only the key comparison can reject it
			t.Fatalf("%v %x/%x hit the entry of other keys", k.alg, k.c2s, k.s2c)
		}
		if same := c.hash(&b) == h; same != k.sameHash {
			t.Fatalf("%v %x/%x: same hash %v, want %v", k.alg, k.c2s, k.s2c, same, k.sameHash)
		}
	}
	if newSessionCache(0) != nil || newSessionCache(-1) != nil {
		t.Fatal("a cache of no slots")
	}
	if n := len(newSessionCache(9).sets) * cacheWays; n != 16 {
		t.Fatalf("9 slots rounded to %d", n)
	}
}

// More sessions than slots: the cache stays within its size, every request is still answered, and a session
// that keeps coming back survives a stream of one-off sessions (CLOCK's second chance).
func TestSessionCacheEviction(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	p, err := NewProcessor(ProcessorConfig{Rand: testRand(5), SessionCache: cacheWays}, ks) // one set
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sessions.sets) != 1 {
		t.Fatalf("%d sets", len(p.sessions.sets))
	}
	regular := namedSession(t, ks, AESSIVCMAC256, "regular")
	regReq := regular.request(t, testUID, 0)
	for i := range 40 {
		s := namedSession(t, ks, AESSIVCMAC256, fmt.Sprint("one-off ", i))
		for _, req := range [][]byte{regReq, s.request(t, testUID, 0)} {
			if _, v := serverReply(t, p, req); v != Authentic {
				t.Fatalf("session %d: %v", i, v)
			}
		}
		if n := cachedCount(p.sessions); n > cacheWays {
			t.Fatalf("%d entries in %d slots", n, cacheWays)
		}
		if !cached(p, &regular.keys) {
			t.Fatalf("after one-off session %d the regular session was evicted", i)
		}
	}
	if _, err := NewProcessor(ProcessorConfig{Rand: testRand(5), SessionCache: maxSessionCache + 1}, ks); err == nil {
		t.Fatal("oversized cache accepted")
	}
}

// Concurrent requests of many sessions share cached AEADs while a tiny cache keeps evicting them; every
// reply must verify. Run under -race: a cached AEAD holding mutable state would show here.
func TestProcessorConcurrentSessions(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	for _, size := range []int{cacheWays, DefaultSessionCache} {
		p, err := NewProcessor(ProcessorConfig{Rand: testRand(5), SessionCache: size}, ks)
		if err != nil {
			t.Fatal(err)
		}
		var sessions []session
		var reqs [][]byte
		for i := range 12 {
			s := namedSession(t, ks, []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV}[i%3], fmt.Sprint("concurrent ", i))
			sessions = append(sessions, s)
			reqs = append(reqs, s.request(t, testUID, i%3))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Go(func() {
				resp := make([]byte, 1500)
				for i := range 60 {
					j := (g*7 + i) % len(reqs)
					x, v := p.Open(reqs[j])
					if v != Authentic {
						errs <- fmt.Errorf("session %d: %v", j, v)
						return
					}
					h := wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1}
					h.Marshal(resp)
					n, err := x.Reply(resp, wire.HeaderLen)
					p.Release(x)
					if err == nil {
						_, err = VerifyResponse(resp[:n], testUID, &sessions[j].keys)
					}
					if err != nil {
						errs <- fmt.Errorf("session %d: %v", j, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("cache of %d: %v", size, err)
		}
	}
}

// The authenticated path allocates nothing for AES-SIV once the session is cached, and for
// AES-128-GCM-SIV only the message key crypto/aes expands for each of the two messages.
func TestProcessorAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so pooled scratch is allocated again")
	}
	for _, tc := range []struct {
		alg  AlgorithmID
		want float64
	}{{AESSIVCMAC256, 0}, {AESSIVCMAC512, 0}, {AES128GCMSIV, 2}} {
		ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
		p := newProcessor(t, ks)
		s := namedSession(t, ks, tc.alg, "allocs")
		req := s.request(t, testUID, 1)
		resp := make([]byte, 1500)
		allocs := testing.AllocsPerRun(200, func() {
			x, v := p.Open(req)
			if v != Authentic {
				t.Fatalf("%v: %v", tc.alg, v)
			}
			if _, err := x.Reply(resp, wire.HeaderLen); err != nil {
				t.Fatal(err)
			}
			p.Release(x)
		})
		if allocs > tc.want {
			t.Errorf("%v: %v allocations per request, want at most %v", tc.alg, allocs, tc.want)
		}
	}
}

// BenchmarkProcessorParallel runs requests of 64 sessions from every P against one processor, with the
// default cache (all hits after the first round) and with it off.
func BenchmarkProcessorParallel(b *testing.B) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	var reqs [][]byte
	for i := range 64 {
		s := namedSession(b, ks, AESSIVCMAC256, fmt.Sprint("bench ", i))
		reqs = append(reqs, s.request(b, testUID, 0))
	}
	for _, size := range []int{0, -1} {
		b.Run(fmt.Sprintf("cache=%d", size), func(b *testing.B) {
			p, err := NewProcessor(ProcessorConfig{Rand: testRand(5), SessionCache: size}, ks)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				resp := make([]byte, 1500)
				i := 0
				for pb.Next() {
					x, v := p.Open(reqs[i%len(reqs)])
					if v != Authentic {
						b.Error(v)
						return
					}
					if _, err := x.Reply(resp, wire.HeaderLen); err != nil {
						b.Error(err)
						return
					}
					p.Release(x)
					i++
				}
			})
		})
	}
}
