package ntpserve

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// accessRules decide which clients may use the server. Rules are kept most specific first, so the first
// match is the longest matching prefix. A linear scan is faster than a trie for the handful of rules a
// time server has, and its cost is paid only when rules exist.
type accessRules struct {
	rules        []accessRule
	defaultAllow bool
}

type accessRule struct {
	prefix netip.Prefix
	allow  bool
}

// normalizePrefix makes p canonical: masked, and IPv4 if it is an IPv4-mapped IPv6 prefix (clients are
// unmapped before matching, so a mapped prefix would never match anything).
func normalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("invalid prefix %q", p)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, fmt.Errorf("IPv4-mapped prefix %s is shorter than /96 and so spans IPv4 and IPv6", p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func newAccessRules(allow, deny []netip.Prefix) (accessRules, error) {
	a := accessRules{defaultAllow: len(allow) == 0}
	seen := make(map[netip.Prefix]bool, len(allow)+len(deny))
	add := func(list string, ps []netip.Prefix, isAllow bool) error {
		for i, p := range ps {
			n, err := normalizePrefix(p)
			if err != nil {
				return fmt.Errorf("ntpserve: Config.%s[%d]: %w", list, i, err)
			}
			if prev, dup := seen[n]; dup {
				if prev != isAllow {
					return fmt.Errorf("ntpserve: Config.%s[%d] = %s: the prefix is in both Allow and Deny", list, i, n)
				}
				continue
			}
			seen[n] = isAllow
			a.rules = append(a.rules, accessRule{prefix: n, allow: isAllow})
		}
		return nil
	}
	if err := add("Allow", allow, true); err != nil {
		return accessRules{}, err
	}
	if err := add("Deny", deny, false); err != nil {
		return accessRules{}, err
	}
	// Most specific first. Two distinct prefixes of one length never overlap, so ties need no order
	// for correctness; the address order only makes the result deterministic.
	slices.SortFunc(a.rules, func(x, y accessRule) int {
		if c := cmp.Compare(y.prefix.Bits(), x.prefix.Bits()); c != 0 {
			return c
		}
		return x.prefix.Addr().Compare(y.prefix.Addr())
	})
	return a, nil
}

// allows reports whether addr (unmapped, without zone) may be served.
func (a *accessRules) allows(addr netip.Addr) bool {
	for i := range a.rules {
		if a.rules[i].prefix.Contains(addr) {
			return a.rules[i].allow
		}
	}
	return a.defaultAllow
}
