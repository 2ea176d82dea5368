package scenario

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
)

// LockThreshold is the |error| under which the served clock counts as locked for lock_s.
const LockThreshold = time.Microsecond

// settle is how long after the first fix the steady-state window of a scenario with a reference begins.
const settle = 120 * time.Second

// minSustain: a lock that holds for less than this before the reference ends (or the run ends) is not reported.
const minSustain = 60 * time.Second

// ErrUnavailable is returned for a scenario that is named in the issue but cannot run in this build.
var ErrUnavailable = errors.New("scenario unavailable")

// Setup is one scenario, built for a duration and a seed.
type Setup struct {
	Sim   sim.Config
	Servo discipline.Config
	// PPSBias is the calibrated capture bias the daemon subtracts (the simulated hardware's mean delay).
	PPSBias time.Duration
	// OutageFrom is when the reference goes away for good in this run (zero: never). Lock is sought before it;
	// the scored window is [OutageFrom, end) when set, the steady state otherwise.
	OutageFrom timebase.Instant
	// Slips are UTC seconds whose NMEA epoch is rewritten to name the next second (a one-second label slip).
	Slips []timebase.Instant
	// Leap is the daemon's leap table (nil: the built-in one); GPS the decoder's options (a 2016 scenario must
	// lower the week-rollover floor).
	Leap *leap.Table
	GPS  gps.Options
	// TempSensor, when set, puts a temperature sensor on the board (sim.TempSensor), read every TempEvery
	// (0: 2 s) of truth and fed to the core (daemon.Core.Temperature).
	TempSensor *sim.TempSensorConfig
	TempEvery  time.Duration
}

// Spec names a scenario and builds it.
type Spec struct {
	Name            string
	Summary         string
	DefaultDuration time.Duration
	MinDuration     time.Duration
	build           func(seed uint64, d time.Duration) (Setup, error)
}

var start = timebase.Date(2026, time.November, 22, 0, 0, 0, 0)

// Specs lists the scenarios, in a stable order.
func Specs() []Spec {
	return append([]Spec{
		{Name: "cold-start", Summary: "±20 ppm, 1.23 s off, no fix for 30 s; u-blox pulse σ 20 ns; GPIO latency 5 µs σ 1 µs, 0.2 % 50 µs outliers",
			DefaultDuration: 20 * time.Minute, MinDuration: 3 * time.Minute, build: coldStart},
		{Name: "holdover-1h", Summary: "train for duration−1h, then 1 h without GPS while the crystal warms 1 °C/h",
			DefaultDuration: 25 * time.Hour, MinDuration: 70 * time.Minute, build: holdover},
		{Name: "holdover-1h-noisy", Summary: "holdover-1h with the default board's 0.3 °C temperature fluctuations",
			DefaultDuration: 25 * time.Hour, MinDuration: 70 * time.Minute, build: func(seed uint64, d time.Duration) (Setup, error) {
				su, err := holdover(seed, d)
				su.Sim.Osc.Temperature.NoiseC = sim.DefaultConfig().Osc.Temperature.NoiseC
				return su, err
			}},
		{Name: "holdover-1h-temp", Summary: "holdover-1h with the SoC temperature sensor read every 2 s: the servo learns the crystal's tempco and steers the hour by it",
			DefaultDuration: 25 * time.Hour, MinDuration: 70 * time.Minute, build: withTempSensor(holdover)},
		{Name: "holdover-1h-noisy-temp", Summary: "holdover-1h-noisy with the SoC temperature sensor read every 2 s",
			DefaultDuration: 25 * time.Hour, MinDuration: 70 * time.Minute, build: withTempSensor(func(seed uint64, d time.Duration) (Setup, error) {
				su, err := holdover(seed, d)
				su.Sim.Osc.Temperature.NoiseC = sim.DefaultConfig().Osc.Temperature.NoiseC
				return su, err
			})},
		{Name: "bad-pps", Summary: "cold-start with 5 % missing pulses, 5 % spurious edges, 1 % late captures and two one-second label slips",
			DefaultDuration: 30 * time.Minute, MinDuration: 15 * time.Minute, build: badPPS},
		dacOCXOSpec(), dacOCXOHoldoverSpec(),
	}, leapSpecs()...)
}

