package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// maxStartSkew is how far the World's start may be from the host clock when RunRealtime begins: enough
// for the daemon's setup between NewWorld and RunRealtime, small enough to catch a World built for
// virtual time.
const maxStartSkew = 5 * time.Second

// RunRealtime drives w in real time with host as the truth: each event is sent on out once host.Now()
// has reached its truth instant, and in between the board clock is advanced at least every
// Osc.UpdateInterval so that its readers see wander and temperature as they happen. From the call on,
// w.Now() (and so w.Steerable()) reads host. The World must have been built with Start = host.Now()
// (within a few seconds). It returns ctx.Err() when ctx is done; it never closes out. Only one
// RunRealtime may run per World, and Next must not be called meanwhile.
func RunRealtime(ctx context.Context, w *World, host timebase.Clock, out chan<- Event) error {
	if w == nil || host == nil || out == nil {
		return errors.New("sim: RunRealtime: world, host clock and channel are all required")
	}
	now := host.Now()
	if skew := now.Sub(w.Now()); skew > maxStartSkew || skew < -maxStartSkew {
		return fmt.Errorf("sim: RunRealtime: the world is at %v but the host clock reads %v: build the World with Start = host.Now()", w.Now(), now)
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("sim: RunRealtime: already running for this World")
	}
	defer w.running.Store(false)
	w.host.Store(&hostRef{c: host})

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	step := w.cfg.Osc.UpdateInterval
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		due := w.peek()
		for {
			now := host.Now()
			if now >= due {
				break
			}
			timer.Reset(min(due.Sub(now), step))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
			w.board.Advance(host.Now())
		}
		ev := w.Next()
		select {
		case out <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
