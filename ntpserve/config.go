package ntpserve

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
)

// Defaults for Config fields left at zero (Rate excepted: a zero Rate turns rate limiting off).
const (
	DefaultRate        = 8.0              // requests/s per client; what gpsntpd's -ntp-rate defaults to
	DefaultBurst       = 16               // requests a client may send back to back
	DefaultIPv6Prefix  = 64               // IPv6 clients are limited per /64, the smallest subnet a host gets
	DefaultClients     = 1 << 16          // rate limiter slots: 3 MiB of state
	DefaultKoDInterval = 10 * time.Second // at most one RATE KoD per client per interval
)

// Limits on Config values. They keep the limiter's fixed-point arithmetic far from overflow and catch
// configurations that cannot be meant (a table of a billion clients, all of IPv6 as one client).
const (
	MinRate       = 1e-4 // one request every 10000 s
	MaxRate       = 1e6
	MaxBurst      = 1 << 16
	MinIPv6Prefix = 16
	MaxClients    = 1 << 22 // 192 MiB of limiter state
)

// Poll exponents that a reply may carry. A reply echoes the client's poll clamped to this range: MaxPoll is
// RFC 5905's MAXPOLL (36 h); MinPoll is the shortest interval current clients (chrony's minpoll -6)
// use on a LAN.
const (
	MinPoll int8 = -6
	MaxPoll int8 = 17
)

// Config is the server's policy. The zero value is valid: no rate limiting, no access rules.
type Config struct {
	// Rate is the sustained number of requests per second each client may send. 0 turns rate limiting off;
	// otherwise it must lie in [MinRate, MaxRate].
	Rate float64
	// Burst is how many requests a client may send back to back before Rate applies (the token bucket's
	// size). 0 means DefaultBurst; at most MaxBurst.
	Burst int
	// IPv6Prefix is the prefix length by which IPv6 clients are grouped for rate limiting: a host usually
	// owns a whole /64 and could otherwise rotate addresses within it to escape its limit. IPv4 clients are
	// limited per address. 0 means DefaultIPv6Prefix; otherwise in [MinIPv6Prefix, 128].
	IPv6Prefix int
	// Clients is the number of clients the rate limiter remembers: its memory is fixed at about 48 bytes per
	// slot, allocated once. It is rounded up to a power of two (and to at least 1024). 0 means
	// DefaultClients; at most MaxClients.
	Clients int
	// KoDInterval is the least time between two RATE Kiss-o'-Death replies to one client; requests over
	// the limit in between get no reply at all. 0 means DefaultKoDInterval.
	KoDInterval time.Duration

	// NTS, if not nil, authenticates NTS requests (RFC 8915) and completes their replies; it is shared with
	// the NTS-KE edge, which seals cookies with the same master keys. With NTS nil, requests carrying NTS
	// fields get no reply: an NTS request is never answered without authentication.
	NTS *nts.Processor

	// Allow and Deny are access rules by prefix, IPv4 or IPv6 (IPv4-mapped IPv6 prefixes of length >= 96
	// count as IPv4). The most specific matching prefix decides. A client no rule matches is allowed if
	// Allow is empty and denied otherwise: a non-empty Allow list names who may use the server. A prefix
	// may not appear in both lists.
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// DefaultConfig returns the configuration gpsntpd uses when no flags say otherwise: rate limiting on at
// DefaultRate and DefaultBurst, no access rules.
func DefaultConfig() Config {
	return Config{
		Rate:        DefaultRate,
		Burst:       DefaultBurst,
		IPv6Prefix:  DefaultIPv6Prefix,
		Clients:     DefaultClients,
		KoDInterval: DefaultKoDInterval,
	}
}

// Validate reports the first field that is out of range, naming it and its value.
func (c Config) Validate() error {
	if c.Rate != 0 && !(c.Rate >= MinRate && c.Rate <= MaxRate) { // also rejects NaN
		return fmt.Errorf("ntpserve: Config.Rate = %v: want 0 (off) or %v to %v requests/s", c.Rate, MinRate, MaxRate)
	}
	if c.Burst < 0 || c.Burst > MaxBurst {
		return fmt.Errorf("ntpserve: Config.Burst = %d: want 0 (default %d) or 1 to %d", c.Burst, DefaultBurst, MaxBurst)
	}
	if c.IPv6Prefix != 0 && (c.IPv6Prefix < MinIPv6Prefix || c.IPv6Prefix > 128) {
		return fmt.Errorf("ntpserve: Config.IPv6Prefix = %d: want 0 (default %d) or %d to 128", c.IPv6Prefix, DefaultIPv6Prefix, MinIPv6Prefix)
	}
	if c.Clients < 0 || c.Clients > MaxClients {
		return fmt.Errorf("ntpserve: Config.Clients = %d: want 0 (default %d) or 1 to %d", c.Clients, DefaultClients, MaxClients)
	}
	if c.KoDInterval < 0 {
		return fmt.Errorf("ntpserve: Config.KoDInterval = %v: want 0 (default %v) or more", c.KoDInterval, DefaultKoDInterval)
	}
	if _, err := newAccessRules(c.Allow, c.Deny); err != nil {
		return err
	}
	return nil
}

// withDefaults fills the fields whose zero value means "default".
func (c Config) withDefaults() Config {
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = DefaultIPv6Prefix
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.KoDInterval == 0 {
		c.KoDInterval = DefaultKoDInterval
	}
	return c
}

// ratePoll is the poll exponent a RATE KoD advertises: the smallest power of two seconds at least as long
// as the sustained request interval, so a client that honours it stays under the limit.
func ratePoll(rate float64) int8 {
	p := math.Ceil(math.Log2(1 / rate))
	return clampPoll(int8(max(math.MinInt8, min(math.MaxInt8, p))))
}

func clampPoll(p int8) int8 { return max(MinPoll, min(MaxPoll, p)) }
