package nts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// SessionKeys are the two keys of one NTS association and their algorithm: what a cookie carries.
type SessionKeys struct {
	AEAD     AlgorithmID
	c2s, s2c [64]byte
}

// NewSessionKeys copies c2s and s2c, which must both have alg.KeyLen() bytes.
func NewSessionKeys(alg AlgorithmID, c2s, s2c []byte) (SessionKeys, error) {
	var k SessionKeys
	kl := alg.KeyLen()
	if !alg.Supported() {
		return k, fmt.Errorf("nts.NewSessionKeys(%v): %w", alg, ErrAlgorithm)
	}
	if len(c2s) != kl || len(s2c) != kl {
		return k, fmt.Errorf("nts.NewSessionKeys(%v, %d, %d bytes): %w", alg, len(c2s), len(s2c), ErrKeyLen)
	}
	k.AEAD = alg
	copy(k.c2s[:], c2s)
	copy(k.s2c[:], s2c)
	return k, nil
}

// C2S returns the client-to-server key (aliases k).
func (k *SessionKeys) C2S() []byte { return k.c2s[:k.AEAD.KeyLen()] }

// S2C returns the server-to-client key (aliases k).
func (k *SessionKeys) S2C() []byte { return k.s2c[:k.AEAD.KeyLen()] }

// MasterKey is one server key that seals cookies.
type MasterKey struct {
	ID      uint32
	Created timebase.Instant
	AEAD    AlgorithmID
	Key     []byte
}

// KeyPolicy says how master keys are made and rotated.
type KeyPolicy struct {
	// Rotation is how long a key seals new cookies (default 24 h).
	Rotation time.Duration
	// Lifetime is how long cookies stay valid after their key stopped sealing (default 48 h): a client
	// that has not talked to us for longer must redo NTS-KE.
	Lifetime time.Duration
	// AEAD seals cookies (default AES-256-GCM; any algorithm NewAEAD makes).
	AEAD AlgorithmID
}

func (p KeyPolicy) withDefaults() KeyPolicy {
	if p.Rotation == 0 {
		p.Rotation = 24 * time.Hour
	}
	if p.Lifetime == 0 {
		p.Lifetime = 48 * time.Hour
	}
	if p.AEAD == 0 {
		p.AEAD = AES256GCM
	}
	return p
}

// Validate checks the policy.
func (p KeyPolicy) Validate() error {
	p = p.withDefaults()
	if p.Rotation < time.Minute || p.Lifetime < 0 || p.Lifetime > 30*24*time.Hour {
		return fmt.Errorf("nts.KeyPolicy: rotation %v (at least 1m) or lifetime %v (0..720h) out of range", p.Rotation, p.Lifetime)
	}
	if p.AEAD.KeyLen() == 0 {
		return fmt.Errorf("nts.KeyPolicy: %w", ErrAlgorithm)
	}
	return nil
}

// maxMasterKeys bounds a key set: rotation at least a minute, lifetime at most 30 days would allow more, but
// a set only keeps keys that can still open cookies, and Rotate drops the oldest beyond this.
const maxMasterKeys = 64

// KeySet is an immutable set of master keys: the newest seals cookies, all open them. Rotate returns a new
// set; publish it with Processor.SetKeys. Its methods are safe for concurrent use.
type KeySet struct {
	policy KeyPolicy
	keys   []masterKey // oldest first; the last one seals
}

type masterKey struct {
	MasterKey
	aead AEAD
	// sealed counts the cookies this key sealed in this process. Sets made by Rotate share it (a pointer),
	// so the count follows the key. It is nil for a key read by UnmarshalKeySet: another process may have
	// sealed with it, so an AES-256-GCM key that comes from storage never seals again (see exhausted).
	sealed *atomic.Uint64
}

// gcmSealLimit is how many cookies one AES-256-GCM master key seals before it must be replaced. Its nonces
// are random (96 bits), and q of them repeat with probability below q*q/2^97; NIST SP 800-38D caps such
// keys at 2^32 messages. Rotate replaces a key at 2^31, and RotateKeys (ntske) checks at least hourly,
// which at the most cookies this server can seal (about a million a second) stays below 2^33 and so the
// chance of a repeat below 2^-31. A repeat would not expose other clients' cookies anyway: it would let the
// attacker who holds both cookies forge cookies under that key, with session keys of its own choosing,
// which a handshake gives anybody.
const gcmSealLimit = 1 << 31

// exhausted reports whether the key must not seal any more cookies, or only until Rotate replaces it.
func (m *masterKey) exhausted() bool {
	if m.AEAD != AES256GCM {
		return false // AES-SIV is nonce-misuse resistant: a repeated random nonce reveals only equality
	}
	return m.sealed == nil || m.sealed.Load() >= gcmSealLimit
}

