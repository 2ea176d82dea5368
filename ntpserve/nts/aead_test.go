package nts

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	tinkaead "github.com/tink-crypto/tink-go/v2/aead/subtle"
	tinkdaead "github.com/tink-crypto/tink-go/v2/daead/subtle"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 5297 appendix A.
func TestSIVRFC5297(t *testing.T) {
	t.Run("A.1 deterministic", func(t *testing.T) {
		key := unhex(t, "fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff")
		ad := unhex(t, "10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627")
		pt := unhex(t, "11223344 55667788 99aabbcc ddee")
		want := unhex(t, "85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c")
		s, err := newSIV(AESSIVCMAC256, key)
		if err != nil {
			t.Fatal(err)
		}
		got := s.sealComponents(new(scratch), nil, pt, ad)
		if !bytes.Equal(got, want) {
			t.Fatalf("seal = %x, want %x", got, want)
		}
		back, err := s.openComponents(new(scratch), nil, got, ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("open = %x, %v", back, err)
		}
	})
	t.Run("A.2 nonce-based", func(t *testing.T) {
		key := unhex(t, "7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f")
		ad1 := unhex(t, "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100")
		ad2 := unhex(t, "10203040 50607080 90a0")
		nonce := unhex(t, "09f91102 9d74e35b d84156c5 635688c0")
		pt := unhex(t, "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553")
		want := unhex(t, "7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d")
		s, err := newSIV(AESSIVCMAC256, key)
		if err != nil {
			t.Fatal(err)
		}
		got := s.sealComponents(new(scratch), nil, pt, ad1, ad2, nonce)
		if !bytes.Equal(got, want) {
			t.Fatalf("seal = %x, want %x", got, want)
		}
		if _, err := s.openComponents(new(scratch), nil, got, ad1, nonce); !errors.Is(err, ErrOpen) {
			t.Fatalf("open with a missing component: %v, want ErrOpen", err)
		}
	})
}

// RFC 8452 section 3 (worked example) and appendix C.1.
func TestPOLYVAL(t *testing.T) {
	var h [16]byte
	copy(h[:], unhex(t, "25629347589242761d31f826ba4b757b"))
	var p polyval
	p.init(&h)
	p.update(unhex(t, "4f4f95668c83dfb6401762bb2d01a262"))
	p.update(unhex(t, "d1a24ddd2721d006bbe45f20d3c9f362"))
	if got, want := p.sum(), unhex(t, "f7a3b47b846119fae5b7866cf5e5b77e"); !bytes.Equal(got[:], want) {
		t.Fatalf("POLYVAL = %x, want %x", got, want)
	}
}

