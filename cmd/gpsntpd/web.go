package main

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/webui"
)

// startWeb gives p its source tracker, starts the once-a-second sampler that feeds the tracker and the
// status page's history, and returns the handler of the status server. The sampler stops with ctx.
func startWeb(ctx context.Context, p *statusProvider) http.Handler {
	hist := webui.NewHistory()
	p.sources = &sourceTracker{}
	go sampleEverySecond(ctx, p, hist)
	return webui.Handler(p.status, webui.WithHistory(hist))
}

// sampleEverySecond polls the daemon's view half-way through each second of the served clock. Pulses come
// on the second and receiver messages in the following few hundred milliseconds, so polling at the
// half second sees each second's pulse and label exactly once (a poll on the second would race them and
// show a full reach register as 376, 375, ...).
func sampleEverySecond(ctx context.Context, p *statusProvider, hist *webui.History) {
	t := time.NewTimer(untilHalfSecond(p.clock.Now()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := p.clock.Now()
		p.sources.update(now, p.core.View())
		hist.Sample(now, p.status())
		t.Reset(untilHalfSecond(p.clock.Now()))
	}
}

// untilHalfSecond is the wait from now to the next half second, at least 0.2 s away (a timer that fired a
// little early must not fire twice in one second).
func untilHalfSecond(now timebase.Instant) time.Duration {
	frac := int64(now) % 1e9
	if frac < 0 {
		frac += 1e9
	}
	d := time.Duration(5e8 - frac)
	if d < 200*time.Millisecond {
		d += time.Second
	}
	return d
}

// reachWindow is the number of polls the reach register and the jitter cover.
const reachWindow = 8

// sourceState is the memory of one time source over its last polls.
type sourceState struct {
	reach    uint8 // bit 0: the last poll
	bad      uint8 // polls in which the source misbehaved (falseticker evidence), same layout
	offsets  [reachWindow]float64
	n, next  int
	last     float64
	lastSeen timebase.Instant
}

// poll records the polls since the last one: polls seconds went by (more than one when the sampler was
// late), in which the source delivered hits samples (the newest of those polls get the bits).
func (s *sourceState) poll(polls int64, hits uint64, bad bool, offset float64, now timebase.Instant) {
	if polls > reachWindow {
		polls = reachWindow
	}
	excess := uint64(0)
	if hits > uint64(polls) {
		hits, excess = uint64(polls), hits-uint64(polls)
	}
	s.reach = s.reach<<polls | uint8(1<<hits-1)
	// More samples than seconds: one came late for the poll before (a receiver message that completed
	// just after the half second). It belongs to that poll, if that poll is the gap before this one.
	for j := polls; j < reachWindow && excess > 0 && s.reach&(1<<j) == 0; j++ {
		s.reach |= 1 << j
		excess--
	}
	s.bad <<= polls
	if bad {
		s.bad |= 1
	}
	if hits == 0 {
		return
	}
	s.last, s.lastSeen = offset, now
	s.offsets[s.next] = offset
	s.next = (s.next + 1) % reachWindow
	if s.n < reachWindow {
		s.n++
	}
}

// jitter is the standard deviation of the last offsets.
func (s *sourceState) jitter() float64 {
	if s.n < 2 {
		return 0
	}
	var sum float64
	for _, v := range s.offsets[:s.n] {
		sum += v
	}
	mean := sum / float64(s.n)
	var ss float64
	for _, v := range s.offsets[:s.n] {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(s.n-1))
}

// sourceTracker turns the daemon's counters, polled once a second, into per-source reach registers,
// offsets and jitter, as ntpq and chronyc show them. It lives here rather than in the daemon because only
// people need it: the servo does its own filtering. update is called by the sampler; list and sky by HTTP
// handlers.
type sourceTracker struct {
	mu      sync.Mutex
	polled  bool
	lastSec int64
	prev    struct{ valid, epochs, suspect, paired, edges, steps uint64 }
	gps     sourceState
	pps     sourceState
	ppsSeen bool // edges came in the last poll without being paired
	gpsAny  bool // epochs came in the last poll, valid or not
	skyView []status.Sat
	skyAt   timebase.Instant
	fix     gps.Epoch // the last epoch that said something about the fix
	haveFix bool
}

// update polls v at now; a second already polled is not polled again.
func (t *sourceTracker) update(now timebase.Instant, v *daemon.View) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sec := int64(now) / 1e9
	if t.polled && sec == t.lastSec {
		return
	}
	suspect := v.GPS.TimeJumps + v.GPS.Conflicts
	if t.polled {
		polls := sec - t.lastSec
		if polls < 1 { // the clock stepped back: count this as one poll
			polls = 1
		}
		newValid := delta(v.GPS.ValidEpochs, t.prev.valid)
		gpsOff := math.NaN()
		if v.HaveEpoch && v.Epoch.Label.Valid && v.Epoch.Label.Second != 0 && v.Epoch.Label.Received != 0 {
			gpsOff = v.Epoch.Label.Received.Sub(v.Epoch.Label.Second).Seconds()
		}
		if math.IsNaN(gpsOff) {
			newValid = 0
		}
		// A step of our own clock makes the receiver's time look as if it jumped against the board clock:
		// that is not the receiver's fault.
		stepped := v.Steps != t.prev.steps
		t.gps.poll(polls, newValid, suspect > t.prev.suspect && !stepped, gpsOff, now)
		t.gpsAny = v.GPS.Epochs > t.prev.epochs
		newPulses := delta(v.PPS.Paired, t.prev.paired)
		t.pps.poll(polls, newPulses, false, v.PPSOffset.Seconds(), now)
		t.ppsSeen = newPulses == 0 && v.PPS.Edges > t.prev.edges
	}
	t.polled, t.lastSec = true, sec
	t.prev.valid, t.prev.epochs, t.prev.suspect = v.GPS.ValidEpochs, v.GPS.Epochs, suspect
	t.prev.paired, t.prev.edges, t.prev.steps = v.PPS.Paired, v.PPS.Edges, v.Steps
	if v.HaveEpoch && whole(&v.Epoch) {
		t.fix, t.haveFix = v.Epoch, true
		if v.Epoch.Sky != nil {
			t.skyView, t.skyAt = skyOf(v.Epoch.Sky), v.Epoch.Label.Received
		}
	}
}

