//go:build linux

package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// offsetClock serves the host clock shifted by off, so a test can tell a mapped kernel timestamp from a
// raw one. It counts FromKernel calls to prove the kernel timestamp was used.
type offsetClock struct {
	off         timebase.Instant
	fromKernels atomic.Int64
}

func (c *offsetClock) Now() timebase.Instant { return timebase.FromTime(time.Now()) + c.off }

func (c *offsetClock) FromKernel(k timebase.Instant) timebase.Instant {
	c.fromKernels.Add(1)
	return k + c.off
}

const testOffset = 1000 * timebase.Second

type call struct {
	client  netip.AddrPort
	rx      timebase.Instant
	entered time.Time // host time when the handler ran
	n       int
	tid     int
}

// echoHandler answers with the request reversed (so a reply is visibly the handler's) and records calls.
// replyLen, if set, overrides the reply length to test the edge's checks.
type echoHandler struct {
	mu       sync.Mutex
	calls    []call
	replyLen func(reqLen int) int
	block    chan struct{} // if set, the first call waits on it
	entered  chan struct{} // if set, signalled when the first call begins
	first    sync.Once
	spin     time.Duration // if set, every call after the first busy-waits this long, as costly cryptography would
}

func (h *echoHandler) Handle(resp, req []byte, client netip.AddrPort, rx timebase.Instant) int {
	now := time.Now()
	h.first.Do(func() {
		if h.entered != nil {
			close(h.entered)
		}
		if h.block != nil {
			<-h.block
		}
	})
	if h.spin > 0 && len(h.snapshot()) > 0 {
		for time.Since(now) < h.spin {
		}
	}
	for i := range req {
		resp[i] = req[len(req)-1-i]
	}
	h.mu.Lock()
	h.calls = append(h.calls, call{client: client, rx: rx, entered: now, n: len(req), tid: unix.Gettid()})
	h.mu.Unlock()
	if h.replyLen != nil {
		return h.replyLen(len(req))
	}
	return len(req)
}

func (h *echoHandler) snapshot() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

// startServer listens and serves until the test ends; it fails the test if Serve returns an error or
// leaves goroutines behind.
func startServer(t *testing.T, cfg Config, h Handler, clock timebase.ServedClock) *Server {
	t.Helper()
	before := runtime.NumGoroutine()
	s, err := Listen(cfg, h, clock)
	if err != nil {
		t.Fatalf("Listen(%v): %v", cfg.Addrs, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-errc:
			// ErrServerClosed: the test ended before the Serve goroutine began.
			if err != nil && !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Close")
		}
		waitGoroutines(t, before)
	})
	return s
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settledStats returns the server's counters once they stop changing: a reply reaches the client inside
// the server's sendmmsg, before the server counts it.
func settledStats(s *Server, want func(Stats) bool) Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := s.Stats()
		if want(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func request(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[i] = b[len(b)-1-i]
	}
	return r
}

