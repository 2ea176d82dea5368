package ntske

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	for _, data := range []string{"first", "second, longer"} {
		if err := WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v", got, err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", fi.Mode())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestLoadKeySet(t *testing.T) {
	p := filepath.Join(t.TempDir(), KeySetFile)
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	// AES-SIV master keys keep sealing across restarts; the default AES-256-GCM ones are tested below.
	siv := nts.KeyPolicy{AEAD: nts.AESSIVCMAC256}
	a, err := LoadKeySet(p, siv, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	b, err := LoadKeySet(p, siv, now.Add(time.Hour), rand.Reader)
	if err != nil || len(b.Keys()) != 1 {
		t.Fatalf("reload: %v", err)
	}
	k, _ := nts.NewSessionKeys(nts.AESSIVCMAC256, make([]byte, 32), make([]byte, 32))
	c, _ := a.AppendCookie(nil, &k, make([]byte, 16))
	if _, err := b.OpenCookie(c); err != nil {
		t.Fatalf("a restart lost the keys: %v", err)
	}
	// A day later, the loaded set is rotated and written back.
	c2, err := LoadKeySet(p, siv, now.Add(25*time.Hour), rand.Reader)
	if err != nil || len(c2.Keys()) != 2 {
		t.Fatalf("rotation on load: %v", err)
	}
	d, _ := LoadKeySet(p, siv, now.Add(25*time.Hour), rand.Reader)
	if len(d.Keys()) != 2 {
		t.Fatal("rotated set was not saved")
	}

	// AES-256-GCM: every start seals with a key of its own (its nonces are random and only this process
	// counts them), keeps the earlier ones for their cookies, and saves the set at once.
	g := filepath.Join(t.TempDir(), KeySetFile)
	first, err := LoadKeySet(g, nts.KeyPolicy{}, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := first.AppendCookie(nil, &k, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadKeySet(g, nts.KeyPolicy{}, now.Add(time.Minute), rand.Reader)
	if err != nil || len(second.Keys()) != 2 || second.Keys()[1].ID == first.Keys()[0].ID {
		t.Fatalf("restart with a GCM key: %v", err)
	}
	if _, err := second.OpenCookie(gc); err != nil {
		t.Fatalf("a restart lost the GCM keys: %v", err)
	}
	if _, err := second.AppendCookie(nil, &k, make([]byte, 16)); err != nil {
		t.Fatalf("the restarted set does not seal: %v", err)
	}
	if third, _ := LoadKeySet(g, nts.KeyPolicy{}, now.Add(2*time.Minute), rand.Reader); len(third.Keys()) != 3 {
		t.Fatal("the fresh GCM key was not saved")
	}
	os.WriteFile(p, []byte("garbage"), 0o600)
	if _, err := LoadKeySet(p, nts.KeyPolicy{}, now, rand.Reader); !errors.Is(err, nts.ErrKeySetBytes) {
		t.Fatalf("damaged file: %v", err)
	}
}

func TestEnsureSelfSigned(t *testing.T) {
	dir := t.TempDir()
	lo := netip.MustParseAddr("127.0.0.1")
	cf, kf, err := EnsureSelfSigned(dir, []string{"gpsntp.local"}, []netip.Addr{lo})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(cf)
	if fi, _ := os.Stat(kf); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	c, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	if leaf.NotAfter.Year() != 9999 || !leaf.IsCA || leaf.DNSNames[0] != "gpsntp.local" || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("certificate %+v", leaf)
	}
	key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("key %T", c.PrivateKey)
	}
	// Same names: reused.
	if _, _, err := EnsureSelfSigned(dir, []string{"gpsntp.local"}, []netip.Addr{lo}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(cf); !bytes.Equal(again, first) {
		t.Fatal("certificate reissued although it covered the names")
	}
	// A new address: reissued with the union, same key.
	v6 := netip.MustParseAddr("::1")
	if _, _, err := EnsureSelfSigned(dir, nil, []netip.Addr{v6}); err != nil {
		t.Fatal(err)
	}
	c2, _ := tls.LoadX509KeyPair(cf, kf)
	if !covers(c2.Leaf, []string{"gpsntp.local"}, []netip.Addr{lo, v6}) {
		t.Fatalf("union lost names: %v %v", c2.Leaf.DNSNames, c2.Leaf.IPAddresses)
	}
	if !key.PublicKey.Equal(c2.Leaf.PublicKey) {
		t.Fatal("key changed")
	}
}

// testServer runs an NTS-KE server on loopback with a self-signed certificate.
type testServer struct {
	srv  *Server
	addr string
	pool *x509.CertPool
	proc *nts.Processor
	dir  string
}

func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	return startServerHooked(t, mod, nil)
}

// startServerHooked is startServer with hooks set on the Server before it serves.
func startServerHooked(t *testing.T, mod func(*Config), hook func(*Server)) *testServer {
	t.Helper()
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, timebase.FromTime(time.Now()), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{
		StateDir: dir, Hosts: []string{"localhost"}, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Processor: proc, Rand: rand.Reader, KE: nts.KEConfig{NTPPort: 1123},
		Rate: 1000, Burst: 1000,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.Certificate().PEM)
	return &testServer{srv: srv, addr: ln.Addr().String(), pool: pool, proc: proc, dir: dir}
}

func (ts *testServer) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: ts.pool, ServerName: "127.0.0.1"}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ntpRoundTrip sends one NTS request made from the session through the processor, as the NTP server will.
func ntpRoundTrip(t *testing.T, p *nts.Processor, s *Session) {
	t.Helper()
	h := wire.Header{Version: 4, Mode: wire.ModeClient, TransmitTime: 12345}
	pkt := make([]byte, wire.HeaderLen)
	h.Marshal(pkt)
	a, _ := nts.NewAEAD(s.Keys.AEAD, s.Keys.C2S())
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	uid := make([]byte, 32)
	rand.Read(uid)
	req, err := nts.AppendRequest(pkt, uid, s.Cookies[0], 1, &s.Keys, nonce)
	if err != nil {
		t.Fatal(err)
	}
	x, v := p.Open(req)
	defer p.Release(x)
	if v != nts.Authentic {
		t.Fatalf("verdict %v", v)
	}
	resp := make([]byte, 1500)
	(&wire.Header{Version: 4, Mode: wire.ModeServer, Stratum: 1, OriginTime: 12345}).Marshal(resp)
	n, err := x.Reply(resp, wire.HeaderLen)
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := nts.VerifyResponse(resp[:n], uid, &s.Keys)
	if err != nil || len(cookies) != 2 {
		t.Fatalf("%d cookies: %v", len(cookies), err)
	}
}

