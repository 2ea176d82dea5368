//go:build !linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// batchConn without sendmmsg/recvmmsg: one datagram per system call.
type batchConn struct{ c *net.UDPConn }

func dialBatch(to netip.AddrPort) (*batchConn, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, fmt.Errorf("dial udp %v: %w", to, err)
	}
	return &batchConn{c: c}, nil
}

func (b *batchConn) close() { b.c.Close() }

func (b *batchConn) send(bufs [][]byte) error {
	for _, p := range bufs {
		if _, err := b.c.Write(p); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

func (b *batchConn) recv(bufs [][]byte, lens []int, deadline time.Time) (int, error) {
	if deadline.IsZero() {
		deadline = time.Now().Add(time.Microsecond)
	}
	b.c.SetReadDeadline(deadline)
	n, err := b.c.Read(bufs[0])
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, nil
		}
		return 0, fmt.Errorf("read: %w", err)
	}
	lens[0] = n
	return 1, nil
}

// cpuTime is not measured here: the output shows 0.
func cpuTime() time.Duration { return 0 }

// useGSO is the -gso flag; this fallback sends one datagram per system call, without GSO.
var useGSO = false
