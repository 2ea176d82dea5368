package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// loopbackAddr resolves a numeric host:port and insists on loopback: this tool loads nothing else.
func loopbackAddr(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("%q: want a numeric loopback address and port: %w", s, err)
	}
	if !ap.Addr().Unmap().IsLoopback() || ap.Port() == 0 {
		return ap, fmt.Errorf("%s is not a loopback address with a port (127.0.0.0/8 or ::1)", s)
	}
	return ap, nil
}

// keGroups are the -ke-groups choices. The client's key shares decide which key exchange the servers do
// (crypto/tls sends one for the first group, plus X25519 with a hybrid), and so what a handshake costs
// both sides: a hybrid share costs the generator an ML-KEM key generation and decapsulation per handshake
// whatever the server picks. The default is what OpenSSL clients (NTPsec) offer; p256 is the share gpsntpd
// answers chrony's offer with (GnuTLS sends P-256 and X25519 shares, which a Go client cannot).
var keGroups = map[string][]tls.CurveID{
	"x25519": {tls.X25519, tls.CurveP256},
	"p256":   {tls.CurveP256},
	"hybrid": nil,
}

// tlsConfig trusts -ca, or accepts the certificate whose DER hashes to -insecure-pin.
func (c *config) tlsConfig() (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(c.target)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: host, CurvePreferences: keGroups[c.groups]}
	switch {
	case c.caFile != "" && c.pin != "":
		return nil, errors.New("give -ca or -insecure-pin, not both")
	case c.caFile != "":
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no PEM certificate", c.caFile)
		}
		cfg.RootCAs = pool
	case c.pin != "":
		pin, err := hex.DecodeString(strings.ReplaceAll(c.pin, ":", ""))
		if err != nil || len(pin) != sha256.Size {
			return nil, fmt.Errorf("-insecure-pin %q: want 64 hex digits", c.pin)
		}
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			if sum := sha256.Sum256(cs.PeerCertificates[0].Raw); !bytes.Equal(sum[:], pin) {
				return fmt.Errorf("certificate SHA-256 %x is not the pinned one", sum)
			}
			return nil
		}
	default:
		return nil, errors.New("NTS needs -ca or -insecure-pin")
	}
	return cfg, nil
}

// keyExchange runs NTS-KE and checks that the NTP server it names is on loopback too.
func keyExchange(ctx context.Context, c *config, tlsCfg *tls.Config) (*ntske.Session, netip.AddrPort, error) {
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := ntske.Exchange(kctx, c.target, tlsCfg, []nts.AlgorithmID{c.aead})
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	ke, _ := loopbackAddr(c.target)
	host := ke.Addr().String()
	if s.Server != "" {
		host = s.Server
	}
	port := s.Port
	if port == 0 {
		port = 123
	}
	ntp, err := loopbackAddr(net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return nil, ntp, fmt.Errorf("NTS-KE named NTP server %s:%d: %w", host, port, err)
	}
	return s, ntp, nil
}

// hist is a latency histogram in microseconds, 1 us wide up to 20 ms.
type hist [20001]uint64

func (h *hist) add(d time.Duration) { h[min(int(d/time.Microsecond), len(h)-1)]++ }

func (h *hist) merge(o *hist) {
	for i := range h {
		h[i] += o[i]
	}
}

func (h *hist) quantile(q float64) float64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i, n := range h {
		seen += n
		if seen > want {
			return float64(i) + 0.5
		}
	}
	return float64(len(h) - 1)
}

// slot is one outstanding request.
type slot struct {
	seq    uint64
	sent   time.Duration // since the worker's start, monotonic
	ph     int           // placeholders sent: the reply brings 1+ph cookies
	active bool
}

// worker drives one socket with -window requests outstanding.
type worker struct {
	c      *config
	tlsCfg *tls.Config
	id     int
	conn   *batchConn
	sess   *ntske.Session // nil for plain NTP
	codec  *codec
	jar    [][]byte
	spare  [][]byte // cookie buffers to reuse
	want   int      // cookies to hold in the jar plus those coming back
	coming int      // cookies the outstanding requests will bring back
	salt   [22]byte
	rng    *rand.ChaCha8
	slots  []slot
	free   []uint16
	seq    uint64
	res    result
	h      hist
	err    error
}

const uidLen = nts.MinUniqueIDLen // seq (8) | slot (2) | salt (22)