func TestGCMSIVRFC8452(t *testing.T) {
	for i, v := range []struct{ key, nonce, ad, pt, want string }{
		{"01000000000000000000000000000000", "030000000000000000000000", "", "", "dc20e2d83f25705bb49e439eca56de25"},
		{"01000000000000000000000000000000", "030000000000000000000000", "", "0100000000000000", "b5d839330ac7b786578782fff6013b815b287c22493a364c"},
		{"01000000000000000000000000000000", "030000000000000000000000", "01", "0200000000000000", "1e6daba35669f4273b0a1a2560969cdf790d99759abd1508"},
		{"01000000000000000000000000000000", "030000000000000000000000", "010000000000000000000000", "02000000", "a8fe3e8707eb1f84fb28f8cb73de8e99e2f48a14"},
		{"01000000000000000000000000000000", "030000000000000000000000", "01", "0200000000000000000000000000000003000000000000000000000000000000",
			"620048ef3c1e73e57e02bb8562c416a319e73e4caac8e96a1ecb2933145a1d71e6af6a7f87287da059a71684ed3498e1"},
		{"36864200e0eaf5284d884a0e77d31646", "bae8e37fc83441b16034566b", "46bb91c3c5", "7a806c", "af60eb711bd85bc1e4d3e0a462e074eea428a8"},
		{"d5cc1fd161320b6920ce07787f86743b", "275d1ab32f6d1f0434d8848c", "046787f3ea22c127aaf195d1894728", "1177441f195495860f",
			"4f37281f7ad12949d01d02fd0cd174c84fc5dae2f60f52fd2b"},
		{"b3fed1473c528b8426a582995929a149", "9e9ad8780c8d63d0ab4149c0", "c9882e5386fd9f92ec489c8fde2be2cf97e74e93", "9f572c614b4745914474e7c7",
			"f54673c5ddf710c745641c8bc1dc2f871fb7561da1286e655e24b7b0"},
		{"2d4ed87da44102952ef94b02b805249b", "ac80e6f61455bfac8308a2d4", "2950a70d5a1db2316fd568378da107b52b0da55210cc1c1b0a", "0d8c8451178082355c9e940fea2f58",
			"c9ff545e07b88a015f05b274540aa183b3449b9f39552de99dc214a1190b0b"},
	} {
		a, err := NewAEAD(AES128GCMSIV, unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		nonce, ad, pt, want := unhex(t, v.nonce), unhex(t, v.ad), unhex(t, v.pt), unhex(t, v.want)
		got := a.Seal(nil, nonce, pt, ad)
		if !bytes.Equal(got, want) {
			t.Errorf("vector %d: seal = %x, want %x", i, got, want)
			continue
		}
		back, err := a.Open(nil, nonce, got, ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Errorf("vector %d: open = %x, %v", i, back, err)
		}
		got[0] ^= 1
		if _, err := a.Open(nil, nonce, got, ad); !errors.Is(err, ErrOpen) {
			t.Errorf("vector %d: open of a flipped bit: %v, want ErrOpen", i, err)
		}
	}
}

// The counter of AES-GCM-SIV is 32 bits, little-endian, and wraps (RFC 8452 C.3 exercises this with
// AES-256; here the wrap is checked against tink on AES-128 with a tag whose counter word is near 2^32).
func TestCrossCheckTinkGCMSIV(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		key, nonce := make([]byte, 16), make([]byte, 12)
		fill(r, key)
		fill(r, nonce)
		ad, pt := make([]byte, r.IntN(300)), make([]byte, n)
		fill(r, ad)
		fill(r, pt)
		ours, err := NewAEAD(AES128GCMSIV, key)
		if err != nil {
			t.Fatal(err)
		}
		tink, err := tinkaead.NewAESGCMSIV(key)
		if err != nil {
			t.Fatal(err)
		}
		sealed := ours.Seal(nil, nonce, pt, ad)
		back, err := tink.Decrypt(append(append([]byte{}, nonce...), sealed...), ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("len %d: tink cannot open our seal: %v", n, err)
		}
		theirs, err := tink.Encrypt(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		back, err = ours.Open(nil, theirs[:12], theirs[12:], ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("len %d: we cannot open tink's seal: %v", n, err)
		}
	}
}

// tink's AES-SIV takes 64-byte keys (AES-SIV-CMAC-512) and one associated-data component; NTS passes two
// (associated data, nonce), so the cross-check runs sealComponents with the one component tink has.
func TestCrossCheckTinkSIV512(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 200 {
		key := make([]byte, 64)
		fill(r, key)
		ad, pt := make([]byte, r.IntN(200)), make([]byte, n)
		fill(r, ad)
		fill(r, pt)
		ours, err := newSIV(AESSIVCMAC512, key)
		if err != nil {
			t.Fatal(err)
		}
		tink, err := tinkdaead.NewAESSIV(key)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tink.EncryptDeterministically(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if got := ours.sealComponents(new(scratch), nil, pt, ad); !bytes.Equal(got, want) {
			t.Fatalf("pt %d ad %d: ours %x, tink %x", n, len(ad), got, want)
		}
	}
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func TestAEADRoundTripAndForgery(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, alg := range []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
		key := make([]byte, alg.KeyLen())
		fill(r, key)
		a, err := NewAEAD(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		if a.Algorithm() != alg || a.Overhead() != TagLen {
			t.Fatalf("%v: Algorithm/Overhead wrong", alg)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100} {
			nonce, ad, pt := make([]byte, a.NonceSize()), make([]byte, n/2), make([]byte, n)
			fill(r, nonce)
			fill(r, ad)
			fill(r, pt)
			c := a.Seal([]byte("prefix"), nonce, pt, ad)
			if !bytes.HasPrefix(c, []byte("prefix")) || len(c) != 6+n+TagLen {
				t.Fatalf("%v: Seal did not append: %d bytes", alg, len(c))
			}
			c = c[6:]
			if p, err := a.Open(nil, nonce, c, ad); err != nil || !bytes.Equal(p, pt) {
				t.Fatalf("%v len %d: open: %v", alg, n, err)
			}
			for i := range c {
				c[i] ^= 0x40
				if _, err := a.Open(nil, nonce, c, ad); !errors.Is(err, ErrOpen) {
					t.Fatalf("%v len %d: flipped byte %d opened: %v", alg, n, i, err)
				}
				c[i] ^= 0x40
			}
			nonce[0] ^= 1
			if _, err := a.Open(nil, nonce, c, ad); !errors.Is(err, ErrOpen) {
				t.Fatalf("%v len %d: wrong nonce opened: %v", alg, n, err)
			}
			if _, err := a.Open(nil, nonce, c[:TagLen-1], ad); !errors.Is(err, ErrOpen) {
				t.Fatalf("%v: short ciphertext: %v", alg, err)
			}
		}
	}
	if _, err := NewAEAD(AESSIVCMAC256, make([]byte, 16)); !errors.Is(err, ErrKeyLen) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewAEAD(16, make([]byte, 32)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("unknown algorithm: %v", err)
	}
	g, _ := NewAEAD(AES128GCMSIV, make([]byte, 16))
	if _, err := g.Open(nil, make([]byte, 16), make([]byte, 32), nil); !errors.Is(err, ErrNonce) {
		t.Fatalf("GCM-SIV 16-byte nonce: %v", err)
	}
	s, _ := NewAEAD(AESSIVCMAC256, make([]byte, 32))
	if _, err := s.Open(nil, nil, make([]byte, 32), nil); !errors.Is(err, ErrNonce) {
		t.Fatalf("SIV empty nonce: %v", err)
	}
}

func BenchmarkAEAD(b *testing.B) {
	for _, alg := range []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV} {
		b.Run(alg.String(), func(b *testing.B) {
			key := make([]byte, alg.KeyLen())
			a, _ := NewAEAD(alg, key)
			nonce, ad, pt := make([]byte, a.NonceSize()), make([]byte, 120), make([]byte, 416)
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(ad) + len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				buf = a.Seal(buf[:0], nonce, pt, ad)
			}
		})
	}
}
