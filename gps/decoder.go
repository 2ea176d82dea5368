package gps

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DefaultFloor is the week-rollover floor used when Options.Floor is zero: no time a receiver reports can
// be earlier than this release. It is a constant and deliberately not the build machine's clock or the
// commit time: a floor that is too late would shift correct dates by 1024 weeks, one that is a little early
// only narrows the window in which a rollover is recognised.
var DefaultFloor = timebase.Date(2026, time.January, 1, 0, 0, 0, 0)

// Defaults for Options.
const (
	DefaultEpochQuiet    = 150 * time.Millisecond
	DefaultJumpTolerance = 500 * time.Millisecond
	DefaultDateContext   = time.Hour
	DefaultMaxQueue      = 256

	maxSentence   = 512  // longest NMEA sentence accepted, '$' to checksum; the standard says 82, receivers exceed it
	maxUBXPayload = 8192 // longest UBX payload accepted; NAV-SAT with 255 satellites is 3068 bytes
	maxAcks       = 32
	maxMarks      = 64
)

// Options tune a Decoder. The zero value is usable.
type Options struct {
	// Floor is the week-rollover floor: a date before which no valid time can be. Dates a multiple of
	// 1024 weeks before it are moved forward, and two-digit years are read in the century window around
	// it. Zero means DefaultFloor.
	Floor timebase.Instant
	// EpochQuiet: an epoch is complete when this long passes after the last byte with no new data, or as
	// soon as a message for another time arrives. Zero means DefaultEpochQuiet.
	EpochQuiet time.Duration
	// JumpTolerance is how far the time a receiver names may move from the time that elapsed on the
	// receive clock between two epochs before the epoch counts as a time jump. Zero means
	// DefaultJumpTolerance; negative disables this forward check, for replaying logs that have no real
	// receive times (backward steps and repeats are still caught).
	JumpTolerance time.Duration
	// TrustZDA lets a ZDA sentence alone make an epoch valid, for timing receivers that send nothing but
	// ZDA. Off by default: ZDA carries no validity flag, and receivers print their stale RTC time in ZDA
	// on a cold start.
	TrustZDA bool
	// DateContext is how long (on the receive clock) the date of the last valid epoch may be lent to
	// epochs whose sentences carry only a time of day (GGA, GNS, GST). Zero means DefaultDateContext.
	DateContext time.Duration
	// MaxQueue bounds the completed epochs waiting for Next; the oldest are dropped beyond it. Zero means
	// DefaultMaxQueue.
	MaxQueue int
	// ByteTime is one character's time on the line (10 bit times: 1.04 ms at 9600 baud). When set, a
	// byte's receive time is its read's time less the characters that followed it in the read: a read
	// returns when its last byte has arrived, so the first byte of a 32-byte read at 9600 baud came 32 ms
	// earlier. It matters where the sentences' arrival is the time reference (NMEA timing without PPS).
	// Zero: every byte of a read gets the read's time.
	ByteTime time.Duration
}

