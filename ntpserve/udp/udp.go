package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Handler answers one datagram; the ntpserve core implements it. resp has room for at least
// max(len(req), 48) bytes; the handler writes the reply there and returns its length, 0 for no reply.
// client is the datagram's source and rx its receive time on the served timescale. Handle is called
// concurrently from one goroutine per socket.
type Handler interface {
	Handle(resp, req []byte, client netip.AddrPort, rx timebase.Instant) int
}

// Preparer is implemented by a Handler whose replies have a costly part that does not depend on the
// transmit time (NTS cryptography). For such a handler each socket gets a BatchHandler, and the edge
// hands it a batch in two passes: Prepare for every datagram, then Finish for every prepared one, so
// that no reply's transmit timestamp (read in Finish) waits for another request's costly part.
type Preparer interface {
	NewBatch(n int) BatchHandler
}

// BatchHandler is one socket's two-pass handler, used by that socket's goroutine only. i is the
// datagram's index in the batch (0 <= i < n); every prepared index is finished before it is prepared
// again. Finish returns the reply length as Handler.Handle does.
type BatchHandler interface {
	Prepare(i int, req []byte, client netip.AddrPort, rx timebase.Instant)
	Finish(i int, resp []byte) int
}

// Defaults and limits of Config.
const (
	DefaultBatch       = 32
	MaxBatch           = 1024
	DefaultMaxDatagram = 4096 // room for NTS requests with cookies and placeholders; larger ones are dropped
	MinMaxDatagram     = 48   // an NTP header
	MaxMaxDatagram     = 65535
	DefaultReadBuffer  = 1 << 20 // SO_RCVBUF asked for; the kernel caps it at net.core.rmem_max
	DefaultFlushAfter  = 20 * time.Microsecond
	MaxSocketsPerAddr  = 256
)

// Config says where and how to listen.
type Config struct {
	// Addrs are host:port listen addresses with an IP literal host ("127.0.0.1:123", "[::1]:123",
	// "0.0.0.0:123", "[::]:123", "[fe80::1%eth0]:123"); an empty host (":123") means both wildcards.
	// Port 0 picks a free port; LocalAddrs tells which.
	Addrs []string
	// SocketsPerAddr is the number of SO_REUSEPORT sockets per address; 0 means runtime.NumCPU().
	// The portable fallback always uses one.
	SocketsPerAddr int
	// Batch is the most datagrams taken or sent per system call; 0 means DefaultBatch.
	Batch int
	// MaxDatagram is the largest request accepted; larger ones are dropped and counted. 0 means
	// DefaultMaxDatagram.
	MaxDatagram int
	// ReadBuffer is the SO_RCVBUF to ask for, in bytes; 0 means DefaultReadBuffer, -1 the kernel's default.
	ReadBuffer int
	// FlushAfter bounds how long a reply waits for the rest of its batch to be handled: once the replies
	// held back have waited this long, they are sent before the next datagram is handled (see "Batching"
	// in the package doc). 0 means DefaultFlushAfter; -1 sends each batch whole.
	FlushAfter time.Duration
}

// withDefaults validates the configuration and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if len(c.Addrs) == 0 {
		return c, errors.New("udp: no listen address")
	}
	if c.SocketsPerAddr == 0 {
		c.SocketsPerAddr = runtime.NumCPU()
	}
	if c.SocketsPerAddr < 1 || c.SocketsPerAddr > MaxSocketsPerAddr {
		return c, fmt.Errorf("udp: sockets per address %d out of range [1, %d]", c.SocketsPerAddr, MaxSocketsPerAddr)
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Batch < 1 || c.Batch > MaxBatch {
		return c, fmt.Errorf("udp: batch %d out of range [1, %d]", c.Batch, MaxBatch)
	}
	if c.MaxDatagram == 0 {
		c.MaxDatagram = DefaultMaxDatagram
	}
	if c.MaxDatagram < MinMaxDatagram || c.MaxDatagram > MaxMaxDatagram {
		return c, fmt.Errorf("udp: max datagram %d out of range [%d, %d]", c.MaxDatagram, MinMaxDatagram, MaxMaxDatagram)
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.ReadBuffer < -1 {
		return c, fmt.Errorf("udp: read buffer %d is negative", c.ReadBuffer)
	}
	if c.FlushAfter == 0 {
		c.FlushAfter = DefaultFlushAfter
	}
	if c.FlushAfter < -1 || c.FlushAfter > time.Second {
		return c, fmt.Errorf("udp: flush-after %v out of range [-1ns, 1s]", c.FlushAfter)
	}
	return c, nil
}

// Validate reports whether the configuration and every address in it are usable.
func (c Config) Validate() error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	_, err = parseAddrs(c.Addrs)
	return err
}

