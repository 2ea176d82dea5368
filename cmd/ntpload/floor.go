package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/gpsntp/gpsntp/internal/loadgen"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/udp"
)

// The floor server answers NTP through gpsntpd's own socket edge (ntpserve/udp: one socket, recvmmsg and
// sendmmsg in batches, kernel receive timestamps) with the least work a reply needs: the header echoed
// with mode 4, stratum 1, the origin copied and the clock read once. No daemon, no policy, no rate limit.
// Measured in the same run as chronyd and gpsntpd (scripts/bench.sh), it shows what the kernel's UDP path
// on this machine leaves for any server built on sockets: gpsntpd can be no faster than it.

// maxFloorLife bounds how long the floor server runs.
const maxFloorLife = 10 * time.Minute

func serveFloor(addr string, life time.Duration) error {
	ap, err := loadgen.ParseTarget(addr)
	if err != nil {
		return fmt.Errorf("-floor-server: %w", err)
	}
	if life <= 0 || life > maxFloorLife {
		return fmt.Errorf("-floor-life %v: use (0, %v]", life, maxFloorLife)
	}
	srv, err := udp.Listen(udp.Config{Addrs: []string{ap.String()}, SocketsPerAddr: 1}, floorHandler{}, wallClock{})
	if err != nil {
		return fmt.Errorf("-floor-server %v: %w", ap, err)
	}
	fmt.Fprintf(os.Stderr, "ntpload: floor server on %v for %v\n", srv.LocalAddrs()[0], life)
	ctx, cancel := context.WithTimeout(context.Background(), life)
	defer cancel()
	if err := srv.Serve(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

type floorHandler struct{}

func (floorHandler) Handle(resp, req []byte, _ netip.AddrPort, rx timebase.Instant) int {
	if len(req) < 48 || req[0]&7 != 3 {
		return 0
	}
	resp[0] = req[0]&0x38 | 4 // LI 0, the request's version, mode 4
	resp[1], resp[2], resp[3] = 1, req[2], 0xec
	clear(resp[4:12])
	copy(resp[12:16], "GPS\x00")
	copy(resp[24:32], req[40:48])
	binary.BigEndian.PutUint64(resp[16:24], uint64(rx.NTP()))
	binary.BigEndian.PutUint64(resp[32:40], uint64(rx.NTP()))
	binary.BigEndian.PutUint64(resp[40:48], uint64(timebase.FromTime(time.Now()).NTP()))
	return 48
}

// wallClock is the host's clock, which the floor server only reads.
type wallClock struct{}

func (wallClock) Now() timebase.Instant                          { return timebase.FromTime(time.Now()) }
func (wallClock) FromKernel(k timebase.Instant) timebase.Instant { return k }
