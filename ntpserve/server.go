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
// (48, or for NTS as long as the request; never more than len(req)), or 0 when no reply is to be sent. The
// transmit timestamp is read from the clock as the last step (NTS then seals the reply's fields over it).
// Handle does not allocate for plain NTP.
func (s *Server) Handle(resp, req []byte, client netip.AddrPort, rx timebase.Instant) int {
	if len(resp) < wire.HeaderLen {
		s.stripe(client).add(outErrors)
		return 0
	}
	var d decision
	s.decide(&d, req, client, rx)
	return s.finish(&d, resp)
}

// Batch is the server as one socket's two-pass batches see it (the udp edge's BatchHandler): Prepare
// decides each request of a batch and does its costly part, the NTS cryptography, before Finish writes
// any reply. Handle does both for one request, so in a batch of NTS requests handled one by one each
// transmit timestamp waited for the cryptography of every request after it, 2 us each, before the
// batch left: an offset error for those clients of half that wait. With Prepare for the whole batch
// first, a reply waits only for the later replies' headers and sealing. A Batch belongs to one goroutine.
type Batch struct {
	s     *Server
	slots []decision
}

// NewBatch returns a Batch for batches of up to n requests.
func (s *Server) NewBatch(n int) *Batch { return &Batch{s: s, slots: make([]decision, n)} }

// Prepare decides request i of the current batch (0 <= i < n), with the arguments of Handle; Finish(i)
// completes it. Every prepared request must be finished before i is prepared again.
func (b *Batch) Prepare(i int, req []byte, client netip.AddrPort, rx timebase.Instant) {
	b.s.decide(&b.slots[i], req, client, rx)
}

// Finish writes the reply to prepared request i into resp (at least as long as the request and 48 bytes)
// and returns its length, or 0 for no reply, as Handle does.
func (b *Batch) Finish(i int, resp []byte) int {
	d := &b.slots[i]
	n := b.s.finish(d, resp)
	d.act, d.x = actNone, nil // the Exchange went back to its pool
	return n
}

// action is what decide concluded about a request; finish carries it out.
type action uint8

const (
	actNone  action = iota // no reply; decide counted why
	actServe               // a mode 4 reply
	actRATE                // a RATE kiss-o'-death
	actNTS                 // an NTS exchange: a NAK or an authenticated reply (x, v)
)

// decision is a request after everything that does not depend on the transmit time: the policy checks,
// the rate limiter and NTS's Open. It keeps no reference to the request's bytes.
type decision struct {
	act  action
	poll int8 // actRATE: the poll the kiss advertises
	v    nts.Verdict
	x    *nts.Exchange
	q    wire.Header
	rx   timebase.Instant
	ctr  *counterStripe
}

// stripe returns the counters shard of a client.
func (s *Server) stripe(client netip.AddrPort) *counterStripe {
	a16 := client.Addr().Unmap().WithZone("").As16()
	return s.ctr.stripe(binary.LittleEndian.Uint64(a16[:8]) ^ binary.LittleEndian.Uint64(a16[8:]) ^ uint64(client.Port()))
}

func (s *Server) decide(d *decision, req []byte, client netip.AddrPort, rx timebase.Instant) {
	addr := client.Addr().Unmap().WithZone("")
	port := client.Port()
	a16 := addr.As16()
	ctr := s.ctr.stripe(binary.LittleEndian.Uint64(a16[:8]) ^ binary.LittleEndian.Uint64(a16[8:]) ^ uint64(port))
	// Field by field: d.q is written whole by Unmarshal before any action that reads it is chosen, and
	// zeroing the whole decision first made BenchmarkHandle/nolimit about 6 % slower (interleaved runs).
	d.act, d.poll, d.v, d.x, d.rx, d.ctr = actNone, 0, 0, nil, rx, ctr

	if !replyable(addr, port) || !s.acl.allows(addr) {
		ctr.add(outDenied)
		return
	}
	version, mode, err := wire.Peek(req)
	if err != nil {
		ctr.add(outMalformed)
		return
	}
	// NTPv1 (RFC 1059) had no mode field: its mode bits were reserved and zero. We answer v1 exactly like
	// v2-v4, in mode 3 only. A v1 packet with mode bits 0 could be a client or a symmetric peer (ntpd
	// guesses from the source port, a heuristic), and mode 0 is the one mode RFC 5905 reserves; answering
	// it would widen what we reply to, for a protocol version superseded in 1989 (RFC 1119). v1 clients
	// that set mode 3, as SNTP implementations do, are served, and the reply's mode bits are 4.
	if mode != wire.ModeClient || version > maxVersion {
		ctr.add(outIgnored)
		return
	}
	if version == 0 || d.q.Unmarshal(req) != nil || wire.ValidateTrailer(req, version) != nil {
		ctr.add(outMalformed)
		return
	}
	if s.lim != nil {
		hi, lo := s.lim.key(a16, addr.Is4())
		ok, kod := s.lim.admit(hi, lo, int64(rx))
		if !ok {
			ctr.add(outRateLimited)
			if kod {
				d.act, d.poll = actRATE, max(clampPoll(d.q.Poll), s.ratePoll)
			}
			return
		}
	}
	d.act = actServe
	if version == 4 && len(req) > wire.HeaderLen {
		s.decideNTS(d, req)
	}
}

// decideNTS examines an NTPv4 request that has extension fields: plain NTP if none is an NTS field;
// otherwise an authenticated reply, an NTS NAK, or nothing. The costly work (cookie, authenticator, fresh
// cookies) is Open's, done here before finish reads the transmit timestamp; Reply then seals the reply's
// fields over the finished header, transmit timestamp included.
func (s *Server) decideNTS(d *decision, req []byte) {
	if s.nts == nil {
		if nts.IsRequest(req) {
			d.ctr.add(outNTSDropped)
			d.act = actNone
		}
		return
	}
	x, v := s.nts.Open(req)
	switch v {
	case nts.NotNTS:
	case nts.NAK, nts.Authentic:
		d.act, d.x, d.v = actNTS, x, v
	default:
		s.nts.Release(x)
		d.ctr.add(outNTSDropped)
		d.act = actNone
	}
}

// finish carries out d into resp.
func (s *Server) finish(d *decision, resp []byte) int {
	ctr := d.ctr
	switch d.act {
	case actServe:
		return s.serve(resp, &d.q, d.rx, ctr)
	case actRATE:
		n := s.kiss(resp, &d.q, kissRATE, d.poll)
		if n > 0 {
			ctr.add(outKoDSent)
		}
		return n
	case actNTS:
		defer s.nts.Release(d.x)
		if d.v == nts.NAK {
			n, err := d.x.AppendNAK(resp, s.kiss(resp, &d.q, kissNTSN, clampPoll(d.q.Poll)))
			if err != nil {
				ctr.add(outErrors)
				return 0
			}
			ctr.add(outNTSNAK)
			return n
		}
		if len(resp) < d.x.ReplyLen() {
			ctr.add(outErrors)
			return 0
		}
		n := s.serve(resp, &d.q, d.rx, ctr)
		if n == 0 {
			return 0
		}
		n, err := d.x.Reply(resp, n)
		if err != nil { // unreachable: Open planned the reply for this request and resp has room
			ctr.add(outErrors)
			return 0
		}
		ctr.add(outNTSServed)
		return n
	}
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