func newWorker(c *config, tlsCfg *tls.Config, id int) *worker {
	w := &worker{c: c, tlsCfg: tlsCfg, id: id, slots: make([]slot, c.window), want: c.window + 1}
	var seed [32]byte
	crand.Read(seed[:])
	w.rng = rand.NewChaCha8(seed)
	w.rng.Read(w.salt[:])
	for i := c.window - 1; i >= 0; i-- {
		w.free = append(w.free, uint16(i))
	}
	return w
}

// setup runs NTS-KE (for NTS) and connects the socket.
func (w *worker) setup(ctx context.Context) error {
	target, err := loopbackAddr(w.c.target)
	if err != nil {
		return err
	}
	if !w.c.plain {
		s, ntp, err := keyExchange(ctx, w.c, w.tlsCfg)
		w.res.Handshakes++
		if err != nil {
			return err
		}
		if err := w.rekey(s); err != nil {
			return err
		}
		target = ntp
	}
	w.conn, err = dialBatch(target)
	return err
}

// rekey starts using a new NTS session.
func (w *worker) rekey(s *ntske.Session) error {
	c, err := newCodec(&s.Keys)
	if err != nil {
		return err
	}
	// Copies: the cookies from NTS-KE share one buffer, and jar buffers are reused for fresh cookies.
	w.sess, w.codec, w.jar = s, c, w.jar[:0]
	for _, ck := range s.Cookies {
		w.jar = append(w.jar, bytes.Clone(ck))
	}
	return nil
}

// build writes request number w.seq into b and marks its slot; false when no cookie is left.
func (w *worker) build(b []byte, now time.Duration) ([]byte, bool) {
	if len(w.free) == 0 || (w.sess != nil && len(w.jar) == 0) {
		return b, false
	}
	si := w.free[len(w.free)-1]
	w.seq++
	var uid [uidLen]byte
	binary.BigEndian.PutUint64(uid[0:8], w.seq)
	binary.BigEndian.PutUint16(uid[8:10], si)
	copy(uid[10:], w.salt[:])
	// The transmit field carries the same identification for plain NTP, echoed as origin.
	h := wire.Header{Version: 4, Mode: wire.ModeClient, Leap: timebase.LeapUnsync,
		TransmitTime: timebase.NTPTime(binary.BigEndian.Uint64(uid[0:8])<<16 | uint64(si))}
	b = b[:wire.HeaderLen]
	h.Marshal(b)
	ph := 0
	if w.sess != nil {
		cookie := w.jar[0]
		copy(w.jar, w.jar[1:])
		w.jar = w.jar[:len(w.jar)-1]
		ph = min(max(w.want-len(w.jar)-w.coming-1, 0), nts.MaxCookies-1)
		var nonce [16]byte
		ns := 16
		if w.sess.AEAD == nts.AES128GCMSIV {
			ns = 12
		}
		w.rng.Read(nonce[:ns])
		b = w.codec.appendRequest(b, uid[:], cookie, ph, nonce[:ns])
		w.spare = append(w.spare, cookie)
		w.coming += 1 + ph
	}
	w.free = w.free[:len(w.free)-1]
	w.slots[si] = slot{seq: w.seq, sent: now, ph: ph, active: true}
	w.res.Sent++
	return b, true
}

func (w *worker) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *worker) release(si uint16) {
	s := &w.slots[si]
	s.active = false
	if w.sess != nil {
		w.coming -= 1 + s.ph
	}
	w.free = append(w.free, si)
}

// reply matches b to its request and, for NTS, verifies it and keeps the fresh cookies.
func (w *worker) reply(b []byte, now time.Duration) {
	var seq uint64
	var si uint16
	var uid []byte
	if w.sess != nil {
		// The Unique Identifier comes first in our server's and chrony's replies; any other layout is
		// found by VerifyResponse failing, and counted as invalid.
		if len(b) < wire.HeaderLen+4+uidLen || binary.BigEndian.Uint16(b[48:50]) != nts.FieldUniqueID ||
			binary.BigEndian.Uint16(b[50:52]) != 4+uidLen {
			w.res.Invalid++
			return
		}
		uid = b[52 : 52+uidLen]
		seq, si = binary.BigEndian.Uint64(uid[0:8]), binary.BigEndian.Uint16(uid[8:10])
	} else {
		if len(b) < wire.HeaderLen || b[0]&7 != byte(wire.ModeServer) {
			w.res.Invalid++
			return
		}
		o := binary.BigEndian.Uint64(b[24:32])
		seq, si = o>>16, uint16(o)
	}
	if int(si) >= len(w.slots) || !w.slots[si].active || w.slots[si].seq != seq {
		w.res.Invalid++ // late (already counted lost) or not ours
		return
	}
	if w.sess != nil {
		err := w.codec.verify(b, uid, w.keep)
		switch {
		case errors.Is(err, nts.ErrNTSNAK):
			w.res.NAKs++
			w.release(si)
			return
		case err != nil:
			w.res.Invalid++
			w.fail(err)
			return // the slot stays: the genuine reply may still come
		}
	} else if b[1] == 0 {
		w.res.Invalid++ // a kiss-o'-death is no answer
		w.fail(fmt.Errorf("kiss-o'-death %q", b[12:16]))
		w.release(si)
		return
	}
	w.h.add(now - w.slots[si].sent)
	w.res.Answered++
	w.release(si)
}

