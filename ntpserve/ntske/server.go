package ntske

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
)

// Config configures the NTS-KE server.
type Config struct {
	// CertFile and KeyFile name a PEM certificate chain and key. Both empty: a self-signed certificate in
	// StateDir (EnsureSelfSigned) with SANs Hosts and Addrs.
	CertFile, KeyFile string
	StateDir          string
	Hosts             []string
	Addrs             []netip.Addr
	// CertCheck is how often the certificate files are checked for changes (default 10 s).
	CertCheck time.Duration

	// KE is the negotiation policy (AEADs, the NTP server name and port to announce, cookies per response).
	KE nts.KEConfig
	// Processor provides the master keys that seal cookies (Processor.Keys), the same the NTP side opens.
	Processor *nts.Processor
	// Rand provides cookie nonces (crypto/rand.Reader unless a test injects another).
	Rand io.Reader

	// MaxConns bounds concurrent connections (default 64). When all are taken, the oldest connection
	// still in its handshake or request is closed to make room: idle or slow connections cannot keep
	// others out for longer than it takes new clients to arrive. Like the per-client slot below, a
	// connection's slot is free again once its response is ready.
	MaxConns int
	// MaxConnsPerClient bounds concurrent connections from one client (IPv4 address, or IPv6 /64;
	// default 4, or MaxConns if that is smaller). A connection holds its slot until its response is
	// ready, not until it is closed: a client that reconnects as soon as it has its answer is never
	// refused for a connection the server is still closing.
	MaxConnsPerClient int
	// HandshakeTimeout bounds the TLS handshake (default 3 s); SessionTimeout the whole connection
	// (default 10 s).
	HandshakeTimeout, SessionTimeout time.Duration
	// Rate is the sustained rate of connections per client per second (default 0.2), Burst how many may
	// come at once (default 8); RateClients bounds the table of clients (default 4096).
	Rate        float64
	Burst       int
	RateClients int

	// PreferClassical takes X25519 or P-256 even from clients that also offer a hybrid post-quantum key
	// exchange (X25519MLKEM768, SecP256r1MLKEM768). Off by default: a client that offers a hybrid gets it
	// (see "What a handshake costs" in the package doc for the price and what it protects). Clients that
	// offer only hybrid groups are served with them either way.
	PreferClassical bool
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.CertCheck == 0 {
		d.CertCheck = 10 * time.Second
	}
	if d.MaxConns == 0 {
		d.MaxConns = 64
	}
	if d.MaxConnsPerClient == 0 {
		d.MaxConnsPerClient = min(4, d.MaxConns)
	}
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = 3 * time.Second
	}
	if d.SessionTimeout == 0 {
		d.SessionTimeout = 10 * time.Second
	}
	if d.Rate == 0 {
		d.Rate = 0.2
	}
	if d.Burst == 0 {
		d.Burst = 8
	}
	if d.RateClients == 0 {
		d.RateClients = 4096
	}
	return d
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	d := c.withDefaults()
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("ntske: certificate and key files must be given together")
	case c.CertFile == "" && c.StateDir == "":
		return errors.New("ntske: a state directory is needed for the self-signed certificate")
	case c.Processor == nil:
		return errors.New("ntske: Processor is nil")
	case c.Rand == nil:
		return errors.New("ntske: Rand is nil")
	case d.MaxConns < 1 || d.MaxConnsPerClient < 1 || d.MaxConnsPerClient > d.MaxConns:
		return fmt.Errorf("ntske: MaxConns %d, MaxConnsPerClient %d", d.MaxConns, d.MaxConnsPerClient)
	case d.HandshakeTimeout < 0 || d.SessionTimeout < d.HandshakeTimeout:
		return fmt.Errorf("ntske: HandshakeTimeout %v, SessionTimeout %v", d.HandshakeTimeout, d.SessionTimeout)
	case d.Rate < 0 || math.IsNaN(d.Rate) || d.Burst < 1 || d.RateClients < 1:
		return fmt.Errorf("ntske: Rate %v, Burst %d, RateClients %d", d.Rate, d.Burst, d.RateClients)
	}
	return c.KE.Validate()
}

// Stats counts what happened to connections.
type Stats struct {
	Accepted        uint64 // connections taken in
	RateLimited     uint64 // closed at once: the client is over its rate
	ClientLimited   uint64 // closed at once: the client has MaxConnsPerClient open
	Evicted         uint64 // closed to make room while in handshake or request
	HandshakeFailed uint64 // TLS failed: not TLS 1.3, wrong ALPN, timeout, bad certificate...
	BadRequest      uint64 // answered with an NTS-KE error or a refusal
	Served          uint64 // cookies issued
	Failed          uint64 // I/O failure or timeout after the handshake; internal errors
	Active          int64  // connections holding a slot now
	// Key exchanges of the completed handshakes, by group: X25519, P-256, hybrid post-quantum (any).
	X25519KE, P256KE, HybridKE uint64
	HelloRetries               uint64 // handshakes that needed a HelloRetryRequest (no key share for a group we take)
}

