//go:build linux

package loadgen

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Control messages per received reply: the kernel receive time and the socket's drop counter.
var (
	sizeofTimespec = int(unsafe.Sizeof(unix.Timespec{}))
	controlSize    = (unix.CmsgSpace(sizeofTimespec) + unix.CmsgSpace(4) + unix.CmsgSpace(16) + 7) &^ 7
	cmsgHdrLen     = unix.CmsgLen(0)
)

const (
	replySlot = 256 // bytes kept of each reply: the header is all we read
	// gsoSegments is the most datagrams per UDP GSO send; older kernels allow 64 (UDP_MAX_SEGMENTS).
	gsoSegments = 64
)

// transport is a set of connected non-blocking UDP sockets driven with sendmmsg and recvmmsg.
type transport struct {
	fds   []int
	batch int

	smsgs []unix.Mmsghdr
	siov  []unix.Iovec
	sbuf  []byte // batch requests back to back, so a GSO send can take a run of them as one buffer

	// With UDP GSO (UDP_SEGMENT) one message carries up to gsoSegments requests: the sending path,
	// loopback included, runs once for all of them and the receiving socket splits them.
	gso   bool
	gmsgs []unix.Mmsghdr
	giov  []unix.Iovec

	rmsgs []unix.Mmsghdr
	riov  []unix.Iovec
	rbuf  []byte
	rctl  []byte
	lastN int

	pfds       []unix.PollFd
	ovfl       []uint32 // per socket: the kernel's cumulative drop count, as last reported
	sendErrors uint64
	recvErrors uint64
}

func openTransport(cfg Config) (*transport, error) {
	b := cfg.Batch
	t := &transport{
		batch: b,
		smsgs: make([]unix.Mmsghdr, b),
		siov:  make([]unix.Iovec, b),
		sbuf:  make([]byte, b*packetLen),
		rmsgs: make([]unix.Mmsghdr, b),
		riov:  make([]unix.Iovec, b),
		rbuf:  make([]byte, b*replySlot),
		rctl:  make([]byte, b*controlSize),
		ovfl:  make([]uint32, cfg.Sockets),
		gso:   !cfg.NoGSO,
		gmsgs: make([]unix.Mmsghdr, (b+gsoSegments-1)/gsoSegments),
		giov:  make([]unix.Iovec, (b+gsoSegments-1)/gsoSegments),
	}
	for i := range t.gmsgs {
		t.gmsgs[i].Hdr.Iov = &t.giov[i]
		t.gmsgs[i].Hdr.SetIovlen(1)
	}
	for i := range b {
		putRequest(t.sbuf[i*packetLen:], 0)
		t.siov[i].Base = &t.sbuf[i*packetLen]
		t.siov[i].SetLen(packetLen)
		t.smsgs[i].Hdr.Iov = &t.siov[i]
		t.smsgs[i].Hdr.SetIovlen(1)
		t.riov[i].Base = &t.rbuf[i*replySlot]
		t.riov[i].SetLen(replySlot)
		t.rmsgs[i].Hdr.Iov = &t.riov[i]
		t.rmsgs[i].Hdr.SetIovlen(1)
		t.rmsgs[i].Hdr.Control = &t.rctl[i*controlSize]
	}
	t.lastN = b
	for range cfg.Sockets {
		fd, err := dial(cfg)
		if err != nil {
			t.close()
			return nil, err
		}
		// Every socket or none: a kernel without UDP_SEGMENT refuses it (ENOPROTOOPT).
		if t.gso && unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, packetLen) != nil {
			t.gso = false
		}
		t.fds = append(t.fds, fd)
		t.pfds = append(t.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	return t, nil
}

// dial opens one connected socket: the kernel then filters replies by source and needs no address
// per datagram.
func dial(cfg Config) (int, error) {
	family, ip, port := unix.AF_INET, cfg.Target.Addr(), int(cfg.Target.Port())
	var sa unix.Sockaddr
	if ip.Is4() {
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("socket for %v: %w", cfg.Target, err)
	}
	for _, o := range []struct {
		level, name, value int
		what               string
	}{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS"},
		{unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1, "SO_RXQ_OVFL"},
		{unix.SOL_SOCKET, unix.SO_RCVBUF, 4 << 20, "SO_RCVBUF"}, // capped by net.core.rmem_max
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt %s: %w", o.what, err)
		}
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect to %v: %w", cfg.Target, err)
	}
	return fd, nil
}

func (t *transport) close() {
	for _, fd := range t.fds {
		unix.Close(fd)
	}
	t.fds = nil
}

