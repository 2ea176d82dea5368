package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

type hostClock struct{}

func (hostClock) Now() timebase.Instant { return timebase.FromTime(time.Now()) }

// RunRealtime delivers the events in order, each no earlier than its truth instant on the host clock,
// lets another goroutine steer meanwhile, and returns soon after its context ends.
func TestRunRealtime(t *testing.T) {
	host := hostClock{}
	cfg := DefaultConfig()
	cfg.Start = host.Now()
	cfg.Receiver.Baud = 115200
	cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
	w := mustWorld(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- RunRealtime(ctx, w, host, out) }()

	steer := w.Steerable()
	served := w.Board().ServedClock(host)
	var evs []Event
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for len(evs) == 0 || evs[len(evs)-1].Kind != EventEdge || len(evs) < 10 {
		select {
		case ev := <-out:
			if now := host.Now(); now < ev.Truth {
				t.Fatalf("event for %v delivered early, at %v", ev.Truth, now)
			}
			if len(evs) > 0 && ev.Truth < evs[len(evs)-1].Truth {
				t.Fatalf("event at %v after one at %v", ev.Truth, evs[len(evs)-1].Truth)
			}
			evs = append(evs, ev)
			if err := steer.SetFrequency(float64(len(evs) % 5)); err != nil {
				t.Fatal(err)
			}
			_ = served.Now()
		case err := <-done:
			t.Fatalf("RunRealtime returned early: %v", err)
		case <-deadline.C:
			t.Fatalf("only %d events in 10 s of real time", len(evs))
		}
	}
	// Now reads the host clock while running.
	wn := w.Now()
	if d := host.Now().Sub(wn); d < 0 || d > time.Second {
		t.Errorf("World.Now is %v behind the host clock", d)
	}
	// The board was built at 14.2 ppm and 1.23 s ahead; its timestamps say so.
	last := evs[len(evs)-1]
	if d := last.Edge.Time.Sub(last.Truth) - cfg.Osc.InitialOffset; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("edge stamped %v at truth %v: not the board's offset", last.Edge.Time, last.Truth)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("RunRealtime returned %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("RunRealtime did not stop within 2 s of cancellation")
	}
}

func TestRunRealtimeRejectsMisuse(t *testing.T) {
	cfg := DefaultConfig() // Start in 2026-11-22, not host now
	w := mustWorld(t, cfg)
	out := make(chan Event, 1)
	ctx := context.Background()
	host := fixedClock(cfg.Start.Add(time.Hour))
	if err := RunRealtime(ctx, w, host, out); err == nil || !strings.Contains(err.Error(), "Start = host.Now()") {
		t.Errorf("RunRealtime with a skewed start: %v, want an error saying how to build the World", err)
	}
	if err := RunRealtime(ctx, nil, host, out); err == nil {
		t.Error("RunRealtime(nil world) = nil")
	}
	if err := RunRealtime(ctx, w, nil, out); err == nil {
		t.Error("RunRealtime(nil host) = nil")
	}
	if err := RunRealtime(ctx, w, host, nil); err == nil {
		t.Error("RunRealtime(nil channel) = nil")
	}
	// An already cancelled context returns at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := RunRealtime(cctx, w, fixedClock(cfg.Start), out); !errors.Is(err, context.Canceled) {
		t.Errorf("RunRealtime with a cancelled context = %v", err)
	}
}
