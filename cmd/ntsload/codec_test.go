package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// session makes a server processor and a client session whose cookie it opens.
func session(t testing.TB, alg nts.AlgorithmID) (*nts.Processor, nts.SessionKeys, []byte) {
	t.Helper()
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, timebase.Date(2026, 11, 22, 8, 0, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 2*alg.KeyLen())
	rand.Read(raw)
	keys, err := nts.NewSessionKeys(alg, raw[:alg.KeyLen()], raw[alg.KeyLen():])
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := ks.AppendCookie(nil, &keys, raw[:16])
	if err != nil {
		t.Fatal(err)
	}
	return proc, keys, cookie
}

// serve answers req with the real processor, as the server would.
func serve(t testing.TB, proc *nts.Processor, req []byte) []byte {
	t.Helper()
	x, v := proc.Open(req)
	defer proc.Release(x)
	if v != nts.Authentic {
		t.Fatalf("processor verdict %v for the request", v)
	}
	resp := make([]byte, 2048)
	h := wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1, TransmitTime: 42}
	h.Marshal(resp)
	n, err := x.Reply(resp, wire.HeaderLen)
	if err != nil {
		t.Fatal(err)
	}
	return resp[:n]
}

// TestCodecAgreesWithNTS: requests built by the codec are authentic to ntpserve/nts's processor, and the
// codec reads the processor's replies exactly as nts.VerifyResponse does, for every AEAD and with
// placeholders; a flipped bit anywhere makes verification fail.
func TestCodecAgreesWithNTS(t *testing.T) {
	for _, alg := range []nts.AlgorithmID{nts.AESSIVCMAC256, nts.AESSIVCMAC512, nts.AES128GCMSIV} {
		for _, ph := range []int{0, 1, 7} {
			proc, keys, cookie := session(t, alg)
			c, err := newCodec(&keys)
			if err != nil {
				t.Fatal(err)
			}
			uid := bytes.Repeat([]byte{byte(ph + 1)}, uidLen)
			nonce := make([]byte, map[bool]int{true: 12, false: 16}[alg == nts.AES128GCMSIV])
			rand.Read(nonce)
			hdr := make([]byte, wire.HeaderLen, 1280)
			(&wire.Header{Version: 4, Mode: wire.ModeClient, TransmitTime: 7}).Marshal(hdr)
			req := c.appendRequest(hdr, uid, cookie, ph, nonce)
			want, err := nts.AppendRequest(append([]byte(nil), hdr...), uid, cookie, ph, &keys, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(req, want) {
				t.Errorf("%v ph %d: codec request differs from nts.AppendRequest\n%x\n%x", alg, ph, req, want)
			}
			resp := serve(t, proc, req)
			ref, err := nts.VerifyResponse(resp, uid, &keys)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			if err := c.verify(resp, uid, func(b []byte) { got = append(got, bytes.Clone(b)) }); err != nil {
				t.Fatalf("%v ph %d: %v", alg, ph, err)
			}
			if len(got) != 1+ph || len(got) != len(ref) {
				t.Fatalf("%v ph %d: %d cookies, nts says %d", alg, ph, len(got), len(ref))
			}
			for i := range got {
				if !bytes.Equal(got[i], ref[i]) {
					t.Errorf("%v ph %d: cookie %d differs", alg, ph, i)
				}
			}
			for _, i := range []int{1, 40, wire.HeaderLen + 10, len(resp) - 1} {
				bad := bytes.Clone(resp)
				bad[i] ^= 0x10
				if err := c.verify(bad, uid, func([]byte) {}); err == nil {
					t.Errorf("%v ph %d: byte %d flipped, still verifies", alg, ph, i)
				}
			}
			if err := c.verify(resp, bytes.Repeat([]byte{0xee}, uidLen), func([]byte) {}); err == nil {
				t.Errorf("%v: another uid verifies", alg)
			}
		}
	}
}

func TestCodecNAK(t *testing.T) {
	_, keys, _ := session(t, nts.AESSIVCMAC256)
	c, _ := newCodec(&keys)
	uid := bytes.Repeat([]byte{9}, uidLen)
	nak := make([]byte, wire.HeaderLen)
	(&wire.Header{Leap: timebase.LeapUnsync, Version: 4, Mode: wire.ModeServer, RefID: timebase.RefIDFromString("NTSN")}).Marshal(nak)
	nak, _ = wire.AppendField(nak, nts.FieldUniqueID, uid)
	if err := c.verify(nak, uid, func([]byte) {}); !errors.Is(err, nts.ErrNTSNAK) {
		t.Errorf("NAK: %v", err)
	}
	if err := c.verify(nak[:wire.HeaderLen], uid, func([]byte) {}); err == nil {
		t.Errorf("a NAK without the uid echo is accepted")
	}
}

func FuzzCodecVerify(f *testing.F) {
	proc, keys, cookie := session(f, nts.AESSIVCMAC256)
	c, _ := newCodec(&keys)
	uid := bytes.Repeat([]byte{3}, uidLen)
	hdr := make([]byte, wire.HeaderLen, 1280)
	req := c.appendRequest(hdr, uid, cookie, 1, bytes.Repeat([]byte{5}, 16))
	f.Add(serve(f, proc, req))
	f.Add(req)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		if err := c.verify(b, uid, func(ck []byte) { n += len(ck) }); err == nil && n > len(b) {
			t.Fatalf("cookies of %d bytes from a %d-byte reply", n, len(b))
		}
	})
}

