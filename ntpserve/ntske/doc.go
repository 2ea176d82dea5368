// Package ntske is the NTS-KE edge of gpsntp (RFC 8915 section 4): a TLS 1.3 listener, ALPN "ntske/1",
// TCP port 4460 by default, that hands the negotiation itself to the pure core (nts.ServeKE) and keeps the
// core's master keys and the server certificate on disk. It also has the client side (Exchange), used by
// tests and by `gpsntpctl query -nts`.
//
// # One connection
//
//	accept ─► rate check ─► per-client slots ─► global slots (evict the oldest unanswered) ─► goroutine:
//	TLS 1.3 handshake (HandshakeTimeout) ─► ALPN must be ntske/1 ─► nts.ReadMessage (16 KiB max) ─►
//	nts.ServeKE (negotiate, export keys, seal cookies) ─► write response ─► close_notify, close
//
// The whole connection lives at most SessionTimeout. A client is an IPv4 address or an IPv6 /64.
//
// # Staying available under a flood
//
// NTS-KE costs a TLS handshake, so it is the part of NTS worth attacking. Three limits bound the damage:
// a token bucket per client (Rate, Burst; refused connections are closed before any TLS work), a cap of
// concurrent connections per client (MaxConnsPerClient), and a global cap (MaxConns). When the global cap is
// reached, the oldest connection that has not yet sent its request is closed to make room: a flood of idle
// or slow connections (slowloris) holds slots only until newer clients arrive, and a single source can hold
// no more than its per-client share. Memory is bounded by MaxConns times one TLS connection plus one
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
// LoadKeySet reads the nts.KeySet from the state directory (or creates it), RotateKeys rotates it on
// schedule, publishes it to the processor shared with the NTP side and writes it back with WriteFileAtomic
// (temporary file, fsync, rename, fsync of the directory; mode 0600), so a restart keeps clients' cookies
// valid.
package ntske
