package loadgen

import (
	"context"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseTargetLoopbackGuard(t *testing.T) {
	tests := []struct {
		in   string
		want string // the parsed target, or the error substring
		ok   bool
	}{
		{"127.0.0.1:123", "127.0.0.1:123", true},
		{"127.255.255.254:1", "127.255.255.254:1", true},
		{"[::1]:11123", "[::1]:11123", true},
		{"[::ffff:127.0.0.2]:5", "127.0.0.2:5", true},
		{"10.0.0.1:123", "target 10.0.0.1 is not a loopback address", false},
		{"192.0.2.1:123", "not a loopback address", false},
		{"[::2]:123", "not a loopback address", false},
		{"[::ffff:10.0.0.1]:123", "not a loopback address", false},
		{"0.0.0.0:123", "not a loopback address", false},
		{"[::]:123", "not a loopback address", false},
		{"255.255.255.255:123", "not a loopback address", false},
		{"224.0.1.1:123", "not a loopback address", false},
		{"localhost:123", "host must be an IP address", false},
		{"pool.ntp.org:123", "host must be an IP address", false},
		{"127.0.0.1:0", "port must be a number in [1, 65535]", false},
		{"127.0.0.1:ntp", "port must be a number", false},
		{"127.0.0.1", "missing port", false},
		{"[fe80::1%lo]:123", "not a loopback address", false},
		{"[::1%lo]:123", "no zone", false},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.ok {
			if err != nil || got.String() != tt.want {
				t.Errorf("ParseTarget(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTarget(%q) error = %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestRunRefusesNonLoopbackBeforeSending(t *testing.T) {
	for _, target := range []string{"192.0.2.1:123", "[2001:db8::1]:123", "0.0.0.0:123"} {
		_, err := Run(context.Background(), Config{Target: netip.MustParseAddrPort(target), Duration: time.Second})
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Run(%s) error = %v, want a loopback refusal", target, err)
		}
	}
	if _, _, err := Probe(context.Background(), netip.MustParseAddrPort("192.0.2.1:123"), time.Second); err == nil ||
		!strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("Probe error = %v, want a loopback refusal", err)
	}
}

func TestConfigBounds(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:123")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{Target: lo}, ""},
		{"no target", Config{}, "no target"},
		{"port 0", Config{Target: netip.MustParseAddrPort("127.0.0.1:0")}, "port 0"},
		{"duration cap", Config{Target: lo, Duration: 61 * time.Second}, "duration 1m1s out of range"},
		{"negative duration", Config{Target: lo, Duration: -time.Second}, "duration -1s"},
		{"request cap", Config{Target: lo, MaxRequests: MaxMaxRequests + 1}, "above the cap"},
		{"rate cap", Config{Target: lo, Rate: MaxRate + 1}, "rate"},
		{"negative rate", Config{Target: lo, Rate: -1}, "rate"},
		{"NaN rate", Config{Target: lo, Rate: math.NaN()}, "rate"},
		{"window", Config{Target: lo, Window: MaxWindow + 1}, "window 65537"},
		{"sockets", Config{Target: lo, Sockets: -1}, "sockets -1"},
		{"batch", Config{Target: lo, Batch: 5000}, "batch 5000"},
		{"drain", Config{Target: lo, Drain: time.Minute}, "drain 1m0s"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	c, err := Config{Target: lo}.withDefaults()
	if err != nil || c.Duration != DefaultDuration || c.MaxRequests != DefaultMaxRequests || c.Window != DefaultWindow ||
		c.Sockets != DefaultSockets || c.Batch != DefaultBatch || c.Drain != DefaultDrain {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
