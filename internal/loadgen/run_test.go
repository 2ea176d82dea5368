package loadgen

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer answers on loopback the way an NTP server's header does: mode 4, the request's transmit
// timestamp as origin. mangle, if set, edits each reply.
type fakeServer struct {
	conn   *net.UDPConn
	mangle func(reply []byte)
	wg     sync.WaitGroup
}

func startFakeServer(t *testing.T, network, addr string, mangle func([]byte), silent bool) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	_ = c.SetReadBuffer(4 << 20)
	s := &fakeServer{conn: c, mangle: mangle}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf, out := make([]byte, 2048), make([]byte, 48)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if silent || n < 48 {
				continue
			}
			clear(out)
			out[0], out[1] = 0x24, 1
			copy(out[24:32], buf[40:48])
			if s.mangle != nil {
				s.mangle(out)
			}
			_, _ = c.WriteToUDPAddrPort(out, from)
		}
	}()
	t.Cleanup(func() { c.Close(); s.wg.Wait() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestRunClosedLoopAgainstEcho(t *testing.T) {
	for _, tt := range []struct {
		name, network, addr string
		noGSO               bool
	}{
		{"v4 gso", "udp4", "127.0.0.1:0", false},
		{"v4 sendmmsg", "udp4", "127.0.0.1:0", true},
		{"v6", "udp6", "[::1]:0", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := startFakeServer(t, tt.network, tt.addr, nil, false)
			r, err := Run(context.Background(), Config{Target: target, Duration: 10 * time.Second, MaxRequests: 3000,
				Window: 32, Sockets: 3, Batch: 16, NoGSO: tt.noGSO, Drain: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			// The request bound stops the run long before the duration; every request is answered.
			if r.Sent != 3000 || r.Answered != 3000 || r.LossPct != 0 || r.Bad != 0 || r.KoD != 0 || r.SendErrors != 0 {
				t.Errorf("result %+v", r)
			}
			if r.Seconds >= 10 || r.MinUs < 0 || r.P50Us < r.MinUs || r.P99Us < r.P50Us || r.MaxUs < r.P99Us || r.MaxUs <= 0 {
				t.Errorf("times %+v", r)
			}
		})
	}
}

func TestRunOpenLoopKeepsToItsRate(t *testing.T) {
	target := startFakeServer(t, "udp4", "127.0.0.1:0", nil, false)
	const rate = 2000
	r, err := Run(context.Background(), Config{Target: target, Duration: 300 * time.Millisecond, Rate: rate, Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Never ahead of the schedule: at most rate·t+1 requests by time t.
	if limit := uint64(rate*r.Seconds) + 1; r.Sent > limit || r.Sent == 0 {
		t.Errorf("sent %d in %.3f s at %d/s: limit %d", r.Sent, r.Seconds, rate, limit)
	}
	if r.Mode != "open" || r.Answered != r.Sent {
		t.Errorf("result %+v", r)
	}
}

func TestRunClassifiesReplies(t *testing.T) {
	kod := startFakeServer(t, "udp4", "127.0.0.1:0", func(b []byte) { b[1] = 0 }, false)
	r, err := Run(context.Background(), Config{Target: kod, Duration: 5 * time.Second, MaxRequests: 500, Window: 16})
	if err != nil {
		t.Fatal(err)
	}
	if r.KoD != 500 || r.Answered != 0 || r.LossPct != 0 {
		t.Errorf("kiss-o'-death server: %+v", r)
	}

	forged := startFakeServer(t, "udp4", "127.0.0.1:0", func(b []byte) { b[24] ^= 0x55 }, false)
	r, err = Run(context.Background(), Config{Target: forged, Duration: 200 * time.Millisecond, MaxRequests: 100, Window: 16, Drain: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bad != r.Sent || r.Answered != 0 || r.LossPct != 100 {
		t.Errorf("server with a wrong origin: %+v", r)
	}
}

func TestRunAgainstSilentTarget(t *testing.T) {
	target := startFakeServer(t, "udp4", "127.0.0.1:0", nil, true)
	r, err := Run(context.Background(), Config{Target: target, Duration: 4 * StallTimeout, Window: 8, Drain: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The window refills after each stall timeout, so more than one window goes out, but no flood.
	if r.Answered != 0 || r.LossPct != 100 || r.Sent <= 8 || r.Sent > 8*5 {
		t.Errorf("silent target: %+v", r)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	target := startFakeServer(t, "udp4", "127.0.0.1:0", nil, false)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	r, err := Run(ctx, Config{Target: target, Duration: 30 * time.Second, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seconds > 10 {
		t.Errorf("ran %.1f s after cancel", r.Seconds)
	}
}

func TestProbe(t *testing.T) {
	up := startFakeServer(t, "udp4", "127.0.0.1:0", nil, false)
	rtt, stratum, err := Probe(context.Background(), up, 2*time.Second)
	if err != nil || rtt <= 0 || stratum != 1 {
		t.Errorf("Probe(up) = %v, %d, %v", rtt, stratum, err)
	}
	down := startFakeServer(t, "udp4", "127.0.0.1:0", nil, true)
	_, _, err = Probe(context.Background(), down, 250*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no answer from "+down.String()+" within 250ms") {
		t.Errorf("Probe(silent) error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Probe(ctx, down, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Probe(cancelled) error = %v", err)
	}
}

// BenchmarkAccount is the per-reply work of the generator: decode, match, record.
func BenchmarkAccount(b *testing.B) {
	r := runner{key: 0x5555, startNs: 1000, lastStampNs: 1 << 62}
	rep := make([]byte, 48)
	rep[0], rep[1] = 0x24, 1
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		setStampAt(rep, uint64(1000+i)^r.key)
		r.account(rep, 50_000+i*3)
	}
	if r.c.answered == 0 {
		b.Fatal("nothing accounted")
	}
}

func setStampAt(reply []byte, v uint64) {
	for k := range 8 {
		reply[24+k] = byte(v >> (56 - 8*k))
	}
}
