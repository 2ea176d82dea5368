package scenario

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
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
	dacDone = func(c *discipline.DACController) { st = c.Status() }
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

// A restart with the DAC state file: a box trained for 40 minutes saves what its controller learned; the next
// start, with that state aged by a day, begins at the learned code with the learned gain and replaces the
// three calibration segments by one check segment, so both the oscillator's true phase and the controller
// lock several times sooner than a start without it. Seeds s and s+14 simulate the same oscillator part
// (same initial frequency) with a different noise history and power-up phase.
func TestDACRestartWithStateLocksSooner(t *testing.T) {
	type run struct {
		r        Result
		ctlLock  time.Duration // first fix to the controller's lock
		st       discipline.DACStatus
		learned  discipline.DACLearned
		learnOK  bool
		firstFix time.Duration
	}
	do := func(seed uint64, d time.Duration, learned discipline.DACLearned) run {
		t.Helper()
		su, _, err := BuildDAC(dacOCXOSpec(), d, seed)
		if err != nil {
			t.Fatal(err)
		}
		su.Ctrl.Learned = learned
		var out run
		var locked timebase.Instant
		dacSecond = func(u timebase.Instant, c *discipline.DACController) {
			if locked == 0 && c.State() == discipline.DACLocked {
				locked = u
			}
		}
		dacDone = func(c *discipline.DACController) {
			out.st = c.Status()
			out.learned, out.learnOK = c.Learned()
		}
		defer func() { dacSecond, dacDone = nil, nil }()
		if out.r, err = RunDACSetup(DACOCXO, su, d); err != nil {
			t.Fatal(err)
		}
		if locked == 0 {
			t.Fatalf("seed %d: the controller never locked: %+v", seed, out.st)
		}
		out.firstFix = time.Duration(out.r.FirstFixS * float64(time.Second))
		out.ctlLock = locked.Sub(su.Sim.Start) - out.firstFix
		return out
	}
	for _, seed := range []uint64{1, 2} {
		train := do(seed, 40*time.Minute, discipline.DACLearned{})
		if !train.learnOK {
			t.Fatalf("seed %d: nothing learned in training: %+v", seed, train.st)
		}
		l := train.learned
		l.Model = "ad5693r"
		l.Written = start.Add(40 * time.Minute)
		// Round-trip through the file format, as the daemon does.
		b, err := discipline.EncodeDACLearned(l)
		if err != nil {
			t.Fatal(err)
		}
		if l, err = discipline.DecodeDACLearned(b); err != nil {
			t.Fatal(err)
		}
		// The restart: the same part, a day later (start is the same instant, so Aged gets a day by hand).
		l = l.Aged(l.Written.Add(24 * time.Hour))
		cold := do(seed+14, 30*time.Minute, discipline.DACLearned{})
		warm := do(seed+14, 30*time.Minute, l)
		t.Logf("seed %d: learned %+v", seed, l)
		t.Logf("seed %d: without state: lock %v s (controller %v), rms %.0f ns, syncs %d; with state: lock %v s (controller %v), rms %.0f ns, syncs %d",
			seed, deref(cold.r.LockS), cold.ctlLock, cold.r.RMSNs, cold.r.Steps, deref(warm.r.LockS), warm.ctlLock, warm.r.RMSNs, warm.r.Steps)
		if warm.st.Counts.Calibrations != 0 || warm.st.Counts.StateRefused != 0 || warm.st.GainSource != discipline.GainRemembered {
			t.Errorf("seed %d: with state: %d calibrations, %d states refused, gain %v", seed,
				warm.st.Counts.Calibrations, warm.st.Counts.StateRefused, warm.st.GainSource)
		}
		if cold.st.Counts.Calibrations != 1 || cold.st.GainSource != discipline.GainCalibrated {
			t.Errorf("seed %d: without state: %d calibrations, gain %v", seed, cold.st.Counts.Calibrations, cold.st.GainSource)
		}
		if warm.r.LockS == nil || cold.r.LockS == nil || 2*(*warm.r.LockS) > *cold.r.LockS || 2*warm.ctlLock > cold.ctlLock {
			t.Errorf("seed %d: with state lock %v s (controller %v), not under half of %v s (%v) without",
				seed, deref(warm.r.LockS), warm.ctlLock, deref(cold.r.LockS), cold.ctlLock)
		}
		if warm.r.BoundViolations != 0 || warm.r.RMSNs > math.Max(150, 1.25*cold.r.RMSNs) || warm.r.FinalState != "locked" {
			t.Errorf("seed %d: with state: %d violations, rms %.0f ns, %s", seed, warm.r.BoundViolations, warm.r.RMSNs, warm.r.FinalState)
		}
	}
}

// A remembered state that is not this oscillator's is refused and replaced by a full calibration, which
// finds the true gain; the loop then locks as it would without a state. Two ways to be wrong: a frequency at
// the remembered code far from what this oscillator does there (another oscillator: the check segment sees
// it), and a gain of the wrong sign whose remembered code happens to hold this oscillator nearly still (the
// check passes; the loop runs away instead of locking, and the lock deadline refuses it).
func TestDACWrongStateIsRecalibrated(t *testing.T) {
	for _, c := range []struct {
		name    string
		learned discipline.DACLearned
		within  time.Duration // first fix to the controller's lock, at most
		run     time.Duration
	}{
		{"another oscillator", discipline.DACLearned{Model: "ad5693r", MaxCode: 65535, Code: 30000, GainPPBPerLSB: 0.0122,
			GainErrPPB: 0.0002, FreqPPB: 0, FreqErrPPB: 0.05, Written: start}, 10 * time.Minute, 30 * time.Minute},
		{"gain of the wrong sign", discipline.DACLearned{Model: "ad5693r", MaxCode: 65535, Code: 20000, GainPPBPerLSB: -0.02,
			GainErrPPB: 0.0002, FreqPPB: 0, FreqErrPPB: 0.05, Written: start}, 30 * time.Minute, 35 * time.Minute},
	} {
		su, _, err := BuildDAC(dacOCXOSpec(), c.run, 4)
		if err != nil {
			t.Fatal(err)
		}
		su.Ctrl.Learned = c.learned.Aged(start)
		var locked timebase.Instant
		dacSecond = func(u timebase.Instant, ctl *discipline.DACController) {
			if locked == 0 && ctl.State() == discipline.DACLocked {
				locked = u
			}
		}
		r, st, err := runDACStatus(su, c.run)
		dacSecond = nil
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v; counts %+v", c.name, r, st.Counts)
		want := su.Osc.GainPPBPerLSB
		if st.Counts.StateRefused != 1 || st.Counts.Calibrations != 1 || st.GainSource != discipline.GainCalibrated ||
			math.Abs(st.GainPPBPerLSB-want) > 4*st.GainErrPPB {
			t.Errorf("%s: refused %d, calibrations %d, gain %v %.5f ± %.5f (want %.5f)", c.name, st.Counts.StateRefused,
				st.Counts.Calibrations, st.GainSource, st.GainPPBPerLSB, st.GainErrPPB, want)
		}
		fix := su.Sim.Start.Add(time.Duration(r.FirstFixS * float64(time.Second)))
		if locked == 0 || locked.Sub(fix) > c.within || r.FinalState != "locked" || r.BoundViolations != 0 {
			t.Errorf("%s: after recalibrating: %s, %d violations, controller lock %v after the first fix (at most %v)",
				c.name, r.FinalState, r.BoundViolations, locked.Sub(fix), c.within)
		}
	}
}