// usable reports whether the set's newest key may seal cookies: ErrKeyNotSealing for an AES-256-GCM key
// read from storage, which Rotate replaces.
func (ks *KeySet) usable() error {
	if m := ks.current(); m.AEAD == AES256GCM && m.sealed == nil {
		return fmt.Errorf("key %08x: %w", m.ID, ErrKeyNotSealing)
	}
	return nil
}

// ErrKeyNotSealing: the sealing key of the set was read from storage and is AES-256-GCM, so it may only
// open cookies (see masterKey.sealed); call Rotate, as ntske.LoadKeySet does, to get a fresh one.
var ErrKeyNotSealing = errors.New("nts: the newest master key came from storage and may not seal: rotate the key set")

// Errors about cookies and key sets.
var (
	ErrCookie      = errors.New("nts: cookie cannot be opened") // unknown key (expired), forged or malformed
	ErrKeySetBytes = errors.New("nts: malformed key set")
)

// NewKeySet returns a set with one fresh key created at now.
func NewKeySet(p KeyPolicy, now timebase.Instant, rand io.Reader) (*KeySet, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ks := &KeySet{policy: p.withDefaults()}
	return ks.withNewKey(now, rand)
}

func (ks *KeySet) withNewKey(now timebase.Instant, rand io.Reader) (*KeySet, error) {
	alg := ks.policy.AEAD
	key := make([]byte, alg.KeyLen())
	var idb [4]byte
	for {
		if _, err := io.ReadFull(rand, key); err != nil {
			return nil, fmt.Errorf("nts: reading a master key: %w", err)
		}
		if _, err := io.ReadFull(rand, idb[:]); err != nil {
			return nil, fmt.Errorf("nts: reading a key id: %w", err)
		}
		id := binary.BigEndian.Uint32(idb[:])
		if ks.find(id) == nil {
			next := &KeySet{policy: ks.policy}
			next.keys = append(append(next.keys, ks.keys...), masterKey{})
			mk, err := newMasterKey(MasterKey{ID: id, Created: now, AEAD: alg, Key: key})
			if err != nil {
				return nil, err
			}
			mk.sealed = new(atomic.Uint64)
			next.keys[len(next.keys)-1] = mk
			return next, nil
		}
	}
}

func newMasterKey(k MasterKey) (masterKey, error) {
	a, err := NewAEAD(k.AEAD, k.Key)
	if err != nil {
		return masterKey{}, fmt.Errorf("nts: master key %08x: %w", k.ID, err)
	}
	return masterKey{MasterKey: k, aead: a}, nil
}

func (ks *KeySet) find(id uint32) *masterKey {
	for i := range ks.keys {
		if ks.keys[i].ID == id {
			return &ks.keys[i]
		}
	}
	return nil
}

// Policy returns the set's policy, defaults filled in.
func (ks *KeySet) Policy() KeyPolicy { return ks.policy }

// Keys returns copies of the master keys, oldest first.
func (ks *KeySet) Keys() []MasterKey {
	out := make([]MasterKey, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = k.MasterKey
		out[i].Key = append([]byte(nil), k.Key...)
	}
	return out
}

// NextRotation returns when Rotate will next change the set: the newest key's creation time when that
// key must already be replaced (an AES-256-GCM key from storage, or one that sealed gcmSealLimit cookies).
func (ks *KeySet) NextRotation() timebase.Instant {
	cur := ks.current()
	if cur.exhausted() {
		return cur.Created
	}
	return cur.Created.Add(ks.policy.Rotation)
}

// Rotate returns the set as it should be at now: with a fresh sealing key if the current one is Rotation
// old, and without keys that stopped sealing more than Lifetime ago. If nothing changes it returns ks.
// A clock step backwards never removes keys; it delays the next rotation.
func (ks *KeySet) Rotate(now timebase.Instant, rand io.Reader) (*KeySet, error) {
	next := ks
	if now >= ks.NextRotation() || ks.current().exhausted() {
		var err error
		// An exhausted key is replaced whatever the clock says; after a step backwards the new key still
		// carries a creation time no earlier than the old one's, so that the set stays in order.
		if next, err = ks.withNewKey(max(now, ks.current().Created), rand); err != nil {
			return ks, err
		}
	}
	// Key i sealed until key i+1 was created, or until it was Rotation old if the server was not running
	// then; it opens cookies for Lifetime after that.
	drop := 0
	for i := 0; i < len(next.keys)-1; i++ {
		sealEnd := min(next.keys[i+1].Created, next.keys[i].Created.Add(next.policy.Rotation))
		if now.Sub(sealEnd) > next.policy.Lifetime {
			drop = i + 1
		}
	}
	drop = max(drop, len(next.keys)-maxMasterKeys)
	if drop > 0 {
		next = &KeySet{policy: next.policy, keys: append([]masterKey(nil), next.keys[drop:]...)}
	}
	return next, nil
}

