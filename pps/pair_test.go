package pps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var t0 = timebase.Date(2026, 11, 22, 12, 0, 0, 0)

func label(sec int, recvAfter time.Duration, boardOffset time.Duration) timebase.TimeLabel {
	s := t0.Add(time.Duration(sec) * time.Second)
	return timebase.TimeLabel{Second: s, Valid: true, Source: "RMC", Received: s.Add(boardOffset + recvAfter)}
}

func TestPairsEdgeWithFollowingLabel(t *testing.T) {
	for _, off := range []time.Duration{0, 3 * time.Microsecond, -700 * time.Millisecond, 5 * time.Second, -3 * time.Hour} {
		p := NewPairer(2 * time.Microsecond)
		for sec := 0; sec < 5; sec++ {
			edge := t0.Add(time.Duration(sec)*time.Second + off + 2*time.Microsecond)
			if !p.Edge(timebase.Edge{Time: edge, Seq: uint64(sec + 1), Rising: true}) {
				t.Fatalf("offset %v: edge %d rejected", off, sec)
			}
			at, got, ok := p.Label(label(sec, 80*time.Millisecond, off))
			if !ok {
				t.Fatalf("offset %v: second %d not paired", off, sec)
			}
			if got != off {
				t.Errorf("offset %v: second %d measured %v", off, sec, got)
			}
			if at != edge.Add(-2*time.Microsecond) {
				t.Errorf("offset %v: sample time %v, want edge minus bias", off, at)
			}
		}
		if c := p.Counts(); c.Paired != 5 || c.Rejected != 0 || c.Unpaired != 0 {
			t.Errorf("offset %v: counts %+v", off, c)
		}
	}
}

func TestRejectsRepeatsSpuriousAndInvalid(t *testing.T) {
	p := NewPairer(0)
	p.Edge(timebase.Edge{Time: t0, Seq: 1})
	if p.Edge(timebase.Edge{Time: t0, Seq: 1}) {
		t.Error("repeated edge accepted")
	}
	if p.Edge(timebase.Edge{Time: t0.Add(200 * time.Millisecond), Seq: 2}) {
		t.Error("spurious edge 200 ms after a pulse accepted")
	}
	l := label(0, 100*time.Millisecond, 0)
	l.Valid = false
	if _, _, ok := p.Label(l); ok {
		t.Error("invalid label paired")
	}
	// The same label twice pairs once: one pulse, one sample.
	l.Valid = true
	if _, _, ok := p.Label(l); !ok {
		t.Fatal("valid label not paired")
	}
	if _, _, ok := p.Label(l); ok {
		t.Error("an edge was paired twice")
	}
	// A label with no pulse in the second before it (missing pulse) yields nothing.
	if _, _, ok := p.Label(label(3, 100*time.Millisecond, 0)); ok {
		t.Error("label paired with an edge three seconds old")
	}
	c := p.Counts()
	if c.Rejected != 2 || c.Paired != 1 || c.Unpaired != 2 {
		t.Errorf("counts %+v", c)
	}
}

func TestResetDropsOldEdges(t *testing.T) {
	p := NewPairer(0)
	p.Edge(timebase.Edge{Time: t0, Seq: 1})
	p.Reset()
	if _, _, ok := p.Label(label(0, 100*time.Millisecond, 0)); ok {
		t.Error("edge from before Reset was paired")
	}
}
