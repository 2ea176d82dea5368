//go:build linux

package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Control message space per datagram. Received: SCM_TIMESTAMPNS (a struct timespec) and, on wildcard
// sockets, IP_PKTINFO or IPV6_PKTINFO:
//
//	+-------------------------------+----------+  +-------------------------------+-----------------+
//	| cmsghdr len|SOL_SOCKET|SCM_TS | timespec |  | cmsghdr len|SOL_IPV6|PKTINFO  | in6_pktinfo     |
//	+-------------------------------+----------+  +-------------------------------+-----------------+
//	 each part padded to sizeof(long)
//
// Sent (wildcard sockets only): one IP_PKTINFO or IPV6_PKTINFO naming the reply's source address.
var (
	sizeofTimespec = int(unsafe.Sizeof(unix.Timespec{}))
	rxControlSize  = alignUp(unix.CmsgSpace(sizeofTimespec)+unix.CmsgSpace(unix.SizeofInet6Pktinfo)+unix.CmsgSpace(16), 8)
	txControlSize  = alignUp(unix.CmsgSpace(unix.SizeofInet6Pktinfo), 8)
	cmsgHdrLen     = unix.CmsgLen(0) // header length, aligned: where the data begins
)

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// cmsgAlign rounds a control message length up as CMSG_ALIGN does: to sizeof(long) on Linux.
func cmsgAlign(n int) int { return alignUp(n, int(unsafe.Sizeof(uintptr(0)))) }

// linuxEndpoint is one socket with its preallocated batch buffers and the loop that serves it.
type linuxEndpoint struct {
	fd       int
	name     string // bound address, for error messages
	v6       bool
	wildcard bool
	h        Handler
	bh       BatchHandler // when h is a Preparer: the two-pass path (processPrepared)
	clock    timebase.ServedClock
	batch    int
	maxDgram int
	flush    time.Duration // Config.FlushAfter; negative: never before the batch's end

	stopped atomic.Bool
	ctr     counters
	lastN   int // entries of rmsgs the kernel wrote in the previous call, to reset

	rmsgs []unix.Mmsghdr
	smsgs []unix.Mmsghdr
	riov  []unix.Iovec
	siov  []unix.Iovec
	names []unix.RawSockaddrInet6 // client addresses; a RawSockaddrInet4 fits at the start
	rbuf  []byte                  // batch × maxDgram requests
	sbuf  []byte                  // batch × maxDgram replies
	rctl  []byte                  // batch × rxControlSize
	sctl  []byte                  // batch × txControlSize

	// The two-pass path's per-datagram state between its passes.
	prepared []bool
	meta     []rxMeta
}

// openEndpoints opens cfg.SocketsPerAddr sockets for spec. For an implicit wildcard of a family the
// host does not have, it returns no endpoints and no error.
func openEndpoints(spec listenSpec, cfg Config, h Handler, clock timebase.ServedClock) ([]endpoint, netip.AddrPort, error) {
	n := cfg.SocketsPerAddr
	reuse := n > 1
	port := spec.addr.Port()
	if reuse {
		// Exclusive probe: fails with EADDRINUSE if anyone holds the port (with or without SO_REUSEPORT),
		// and turns port 0 into one nobody holds, so our group is ours alone.
		fd, err := bindSocket(spec, port, false, cfg.ReadBuffer)
		if err != nil {
			if spec.implicit && errors.Is(err, unix.EAFNOSUPPORT) {
				return nil, netip.AddrPort{}, nil
			}
			return nil, netip.AddrPort{}, err
		}
		port, err = boundPort(fd)
		_ = unix.Close(fd)
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("listen udp %s: getsockname: %w", spec, err)
		}
	}
	var eps []endpoint
	fail := func(err error) ([]endpoint, netip.AddrPort, error) {
		for _, ep := range eps {
			_ = ep.close()
		}
		if !reuse && spec.implicit && errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, netip.AddrPort{}, nil
		}
		return nil, netip.AddrPort{}, err
	}
	for range n {
		fd, err := bindSocket(spec, port, reuse, cfg.ReadBuffer)
		if err != nil {
			return fail(err)
		}
		if port == 0 {
			if port, err = boundPort(fd); err != nil {
				_ = unix.Close(fd)
				return fail(fmt.Errorf("listen udp %s: getsockname: %w", spec, err))
			}
		}
		eps = append(eps, newLinuxEndpoint(fd, spec, port, cfg, h, clock))
	}
	return eps, netip.AddrPortFrom(spec.addr.Addr(), port), nil
}