// keep puts a fresh cookie in the jar, in a reused buffer.
func (w *worker) keep(c []byte) {
	var b []byte
	if n := len(w.spare); n > 0 {
		b, w.spare = w.spare[n-1][:0], w.spare[:n-1]
	}
	w.jar = append(w.jar, append(b, c...))
}

// expire counts requests unanswered for -timeout as lost.
func (w *worker) expire(now time.Duration) {
	for i := range w.slots {
		if s := &w.slots[i]; s.active && now-s.sent > w.c.timeout {
			w.res.Lost++
			w.release(uint16(i))
		}
	}
}

// loop runs the closed loop until end.
func (w *worker) loop(ctx context.Context, start time.Time, end time.Duration) {
	sbufs := make([][]byte, w.c.batch)
	rbufs := make([][]byte, w.c.batch)
	for i := range sbufs {
		sbufs[i] = make([]byte, 0, 1280)
		rbufs[i] = make([]byte, 2048)
	}
	lens := make([]int, w.c.batch)
	nextExpire := time.Duration(0)
	for ctx.Err() == nil {
		now := time.Since(start)
		if now >= end {
			return
		}
		if now >= nextExpire {
			w.expire(now)
			nextExpire = now + 10*time.Millisecond
		}
		if w.sess != nil && len(w.jar) == 0 && len(w.free) == len(w.slots) {
			// Every cookie spent and nothing outstanding: only a new NTS-KE helps.
			s, _, err := keyExchange(ctx, w.c, w.tlsCfg)
			w.res.Handshakes++
			if err != nil {
				w.res.Failed++
				w.fail(err)
				return
			}
			if err := w.rekey(s); err != nil {
				w.fail(err)
				return
			}
		}
		k := 0
		for k < len(sbufs) {
			b, ok := w.build(sbufs[k], now)
			if !ok {
				break
			}
			sbufs[k] = b
			k++
		}
		if k > 0 {
			if err := w.conn.send(sbufs[:k]); err != nil {
				w.fail(err)
				return
			}
		}
		// Block only when nothing more can be sent; wake up in time to expire requests and to end.
		deadline := time.Time{}
		if k == 0 {
			deadline = start.Add(min(end, nextExpire))
		}
		n, err := w.conn.recv(rbufs, lens, deadline)
		if err != nil {
			w.fail(err)
			return
		}
		now = time.Since(start)
		for i := range n {
			w.reply(rbufs[i][:lens[i]], now)
		}
	}
}