// exchange sends req from conn to dst and returns the reply and its source.
func exchange(t *testing.T, conn *net.UDPConn, dst netip.AddrPort, req []byte) ([]byte, netip.AddrPort) {
	t.Helper()
	if _, err := conn.WriteToUDPAddrPort(req, dst); err != nil {
		t.Fatalf("write to %v: %v", dst, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read reply from %v: %v", dst, err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// expectSilence fails if conn receives anything within d.
func expectSilence(t *testing.T, conn *net.UDPConn, d time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 2048)
	if n, from, err := conn.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("unexpected reply of %d bytes from %v", n, from)
	}
}

func listenClient(t *testing.T, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("cannot open client socket on %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testEcho(t *testing.T, listen, clientAddr, network string) {
	clock := &offsetClock{off: testOffset}
	h := &echoHandler{}
	s := startServer(t, Config{Addrs: []string{listen}, SocketsPerAddr: 2}, h, clock)
	local := s.LocalAddrs()
	if len(local) != 1 || local[0].Port() == 0 {
		t.Fatalf("LocalAddrs() = %v, want one address with a port", local)
	}
	c := listenClient(t, network, clientAddr)
	req := request(7, 48)
	before := time.Now()
	reply, from := exchange(t, c, local[0], req)
	after := time.Now()
	if string(reply) != string(reversed(req)) {
		t.Fatalf("reply = %x, want %x", reply, reversed(req))
	}
	if from != local[0] {
		t.Errorf("reply came from %v, want %v", from, local[0])
	}
	calls := h.snapshot()
	if len(calls) != 1 {
		t.Fatalf("handler called %d times, want 1", len(calls))
	}
	got := calls[0]
	if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); got.client != netip.AddrPortFrom(want.Addr().Unmap(), want.Port()) {
		t.Errorf("handler saw client %v, want %v", got.client, want)
	}
	// The kernel stamped the datagram between our send and the handler's run, on the host clock, and the
	// edge mapped it with FromKernel.
	kernel := (got.rx - testOffset).Time()
	if kernel.Before(before) || kernel.After(got.entered) || kernel.After(after) {
		t.Errorf("receive time %v not within [send %v, handler %v]", kernel, before, got.entered)
	}
	if clock.fromKernels.Load() != 1 {
		t.Errorf("FromKernel called %d times, want 1", clock.fromKernels.Load())
	}
	st := settledStats(s, func(st Stats) bool { return st.Replied >= 1 })
	if st.Received != 1 || st.Replied != 1 || st.NoTimestamp != 0 || st.Batches != 1 {
		t.Errorf("Stats() = %+v, want 1 received, 1 replied, 1 batch, no missing timestamp", st)
	}
}

func TestEchoIPv4(t *testing.T) { testEcho(t, "127.0.0.1:0", "127.0.0.1:0", "udp4") }

func TestEchoIPv6(t *testing.T) { testEcho(t, "[::1]:0", "[::1]:0", "udp6") }

func TestSeveralSocketsShareTheLoad(t *testing.T) {
	h := &echoHandler{}
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0", "[::1]:0"}, SocketsPerAddr: 4}, h, &offsetClock{})
	local := s.LocalAddrs()
	if len(local) != 2 {
		t.Fatalf("LocalAddrs() = %v, want 2", local)
	}
	// 32 clients (source ports): SO_REUSEPORT hashes them over the 4 sockets; all 32 landing on one
	// socket has probability 4^-31.
	const clients = 32
	for i := range clients {
		c := listenClient(t, "udp4", "127.0.0.1:0")
		req := request(byte(i), 60)
		if reply, _ := exchange(t, c, local[0], req); string(reply) != string(reversed(req)) {
			t.Fatalf("client %d: wrong reply", i)
		}
	}
	tids := map[int]bool{}
	for _, c := range h.snapshot() {
		tids[c.tid] = true
	}
	if len(tids) < 2 {
		t.Errorf("all %d clients were served by %d thread(s); want several sockets in use", clients, len(tids))
	}
	c6 := listenClient(t, "udp6", "[::1]:0")
	if reply, _ := exchange(t, c6, local[1], request(1, 48)); len(reply) != 48 {
		t.Errorf("IPv6 reply of %d bytes", len(reply))
	}
	if st := settledStats(s, func(st Stats) bool { return st.Replied >= clients+1 }); st.Received != clients+1 || st.Replied != clients+1 {
		t.Errorf("Stats() = %+v, want %d received and replied", st, clients+1)
	}
}

func TestShutdown(t *testing.T) {
	for _, n := range []int{1, 3} {
		for _, how := range []string{"close", "cancel"} {
			t.Run(fmt.Sprintf("%s/%d sockets", how, n), func(t *testing.T) {
				before := runtime.NumGoroutine()
				s, err := Listen(Config{Addrs: []string{"127.0.0.1:0", "[::1]:0"}, SocketsPerAddr: n}, &echoHandler{}, &offsetClock{})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errc := make(chan error, 1)
				go func() { errc <- s.Serve(ctx) }()
				// Let the loops block in recvmmsg, so the wake-up is what is tested.
				c := listenClient(t, "udp4", "127.0.0.1:0")
				exchange(t, c, s.LocalAddrs()[0], request(0, 48))
				time.Sleep(20 * time.Millisecond)
				start := time.Now()
				if how == "close" {
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
				} else {
					cancel()
				}
				select {
				case err := <-errc:
					if err != nil {
						t.Fatalf("Serve: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Serve did not return")
				}
				// shutdown(2) wakes the receivers at once; the 1 s SO_RCVTIMEO backstop must not be what ended it.
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("shutdown took %v", d)
				}
				if err := s.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
				waitGoroutines(t, before)
				// The sockets are released: the same addresses can be bound again, without SO_REUSEPORT.
				for _, a := range s.LocalAddrs() {
					c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
					if err != nil {
						t.Fatalf("address %v still held after shutdown: %v", a, err)
					}
					c.Close()
				}
				if err := s.Serve(context.Background()); !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
				}
			})
		}
	}
}

