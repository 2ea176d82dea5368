package servocmp

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/scenario"
)

// TestBuildTraceColdStart: the trace of cold-start is the scenario's world: pulses from the first fix on,
// one per second, a board that starts 1.23 s and −20 ppm off (seed 1), and capture noise of about 1 µs
// around zero once the calibrated bias is removed, with the rare ~50 µs outlier.
func TestBuildTraceColdStart(t *testing.T) {
	su, err := setup("cold-start", 3*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := BuildTrace(su, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenario.RunSetup("cold-start", su, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	first := tr.Pulses[0].Second.Sub(tr.Start).Seconds()
	// The first valid pulse marks the second the first valid epoch describes; the scenario counts the first
	// fix at the whole second after that epoch has been decoded.
	if first != res.FirstFixS-1 {
		t.Errorf("first pulse at %v s, first fix at %v s", first, res.FirstFixS)
	}
	if n := len(tr.Pulses); n < 145 || n > 151 {
		t.Errorf("%d pulses in 3 min from second %v", n, first)
	}
	var sum, ss float64
	n, outliers := 0, 0
	for i, p := range tr.Pulses {
		if p.Label != p.Second {
			t.Errorf("pulse %d labelled %v, marks %v: cold-start has no slips", i, p.Label, p.Second)
		}
		if i > 0 {
			dt := p.Second.Sub(tr.Pulses[i-1].Second).Seconds()
			slope := float64(p.BoardErr-tr.Pulses[i-1].BoardErr) / 1e3 / dt // ppm
			if math.Abs(slope+20) > 0.5 {
				t.Errorf("board frequency error %.3f ppm at %v, want about −20", slope, p.Second)
			}
		}
		x := float64(p.Noise())
		if math.Abs(x) > 10e3 {
			outliers++
			continue
		}
		sum += x
		ss += x * x
		n++
	}
	mean := sum / float64(n)
	sd := math.Sqrt(ss/float64(n) - mean*mean)
	if math.Abs(mean) > 300 || sd < 700 || sd > 1400 {
		t.Errorf("capture noise mean %.0f ns σ %.0f ns, want about 0 and 1000", mean, sd)
	}
	if outliers > 5 {
		t.Errorf("%d outliers in %d pulses at 0.2 %%", outliers, len(tr.Pulses))
	}
	if e := tr.Pulses[0].BoardErr; e < 1230*time.Millisecond || e > 1236*time.Millisecond {
		t.Errorf("board error at the first pulse %v, want 1.2346 s less 20 ppm of 31 s", e)
	}
}

// TestBuildTraceBadPPS: bad-pps's slips reach the trace as labels one second late, and its missing pulses
// and spurious edges as gaps and glitches.
func TestBuildTraceBadPPS(t *testing.T) {
	su, err := setup("bad-pps", 15*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := BuildTrace(su, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	slips := 0
	for _, p := range tr.Pulses {
		if p.Label == p.Second.Add(time.Second) {
			slips++
		} else if p.Label != p.Second {
			t.Errorf("pulse of %v labelled %v", p.Second, p.Label)
		}
	}
	if slips != len(su.Slips) {
		t.Errorf("%d slipped labels, want %d", slips, len(su.Slips))
	}
	span := tr.Pulses[len(tr.Pulses)-1].Second.Sub(tr.Pulses[0].Second).Seconds() + 1
	missing := 1 - float64(len(tr.Pulses))/span
	if missing < 0.03 || missing > 0.07 {
		t.Errorf("%.3f of pulses missing, want about 0.05", missing)
	}
	if s := float64(len(tr.Spurious)) / span; s < 0.03 || s > 0.07 {
		t.Errorf("%.3f spurious edges per second, want about 0.05", s)
	}
}
