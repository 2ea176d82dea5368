package ntpserve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// maxVersion is the highest NTP version answered. Versions 5 to 7 are ignored, not malformed: NTPv5 is
// being specified, and its clients fall back to v4 when a server stays silent.
const maxVersion = 4

// Kiss codes: RATE (rate limit) and NTSN (NTS NAK, RFC 8915 section 5.7).
var (
	kissRATE = timebase.RefIDFromString("RATE")
	kissNTSN = timebase.RefIDFromString("NTSN")
)

// Server is the NTP server's policy: it turns one request datagram into one reply, or none. It reads time
// only through the injected clock and holds no sockets. It is safe for concurrent use by many goroutines.
type Server struct {
	clock    timebase.Clock
	acl      accessRules
	lim      *limiter       // nil when rate limiting is off
	ratePoll int8           // the poll a RATE KoD advertises
	nts      *nts.Processor // nil: NTS off
	pub      atomic.Pointer[published]
	ctr      *counters // a separate allocation, so its cache lines hold nothing else
}

// published is what Publish derives from a snapshot once, so that Handle only copies it.
type published struct {
	snap   timebase.Snapshot // a private copy: the caller may not keep its promise not to modify it
	header wire.Header       // reply fields that come from the snapshot; per-request fields are zero
}

// NewServer validates cfg and returns a server reading time from clock. Until the first Publish it
// answers as unsynchronized (timebase.Unsynchronized: LI=3, stratum 16).
func NewServer(cfg Config, clock timebase.Clock) (*Server, error) {
	if clock == nil {
		return nil, errors.New("ntpserve.NewServer: clock is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ntpserve.NewServer: %w", err)
	}
	cfg = cfg.withDefaults()
	acl, err := newAccessRules(cfg.Allow, cfg.Deny)
	if err != nil { // unreachable after Validate; kept so a future change cannot drop the rules silently
		return nil, fmt.Errorf("ntpserve.NewServer: %w", err)
	}
	s := &Server{clock: clock, acl: acl, ctr: new(counters), nts: cfg.NTS}
	if cfg.Rate > 0 {
		s.lim = newLimiter(cfg.Rate, cfg.Burst, cfg.IPv6Prefix, cfg.Clients, cfg.KoDInterval, limShards)
		s.ratePoll = ratePoll(cfg.Rate)
	}
	s.Publish(nil)
	return s, nil
}

// Publish makes snap the state that replies are built from; requests being handled concurrently use
// either the old or the new snapshot, never a mix. A nil snap publishes timebase.Unsynchronized(). A
// snapshot whose leap indicator or stratum cannot be served as time (LI > 3, stratum 0, which on the wire
// means Kiss-o'-Death, or stratum > 16) is served as unsynchronized: LI=3, stratum 16.
func (s *Server) Publish(snap *timebase.Snapshot) {
	if snap == nil {
		snap = timebase.Unsynchronized()
	}
	p := &published{snap: *snap}
	leap, stratum := snap.Leap, snap.Stratum
	if leap > timebase.LeapUnsync || stratum == 0 || stratum > 16 {
		leap, stratum = timebase.LeapUnsync, 16
	}
	var ref timebase.NTPTime // zero on the wire means "never set", which RefTime zero means too
	if snap.RefTime != 0 {
		ref = snap.RefTime.NTP()
	}
	p.header = wire.Header{
		Leap:          leap,
		Mode:          wire.ModeServer,
		Stratum:       stratum,
		Precision:     snap.Precision,
		RootDelay:     timebase.ShortFromDuration(snap.RootDelay),
		RefID:         snap.RefID,
		ReferenceTime: ref,
	}
	s.pub.Store(p)
}

// Handle answers one datagram. req is the request; resp is the reply buffer, of at least 48 bytes. client
// is the request's source and rx its receive time on the served timescale. Handle returns the reply length
// (48, or for NTS as long as the request; never more than len(req)), or 0 when no reply is to be sent. The transmit timestamp is read
// from the clock as the last step (NTS then seals the reply's fields over it). Handle does not allocate for
// plain NTP.
func (s *Server) Handle(resp, req []byte, client netip.AddrPort, rx timebase.Instant) int {
	addr := client.Addr().Unmap().WithZone("")
	port := client.Port()
	a16 := addr.As16()
	ctr := s.ctr.stripe(binary.LittleEndian.Uint64(a16[:8]) ^ binary.LittleEndian.Uint64(a16[8:]) ^ uint64(port))

	if len(resp) < wire.HeaderLen {
		ctr.add(outErrors)
		return 0
	}
	if !replyable(addr, port) || !s.acl.allows(addr) {
		ctr.add(outDenied)
		return 0
	}
	version, mode, err := wire.Peek(req)
	if err != nil {
		ctr.add(outMalformed)
		return 0
	}
	// NTPv1 (RFC 1059) had no mode field: its mode bits were reserved and zero. We answer v1 exactly like
	// v2-v4, in mode 3 only. A v1 packet with mode bits 0 could be a client or a symmetric peer (ntpd
	// guesses from the source port, a heuristic), and mode 0 is the one mode RFC 5905 reserves; answering
	// it would widen what we reply to, for a protocol version superseded in 1989 (RFC 1119). v1 clients
	// that set mode 3, as SNTP implementations do, are served, and the reply's mode bits are 4.
	if mode != wire.ModeClient || version > maxVersion {
		ctr.add(outIgnored)
		return 0
	}
	var q wire.Header
	if version == 0 || q.Unmarshal(req) != nil || wire.ValidateTrailer(req, version) != nil {
		ctr.add(outMalformed)
		return 0
	}
	if s.lim != nil {
		hi, lo := s.lim.key(a16, addr.Is4())
		ok, kod := s.lim.admit(hi, lo, int64(rx))
		if !ok {
			ctr.add(outRateLimited)
			if !kod {
				return 0
			}
			n := s.kiss(resp, &q, kissRATE, max(clampPoll(q.Poll), s.ratePoll))
			if n > 0 {
				ctr.add(outKoDSent)
			}
			return n
		}
	}
	if version == 4 && len(req) > wire.HeaderLen {
		return s.handleNTS(resp, req, &q, rx, ctr)
	}
	return s.serve(resp, &q, rx, ctr)
}

