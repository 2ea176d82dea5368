package ntpserve

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// The rate limiter is a token bucket per client held in a fixed-size, set-associative table:
//
//	table = shards x buckets x ways
//	shard  = keyed hash's top bits   (one mutex each: goroutines on different shards never contend)
//	bucket = keyed hash's low bits   (limWays slots; a client can live only in its bucket)
//
// Memory is allocated once, in newLimiter, and never grows: a flood of new source addresses can only
// replace entries, never add them. When a client's bucket is full, the entry that carries the least
// information is replaced: the one with the most credit after refilling to now. An entry whose credit is
// full is exactly equivalent to no entry, so replacing it loses nothing; this is the fate of every client
// that stays within its limit, once a fraction of a second has passed. The entries that survive a flood
// are the ones in debt, i.e. the clients being limited. An attacker rotating source addresses therefore
// cannot flush a limited client (for example the spoofed victim of a reflection attack) out of the table
// unless it fills the victim's bucket with entries deeper in debt, which takes more than Burst requests per
// fake address and knowledge of the bucket, which the per-process random hash key keeps secret.
// Legitimate clients are not starved either: a client that finds no entry starts with a full bucket.
//
// Credit is kept in nanoseconds of allowance: each request costs interval (1/Rate) and credit refills at
// one nanosecond per nanosecond up to capacity (Burst x interval). Time comes from the packets' receive
// timestamps. It may step backwards (the served clock can be stepped, sockets deliver out of order); a
// backwards step refills nothing and re-anchors the entry, so it never creates debt and never freezes
// the limiter until time catches up.

const (
	limShards = 256 // a power of two; with a handful of goroutines, two rarely want one shard at once
	limWays   = 4   // slots per bucket: 4 x 48 bytes, three cache lines scanned per lookup
)

type limEntry struct {
	hi, lo  uint64 // client key: the address masked to its aggregation prefix, as 16 bytes
	last    int64  // receive time of the last request charged to this entry
	credit  int64  // allowance in ns at last, in [0, capacity]
	kodAt   int64  // receive time of the last KoD sent, valid if kodSent
	used    bool
	kodSent bool
}

type limBucket [limWays]limEntry

type limShard struct {
	mu        sync.Mutex
	buckets   []limBucket
	used      uint64 // entries in use
	evictions uint64 // entries replaced to make room
	// Pad to two cache lines so that two shards' mutexes never share one (false sharing between cores).
	_ [128 - 8 - 24 - 16]byte
}

type limiter struct {
	interval    int64 // ns of credit one request costs
	capacity    int64 // burst * interval
	kodInterval int64
	v6bits      int
	seed        maphash.Seed
	shardShift  uint   // hash >> shardShift selects the shard
	bucketMask  uint64 // hash & bucketMask selects the bucket
	shards      []limShard
}

// newLimiter builds a limiter with room for at least clients entries spread over nShards shards (a power
// of two; tests use 1 to make every client collide).
func newLimiter(rate float64, burst, v6bits, clients int, kodInterval time.Duration, nShards int) *limiter {
	interval := int64(float64(time.Second)/rate + 0.5)
	if interval < 1 {
		interval = 1
	}
	perShard := max(1, (clients+nShards*limWays-1)/(nShards*limWays)) // buckets per shard, rounded up
	nBuckets := 1 << bits.Len(uint(perShard-1))                       // round up to a power of two
	l := &limiter{
		interval:    interval,
		capacity:    int64(burst) * interval,
		kodInterval: int64(kodInterval),
		v6bits:      v6bits,
		seed:        maphash.MakeSeed(),
		shardShift:  uint(64 - bits.TrailingZeros(uint(nShards))), // 64 for one shard: h >> 64 is 0 in Go
		bucketMask:  uint64(nBuckets - 1),
		shards:      make([]limShard, nShards),
	}
	for i := range l.shards {
		l.shards[i].buckets = make([]limBucket, nBuckets)
	}
	return l
}

// capacitySlots is the number of entries the table holds.
func (l *limiter) capacitySlots() int { return len(l.shards) * len(l.shards[0].buckets) * limWays }

// key maps a client address (16-byte form, IPv4 as IPv4-mapped) to its limiter key: IPv4 per address,
// IPv6 per prefix.
func (l *limiter) key(a16 [16]byte, is4 bool) (hi, lo uint64) {
	hi = binary.BigEndian.Uint64(a16[:8])
	lo = binary.BigEndian.Uint64(a16[8:])
	if is4 {
		return hi, lo
	}
	if l.v6bits >= 64 {
		lo &= ^uint64(0) << (128 - l.v6bits) // a shift by 64 (v6bits 64) clears lo
	} else {
		hi &= ^uint64(0) << (64 - l.v6bits)
		lo = 0
	}
	return hi, lo
}

// admit charges one request from the client with key (hi, lo) at now. It reports whether the request is
// within the limit and, when it is not, whether a KoD is due to this client.
func (l *limiter) admit(hi, lo uint64, now int64) (ok, kod bool) {
	var kb [16]byte
	binary.BigEndian.PutUint64(kb[:8], hi)
	binary.BigEndian.PutUint64(kb[8:], lo)
	h := maphash.Bytes(l.seed, kb[:])
	sh := &l.shards[(h>>l.shardShift)&uint64(len(l.shards)-1)]

	sh.mu.Lock()
	b := &sh.buckets[h&l.bucketMask]
	e := l.find(sh, b, hi, lo, now)
	e.credit = l.refill(e, now)
	e.last = now // forwards; or a backwards step, which re-anchors the entry (see above)
	if e.credit >= l.interval {
		e.credit -= l.interval
		sh.mu.Unlock()
		return true, false
	}
	switch {
	case !e.kodSent:
		kod = true
	case now < e.kodAt:
		e.kodAt = now // time stepped back: count the interval from here
	case uint64(now)-uint64(e.kodAt) >= uint64(l.kodInterval):
		kod = true
	}
	if kod {
		e.kodSent, e.kodAt = true, now
	}
	sh.mu.Unlock()
	return false, kod
}

// find returns the entry for (hi, lo) in b, claiming a slot (an empty one, else the least informative)
// for a client not yet tracked. Called with the shard's lock held.
func (l *limiter) find(sh *limShard, b *limBucket, hi, lo uint64, now int64) *limEntry {
	empty, victim := -1, -1
	var victimCredit int64
	for i := range b {
		e := &b[i]
		if !e.used {
			if empty < 0 {
				empty = i
			}
			continue
		}
		if e.hi == hi && e.lo == lo {
			return e
		}
		c := l.refill(e, now)
		if victim < 0 || c > victimCredit || (c == victimCredit && e.last < b[victim].last) {
			victim, victimCredit = i, c
		}
	}
	if empty >= 0 {
		victim = empty
		sh.used++
	} else {
		sh.evictions++
	}
	e := &b[victim]
	*e = limEntry{hi: hi, lo: lo, last: now, credit: l.capacity, used: true}
	return e
}

// refill returns e's credit brought forward to now, without overflow for any pair of int64 instants.
func (l *limiter) refill(e *limEntry, now int64) int64 {
	c := e.credit
	if now > e.last {
		elapsed := uint64(now) - uint64(e.last) // exact: now > last
		if elapsed >= uint64(l.capacity-c) {
			return l.capacity
		}
		c += int64(elapsed)
	}
	return c
}

// stats returns the number of entries in use and the number of evictions so far.
func (l *limiter) stats() (used, evictions uint64) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		used += sh.used
		evictions += sh.evictions
		sh.mu.Unlock()
	}
	return used, evictions
}