func TestExchange(t *testing.T) {
	ts := startServer(t, nil)
	for _, c := range []struct {
		offer []nts.AlgorithmID
		want  nts.AlgorithmID
	}{
		{[]nts.AlgorithmID{nts.AESSIVCMAC256}, nts.AESSIVCMAC256},
		{[]nts.AlgorithmID{nts.AESSIVCMAC512, nts.AESSIVCMAC256}, nts.AESSIVCMAC512},
		{[]nts.AlgorithmID{nts.AES128GCMSIV, nts.AESSIVCMAC256}, nts.AES128GCMSIV},
	} {
		s, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), c.offer)
		if err != nil {
			t.Fatal(err)
		}
		if s.AEAD != c.want || len(s.Cookies) != nts.MaxCookies || s.Port != 1123 {
			t.Fatalf("session %+v", s.KEResponse)
		}
		// The cookies carry exactly the keys the client exported from its side of the TLS session.
		k, err := ts.proc.Keys().OpenCookie(s.Cookies[0])
		if err != nil || k != s.Keys {
			t.Fatalf("server and client keys differ: %v", err)
		}
		ntpRoundTrip(t, ts.proc, s)
	}
	waitStats(t, ts.srv, func(st Stats) bool { return st.Served == 3 && st.Active == 0 })
	fp := ts.srv.Certificate().SHA256
	if fp == [32]byte{} {
		t.Fatal("no fingerprint")
	}
}