// listenSpec is one address to bind, after parsing and wildcard expansion.
type listenSpec struct {
	addr     netip.AddrPort // the address to bind; for zoned IPv6 the zone is kept in addr
	implicit bool           // one of the two wildcards an empty host expanded to: skip if the family is missing
}

func (l listenSpec) String() string { return l.addr.String() }

func (l listenSpec) wildcard() bool { return l.addr.Addr().IsUnspecified() }

// parseAddrs parses the listen addresses, expands an empty host and rejects duplicates.
func parseAddrs(addrs []string) ([]listenSpec, error) {
	var specs []listenSpec
	seen := make(map[netip.AddrPort]bool)
	add := func(raw string, s listenSpec) error {
		if seen[s.addr] && s.addr.Port() != 0 {
			return fmt.Errorf("listen udp %s: address given twice", raw)
		}
		seen[s.addr] = true
		specs = append(specs, s)
		return nil
	}
	for _, raw := range addrs {
		host, portStr, err := net.SplitHostPort(raw)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", raw, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: port %q is not a number in [0, 65535]", raw, portStr)
		}
		if host == "" {
			for _, a := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
				if err := add(raw, listenSpec{addr: netip.AddrPortFrom(a, uint16(port)), implicit: true}); err != nil {
					return nil, err
				}
			}
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: host %q is not an IP address", raw, host)
		}
		// A v4-mapped v6 literal would need a dual-stack socket, which we do not open (IPV6_V6ONLY).
		ip = ip.Unmap()
		if ip.Zone() != "" && !ip.Is6() {
			return nil, fmt.Errorf("listen udp %s: zone on an IPv4 address", raw)
		}
		if err := add(raw, listenSpec{addr: netip.AddrPortFrom(ip, uint16(port))}); err != nil {
			return nil, err
		}
	}
	return specs, nil
}

// Stats are the edge's counters, summed over all sockets. The handler counts NTP outcomes; these count
// what never reaches it or what the kernel refused.
type Stats struct {
	Received    uint64 // datagrams taken from the kernel, including those dropped below
	Replied     uint64 // replies the kernel accepted
	Batches     uint64 // receive calls that returned datagrams (Received/Batches is the mean batch)
	Truncated   uint64 // datagrams larger than MaxDatagram, dropped
	NoTimestamp uint64 // datagrams that came without a kernel receive timestamp
	BadReply    uint64 // replies dropped because the handler returned a length < 0 or > the request's
	SendErrors  uint64 // replies the kernel refused
	RecvErrors  uint64 // transient receive errors (ENOBUFS, ENOMEM, ...)
	Flushes     uint64 // replies sent before their batch was fully handled, because of FlushAfter
}

// counters are one socket's Stats, written by its goroutine once per batch and read by Stats.
type counters struct {
	received, replied, batches, truncated, noTimestamp, badReply, sendErrors, recvErrors, flushes atomic.Uint64
	_                                                                                             [64]byte // keep sockets' counters on separate cache lines
}

func (c *counters) addTo(s *Stats) {
	s.Received += c.received.Load()
	s.Replied += c.replied.Load()
	s.Batches += c.batches.Load()
	s.Truncated += c.truncated.Load()
	s.NoTimestamp += c.noTimestamp.Load()
	s.BadReply += c.badReply.Load()
	s.SendErrors += c.sendErrors.Load()
	s.RecvErrors += c.recvErrors.Load()
	s.Flushes += c.flushes.Load()
}