// Lookup returns the named scenario.
func Lookup(name string) (Spec, error) {
	var names []string
	for _, s := range Specs() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Spec{}, fmt.Errorf("scenario %q unknown; known: %v", name, names)
}

// Build makes the scenario's setup for duration d (0: its default) and seed.
func (s Spec) Build(d time.Duration, seed uint64) (Setup, time.Duration, error) {
	if d == 0 {
		d = s.DefaultDuration
	}
	if d < s.MinDuration || d > 31*24*time.Hour {
		return Setup{}, 0, fmt.Errorf("scenario %s: duration %v outside [%v, 744h]", s.Name, d, s.MinDuration)
	}
	su, err := s.build(seed, d)
	if err != nil {
		return Setup{}, 0, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return su, d, nil
}

// base is the box every scenario starts from: the simulator's default Pi with a u-blox 8, whose parameters
// already match the figures (pulse σ 20 ns, GPIO latency 5 µs σ 1 µs, 0.2 % outliers of 50 µs).
func base(seed uint64) Setup {
	c := sim.DefaultConfig()
	c.Seed = seed
	c.Start = start
	// ±20 ppm, the sign drawn from the seed so that both directions are exercised.
	c.Osc.InitialPPM = 20
	if seed%2 == 1 {
		c.Osc.InitialPPM = -20
	}
	c.Receiver.ColdStartNoFix = 30 * time.Second
	c.Receiver.ColdStartNoTime = 10 * time.Second
	return Setup{
		Sim:     c,
		PPSBias: c.PPS.Bias + c.PPS.CaptureLatencyMean,
	}
}

func coldStart(seed uint64, _ time.Duration) (Setup, error) {
	return base(seed), nil
}

func holdover(seed uint64, d time.Duration) (Setup, error) {
	su := base(seed)
	su.Sim.Receiver.ColdStartNoFix = 5 * time.Second
	su.Sim.Receiver.ColdStartNoTime = 2 * time.Second
	from := start.Add(d - time.Hour)
	su.OutageFrom = from
	su.Sim.Receiver.Outages = []sim.Interval{{From: from, To: from.Add(2 * time.Hour), Kind: sim.OutageSilent}}
	// A box indoors, away from draughts: the crystal's temperature fluctuates by 0.05 °C (σ) around the day's
	// swing, so that the ramp, not chance, is what the hour is about. holdover-1h-noisy keeps the default
	// 0.3 °C, where the error is mostly chance and no honest bound can be within 3x of it at the median.
	su.Sim.Osc.Temperature.NoiseC = 0.05
	// A ramp of 1 °C/h: the simulator's temperature steps approach their ΔT exponentially, so a step of 100 °C
	// with a time constant of 100 h rises by 0.995 °C in its first hour (1 °C/h at the start, 0.99 °C/h after
	// an hour): a ramp to within 1 %.
	su.Sim.Osc.Temperature.Steps = append(su.Sim.Osc.Temperature.Steps,
		sim.TempStep{At: d - time.Hour, DeltaC: 100, Tau: 100 * time.Hour})
	return su, nil
}

// withTempSensor adds the default SoC temperature sensor (sim.DefaultTempSensor), read every 2 s, to a
// scenario: the same world, the same seeds, one input more.
func withTempSensor(build func(uint64, time.Duration) (Setup, error)) func(uint64, time.Duration) (Setup, error) {
	return func(seed uint64, d time.Duration) (Setup, error) {
		su, err := build(seed, d)
		ts := sim.DefaultTempSensor()
		su.TempSensor = &ts
		su.TempEvery = 2 * time.Second
		return su, err
	}
}

func badPPS(seed uint64, d time.Duration) (Setup, error) {
	su := base(seed)
	p := &su.Sim.PPS
	p.MissingProb = 0.05
	p.SpuriousProb = 0.05
	p.OutlierProb = 0.01
	// Two single-epoch label slips, one before lock is likely and one in the steady state. The slipped second
	// ends in 4, so the rewrite is one digit (see slipper).
	su.Slips = []timebase.Instant{start.Add(64 * time.Second), start.Add(d / 2).Truncate(time.Minute).Add(4 * time.Second)}
	return su, nil
}

// Result is the summary `gpsntpctl simulate` prints. The first seven fields are the contract.
type Result struct {
	Scenario         string   `json:"scenario"`
	LockS            *float64 `json:"lock_s"`
	RMSNs            float64  `json:"rms_ns"`
	P99AbsNs         float64  `json:"p99_abs_ns"`
	MaxAbsNs         float64  `json:"max_abs_ns"`
	BoundViolations  int      `json:"bound_violations"`
	BoundOverTrueP50 *float64 `json:"bound_over_true_p50"`

	Seed       uint64  `json:"seed"`
	DurationS  float64 `json:"duration_s"`
	Window     string  `json:"window"`       // what rms/p99/max/bound_over_true cover
	WindowS    int     `json:"window_s"`     // seconds scored in it
	FirstFixS  float64 `json:"first_fix_s"`  // from the start of the run
	Steps      uint64  `json:"steps"`        // clock steps
	FinalState string  `json:"final_state"`  // servo state at the end
	Served     int     `json:"served_s"`     // seconds the box claimed sync (LI ≠ 3)
	BoundP50Ns float64 `json:"bound_p50_ns"` // median served bound over the window
	Outliers   uint64  `json:"pps_outliers"` // samples the PPS gate rejected
	LabelSlips uint64  `json:"label_slips"`  // labels the pairing withheld as whole-second slips
	GPSJumps   uint64  `json:"gps_jumps"`    // epochs the decoder flagged as time jumps or repeats

	// Leap is what was served across leap seconds, for runs with a leap second or a leap table of their own.
	Leap *leap.JSON `json:"leap,omitempty"`
	// TempFit is the servo's temperature fit at the end, for runs with a temperature sensor.
	TempFit *TempFit `json:"temp_fit,omitempty"`
}

// TempFit is what the servo learned from the temperature sensor, against the simulated truth.
type TempFit struct {
	CoeffPPMPerC float64 `json:"coeff_ppm_per_c"`
	SigmaPPMPerC float64 `json:"sigma_ppm_per_c"`
	TruePPMPerC  float64 `json:"true_ppm_per_c"` // the simulated crystal's linear coefficient
	Samples      int     `json:"samples"`
	SpanC        float64 `json:"span_c"`
	Trusted      bool    `json:"trusted"`
	Compensating bool    `json:"compensating"`
}

// Run runs a named scenario.
func Run(name string, d time.Duration, seed uint64) (Result, error) {
	spec, err := Lookup(name)
	if err != nil {
		return Result{}, err
	}
	if run := dacRunner(spec.Name); run != nil {
		return run(spec, d, seed)
	}
	su, d, err := spec.Build(d, seed)
	if err != nil {
		return Result{}, err
	}
	return RunSetup(name, su, d)
}

// RunSetup runs a setup for d of truth and scores it.
func RunSetup(name string, su Setup, d time.Duration) (Result, error) {
	return RunSetupVisit(name, su, d, nil)
}

// RunSetupVisit is RunSetup that also hands visit the true error of the served clock at every whole second
// of truth (the leap scenarios: against POSIX time), so another scorer can use exactly the same seconds.
func RunSetupVisit(name string, su Setup, d time.Duration, visit func(truth timebase.Instant, err time.Duration)) (Result, error) {
	l, err := newLoop(su)
	if err != nil {
		return Result{}, fmt.Errorf("scenario %s: %w", name, err)
	}
	st := su.Sim.Start
	end := st.Add(d)
	refEnd := end
	if su.OutageFrom != 0 && su.OutageFrom < end {
		refEnd = su.OutageFrom
	}
	var (
		firstFix   timebase.Instant
		lastBad    timebase.Instant
		window     []float64 // |e| in ns over the scored window
		ratios     []float64
		bounds     []float64
		violations int
		served     int
		rec        leap.Recorder
		synced     bool // the box has claimed sync once
	)
	leapRun := su.Sim.Leap.Has() || su.Leap != nil
	l.run(end, func(truth timebase.Instant, e time.Duration) {
		v := l.core.View()
		if leapRun {
			// Scored against UTC as POSIX time, which repeats 23:59:59: that is what a correct clock reads.
			board := l.w.Board().At(truth)
			e = posixError(su.Sim.Leap, truth, board)
			flag, _ := l.w.Board().LeapState()
			li := timebase.LeapUnsync
			if l.last != nil {
				li = l.last.Leap
			}
			// Served time is judged from the first second the box claims sync: the step that sets the clock at
			// a cold start is served with LI=3, which clients ignore, and is no leap artefact. Before that the
			// recorder is given UTC itself, so the LI and the kernel flag are still recorded from the start.
			served := board
			if synced = synced || li != timebase.LeapUnsync; !synced {
				served, _ = su.Sim.Leap.POSIX(truth)
			}
			rec.Observe(truth, served, 0, li, kernelFlag(flag), v.Leap.Warnings)
		}
		if firstFix == 0 && v.HaveEpoch && v.Epoch.Label.Valid {
			firstFix = truth
		}
		if visit != nil {
			visit(truth, e)
		}
		abs := e.Abs()
		if truth < refEnd && (firstFix == 0 || abs >= LockThreshold) {
			lastBad = truth
		}
		snap := l.last
		synced := snap != nil && snap.Leap != timebase.LeapUnsync
		var bound time.Duration
		if synced {
			served++
			bound = snap.RootDispersionAt(l.w.Board().At(truth))
			if abs > bound {
				violations++
			}
		}
		inWindow := false
		if su.OutageFrom != 0 {
			inWindow = truth >= su.OutageFrom
		} else {
			inWindow = firstFix != 0 && truth >= firstFix.Add(settle)
		}
		if !inWindow {
			return
		}
		window = append(window, float64(abs))
		if synced {
			ratios = append(ratios, float64(bound)/math.Max(float64(abs), 1))
			bounds = append(bounds, float64(bound))
		}
	})
	r := Result{
		Scenario:        name,
		Seed:            su.Sim.Seed,
		DurationS:       d.Seconds(),
		BoundViolations: violations,
		WindowS:         len(window),
		Steps:           l.core.View().Steps,
		FinalState:      l.core.View().Snapshot.State.String(),
		Served:          served,
		Outliers:        l.core.View().PPS.Outliers,
		LabelSlips:      l.core.View().PPS.LabelSlips,
		GPSJumps:        l.core.View().GPS.TimeJumps + l.core.View().GPS.Repeats,
	}
	if leapRun {
		j := rec.Summary().JSON()
		r.Leap = &j
	}
	if su.TempSensor != nil {
		f := l.core.View().Temp
		r.TempFit = &TempFit{CoeffPPMPerC: f.CoeffPPMPerC, SigmaPPMPerC: f.SigmaPPMPerC, TruePPMPerC: su.Sim.Osc.TempCoeffPPMPerC,
			Samples: f.Samples, SpanC: f.SpanC, Trusted: f.Trusted, Compensating: f.Compensating}
	}
	if su.OutageFrom != 0 {
		r.Window = "holdover"
	} else {
		r.Window = "steady state from first fix + 120 s"
	}
	r.finish(st, firstFix, lastBad, refEnd, minSustain, window, ratios, bounds)
	return r, nil
}

// finish fills the figures every scenario reports: time to lock after the first fix (the end of the last
// second over 1 µs, if the error then stayed under it for minSustain), RMS, p99 and maximum of the absolute
// error over the scoring window (ns), and the median of bound over true error (and of the bound) in holdover.
func (r *Result) finish(start, firstFix, lastBad, refEnd timebase.Instant, minSustain time.Duration, window, ratios, bounds []float64) {
	if firstFix != 0 {
		r.FirstFixS = firstFix.Sub(start).Seconds()
		lock := lastBad.Add(time.Second)
		if lock.Add(minSustain) <= refEnd {
			s := math.Max(lock.Sub(firstFix).Seconds(), 0)
			r.LockS = &s
		}
	}
	if len(window) > 0 {
		var ss float64
		for _, x := range window {
			ss += x * x
		}
		r.RMSNs = round1(math.Sqrt(ss / float64(len(window))))
		sort.Float64s(window)
		r.P99AbsNs = round1(Quantile(window, 0.99))
		r.MaxAbsNs = window[len(window)-1]
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		p := math.Round(Quantile(ratios, 0.5)*100) / 100
		r.BoundOverTrueP50 = &p
		slices.Sort(bounds)
		r.BoundP50Ns = round1(Quantile(bounds, 0.5))
	}
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// Quantile is the q-quantile of sorted xs by linear interpolation between order statistics (what every
// scenario's p99 and medians use; internal/servocmp scores chrony with it too).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// loop drives the real daemon.Core with a sim.World in virtual time.
//
// Ticks fall between events, and a steering command issued at a tick must take effect at the tick's truth.
// World.Next advances the board clock's oscillator to the event it returns, and a command is applied no
// earlier than that (the clock cannot be changed in the past), so the loop must know when the next event is
// before it ticks, without drawing it. A shadow World with the same configuration, never steered, gives
// exactly that: steering changes the board's timestamps, never the events or their truth instants. The core
// steers through the board clock with the loop's own notion of now (the tick or event being processed).
type loop struct {
	w, shadow *sim.World
	core      *daemon.Core
	last      *timebase.Snapshot
	slip      *slipper
	cur       timebase.Instant // truth of what is being processed: steering takes effect here
	nextTick  timebase.Instant
	temp      *sim.TempSensor // nil: no sensor
	tempEvery time.Duration
}

func newLoop(su Setup) (*loop, error) {
	w, err := sim.NewWorld(su.Sim)
	if err != nil {
		return nil, err
	}
	shadow, err := sim.NewWorld(su.Sim)
	if err != nil {
		return nil, err
	}
	l := &loop{w: w, shadow: shadow, slip: newSlipper(su.Slips), cur: w.Now()}
	if su.TempSensor != nil {
		if l.temp, err = w.TempSensor(*su.TempSensor); err != nil {
			return nil, err
		}
		l.tempEvery = su.TempEvery
		if l.tempEvery <= 0 {
			l.tempEvery = 2 * time.Second
		}
	}
	core, err := daemon.NewCore(daemon.Config{
		PPSBias: su.PPSBias,
		Servo:   su.Servo,
		GPS:     su.GPS,
		Leap:    su.Leap,
		Publish: func(s *timebase.Snapshot) { l.last = s },
	}, w.Board().Steerable(func() timebase.Instant { return l.cur }))
	if err != nil {
		return nil, err
	}
	l.core = core
	return l, nil
}

// run advances virtual time to end, feeding every event to the core and ticking it when it asks; visit is
// called at every whole truth second with the board clock's true error.
func (l *loop) run(end timebase.Instant, visit func(truth timebase.Instant, err time.Duration)) {
	now := l.w.Now()
	l.nextTick = now
	nextVisit := now.Truncate(time.Second).Add(time.Second)
	for {
		next := l.shadow.Next().Truth
		limit := min(next, end)
		for l.nextTick <= limit || nextVisit <= limit {
			if l.nextTick <= nextVisit {
				l.cur = l.nextTick
				l.nextTick = l.w.Board().TruthAt(l.core.Tick(l.w.Board().At(l.nextTick)))
				if l.nextTick <= l.cur {
					l.nextTick = l.cur + 1 // a core asking for the past is ticked again at once, not forever
				}
			} else {
				// The board integrates its oscillator (wander, temperature) only when told how far time has
				// gone; without events (a silent receiver) nothing else tells it.
				l.w.Board().Advance(nextVisit)
				if l.temp != nil && nextVisit.Sub(l.w.Config().Start)%l.tempEvery == 0 {
					// The sensor is read (and the reading handed over) at this instant: steering the reading
					// causes takes effect here.
					l.cur = nextVisit
					l.core.Temperature(l.w.Board().At(nextVisit), l.temp.ReadAt(nextVisit))
				}
				visit(nextVisit, l.w.Board().ErrorAt(nextVisit))
				nextVisit = nextVisit.Add(time.Second)
			}
		}
		if next > end {
			return
		}
		ev := l.w.Next()
		l.cur = ev.Truth
		switch ev.Kind {
		case sim.EventBytes:
			l.core.Bytes(l.slip.rewrite(ev.Second, ev.Bytes), ev.Received)
		case sim.EventEdge:
			l.core.Edge(ev.Edge)
		}
		if w := l.core.NextWake(); w != 0 {
			if tw := l.w.Board().TruthAt(w); tw < l.nextTick {
				l.nextTick = max(tw, l.cur)
			}
		}
	}
}