// Cookie layout, all ours to choose (RFC 8915 section 6 only suggests one):
//
//	+---------------+--------------------+-------------------------------------------+
//	| key id (4)    | nonce (12, or 16)  | sealed: AEAD id (2) | 0 (2) | C2S | S2C   |
//	+---------------+--------------------+-------------------------------------------+
//
// The key id travels in the clear so that the right master key can be found; it is also the sealing's
// associated data, so it cannot be swapped. The nonce is random: a counter would be unique for free but
// would let an observer link the cookies of one client across its addresses, which NTS exists to prevent
// (RFC 8915 section 10.1). The two zero bytes keep every cookie length a multiple of 4 (chrony rejects
// others): 100 bytes for AES-SIV-CMAC-256 sessions under an AES-256-GCM master key (the sealed part is
// ciphertext | tag), 104 under an AES-SIV-CMAC-256 one (synthetic IV | ciphertext).
const cookiePlainHeader = 4

// CookieLen returns the length of a cookie for a session of alg sealed by the current master key.
func (ks *KeySet) CookieLen(alg AlgorithmID) int {
	m := ks.keys[len(ks.keys)-1].aead
	return 4 + m.NonceSize() + cookiePlainHeader + 2*alg.KeyLen() + m.Overhead()
}

func (ks *KeySet) current() *masterKey { return &ks.keys[len(ks.keys)-1] }

// AppendCookie seals k with the current master key and appends the cookie to dst; nonce must hold at least
// the master AEAD's nonce size in random bytes (16 covers every algorithm; extra bytes are ignored).
func (ks *KeySet) AppendCookie(dst []byte, k *SessionKeys, nonce []byte) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var scratch []byte
	return ks.appendCookie(dst, k, nonce, sc, &scratch)
}

// appendCookie is AppendCookie with a caller's scratch buffer, so that the hot path does not allocate.
func (ks *KeySet) appendCookie(dst []byte, k *SessionKeys, nonce []byte, sc *scratch, scratch *[]byte) ([]byte, error) {
	kl := k.AEAD.KeyLen()
	if kl == 0 {
		return dst, fmt.Errorf("nts.KeySet.AppendCookie: %w", ErrAlgorithm)
	}
	m := ks.current()
	ns := m.aead.NonceSize()
	if len(nonce) < ns {
		return dst, fmt.Errorf("nts.KeySet.AppendCookie: %d-byte nonce: %w", len(nonce), ErrNonce)
	}
	if m.AEAD == AES256GCM {
		// Past gcmSealLimit the key goes on sealing until the next Rotate: refusing would let a client
		// that spends cookies fast enough stop NTS for everybody until then.
		if m.sealed == nil {
			return dst, fmt.Errorf("nts.KeySet.AppendCookie: key %08x: %w", m.ID, ErrKeyNotSealing)
		}
		m.sealed.Add(1)
	}
	pt := grow(*scratch, cookiePlainHeader+2*kl)
	*scratch = pt
	binary.BigEndian.PutUint16(pt[:2], uint16(k.AEAD))
	pt[2], pt[3] = 0, 0
	copy(pt[cookiePlainHeader:], k.c2s[:kl])
	copy(pt[cookiePlainHeader+kl:], k.s2c[:kl])
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, m.ID)
	dst = append(dst, nonce[:ns]...)
	if g, ok := m.aead.(*gcm); ok {
		dst = g.Seal(dst, nonce[:ns], pt, dst[start:start+4])
	} else {
		dst = sealWith(m.aead, sc, dst, nonce[:ns], pt, dst[start:start+4])
	}
	clear(pt)
	return dst, nil
}

// OpenCookie returns the session keys sealed in cookie. Any failure (a key no longer in the set, a forged
// or truncated cookie) is ErrCookie: the server answers them all with an NTS NAK.
func (ks *KeySet) OpenCookie(cookie []byte) (SessionKeys, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var scratch []byte
	return ks.openCookie(cookie, sc, &scratch)
}

