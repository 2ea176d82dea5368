package scenario

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/sim"
)

func TestDACOCXOLocksAndBeatsTheBoardCrystal(t *testing.T) {
	r, err := RunDAC(dacOCXOSpec(), 40*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v lock %v s, bound/true %v", r, deref(r.LockS), deref(r.BoundOverTrueP50))
	// The calibration takes three 2-minute segments; then the Kalman loop pulls in within a few minutes.
	if r.LockS == nil || *r.LockS > 600 {
		t.Errorf("lock %v s after the first fix", deref(r.LockS))
	}
	// The board crystal's servo reaches about 250 ns RMS with the same captures (cold-start); the OCXO's
	// quiet allows a 100 s loop that averages the capture noise down.
	if r.RMSNs > 150 || r.MaxAbsNs > 500 {
		t.Errorf("oscillator phase rms %.0f ns, max %.0f ns", r.RMSNs, r.MaxAbsNs)
	}
	if r.BoundViolations != 0 || r.FinalState != "locked" || r.Steps != 2 {
		t.Errorf("violations %d, state %s, syncs %d", r.BoundViolations, r.FinalState, r.Steps)
	}
}

func TestDACOCXOHoldoverStaysHonest(t *testing.T) {
	r, err := RunDAC(dacOCXOHoldoverSpec(), 90*time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v bound/true %v", r, deref(r.BoundOverTrueP50))
	if r.BoundViolations != 0 || r.FinalState != "holdover" || r.WindowS != 3601 {
		t.Errorf("violations %d, state %s, window %d s", r.BoundViolations, r.FinalState, r.WindowS)
	}
	// An hour of holdover on the OCXO stays within microseconds (the board crystal: hundreds of µs).
	if r.MaxAbsNs > 5000 || r.BoundOverTrueP50 == nil || *r.BoundOverTrueP50 < 1 {
		t.Errorf("max %.0f ns, bound/true %v", r.MaxAbsNs, deref(r.BoundOverTrueP50))
	}
}

// The calibration, tested in simulation: the fitted gain is the simulated tuning curve's secant over ±Step,
// which for the curve's symmetric curvature is its mid-scale slope.
func TestDACCalibrationFindsTheSimulatedGain(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		su, _, err := BuildDAC(dacOCXOSpec(), 30*time.Minute, seed)
		if err != nil {
			t.Fatal(err)
		}
		want := su.Osc.GainPPBPerLSB
		osc, err := sim.NewDACOscillator(su.Osc, su.Sim.Start, seed)
		if err != nil {
			t.Fatal(err)
		}
		step := (su.Ctrl.MaxCode - su.Ctrl.MinCode) / 8
		secant := (osc.TuningPPB(1<<15+step) - osc.TuningPPB(1<<15-step)) / float64(2*step)
		if math.Abs(secant-want) > 1e-12 {
			t.Fatalf("secant %g, mid-scale slope %g", secant, want)
		}
		r, st, err := runDACStatus(su, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if st.Counts.Calibrations != 1 || st.Counts.CalFailures != 0 || math.Abs(st.GainPPBPerLSB-want) > 4*st.GainErrPPB ||
			st.GainErrPPB > 0.1*want {
			t.Errorf("seed %d: gain %.5f ± %.5f ppb/LSB, want %.5f (%+v)", seed, st.GainPPBPerLSB, st.GainErrPPB, want, st.Counts)
		}
		t.Logf("seed %d: gain %.5f ± %.5f ppb/LSB (simulated %.5f); rms %.0f ns", seed, st.GainPPBPerLSB, st.GainErrPPB, want, r.RMSNs)
	}
}

func TestDACRunnerIsRegisteredByName(t *testing.T) {
	if dacRunner("cold-start") != nil || dacRunner(DACOCXO) == nil || dacRunner(DACOCXOHoldover) == nil {
		t.Error("dacRunner")
	}
	if _, err := RunDAC(dacOCXOSpec(), time.Minute, 1); err == nil {
		t.Error("a run shorter than the calibration accepted")
	}
}

func runDACStatus(su DACSetup, d time.Duration) (Result, discipline.DACStatus, error) {
	var st discipline.DACStatus
	dacDone = func(s discipline.DACStatus) { st = s }
	defer func() { dacDone = nil }()
	r, err := RunDACSetup(DACOCXO, su, d)
	return r, st, err
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// The DAC scenarios' figures as benchmark metrics, at full length, seed 1 (as benchScenario does for the
// others, through RunDAC so that they run whether or not Specs lists the DAC scenarios yet):
//
//	go test -run '^$' -bench ScenarioDAC -benchtime 1x ./internal/scenario/
func benchDAC(b *testing.B, spec Spec) {
	var r Result
	for b.Loop() {
		var err error
		if r, err = RunDAC(spec, 0, 1); err != nil {
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

func BenchmarkScenarioDACOCXO(b *testing.B)         { benchDAC(b, dacOCXOSpec()) }
func BenchmarkScenarioDACOCXOHoldover(b *testing.B) { benchDAC(b, dacOCXOHoldoverSpec()) }
