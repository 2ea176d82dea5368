package pps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestGateVerdicts(t *testing.T) {
	g := NewGate(GateConfig{MinSamples: 4})
	var got []GateVerdict
	offs := []time.Duration{0, 1000, -1000, 500, 0, -500, 80_000, 300, 0, 60_000, 60_500, 59_800, 60_100, 60_000}
	for i, o := range offs {
		got = append(got, g.Check(sec(i), o))
	}
	want := []GateVerdict{GateLearning, GateLearning, GateLearning, GateLearning, GateAccept, GateAccept,
		GateOutlier, GateAccept, GateAccept, GateOutlier, GateOutlier, GateOutlier, GateRelearn, GateLearning}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d (%v): %v, want %v", i, offs[i], got[i], want[i])
		}
	}
}

func TestGateResetsAfterGapAndBackwardsTime(t *testing.T) {
	g := NewGate(GateConfig{})
	for i := 0; i < 8; i++ {
		g.Check(sec(i), 0)
	}
	if v := g.Check(sec(100), time.Millisecond); v != GateLearning {
		t.Errorf("after a 92 s gap: %v", v)
	}
	if v := g.Check(sec(50), time.Millisecond); v != GateLearning {
		t.Errorf("time going back: %v", v)
	}
}

// TestGateFollowsALockingServo runs a PI loop like the discipline's (Kp 0.2, Ki 0.02 per second) from a
// 20 ppm frequency error and 300 µs offset, with 1 µs capture noise: the gate must not reject the servo's
// own corrections, and must still reject a 50 µs outlier once locked.
func TestGateFollowsALockingServo(t *testing.T) {
	g := NewGate(GateConfig{})
	x := 300e-6      // offset, s
	const f0 = 20e-6 // frequency error
	integ := 0.0
	rejected := 0
	for i := 0; i < 300; i++ {
		meas := x + noise(i)*1e-6
		late := 0.0
		if i == 250 {
			late = 50e-6
		}
		v := g.Check(sec(i), time.Duration((meas+late)*1e9))
		if late != 0 {
			if v != GateOutlier {
				t.Errorf("locked, 50 µs outlier: %v", v)
			}
			continue
		}
		if v == GateOutlier {
			rejected++
			continue
		}
		integ += 0.02 * meas
		corr := -(integ + 0.2*meas)
		x += f0 + corr
	}
	if rejected > 0 {
		t.Errorf("gate rejected %d of the servo's own samples", rejected)
	}
	if x > 5e-6 || x < -5e-6 {
		t.Errorf("loop did not lock: offset %g", x)
	}
}

func BenchmarkGateCheck(b *testing.B) {
	g := NewGate(GateConfig{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g.Check(timebase.Instant(i)*timebase.Second, time.Duration(noise(i)*1000))
	}
}