func TestBadClients(t *testing.T) {
	ts := startServer(t, nil)
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(ctxT(t, 5*time.Second), "tcp", ts.addr)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}
	cfg := ts.tlsConfig()
	cfg.MaxVersion = tls.VersionTLS12
	cfg.NextProtos = []string{nts.ALPN}
	if _, err := dial(cfg); err == nil {
		t.Fatal("TLS 1.2 accepted")
	}
	cfg = ts.tlsConfig()
	cfg.NextProtos = []string{"http/1.1"}
	if _, err := dial(cfg); err == nil {
		t.Fatal("wrong ALPN accepted")
	}
	// No ALPN: the handshake completes, then the server hangs up without answering.
	c, err := dial(ts.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(nts.AppendKERequest(nil, []nts.AlgorithmID{nts.AESSIVCMAC256}, false))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatal("answered without ALPN")
	}
	c.Close()

	ask := func(req []byte) ([]nts.Record, error) {
		cfg := ts.tlsConfig()
		cfg.NextProtos = []string{nts.ALPN}
		c, err := dial(cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.Write(req)
		_, recs, err := nts.ReadMessage(c)
		return recs, err
	}
	for _, c := range []struct {
		name string
		req  []byte
		code uint16
	}{
		{"unknown critical", []byte{0x80, 1, 0, 2, 0, 0, 0xc0, 0, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0}, nts.ErrCodeUnrecognizedCritical},
		{"no next protocol", []byte{0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0}, nts.ErrCodeBadRequest},
		{"oversized", append(bytes.Repeat(append([]byte{0, 99, 0x10, 0}, make([]byte, 0x1000)...), 5), 0x80, 0, 0, 0), nts.ErrCodeBadRequest},
	} {
		recs, err := ask(c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(recs) != 2 || recs[0].Type != nts.RecError || recs[0].Body[1] != byte(c.code) {
			t.Fatalf("%s: response %+v", c.name, recs)
		}
	}
	waitStats(t, ts.srv, func(st Stats) bool { return st.HandshakeFailed >= 3 && st.BadRequest == 3 })
}

// dialFrom connects from a given loopback source address and holds the connection idle.
func dialFrom(t *testing.T, src, dst string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return c
}

// A flood of idle connections — from one address, and from many — does not keep a client from its keys.
func TestIdleFlood(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxConns, c.MaxConnsPerClient = 16, 4
		c.HandshakeTimeout, c.SessionTimeout = 30*time.Second, 30*time.Second // longer than the test
	})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// One address: only MaxConnsPerClient of its connections are kept.
	for range 40 {
		idle = append(idle, dialFrom(t, "127.0.0.2", ts.addr))
	}
	// Many addresses: they fill every slot.
	for i := range 40 {
		idle = append(idle, dialFrom(t, netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}).String(), ts.addr))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), []nts.AlgorithmID{nts.AESSIVCMAC256})
			if err == nil && len(s.Cookies) == 0 {
				err = errors.New("no cookies")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a client was kept out by idle connections: %v", err)
		}
	}
	waitStats(t, ts.srv, func(st Stats) bool {
		return st.Served == 4 && st.ClientLimited > 0 && st.Evicted > 0 && st.Active <= 16
	})
}

// A client that reconnects as soon as it has its answer is not refused for the connection the server is
// still closing. The server here stalls between writing each first answer and closing the connection, the
// window in which ntsload (4 connections, 4 slots per client) was reset now and then.
func TestReconnectAtOnce(t *testing.T) {
	hold := make(chan struct{})
	var calls atomic.Int32
	ts := startServerHooked(t, func(c *Config) { c.MaxConnsPerClient = 1 }, func(s *Server) {
		s.hookAnswered = func() {
			if calls.Add(1) == 1 {
				select {
				case <-hold:
				case <-time.After(5 * time.Second):
				}
			}
		}
	})
	for i := range 3 {
		if _, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), []nts.AlgorithmID{nts.AESSIVCMAC256}); err != nil {
			t.Fatalf("exchange %d, right after the first: %v (stats %+v)", i, err, ts.srv.Stats())
		}
	}
	close(hold)
	waitStats(t, ts.srv, func(st Stats) bool { return st.Served == 3 && st.ClientLimited == 0 && st.Active == 0 })
}