// Counts are the decoder's running totals, for metrics and the status API. Every NMEA sentence lands in
// exactly one of SentencesOK, BadChecksum, NoChecksum, Malformed, Unknown, and every UBX frame in exactly
// one of UBXOK, UBXBad, UBXMalformed, UBXUnknown.
type Counts struct {
	Bytes        uint64 `json:"bytes"`
	SentencesOK  uint64 `json:"sentences_ok"`  // good sentences decoded and used
	BadChecksum  uint64 `json:"bad_checksum"`  // well-framed sentences whose checksum is wrong: never used
	NoChecksum   uint64 `json:"no_checksum"`   // sentences without a checksum: never used
	Malformed    uint64 `json:"malformed"`     // broken framing (unterminated, binary inside, too long) or absurd fields
	Unknown      uint64 `json:"unknown"`       // good sentences of types the decoder does not use
	UBXOK        uint64 `json:"ubx_ok"`        // good UBX frames decoded and used
	UBXBad       uint64 `json:"ubx_bad"`       // UBX frames with a bad checksum: never used
	UBXMalformed uint64 `json:"ubx_malformed"` // good checksum but a payload that does not fit the message
	UBXUnknown   uint64 `json:"ubx_unknown"`   // good UBX frames of messages the decoder does not use
	OtherBytes   uint64 `json:"other_bytes"`   // bytes outside any frame (other binary protocols, line noise), CR/LF excepted

	Epochs        uint64 `json:"epochs"`
	ValidEpochs   uint64 `json:"valid_epochs"`
	InvalidEpochs uint64 `json:"invalid_epochs"`
	TimeJumps     uint64 `json:"time_jumps"`
	Repeats       uint64 `json:"repeats"`
	Rollovers     uint64 `json:"rollovers"` // epochs whose date was corrected for week rollover
	Conflicts     uint64 `json:"conflicts"`
	Duplicates    uint64 `json:"duplicates"` // exact copies of a once-per-epoch message in one epoch (multiplexers), ignored
	Dropped       uint64 `json:"dropped"`    // completed epochs dropped because nobody called Next
}

// mark records which Write a byte of the pending buffer came from, so each frame gets the receive time of
// its first byte.
type mark struct {
	off  int
	recv timebase.Instant
}

// Decoder turns the byte stream of a GNSS receiver into epochs. It is a pure state machine: bytes and
// receive times go in, epochs come out, and it never reads a clock. It is not safe for concurrent use.
type Decoder struct {
	opt        Options
	floorYear  int
	quiet      time.Duration
	jumpTol    time.Duration
	dateCtxAge time.Duration

	// framing
	buf      []byte // bytes of a frame not yet complete
	marks    []mark // receive times of the bytes in buf
	inPlace  bool   // scanning the caller's slice directly (buf was empty)
	scanLen  int    // length of the data being scanned: where the last read ends
	byteTime time.Duration
	recv     timebase.Instant
	resume   int // how far the pending sentence at buf[0] has been checked already

	// epoch timing
	lastActivity timebase.Instant
	active       bool

	nm    nmeaState
	cur   building
	queue []Epoch
	head  int

	// context carried between epochs
	prev     prevEpoch // the last epoch with a date
	lastGood prevEpoch // the last epoch with a date that was neither a jump nor a repeat
	dateCtx  prevEpoch // the last valid epoch
	leap     Leap
	receiver Receiver
	acks     []Ack

	scratch  obs
	srcCache map[source]string
	counts   Counts
}

type prevEpoch struct {
	ok   bool
	time timebase.Instant
	leap bool
	recv timebase.Instant
}

// NewDecoder returns a decoder with the given options (zero fields take their defaults).
func NewDecoder(opt Options) *Decoder {
	if opt.Floor == 0 {
		opt.Floor = DefaultFloor
	}
	if opt.EpochQuiet <= 0 {
		opt.EpochQuiet = DefaultEpochQuiet
	}
	if opt.JumpTolerance == 0 {
		opt.JumpTolerance = DefaultJumpTolerance
	}
	if opt.DateContext <= 0 {
		opt.DateContext = DefaultDateContext
	}
	if opt.MaxQueue <= 0 {
		opt.MaxQueue = DefaultMaxQueue
	}
	if opt.ByteTime < 0 {
		opt.ByteTime = 0
	}
	d := &Decoder{opt: opt, quiet: opt.EpochQuiet, jumpTol: opt.JumpTolerance, dateCtxAge: opt.DateContext, byteTime: opt.ByteTime}
	d.floorYear, _, _, _ = splitDay(opt.Floor)
	d.nm.init()
	d.cur.reset()
	return d
}

// Options returns the options in effect, defaults filled in.
func (d *Decoder) Options() Options { return d.opt }

// Counts returns a copy of the running totals.
func (d *Decoder) Counts() Counts { return d.counts }

// Receiver returns what the receiver has said about itself so far.
func (d *Decoder) Receiver() Receiver { return d.receiver }

