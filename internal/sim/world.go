package sim

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Random streams: every model draws from its own PCG stream of the seed, so the models are independent
// (more sentences, or another PPS setting, does not change the oscillator's wander).
const (
	streamOscillator = 0x6f7363 + iota
	streamSkySetup
	streamSkyNoise
	streamLatency
	streamPosition
	streamPPS
	streamPPSSetup
)

// EventKind tells what an Event carries.
type EventKind int

const (
	EventBytes EventKind = iota // a chunk of serial bytes from the receiver
	EventEdge                   // a captured PPS edge
)

func (k EventKind) String() string {
	switch k {
	case EventBytes:
		return "bytes"
	case EventEdge:
		return "edge"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing the simulated hardware delivers to the daemon.
type Event struct {
	Truth timebase.Instant // when it happens, in truth (for bytes: when the read returns)
	Kind  EventKind

	// EventBytes: the chunk, and the board-clock time its last byte arrived (when the read returns). The
	// slice is the caller's to keep; the World never writes to it again.
	Bytes    []byte
	Received timebase.Instant

	// EventEdge: the edge as the capture hardware reports it, stamped with the board clock.
	Edge timebase.Edge

	// Ground truth, for tests and scoring only.
	// Second is, for bytes, the truth second the epoch describes; for an edge, the second the pulse marks
	// (zero for a spurious edge). With a leap second configured it is uniform time: Config.Leap.POSIX gives
	// the UTC name the receiver uses.
	Second timebase.Instant
	Valid  bool       // bytes: the epoch reports a valid fix; edge: a UTC-aligned pulse (locked, not spurious)
	Pulse  PulseTruth // EventEdge only
}

// Stats counts what the World has planned so far. Planning runs up to about a second ahead of Now, so the
// counts may include events not yet returned by Next.
type Stats struct {
	Seconds       uint64 // UTC seconds planned
	Epochs        uint64 // NMEA epochs sent
	EpochsDropped uint64 // epochs dropped because the serial line was more than a second behind
	Bytes         uint64 // serial bytes sent
	Pulses        uint64 // pulses the receiver emitted
	PulsesMissed  uint64 // of those, not captured
	Spurious      uint64 // spurious edges
	Outliers      uint64 // captures with an outlier latency
}

// World is the simulated box in virtual time: board clock, receiver and PPS, one seed. Next advances
// virtual time to the next event. All methods are safe for concurrent use: the board clock may be steered
// from another goroutine while Next runs, and Now, Board, Stats may be read at any time.
type World struct {
	cfg   Config
	board *BoardClock

	now  atomic.Int64
	host atomic.Pointer[hostRef]

	mu         sync.Mutex
	rx         *receiver
	pps        *ppsModel
	queue      eventQueue
	nextSecond timebase.Instant // the next UTC second to plan
	order      uint64           // tie-break for events at the same instant: planning order
	seq        uint64           // edge sequence numbers delivered
	lineFree   timebase.Instant // the serial line is busy until then
	hadFix     bool
	fixLostAt  timebase.Instant
	stats      Stats
	pulses     []pulse // reused per second
	running    atomic.Bool
}

type hostRef struct{ c timebase.Clock }

// planMargin: every event of second S happens after S − planMargin (validation bounds PPS bias, jitter
// and quantization to about 0.11 s), so once the earliest planned event is at or after S − planMargin,
// second S must be planned before it can be delivered.
const planMargin = 200 * time.Millisecond

// NewWorld validates cfg (after filling in its defaults) and builds the world at truth cfg.Start.
func NewWorld(cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim: NewWorld: %w", err)
	}
	cfg = cfg.withDefaults()
	w := &World{
		cfg:   cfg,
		board: newBoardClock(cfg.Osc, cfg.Start, cfg.Seed),
		rx:    newReceiver(cfg.Receiver, cfg.Seed, cfg.Start),
		pps:   newPPSModel(cfg.PPS, cfg.Seed),
	}
	w.now.Store(int64(cfg.Start))
	// A receiver that was already running when the world starts (no cold start) is caught mid-epoch: the
	// first bytes are the tail of the previous second's output, as when a serial port is opened.
	w.nextSecond = cfg.Start.Truncate(time.Second)
	if cfg.Receiver.ColdStartNoFix == 0 {
		w.nextSecond -= timebase.Second
	} else if w.nextSecond < cfg.Start {
		w.nextSecond += timebase.Second
	}
	return w, nil
}

// Config returns the configuration in use, defaults filled in.
func (w *World) Config() Config {
	c := w.cfg.withDefaults() // copies the slices
	return c
}

// Board returns the board clock.
func (w *World) Board() *BoardClock { return w.board }

// Now returns the current truth: the instant of the last event Next returned (cfg.Start before the first),
// or, once RunRealtime has bound the World to a host clock, that clock's reading.
func (w *World) Now() timebase.Instant {
	if h := w.host.Load(); h != nil {
		return h.c.Now()
	}
	return timebase.Instant(w.now.Load())
}

// BoardError returns the board clock's true error at Now: its reading minus truth.
func (w *World) BoardError() time.Duration {
	return w.board.ErrorAt(w.Now())
}

// Steerable returns the board clock as a timebase.Steerable whose commands take effect at w.Now().
func (w *World) Steerable() timebase.Steerable { return w.board.Steerable(w.Now) }

// Stats returns counts of what has been planned so far.
func (w *World) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Next advances virtual time to the next event and returns it, with board-clock timestamps taken at its
// truth instant (so steering applied before the call is reflected). The stream is a deterministic function
// of the config, the seed, and the steering applied.
func (w *World) Next() Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fillLocked()
	p := w.queue.pop()
	w.board.Advance(p.truth)
	b := w.board.At(p.truth)
	ev := Event{Truth: p.truth, Kind: p.kind, Second: p.second, Valid: p.valid}
	switch p.kind {
	case EventBytes:
		ev.Bytes, ev.Received = p.bytes, b
	case EventEdge:
		w.seq++
		ev.Edge = timebase.Edge{Time: b, Seq: w.seq, Rising: true}
		ev.Pulse = p.pulse
	}
	if p.truth > timebase.Instant(w.now.Load()) {
		w.now.Store(int64(p.truth))
	}
	return ev
}

