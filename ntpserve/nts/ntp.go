package nts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// NTP extension field types of NTS (RFC 8915 section 5.7).
const (
	FieldUniqueID          uint16 = 0x0104
	FieldCookie            uint16 = 0x0204
	FieldCookiePlaceholder uint16 = 0x0304
	FieldAuthenticator     uint16 = 0x0404
)

// MinUniqueIDLen is the shortest Unique Identifier body RFC 8915 allows (section 5.3).
const MinUniqueIDLen = 32

// minNonceField is the nonce space (nonce, its padding and any additional padding) an authenticator must
// leave for AES-SIV: RFC 8915 section 5.6 asks for at least 16 bytes of nonce when the algorithm allows it.
const minNonceField = 16

// Verdict is what Processor.Open decides about a request.
type Verdict uint8

const (
	NotNTS    Verdict = iota // no NTS field: plain NTP, answer as usual
	Authentic                // authenticated: answer, and complete the reply with Exchange.Reply
	NAK                      // cookie or authenticator rejected: answer with an NTSN kiss and Exchange.AppendNAK
	Drop                     // an NTS request that gets no answer (malformed, or no room for a reply)
)

func (v Verdict) String() string {
	switch v {
	case NotNTS:
		return "not-nts"
	case Authentic:
		return "authentic"
	case NAK:
		return "nak"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// ProcessorStats counts the verdicts, with the reason for NAKs and drops.
type ProcessorStats struct {
	Authentic   uint64
	NAKCookie   uint64 // cookie not opened: unknown (expired) key, forged, malformed
	NAKAuth     uint64 // authenticator malformed or not verified
	DropLayout  uint64 // NTS fields missing, repeated, misplaced or malformed
	DropNoRoom  uint64 // the reply would not fit in the request's size
	DropEntropy uint64 // the random source failed
}

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	// Rand provides nonces; it must be a cryptographically secure source (crypto/rand.Reader in
	// production; tests inject a deterministic one). It is read randBlock bytes at a time, which the
	// processor hands out to authentic requests (about 32 bytes each) and wipes as it goes.
	Rand io.Reader
	// MaxCookies is the most cookies one reply carries; 0 means MaxCookies (8).
	MaxCookies int
	// SessionCache is how many sessions' AEADs are kept so that their keys are expanded once per
	// session rather than once per request (see sessionCache): 0 means DefaultSessionCache (about
	// 5 MiB at most), a negative value turns the cache off. It is rounded up to a power of two.
	SessionCache int
}

// Processor authenticates NTS requests and completes their replies. It is safe for concurrent use; its key
// set is swapped atomically by SetKeys.
type Processor struct {
	keys       atomic.Pointer[KeySet]
	rand       io.Reader
	randMu     sync.Mutex       // guards rand (io.Reader implementations are not promised to be safe for concurrent use) and randBuf
	randBuf    *[randBlock]byte // the last block read from rand; allocated at the first use
	randOff    int              // randBuf[randOff:] is unused
	maxCookies int
	sessions   *sessionCache // nil: off
	pool       sync.Pool
	st         struct {
		authentic, nakCookie, nakAuth, dropLayout, dropNoRoom, dropEntropy atomic.Uint64
	}
}

// NewProcessor returns a processor using ks.
func NewProcessor(cfg ProcessorConfig, ks *KeySet) (*Processor, error) {
	if cfg.Rand == nil {
		return nil, errors.New("nts.NewProcessor: Rand is nil")
	}
	if ks == nil {
		return nil, errors.New("nts.NewProcessor: key set is nil")
	}
	if err := ks.usable(); err != nil {
		return nil, fmt.Errorf("nts.NewProcessor: %w", err)
	}
	if cfg.MaxCookies < 0 || cfg.MaxCookies > MaxCookies {
		return nil, fmt.Errorf("nts.NewProcessor: MaxCookies %d outside 0..%d", cfg.MaxCookies, MaxCookies)
	}
	if cfg.SessionCache > maxSessionCache {
		return nil, fmt.Errorf("nts.NewProcessor: SessionCache %d above %d", cfg.SessionCache, maxSessionCache)
	}
	p := &Processor{rand: cfg.Rand, maxCookies: cfg.MaxCookies}
	if p.maxCookies == 0 {
		p.maxCookies = MaxCookies
	}
	switch {
	case cfg.SessionCache == 0:
		p.sessions = newSessionCache(DefaultSessionCache)
	case cfg.SessionCache > 0:
		p.sessions = newSessionCache(cfg.SessionCache)
	}
	p.keys.Store(ks)
	p.pool.New = func() any { return new(Exchange) }
	return p, nil
}

// SetKeys publishes a new key set (after KeySet.Rotate); requests in flight finish with the old one. A set
// whose newest key may not seal (straight from UnmarshalKeySet, not rotated) is ignored.
func (p *Processor) SetKeys(ks *KeySet) {
	if ks != nil && ks.usable() == nil {
		p.keys.Store(ks)
	}
}

// Keys returns the key set in use.
func (p *Processor) Keys() *KeySet { return p.keys.Load() }

// Stats returns the verdict counters.
func (p *Processor) Stats() ProcessorStats {
	return ProcessorStats{
		Authentic: p.st.authentic.Load(), NAKCookie: p.st.nakCookie.Load(), NAKAuth: p.st.nakAuth.Load(),
		DropLayout: p.st.dropLayout.Load(), DropNoRoom: p.st.dropNoRoom.Load(), DropEntropy: p.st.dropEntropy.Load(),
	}
}

// randBlock is how many bytes the processor reads from its random source at once. Reading a block for
// about a hundred requests, rather than 32 bytes for each, saves a getrandom call (and the reader's own
// locking) per request: 2 to 3 % of an NTS request's server time in a profile under load.
const randBlock = 4096

// random fills b with bytes from the random source, through a buffer that is refilled a block at a time.
// Bytes handed out are wiped from the buffer.
func (p *Processor) random(b []byte) error {
	p.randMu.Lock()
	defer p.randMu.Unlock()
	if len(b) > randBlock {
		_, err := io.ReadFull(p.rand, b)
		return err
	}
	if p.randBuf == nil {
		p.randBuf, p.randOff = new([randBlock]byte), randBlock
	}
	if randBlock-p.randOff < len(b) {
		clear(p.randBuf[p.randOff:])
		if _, err := io.ReadFull(p.rand, p.randBuf[:]); err != nil {
			clear(p.randBuf[:])
			p.randOff = randBlock
			return err
		}
		p.randOff = 0
	}
	n := copy(b, p.randBuf[p.randOff:])
	clear(p.randBuf[p.randOff : p.randOff+n])
	p.randOff += n
	return nil
}

// IsRequest reports whether req carries any NTS extension field. A server without NTS uses it to drop
// such requests rather than answer them unauthenticated. It does not allocate.
func IsRequest(req []byte) bool {
	it := wire.Extensions(req)
	for it.Next() {
		switch it.Field().Type {
		case FieldUniqueID, FieldCookie, FieldCookiePlaceholder, FieldAuthenticator:
			return true
		}
	}
	return false
}

// Exchange is the state of one NTS request between Processor.Open and the reply. It is pooled: call
// Processor.Release when done, and do not keep it.
type Exchange struct {
	// uid is a copy of the request's Unique Identifier: keeping a slice of the request would make every
	// request buffer escape to the heap.
	uid      []byte
	reqLen   int
	s2c      AEAD
	nonce    [16]byte
	fields   []byte  // the reply's plaintext: NTS Cookie fields
	scratch  []byte  // the request's decrypted fields; cookie plaintexts
	sc       scratch // the AEADs' block scratch, so that no AEAD operation goes to scratchPool
	rnd      []byte
	replyLen int
}

// Open examines an NTPv4 client request (header included). For NotNTS and Drop it returns a nil Exchange.
// For NAK and Authentic the caller writes the reply header, then calls AppendNAK or Reply, then Release.
//
// Everything costly happens here, before the caller reads the transmit timestamp: the cookie is opened, the
// authenticator verified, the fresh cookies sealed; Reply then only encrypts them under the S2C key.
func (p *Processor) Open(req []byte) (*Exchange, Verdict) {
	var (
		isNTS            bool
		nUID, nCookie    int
		uid, cookie      []byte
		authOff, authLen = -1, 0
		placeholders     int
		afterAuth        bool
	)
	it := wire.Extensions(req)
	for it.Next() {
		f := it.Field()
		if authOff >= 0 {
			afterAuth = true
		}
		switch f.Type {
		case FieldUniqueID:
			isNTS = true
			nUID++
			uid = f.Value
		case FieldCookie:
			isNTS = true
			nCookie++
			cookie = f.Value
		case FieldCookiePlaceholder:
			isNTS = true
			placeholders++
		case FieldAuthenticator:
			isNTS = true
			authOff, authLen = f.Offset, f.Length
		}
	}
	if !isNTS {
		return nil, NotNTS
	}
	_, hasMAC := it.MAC()
	if it.Err() != nil || hasMAC || afterAuth || nUID != 1 || nCookie != 1 || authOff < 0 ||
		authOff+authLen != len(req) || len(uid) < MinUniqueIDLen {
		p.st.dropLayout.Add(1)
		return nil, Drop
	}
	// Placeholders must be exactly as long as the cookie (RFC 8915 section 5.5).
	it = wire.Extensions(req)
	for it.Next() {
		if f := it.Field(); f.Type == FieldCookiePlaceholder && len(f.Value) != len(cookie) {
			p.st.dropLayout.Add(1)
			return nil, Drop
		}
	}

	x := p.pool.Get().(*Exchange)
	x.uid, x.reqLen = append(x.uid[:0], uid...), len(req)
	ks := p.keys.Load()
	keys, err := ks.openCookie(cookie, &x.sc, &x.scratch)
	if err != nil {
		p.st.nakCookie.Add(1)
		return x, NAK
	}
	defer clear(keys.s2c[:])
	defer clear(keys.c2s[:])
	// A session's AEADs come from the cache when its keys were seen recently; otherwise they are made
	// as if there were no cache, and cached only once the authenticator has verified.
	var (
		c2s, s2c AEAD
		hash     uint64
	)
	if p.sessions != nil {
		hash = p.sessions.hash(&keys)
		if e := p.sessions.get(&keys, hash); e != nil {
			c2s, s2c = e.c2s, e.s2c
		}
	}
	cached := c2s != nil
	if !cached {
		if c2s, err = NewAEAD(keys.AEAD, keys.C2S()); err != nil { // unreachable: the cookie named a supported algorithm with the right key length
			p.st.nakCookie.Add(1)
			return x, NAK
		}
	}
	pt, ok := openAuthenticator(c2s, &x.sc, req, authOff, &x.scratch)
	if !ok {
		p.st.nakAuth.Add(1)
		return x, NAK
	}
	// Placeholders may also travel encrypted (RFC 8915 section 5.7); they too must match the cookie.
	for off := 0; off < len(pt); {
		typ, flen, ok := innerField(pt[off:])
		if !ok {
			p.Release(x)
			p.st.dropLayout.Add(1)
			return nil, Drop
		}
		if typ == FieldCookiePlaceholder {
			if flen-wire.ExtHeaderLen != len(cookie) {
				p.Release(x)
				p.st.dropLayout.Add(1)
				return nil, Drop
			}
			placeholders++
		}
		off += flen
	}

	if !cached {
		if s2c, err = NewAEAD(keys.AEAD, keys.S2C()); err != nil { // unreachable, as for c2s
			p.Release(x)
			p.st.nakCookie.Add(1)
			return nil, Drop
		}
		if p.sessions != nil {
			p.sessions.put(&keys, hash, c2s, s2c)
		}
	}
	x.s2c = s2c
	uidField := wire.ExtHeaderLen + len(uid)
	ns := x.s2c.NonceSize()
	cookieField := wire.ExtHeaderLen + ks.CookieLen(keys.AEAD)
	n := min(1+placeholders, p.maxCookies)
	for ; n >= 0; n-- {
		if x.replyLen = wire.HeaderLen + uidField + authFieldLen(ns, n*cookieField); x.replyLen <= len(req) {
			break
		}
	}
	if n < 0 {
		p.Release(x)
		p.st.dropNoRoom.Add(1)
		return nil, Drop
	}
	// Pad the reply to the request's length, as chrony does, so that both directions take equally long on
	// the wire; the padding goes into the authenticator, whose length word caps it.
	x.replyLen += min(len(req)-x.replyLen, wire.MaxExtLen-authFieldLen(ns, n*cookieField))
	mns := ks.current().aead.NonceSize()
	x.rnd = grow(x.rnd, ns+n*mns)
	if err := p.random(x.rnd); err != nil {
		p.Release(x)
		p.st.dropEntropy.Add(1)
		return nil, Drop
	}
	copy(x.nonce[:], x.rnd[:ns])
	x.fields = x.fields[:0]
	for i := range n {
		start := len(x.fields)
		x.fields = append(x.fields, 0, 0, 0, 0)
		x.fields, err = ks.appendCookie(x.fields, &keys, x.rnd[ns+i*mns:ns+(i+1)*mns], &x.sc, &x.scratch)
		if err != nil { // unreachable: the algorithm and nonce were checked above, and the set seals (usable)
			p.Release(x)
			p.st.dropNoRoom.Add(1)
			return nil, Drop
		}
		binary.BigEndian.PutUint16(x.fields[start:], FieldCookie)
		binary.BigEndian.PutUint16(x.fields[start+2:], uint16(len(x.fields)-start))
	}
	p.st.authentic.Add(1)
	return x, Authentic
}

// authFieldLen is the length of an authenticator field for a nonce of ns bytes and pt bytes of plaintext.
func authFieldLen(ns, pt int) int {
	return wire.ExtHeaderLen + 4 + max(pad4(ns), minNonceFieldFor(ns)) + pad4(pt+TagLen)
}

func minNonceFieldFor(ns int) int { return min(minNonceField, max(ns, 12)) }

func pad4(n int) int { return (n + 3) &^ 3 }

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// innerField reads the header of an extension field inside decrypted plaintext.
func innerField(b []byte) (typ uint16, length int, ok bool) {
	if len(b) < wire.ExtHeaderLen {
		return 0, 0, false
	}
	length = int(binary.BigEndian.Uint16(b[2:]))
	if length < wire.ExtHeaderLen || length%4 != 0 || length > len(b) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(b), length, true
}

// The NTS Authenticator and Encrypted Extension Fields field (RFC 8915 section 5.6):
//
//	+-------------------------------+-------------------------------+
//	|  Field Type 0x0404            |  Length                       |
//	+-------------------------------+-------------------------------+
//	|  Nonce Length                 |  Ciphertext Length            |
//	+-------------------------------+-------------------------------+
//	.  Nonce, padded to a multiple of 4                             .
//	.  Ciphertext, padded to a multiple of 4                        .
//	.  Additional Padding (so that at least 16 bytes hold the nonce)  .
//	+---------------------------------------------------------------+
//
// The associated data is the packet from its first byte up to this field.

// openAuthenticator verifies the authenticator at off in pkt and returns the decrypted extension fields
// (in *scratch).
func openAuthenticator(a AEAD, sc *scratch, pkt []byte, off int, scratch *[]byte) ([]byte, bool) {
	f := pkt[off:]
	body := f[wire.ExtHeaderLen:]
	if len(body) < 4 {
		return nil, false
	}
	nl := int(binary.BigEndian.Uint16(body))
	cl := int(binary.BigEndian.Uint16(body[2:]))
	if nl < 1 || cl < TagLen || 4+max(pad4(nl), minNonceFieldFor(a.NonceSize()))+pad4(cl) > len(body) {
		return nil, false
	}
	nonce := body[4 : 4+nl]
	ct := body[4+pad4(nl) : 4+pad4(nl)+cl]
	*scratch = grow(*scratch, cl)
	pt, err := openWith(a, sc, (*scratch)[:0], nonce, ct, pkt[:off])
	return pt, err == nil
}

// appendAuthenticator appends an authenticator field sealing pt with a and nonce to pkt, which is the
// associated data; padding brings the field to at least minLen bytes.
func appendAuthenticator(pkt []byte, a AEAD, nonce, pt []byte, minLen int) []byte {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return appendAuthenticatorWith(pkt, a, sc, nonce, pt, minLen)
}

// appendAuthenticatorWith is appendAuthenticator with the caller's AEAD scratch.
func appendAuthenticatorWith(pkt []byte, a AEAD, sc *scratch, nonce, pt []byte, minLen int) []byte {
	ns := len(nonce)
	flen := max(authFieldLen(ns, len(pt)), pad4(minLen))
	start := len(pkt)
	pkt = binary.BigEndian.AppendUint16(pkt, FieldAuthenticator)
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(flen))
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(ns))
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(len(pt)+TagLen))
	pkt = append(pkt, nonce...)
	pkt = appendZeros(pkt, pad4(ns)-ns)
	pkt = sealWith(a, sc, pkt, nonce, pt, pkt[:start])
	return appendZeros(pkt, start+flen-len(pkt))
}