// runLoad is the NTS (or -plain) load: every worker set up first, then all measured together.
func runLoad(ctx context.Context, c config) (*result, error) {
	var tlsCfg *tls.Config
	if !c.plain {
		var err error
		if tlsCfg, err = c.tlsConfig(); err != nil {
			return nil, err
		}
	}
	ws := make([]*worker, c.workers)
	for i := range ws {
		ws[i] = newWorker(&c, tlsCfg, i)
		if err := ws[i].setup(ctx); err != nil {
			for _, w := range ws[:i+1] {
				if w.conn != nil {
					w.conn.close()
				}
			}
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.loop(ctx, start, c.duration) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := &result{Label: c.label, Mode: "nts", DurationS: elapsed.Seconds(), Workers: c.workers, Window: c.window}
	if c.plain {
		res.Mode = "plain"
	} else {
		res.AEAD = c.aead.String()
	}
	var h hist
	for _, w := range ws {
		w.conn.close()
		res.Sent += w.res.Sent
		res.Answered += w.res.Answered
		res.Lost += w.res.Lost
		res.Invalid += w.res.Invalid
		res.NAKs += w.res.NAKs
		res.Handshakes += w.res.Handshakes
		res.Failed += w.res.Failed
		h.merge(&w.h)
		if w.err != nil && res.FirstError == "" {
			res.FirstError = w.err.Error()
		}
	}
	res.PerSecond = float64(res.Answered) / c.duration.Seconds()
	res.P50us, res.P99us = h.quantile(0.5), h.quantile(0.99)
	if res.Answered == 0 {
		return res, fmt.Errorf("no answered request (%s)", res.FirstError)
	}
	return res, nil
}

// runKE measures NTS-KE handshakes/s: -conns goroutines, each running full handshakes back to back
// (no TLS session resumption: NTS clients handshake afresh).
func runKE(ctx context.Context, c config) (*result, error) {
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	res := &result{Label: c.label, Mode: "ke", AEAD: c.aead.String()}
	var h hist
	var wg sync.WaitGroup
	for range c.conns {
		wg.Go(func() {
			var lh hist
			var ok, failed uint64
			var first error
			for ctx.Err() == nil {
				t0 := time.Now()
				_, _, err := keyExchange(ctx, &c, tlsCfg)
				if err != nil {
					if ctx.Err() != nil || time.Since(start) >= c.duration {
						// Cut off by the end of the run (the socket deadline can fire before the
						// context says so): neither a success nor a failure.
						break
					}
					failed++
					if first == nil {
						first = err
					}
					continue
				}
				ok++
				lh.add(time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			res.Handshakes += ok
			res.Failed += failed
			h.merge(&lh)
			if first != nil && res.FirstError == "" {
				res.FirstError = first.Error()
			}
		})
	}
	wg.Wait()
	res.DurationS = time.Since(start).Seconds()
	res.Sent, res.Answered = res.Handshakes+res.Failed, res.Handshakes
	res.PerSecond = float64(res.Handshakes) / c.duration.Seconds()
	res.P50us, res.P99us = h.quantile(0.5), h.quantile(0.99)
	if res.Handshakes == 0 {
		return res, fmt.Errorf("no NTS-KE handshake completed (%s)", res.FirstError)
	}
	return res, nil
}

// runSelf measures the generator's ceiling without I/O: per iteration it builds an NTS request as a
// worker does (header, uid, cookie, authenticator) and verifies a genuine server reply of the same size.
func runSelf(ctx context.Context, c config) (*result, error) {
	now := timebase.FromTime(time.Now())
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, now, crand.Reader)
	if err != nil {
		return nil, err
	}
	proc, err := nts.NewProcessor(nts.ProcessorConfig{Rand: crand.Reader}, ks)
	if err != nil {
		return nil, err
	}
	kl := c.aead.KeyLen()
	raw := make([]byte, 2*kl)
	crand.Read(raw)
	keys, err := nts.NewSessionKeys(c.aead, raw[:kl], raw[kl:])
	if err != nil {
		return nil, err
	}
	cookie, err := ks.AppendCookie(nil, &keys, raw[:16])
	if err != nil {
		return nil, err
	}
	w := newWorker(&c, nil, 0)
	sess := &ntske.Session{Keys: keys}
	sess.AEAD = c.aead
	sess.Cookies = [][]byte{cookie}
	if err := w.rekey(sess); err != nil {
		return nil, err
	}
	// One genuine reply, from the real processor, to verify over and over.
	w.want = 1
	req, _ := w.build(make([]byte, 0, 1280), 0)
	uid := append([]byte(nil), req[52:52+uidLen]...)
	x, v := proc.Open(req)
	if v != nts.Authentic {
		return nil, fmt.Errorf("self test: the processor says %v", v)
	}
	resp := make([]byte, 2048)
	var q wire.Header
	q.Unmarshal(req)
	h := wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1, OriginTime: q.TransmitTime, TransmitTime: now.NTP()}
	h.Marshal(resp)
	n, err := x.Reply(resp, wire.HeaderLen)
	proc.Release(x)
	if err != nil {
		return nil, err
	}
	resp = resp[:n]
	start := time.Now()
	end := start.Add(c.duration)
	buf := make([]byte, 0, 1280)
	var iters uint64
	for ctx.Err() == nil && (iters&255 != 0 || time.Now().Before(end)) {
		w.jar = append(w.jar[:0], cookie)
		w.spare = w.spare[:0]
		w.free = append(w.free[:0], 0)
		w.coming = 0
		w.want = 1
		b, ok := w.build(buf, 0)
		if !ok || len(b) != len(resp) {
			return nil, fmt.Errorf("self test: request of %d bytes, reply of %d: %v", len(b), len(resp), w.err)
		}
		if err := w.codec.verify(resp, uid, func([]byte) {}); err != nil {
			return nil, fmt.Errorf("self test: %w", err)
		}
		iters++
	}
	el := time.Since(start)
	return &result{Label: c.label, Mode: "self", AEAD: c.aead.String(), DurationS: el.Seconds(), Sent: iters, Answered: iters,
		PerSecond: float64(iters) / el.Seconds()}, nil
}