// bindSocket creates a blocking UDP socket with our options and binds it to spec's address and port.
func bindSocket(spec listenSpec, port uint16, reuse bool, readBuffer int) (int, error) {
	v6 := spec.addr.Addr().Is6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("listen udp %s: socket: %w", spec, err)
	}
	opt := func(level, name int, value int, what string) error {
		if err := unix.SetsockoptInt(fd, level, name, value); err != nil {
			return fmt.Errorf("listen udp %s: setsockopt %s: %w", spec, what, err)
		}
		return nil
	}
	err = func() error {
		if v6 {
			if err := opt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"); err != nil {
				return err
			}
		}
		if reuse {
			if err := opt(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT"); err != nil {
				return err
			}
		}
		if err := opt(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS"); err != nil {
			return err
		}
		if spec.wildcard() {
			if v6 {
				if err := opt(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"); err != nil {
					return err
				}
			} else if err := opt(unix.IPPROTO_IP, unix.IP_PKTINFO, 1, "IP_PKTINFO"); err != nil {
				return err
			}
		}
		if readBuffer > 0 {
			if err := opt(unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer, "SO_RCVBUF"); err != nil {
				return err
			}
		}
		// Backstops only: shutdown(2) wakes a blocked receiver, and a UDP send blocks only briefly.
		tv := unix.Timeval{Sec: 1}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("listen udp %s: setsockopt SO_RCVTIMEO: %w", spec, err)
		}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			return fmt.Errorf("listen udp %s: setsockopt SO_SNDTIMEO: %w", spec, err)
		}
		sa, err := sockaddr(spec.addr.Addr(), port)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", spec, err)
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("listen udp %s: %w", spec, err)
		}
		return nil
	}()
	if err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sockaddr(ip netip.Addr, port uint16) (unix.Sockaddr, error) {
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		} else {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("zone %q: %w", z, err)
			}
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, nil
}

func boundPort(fd int) (uint16, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return uint16(sa.Port), nil
	case *unix.SockaddrInet6:
		return uint16(sa.Port), nil
	}
	return 0, fmt.Errorf("unexpected socket address %T", sa)
}

func newLinuxEndpoint(fd int, spec listenSpec, port uint16, cfg Config, h Handler, clock timebase.ServedClock) *linuxEndpoint {
	b, md := cfg.Batch, cfg.MaxDatagram
	e := &linuxEndpoint{
		fd:       fd,
		name:     netip.AddrPortFrom(spec.addr.Addr(), port).String(),
		v6:       spec.addr.Addr().Is6(),
		wildcard: spec.wildcard(),
		h:        h,
		clock:    clock,
		batch:    b,
		maxDgram: md,
		flush:    cfg.FlushAfter,
		rmsgs:    make([]unix.Mmsghdr, b),
		smsgs:    make([]unix.Mmsghdr, b),
		riov:     make([]unix.Iovec, b),
		siov:     make([]unix.Iovec, b),
		names:    make([]unix.RawSockaddrInet6, b),
		rbuf:     make([]byte, b*md),
		sbuf:     make([]byte, b*md),
		rctl:     make([]byte, b*rxControlSize),
		sctl:     make([]byte, b*txControlSize),
	}
	if p, ok := h.(Preparer); ok {
		e.bh = p.NewBatch(b)
		e.prepared = make([]bool, b)
		e.meta = make([]rxMeta, b)
	}
	for i := range b {
		e.riov[i].Base = &e.rbuf[i*md]
		e.riov[i].SetLen(md)
		hdr := &e.rmsgs[i].Hdr
		hdr.Name = (*byte)(unsafe.Pointer(&e.names[i]))
		hdr.Iov = &e.riov[i]
		hdr.SetIovlen(1)
		hdr.Control = &e.rctl[i*rxControlSize]
		e.smsgs[i].Hdr.Iov = &e.siov[i]
		e.smsgs[i].Hdr.SetIovlen(1)
	}
	e.lastN = b
	return e
}