// Server is the NTS-KE TLS edge.
type Server struct {
	cfg          Config
	certs        *certStore
	tls          *tls.Config
	hookAnswered func() // tests: runs once the response is sent and the connection closed, before the handler returns

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perCli  map[netip.Prefix]int
	limiter *rateTable
	lns     map[net.Listener]struct{}
	closed  bool
	wg      sync.WaitGroup // connections being handled

	idle        chan *conn    // unbuffered: parked workers receive connections here
	idleWorkers int           // parked workers (under mu)
	quit        chan struct{} // closed by Close: parked workers exit

	st struct {
		accepted, rateLimited, clientLimited, evicted, handshakeFailed, badRequest, served, failed atomic.Uint64
		x25519KE, p256KE, hybridKE, helloRetries                                                   atomic.Uint64
		active                                                                                     atomic.Int64
	}
}

type conn struct {
	nc       net.Conn
	client   netip.Prefix
	start    time.Time
	answered bool // past reading the request: no longer evictable
	evicted  bool
}

// New prepares the server: loads (or issues) the certificate.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile == "" {
		var err error
		if certFile, keyFile, err = EnsureSelfSigned(cfg.StateDir, cfg.Hosts, cfg.Addrs); err != nil {
			return nil, err
		}
	}
	certs, err := newCertStore(certFile, keyFile, cfg.CertCheck)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, certs: certs,
		conns:   map[*conn]struct{}{},
		perCli:  map[netip.Prefix]int{},
		limiter: newRateTable(cfg.Rate, cfg.Burst, cfg.RateClients),
		lns:     map[net.Listener]struct{}{},
		idle:    make(chan *conn),
		quit:    make(chan struct{}),
	}
	s.tls = s.tlsConfig()
	return s, nil
}

// Key exchange groups the server takes; the package doc ("What a handshake costs") and hello.go say why.
var (
	classicalGroups = []tls.CurveID{tls.CurveP256, tls.X25519}
	hybridGroups    = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768}
)

// tlsConfig builds the TLS configuration every connection starts with; configFor may swap it for another
// per ClientHello.
func (s *Server) tlsConfig() *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS13, // RFC 8915 section 3: TLS 1.3 or later
		MaxVersion: tls.VersionTLS13,
		NextProtos: []string{nts.ALPN},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.get(time.Now()), nil
		},
		SessionTicketsDisabled: true, // each exchange is one handshake; tickets would only cost memory and CPU
	}
	only := func(groups ...tls.CurveID) *tls.Config {
		c := base.Clone()
		c.CurvePreferences = groups
		return c
	}
	hybridOnly, p256Only := only(hybridGroups...), only(tls.CurveP256)
	main := only(classicalGroups...)
	if !s.cfg.PreferClassical {
		// crypto/tls picks a hybrid whenever both sides have one, whatever the order: listing them is
		// preferring them.
		main.CurvePreferences = append(slices.Clone(hybridGroups), classicalGroups...)
	}
	main.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return s.configFor(hello, hybridOnly, p256Only), nil
	}
	return main
}

// configFor chooses the configuration for one ClientHello: nil keeps the main one.
func (s *Server) configFor(hello *tls.ClientHelloInfo, hybridOnly, p256Only *tls.Config) *tls.Config {
	var shares []tls.CurveID
	if hc, ok := hello.Conn.(*corkConn); ok {
		shares = helloKeyShares(hc.hello)
		hc.hello, hc.recording = nil, false
	}
	offers := func(groups []tls.CurveID) bool {
		return slices.ContainsFunc(hello.SupportedCurves, func(g tls.CurveID) bool { return slices.Contains(groups, g) })
	}
	switch {
	case !s.cfg.PreferClassical && offers(hybridGroups):
		return nil
	case !offers(classicalGroups):
		return hybridOnly
	case slices.Contains(shares, tls.CurveP256) && slices.Contains(hello.SupportedCurves, tls.CurveP256):
		return p256Only // see hello.go: cheaper than X25519 here, and the client sent its share
	}
	return nil
}

