//go:build !linux

package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// portableEndpoint serves one net.UDPConn, one datagram at a time. No kernel receive timestamps (the
// receive time is read after the read returns, which overstates the server's processing time), no
// batching and no control of the source address on wildcard binds.
type portableEndpoint struct {
	conn     *net.UDPConn
	name     string
	h        Handler
	clock    timebase.ServedClock
	maxDgram int
	buf      []byte // maxDgram+1: a datagram that fills it was truncated
	resp     []byte

	stopped atomic.Bool
	ctr     counters
}

// maxConsecutiveErrors ends the loop if the socket keeps failing, rather than spinning on it.
const maxConsecutiveErrors = 10000

func openEndpoints(spec listenSpec, cfg Config, h Handler, clock timebase.ServedClock) ([]endpoint, netip.AddrPort, error) {
	network := "udp4"
	if spec.addr.Addr().Is6() {
		network = "udp6" // the net package sets IPV6_V6ONLY for "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(spec.addr))
	if err != nil {
		if spec.implicit && (errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
			return nil, netip.AddrPort{}, nil
		}
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err // "listen udp ADDR: address already in use", as on Linux
		}
		return nil, netip.AddrPort{}, fmt.Errorf("listen udp %s: %w", spec, err)
	}
	if cfg.ReadBuffer > 0 {
		_ = conn.SetReadBuffer(cfg.ReadBuffer) // best effort: systems cap it differently
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(spec.addr.Addr(), local.Port())
	ep := &portableEndpoint{
		conn:     conn,
		name:     local.String(),
		h:        h,
		clock:    clock,
		maxDgram: cfg.MaxDatagram,
		buf:      make([]byte, cfg.MaxDatagram+1),
		resp:     make([]byte, cfg.MaxDatagram),
	}
	return []endpoint{ep}, local, nil
}

func (e *portableEndpoint) counters() *counters { return &e.ctr }

func (e *portableEndpoint) stop() {
	e.stopped.Store(true)
	_ = e.conn.Close() // wakes the blocked read
}

func (e *portableEndpoint) close() error {
	if err := e.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close udp %s: %w", e.name, err)
	}
	return nil
}

func (e *portableEndpoint) serve() error {
	errs := 0
	for !e.stopped.Load() {
		n, client, err := e.conn.ReadFromUDPAddrPort(e.buf)
		if e.stopped.Load() {
			return nil
		}
		if err != nil {
			// Some systems report an earlier send's ICMP error on the next read (Windows: WSAECONNRESET).
			e.ctr.recvErrors.Add(1)
			if errs++; errs > maxConsecutiveErrors {
				return fmt.Errorf("read udp %s: %w", e.name, err)
			}
			continue
		}
		errs = 0
		rx := e.clock.Now()
		e.ctr.received.Add(1)
		e.ctr.batches.Add(1)
		e.ctr.noTimestamp.Add(1)
		if n > e.maxDgram {
			e.ctr.truncated.Add(1)
			continue
		}
		req := e.buf[:n]
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		rn := e.h.Handle(e.resp, req, client, rx)
		if rn == 0 {
			continue
		}
		if rn < 0 || rn > n {
			e.ctr.badReply.Add(1)
			continue
		}
		if _, err := e.conn.WriteToUDPAddrPort(e.resp[:rn], client); err != nil {
			e.ctr.sendErrors.Add(1)
			continue
		}
		e.ctr.replied.Add(1)
	}
	return nil
}
