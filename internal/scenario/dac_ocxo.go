package scenario

// The dac-ocxo scenarios: a DAC-steered OCXO (internal/sim.DACOscillator) disciplined to the simulated GPS
// pulse by discipline.DACController, scored like the others but on the oscillator's phase against truth.
//
//	dac-ocxo            the default box plus a 10 MHz OCXO on a 16-bit DAC (±0.4 ppm of tuning, 20 %
//	                    curvature, gain unknown: calibrated in the run), its divided pulse captured by a second
//	                    GPIO line with the same latency model as the GPS pulse. Scored from first fix + 20 min
//	                    (the calibration takes 3 of them) to the end.
//	dac-ocxo-holdover   the same, trained for duration − 1 h, then the receiver goes silent for an hour while
//	                    the oscillator's temperature ramps 1 °C/h (0.1 ppb/h at its 0.1 ppb/°C); scored over the
//	                    hour. The controller coasts on its frequency estimate.
//
// The loop has no receiver decoding and no daemon.Core: the DAC loop needs no labels (the two pulses of a
// second are paired by proximity, within half a second, and the controller's gate removes what a glitch
// pairs), and the board clock is left free-running, since it cancels in the phase difference. The first fix
// is the first NMEA epoch the receiver marked valid (ground truth); the bound checked each second is the
// controller's Bound once it has locked (a box would serve from the oscillator only then). In the Result,
// steps counts divider syncs (two: the power-up phase, then the calibration's walk), pps_outliers the samples
// the controller's gate rejected, and final_state is the controller's state.