// The server takes X25519 or P-256, whichever the client sent a key share for (crypto/tls prefers X25519
// when it has both), so that no client pays a HelloRetryRequest it could avoid; hybrid post-quantum groups
// whenever the client offers one, unless PreferClassical, and then only for clients that offer nothing
// else; never the costly P-384 or P-521.
func TestKeyExchangeGroups(t *testing.T) {
	var (
		hybrid  = []tls.CurveID{tls.X25519MLKEM768}
		classic = startServer(t, func(c *Config) { c.PreferClassical = true })
		pq      = startServer(t, nil)
	)
	for _, c := range []struct {
		name   string
		srv    *testServer
		offer  []tls.CurveID // nil: crypto/tls's default (X25519MLKEM768 and X25519 key shares)
		want   tls.CurveID   // 0: the handshake fails
		hrr    bool
		hybrid uint64 // the server's HybridKE after this case
	}{
		{"go default", classic, nil, tls.X25519, false, 0},
		{"x25519 share (as OpenSSL)", classic, []tls.CurveID{tls.X25519, tls.CurveP256}, tls.X25519, false, 0},
		{"p256 only", classic, []tls.CurveID{tls.CurveP256}, tls.CurveP256, false, 0},
		{"hybrid share, P-256 supported", classic, []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256}, tls.CurveP256, true, 0},
		{"hybrid only", classic, hybrid, tls.X25519MLKEM768, false, 1},
		{"p384 only", classic, []tls.CurveID{tls.CurveP384}, 0, false, 1},
		{"post-quantum server, go default", pq, nil, tls.X25519MLKEM768, false, 1},
		{"post-quantum server, x25519 only", pq, []tls.CurveID{tls.X25519}, tls.X25519, false, 1},
	} {
		cfg := c.srv.tlsConfig()
		cfg.NextProtos, cfg.CurvePreferences = []string{nts.ALPN}, c.offer
		d := tls.Dialer{Config: cfg}
		nc, err := d.DialContext(ctxT(t, 5*time.Second), "tcp", c.srv.addr)
		if c.want == 0 {
			if err == nil {
				nc.Close()
				t.Errorf("%s: handshake succeeded", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		cs := nc.(*tls.Conn).ConnectionState()
		nc.Close()
		if cs.CurveID != c.want || cs.HelloRetryRequest != c.hrr {
			t.Errorf("%s: group %v, HelloRetryRequest %v; want %v, %v", c.name, cs.CurveID, cs.HelloRetryRequest, c.want, c.hrr)
		}
		waitStats(t, c.srv.srv, func(st Stats) bool { return st.Active == 0 && st.HybridKE == c.hybrid })
	}
	if st := classic.srv.Stats(); st.HelloRetries != 1 {
		t.Errorf("HelloRetries %d, want 1", st.HelloRetries)
	}
}

// Workers parked between connections leave when the server closes.
func TestCloseEndsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, nil)
	for range 3 {
		if _, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), []nts.AlgorithmID{nts.AESSIVCMAC256}); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, ts.srv, func(st Stats) bool { return st.Served == 3 && st.Active == 0 })
	ts.srv.Close()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before the server", runtime.NumGoroutine(), before)
		}
	}
}

// writeCounter is a net.Conn that records its writes and deadlines.
type writeCounter struct {
	net.Conn
	writes   [][]byte
	deadline time.Time
	closed   bool
}

func (w *writeCounter) Write(b []byte) (int, error) {
	if !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	w.writes = append(w.writes, bytes.Clone(b))
	return len(b), nil
}
func (w *writeCounter) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }
func (w *writeCounter) Close() error                       { w.closed = true; return nil }

// corkConn passes writes through until corked, then holds them for one write at Close, ignoring the
// write deadlines tls.Conn.Close sets around its alert (the last, "now", would fail that write).
func TestCorkConn(t *testing.T) {
	w := &writeCounter{}
	c := &corkConn{Conn: w}
	c.Write([]byte("flight"))
	c.corked = true
	c.SetWriteDeadline(time.Now().Add(time.Hour))
	c.Write([]byte("response,"))
	c.Write([]byte("alert"))
	c.SetWriteDeadline(time.Now())
	if len(w.writes) != 1 || !w.deadline.IsZero() {
		t.Fatalf("writes %q, deadline %v before Close", w.writes, w.deadline)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 2 || string(w.writes[1]) != "response,alert" || !w.closed {
		t.Fatalf("writes %q, closed %v", w.writes, w.closed)
	}
}

// A slow client is cut off by the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.HandshakeTimeout, c.SessionTimeout = 200*time.Millisecond, time.Second })
	c := dialFrom(t, "127.0.0.3", ts.addr)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection not closed by the server: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Rate, c.Burst = 0.001, 2 })
	for i := range 3 {
		_, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), []nts.AlgorithmID{nts.AESSIVCMAC256})
		if (err == nil) != (i < 2) {
			t.Fatalf("exchange %d: %v", i, err)
		}
	}
	waitStats(t, ts.srv, func(st Stats) bool { return st.RateLimited == 1 })
}