func (ks *KeySet) openCookie(cookie []byte, sc *scratch, scratch *[]byte) (SessionKeys, error) {
	var k SessionKeys
	if len(cookie) < 4 {
		return k, ErrCookie
	}
	m := ks.find(binary.BigEndian.Uint32(cookie))
	if m == nil {
		return k, ErrCookie
	}
	ns := m.aead.NonceSize()
	over := 4 + ns + m.aead.Overhead() + cookiePlainHeader
	if len(cookie) < over || len(cookie) > over+128 {
		return k, ErrCookie
	}
	var pt []byte
	var err error
	if g, ok := m.aead.(*gcm); ok {
		// crypto/cipher's GCM is reached through an interface, which would make the request holding the
		// cookie escape to the heap; a copy in the scratch buffer goes instead.
		buf := grow(*scratch, 2*len(cookie))
		*scratch = buf
		c := buf[len(cookie):]
		copy(c, cookie)
		pt, err = g.Open(buf[:0], c[4:4+ns], c[4+ns:], c[:4])
	} else {
		buf := grow(*scratch, len(cookie))
		*scratch = buf
		pt, err = openWith(m.aead, sc, buf[:0], cookie[4:4+ns], cookie[4+ns:], cookie[:4])
	}
	if err != nil {
		return k, ErrCookie
	}
	defer clear(pt)
	alg := AlgorithmID(binary.BigEndian.Uint16(pt))
	kl := alg.KeyLen()
	if !alg.Supported() || len(pt) != cookiePlainHeader+2*kl || pt[2] != 0 || pt[3] != 0 {
		return k, ErrCookie
	}
	k.AEAD = alg
	copy(k.c2s[:], pt[cookiePlainHeader:cookiePlainHeader+kl])
	copy(k.s2c[:], pt[cookiePlainHeader+kl:])
	return k, nil
}

// Key set persistence. The file is binary, versioned and checksummed (CRC-32C, against a torn or damaged
// file; integrity against an attacker comes from the file's mode and place):
//
//	"GPSNTSK1" | count (1) | count x { id (4) | created ns (8) | AEAD (2) | key length (2) | key } | CRC-32C (4)
const keySetMagic = "GPSNTSK1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the set for persistence.
func (ks *KeySet) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), keySetMagic...)
	b = append(b, byte(len(ks.keys)))
	for _, k := range ks.keys {
		b = binary.BigEndian.AppendUint32(b, k.ID)
		b = binary.BigEndian.AppendUint64(b, uint64(k.Created))
		b = binary.BigEndian.AppendUint16(b, uint16(k.AEAD))
		b = binary.BigEndian.AppendUint16(b, uint16(len(k.Key)))
		b = append(b, k.Key...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalKeySet decodes a set that MarshalBinary encoded and applies p to it. Keys are kept as they were
// (a change of p.AEAD takes effect at the next rotation).
func UnmarshalKeySet(b []byte, p KeyPolicy) (*KeySet, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	fail := func(what string) (*KeySet, error) {
		return nil, fmt.Errorf("nts.UnmarshalKeySet: %s: %w", what, ErrKeySetBytes)
	}
	if len(b) < len(keySetMagic)+1+4 || string(b[:len(keySetMagic)]) != keySetMagic {
		return fail("no header")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fail("checksum mismatch")
	}
	n := int(body[len(keySetMagic)])
	rest := body[len(keySetMagic)+1:]
	if n == 0 || n > maxMasterKeys {
		return fail(fmt.Sprintf("%d keys", n))
	}
	ks := &KeySet{policy: p.withDefaults()}
	for range n {
		if len(rest) < 16 {
			return fail("truncated key")
		}
		k := MasterKey{
			ID:      binary.BigEndian.Uint32(rest),
			Created: timebase.Instant(binary.BigEndian.Uint64(rest[4:])),
			AEAD:    AlgorithmID(binary.BigEndian.Uint16(rest[12:])),
		}
		kl := int(binary.BigEndian.Uint16(rest[14:]))
		rest = rest[16:]
		if kl != k.AEAD.KeyLen() || len(rest) < kl {
			return fail(fmt.Sprintf("key %08x: algorithm %v with %d-byte key", k.ID, k.AEAD, kl))
		}
		if ks.find(k.ID) != nil {
			return fail(fmt.Sprintf("duplicate key id %08x", k.ID))
		}
		if len(ks.keys) > 0 && k.Created < ks.keys[len(ks.keys)-1].Created {
			return fail("keys out of order")
		}
		k.Key = append([]byte(nil), rest[:kl]...)
		rest = rest[kl:]
		mk, err := newMasterKey(k)
		if err != nil {
			return nil, fmt.Errorf("nts.UnmarshalKeySet: %w", err)
		}
		ks.keys = append(ks.keys, mk)
	}
	if len(rest) != 0 {
		return fail("trailing bytes")
	}
	return ks, nil
}
