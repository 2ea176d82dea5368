package nts

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func testKeys(t testing.TB, alg AlgorithmID, seed byte) SessionKeys {
	c2s, s2c := bytes.Repeat([]byte{seed}, alg.KeyLen()), bytes.Repeat([]byte{seed + 1}, alg.KeyLen())
	k, err := NewSessionKeys(alg, c2s, s2c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCookieRoundTrip(t *testing.T) {
	for _, master := range []AlgorithmID{AES256GCM, AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
		ks, err := NewKeySet(KeyPolicy{AEAD: master}, t0, testRand(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
			k := testKeys(t, alg, 7)
			nonce := bytes.Repeat([]byte{9}, 16)
			c, err := ks.AppendCookie([]byte("x"), &k, nonce)
			if err != nil {
				t.Fatal(err)
			}
			c = c[1:]
			if len(c) != ks.CookieLen(alg) || len(c)%4 != 0 {
				t.Fatalf("%v/%v: cookie %d bytes, CookieLen %d", master, alg, len(c), ks.CookieLen(alg))
			}
			got, err := ks.OpenCookie(c)
			if err != nil || got != k {
				t.Fatalf("%v/%v: open: %v", master, alg, err)
			}
			for i := range c {
				c[i] ^= 1
				if _, err := ks.OpenCookie(c); !errors.Is(err, ErrCookie) {
					t.Fatalf("%v/%v: flipped byte %d opened: %v", master, alg, i, err)
				}
				c[i] ^= 1
			}
			for _, n := range []int{0, 3, 4, 20, len(c) - 1} {
				if _, err := ks.OpenCookie(c[:n]); !errors.Is(err, ErrCookie) {
					t.Fatalf("truncated to %d opened: %v", n, err)
				}
			}
		}
	}
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	if _, err := ks.AppendCookie(nil, &SessionKeys{AEAD: 3}, make([]byte, 16)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("bad algorithm: %v", err)
	}
	k := testKeys(t, AESSIVCMAC256, 1)
	if _, err := ks.AppendCookie(nil, &k, make([]byte, 8)); !errors.Is(err, ErrNonce) {
		t.Fatalf("short nonce: %v", err)
	}
	if _, err := NewSessionKeys(AESSIVCMAC256, make([]byte, 16), make([]byte, 32)); !errors.Is(err, ErrKeyLen) {
		t.Fatalf("short session key: %v", err)
	}
}

// Two cookies for the same session are unlinkable: fresh nonces make them differ everywhere but the key id.
func TestCookiesDiffer(t *testing.T) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	k := testKeys(t, AESSIVCMAC256, 1)
	a, _ := ks.AppendCookie(nil, &k, bytes.Repeat([]byte{1}, 16))
	b, _ := ks.AppendCookie(nil, &k, bytes.Repeat([]byte{2}, 16))
	if !bytes.Equal(a[:4], b[:4]) || bytes.Equal(a[4:], b[4:]) {
		t.Fatal("cookies for one session should share only the key id")
	}
}

func TestKeyRotation(t *testing.T) {
	p := KeyPolicy{Rotation: 24 * time.Hour, Lifetime: 48 * time.Hour}
	r := testRand(5)
	ks, err := NewKeySet(p, t0, r)
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t, AESSIVCMAC256, 3)
	old, _ := ks.AppendCookie(nil, &k, make([]byte, 16))
	if ks.NextRotation() != t0.Add(24*time.Hour) {
		t.Fatalf("next rotation %v", ks.NextRotation())
	}
	same, err := ks.Rotate(t0.Add(23*time.Hour), r)
	if err != nil || same != ks {
		t.Fatalf("early rotate changed the set: %v", err)
	}
	day := func(d float64) time.Duration { return time.Duration(d * float64(24*time.Hour)) }
	cur := ks
	for _, c := range []struct {
		at       time.Duration
		keys     int
		oldValid bool
	}{
		{day(1), 2, true},    // new key; the first still opens
		{day(2), 3, true},    // first key stopped sealing at day 1: valid until day 3
		{day(3), 4, true},    // exactly at the end of its lifetime (inclusive); a fourth key seals
		{day(3.5), 3, false}, // the first key is dropped: its cookies are expired and get NAKs
	} {
		next, err := cur.Rotate(t0.Add(c.at), r)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
		_, err = cur.OpenCookie(old)
		if (err == nil) != c.oldValid {
			t.Fatalf("at %v: old cookie valid=%v, want %v (%d keys)", c.at, err == nil, c.oldValid, len(cur.Keys()))
		}
		if len(cur.Keys()) != c.keys {
			t.Fatalf("at %v: %d keys, want %d", c.at, len(cur.Keys()), c.keys)
		}
		fresh, _ := cur.AppendCookie(nil, &k, make([]byte, 16))
		if _, err := cur.OpenCookie(fresh); err != nil {
			t.Fatalf("at %v: fresh cookie: %v", c.at, err)
		}
	}
	// A clock stepped back never drops keys.
	back, _ := cur.Rotate(t0.Add(-day(10)), r)
	if len(back.Keys()) != len(cur.Keys()) {
		t.Fatal("a backward step dropped keys")
	}
	// Months offline: one rotation replaces everything.
	later, _ := cur.Rotate(t0.Add(day(90)), r)
	if len(later.Keys()) != 1 {
		t.Fatalf("after 90 days: %d keys", len(later.Keys()))
	}
}

func TestKeySetMarshal(t *testing.T) {
	r := testRand(9)
	ks, _ := NewKeySet(KeyPolicy{AEAD: AES128GCMSIV}, t0, r)
	ks, _ = ks.Rotate(t0.Add(25*time.Hour), r)
	b, err := ks.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalKeySet(b, KeyPolicy{AEAD: AES128GCMSIV})
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t, AESSIVCMAC512, 4)
	c, _ := ks.AppendCookie(nil, &k, make([]byte, 16))
	if got, err := back.OpenCookie(c); err != nil || got != k {
		t.Fatalf("restored set cannot open a cookie: %v", err)
	}
	if back.NextRotation() != ks.NextRotation() {
		t.Fatal("restored set rotates at a different time")
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x10
		if _, err := UnmarshalKeySet(bad, KeyPolicy{}); !errors.Is(err, ErrKeySetBytes) {
			t.Fatalf("byte %d damaged: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := UnmarshalKeySet(b[:n], KeyPolicy{}); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
	if _, err := UnmarshalKeySet(b, KeyPolicy{Rotation: time.Second}); err == nil {
		t.Fatal("invalid policy accepted")
	}
}

// The default master key is AES-256-GCM, a cookie-only algorithm: it seals 100-byte cookies for
// AES-SIV-CMAC-256 sessions, and no cookie may carry it as a session algorithm.
func TestGCMCookies(t *testing.T) {
	ks, err := NewKeySet(KeyPolicy{}, t0, testRand(3))
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Keys()[0].AEAD; got != AES256GCM {
		t.Fatalf("default master key %v", got)
	}
	if n := ks.CookieLen(AESSIVCMAC256); n != 100 {
		t.Fatalf("cookie length %d, want 100", n)
	}
	if AES256GCM.Supported() {
		t.Fatal("AES-256-GCM must not be negotiable for sessions")
	}
	if _, err := NewSessionKeys(AES256GCM, make([]byte, 32), make([]byte, 32)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("session keys for AES-256-GCM: %v", err)
	}
	// A cookie sealed by our own key but naming AES-256-GCM as its session algorithm is refused.
	m := ks.current()
	pt := make([]byte, cookiePlainHeader+64)
	pt[1] = byte(AES256GCM)
	c := []byte{byte(m.ID >> 24), byte(m.ID >> 16), byte(m.ID >> 8), byte(m.ID)}
	nonce := bytes.Repeat([]byte{5}, 12)
	c = append(c, nonce...)
	c = m.aead.(*gcm).Seal(c, nonce, pt, c[:4])
	if _, err := ks.OpenCookie(c); !errors.Is(err, ErrCookie) {
		t.Fatalf("cookie naming AES-256-GCM opened: %v", err)
	}
}

// An AES-256-GCM key read from storage may have sealed cookies in another process, with random nonces that
// were not counted here: it opens cookies but never seals again, and Rotate replaces it at once.
func TestGCMKeyFromStorage(t *testing.T) {
	r := testRand(4)
	ks, _ := NewKeySet(KeyPolicy{}, t0, r)
	k := testKeys(t, AESSIVCMAC256, 2)
	old, err := ks.AppendCookie(nil, &k, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ks.MarshalBinary()
	loaded, err := UnmarshalKeySet(b, KeyPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.AppendCookie(nil, &k, make([]byte, 16)); !errors.Is(err, ErrKeyNotSealing) {
		t.Fatalf("loaded GCM key sealed: %v", err)
	}
	if _, err := NewProcessor(ProcessorConfig{Rand: testRand(1)}, loaded); !errors.Is(err, ErrKeyNotSealing) {
		t.Fatalf("processor with a set that cannot seal: %v", err)
	}
	if loaded.NextRotation() != t0 {
		t.Fatalf("next rotation %v, want now-due %v", loaded.NextRotation(), t0)
	}
	at := t0.Add(time.Minute)
	fresh, err := loaded.Rotate(at, r)
	if err != nil || fresh == loaded || len(fresh.Keys()) != 2 {
		t.Fatalf("rotate: %v, %d keys", err, len(fresh.Keys()))
	}
	if fresh.NextRotation() != at.Add(24*time.Hour) {
		t.Fatalf("fresh key rotates at %v", fresh.NextRotation())
	}
	if got, err := fresh.OpenCookie(old); err != nil || got != k {
		t.Fatalf("cookie from before the restart: %v", err)
	}
	c, err := fresh.AppendCookie(nil, &k, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.OpenCookie(c); err != nil {
		t.Fatal(err)
	}
	p, err := NewProcessor(ProcessorConfig{Rand: testRand(1)}, fresh)
	if err != nil {
		t.Fatal(err)
	}
	p.SetKeys(loaded)
	if p.Keys() != fresh {
		t.Fatal("SetKeys published a set that cannot seal")
	}

	// AES-SIV keys are nonce-misuse resistant: one from storage keeps sealing until its rotation is due.
	siv, _ := NewKeySet(KeyPolicy{AEAD: AESSIVCMAC256}, t0, r)
	b, _ = siv.MarshalBinary()
	sivLoaded, err := UnmarshalKeySet(b, KeyPolicy{AEAD: AESSIVCMAC256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sivLoaded.AppendCookie(nil, &k, make([]byte, 16)); err != nil {
		t.Fatalf("loaded AES-SIV key: %v", err)
	}
	if same, _ := sivLoaded.Rotate(at, r); same != sivLoaded {
		t.Fatal("loaded AES-SIV key replaced before its rotation")
	}
}

// A GCM key that sealed gcmSealLimit cookies goes on sealing (no denial of service) but is due for
// replacement, and the replacement keeps the set in order even after the clock stepped back.
func TestGCMSealLimit(t *testing.T) {
	r := testRand(6)
	ks, _ := NewKeySet(KeyPolicy{}, t0, r)
	k := testKeys(t, AESSIVCMAC256, 2)
	for range 3 {
		if _, err := ks.AppendCookie(nil, &k, make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ks.current().sealed.Load(); n != 3 {
		t.Fatalf("counted %d seals, want 3", n)
	}
	same, _ := ks.Rotate(t0.Add(time.Hour), r)
	if same != ks {
		t.Fatal("rotated below the limit")
	}
	if same.current().sealed != ks.current().sealed {
		t.Fatal("the count does not follow the key into the next set")
	}
	ks.current().sealed.Store(gcmSealLimit)
	if ks.NextRotation() != t0 {
		t.Fatalf("exhausted key: next rotation %v", ks.NextRotation())
	}
	if _, err := ks.AppendCookie(nil, &k, make([]byte, 16)); err != nil {
		t.Fatalf("exhausted key refused to seal: %v", err)
	}
	back := t0.Add(-time.Hour) // the clock stepped back
	next, err := ks.Rotate(back, r)
	if err != nil || next == ks {
		t.Fatalf("exhausted key not replaced: %v", err)
	}
	keys := next.Keys()
	if len(keys) != 2 || keys[1].Created < keys[0].Created {
		t.Fatalf("keys after replacement: %+v", keys)
	}
	b, _ := next.MarshalBinary()
	if _, err := UnmarshalKeySet(b, KeyPolicy{}); err != nil {
		t.Fatalf("replaced set does not load: %v", err)
	}
}