func TestCloseWithoutServe(t *testing.T) {
	s, err := Listen(Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 2}, &echoHandler{}, &offsetClock{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

func TestAddressInUse(t *testing.T) {
	holder, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	addr := holder.LocalAddr().(*net.UDPAddr).AddrPort().String()
	for _, n := range []int{1, 4} {
		_, err := Listen(Config{Addrs: []string{"[::1]:0", addr}, SocketsPerAddr: n}, &echoHandler{}, &offsetClock{})
		want := "listen udp " + addr + ": address already in use"
		if err == nil || err.Error() != want {
			t.Errorf("%d sockets: Listen error = %v, want %q", n, err, want)
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%d sockets: error does not wrap EADDRINUSE: %v", n, err)
		}
	}

	// A second instance of ourselves with SO_REUSEPORT must not join the first one's group.
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 2}, &echoHandler{}, &offsetClock{})
	taken := s.LocalAddrs()[0].String()
	_, err = Listen(Config{Addrs: []string{taken}, SocketsPerAddr: 2}, &echoHandler{}, &offsetClock{})
	if want := "listen udp " + taken + ": address already in use"; err == nil || err.Error() != want {
		t.Errorf("second server: Listen error = %v, want %q", err, want)
	}
}

func TestWildcardRepliesFromRequestedAddress(t *testing.T) {
	h := &echoHandler{}
	s, err := Listen(Config{Addrs: []string{"0.0.0.0:0", "[::]:0"}, SocketsPerAddr: 2}, h, &offsetClock{})
	if err != nil {
		t.Skipf("cannot bind wildcard addresses here: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	defer func() {
		s.Close()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	local := s.LocalAddrs()
	if len(local) != 2 || !local[0].Addr().IsUnspecified() || !local[1].Addr().Is6() {
		t.Fatalf("LocalAddrs() = %v", local)
	}
	port4 := local[0].Port()
	// The client's own address is 127.0.0.1; without IP_PKTINFO the kernel would answer a request sent
	// to 127.0.0.2 from 127.0.0.1 (the route's preferred source), which clients reject.
	c := listenClient(t, "udp4", "127.0.0.1:0")
	for _, dst := range []string{"127.0.0.2", "127.0.0.1", "127.1.2.3"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(dst), port4)
		req := request(3, 48)
		reply, from := exchange(t, c, to, req)
		if from != to {
			t.Errorf("request to %v answered from %v", to, from)
		}
		if string(reply) != string(reversed(req)) {
			t.Errorf("request to %v: wrong reply", to)
		}
	}
	c6 := listenClient(t, "udp6", "[::1]:0")
	to6 := netip.AddrPortFrom(netip.IPv6Loopback(), local[1].Port())
	if _, from := exchange(t, c6, to6, request(5, 48)); from != to6 {
		t.Errorf("request to %v answered from %v", to6, from)
	}
	for _, c := range h.snapshot() {
		if !c.client.Addr().IsLoopback() {
			t.Errorf("handler saw client %v", c.client)
		}
	}
}

func TestTruncatedAndBadRepliesAreDropped(t *testing.T) {
	h := &echoHandler{replyLen: func(n int) int {
		switch n {
		case 50:
			return n + 1 // longer than the request: must never be sent
		case 51:
			return -1
		case 52:
			return 0 // no reply
		}
		return n
	}}
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1, MaxDatagram: 64}, h, &offsetClock{})
	dst := s.LocalAddrs()[0]
	c := listenClient(t, "udp4", "127.0.0.1:0")
	for _, n := range []int{65, 1500, 50, 51, 52} {
		if _, err := c.WriteToUDPAddrPort(request(1, n), dst); err != nil {
			t.Fatal(err)
		}
	}
	expectSilence(t, c, 100*time.Millisecond)
	// A datagram of exactly MaxDatagram bytes fits, and so does an empty one's neighbour, 1 byte.
	for _, n := range []int{64, 1} {
		req := request(9, n)
		if reply, _ := exchange(t, c, dst, req); string(reply) != string(reversed(req)) {
			t.Errorf("%d-byte request: wrong reply", n)
		}
	}
	for _, call := range h.snapshot() {
		if call.n > 64 {
			t.Errorf("handler saw a %d-byte datagram, larger than MaxDatagram", call.n)
		}
	}
	st := settledStats(s, func(st Stats) bool { return st.Replied >= 2 })
	want := Stats{Received: 7, Replied: 2, Truncated: 2, BadReply: 2}
	st.Batches = 0
	if st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

