package loadgen

import (
	"context"
	"math/rand/v2"
	"runtime"
	"time"
)

// Run sends load as cfg says and returns what came back. It holds one OS thread for its duration.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	t, err := openTransport(cfg)
	if err != nil {
		return Result{}, err
	}
	defer t.close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer preciseSleeps()()

	r := runner{cfg: cfg, t: t, key: rand.Uint64()}
	elapsed := r.run(ctx)
	r.c.generatorDrops = t.drops()
	r.c.sendErrors = t.sendErrors
	return summarize(cfg, r.c, &r.hist, elapsed), nil
}

type runner struct {
	cfg  Config
	t    *transport
	key  uint64
	c    counts
	hist Histogram

	startNs         int64 // wall-clock send time of the first request
	lastStampNs     int64 // largest send time stamped so far: replies claiming later ones are not ours
	costPerDatagram int64 // ns per datagram inside sendmmsg: a lower-envelope estimate (nextCost)
	presumedLost    uint64
}

// run is the send phase and the drain; it returns the send phase's length.
func (r *runner) run(ctx context.Context) time.Duration {
	cfg := r.cfg
	done := ctx.Done()
	start := time.Now()
	r.startNs = start.UnixNano()
	r.lastStampNs = r.startNs
	deadline := start.Add(cfg.Duration)
	quantum := uint64(1)
	if cfg.Rate > 0 {
		quantum = uint64(min(max(cfg.Rate*PaceQuantum.Seconds(), 1), float64(cfg.Batch)))
	}
	lastProgress := start
	sock := 0
	for {
		now := time.Now()
		if !now.Before(deadline) || r.c.sent >= cfg.MaxRequests {
			break
		}
		select {
		case <-done:
			return time.Since(start)
		default:
		}
		var due uint64
		if cfg.Rate > 0 {
			if target := uint64(cfg.Rate*now.Sub(start).Seconds()) + 1; target > r.c.sent {
				due = target - r.c.sent
			}
			if due < quantum && r.c.sent+due < cfg.MaxRequests {
				due = 0 // wait until a quantum's worth is due
			}
		} else if inflight := r.inflight(); inflight < uint64(cfg.Window) {
			due = uint64(cfg.Window) - inflight
		}
		due = min(due, uint64(cfg.Batch), cfg.MaxRequests-r.c.sent)
		progress := false
		if due > 0 {
			if r.send(sock, int(due)) > 0 {
				progress = true
			}
			sock = (sock + 1) % cfg.Sockets
		}
		if r.receive() > 0 {
			progress = true
			lastProgress = now
		}
		if progress {
			continue
		}
		var wait time.Duration
		if cfg.Rate > 0 {
			next := start.Add(time.Duration(float64(r.c.sent+quantum-1) / cfg.Rate * 1e9))
			wait = next.Sub(now)
		} else {
			wait = StallTimeout - now.Sub(lastProgress)
			if wait <= 0 {
				// Nothing came back for a while: presume the outstanding requests lost, refill the window.
				r.presumedLost += r.inflight()
				lastProgress = now
				continue
			}
		}
		if wait = min(wait, deadline.Sub(now)); wait > 0 {
			r.t.wait(wait)
		}
	}
	elapsed := time.Since(start)
	drainEnd := time.Now().Add(cfg.Drain)
	for r.c.answered+r.c.kod < r.c.sent {
		now := time.Now()
		if !now.Before(drainEnd) {
			break
		}
		select {
		case <-done:
			return elapsed
		default:
		}
		if r.receive() == 0 {
			r.t.wait(drainEnd.Sub(now))
		}
	}
	return elapsed
}

func (r *runner) inflight() uint64 {
	done := r.c.answered + r.c.kod + r.presumedLost
	if done >= r.c.sent {
		return 0
	}
	return r.c.sent - done
}

// send stamps and sends n requests from socket sock and returns how many the kernel took. Request i is
// stamped with the call's start plus i times the measured cost of one datagram (see the package doc).
func (r *runner) send(sock, n int) int {
	t0 := time.Now().UnixNano()
	for i := range n {
		stamp := t0 + int64(i)*r.costPerDatagram
		setStamp(r.t.request(i), uint64(stamp)^r.key)
	}
	r.lastStampNs = max(r.lastStampNs, t0+int64(n-1)*r.costPerDatagram)
	sent := r.t.send(sock, n)
	if sent > 0 {
		r.costPerDatagram = nextCost(r.costPerDatagram, (time.Now().UnixNano()-t0)/int64(sent))
		r.c.sent += uint64(sent)
	}
	return sent
}

// maxCostPerDatagram bounds the per-datagram send cost estimate: no datagram takes longer on loopback
// unless the thread was preempted, and then the sample says nothing about the datagrams' spacing.
const maxCostPerDatagram = 5000 // ns

// nextCost updates the per-datagram send cost estimate with a sample. It follows the lower envelope:
// down at once, up slowly, so a preempted call cannot push later stamps ahead of the real departure;
// an underestimate only makes response times read a little long.
func nextCost(est, sample int64) int64 {
	sample = min(max(sample, 0), maxCostPerDatagram)
	if sample <= est {
		return sample
	}
	return est + (sample-est)/64
}

// receive takes every reply already queued on any socket and returns how many there were.
func (r *runner) receive() int {
	total := 0
	for s := range r.cfg.Sockets {
		for {
			n := r.t.recv(s)
			for i := range n {
				b, rxNs := r.t.reply(i)
				r.account(b, rxNs)
			}
			total += n
			if n < r.cfg.Batch {
				break
			}
		}
	}
	return total
}

// account classifies one reply received at rxNs (wall clock, ns) and records its response time.
func (r *runner) account(b []byte, rxNs int64) {
	origin, kind := readReply(b)
	if kind == replyBad {
		r.c.bad++
		return
	}
	sendNs := int64(origin ^ r.key)
	if sendNs < r.startNs || sendNs > r.lastStampNs {
		r.c.bad++ // not a send time of ours: a stray reply, or a server that does not echo the origin
		return
	}
	if kind == replyKoD {
		r.c.kod++
		return
	}
	r.c.answered++
	r.hist.Record(rxNs - sendNs) // an over-estimated stamp can make this slightly negative: counts as 0
}