// peek returns the truth of the event Next would return.
func (w *World) peek() timebase.Instant {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fillLocked()
	return w.queue.items[0].truth
}

func (w *World) fillLocked() {
	for len(w.queue.items) == 0 || w.queue.items[0].truth >= w.nextSecond-timebase.Instant(planMargin) {
		w.planLocked(w.nextSecond)
		w.nextSecond += timebase.Second
	}
}

func (w *World) inOutage(sec timebase.Instant) (OutageKind, bool) {
	silent, noFix := false, false
	for _, iv := range w.cfg.Receiver.Outages {
		if sec >= iv.From && sec < iv.To {
			switch iv.Kind {
			case OutageSilent:
				silent = true
			case OutageNoFix:
				noFix = true
			}
		}
	}
	switch {
	case silent:
		return OutageSilent, true
	case noFix:
		return OutageNoFix, true
	}
	return 0, false
}

// planLocked generates everything that happens because of UTC second sec: its NMEA epoch and its edges.
// Events before Start are dropped (the world had not begun).
func (w *World) planLocked(sec timebase.Instant) {
	cfg := &w.cfg
	w.stats.Seconds++
	st := rxFix
	elapsed := sec.Sub(cfg.Start)
	if kind, ok := w.inOutage(sec); ok && kind == OutageSilent {
		st = rxSilent
	} else if elapsed < 0 && cfg.Receiver.ColdStartNoFix > 0 {
		st = rxSilent // not yet powered
	} else if elapsed < cfg.Receiver.ColdStartNoTime {
		st = rxNoTime
	} else if elapsed < cfg.Receiver.ColdStartNoFix || ok {
		st = rxNoFix
	}

	lat := w.rx.latency()
	var info epochInfo
	lb := cfg.Leap.labelFor(sec)
	if st != rxSilent {
		var buf []byte
		buf, info = w.rx.epoch(make([]byte, 0, 1024), sec, lb, st)
		if cfg.Leap.Report && st != rxNoTime {
			buf = cfg.Leap.appendLeapReport(buf, sec, lb)
		}
		if !lb.skip {
			w.scheduleBytes(sec, sec.Add(lat), buf, info.valid)
		}
	}

	mode := pulseNone
	var freeRun time.Duration
	switch {
	case info.valid:
		mode = pulseLocked
		w.hadFix = true
	case st == rxSilent || !cfg.PPS.NoFixPulses:
	case !w.hadFix:
		mode = pulseColdStart
	default:
		mode = pulseFreeRun
	}
	if !info.valid && st != rxSilent && w.hadFix && w.fixLostAt == 0 {
		w.fixLostAt = sec
	}
	if info.valid {
		w.fixLostAt = 0
	}
	if mode == pulseFreeRun {
		freeRun = sec.Sub(w.fixLostAt)
	}
	w.pulses = w.pps.second(sec, mode, freeRun, w.pulses[:0])
	if mode != pulseNone {
		w.stats.Pulses++
	}
	emitted := false
	for _, p := range w.pulses {
		if p.truth.Spurious {
			w.stats.Spurious++
		} else {
			emitted = true
		}
		if p.truth.Outlier {
			w.stats.Outliers++
		}
		if p.captured < cfg.Start {
			continue
		}
		w.order++
		w.queue.push(pending{
			truth: p.captured, order: w.order, kind: EventEdge,
			second: p.second, valid: !p.truth.Spurious && !p.truth.FreeRunning, pulse: p.truth,
		})
	}
	if mode != pulseNone && !emitted {
		w.stats.PulsesMissed++
	}
}