// queueBehindFirst sends datagram 0, waits until the handler is busy with it (entered), sends datagrams
// 1 to queued, which queue in the socket meanwhile (loopback delivers within the send call), releases the
// handler (block) and reads the queued+1 replies in order, returning them.
func queueBehindFirst(t *testing.T, dst netip.AddrPort, entered <-chan struct{}, block chan struct{}, queued int) [][]byte {
	t.Helper()
	c := listenClient(t, "udp4", "127.0.0.1:0")
	send := func(i int) {
		if _, err := c.WriteToUDPAddrPort(request(byte(i), 48), dst); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	<-entered
	for i := 1; i <= queued; i++ {
		send(i)
	}
	close(block)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var replies [][]byte
	for i := 0; i <= queued; i++ {
		buf := make([]byte, 100)
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		replies = append(replies, buf[:n])
	}
	return replies
}

func TestBatchesFormUnderLoad(t *testing.T) {
	h := &echoHandler{block: make(chan struct{}), entered: make(chan struct{})}
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1, Batch: 8}, h, &offsetClock{})
	const queued = 20
	queueBehindFirst(t, s.LocalAddrs()[0], h.entered, h.block, queued)
	st := settledStats(s, func(st Stats) bool { return st.Replied >= queued+1 })
	// Datagram 0 alone (nothing else was queued: MSG_WAITFORONE does not wait), then 20 in batches of 8.
	if st.Received != queued+1 || st.Replied != queued+1 || st.Batches != 4 {
		t.Errorf("Stats() = %+v, want %d received and replied in 4 batches", st, queued+1)
	}
}

// A batch of slow requests (NTS-like handlers) is sent in parts once the held replies have waited
// FlushAfter, so that the first replies do not leave long after their transmit timestamps; with the bound
// off, the batch leaves whole.
func TestSlowBatchFlushesEarly(t *testing.T) {
	for _, c := range []struct {
		flush       time.Duration
		wantFlushes bool
	}{
		{50 * time.Microsecond, true},
		{-1, false},
	} {
		h := &echoHandler{block: make(chan struct{}), entered: make(chan struct{}), spin: 30 * time.Microsecond}
		s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1, Batch: 8, FlushAfter: c.flush}, h, &offsetClock{})
		const queued = 8
		queueBehindFirst(t, s.LocalAddrs()[0], h.entered, h.block, queued)
		st := settledStats(s, func(st Stats) bool { return st.Replied >= queued+1 })
		// 8 replies of 30 us each against a 50 us bound: sent after the 2nd, 4th and 6th, then the rest.
		if st.Replied != queued+1 || (st.Flushes > 0) != c.wantFlushes || (c.wantFlushes && st.Flushes > 7) {
			t.Errorf("flush %v: Stats() = %+v", c.flush, st)
		}
	}
	if err := (Config{Addrs: []string{"127.0.0.1:0"}, FlushAfter: -2}).Validate(); err == nil {
		t.Error("FlushAfter -2 accepted")
	}
}

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func timespecBytes(sec, nsec int64) []byte {
	ts := unix.NsecToTimespec(sec*1e9 + nsec)
	return unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))
}

func TestParseControl(t *testing.T) {
	pkt4 := unix.Inet4Pktinfo{Ifindex: 1, Spec_dst: [4]byte{127, 0, 0, 2}, Addr: [4]byte{127, 0, 0, 2}}
	pkt4b := unsafe.Slice((*byte)(unsafe.Pointer(&pkt4)), unix.SizeofInet4Pktinfo)
	pkt6 := unix.Inet6Pktinfo{Addr: netip.MustParseAddr("fe80::1").As16(), Ifindex: 3}
	pkt6b := unsafe.Slice((*byte)(unsafe.Pointer(&pkt6)), unix.SizeofInet6Pktinfo)
	ts := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(2085978496, 123456789)) // 2036-02-07T06:28:16Z
	at := timebase.Date(2036, 2, 7, 6, 28, 16, 123456789)
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	bad := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(1, 0))
	binary.NativeEndian.PutUint64(bad, 1000) // length beyond the buffer
	tests := []struct {
		name string
		b    []byte
		want rxMeta
	}{
		{"empty", nil, rxMeta{}},
		{"timestamp", ts, rxMeta{kernel: at, hasTime: true}},
		{"timestamp and v4 pktinfo", cat(ts, cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pkt4b)),
			rxMeta{kernel: at, hasTime: true, hasDst: true, dst4: [4]byte{127, 0, 0, 2}, ifindex: 1}},
		{"v6 pktinfo then timestamp", cat(cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pkt6b), ts),
			rxMeta{kernel: at, hasTime: true, hasDst: true, dst6: pkt6.Addr, ifindex: 3}},
		{"unknown message skipped", cat(cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, []byte{1, 0, 0, 0}), ts), rxMeta{kernel: at, hasTime: true}},
		{"short timestamp ignored", cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, []byte{1, 2, 3}), rxMeta{}},
		{"length beyond buffer", bad, rxMeta{}},
		{"truncated header", ts[:5], rxMeta{}},
		{"timestamp then garbage", cat(ts, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}), rxMeta{kernel: at, hasTime: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m rxMeta
			parseControl(tt.b, &m)
			if m != tt.want {
				t.Errorf("parseControl = %+v, want %+v", m, tt.want)
			}
		})
	}
}

