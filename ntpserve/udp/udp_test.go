package udp

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"ok v4", Config{Addrs: []string{"127.0.0.1:123"}}, ""},
		{"ok v6 and wildcard", Config{Addrs: []string{"[::1]:123", "0.0.0.0:124"}}, ""},
		{"ok empty host", Config{Addrs: []string{":123"}}, ""},
		{"ok port 0 twice", Config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}, ""},
		{"no addrs", Config{}, "no listen address"},
		{"hostname", Config{Addrs: []string{"localhost:123"}}, `listen udp localhost:123: host "localhost" is not an IP address`},
		{"no port", Config{Addrs: []string{"127.0.0.1"}}, "listen udp 127.0.0.1: address 127.0.0.1: missing port"},
		{"bad port", Config{Addrs: []string{"127.0.0.1:70000"}}, `port "70000" is not a number`},
		{"named port", Config{Addrs: []string{"127.0.0.1:ntp"}}, `port "ntp" is not a number`},
		{"duplicate", Config{Addrs: []string{"127.0.0.1:123", "127.0.0.1:123"}}, "listen udp 127.0.0.1:123: address given twice"},
		{"duplicate via empty host", Config{Addrs: []string{":123", "0.0.0.0:123"}}, "listen udp 0.0.0.0:123: address given twice"},
		{"zone on v4", Config{Addrs: []string{"[127.0.0.1%lo]:123"}}, "not an IP address"},
		{"sockets", Config{Addrs: []string{"127.0.0.1:1"}, SocketsPerAddr: -1}, "sockets per address -1"},
		{"too many sockets", Config{Addrs: []string{"127.0.0.1:1"}, SocketsPerAddr: 1000}, "sockets per address 1000"},
		{"batch", Config{Addrs: []string{"127.0.0.1:1"}, Batch: 5000}, "batch 5000"},
		{"datagram small", Config{Addrs: []string{"127.0.0.1:1"}, MaxDatagram: 47}, "max datagram 47"},
		{"datagram large", Config{Addrs: []string{"127.0.0.1:1"}, MaxDatagram: 70000}, "max datagram 70000"},
		{"read buffer", Config{Addrs: []string{"127.0.0.1:1"}, ReadBuffer: -2}, "read buffer -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseAddrsExpandsEmptyHost(t *testing.T) {
	specs, err := parseAddrs([]string{":123", "[::ffff:127.0.0.1]:5", "[fe80::1%eth0]:7"})
	if err != nil {
		t.Fatal(err)
	}
	want := []listenSpec{
		{addr: netip.MustParseAddrPort("0.0.0.0:123"), implicit: true},
		{addr: netip.MustParseAddrPort("[::]:123"), implicit: true},
		{addr: netip.MustParseAddrPort("127.0.0.1:5")}, // v4-mapped is unmapped: we open no dual-stack sockets
		{addr: netip.MustParseAddrPort("[fe80::1%eth0]:7")},
	}
	if len(specs) != len(want) {
		t.Fatalf("got %v, want %v", specs, want)
	}
	for i := range want {
		if specs[i] != want[i] {
			t.Errorf("spec %d = %+v, want %+v", i, specs[i], want[i])
		}
	}
	if !specs[0].wildcard() || !specs[1].wildcard() || specs[2].wildcard() {
		t.Errorf("wildcard() wrong: %v %v %v", specs[0].wildcard(), specs[1].wildcard(), specs[2].wildcard())
	}
}

func TestListenNeedsHandlerAndClock(t *testing.T) {
	if _, err := Listen(Config{Addrs: []string{"127.0.0.1:0"}}, nil, nil); err == nil {
		t.Fatal("Listen with nil handler and clock succeeded")
	}
}