func (e *linuxEndpoint) counters() *counters { return &e.ctr }

func (e *linuxEndpoint) stop() {
	e.stopped.Store(true)
	// On an unconnected UDP socket this returns ENOTCONN but still marks the socket shut for reading
	// and wakes its sleepers: a blocked recvmmsg returns, and every later one returns at once.
	_ = unix.Shutdown(e.fd, unix.SHUT_RD)
}

func (e *linuxEndpoint) close() error {
	if err := unix.Close(e.fd); err != nil {
		return fmt.Errorf("close udp %s: %w", e.name, err)
	}
	return nil
}

func (e *linuxEndpoint) serve() error {
	// One thread per socket: the thread sleeps in recvmmsg and wakes directly there.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for !e.stopped.Load() {
		n, err := e.recv()
		if e.stopped.Load() {
			return nil
		}
		if err != nil {
			switch err {
			case unix.EINTR, unix.EAGAIN: // EAGAIN: the SO_RCVTIMEO backstop expired
			case unix.ENOBUFS, unix.ENOMEM, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
				e.ctr.recvErrors.Add(1)
			default:
				return fmt.Errorf("recvmmsg on udp %s: %w", e.name, err)
			}
			continue
		}
		if e.bh != nil {
			e.processPrepared(n)
		} else {
			e.process(n)
		}
	}
	return nil
}

// recv blocks until at least one datagram is queued and takes up to batch of them.
func (e *linuxEndpoint) recv() (int, error) {
	// The kernel overwrote name and control lengths and flags of the entries it filled last time.
	for i := range e.lastN {
		hdr := &e.rmsgs[i].Hdr
		hdr.Namelen = unix.SizeofSockaddrInet6
		hdr.SetControllen(rxControlSize)
		hdr.Flags = 0
	}
	// First without waiting, as a raw system call: under load the queue is rarely empty, and a call that
	// cannot block need not tell the Go scheduler it entered the kernel (see "System calls and the Go
	// scheduler" in the package doc). Only an empty queue blocks, through the scheduler-aware path.
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.rmsgs[0])),
		uintptr(e.batch), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN {
		r, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.rmsgs[0])),
			uintptr(e.batch), unix.MSG_WAITFORONE, 0, 0)
	}
	if errno != 0 {
		e.lastN = e.batch // the kernel may have written the first entry before failing
		return 0, errno
	}
	e.lastN = int(r)
	return int(r), nil
}

// rxMeta is what the control messages of one datagram told.
type rxMeta struct {
	kernel  timebase.Instant
	hasTime bool
	hasDst  bool
	dst4    [4]byte // IPv4: the local address the kernel would answer from (ipi_spec_dst)
	dst6    [16]byte
	ifindex uint32
}

// parseControl walks the control messages without allocating (unix.ParseSocketControlMessage would).
func parseControl(b []byte, m *rxMeta) {
	hdrSize := int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(b) >= hdrSize {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < cmsgHdrLen || l > len(b) {
			return
		}
		data := b[cmsgHdrLen:l]
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= sizeofTimespec:
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			m.kernel = timebase.Instant(int64(ts.Sec)*1e9 + int64(ts.Nsec))
			m.hasTime = true
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			m.dst4 = pi.Spec_dst
			m.ifindex = uint32(pi.Ifindex)
			m.hasDst = true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			m.dst6 = pi.Addr
			m.ifindex = pi.Ifindex
			m.hasDst = true
		}
		next := cmsgAlign(l)
		if next >= len(b) {
			return
		}
		b = b[next:]
	}
}