func FuzzParseControl(f *testing.F) {
	f.Add([]byte{})
	f.Add(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(1700000000, 5)))
	f.Add(append(cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, 12)), cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, 20))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The kernel hands us an 8-aligned buffer; keep that, as the edge does.
		buf := make([]uint64, (len(b)+7)/8)
		ab := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(b)]
		copy(ab, b)
		var m rxMeta
		parseControl(ab, &m)
	})
}

func TestSourceControl(t *testing.T) {
	e4 := &linuxEndpoint{}
	b := make([]byte, txControlSize)
	n := e4.sourceControl(b, &rxMeta{dst4: [4]byte{10, 1, 2, 3}, ifindex: 7, hasDst: true})
	if n != unix.CmsgSpace(unix.SizeofInet4Pktinfo) {
		t.Fatalf("v4 control length %d", n)
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&b[cmsgHdrLen]))
	if h.Level != unix.IPPROTO_IP || h.Type != unix.IP_PKTINFO || pi.Spec_dst != [4]byte{10, 1, 2, 3} || pi.Ifindex != 0 {
		t.Errorf("v4 control = %+v %+v", *h, *pi)
	}
	e6 := &linuxEndpoint{v6: true}
	for _, tt := range []struct {
		dst     string
		addr    string
		ifindex uint32
	}{
		{"2001:db8::1", "2001:db8::1", 0},
		{"fe80::1", "fe80::1", 4},
		{"ff02::101", "::", 0},
	} {
		n := e6.sourceControl(b, &rxMeta{dst6: netip.MustParseAddr(tt.dst).As16(), ifindex: 4, hasDst: true})
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&b[cmsgHdrLen]))
		if n != unix.CmsgSpace(unix.SizeofInet6Pktinfo) || h.Type != unix.IPV6_PKTINFO ||
			netip.AddrFrom16(pi.Addr) != netip.MustParseAddr(tt.addr) || pi.Ifindex != tt.ifindex {
			t.Errorf("dst %s: control %+v, want source %s ifindex %d", tt.dst, *pi, tt.addr, tt.ifindex)
		}
	}
}

// rawClient is a connected blocking UDP socket used through plain read/write, which allocate nothing,
// so allocation counts measure the server.
type rawClient struct{ fd int }

func newRawClient(tb testing.TB, dst netip.AddrPort) *rawClient {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}); err != nil {
		tb.Fatal(err)
	}
	return &rawClient{fd: fd}
}

func (c *rawClient) roundTrip(req, buf []byte) error {
	if err := c.write(req); err != nil {
		return err
	}
	return c.read(buf)
}