// endpoint is one socket and the loop that serves it; the platform files implement it.
type endpoint interface {
	// serve runs the receive loop until stop is called (then it returns nil) or a fatal error.
	serve() error
	// stop makes serve return promptly; idempotent, callable from any goroutine.
	stop()
	// close releases the socket; called once, after serve has returned or when serve never ran.
	close() error
	counters() *counters
}

// Server owns the sockets of all listen addresses.
type Server struct {
	eps   []endpoint
	local []netip.AddrPort

	mu       sync.Mutex
	state    int // stateIdle, stateServing, stateClosed
	stopOnce sync.Once
	stopping chan struct{}
	done     chan struct{} // closed when Serve has stopped its loops and released the sockets

	releaseOnce sync.Once
	releaseErr  error
}

const (
	stateIdle = iota
	stateServing
	stateClosed
)

// ErrServerClosed is returned by Serve on a server that was closed before Serve ran.
var ErrServerClosed = errors.New("udp: server closed")

// Listen opens and binds every socket of cfg, so that errors such as an address in use surface before
// serving. Requests go to h; receive timestamps are mapped with clock.
func Listen(cfg Config, h Handler, clock timebase.ServedClock) (*Server, error) {
	if h == nil || clock == nil {
		return nil, errors.New("udp: Listen needs a handler and a clock")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	specs, err := parseAddrs(cfg.Addrs)
	if err != nil {
		return nil, err
	}
	s := &Server{stopping: make(chan struct{}), done: make(chan struct{})}
	for _, spec := range specs {
		eps, local, err := openEndpoints(spec, cfg, h, clock)
		if err != nil {
			for _, ep := range s.eps {
				_ = ep.close()
			}
			return nil, err
		}
		if len(eps) == 0 { // an implicit wildcard of a family the host lacks
			continue
		}
		s.eps = append(s.eps, eps...)
		s.local = append(s.local, local)
	}
	return s, nil
}

// LocalAddrs returns the bound address of each listen address (after expansion of an empty host), with
// the actual port when the configured one was 0.
func (s *Server) LocalAddrs() []netip.AddrPort {
	return append([]netip.AddrPort(nil), s.local...)
}

// Serve answers requests until ctx is done or Close is called, then stops every socket loop, releases
// the sockets and returns nil; it returns the error if a socket fails fatally. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case stateServing:
		s.mu.Unlock()
		return errors.New("udp: Serve called twice")
	case stateClosed:
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.state = stateServing
	s.mu.Unlock()

	errc := make(chan error, len(s.eps))
	var wg sync.WaitGroup
	for _, ep := range s.eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- ep.serve()
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case <-s.stopping:
	case err = <-errc: // a loop returns nil only once stopped, so this is a fatal error or a stop
	}
	s.stop()
	wg.Wait()
	relErr := s.release()
	s.mu.Lock()
	s.state = stateClosed
	s.mu.Unlock()
	close(s.done)
	if err == nil {
		err = relErr
	}
	return err
}

// Close stops Serve, waits until its loops have returned and releases the sockets. It is safe to call
// more than once, concurrently with Serve, or without Serve.
func (s *Server) Close() error {
	s.mu.Lock()
	prev := s.state
	s.state = stateClosed
	s.mu.Unlock()
	s.stop()
	if prev == stateServing {
		<-s.done
	}
	return s.release()
}

// Stats returns the edge counters summed over all sockets.
func (s *Server) Stats() Stats {
	var st Stats
	for _, ep := range s.eps {
		ep.counters().addTo(&st)
	}
	return st
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		close(s.stopping)
		for _, ep := range s.eps {
			ep.stop()
		}
	})
}

func (s *Server) release() error {
	s.releaseOnce.Do(func() {
		var errs []error
		for _, ep := range s.eps {
			errs = append(errs, ep.close())
		}
		s.releaseErr = errors.Join(errs...)
	})
	return s.releaseErr
}