// sourceAddr converts the kernel-filled client sockaddr; false if it is not of our family.
func (e *linuxEndpoint) sourceAddr(i int, namelen uint32) (netip.AddrPort, bool) {
	sa := &e.names[i]
	if e.v6 {
		if namelen < unix.SizeofSockaddrInet6 || sa.Family != unix.AF_INET6 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), ntohs(sa.Port)), true
	}
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	if namelen < unix.SizeofSockaddrInet4 || sa4.Family != unix.AF_INET {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port)), true
}

// ntohs reads a port the kernel stored in network byte order into a uint16 field.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// process hands the n received datagrams to the handler and sends the replies in one batch, or in several
// when handling them takes longer than e.flush.
func (e *linuxEndpoint) process(n int) {
	var st batchCounts
	var b replyBatch
	for i := range n {
		client, rx, meta, ok := e.datagram(i, &st)
		if !ok {
			continue
		}
		b.start(e, n)
		rn := e.h.Handle(e.resp(i), e.req(i), client, rx)
		e.queue(&b, i, rn, &meta, n, &st)
	}
	e.finishBatch(&b, n, &st)
}

// processPrepared is process for a Preparer: every datagram is prepared before any reply is finished.
func (e *linuxEndpoint) processPrepared(n int) {
	var st batchCounts
	var b replyBatch
	for i := range n {
		client, rx, meta, ok := e.datagram(i, &st)
		e.prepared[i] = ok
		if ok {
			e.meta[i] = meta
			e.bh.Prepare(i, e.req(i), client, rx)
		}
	}
	for i := range n {
		if !e.prepared[i] {
			continue
		}
		b.start(e, n)
		rn := e.bh.Finish(i, e.resp(i))
		e.queue(&b, i, rn, &e.meta[i], n, &st)
	}
	e.finishBatch(&b, n, &st)
}

// batchCounts are one batch's counters, added to the socket's once per batch.
type batchCounts struct {
	truncated, noTime, badReply, dropped, flushes uint64
}

// replyBatch is the replies of a batch not yet sent.
type replyBatch struct {
	k    int       // replies queued in smsgs
	held time.Time // when the handler started on the first of them (monotonic reading)
	next time.Time // the reading taken by start for the reply being handled
}

// start notes the time before a reply is handled, when it may become the first one held back.
func (b *replyBatch) start(e *linuxEndpoint, n int) {
	if b.k == 0 && e.flush > 0 && n > 1 {
		b.next = time.Now()
	}
}

func (e *linuxEndpoint) req(i int) []byte {
	return e.rbuf[i*e.maxDgram : i*e.maxDgram+int(e.rmsgs[i].Len)]
}

func (e *linuxEndpoint) resp(i int) []byte { return e.sbuf[i*e.maxDgram : (i+1)*e.maxDgram] }

// datagram checks received datagram i and reads its source and receive time; false: dropped (counted).
func (e *linuxEndpoint) datagram(i int, st *batchCounts) (netip.AddrPort, timebase.Instant, rxMeta, bool) {
	m := &e.rmsgs[i]
	var meta rxMeta
	if m.Hdr.Flags&unix.MSG_TRUNC != 0 || int(m.Len) > e.maxDgram {
		st.truncated++
		return netip.AddrPort{}, 0, meta, false
	}
	client, ok := e.sourceAddr(i, m.Hdr.Namelen)
	if !ok {
		st.dropped++
		return netip.AddrPort{}, 0, meta, false
	}
	cl := min(int(m.Hdr.Controllen), rxControlSize)
	parseControl(e.rctl[i*rxControlSize:i*rxControlSize+cl], &meta)
	if !meta.hasTime {
		st.noTime++
		return client, e.clock.Now(), meta, true
	}
	return client, e.clock.FromKernel(meta.kernel), meta, true
}

