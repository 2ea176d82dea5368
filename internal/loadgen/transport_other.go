//go:build !linux

package loadgen

import (
	"fmt"
	"net"
	"time"
)

// transport is the portable fallback: connected net.UDPConns, one datagram per call, receive times
// read after the read returns. Its figures are not comparable with the Linux transport's.
type transport struct {
	conns      []*net.UDPConn
	batch      int
	sbuf       []byte
	rbuf       []byte
	rlen       []int
	rtime      []int64
	pending    int // replies read by wait, handed out by the next recv
	sendErrors uint64
}

func openTransport(cfg Config) (*transport, error) {
	t := &transport{
		batch: cfg.Batch,
		sbuf:  make([]byte, cfg.Batch*packetLen),
		rbuf:  make([]byte, cfg.Batch*replySlot),
		rlen:  make([]int, cfg.Batch),
		rtime: make([]int64, cfg.Batch),
	}
	for i := range cfg.Batch {
		putRequest(t.sbuf[i*packetLen:], 0)
	}
	for range cfg.Sockets {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(cfg.Target))
		if err != nil {
			t.close()
			return nil, fmt.Errorf("dial %v: %w", cfg.Target, err)
		}
		t.conns = append(t.conns, c)
	}
	return t, nil
}

const replySlot = 256

func (t *transport) close() {
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
}

func (t *transport) request(i int) []byte { return t.sbuf[i*packetLen : (i+1)*packetLen] }

func (t *transport) send(sock, n int) int {
	for i := range n {
		if _, err := t.conns[sock].Write(t.request(i)); err != nil {
			t.sendErrors++
			return i
		}
	}
	return n
}

// recv reads what is queued on socket sock: a deadline in the past makes a read return at once when
// nothing is there.
func (t *transport) recv(sock int) int {
	n := t.pending
	t.pending = 0
	c := t.conns[sock]
	_ = c.SetReadDeadline(time.Unix(1, 0))
	for n < t.batch {
		if !t.read(c, n) {
			break
		}
		n++
	}
	return n
}

func (t *transport) read(c *net.UDPConn, i int) bool {
	l, err := c.Read(t.rbuf[i*replySlot : (i+1)*replySlot])
	if err != nil {
		return false
	}
	t.rlen[i], t.rtime[i] = l, time.Now().UnixNano()
	return true
}

func (t *transport) reply(i int) ([]byte, int64) {
	return t.rbuf[i*replySlot : i*replySlot+t.rlen[i]], t.rtime[i]
}

// wait blocks on the first socket only, for up to d; a reply it reads is kept for the next recv.
func (t *transport) wait(d time.Duration) {
	if t.pending > 0 {
		return
	}
	c := t.conns[0]
	_ = c.SetReadDeadline(time.Now().Add(d))
	if t.read(c, 0) { // a timeout or an error shows up as missing replies
		t.pending = 1
	}
}

func (t *transport) drops() uint64 { return 0 }

func preciseSleeps() func() { return func() {} }
