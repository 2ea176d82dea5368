package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// The spread's statistic is drift-free: an oscillator whose frequency drifts steadily (a temperature ramp)
// and random-walks shows the drift in the raw misses of coasting (½·d·h²) but not in the differenced ones,
// which measure the random walk's q·h³/3 (with the estimate's error); the lag of each line fit is 2τ.
func TestWanderLearnerSeparatesDriftFromWander(t *testing.T) {
	const (
		q     = 1e-19           // random-walk FM: (3.2e-4 ppm/√s)²
		drift = 0.1e-6 / 3600.0 // 0.1 ppm/h
		days  = 2
	)
	rng := rand.New(rand.NewPCG(7, 11))
	var w wanderLearner
	t0 := timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	phi, rw := 0.0, 0.0
	for i := 1; i <= days*86400; i++ {
		rw += math.Sqrt(q) * rng.NormFloat64()
		x := float64(i)
		y := drift*x + rw
		phi += y
		// The filter's ŷ: the true frequency, a little noisy and 30 s late on the drift.
		w.observe(t0.Add(time.Duration(i)*time.Second), phi, y-drift*30+2e-9*rng.NormFloat64(), 1)
	}
	cand, _, ok := w.best(0)
	if !ok {
		t.Fatalf("no verdict after %d days: n %v dn %v", days, w.n, w.dn)
	}
	for k, h := range horizons {
		v, _ := w.missVar(0, h)
		raw := w.sumSq[0][k] / float64(w.n[k])
		rwVar := q * h * h * h / 3
		drifted := math.Pow(drift*h*h/2, 2)
		t.Logf("h %5.0f s: differenced RMS %.2f µs (random walk alone %.2f), raw %.2f µs (drift alone %.2f)",
			h, 1e6*math.Sqrt(v), 1e6*math.Sqrt(rwVar), 1e6*math.Sqrt(raw), 1e6*math.Sqrt(drifted))
		// The differenced statistic sees the random walk, within sampling error, and not the drift.
		if v < 0.5*rwVar || v > 2*rwVar+math.Pow(4e-9*h, 2) {
			t.Errorf("h %.0f: differenced variance %.3g, random walk %.3g", h, v, rwVar)
		}
		if h >= 1024 && raw < drifted {
			t.Errorf("h %.0f: raw mean square %.3g does not include the drift's %.3g", h, raw, drifted)
		}
	}
	if cand != 0 {
		t.Errorf("chose candidate %d: the lagging fits should lose to ŷ on a drifting oscillator", cand)
	}
	for c, want := range []float64{12, 512, 2048, 8192} {
		if got := w.lag(c, 12); got != want {
			t.Errorf("lag(%d) = %g, want %g", c, got, want)
		}
	}
	if w.lag(0, -3) != 0 {
		t.Error("a negative filter lag is not clamped")
	}
}