// queue adds the reply to datagram i (rn bytes, 0 for none) to the batch, and sends what is held back
// once it has waited e.flush and datagrams remain.
func (e *linuxEndpoint) queue(b *replyBatch, i, rn int, meta *rxMeta, n int, st *batchCounts) {
	if rn == 0 {
		return
	}
	if rn < 0 || rn > int(e.rmsgs[i].Len) {
		st.badReply++
		return
	}
	resp := e.resp(i)
	s := &e.smsgs[b.k].Hdr
	s.Name = (*byte)(unsafe.Pointer(&e.names[i]))
	s.Namelen = e.rmsgs[i].Hdr.Namelen
	e.siov[b.k].Base = &resp[0]
	e.siov[b.k].SetLen(rn)
	if e.wildcard && meta.hasDst {
		s.Control = &e.sctl[b.k*txControlSize]
		s.SetControllen(e.sourceControl(e.sctl[b.k*txControlSize:(b.k+1)*txControlSize], meta))
	} else {
		s.Control = nil
		s.SetControllen(0)
	}
	if b.k == 0 {
		b.held = b.next
	}
	b.k++
	if e.flush > 0 && i+1 < n && time.Since(b.held) >= e.flush {
		e.send(b.k)
		b.k = 0
		st.flushes++
	}
}

// finishBatch sends the rest of the batch and adds its counters to the socket's.
func (e *linuxEndpoint) finishBatch(b *replyBatch, n int, st *batchCounts) {
	e.ctr.received.Add(uint64(n))
	e.ctr.batches.Add(1)
	if st.truncated != 0 {
		e.ctr.truncated.Add(st.truncated)
	}
	if st.noTime != 0 {
		e.ctr.noTimestamp.Add(st.noTime)
	}
	if st.badReply != 0 {
		e.ctr.badReply.Add(st.badReply)
	}
	if st.dropped != 0 {
		e.ctr.recvErrors.Add(st.dropped)
	}
	if st.flushes != 0 {
		e.ctr.flushes.Add(st.flushes)
	}
	if b.k > 0 {
		e.send(b.k)
	}
}

// sourceControl writes the control message that makes the reply leave from the request's local address
// and returns its length.
func (e *linuxEndpoint) sourceControl(b []byte, m *rxMeta) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	data := b[cmsgHdrLen:]
	if !e.v6 {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		// spec_dst is the local unicast address even for a request sent to a broadcast address; leave
		// the interface to routing.
		*pi = unix.Inet4Pktinfo{Spec_dst: m.dst4}
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
	*pi = unix.Inet6Pktinfo{}
	switch dst := netip.AddrFrom16(m.dst6); {
	case dst.IsMulticast():
		// Never answer from a multicast address: let the kernel pick the source.
	case dst.IsLinkLocalUnicast():
		pi.Addr, pi.Ifindex = m.dst6, m.ifindex // a link-local source is only valid with its interface
	default:
		pi.Addr = m.dst6
	}
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// send hands k replies to the kernel, skipping any it refuses.
func (e *linuxEndpoint) send(k int) {
	var replied, failed uint64
	for off := 0; off < k; {
		// As in recv: a raw call that cannot block, and the blocking one only when the socket buffer is full.
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.smsgs[off])),
			uintptr(k-off), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN {
			r, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, uintptr(e.fd), uintptr(unsafe.Pointer(&e.smsgs[off])),
				uintptr(k-off), 0, 0, 0)
		}
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			// The first remaining reply failed (unreachable client, full buffer past SO_SNDTIMEO, a
			// firewall rule): drop it and go on with the rest.
			failed++
			off++
		case r == 0:
			failed += uint64(k - off)
			off = k
		default:
			replied += uint64(r)
			off += int(r)
		}
	}
	e.ctr.replied.Add(replied)
	if failed != 0 {
		e.ctr.sendErrors.Add(failed)
	}
}