// request returns send slot i, a 48-byte request.
func (t *transport) request(i int) []byte { return t.sbuf[i*packetLen : (i+1)*packetLen] }

// send sends slots [0, n) from socket sock and returns how many the kernel took; a full socket buffer
// stops it early, an error (e.g. the ICMP "port unreachable" of an earlier datagram) is counted.
func (t *transport) send(sock, n int) int {
	if t.gso {
		return t.sendGSO(sock, n)
	}
	sent := 0
	for sent < n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fds[sock]),
			uintptr(unsafe.Pointer(&t.smsgs[sent])), uintptr(n-sent), 0, 0, 0)
		switch errno {
		case 0:
			if r == 0 {
				return sent
			}
			sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return sent
		default:
			t.sendErrors++
			return sent
		}
	}
	return sent
}

// sendGSO sends slots [0, n) as runs of up to gsoSegments requests, one message per run.
func (t *transport) sendGSO(sock, n int) int {
	k := 0
	for off := 0; off < n; off += gsoSegments {
		t.giov[k].Base = &t.sbuf[off*packetLen]
		t.giov[k].SetLen(min(gsoSegments, n-off) * packetLen)
		k++
	}
	done := 0 // messages sent
	for done < k {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fds[sock]),
			uintptr(unsafe.Pointer(&t.gmsgs[done])), uintptr(k-done), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 && errno != unix.EAGAIN {
			t.sendErrors++
		}
		if errno != 0 || r == 0 {
			break
		}
		done += int(r)
	}
	return min(done*gsoSegments, n)
}

// recv takes up to batch replies queued on socket sock without waiting and returns how many.
func (t *transport) recv(sock int) int {
	for i := range t.lastN {
		h := &t.rmsgs[i].Hdr
		h.SetControllen(controlSize)
		h.Flags = 0
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(t.fds[sock]),
			uintptr(unsafe.Pointer(&t.rmsgs[0])), uintptr(t.batch), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			t.lastN = int(r)
			if r > 0 {
				// The drop counter comes with every datagram; the last one's is the newest.
				if d, ok := t.control(int(r) - 1).drops(); ok {
					t.ovfl[sock] = d
				}
			}
			return int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			t.recvErrors++ // ECONNREFUSED: no server (yet) at the target
		}
		t.lastN = t.batch // the kernel may have written the first entry before failing
		return 0
	}
}

// reply returns received datagram i and its kernel receive time in wall-clock nanoseconds (the time
// of reading, if the kernel gave none).
func (t *transport) reply(i int) ([]byte, int64) {
	m := &t.rmsgs[i]
	n := min(int(m.Len), replySlot)
	b := t.rbuf[i*replySlot : i*replySlot+n]
	if ts, ok := t.control(i).timestamp(); ok {
		return b, ts
	}
	return b, time.Now().UnixNano()
}

type control []byte

func (t *transport) control(i int) control {
	l := min(int(t.rmsgs[i].Hdr.Controllen), controlSize)
	return control(t.rctl[i*controlSize : i*controlSize+l])
}

// find returns the data of the first control message of the given type.
func (c control) find(level, typ int32) []byte {
	b := []byte(c)
	hdr := int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(b) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < cmsgHdrLen || l > len(b) {
			return nil
		}
		if h.Level == level && h.Type == typ {
			return b[cmsgHdrLen:l]
		}
		next := (l + int(unsafe.Sizeof(uintptr(0))) - 1) &^ (int(unsafe.Sizeof(uintptr(0))) - 1)
		if next >= len(b) {
			return nil
		}
		b = b[next:]
	}
	return nil
}

func (c control) timestamp() (int64, bool) {
	d := c.find(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS)
	if len(d) < sizeofTimespec {
		return 0, false
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&d[0]))
	return int64(ts.Sec)*1e9 + int64(ts.Nsec), true
}

func (c control) drops() (uint32, bool) {
	d := c.find(unix.SOL_SOCKET, unix.SO_RXQ_OVFL)
	if len(d) < 4 {
		return 0, false
	}
	return *(*uint32)(unsafe.Pointer(&d[0])), true
}

// drops returns how many replies the generator's sockets dropped for want of buffer space.
func (t *transport) drops() uint64 {
	var s uint64
	for _, d := range t.ovfl {
		s += uint64(d)
	}
	return s
}

// wait sleeps until a reply is queued on any socket, or for d.
func (t *transport) wait(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_, _ = unix.Ppoll(t.pfds, &ts, nil)
}

// preciseSleeps sets the calling thread's timer slack to 1 µs (from the default 50 µs), so open-loop
// pacing wakes on time, and returns a function that restores it.
func preciseSleeps() func() {
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return func() {}
	}
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) }
}
