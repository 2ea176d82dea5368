package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

type nullSteer struct{}

func (nullSteer) Step(time.Duration) error                           { return nil }
func (nullSteer) SetFrequency(float64) error                         { return nil }
func (nullSteer) SetStatus(bool, time.Duration, time.Duration) error { return nil }

// drain must feed everything already queued, and report a closed channel as nil so Run stops selecting it.
func TestDrainFeedsQueuedEventsFirst(t *testing.T) {
	core, err := NewCore(Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	bytes := make(chan Chunk, 4)
	edges := make(chan timebase.Edge, 4)
	at := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	data := []byte("$GPZDA,120000.00,22,11,2026,00,00*00\r\n")
	bytes <- Chunk{Data: data, Received: at}
	edges <- timebase.Edge{Time: at, Seq: 1, Rising: true}
	edges <- timebase.Edge{Time: at.Add(time.Second), Seq: 2, Rising: true}
	close(bytes)
	b, e := drain(core, bytes, edges)
	if b != nil {
		t.Error("a closed byte channel was not reported as gone")
	}
	if e == nil {
		t.Error("an open edge channel was dropped")
	}
	core.Tick(at) // the view is refreshed on epochs, edges and ticks
	v := core.View()
	if v.PPS.Edges != 2 {
		t.Errorf("drain fed %d edges, want 2", v.PPS.Edges)
	}
	if v.GPS.Bytes != uint64(len(data)) {
		t.Errorf("drain fed %d receiver bytes, want %d", v.GPS.Bytes, len(data))
	}
}

// Run returns when its context ends, also with no sources at all.
func TestRunStops(t *testing.T) {
	core, err := NewCore(Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	clock := fixedClock(timebase.Date(2026, 11, 22, 12, 0, 0, 0))
	go func() { done <- Run(ctx, core, clock, Inputs{}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

type fixedClock timebase.Instant

func (c fixedClock) Now() timebase.Instant { return timebase.Instant(c) }
