// Package nts is the pure core of Network Time Security (RFC 8915) for gpsntp's server: the AEAD
// algorithms, the NTS-KE record codec and negotiation, cookies and the master keys that seal them, and the
// NTS extension fields of NTP with a request processor. It opens no sockets and reads no clock: the TLS
// listener is ntpserve/ntske, the UDP socket is ntpserve/udp, time arrives as timebase.Instant arguments and
// randomness through an injected io.Reader (crypto/rand.Reader in production, a seeded ChaCha8 in tests),
// which the Processor reads 4 KiB at a time and hands out to requests, wiping what it hands out.
//
// # How NTS fits together
//
// A client first runs NTS-KE over TLS 1.3 (TCP 4460, ALPN "ntske/1"): it offers NTPv4 and a list of AEAD
// algorithms; the server picks one (Negotiate), both sides export two keys from the TLS session (C2S and
// S2C, ExportKeys), and the server hands out eight cookies (ServeKE). A cookie is the two keys sealed
// under a server master key: the server keeps no per-client state. Then each NTP request carries a Unique
// Identifier, one cookie, optional placeholders asking for more cookies, and an authenticator made with the
// C2S key. The server opens the cookie, checks the authenticator, and answers with the identifier echoed and
// fresh cookies encrypted under the S2C key (Processor). A cookie that cannot be opened, or an authenticator
// that does not verify, gets an NTS NAK (kiss code NTSN): the client then redoes NTS-KE.
//
// # AEAD algorithms and the choice of implementation
//
// The session algorithms AEAD_AES_SIV_CMAC_256 (15, mandatory), AEAD_AES_SIV_CMAC_512 (17) and
// AEAD_AES_128_GCM_SIV (30) are implemented here over crypto/aes, in constant time, because no maintained
// Go library fits NTS (AEAD_AES_256_GCM, 2, which only seals cookies, is crypto/cipher's own):
//
//   - tink-go's AES-SIV (daead/subtle) takes 64-byte keys only and a single associated-data string; NTS
//     needs 32-byte keys too and passes the nonce as a separate S2V component (RFC 5297 section 3).
//   - tink-go's AES-GCM-SIV (aead/subtle) draws the nonce itself and wants nonce||ciphertext on input;
//     NTS carries nonce and ciphertext in separate places of the authenticator field. It also allocates
//     several buffers per message.
//   - golang.org/x/crypto has neither.
//
// AES-SIV is S2V (CMAC over the associated data, the nonce and the plaintext) then CTR with the synthetic
// IV as counter (RFC 5297). AES-128-GCM-SIV derives per-nonce keys, runs POLYVAL (a GF(2^128) hash, here
// with a constant-time carry-less multiply built from integer multiplications) and a 32-bit counter mode
// (RFC 8452). The tests check both against the RFCs' test vectors and cross-check them against tink-go on
// what tink supports (AES-SIV with 64-byte keys and one component; AES-GCM-SIV through its own layout).
// The layouts differ, and NTS carries each as it is:
//
//	AES-SIV-CMAC:  synthetic IV (16) | ciphertext
//	AES-GCM-SIV:   ciphertext        | tag (16)        nonce: exactly 12 bytes, carried separately
//
// Blocks handed to crypto/aes live in scratch memory, not on the stack: a stack array passed through the
// cipher.Block interface escapes, one allocation per block. The exported Seal and Open take their scratch
// from a pool; the Processor's own path passes the scratch of its pooled Exchange, which saves four pool
// round trips per request. CMAC and both counter modes go block by block
// through cipher.Block.Encrypt. crypto/cipher's CBC and CTR modes would run in assembly, but each one made
// copies the whole AES key schedule into a fresh 512-byte allocation; on NTS packets (a few hundred
// bytes) that cost more than it saved (BenchmarkProcessor: 3.8 µs per request block by block, 4.5 µs with
// them), and it put an allocation on every request.
//
// An AEAD holds only key material and is safe for concurrent use: all per-message state is in the
// caller's scratch or on the stack. That is what lets the Processor share one AEAD pair per session between
// requests. AES-128-GCM-SIV still derives and expands a message key for every message (RFC 8452): one
// crypto/aes block, one allocation, per Seal or Open, which crypto/aes offers no way to avoid.
//
// # The session cache
//
// A client uses the same C2S and S2C keys for every request of a session; only the cookie around them
// changes. Expanding them (four AES key schedules and the CMAC subkeys for AES-SIV) was a third of an
// authenticated request's cost, so the Processor keeps the AEADs of recent sessions in a fixed-size,
// lock-free, set-associative table keyed by a seeded hash of AEAD id | C2S, with the whole keys
// compared in constant time on a hit and CLOCK eviction (sessioncache.go has the details, the memory bound
// and what a hit's timing reveals). A miss does exactly what an uncached request did, and a session is
// cached only after its authenticator has verified. ProcessorConfig.SessionCache sizes it or turns it off.
//
// # chrony's record 1024 and AES-128-GCM-SIV keys
//
// RFC 8915 exports the keys with the context Protocol ID (2) | AEAD ID (2) | 0x00 or 0x01. chrony 4.4, the
// first implementation of AES-128-GCM-SIV for NTS, put 15 (AES-SIV-CMAC-256) in the AEAD ID of that context
// while exporting 16-byte keys. To migrate without breaking deployed peers, chrony specified a private
// NTS-KE record, type 1024, empty and non-critical ("Compliant AES-128-GCM-SIV Exporter Context",
// https://chrony-project.org/doc/spec/nts-compliant-128gcm.html): a client that sends it asks for the RFC
// context for AEAD 30; a server that supports it echoes it in its response and then uses the RFC context
// too. Without the record both sides keep the old context, and so does this package
// (Negotiation.ExporterContext), so that chrony clients work. Because a client following only the RFC would
// derive the other keys, Negotiate prefers AES-SIV-CMAC-256 to AES-128-GCM-SIV when a client offers both
// without record 1024; AEAD 30 without the record is chosen only when it is all the client offers.
//
// # Cookies and master keys
//
// A cookie is key id (4) | nonce | seal(AEAD id (2) | 0 (2) | C2S | S2C) with the key id as associated
// data; its length is always a multiple of 4 (100 bytes for an AES-SIV-CMAC-256 session under the default
// AES-256-GCM master key). A KeySet holds the master keys: the newest seals, every key still within its
// lifetime opens.
//
// Cookies are the server's private format, so their AEAD is ours to choose, and it is AES-256-GCM from
// crypto/cipher (KeyPolicy.AEAD can still pick any of the others). Every NTS request costs one cookie
// opened and one sealed; AES-SIV-CMAC, block by block through crypto/aes, made those two a third of a
// request's processing (BenchmarkHandleNTS: 3.1 µs per request, 1.9 µs with GCM cookies). GCM is not
// nonce-misuse resistant, which is why it never protects sessions (clients make those nonces) and why
// its cookie nonces get three rules: they are 96 random bits, never a counter (a counter in the clear would
// let an observer link one client's cookies across its addresses, RFC 8915 section 10.1); a key seals at
// most about 2^31 cookies before Rotate replaces it (the bound and the argument are at gcmSealLimit); and
// a key read from storage never seals again, because the process that used it before may have sealed
// with it and its count is gone, so every start adds a fresh sealing key (ntske.LoadKeySet rotates at
// once; a set keeps at most 64 keys, so a restart loop drops the oldest ones early). Rotate (pure: now and randomness in, a new immutable set out) adds a key every Rotation
// (24 h by default) and drops a key Lifetime (48 h) after it stopped sealing; NextRotation is the wake-up
// time. MarshalBinary/UnmarshalKeySet persist a set across restarts (the edge writes the file atomically
// with mode 0600), so that restarting the daemon does not force every client through NTS-KE again.
//
// # The request processor and reply size
//
// Processor.Open classifies a request: NotNTS (no NTS field: plain NTP), Authentic, NAK or Drop (NTS fields
// missing, repeated or misplaced: exactly one Unique Identifier of at least 32 bytes, exactly one cookie,
// placeholders as long as the cookie, the authenticator last). An NTS request is never answered without
// authentication: it gets an authenticated reply, a NAK, or nothing. All costly work (opening the cookie,
// verifying, sealing the fresh cookies) happens in Open, before the caller reads the transmit timestamp;
// Exchange.Reply then encrypts the prepared cookies under S2C over the finished header.
//
// The reply is never longer than the request, so the server cannot amplify: the client pays for each
// cookie it asks for with a placeholder of the same size. If the new cookies are longer than the request's
// (a master key of another algorithm), fewer are returned. Replies are padded to the request's length, as
// chrony pads them, so both directions spend equal time on the wire.
//
// # NTS-KE message limits
//
// Messages are at most MaxMessage (16 KiB) bytes; ReadMessage stops at End of Message and never buffers
// more than that. Unknown non-critical records are ignored; an unknown critical record is answered with
// Error 0; server-to-client records (Error, Warning, New Cookie) in a request, a missing or repeated Next
// Protocol or AEAD record, or malformed bodies are Error 1 (Bad Request).
package nts