func appendZeros(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, 0)
	}
	return b
}

// ReplyLen returns the length Reply will produce: never more than the request's.
func (x *Exchange) ReplyLen() int { return x.replyLen }

// Reply completes an authentic reply: resp[:n] holds the finished 48-byte header (transmit timestamp
// included, since it is authenticated); Reply appends the Unique Identifier and the authenticator with the
// fresh cookies encrypted, padded so that the reply is exactly as long as the request, and returns the
// reply's length. resp must have room for ReplyLen() bytes; resp[n:] is overwritten.
func (x *Exchange) Reply(resp []byte, n int) (int, error) {
	if n != wire.HeaderLen || len(resp) < x.replyLen || x.s2c == nil {
		return 0, fmt.Errorf("nts.Exchange.Reply: header %d bytes, buffer %d, need %d", n, len(resp), x.replyLen)
	}
	out, err := wire.AppendField(resp[:n], FieldUniqueID, x.uid)
	if err != nil {
		return 0, fmt.Errorf("nts.Exchange.Reply: %w", err)
	}
	out = appendAuthenticatorWith(out, x.s2c, &x.sc, x.nonce[:x.s2c.NonceSize()], x.fields, x.replyLen-len(out))
	if len(out) != x.replyLen || &out[0] != &resp[0] { // unreachable: sizes were computed in Open
		return 0, fmt.Errorf("nts.Exchange.Reply: built %d bytes, planned %d", len(out), x.replyLen)
	}
	return len(out), nil
}

// AppendNAK completes an NTS NAK: resp[:n] holds the kiss-o'-death header (kiss code NTSN); AppendNAK adds
// the echo of the Unique Identifier, which is all a NAK carries (RFC 8915 section 5.7), and returns the
// length, which is less than the request's.
func (x *Exchange) AppendNAK(resp []byte, n int) (int, error) {
	if n != wire.HeaderLen || len(resp) < n+wire.ExtHeaderLen+len(x.uid) {
		return 0, fmt.Errorf("nts.Exchange.AppendNAK: header %d bytes, buffer %d", n, len(resp))
	}
	out, err := wire.AppendField(resp[:n], FieldUniqueID, x.uid)
	if err != nil {
		return 0, fmt.Errorf("nts.Exchange.AppendNAK: %w", err)
	}
	return len(out), nil
}

// Release returns x to the pool, wiping what it held.
func (p *Processor) Release(x *Exchange) {
	if x == nil {
		return
	}
	x.uid, x.s2c, x.reqLen, x.replyLen = x.uid[:0], nil, 0, 0
	clear(x.fields)
	clear(x.scratch)
	clear(x.nonce[:])
	x.sc = scratch{}
	x.fields = x.fields[:0]
	p.pool.Put(x)
}
