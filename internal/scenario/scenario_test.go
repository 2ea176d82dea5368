package scenario

import (
	"testing"
	"time"
)

// The figures are deterministic per seed; the margins below are the slack between what the servo reaches and
// what would count as a regression (targets: lock within 60 s, no bound violation).

func TestColdStartLocksFastAndHonestly(t *testing.T) {
	r, err := Run("cold-start", 10*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.LockS == nil || *r.LockS > 60 {
		t.Errorf("lock %v s after the first fix, want within 60", r.LockS)
	}
	if r.RMSNs > 350 || r.MaxAbsNs > 1000 {
		t.Errorf("steady state rms %.0f ns, max %.0f ns", r.RMSNs, r.MaxAbsNs)
	}
	if r.BoundViolations != 0 || r.Steps != 1 || r.FinalState != "locked" {
		t.Errorf("violations %d, steps %d, state %s", r.BoundViolations, r.Steps, r.FinalState)
	}
}

func TestBadPPSIsCountedNotFollowed(t *testing.T) {
	r, err := Run("bad-pps", 15*time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.LockS == nil || *r.LockS > 60 || r.RMSNs > 400 || r.MaxAbsNs > 1200 {
		t.Errorf("lock %v s, rms %.0f ns, max %.0f ns", r.LockS, r.RMSNs, r.MaxAbsNs)
	}
	if r.BoundViolations != 0 || r.Steps != 1 {
		t.Errorf("violations %d, steps %d", r.BoundViolations, r.Steps)
	}
	// Both label slips are caught (by the decoder, as time jumps and repeats, or by the pairing).
	if r.GPSJumps+r.LabelSlips < 4 {
		t.Errorf("label slips seen: decoder %d, pairing %d", r.GPSJumps, r.LabelSlips)
	}
}

func TestShortHoldoverStaysHonest(t *testing.T) {
	// Ten minutes of training is too short for the learned record: the bound comes from the prior.
	r, err := Run("holdover-1h", 70*time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.BoundViolations != 0 || r.FinalState != "holdover" || r.WindowS != 3601 {
		t.Errorf("violations %d, state %s, window %d s", r.BoundViolations, r.FinalState, r.WindowS)
	}
	if r.BoundOverTrueP50 == nil || *r.BoundOverTrueP50 < 1 {
		t.Errorf("bound over true %v", r.BoundOverTrueP50)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	a, err := Run("cold-start", 3*time.Minute, 9)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run("cold-start", 3*time.Minute, 9)
	if a.RMSNs != b.RMSNs || a.MaxAbsNs != b.MaxAbsNs || a.Served != b.Served {
		t.Errorf("same seed, different figures: %+v vs %+v", a, b)
	}
}

func TestRunRejectsBadRequests(t *testing.T) {
	if _, err := Run("warp-drive", 0, 1); err == nil {
		t.Error("unknown scenario accepted")
	}
	if _, err := Run("cold-start", time.Second, 1); err == nil {
		t.Error("1 s cold start accepted")
	}
}

// Benchmarks run the scenarios at their full length and report the figures as metrics:
//
//	go test -run '^$' -bench Scenario -benchtime 1x ./internal/scenario/
func benchScenario(b *testing.B, name string) {
	var r Result
	for b.Loop() {
		var err error
		r, err = Run(name, 0, 1)
		if err != nil {
			b.Fatal(err)
		}
	}
	lock := -1.0
	if r.LockS != nil {
		lock = *r.LockS
	}
	b.ReportMetric(lock, "lock_s")
	b.ReportMetric(r.RMSNs, "rms_ns")
	b.ReportMetric(r.P99AbsNs, "p99_abs_ns")
	b.ReportMetric(r.MaxAbsNs, "max_abs_ns")
	b.ReportMetric(float64(r.BoundViolations), "bound_violations")
	if r.BoundOverTrueP50 != nil {
		b.ReportMetric(*r.BoundOverTrueP50, "bound/true_p50")
	}
}

func BenchmarkScenarioColdStart(b *testing.B)       { benchScenario(b, "cold-start") }
func BenchmarkScenarioBadPPS(b *testing.B)          { benchScenario(b, "bad-pps") }
func BenchmarkScenarioHoldover1h(b *testing.B)      { benchScenario(b, "holdover-1h") }
func BenchmarkScenarioHoldover1hNoisy(b *testing.B) { benchScenario(b, "holdover-1h-noisy") }

func BenchmarkScenarioHoldover1hTemp(b *testing.B) { benchScenario(b, "holdover-1h-temp") }
func BenchmarkScenarioHoldover1hNoisyTemp(b *testing.B) {
	benchScenario(b, "holdover-1h-noisy-temp")
}