func TestCertificateReload(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.CertCheck = time.Nanosecond })
	before := ts.srv.Certificate()
	// Issue a new pair into the same files, as an operator (or certbot) would replace them.
	os.Remove(filepath.Join(ts.dir, SelfSignedCertFile))
	os.Remove(filepath.Join(ts.dir, SelfSignedKeyFile))
	if _, _, err := EnsureSelfSigned(ts.dir, []string{"localhost"}, []netip.Addr{netip.MustParseAddr("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	// The old pin no longer verifies, the new one does.
	if _, err := Exchange(ctxT(t, 5*time.Second), ts.addr, ts.tlsConfig(), []nts.AlgorithmID{nts.AESSIVCMAC256}); err == nil {
		t.Fatal("old certificate still served")
	}
	after := ts.srv.Certificate()
	if after.SHA256 == before.SHA256 {
		t.Fatal("fingerprint did not change")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(after.PEM)
	if _, err := Exchange(ctxT(t, 5*time.Second), ts.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, []nts.AlgorithmID{nts.AESSIVCMAC256}); err != nil {
		t.Fatal(err)
	}
	// A broken file keeps the old certificate and reports the error.
	os.WriteFile(filepath.Join(ts.dir, SelfSignedCertFile), []byte("junk"), 0o644)
	if _, err := Exchange(ctxT(t, 5*time.Second), ts.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, []nts.AlgorithmID{nts.AESSIVCMAC256}); err != nil {
		t.Fatal(err)
	}
	if ts.srv.Certificate().ReloadError == nil {
		t.Fatal("reload error not reported")
	}
}

func TestConfigValidate(t *testing.T) {
	ks, _ := nts.NewKeySet(nts.KeyPolicy{}, 0, rand.Reader)
	p, _ := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	for _, c := range []Config{
		{StateDir: "/x", Rand: rand.Reader},
		{StateDir: "/x", Processor: p},
		{Processor: p, Rand: rand.Reader},
		{CertFile: "a", Processor: p, Rand: rand.Reader},
		{StateDir: "/x", Processor: p, Rand: rand.Reader, MaxConns: 2, MaxConnsPerClient: 3},
		{StateDir: "/x", Processor: p, Rand: rand.Reader, MaxConnsPerClient: 65},
		{StateDir: "/x", Processor: p, Rand: rand.Reader, Rate: -1},
		{StateDir: "/x", Processor: p, Rand: rand.Reader, KE: nts.KEConfig{Cookies: 9}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	// A global cap below the default per-client cap lowers the per-client cap with it.
	if err := (&Config{StateDir: "/x", Processor: p, Rand: rand.Reader, MaxConns: 2}).Validate(); err != nil {
		t.Errorf("MaxConns 2: %v", err)
	}
}

// waitStats waits (bounded) for the handlers to finish counting: a client can return before the server's
// goroutine has recorded how the connection ended.
func waitStats(t *testing.T, s *Server, ok func(Stats) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok(s.Stats()) {
			return
		}
	}
	t.Fatalf("stats %+v", s.Stats())
}

// processCPU is the CPU time this process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkExchange measures whole NTS-KE exchanges on loopback: TCP connect, TLS 1.3 handshake (ECDSA
// P-256), request, eight cookies, close. Client and server share the CPUs. The client offers key shares
// as crypto/tls does by default (hybrid: X25519MLKEM768 and X25519) or as deployed NTS clients do
// (x25519: the share chrony's and NTPsec's handshakes end up using).
func BenchmarkExchange(b *testing.B) {
	ks, _ := nts.NewKeySet(nts.KeyPolicy{}, timebase.FromTime(time.Now()), rand.Reader)
	proc, _ := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	srv, err := New(Config{StateDir: b.TempDir(), Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Processor: proc, Rand: rand.Reader, Rate: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.Certificate().PEM)
	for _, offer := range []struct {
		name   string
		groups []tls.CurveID
	}{{"hybrid", nil}, {"x25519", []tls.CurveID{tls.X25519}}} {
		b.Run(offer.name, func(b *testing.B) {
			cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", CurvePreferences: offer.groups}
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := Exchange(ctx, ln.Addr().String(), cfg, []nts.AlgorithmID{nts.AESSIVCMAC256}); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			// CPU time (client and server, user and system) per exchange: steadier than ns/op, which is
			// one exchange's latency and moves with whatever else runs on the machine.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
