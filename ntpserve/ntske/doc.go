// Package ntske is the NTS-KE edge of gpsntp (RFC 8915 section 4): a TLS 1.3 listener, ALPN "ntske/1",
// TCP port 4460 by default, that hands the negotiation itself to the pure core (nts.ServeKE) and keeps the
// core's master keys and the server certificate on disk. It also has the client side (Exchange), used by
// tests and by `gpsntpctl query -nts`.
//
// # One connection
//
//	accept ─► rate check ─► per-client slots ─► global slots (evict the oldest unanswered) ─► worker:
//	TLS 1.3 handshake (HandshakeTimeout) ─► ALPN must be ntske/1 ─► nts.ReadMessage (16 KiB max) ─►
//	nts.ServeKE (negotiate, export keys, seal cookies) ─► slots released ─► response + close_notify, close
//
// The whole connection lives at most SessionTimeout. A client is an IPv4 address or an IPv6 /64.
//
// A connection gives its slots back once its response is ready, before writing it. A client that
// reconnects as soon as it has its answer (one that wants more cookies, a load generator) would otherwise
// race the server's cleanup of the previous connection and be refused — closed at once, which it sees as a
// reset — although it never held more than its share. What is left of the connection then (one write into
// an empty socket buffer, the close) is bounded by the deadline and holds no request state. Deliberate
// refusals are counted: RateLimited, ClientLimited and Evicted in Stats (GET /api/nts in gpsntpd).
//
// # What a handshake costs, and what was cut
//
// NTS-KE is one full TLS 1.3 handshake per client every few days, but it is the part of NTS an attacker
// can make expensive, and the benchmark (scripts/bench-nts.sh) compares it with chronyd. Profiled under
// load (pinned to one CPU), the server's time goes to crypto/tls: the ephemeral key exchange, the ECDSA
// P-256 signature of the handshake, the key schedule (HKDF), then system calls, garbage collection and
// cookie sealing. The choices, and why:
//
//   - Key exchange groups: X25519 and P-256 only, and always one the client sent a key share for, so that
//     no client that offers either pays a HelloRetryRequest round trip: Go clients and OpenSSL's (NTPsec)
//     send an X25519 share, GnuTLS's (chrony) P-256 and X25519 shares. Given both, the server takes
//     P-256, whose ephemeral exchange costs it less in Go (hello.go has the figures); crypto/tls would
//     take X25519, so the server reads the shares from the ClientHello itself. P-384 and P-521 are not
//     taken: every TLS 1.3 client implements P-256 (RFC 8446 section 9.1), and they would let any client
//     make each handshake several times dearer (P-384 ECDH costs about eight times P-256's in Go).
//   - Hybrid post-quantum key exchange (X25519MLKEM768, SecP256r1MLKEM768) for every client that offers
//     one, which is what crypto/tls does and what Go clients (our ntsload and gpsntpctl among them) and
//     recent OpenSSL offer. It is the dearest path: the ML-KEM-768 encapsulation on top of X25519 made
//     the key exchange half of the server's CPU time per handshake, against a third for X25519 alone.
//     What it buys is secrecy against a quantum computer built later by someone who records today's
//     handshakes. NTS-KE's secrets authenticate NTP packets only while their cookies are valid (days),
//     and authentication rests on the certificate's ECDSA signature, which a hybrid does not make
//     post-quantum; but a later decryption would still reveal the fresh cookies inside NTP responses and
//     so link a roaming client's requests after the fact, and unlinkability is one of the things NTS
//     exists for (RFC 8915 section 10.1). A LAN server does a handful of handshakes per client per
//     day, so the cost does not matter where the protection might: the client's offer is honoured.
//     Config.PreferClassical (gpsntpd -nts-ke-classical) takes a classical group whenever the client
//     offers one. Stats (X25519KE, P256KE, HybridKE, HelloRetries) shows what clients get.
//   - No session tickets: NTS clients run a full handshake each time (they keep cookies, not TLS
//     sessions), so tickets would only cost a sealed ticket and a write per handshake.
//   - The handshake is bounded by the connection's deadline, not by HandshakeContext with a timeout,
//     which would add a goroutine and a timer per connection for the same bound.
//   - The response and the close_notify alert leave in one write (corkConn): one system call and one
//     segment fewer per connection. crypto/tls already sends the server's handshake flight in one write.
//   - Connections are served by workers that park for the next connection instead of exiting (at most
//     maxIdleWorkers parked): a handshake grows a goroutine's stack to tens of KiB, and a fresh goroutine
//     per connection paid for that growth again each time (6 % of the server's CPU before).
//
// What remains is crypto/tls's own work: the key exchange, then the certificate's ECDSA P-256 signature
// (issue 6 asks for that certificate; Ed25519 signs barely faster in Go), which chronyd does with GnuTLS
// and Nettle. The figures against chronyd are in the bench's output.
//
// # Staying available under a flood
//
// NTS-KE costs a TLS handshake, so it is the part of NTS worth attacking. Three limits bound the damage:
// a token bucket per client (Rate, Burst; refused connections are closed before any TLS work), a cap of
// concurrent connections per client (MaxConnsPerClient), and a global cap (MaxConns). When the global cap is
// reached, the oldest connection that has not yet sent its request is closed to make room: a flood of idle
// or slow connections (slowloris) holds slots only until newer clients arrive, and a single source can hold
// no more than its per-client share. A refused connection is closed before it is read, which the client
// sees as a reset; that is the price of spending nothing on it. Memory is bounded by MaxConns times one TLS connection plus one
// 16 KiB message, and by RateClients small table entries. TestIdleFlood holds this on loopback.
//
// # Certificate
//
// Either a PEM pair from files (CertFile, KeyFile) or, by default, a self-signed ECDSA P-256 certificate
// made on first start in the state directory (EnsureSelfSigned), with SANs for the host names and the
// box's addresses; clients pin it (chrony: ntstrustedcerts; NTPsec: ca). Its dates do not depend on the
// clock at first start (a board without RTC may believe it is 1970). The files are checked for changes at
// most every CertCheck and reloaded, so a renewed certificate is served without a restart; a pair that does
// not load keeps the previous one and is reported in Certificate().ReloadError. Certificate() also gives the
// PEM and SHA-256 fingerprint for /api/nts.
//
// # Master keys on disk
//
// LoadKeySet reads the nts.KeySet from the state directory (or creates it) and rotates it at once, which
// with AES-256-GCM master keys (the default) adds a fresh sealing key at every start: a GCM key read back
// from disk only opens cookies (the nts package doc says why). RotateKeys rotates it on schedule, and
// within a second of the sealing key reaching its seal limit (KeySet.NextRotation), publishes it to the
// processor shared with the NTP side and writes it back with WriteFileAtomic (temporary file, fsync,
// rename, fsync of the directory; mode 0600), so a restart keeps clients' cookies valid.
package ntske