// scheduleBytes puts an epoch on the serial line starting at start (or when the line is free) and delivers
// it in reads of ChunkBytes: a read returns when its last byte's stop bit has arrived. Each byte takes
// 10 bit times (start bit, 8 data bits, stop bit).
func (w *World) scheduleBytes(sec, start timebase.Instant, buf []byte, valid bool) {
	if w.lineFree > start {
		start = w.lineFree
	}
	if start > sec+timebase.Second {
		w.stats.EpochsDropped++
		return
	}
	w.stats.Epochs++
	w.stats.Bytes += uint64(len(buf))
	baud := float64(w.cfg.Receiver.Baud)
	byteEnd := func(i int) timebase.Instant { // end of byte i's stop bit
		return start + timebase.Instant(float64(i+1)*10e9/baud+0.5)
	}
	w.lineFree = byteEnd(len(buf) - 1)
	chunk := w.cfg.Receiver.ChunkBytes
	for a := 0; a < len(buf); a += chunk {
		b := min(a+chunk, len(buf))
		at := byteEnd(b - 1)
		if at < w.cfg.Start {
			continue
		}
		// A read that began before Start only has the bytes that arrived after it.
		for a < b && byteEnd(a) < w.cfg.Start {
			a++
		}
		w.order++
		w.queue.push(pending{truth: at, order: w.order, kind: EventBytes, bytes: buf[a:b:b], second: sec, valid: valid})
	}
}

// pending is a planned event, before its board-clock timestamp is taken.
type pending struct {
	truth  timebase.Instant
	order  uint64
	kind   EventKind
	bytes  []byte
	second timebase.Instant
	valid  bool
	pulse  PulseTruth
}

// eventQueue is a binary min-heap on (truth, order).
type eventQueue struct{ items []pending }

func (q *eventQueue) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	if a.truth != b.truth {
		return a.truth < b.truth
	}
	return a.order < b.order
}

func (q *eventQueue) push(p pending) {
	q.items = append(q.items, p)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *eventQueue) pop() pending {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = pending{}
	q.items = q.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(l, m) {
			m = l
		}
		if r < last && q.less(r, m) {
			m = r
		}
		if m == i {
			return top
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
}