// Leap returns the latest leap-second information from the receiver.
func (d *Decoder) Leap() Leap { return d.leap }

// NextAck returns the oldest UBX ACK-ACK/ACK-NAK not yet taken.
func (d *Decoder) NextAck() (Ack, bool) {
	if len(d.acks) == 0 {
		return Ack{}, false
	}
	a := d.acks[0]
	copy(d.acks, d.acks[1:])
	d.acks = d.acks[:len(d.acks)-1]
	return a, true
}

// Write feeds bytes as read from the receiver; recv is the board-clock time of the read. It never
// panics and resynchronises after garbage: a frame that breaks is counted and scanning resumes at the next
// byte that can start one.
func (d *Decoder) Write(p []byte, recv timebase.Instant) {
	if len(p) == 0 {
		return
	}
	d.counts.Bytes += uint64(len(p))
	if d.active && recv-d.lastActivity >= timebase.Instant(d.quiet) {
		d.closeEpoch()
	}
	d.lastActivity = recv
	d.active = true
	d.recv = recv

	var data []byte
	if len(d.buf) == 0 {
		data = p
		d.inPlace = true
	} else {
		// Marks only matter for frames that start inside a pending one that then breaks; a bounded list
		// keeps byte-at-a-time reads of a long frame linear (later bytes then share the last mark).
		if len(d.marks) < maxMarks {
			d.marks = append(d.marks, mark{off: len(d.buf), recv: recv})
		}
		d.buf = append(d.buf, p...)
		data = d.buf
		d.inPlace = false
	}
	resume := d.resume
	d.resume = 0
	d.scanLen = len(data)
	n := d.scan(data, resume)
	rest := data[n:]
	if len(rest) == 0 {
		d.buf = d.buf[:0]
		d.marks = d.marks[:0]
		return
	}
	if d.inPlace {
		d.buf = append(d.buf[:0], rest...)
		d.marks = append(d.marks[:0], mark{off: 0, recv: recv})
		return
	}
	// Keep the marks that cover rest, shifted to its start.
	k := 0
	for i, m := range d.marks {
		if m.off <= n {
			k = i
		}
	}
	ms := d.marks[k:]
	for i := range ms {
		ms[i].off -= n
		if ms[i].off < 0 {
			ms[i].off = 0
		}
	}
	d.marks = append(d.marks[:0], ms...)
	copy(d.buf, rest)
	d.buf = d.buf[:len(rest)]
}

// recvAt returns the receive time of byte pos of the data being scanned: its read's time, less the
// characters after it in that read when Options.ByteTime is set. (Past maxMarks pending reads, later reads
// share the last mark, and the bytes in them look earlier than they came; only a frame pending across
// that many reads is affected.)
func (d *Decoder) recvAt(pos int) timebase.Instant {
	r, end := d.recv, d.scanLen
	if !d.inPlace {
		for _, m := range d.marks {
			if m.off > pos {
				end = m.off
				break
			}
			r = m.recv
		}
	}
	if d.byteTime > 0 && end > pos {
		r -= timebase.Instant(end-1-pos) * timebase.Instant(d.byteTime)
	}
	return r
}

// Flush completes the open epoch if no data has arrived for EpochQuiet before now.
func (d *Decoder) Flush(now timebase.Instant) {
	if d.active && now-d.lastActivity >= timebase.Instant(d.quiet) {
		d.closeEpoch()
		d.active = false
	}
}

// Deadline returns when Flush should next be called: the time the open epoch becomes quiet.
func (d *Decoder) Deadline() (timebase.Instant, bool) {
	if !d.cur.open {
		return 0, false
	}
	return d.lastActivity + timebase.Instant(d.quiet), true
}

// Next returns the oldest completed epoch.
func (d *Decoder) Next() (Epoch, bool) {
	if d.head >= len(d.queue) {
		return Epoch{}, false
	}
	e := d.queue[d.head]
	d.queue[d.head] = Epoch{}
	d.head++
	if d.head == len(d.queue) {
		d.queue = d.queue[:0]
		d.head = 0
	}
	return e, true
}

