package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// ProbeInterval is the time between probe requests.
const ProbeInterval = 100 * time.Millisecond

// Probe sends one request every ProbeInterval to target until one is answered (a kiss-o'-death counts:
// the server is up) or timeout passes, and returns the first answer's response time and stratum. It is
// how scripts wait for a server to come up; the target must be on loopback.
func Probe(ctx context.Context, target netip.AddrPort, timeout time.Duration) (time.Duration, uint8, error) {
	if err := CheckLoopback(target.Addr()); err != nil {
		return 0, 0, err
	}
	if timeout <= 0 || timeout > MaxDuration {
		return 0, 0, fmt.Errorf("probe timeout %v out of range (0, %v]", timeout, MaxDuration)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return 0, 0, fmt.Errorf("dial %v: %w", target, err)
	}
	defer c.Close()
	end := time.Now().Add(timeout)
	req, buf := make([]byte, packetLen), make([]byte, replySlot)
	var last error
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		stamp := rand.Uint64()
		putRequest(req, stamp)
		sent := time.Now()
		if _, err := c.Write(req); err != nil {
			last = err
		}
		dl := sent.Add(ProbeInterval)
		if dl.After(end) {
			dl = end
		}
		_ = c.SetReadDeadline(dl)
		for {
			n, err := c.Read(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					last = err
				}
				break
			}
			if origin, kind := readReply(buf[:n]); kind != replyBad && origin == stamp {
				return time.Since(sent), buf[1], nil
			}
		}
		time.Sleep(time.Until(sent.Add(ProbeInterval)))
	}
	if last != nil {
		return 0, 0, fmt.Errorf("no answer from %v within %v (last error: %w)", target, timeout, last)
	}
	return 0, 0, fmt.Errorf("no answer from %v within %v", target, timeout)
}
