package ntpserve

import "sync/atomic"

// Stats counts Handle's outcomes. Every call to Handle ends in exactly one of Served, RateLimited,
// Denied, Malformed, Ignored, NTSNAK, NTSDropped or Errors; KoDSent counts the rate-limited requests that
// got a KoD, NTSServed the served requests that were NTS-authenticated. Each
// counter is read atomically, but not all of them at one instant: under load, a Stats taken while requests
// are being handled may be a few requests apart between fields.
type Stats struct {
	Requests    uint64 // calls to Handle: the sum of the eight outcomes
	Served      uint64 // answered with time (mode 4)
	NTSServed   uint64 // of Served, those authenticated with NTS (as long as their request)
	NTSNAK      uint64 // NTS requests answered with an NTS NAK (cookie or authenticator refused)
	NTSDropped  uint64 // NTS requests not answered: malformed NTS fields, no room, or NTS disabled
	RateLimited uint64 // over the client's limit: a RATE KoD or no reply
	KoDSent     uint64 // of RateLimited, those answered with a RATE Kiss-o'-Death
	Denied      uint64 // refused by the access rules, or from an address no reply can go to
	Malformed   uint64 // too short, version 0, or a malformed extension field / MAC layout
	Ignored     uint64 // not a client request: modes 0-2 and 4-7, versions 5-7
	Errors      uint64 // the caller's reply buffer was shorter than 48 bytes (a bug in the edge)

	ClientsTracked  uint64 // rate limiter entries in use
	ClientsEvicted  uint64 // rate limiter entries replaced to make room for another client
	ClientsCapacity uint64 // rate limiter table size; 0 when rate limiting is off
}

type outcome uint8

const (
	outServed outcome = iota
	outRateLimited
	outKoDSent
	outDenied
	outMalformed
	outIgnored
	outErrors
	outNTSServed
	outNTSNAK
	outNTSDropped
	numOutcomes
)

// Counters are striped: each Handle adds to one stripe chosen by the client address, so goroutines on
// different cores serving different clients mostly touch different cache lines (an atomic add on a line
// another core just wrote costs a cache-line transfer every time). A stripe's counters fill 80 bytes of a
// 128-byte stride, so no two stripes' counters can share a 64-byte cache line whatever the alignment.
const (
	stripeBits  = 5
	numStripes  = 1 << stripeBits
	stripeBytes = 128
)

type counterStripe struct {
	c [numOutcomes]atomic.Uint64
	_ [stripeBytes - 8*numOutcomes]byte
}

type counters struct {
	stripes [numStripes]counterStripe
}

// stripe picks the stripe for a client: a multiplicative hash of its address and port.
func (c *counters) stripe(mix uint64) *counterStripe {
	return &c.stripes[(mix*0x9e3779b97f4a7c15)>>(64-stripeBits)]
}

func (s *counterStripe) add(o outcome) { s.c[o].Add(1) }

func (c *counters) snapshot() Stats {
	var sum [numOutcomes]uint64
	for i := range c.stripes {
		for o := range sum {
			sum[o] += c.stripes[i].c[o].Load()
		}
	}
	st := Stats{
		Served:      sum[outServed],
		RateLimited: sum[outRateLimited],
		KoDSent:     sum[outKoDSent],
		Denied:      sum[outDenied],
		Malformed:   sum[outMalformed],
		Ignored:     sum[outIgnored],
		Errors:      sum[outErrors],
		NTSServed:   sum[outNTSServed],
		NTSNAK:      sum[outNTSNAK],
		NTSDropped:  sum[outNTSDropped],
	}
	st.Requests = st.Served + st.RateLimited + st.Denied + st.Malformed + st.Ignored + st.Errors + st.NTSNAK + st.NTSDropped
	return st
}