// handleNTS answers an NTPv4 request that has extension fields: plain NTP if none is an NTS field;
// otherwise an authenticated reply, an NTS NAK, or nothing. The costly work (cookie, authenticator, fresh
// cookies) is done by Open before serve reads the transmit timestamp; Reply then seals the reply's fields
// over the finished header, transmit timestamp included.
func (s *Server) handleNTS(resp, req []byte, q *wire.Header, rx timebase.Instant, ctr *counterStripe) int {
	if s.nts == nil {
		if nts.IsRequest(req) {
			ctr.add(outNTSDropped)
			return 0
		}
		return s.serve(resp, q, rx, ctr)
	}
	x, v := s.nts.Open(req)
	defer s.nts.Release(x)
	switch v {
	case nts.NotNTS:
		return s.serve(resp, q, rx, ctr)
	case nts.NAK:
		n, err := x.AppendNAK(resp, s.kiss(resp, q, kissNTSN, clampPoll(q.Poll)))
		if err != nil {
			ctr.add(outErrors)
			return 0
		}
		ctr.add(outNTSNAK)
		return n
	case nts.Authentic:
		if len(resp) < x.ReplyLen() {
			ctr.add(outErrors)
			return 0
		}
		n := s.serve(resp, q, rx, ctr)
		if n == 0 {
			return 0
		}
		n, err := x.Reply(resp, n)
		if err != nil { // unreachable: Open planned the reply for this request and resp has room
			ctr.add(outErrors)
			return 0
		}
		ctr.add(outNTSServed)
		return n
	}
	ctr.add(outNTSDropped)
	return 0
}

// replyable reports whether a reply may be addressed to addr:port. A datagram's source address is not
// authenticated: answering a spoofed multicast or broadcast source would send our reply to a whole
// network segment, and nothing can be sent to an unspecified address or port 0.
func replyable(addr netip.Addr, port uint16) bool {
	if !addr.IsValid() || port == 0 || addr.IsUnspecified() || addr.IsMulticast() {
		return false
	}
	return addr != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// serve writes a mode 4 reply to q into resp.
func (s *Server) serve(resp []byte, q *wire.Header, rx timebase.Instant, ctr *counterStripe) int {
	p := s.pub.Load()
	h := p.header
	h.Version = q.Version
	h.Poll = clampPoll(q.Poll)
	h.OriginTime = q.TransmitTime
	h.ReceiveTime = rx.NTP()
	n, err := h.Marshal(resp)
	if err != nil { // unreachable: resp was checked and Publish keeps every field in range
		ctr.add(outErrors)
		return 0
	}
	ctr.add(outServed)
	now := s.clock.Now()
	// Root dispersion is the error bound at the instant the transmit timestamp names, so both come from
	// the same clock reading. Neither setter can fail: Marshal just wrote 48 bytes into resp.
	_ = wire.SetRootDispersion(resp, timebase.ShortFromDuration(p.snap.RootDispersionAt(now)))
	_ = wire.SetTransmitTime(resp, now.NTP())
	return n
}

// kiss writes a Kiss-o'-Death with the given code for q into resp. As ntpd does, it reveals nothing about
// our clock: all three timestamps are the client's own transmit timestamp (the origin must be, so the
// client can match the KoD to its request), and the other fields are zero. For RATE the poll field
// advertises the interval the limit sustains, which a client honouring the kiss adopts.
func (s *Server) kiss(resp []byte, q *wire.Header, code timebase.RefID, poll int8) int {
	h := wire.Header{
		Leap:         timebase.LeapUnsync,
		Version:      q.Version,
		Mode:         wire.ModeServer,
		Stratum:      0, // with a four-letter refid: a kiss code
		Poll:         poll,
		RefID:        code,
		OriginTime:   q.TransmitTime,
		ReceiveTime:  q.TransmitTime,
		TransmitTime: q.TransmitTime,
	}
	n, err := h.Marshal(resp)
	if err != nil { // unreachable, as in serve
		return 0
	}
	return n
}

// Stats returns a copy of the outcome counters and the rate limiter's occupancy.
func (s *Server) Stats() Stats {
	st := s.ctr.snapshot()
	if s.lim != nil {
		st.ClientsTracked, st.ClientsEvicted = s.lim.stats()
		st.ClientsCapacity = uint64(s.lim.capacitySlots())
	}
	return st
}
