//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchConn is a connected UDP socket driven with sendmmsg and recvmmsg through the runtime's poller:
// one system call moves a whole batch, and waiting for replies parks the goroutine instead of a thread.
type batchConn struct {
	c    *net.UDPConn
	rc   syscall.RawConn
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
}

func dialBatch(to netip.AddrPort) (*batchConn, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, fmt.Errorf("dial udp %v: %w", to, err)
	}
	// Room for a full window of replies from every worker without drops in the socket.
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("SyscallConn: %w", err)
	}
	return &batchConn{c: c, rc: rc, msgs: make([]unix.Mmsghdr, maxBatch), iovs: make([]unix.Iovec, maxBatch)}, nil
}

func (b *batchConn) close() { b.c.Close() }

func (b *batchConn) prepare(bufs [][]byte) {
	for i, p := range bufs {
		b.iovs[i] = unix.Iovec{Base: &p[0]}
		b.iovs[i].SetLen(len(p))
		b.msgs[i] = unix.Mmsghdr{}
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
	}
}

// send sends every buffer, in as few sendmmsg calls as the kernel allows.
func (b *batchConn) send(bufs [][]byte) error {
	for len(bufs) > 0 {
		b.prepare(bufs)
		var n int
		var errno syscall.Errno
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(bufs)), unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN {
				return false
			}
			n, errno = int(r), e
			return true
		})
		if err != nil {
			return fmt.Errorf("sendmmsg: %w", err)
		}
		if errno == unix.ECONNREFUSED {
			continue // an ICMP error from an earlier datagram: the server was not there yet or restarted
		}
		if errno != 0 {
			return fmt.Errorf("sendmmsg: %w", errno)
		}
		bufs = bufs[n:]
	}
	return nil
}

// recv reads up to len(bufs) datagrams. With a zero deadline it returns at once when none is queued;
// otherwise it waits until one arrives or the deadline passes (then it returns 0 and no error).
func (b *batchConn) recv(bufs [][]byte, lens []int, deadline time.Time) (int, error) {
	b.prepare(bufs)
	var n int
	var errno syscall.Errno
	block := !deadline.IsZero()
	if block {
		b.c.SetReadDeadline(deadline)
	}
	err := b.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(bufs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN && block {
			return false
		}
		n, errno = int(r), e
		return true
	})
	if errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ETIMEDOUT) {
		return 0, err
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, nil
		}
		return 0, fmt.Errorf("recvmmsg: %w", err)
	}
	switch errno {
	case 0:
	case unix.EAGAIN, unix.ECONNREFUSED:
		return 0, nil
	default:
		return 0, fmt.Errorf("recvmmsg: %w", errno)
	}
	for i := range n {
		lens[i] = int(b.msgs[i].Len)
	}
	return n, nil
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