func TestValidate(t *testing.T) {
	ok := config{target: "127.0.0.1:4460", aead: 15, workers: 1, window: 1, batch: 1, conns: 1, groups: "x25519", duration: time.Second, timeout: time.Second}
	if err := ok.validate(0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*config)
		want string
	}{
		{func(c *config) { c.target = "192.0.2.1:4460" }, "not a loopback"},
		{func(c *config) { c.target = "localhost:4460" }, "numeric"},
		{func(c *config) { c.target = "" }, "required"},
		{func(c *config) { c.duration = time.Minute }, "-duration"},
		{func(c *config) { c.workers = 65 }, "-workers"},
		{func(c *config) { c.window = 0 }, "-window"},
		{func(c *config) { c.batch = 65 }, "-batch"},
		{func(c *config) { c.aead = 16 }, "-aead"},
		{func(c *config) { c.plain, c.ke = true, true }, "exclude"},
		{func(c *config) { c.groups = "p384" }, "-ke-groups"},
	} {
		c := ok
		tc.edit(&c)
		if err := c.validate(0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
}

// TestLoadLoopback runs the whole generator briefly against an in-process NTS server on loopback (the
// real processor behind a UDP socket, and a plain NTP answer for -plain): every request sent in the run
// is answered and authenticated, none invalid.
func TestLoadLoopback(t *testing.T) {
	proc, keys, cookie := session(t, nts.AESSIVCMAC256)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, resp := make([]byte, 2048), make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var q wire.Header
			q.Unmarshal(buf[:n])
			h := wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1, OriginTime: q.TransmitTime, TransmitTime: 1}
			h.Marshal(resp)
			out := wire.HeaderLen
			x, v := proc.Open(buf[:n])
			if v == nts.Authentic {
				out, _ = x.Reply(resp, wire.HeaderLen)
			}
			proc.Release(x)
			conn.WriteToUDPAddrPort(resp[:out], from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	target := conn.LocalAddr().String()

	for _, plain := range []bool{false, true} {
		c := config{target: target, plain: plain, aead: nts.AESSIVCMAC256, workers: 2, window: 16, batch: 8, conns: 1, groups: "x25519",
			duration: 300 * time.Millisecond, timeout: time.Second}
		if err := c.validate(0); err != nil {
			t.Fatal(err)
		}
		ws := []*worker{newWorker(&c, nil, 0), newWorker(&c, nil, 1)}
		for _, w := range ws {
			if !plain {
				// NTS-KE is not what this test is about: hand each worker the session directly.
				s := sessionOf(keys, cookie)
				if err := w.rekey(s); err != nil {
					t.Fatal(err)
				}
			}
			to, _ := loopbackAddr(target)
			if w.conn, err = dialBatch(to); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Go(func() { w.loop(context.Background(), start, c.duration) })
		}
		wg.Wait()
		for _, w := range ws {
			w.conn.close()
			if w.err != nil || w.res.Answered == 0 || w.res.Invalid != 0 || w.res.NAKs != 0 || w.res.Sent-w.res.Answered > uint64(c.window) {
				t.Errorf("plain %v: %+v, err %v", plain, w.res, w.err)
			}
		}
	}
}

func sessionOf(keys nts.SessionKeys, cookie []byte) *ntske.Session {
	s := &ntske.Session{Keys: keys}
	s.AEAD = keys.AEAD
	s.Cookies = [][]byte{cookie}
	return s
}
