// Package ntpserve is the policy core of gpsntp's NTPv4 server (RFC 5905): given one request datagram,
// its source address and its receive time, it decides whether to answer and writes the answer. It is pure:
// the socket edge (ntpserve/udp) reads datagrams and kernel timestamps and sends what Handle returns; the
// daemon publishes the clock's state with Publish; the clock is injected. The shape follows ntpd-rs's
// Server::handle and facebook/time's generateResponse, which take time as an argument.
//
// # The answer
//
// A client request (mode 3, version 1 to 4) gets a server reply (mode 4) with the request's version. The
// origin timestamp is the request's transmit timestamp, the receive timestamp is the kernel's receive
// time, and the transmit timestamp is read from the clock as the very last step. Leap indicator, stratum,
// reference id, reference time, precision and root delay come from the published timebase.Snapshot
// (before the first Publish: timebase.Unsynchronized, LI=3 stratum 16); root dispersion is the snapshot's
// model evaluated at the transmit instant and rounded up, so the advertised error bound grows honestly while
// the box free-runs. The poll field echoes the client's poll clamped to [MinPoll, MaxPoll]. No header field
// is a constant of this package, except those of a Kiss-o'-Death.
//
// # Why a reply is never longer than its request
//
// A plain reply carries no extension fields and no MAC, so it is exactly 48 bytes and never longer than the
// request, which is at least 48 bytes. A UDP server that answers forged source addresses must never be an
// amplifier: a reply no larger than its request gives an attacker nothing to gain by reflecting through us.
// Extension fields and a legacy MAC in a request are validated for layout and skipped (this server has no
// symmetric keys; a client that insists on authentication discards the unauthenticated reply).
//
// NTS (RFC 8915; Config.NTS, see ntpserve/nts) is the one reply with extension fields: the Unique
// Identifier echo and an authenticator with fresh cookies. It is exactly as long as the request, because
// the client pays for each cookie it wants with a placeholder of the same size. An NTS request is never
// answered unauthenticated: it gets an authenticated reply, an NTS NAK (kiss code NTSN, the identifier
// echoed, shorter than the request) when its cookie or authenticator is refused, or nothing when its NTS
// fields are malformed or NTS is off. Rate limiting and access rules run first, so a flood cannot make the
// server spend AES on it beyond each client's rate.
//
// # What gets no reply, and how it is counted
//
// Every call to Handle ends in exactly one outcome, counted in Stats with an atomic add on a per-client
// stripe of counters (so cores do not fight over one cache line):
//
//   - Denied: the access rules refuse the source, or no reply can be addressed to it (unspecified,
//     multicast or broadcast address, port 0: the source of a datagram is unauthenticated, and answering a
//     forged multicast source would spray replies over a network segment).
//   - Ignored: not a client request: modes 0, 1, 2, 4, 5, 6 and 7 (symmetric, broadcast, control and private
//     modes are not served; modes 6 and 7 are the classic amplification vectors), and versions 5 to 7.
//   - Malformed: shorter than the 48-byte header, version 0, or what follows the header is not a
//     well-formed sequence of extension fields and an optional MAC (NTPv4, RFC 7822: each field's length a
//     multiple of 4, at least 16, within the packet; a final 20 or 24 bytes are a MAC), or for NTPv1-3 not
//     empty or a MAC. Packets of other modes are classified from their first byte only, as their layouts
//     differ; they count as ignored whatever follows.
//   - RateLimited: the client is over its limit; some of these get a KoD (KoDSent), the rest silence.
//   - Served (NTSServed counts those that were NTS-authenticated).
//   - NTSNAK: an NTS request whose cookie or authenticator was refused, answered with an NTS NAK.
//   - NTSDropped: an NTS request with malformed NTS fields, or any NTS request while NTS is off.
//   - Errors: the caller passed a reply buffer shorter than 48 bytes.
//
// The checks run in that order, so a denied source is never parsed and malformed or ignored packets never
// touch the rate limiter's table.
//
// # Access rules
//
// Config.Allow and Config.Deny hold IPv4 and IPv6 prefixes; clients' IPv4-mapped IPv6 addresses are
// unmapped first. The most specific matching prefix decides. A client that no rule matches is allowed when
// there are no Allow rules, and denied when there are: an allow list names who may use the server, so
// "Allow 192.168.0.0/16" alone serves only that network (and no IPv6 client), and adding "Deny
// 192.168.66.0/24" carves a hole in it. Denied clients get no reply, not a DENY Kiss-o'-Death: a KoD would
// be a reply to a possibly forged source (traffic we generate toward a victim) and would tell a scanner
// that a time server is here and what it refuses; silence gives neither.
//
// # Rate limiting and its memory bound
//
// Each client (an IPv4 address, or an IPv6 prefix of Config.IPv6Prefix bits, /64 by default, since a host
// can pick any address in its /64) has a token bucket: Config.Burst requests back to back, then
// Config.Rate per second. Time is the packets' receive time; steps backwards never create debt. Buckets live
// in a fixed table of Config.Clients slots allocated once: sharded by a keyed hash with one mutex per
// shard, and set-associative within a shard (see limiter.go). When a client's slot set is full, the
// entry with the most credit is replaced, which for any client within its limit is an entry equal to a
// fresh one; so a flood of new source addresses can neither grow memory nor flush out the clients being
// limited, and it cannot crash anything: there is nothing to exhaust.
//
// A client over its limit gets a RATE Kiss-o'-Death (LI=3, stratum 0, refid "RATE") at most once per
// Config.KoDInterval, and silence otherwise, so that a forged source address earns its owner at most one
// 48-byte packet per interval. The KoD echoes the client's transmit timestamp in all three timestamps,
// as ntpd does: it matches the request but tells the client nothing about our clock.
//
// # Cost
//
// Handle does not allocate for plain NTP: the request decodes into a stack value, the reply is marshalled
// into the caller's buffer, errors are sentinels, and the published snapshot is pre-digested into a reply
// template by Publish. BenchmarkHandle and TestHandleZeroAlloc hold this. An NTS request costs a few
// allocations (the AES key schedules of the session keys: crypto/aes cannot expand a key in place), about
// 2 KB, and a few microseconds of AES (BenchmarkHandleNTS).
package ntpserve
