package ntske

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
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
	// others out for longer than it takes new clients to arrive.
	MaxConns int
	// MaxConnsPerClient bounds concurrent connections from one client (IPv4 address, or IPv6 /64;
	// default 4).
	MaxConnsPerClient int
	// HandshakeTimeout bounds the TLS handshake (default 3 s); SessionTimeout the whole connection
	// (default 10 s).
	HandshakeTimeout, SessionTimeout time.Duration
	// Rate is the sustained rate of connections per client per second (default 0.2), Burst how many may
	// come at once (default 8); RateClients bounds the table of clients (default 4096).
	Rate        float64
	Burst       int
	RateClients int
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
		d.MaxConnsPerClient = 4
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
	Active          int64  // connections open now
}

// Server is the NTS-KE TLS edge.
type Server struct {
	cfg   Config
	certs *certStore
	tls   *tls.Config

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perCli  map[netip.Prefix]int
	limiter *rateTable
	lns     map[net.Listener]struct{}
	closed  bool
	wg      sync.WaitGroup

	st struct {
		accepted, rateLimited, clientLimited, evicted, handshakeFailed, badRequest, served, failed atomic.Uint64
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
	}
	s.tls = &tls.Config{
		MinVersion: tls.VersionTLS13, // RFC 8915 section 3: TLS 1.3 or later
		MaxVersion: tls.VersionTLS13,
		NextProtos: []string{nts.ALPN},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.get(time.Now()), nil
		},
		SessionTicketsDisabled: true, // each exchange is one handshake; tickets would only cost memory
	}
	return s, nil
}

// Certificate describes the certificate being served.
func (s *Server) Certificate() CertInfo { return s.certs.info() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted: s.st.accepted.Load(), RateLimited: s.st.rateLimited.Load(), ClientLimited: s.st.clientLimited.Load(),
		Evicted: s.st.evicted.Load(), HandshakeFailed: s.st.handshakeFailed.Load(), BadRequest: s.st.badRequest.Load(),
		Served: s.st.served.Load(), Failed: s.st.failed.Load(), Active: s.st.active.Load(),
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
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	addr := ap.Addr().Unmap().WithZone("")
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
	s.wg.Add(1)
	s.mu.Unlock()
	s.st.accepted.Add(1)
	s.st.active.Add(1)
	go s.handle(c)
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
	defer s.wg.Done()
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		s.dropLocked(c)
		s.mu.Unlock()
	}()
	c.nc.SetDeadline(c.start.Add(s.cfg.HandshakeTimeout))
	tc := tls.Server(c.nc, s.tls)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil || tc.ConnectionState().NegotiatedProtocol != nts.ALPN {
		// A client without ALPN completes the handshake with no protocol; RFC 8915 requires ntske/1.
		s.count(c, &s.st.handshakeFailed)
		return
	}
	c.nc.SetDeadline(c.start.Add(s.cfg.SessionTimeout))
	_, recs, err := nts.ReadMessage(tc)
	if err != nil {
		if errors.Is(err, nts.ErrMessageTooLong) || errors.Is(err, nts.ErrEndOfMessage) {
			// Answer a malformed request with Bad Request, as far as it can be read.
			resp, _ := nts.AppendResponse(nil, &s.cfg.KE, nts.Negotiation{ErrorCode: nts.ErrCodeBadRequest}, nil)
			tc.Write(resp)
			s.st.badRequest.Add(1)
		} else {
			s.count(c, &s.st.failed)
		}
		return
	}
	s.mu.Lock()
	c.answered = true
	evicted := c.evicted
	s.mu.Unlock()
	if evicted {
		return
	}
	cs := tc.ConnectionState()
	resp, n, err := nts.ServeKE(&s.cfg.KE, recs, cs.ExportKeyingMaterial, s.cfg.Processor.Keys(), s.cfg.Rand)
	switch {
	case err != nil:
		s.st.failed.Add(1)
	case !n.OK():
		s.st.badRequest.Add(1)
	}
	if _, werr := tc.Write(resp); werr != nil {
		s.st.failed.Add(1)
		return
	}
	if err == nil && n.OK() {
		s.st.served.Add(1)
	}
	tc.Close() // close_notify: RFC 8915 has the server close after its response
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