func (d *Decoder) push(e Epoch) {
	if len(d.queue)-d.head >= d.opt.MaxQueue {
		d.queue[d.head] = Epoch{}
		d.head++
		d.counts.Dropped++
	}
	if d.head > 0 && len(d.queue) == cap(d.queue) {
		n := copy(d.queue, d.queue[d.head:])
		for i := n; i < len(d.queue); i++ {
			d.queue[i] = Epoch{}
		}
		d.queue = d.queue[:n]
		d.head = 0
	}
	d.queue = append(d.queue, e)
}

// scan consumes complete frames and noise from data and returns how many bytes it consumed; the rest is
// the start of a frame that needs more bytes.
//
// resume says how many bytes of a sentence at data[0] were already checked by an earlier call.
func (d *Decoder) scan(data []byte, resume int) int {
	i := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '$', '!':
			from := i + 1
			if i == 0 && resume > 1 {
				from = resume
			}
			next, done := d.scanSentence(data, i, from)
			if !done {
				d.resume = next - i
				return i
			}
			i = next
		case 0xB5:
			next, done := d.scanUBX(data, i)
			if !done {
				return i
			}
			i = next
		case '\r', '\n':
			i++
		default:
			d.counts.OtherBytes++
			i++
		}
	}
	return i
}

// scanSentence frames an NMEA sentence starting at data[i], checking bytes from data[from]. It returns
// the index to resume at, or, when the sentence is not complete yet, false and how far it checked.
func (d *Decoder) scanSentence(data []byte, i, from int) (int, bool) {
	end := len(data)
	if end-i > maxSentence+1 {
		end = i + maxSentence + 1
	}
	for j := from; j < end; j++ {
		b := data[j]
		switch {
		case b == '\r' || b == '\n':
			d.sentence(data[i:j], d.recvAt(i))
			return j, true
		case b < 0x20 || b > 0x7e || b == '$' || b == '!' || b == '\\':
			// Binary, a new start, or a tag block inside: this sentence is broken. A lone '$' right before
			// another is noise, not a sentence.
			if j == i+1 {
				d.counts.OtherBytes++
			} else {
				d.counts.Malformed++
			}
			return j, true
		}
	}
	if end-i > maxSentence {
		d.counts.Malformed++
		return end, true
	}
	return end, false
}

// scanUBX frames a UBX frame starting at data[i] (0xB5). On a bad checksum or an implausible header only
// the sync byte is consumed, so a real frame hiding in the false one is still found.
//
//	+------+------+-------+----+-----------+-----------------+------+------+
//	| 0xB5 | 0x62 | class | id | length LE | payload[length] | CK_A | CK_B |
//	+------+------+-------+----+-----------+-----------------+------+------+
//	CK_A, CK_B: 8-bit Fletcher checksum over class, id, length and payload.
func (d *Decoder) scanUBX(data []byte, i int) (int, bool) {
	if len(data)-i < 2 {
		return i, false
	}
	if data[i+1] != 0x62 {
		d.counts.OtherBytes++
		return i + 1, true
	}
	if len(data)-i < 6 {
		return i, false
	}
	class := data[i+2]
	n := int(data[i+4]) | int(data[i+5])<<8
	if n > ubxMaxLen(class) {
		d.counts.OtherBytes++
		return i + 1, true
	}
	total := 8 + n
	if len(data)-i < total {
		return i, false
	}
	f := data[i : i+total]
	var a, b byte
	for _, c := range f[2 : 6+n] {
		a += c
		b += a
	}
	if a != f[6+n] || b != f[7+n] {
		d.counts.UBXBad++
		d.counts.OtherBytes++
		return i + 1, true
	}
	d.ubx(class, f[3], f[6:6+n], d.recvAt(i))
	return i + total, true
}