func delta(now, prev uint64) uint64 {
	if now < prev {
		return 0
	}
	return now - prev
}

// whole reports whether an epoch is a whole navigation report rather than a fragment: the tail of a
// second's sentences that the decoder closed as an epoch of its own after a pause on the line (a lone ZDA
// with some GSV and GSA). A fragment says nothing about the fix, or claims one with neither a valid time
// nor a position. Showing fragments would make the page flicker between "3d" and "unknown".
func whole(e *gps.Epoch) bool {
	switch {
	case e.Fix == gps.FixUnknown:
		return false
	case e.Fix == gps.FixNone:
		return true
	}
	return e.Label.Valid || e.Position.Valid
}

// epoch returns the receiver epoch to show: the view's, unless it is a fragment and a whole one was seen.
func (t *sourceTracker) epoch(v *daemon.View) (gps.Epoch, bool) {
	if v.HaveEpoch && whole(&v.Epoch) {
		return v.Epoch, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.haveFix {
		return t.fix, true
	}
	return v.Epoch, v.HaveEpoch
}

// sky returns the last sky view seen and when it was received (nil before any).
func (t *sourceTracker) sky() ([]status.Sat, timebase.Instant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skyView, t.skyAt
}

// list describes the sources with their tally codes:
//
//	PPS  * it paired a pulse in the last poll and the servo is locked to it
//	     + it paired a pulse but the servo is not (yet) locked
//	     - pulses came but were not paired (spurious, or no receiver label for them)
//	       (blank) no pulse in the last poll
//	GPS  x the decoder saw the receiver's time jump or contradict itself in the last eight polls
//	     + it labelled a second with valid time in the last poll: it names the pulses' seconds
//	       (blank) no valid time in the last poll
func (t *sourceTracker) list(v *daemon.View) []status.Source {
	t.mu.Lock()
	defer t.mu.Unlock()
	pps := status.Source{Name: "PPS", Kind: "pps", Reach: t.pps.reach, OffsetS: t.pps.last, JitterS: t.pps.jitter(), LastSeen: status.Time(t.pps.lastSeen)}
	switch {
	case t.pps.reach&1 == 1 && v.Snapshot.State == timebase.StateLocked:
		pps.Tally, pps.Note = status.TallySelected, "disciplining the clock"
	case t.pps.reach&1 == 1:
		pps.Tally, pps.Note = status.TallyCandidate, "servo "+v.Snapshot.State.String()
	case t.ppsSeen:
		pps.Tally, pps.Note = status.TallyOutlier, "pulse not paired with receiver time"
	default:
		pps.Tally, pps.Note = status.TallyRejected, "no pulse"
	}
	g := status.Source{Name: "GPS", Kind: "receiver", Reach: t.gps.reach, OffsetS: t.gps.last, JitterS: t.gps.jitter(), LastSeen: status.Time(t.gps.lastSeen)}
	switch {
	case t.gps.bad != 0:
		g.Tally, g.Note = status.TallyFalseticker, "receiver time jumped or contradicted itself"
	case t.gps.reach&1 == 1:
		g.Tally, g.Note = status.TallyCandidate, "names the seconds of the pulses"
	case t.gpsAny:
		g.Tally, g.Note = status.TallyRejected, "no valid time from the receiver"
	default:
		g.Tally, g.Note = status.TallyRejected, "nothing from the receiver"
	}
	return []status.Source{pps, g}
}
