package ntpserve

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

func prefixes(s string) []netip.Prefix {
	var ps []netip.Prefix
	for _, f := range strings.Fields(s) {
		ps = append(ps, netip.MustParsePrefix(f))
	}
	return ps
}

func TestAccessRules(t *testing.T) {
	for _, tt := range []struct {
		name        string
		allow, deny string
		allowed     string // addresses that get a reply
		denied      string // addresses that get none
	}{
		{
			name:    "no rules: everyone",
			allowed: "192.0.2.1 10.0.0.1 2001:db8::1 ::1 127.0.0.1",
		},
		{
			name:    "deny only: everyone else",
			deny:    "10.0.0.0/8 2001:db8:bad::/48",
			allowed: "192.0.2.1 11.0.0.1 2001:db8::1",
			denied:  "10.0.0.1 10.255.255.255 2001:db8:bad:1::1",
		},
		{
			name:    "allow only: nobody else, not even the other family",
			allow:   "192.168.0.0/16",
			allowed: "192.168.0.1 192.168.255.254",
			denied:  "192.169.0.1 10.0.0.1 2001:db8::1 ::ffff:10.0.0.1",
		},
		{
			name:    "a deny inside an allow",
			allow:   "10.0.0.0/8",
			deny:    "10.1.0.0/16",
			allowed: "10.0.0.1 10.2.3.4",
			denied:  "10.1.0.1 10.1.255.255 172.16.0.1",
		},
		{
			name:    "an allow inside a deny inside an allow",
			allow:   "10.0.0.0/8 10.1.2.0/24",
			deny:    "10.1.0.0/16",
			allowed: "10.0.0.1 10.1.2.3",
			denied:  "10.1.3.1",
		},
		{
			name:    "host rule beats everything",
			allow:   "0.0.0.0/0 ::/0",
			deny:    "192.0.2.7/32 2001:db8::7/128",
			allowed: "192.0.2.6 192.0.2.8 2001:db8::6",
			denied:  "192.0.2.7 2001:db8::7",
		},
		{
			name:    "deny all but one host",
			allow:   "192.0.2.7/32",
			deny:    "0.0.0.0/0",
			allowed: "192.0.2.7",
			denied:  "192.0.2.8 2001:db8::1",
		},
		{
			name:    "IPv4-mapped rules and clients are IPv4",
			allow:   "::ffff:192.168.0.0/112",
			allowed: "192.168.1.1 ::ffff:192.168.1.2",
			denied:  "10.0.0.1 ::ffff:10.0.0.1",
		},
		{
			name:    "unmasked prefixes are masked",
			deny:    "10.1.2.3/16",
			allowed: "10.2.0.1",
			denied:  "10.1.99.99",
		},
		{
			name:    "IPv6 allow with zones on clients",
			allow:   "fe80::/10 2001:db8::/32",
			allowed: "fe80::1%eth0 2001:db8:1::1",
			denied:  "2001:db9::1 192.0.2.1",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := mustServer(t, Config{Allow: prefixes(tt.allow), Deny: prefixes(tt.deny)}, newFakeClock(t0))
			req := request(4, wire.ModeClient, 6)
			for _, a := range strings.Fields(tt.allowed) {
				if _, n := handle(t, s, req, netip.AddrPortFrom(netip.MustParseAddr(a), 123), t0); n == 0 {
					t.Errorf("%s denied", a)
				}
			}
			for _, a := range strings.Fields(tt.denied) {
				if _, n := handle(t, s, req, netip.AddrPortFrom(netip.MustParseAddr(a), 123), t0); n != 0 {
					t.Errorf("%s allowed", a)
				}
			}
			st := s.Stats()
			if st.Denied != uint64(len(strings.Fields(tt.denied))) || st.Served != uint64(len(strings.Fields(tt.allowed))) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// A denied client is denied whatever it sends: access is decided before the packet is looked at.
func TestDeniedBeforeParsing(t *testing.T) {
	s := mustServer(t, Config{Deny: prefixes("192.0.2.0/24")}, newFakeClock(t0))
	for _, req := range [][]byte{nil, {0x26}, request(4, wire.ModePrivate, 0), request(0, wire.ModeClient, 0)} {
		handle(t, s, req, client4, t0)
	}
	if st := s.Stats(); st.Denied != 4 || st.Requests != 4 {
		t.Fatalf("%+v", st)
	}
}