// Certificate describes the certificate being served.
func (s *Server) Certificate() CertInfo { return s.certs.info() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted: s.st.accepted.Load(), RateLimited: s.st.rateLimited.Load(), ClientLimited: s.st.clientLimited.Load(),
		Evicted: s.st.evicted.Load(), HandshakeFailed: s.st.handshakeFailed.Load(), BadRequest: s.st.badRequest.Load(),
		Served: s.st.served.Load(), Failed: s.st.failed.Load(), Active: s.st.active.Load(),
		X25519KE: s.st.x25519KE.Load(), P256KE: s.st.p256KE.Load(), HybridKE: s.st.hybridKE.Load(),
		HelloRetries: s.st.helloRetries.Load(),
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("ntske: server closed")

// Serve accepts connections on ln until Close; it returns ErrServerClosed then, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if isTemporary(err) { // descriptor exhaustion (EMFILE, ENFILE): back off instead of exiting
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("ntske: accept on %v: %w", ln.Addr(), err)
		}
		delay = 0
		s.admit(nc)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// clientKey groups IPv6 clients by /64, as a host can use any address of its prefix.
func clientKey(a net.Addr) netip.Prefix {
	var addr netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		addr = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		addr = ap.Addr()
	} else {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64)
	return p
}

func (s *Server) admit(nc net.Conn) {
	now := time.Now()
	key := clientKey(nc.RemoteAddr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if !s.limiter.admit(key, now) {
		s.mu.Unlock()
		s.st.rateLimited.Add(1)
		nc.Close()
		return
	}
	if s.perCli[key] >= s.cfg.MaxConnsPerClient {
		s.mu.Unlock()
		s.st.clientLimited.Add(1)
		nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConns {
		var oldest *conn
		for c := range s.conns {
			if !c.answered && !c.evicted && (oldest == nil || c.start.Before(oldest.start)) {
				oldest = c
			}
		}
		if oldest == nil { // every slot is busy answering: they finish within milliseconds
			s.mu.Unlock()
			s.st.clientLimited.Add(1)
			nc.Close()
			return
		}
		s.dropLocked(oldest)
		oldest.evicted = true
		oldest.nc.Close()
		s.st.evicted.Add(1)
	}
	c := &conn{nc: nc, client: key, start: now}
	s.conns[c] = struct{}{}
	s.perCli[key]++
	s.wg.Add(1) // under mu, after the closed check: Close waits for this connection's handling
	s.mu.Unlock()
	s.st.accepted.Add(1)
	s.st.active.Add(1)
	select {
	case s.idle <- c: // a parked worker takes it
	default:
		go s.worker(c)
	}
}

// maxIdleWorkers bounds the handler goroutines kept parked between connections.
const maxIdleWorkers = 8

// worker serves c, then parks for the next connection rather than exiting: a TLS handshake grows a
// goroutine's stack to tens of KiB, and a fresh goroutine per connection paid for that growth (stack
// copies) every time. At most maxIdleWorkers park; the others exit.
//
// s.wg counts connections being handled, not workers: Close waits for those, while parked workers hold
// nothing and leave when quit is closed.
func (s *Server) worker(c *conn) {
	for {
		s.handle(c)
		s.wg.Done()
		s.mu.Lock()
		if s.closed || s.idleWorkers >= maxIdleWorkers {
			s.mu.Unlock()
			return
		}
		s.idleWorkers++
		s.mu.Unlock()
		select {
		case c = <-s.idle:
		case <-s.quit:
			return
		}
		s.mu.Lock()
		s.idleWorkers--
		s.mu.Unlock()
	}
}

// dropLocked releases c's slot.
func (s *Server) dropLocked(c *conn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perCli[c.client]--; s.perCli[c.client] <= 0 {
		delete(s.perCli, c.client)
	}
	s.st.active.Add(-1)
}

func (s *Server) handle(c *conn) {
	defer func() {
		c.nc.Close()
		s.release(c)
	}()
	// The deadline alone bounds the handshake: HandshakeContext with a timeout would add a goroutine and
	// a timer per connection for the same effect.
	c.nc.SetDeadline(c.start.Add(s.cfg.HandshakeTimeout))
	cc := &corkConn{Conn: c.nc, recording: true}
	tc := tls.Server(cc, s.tls)
	err := tc.Handshake()
	cs := tc.ConnectionState()
	if err != nil || cs.NegotiatedProtocol != nts.ALPN {
		// A client without ALPN completes the handshake with no protocol; RFC 8915 requires ntske/1.
		s.count(c, &s.st.handshakeFailed)
		return
	}
	switch {
	case cs.CurveID == tls.X25519:
		s.st.x25519KE.Add(1)
	case cs.CurveID == tls.CurveP256:
		s.st.p256KE.Add(1)
	case slices.Contains(hybridGroups, cs.CurveID):
		s.st.hybridKE.Add(1)
	}
	if cs.HelloRetryRequest {
		s.st.helloRetries.Add(1)
	}
	c.nc.SetDeadline(c.start.Add(s.cfg.SessionTimeout))
	_, recs, err := nts.ReadMessage(tc)
	var resp []byte
	var n nts.Negotiation
	switch {
	case errors.Is(err, nts.ErrMessageTooLong) || errors.Is(err, nts.ErrEndOfMessage):
		// Answer a malformed request with Bad Request, as far as it can be read.
		resp, _ = nts.AppendResponse(nil, &s.cfg.KE, nts.Negotiation{ErrorCode: nts.ErrCodeBadRequest}, nil)
		s.st.badRequest.Add(1)
	case err != nil:
		s.count(c, &s.st.failed)
		return
	default:
		s.mu.Lock()
		c.answered = true
		evicted := c.evicted
		s.mu.Unlock()
		if evicted {
			return
		}
		resp, n, err = nts.ServeKE(&s.cfg.KE, recs, cs.ExportKeyingMaterial, s.cfg.Processor.Keys(), s.cfg.Rand)
		switch {
		case err != nil:
			s.st.failed.Add(1)
		case !n.OK():
			s.st.badRequest.Add(1)
		}
	}
	// Give the slot back before the client can have its answer: it may reconnect at once (ntsload does,
	// and so does a client that wants more cookies), and would otherwise race this goroutine's cleanup
	// and find its per-client slots still taken. What is left of the connection (one write into an
	// empty socket buffer, the close) is bounded by the deadline and holds no request state.
	s.release(c)
	// The response and close_notify (RFC 8915 has the server close after its response) leave in one
	// write, so one segment: corked, tc.Write and the alert of tc.Close only fill cc's buffer, and
	// cc.Close sends it before closing the socket.
	cc.corked = true
	_, werr := tc.Write(resp)
	cerr := tc.Close()
	if s.hookAnswered != nil {
		s.hookAnswered()
	}
	if werr != nil || cerr != nil {
		s.count(c, &s.st.failed)
		return
	}
	if err == nil && n.OK() {
		s.st.served.Add(1)
	}
}

// corkConn keeps the bytes of the ClientHello for configFor, and holds the writes made while corked to
// send them in one write when closed. While corked it ignores write deadlines, which tls.Conn.Close sets
// around its close_notify alert (the last one to "now", which would fail the write of the held bytes); the
// connection's own deadline still bounds that write. Only the handler's goroutine uses it; closing the
// connection from elsewhere (eviction, shutdown) closes the net.Conn underneath directly.
type corkConn struct {
	net.Conn
	corked bool
	held   []byte

	// Until configFor has looked at it, the bytes read (at most maxHelloBytes): the ClientHello's records.
	recording bool
	hello     []byte
}

func (c *corkConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.recording {
		c.hello = append(c.hello, b[:min(n, maxHelloBytes-len(c.hello))]...)
		c.recording = len(c.hello) < maxHelloBytes
	}
	return n, err
}

func (c *corkConn) Write(b []byte) (int, error) {
	if !c.corked {
		return c.Conn.Write(b)
	}
	c.held = append(c.held, b...)
	return len(b), nil
}

func (c *corkConn) SetWriteDeadline(t time.Time) error {
	if c.corked {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *corkConn) Close() error {
	var werr error
	if len(c.held) > 0 {
		_, werr = c.Conn.Write(c.held)
		c.held = nil
	}
	return errors.Join(werr, c.Conn.Close())
}

// release gives c's slots back (once).
func (s *Server) release(c *conn) {
	s.mu.Lock()
	s.dropLocked(c)
	s.mu.Unlock()
}

// count adds to ctr unless c was evicted: an evicted connection is counted once, as evicted.
func (s *Server) count(c *conn, ctr *atomic.Uint64) {
	s.mu.Lock()
	evicted := c.evicted
	s.mu.Unlock()
	if !evicted {
		ctr.Add(1)
	}
}

// Close stops all listeners and closes every connection; it waits for the handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.quit)
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// rateTable is a token bucket per client in a bounded map. When it is full, clients whose bucket has
// refilled (they are indistinguishable from new ones) are forgotten first; if none has, an arbitrary one
// is. A flood from many addresses thus costs a bounded table, and TCP's handshake means each address is
// real.
type rateTable struct {
	rate  float64
	burst float64
	max   int
	m     map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateTable(rate float64, burst, maxClients int) *rateTable {
	return &rateTable{rate: rate, burst: float64(burst), max: maxClients, m: map[netip.Prefix]*bucket{}}
}

// admit is called with the server's mutex held.
func (r *rateTable) admit(k netip.Prefix, now time.Time) bool {
	b := r.m[k]
	if b == nil {
		if len(r.m) >= r.max {
			r.sweep(now)
		}
		b = &bucket{tokens: r.burst, last: now}
		r.m[k] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(r.burst, b.tokens+dt*r.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (r *rateTable) sweep(now time.Time) {
	for k, b := range r.m {
		if b.tokens+now.Sub(b.last).Seconds()*r.rate >= r.burst {
			delete(r.m, k)
		}
	}
	for k := range r.m {
		if len(r.m) < r.max {
			break
		}
		delete(r.m, k)
	}
}
