package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Limits and defaults. The caps keep a mistyped flag from becoming a long flood.
const (
	DefaultDuration    = 5 * time.Second
	MaxDuration        = 60 * time.Second
	DefaultMaxRequests = 50_000_000
	MaxMaxRequests     = 200_000_000
	MaxRate            = 10_000_000
	DefaultWindow      = 256
	MaxWindow          = 65536
	DefaultSockets     = 4
	MaxSockets         = 64
	DefaultBatch       = 64
	MaxBatch           = 1024
	DefaultDrain       = 200 * time.Millisecond
	MaxDrain           = 5 * time.Second

	// PaceQuantum is the open loop's pacing step: requests due are sent together at most this often, so
	// the generator does not spend a wake-up per request at high rates.
	PaceQuantum = 50 * time.Microsecond
	// StallTimeout is how long a full closed-loop window waits for a reply before presuming the
	// outstanding requests lost.
	StallTimeout = 50 * time.Millisecond
)

// Config describes one run.
type Config struct {
	Target      netip.AddrPort // must be on loopback
	Duration    time.Duration  // length of the send phase; 0 means DefaultDuration
	MaxRequests uint64         // stop sending after this many; 0 means DefaultMaxRequests
	Rate        float64        // open loop at this many requests/s; 0 means closed loop with Window
	Window      int            // closed loop: requests outstanding; 0 means DefaultWindow
	Sockets     int            // source sockets (ports); 0 means DefaultSockets
	Batch       int            // datagrams per sendmmsg/recvmmsg; 0 means DefaultBatch
	Drain       time.Duration  // after sending, wait this long for late replies; 0 means DefaultDrain
	NoGSO       bool           // send each request with its own sendmmsg entry even if UDP GSO is there
}

// CheckLoopback returns an error unless addr is in 127.0.0.0/8 or is ::1 (or a v4-mapped 127.0.0.0/8).
func CheckLoopback(addr netip.Addr) error {
	if !addr.Unmap().IsLoopback() {
		return fmt.Errorf("target %v is not a loopback address: ntpload only loads 127.0.0.0/8 and ::1", addr)
	}
	return nil
}

// ParseTarget parses host:port with an IP literal host (no name lookups: a name could resolve off the
// machine) and checks that it is on loopback with a non-zero port.
func ParseTarget(s string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: %w", s, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: host must be an IP address (127.0.0.1 or ::1)", s)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("target %q: port must be a number in [1, 65535]", s)
	}
	if err := CheckLoopback(ip); err != nil {
		return netip.AddrPort{}, err
	}
	if ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("target %q: no zone on a loopback address", s)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// withDefaults validates the configuration and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if !c.Target.IsValid() {
		return c, errors.New("loadgen: no target")
	}
	if err := CheckLoopback(c.Target.Addr()); err != nil {
		return c, err
	}
	if c.Target.Port() == 0 {
		return c, fmt.Errorf("target %v: port 0", c.Target)
	}
	c.Target = netip.AddrPortFrom(c.Target.Addr().Unmap(), c.Target.Port())
	def := func(v *int, d, max int, what string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 1 || *v > max {
			return fmt.Errorf("loadgen: %s %d out of range [1, %d]", what, *v, max)
		}
		return nil
	}
	if err := def(&c.Window, DefaultWindow, MaxWindow, "window"); err != nil {
		return c, err
	}
	if err := def(&c.Sockets, DefaultSockets, MaxSockets, "sockets"); err != nil {
		return c, err
	}
	if err := def(&c.Batch, DefaultBatch, MaxBatch, "batch"); err != nil {
		return c, err
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return c, fmt.Errorf("loadgen: duration %v out of range (0, %v]", c.Duration, MaxDuration)
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.MaxRequests > MaxMaxRequests {
		return c, fmt.Errorf("loadgen: max requests %d above the cap of %d", c.MaxRequests, MaxMaxRequests)
	}
	if c.Rate < 0 || c.Rate > MaxRate || c.Rate != c.Rate {
		return c, fmt.Errorf("loadgen: rate %v out of range [0, %d]", c.Rate, MaxRate)
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.Drain < 0 || c.Drain > MaxDrain {
		return c, fmt.Errorf("loadgen: drain %v out of range (0, %v]", c.Drain, MaxDrain)
	}
	return c, nil
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}