import (
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DACOCXO and DACOCXOHoldover name the DAC-steered oscillator scenarios.
const (
	DACOCXO         = "dac-ocxo"
	DACOCXOHoldover = "dac-ocxo-holdover"
)

// dacSettle is how long after the first fix the dac-ocxo steady state begins.
const dacSettle = 20 * time.Minute

func dacOCXOSpec() Spec {
	return Spec{Name: DACOCXO, Summary: "10 MHz OCXO on a 16-bit DAC, gain calibrated in the run, steered to the GPS PPS; oscillator phase scored",
		DefaultDuration: 2 * time.Hour, MinDuration: 30 * time.Minute, build: dacBuild(false)}
}

func dacOCXOHoldoverSpec() Spec {
	return Spec{Name: DACOCXOHoldover, Summary: "dac-ocxo trained for duration−1h, then 1 h without GPS while the OCXO warms 1 °C/h",
		DefaultDuration: 6 * time.Hour, MinDuration: 90 * time.Minute, build: dacBuild(true)}
}

// dacBuild makes the GPS side (the default box, quick first fix) and the outage of the holdover variant.
func dacBuild(hold bool) func(seed uint64, d time.Duration) (Setup, error) {
	return func(seed uint64, d time.Duration) (Setup, error) {
		su := base(seed)
		su.Sim.Receiver.ColdStartNoFix = 5 * time.Second
		su.Sim.Receiver.ColdStartNoTime = 2 * time.Second
		su.PPSBias = su.Sim.PPS.Bias
		if hold {
			from := start.Add(d - time.Hour)
			su.OutageFrom = from
			su.Sim.Receiver.Outages = []sim.Interval{{From: from, To: from.Add(2 * time.Hour), Kind: sim.OutageSilent}}
		}
		return su, nil
	}
}

// dacRunner returns the runner of a DAC scenario, nil for the others (which RunSetup runs).
func dacRunner(name string) func(Spec, time.Duration, uint64) (Result, error) {
	if name == DACOCXO || name == DACOCXOHoldover {
		return RunDAC
	}
	return nil
}

// DACSetup is a DAC scenario: the GPS side, the oscillator and the controller.
type DACSetup struct {
	Setup
	Osc  sim.DACOscConfig
	Ctrl discipline.DACConfig
}

// BuildDAC makes the DAC scenario spec's setup for d (0: its default) and seed.
func BuildDAC(spec Spec, d time.Duration, seed uint64) (DACSetup, time.Duration, error) {
	su, d, err := spec.Build(d, seed)
	if err != nil {
		return DACSetup{}, 0, err
	}
	oc := sim.DefaultDACOscConfig()
	// The oscillator starts somewhere in its tolerance (±0.2 ppm at mid-scale), the sign from the seed.
	oc.Osc.InitialPPM = 0.087 + 0.011*float64(seed%7)
	if seed%2 == 1 {
		oc.Osc.InitialPPM = -oc.Osc.InitialPPM
	}
	oc.Osc.InitialOffset = time.Duration(100e6+seed%8*97e6) + 123457*time.Nanosecond
	oc.Osc.Temperature.NoiseC = 0.05 // in its oven, the crystal sees a fraction of the room's drafts
	if su.OutageFrom != 0 {
		oc.Osc.Temperature.Steps = append(oc.Osc.Temperature.Steps,
			sim.TempStep{At: su.OutageFrom.Sub(start), DeltaC: 100, Tau: 100 * time.Hour})
	}
	cc := discipline.DefaultDACConfig()
	cc.MaxCode = 1<<oc.Bits - 1
	cc.PPSBias = su.PPSBias
	return DACSetup{Setup: su, Osc: oc, Ctrl: cc}, d, nil
}

// RunDAC runs a DAC scenario.
func RunDAC(spec Spec, d time.Duration, seed uint64) (Result, error) {
	su, d, err := BuildDAC(spec, d, seed)
	if err != nil {
		return Result{}, err
	}
	return RunDACSetup(spec.Name, su, d)
}

// Test hooks: dacDone, when set, receives the controller at the end of a run; dacSecond each second's
// truth and the controller.
var (
	dacDone   func(*discipline.DACController)
	dacSecond func(truth timebase.Instant, c *discipline.DACController)
)

// RunDACSetup runs a DAC setup for d of truth and scores the oscillator's phase.
func RunDACSetup(name string, su DACSetup, d time.Duration) (Result, error) {
	fail := func(err error) (Result, error) { return Result{}, fmt.Errorf("scenario %s: %w", name, err) }
	w, err := sim.NewWorld(su.Sim)
	if err != nil {
		return fail(err)
	}
	st := su.Sim.Start
	osc, err := sim.NewDACOscillator(su.Osc, st, su.Sim.Seed)
	if err != nil {
		return fail(err)
	}
	ctrl, cmd, err := discipline.NewDACController(su.Ctrl)
	if err != nil {
		return fail(err)
	}
	board := w.Board()
	end := st.Add(d)
	refEnd := end
	if su.OutageFrom != 0 && su.OutageFrom < end {
		refEnd = su.OutageFrom
	}

	var (
		cur        = st
		syncWanted bool
		oscEmit    timebase.Instant // the oscillator's next pulse, as it stands
		oscCapture timebase.Instant // its capture, once emitted (0: not yet)
		firstFix   timebase.Instant
		lastBad    timebase.Instant
		window     []float64
		ratios     []float64
		bounds     []float64
		violations int
		served     int
		writeErr   error
	)
	apply := func(c discipline.DACCommand) {
		if c.Sync {
			syncWanted = true
		}
		if !c.Write || c.Code == osc.Code() {
			return
		}
		if err := osc.SetCodeAt(cur, c.Code); err != nil && writeErr == nil {
			writeErr = err
		}
		if oscCapture == 0 { // the next pulse moves with the new frequency, unless it is already out
			oscEmit = osc.NextPulse(cur)
		}
	}
	apply(cmd)
	oscEmit = osc.NextPulse(st)
	var pairer discipline.DACPairer
	pair := func(b timebase.Instant, isOsc bool) {
		if smp, ok := pairer.Edge(b, isOsc); ok {
			apply(ctrl.Sample(smp))
		}
	}

	pending := w.Next()
	nextVisit := st.Truncate(time.Second).Add(time.Second)
	for {
		// The earliest of: the world's event, the oscillator's pulse (emission, then capture), a visit.
		oscNext := oscEmit
		if oscCapture != 0 {
			oscNext = oscCapture
		}
		t := min(pending.Truth, oscNext, nextVisit)
		if t > end {
			break
		}
		cur = t
		switch {
		case t == nextVisit:
			board.Advance(t)
			osc.Advance(t)
			c, _ := ctrl.Tick(board.At(t))
			apply(c)
			e := osc.ErrorAt(t)
			abs := e.Abs()
			if t < refEnd && (firstFix == 0 || abs >= LockThreshold) {
				lastBad = t
			}
			bound, ok := ctrl.Bound(board.At(t))
			synced := ok && ctrl.Status().EverLocked
			if synced {
				served++
				if abs > bound {
					violations++
				}
			}
			inWindow := firstFix != 0 && t >= firstFix.Add(dacSettle)
			if su.OutageFrom != 0 {
				inWindow = t >= su.OutageFrom
			}
			if inWindow {
				window = append(window, float64(abs))
				if synced {
					ratios = append(ratios, float64(bound)/math.Max(float64(abs), 1))
					bounds = append(bounds, float64(bound))
				}
			}
			if dacSecond != nil {
				dacSecond(t, ctrl)
			}
			nextVisit = nextVisit.Add(time.Second)
		case t == oscNext && oscCapture == 0:
			lat, _ := osc.CaptureLatency()
			oscCapture = oscEmit.Add(lat)
		case t == oscNext:
			oscCapture = 0
			oscEmit = osc.NextPulse(oscEmit)
			pair(board.At(t), true)
		default:
			ev := pending
			pending = w.Next()
			switch ev.Kind {
			case sim.EventBytes:
				if firstFix == 0 && ev.Valid {
					firstFix = ev.Truth
				}
			case sim.EventEdge:
				if syncWanted {
					// The divider reloads on this edge, whatever it is: hardware cannot tell a glitch.
					syncWanted = false
					em := ev.Pulse.Emitted
					osc.SyncTo(em, em.Add(time.Second/2).Truncate(time.Second))
					pairer.Reset()
					if oscCapture == 0 {
						oscEmit = osc.NextPulse(cur)
					}
				}
				pair(ev.Edge.Time, false)
			}
		}
	}
	if writeErr != nil {
		return fail(writeErr)
	}
	stat := ctrl.Status()
	if dacDone != nil {
		dacDone(ctrl)
	}
	r := Result{
		Scenario:        name,
		Seed:            su.Sim.Seed,
		DurationS:       d.Seconds(),
		BoundViolations: violations,
		WindowS:         len(window),
		Steps:           stat.Counts.Syncs,
		FinalState:      stat.State.String(),
		Served:          served,
		Outliers:        stat.Counts.Outliers,
	}
	if su.OutageFrom != 0 {
		r.Window = "holdover (oscillator phase)"
	} else {
		r.Window = "oscillator phase from first fix + 20 min"
	}
	r.finish(st, firstFix, lastBad, refEnd, minSustain, window, ratios, bounds)
	return r, nil
}
