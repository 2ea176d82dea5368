package nts

import (
	"bytes"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

func FuzzKEMessage(f *testing.F) {
	f.Add(AppendKERequest(nil, []AlgorithmID{AES128GCMSIV, AESSIVCMAC256}, true))
	f.Add(AppendKERequest(nil, []AlgorithmID{AESSIVCMAC512}, false))
	f.Add([]byte{0x80, 1, 0, 2, 0, 0, 0x80, 0x99, 0, 0, 0x80, 0, 0, 0})
	f.Add([]byte{0x80, 0, 0, 1, 0})
	ks, err := NewKeySet(KeyPolicy{}, t0, testRand(1))
	if err != nil {
		f.Fatal(err)
	}
	cfg := &KEConfig{NTPPort: 4123, Cookies: 2}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, _, err := ParseMessage(in)
		if err != nil {
			if _, _, err2 := ReadMessage(bytes.NewReader(in)); err2 == nil {
				t.Fatalf("ReadMessage accepted what ParseMessage refused: %v", err)
			}
			return
		}
		if _, recs2, err := ReadMessage(bytes.NewReader(in)); err != nil || len(recs2) != len(recs) {
			t.Fatalf("ReadMessage disagrees: %v", err)
		}
		// Re-encoding reproduces the message.
		var out []byte
		for _, r := range recs {
			out, _ = AppendRecord(out, r)
		}
		if !bytes.Equal(out, in[:len(out)]) {
			t.Fatal("records do not re-encode to the input")
		}
		resp, n, err := ServeKE(cfg, recs, fakeExporter("f"), ks, testRand(2))
		if err != nil {
			t.Fatal(err)
		}
		rrecs, rest, err := ParseMessage(resp)
		if err != nil || len(rest) != 0 {
			t.Fatalf("our response does not parse: %v", err)
		}
		_, cerr := ParseKEResponse(rrecs, []AlgorithmID{AESSIVCMAC256, AESSIVCMAC512, AES128GCMSIV})
		if n.OK() != (cerr == nil) {
			t.Fatalf("negotiation %+v but client says %v", n, cerr)
		}
	})
}

func FuzzOpenCookie(f *testing.F) {
	ks, err := NewKeySet(KeyPolicy{}, t0, testRand(1))
	if err != nil {
		f.Fatal(err)
	}
	k := testKeys(f, AESSIVCMAC256, 1)
	good, _ := ks.AppendCookie(nil, &k, make([]byte, 16))
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, c []byte) {
		got, err := ks.OpenCookie(c)
		if err == nil && !bytes.Equal(c, good) {
			// Opening anything else would be a forgery (or a collision in a 128-bit tag).
			t.Fatalf("forged cookie opened: %x -> %v", c, got.AEAD)
		}
	})
}

func FuzzKeySetUnmarshal(f *testing.F) {
	ks, _ := NewKeySet(KeyPolicy{}, t0, testRand(1))
	ks, _ = ks.Rotate(t0.Add(25*time.Hour), testRand(2))
	b, _ := ks.MarshalBinary()
	f.Add(b)
	f.Add([]byte(keySetMagic))
	f.Fuzz(func(t *testing.T, in []byte) {
		ks, err := UnmarshalKeySet(in, KeyPolicy{})
		if err != nil {
			return
		}
		out, _ := ks.MarshalBinary()
		if !bytes.Equal(out, in) {
			t.Fatal("a key set does not re-encode to its input")
		}
	})
}

// FuzzProcessor feeds whole NTP requests to the processor: whatever it decides, the reply must never be
// longer than the request, a NAK must carry only the unique identifier, and nothing may panic.
func FuzzProcessor(f *testing.F) {
	ks, err := NewKeySet(KeyPolicy{}, t0, testRand(1))
	if err != nil {
		f.Fatal(err)
	}
	p := newProcessor(f, ks)
	for _, alg := range []AlgorithmID{AESSIVCMAC256, AES128GCMSIV} {
		s := newSession(f, ks, alg)
		f.Add(s.request(f, testUID, 0))
		f.Add(s.request(f, testUID, 3))
	}
	f.Add(clientHeader(f))
	f.Fuzz(func(t *testing.T, req []byte) {
		x, v := p.Open(req)
		defer p.Release(x)
		resp := make([]byte, len(req)+64)
		switch v {
		case Authentic:
			n, err := x.Reply(resp, wire.HeaderLen)
			if err != nil || n > len(req) {
				t.Fatalf("reply %d bytes to %d: %v", n, len(req), err)
			}
		case NAK:
			n, err := x.AppendNAK(resp, wire.HeaderLen)
			if err != nil || n > len(req) {
				t.Fatalf("NAK %d bytes to %d: %v", n, len(req), err)
			}
		default:
			if x != nil {
				t.Fatalf("%v with an exchange", v)
			}
		}
	})
}