// write and read retry when the runtime's preemption signal interrupts them (a socket with a timeout
// is not restarted by SA_RESTART).
func (c *rawClient) write(b []byte) error {
	for {
		_, err := unix.Write(c.fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

func (c *rawClient) read(b []byte) error {
	for {
		_, err := unix.Read(c.fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

// minimalHandler answers 48 bytes with a fixed pattern: the cheapest possible handler.
type minimalHandler struct{}

func (minimalHandler) Handle(resp, req []byte, _ netip.AddrPort, _ timebase.Instant) int {
	if len(req) < 48 {
		return 0
	}
	copy(resp[:48], req[:48])
	resp[0] = 0x24
	return 48
}

// timeClock is the host clock as served clock.
type timeClock struct{}

func (timeClock) Now() timebase.Instant                          { return timebase.FromTime(time.Now()) }
func (timeClock) FromKernel(k timebase.Instant) timebase.Instant { return k }

func TestServePathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1}, minimalHandler{}, timeClock{})
	c := newRawClient(t, s.LocalAddrs()[0])
	req, buf := make([]byte, 48), make([]byte, 64)
	var failed error
	// AllocsPerRun counts the whole process's allocations, so the server's goroutine is included.
	allocs := testing.AllocsPerRun(2000, func() {
		if err := c.roundTrip(req, buf); err != nil && failed == nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%.2f allocations per request, want 0", allocs)
	}
}

// BenchmarkRoundTrip measures one request at a time through the edge (client and server on loopback):
// latency, and allocations of the whole path (the client allocates nothing).
func BenchmarkRoundTrip(b *testing.B) {
	s, err := Listen(Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1}, minimalHandler{}, timeClock{})
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()
	c := newRawClient(b, s.LocalAddrs()[0])
	req, buf := make([]byte, 48), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.roundTrip(req, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined keeps a window of requests in flight, so the server batches: throughput of one
// server socket, with the client on the same machine.
func BenchmarkPipelined(b *testing.B) {
	s, err := Listen(Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1}, minimalHandler{}, timeClock{})
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()
	c := newRawClient(b, s.LocalAddrs()[0])
	req, buf := make([]byte, 48), make([]byte, 64)
	const window = 32
	b.ReportAllocs()
	sent, got := 0, 0
	for sent < b.N {
		for sent < b.N && sent-got < window {
			if err := c.write(req); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		if err := c.read(buf); err != nil {
			b.Fatalf("after %d of %d replies: %v", got, sent, err)
		}
		got++
	}
	for got < sent {
		if err := c.read(buf); err != nil {
			b.Fatalf("after %d of %d replies: %v", got, sent, err)
		}
		got++
	}
	if st := settledStats(s, func(st Stats) bool { return st.Replied >= uint64(b.N) }); st.Replied < uint64(b.N) {
		b.Fatalf("replied %d < %d", st.Replied, b.N)
	}
}

// prepHandler is a Preparer that logs the order of its calls; its first Prepare waits on block.
type prepHandler struct {
	echoHandler
	mu  sync.Mutex
	log []string
}

func (h *prepHandler) NewBatch(n int) BatchHandler { return &prepBatch{h: h, reqs: make([][]byte, n)} }

type prepBatch struct {
	h    *prepHandler
	reqs [][]byte
}

func (b *prepBatch) Prepare(i int, req []byte, client netip.AddrPort, rx timebase.Instant) {
	b.h.first.Do(func() {
		close(b.h.entered)
		<-b.h.block
	})
	b.reqs[i] = append(b.reqs[i][:0], req...)
	b.h.mu.Lock()
	b.h.log = append(b.h.log, fmt.Sprintf("P%d", i))
	b.h.mu.Unlock()
}

func (b *prepBatch) Finish(i int, resp []byte) int {
	req := b.reqs[i]
	for j := range req {
		resp[j] = req[len(req)-1-j]
	}
	b.h.mu.Lock()
	b.h.log = append(b.h.log, fmt.Sprintf("F%d", i))
	b.h.mu.Unlock()
	return len(req)
}

// A Preparer's batch is prepared whole before any reply is finished, and every reply still goes out.
func TestPreparerTwoPasses(t *testing.T) {
	h := &prepHandler{echoHandler: echoHandler{block: make(chan struct{}), entered: make(chan struct{})}}
	s := startServer(t, Config{Addrs: []string{"127.0.0.1:0"}, SocketsPerAddr: 1, Batch: 8, FlushAfter: -1}, h, &offsetClock{})
	const queued = 8
	for i, r := range queueBehindFirst(t, s.LocalAddrs()[0], h.entered, h.block, queued) {
		if len(r) != 48 || r[47] != byte(i) {
			t.Fatalf("reply %d: %d bytes %x", i, len(r), r)
		}
	}
	settledStats(s, func(st Stats) bool { return st.Replied >= queued+1 })
	h.mu.Lock()
	got := strings.Join(h.log, " ")
	h.mu.Unlock()
	want := "P0 F0 P0 P1 P2 P3 P4 P5 P6 P7 F0 F1 F2 F3 F4 F5 F6 F7"
	if got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}
	if len(h.snapshot()) != 0 {
		t.Error("Handle was called for a Preparer")
	}
}
