package nts

import (
	"crypto/subtle"
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
)

// The session cache keeps the two AEADs of recently authenticated sessions, so that a client, which sends
// every request of its session with the same C2S and S2C keys (only the cookie around them changes), pays
// AES key expansion and the CMAC subkeys once rather than on every request.
//
// It is a set-associative table of fixed size: a seeded hash of AEAD id | C2S (see hash) picks a set of
// cacheWays slots; a hit compares the whole keys; a miss builds the AEADs exactly as an uncached request
// would and, once the request's authenticator has verified, stores them over a slot chosen by CLOCK (a
// slot hit since the hand last passed gets a second chance), so that a burst of one-off sessions does not
// push out the clients that keep coming back.
//
// Concurrency: a slot is an atomic pointer to an immutable entry. Readers load it, writers replace it;
// nothing is locked and nothing in an entry changes after it is published except its "referenced" flag.
// The AEADs in an entry are shared by concurrent requests, which is safe because they hold only key
// material: crypto/aes blocks are safe for concurrent use and every message's scratch comes from a pool.
//
// Memory bound: slots are allocated up front (8 bytes each); entries as sessions arrive, at most one per
// slot (plus entries still held by requests in flight after their eviction). An entry is about 2.4 KiB
// (four crypto/aes blocks of 512 bytes, the two AEAD structs, the keys), so the default 2048 slots bound
// the cache at about 5 MiB.
//
// Timing: the set index comes from maphash under a seed drawn at start-up and never revealed, so which set
// (and which cache lines) a session uses says nothing useful about its keys; keys are compared with
// crypto/subtle in constant time. What a hit does reveal, by answering about a microsecond faster, is that
// the same keys were used recently: someone who captures two requests, evicts the cache with sessions of
// their own and replays both could learn that they came from one session. Replays are answered anyway
// (NTS leaves replay detection to the client) and the ciphertexts of one session already share a
// client-chosen Unique Identifier length and address, so this adds little; a deployment that wants none
// of it sets ProcessorConfig.SessionCache to -1.
type sessionCache struct {
	seed maphash.Seed
	mask uint64 // len(sets) - 1
	sets []cacheSet
}

// cacheWays is the associativity: a lookup compares at most this many hashes.
const cacheWays = 4

// DefaultSessionCache is the number of cached sessions when ProcessorConfig.SessionCache is 0.
const DefaultSessionCache = 2048

// maxSessionCache bounds ProcessorConfig.SessionCache (about 160 MiB of entries).
const maxSessionCache = 1 << 16

type cacheSet struct {
	ways [cacheWays]atomic.Pointer[sessionEntry]
	hand atomic.Uint32
}

// sessionEntry is immutable once published, apart from ref.
type sessionEntry struct {
	hash     uint64
	alg      AlgorithmID
	c2sKey   [64]byte
	s2cKey   [64]byte
	c2s, s2c AEAD
	ref      atomic.Bool // hit since the CLOCK hand last passed
}

// newSessionCache returns a cache of at least n slots (rounded up to a power of two), or nil for n <= 0.
func newSessionCache(n int) *sessionCache {
	if n <= 0 {
		return nil
	}
	sets := 1
	for sets*cacheWays < n {
		sets *= 2
	}
	return &sessionCache{seed: maphash.MakeSeed(), mask: uint64(sets - 1), sets: make([]cacheSet, sets)}
}

// hash of AEAD id | the first 16 bytes of C2S. The keys are exported from a TLS session, so neither
// client nor attacker chooses them: 128 of their bits spread sessions as well as all of them would.
// Hashing all of them (up to 130 bytes) was 5 % of an authenticated request's time in a CPU profile of
// BenchmarkHandleNTS. A hit still compares the whole keys.
func (c *sessionCache) hash(k *SessionKeys) uint64 {
	var b [2 + 16]byte
	binary.BigEndian.PutUint16(b[:], uint16(k.AEAD))
	copy(b[2:], k.c2s[:16])
	h := maphash.Bytes(c.seed, b[:])
	clear(b[:])
	return h
}

// matches compares the keys in constant time (the algorithm, which is not secret, may branch).
func (e *sessionEntry) matches(k *SessionKeys) bool {
	if e.alg != k.AEAD {
		return false
	}
	kl := k.AEAD.KeyLen()
	c := subtle.ConstantTimeCompare(e.c2sKey[:kl], k.c2s[:kl])
	s := subtle.ConstantTimeCompare(e.s2cKey[:kl], k.s2c[:kl])
	return c&s == 1
}

// get returns the cached entry for k, or nil; h is c.hash(k).
func (c *sessionCache) get(k *SessionKeys, h uint64) *sessionEntry {
	set := &c.sets[h&c.mask]
	for i := range set.ways {
		if e := set.ways[i].Load(); e != nil && e.hash == h && e.matches(k) {
			if !e.ref.Load() { // a store only when it changes: hot entries stay clean in every core's cache
				e.ref.Store(true)
			}
			return e
		}
	}
	return nil
}

// put stores the AEADs of k, replacing the first slot whose entry the CLOCK hand finds unreferenced (or
// the slot under the hand after a full turn). Two requests that miss on the same session at once may both
// store it; the duplicate only costs a slot until it is evicted.
func (c *sessionCache) put(k *SessionKeys, h uint64, c2s, s2c AEAD) {
	e := &sessionEntry{hash: h, alg: k.AEAD, c2s: c2s, s2c: s2c}
	copy(e.c2sKey[:], k.c2s[:k.AEAD.KeyLen()])
	copy(e.s2cKey[:], k.s2c[:k.AEAD.KeyLen()])
	set := &c.sets[h&c.mask]
	for range cacheWays + 1 {
		i := set.hand.Add(1) % cacheWays
		old := set.ways[i].Load()
		if old == nil || !old.ref.Load() || !old.ref.CompareAndSwap(true, false) {
			// Unused, unreferenced, or cleared by another writer since we looked: take it.
			set.ways[i].Store(e)
			return
		}
	}
	set.ways[set.hand.Load()%cacheWays].Store(e)
}
