package servocmp

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/scenario"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Ideal is a setup of this package's own, not one of scenario's: a board 1 ms and +5 ppm off with no
// wander and a constant temperature, and a perfect PPS (no jitter, sawtooth, latency spread, outliers,
// missing or spurious edges). Both disciplines must converge to near zero error on it; it checks the
// feeding and the error recovery rather than the servos.
const Ideal = "ideal"

// Options is one comparison run.
type Options struct {
	Scenario string        // a scenario.Specs name, or Ideal
	Duration time.Duration // of simulated time, run in real time for chrony
	Seed     uint64
	Chrony   ChronyConfig
	// Dir is where chronyd's configuration, socket and logs go; it must exist. The caller keeps or removes it.
	Dir string
	// Progress, if set, gets a line every minute of the real-time run.
	Progress io.Writer
	// SendDelay is how long after a sample's raw time it is sent (a PPS event reaches chrony a little after
	// the edge); 0: 1 ms.
	SendDelay time.Duration
}

// Report is the comparison's outcome.
type Report struct {
	Scenario  string  `json:"scenario"`
	Seed      uint64  `json:"seed"`
	DurationS float64 `json:"duration_s"`
	Window    string  `json:"window"`
	FirstFixS float64 `json:"first_fix_s"`
	Ours      Side    `json:"gpsntp"`
	Chrony    Side    `json:"chrony"`
	// Ratios are chrony's figure over ours (above 1: ours is better); null where a side has no figure.
	RatioRMS  *float64 `json:"ratio_rms"`
	RatioP99  *float64 `json:"ratio_p99"`
	RatioMax  *float64 `json:"ratio_max"`
	RatioLock *float64 `json:"ratio_lock"`
	// OursSame scores ours on only the seconds where chrony has a sample; RatioRMSSame compares on those.
	OursSame     Side     `json:"gpsntp_on_chrony_seconds"`
	RatioRMSSame *float64 `json:"ratio_rms_same_seconds"`

	Feed       string       `json:"chrony_feed"`
	ChronyConf string       `json:"chrony_conf"`
	Samples    RecoverStats `json:"chrony_samples"`
	// LateSends counts samples sent more than 100 ms after their raw time (the feeder was descheduled).
	LateSends int `json:"late_sends"`
	// ChronyFinalErrNs is chrony's error at its last logged sample.
	ChronyFinalErrNs float64 `json:"chrony_final_err_ns"`

	start timebase.Instant
}

// setup builds the run's scenario setup. Spec.Build refuses durations under the scenario's minimum; the
// setups of cold-start and bad-pps do not depend on the duration beyond the second slip's position, so a
// short smoke run builds with the minimum and runs for less.
func setup(name string, d time.Duration, seed uint64) (scenario.Setup, error) {
	if name == Ideal {
		c := sim.DefaultConfig()
		c.Seed = seed
		c.Osc.InitialPPM = 5
		c.Osc.InitialOffset = time.Millisecond
		c.Osc.WanderPPMPerSqrtS = 0
		c.Osc.Temperature = sim.TemperatureProfile{BaseC: 25}
		p := &c.PPS
		p.Jitter, p.SawtoothNs, p.SawtoothSlipNsPerS, p.SawtoothSlipWander = 0, 0, 0, 0
		p.CaptureLatencySigma, p.OutlierProb, p.MissingProb, p.SpuriousProb = 0, 0, 0, 0
		return scenario.Setup{Sim: c, PPSBias: p.Bias + p.CaptureLatencyMean}, nil
	}
	spec, err := scenario.Lookup(name)
	if err != nil {
		return scenario.Setup{}, err
	}
	su, _, err := spec.Build(max(d, spec.MinDuration), seed)
	if err != nil {
		return scenario.Setup{}, err
	}
	if su.OutageFrom != 0 {
		return scenario.Setup{}, fmt.Errorf("servocmp: scenario %s has a GPS outage; only scenarios with a reference throughout compare here", name)
	}
	return su, nil
}

// Run runs the comparison: our daemon loop in virtual time over the scenario (scenario.RunSetup, what
// `gpsntpctl simulate` runs), then chronyd in real time over the same pulses, and scores both over the same
// window. It takes Duration of wall-clock time.
func Run(ctx context.Context, o Options) (Report, error) {
	rep, _, err := run(ctx, o)
	return rep, err
}

// run is Run, also returning chrony's error at each second it got a sample.
func run(ctx context.Context, o Options) (Report, []Point, error) {
	if o.Duration < 10*time.Second || o.Duration > 24*time.Hour {
		return Report{}, nil, fmt.Errorf("servocmp: duration %v outside [10s, 24h]", o.Duration)
	}
	if err := o.Chrony.Validate(); err != nil {
		return Report{}, nil, err
	}
	if o.SendDelay == 0 {
		o.SendDelay = time.Millisecond
	}
	su, err := setup(o.Scenario, o.Duration, o.Seed)
	if err != nil {
		return Report{}, nil, err
	}
	var oursPts []Point
	ours, err := scenario.RunSetupVisit(o.Scenario, su, o.Duration, func(truth timebase.Instant, e time.Duration) {
		oursPts = append(oursPts, Point{Second: truth, ErrNs: float64(e)})
	})
	if err != nil {
		return Report{}, nil, fmt.Errorf("servocmp: our loop: %w", err)
	}
	tr, err := BuildTrace(su, o.Duration)
	if err != nil {
		return Report{}, nil, err
	}
	if len(tr.Pulses) == 0 {
		return Report{}, nil, fmt.Errorf("servocmp: scenario %s has no pulse in %v", o.Scenario, o.Duration)
	}
	rep := Report{
		Scenario:  o.Scenario,
		Seed:      o.Seed,
		DurationS: o.Duration.Seconds(),
		Window:    fmt.Sprintf("first fix + %v to the end, whole seconds (chrony: those with a sample)", Settle),
		FirstFixS: ours.FirstFixS,
		start:     tr.Start,
	}
	rep.Ours = Side{Name: "gpsntp", LockS: ours.LockS, RMSNs: ours.RMSNs, P99AbsNs: ours.P99AbsNs, MaxAbsNs: ours.MaxAbsNs, WindowS: ours.WindowS}

	if o.Chrony.Feed == FeedPPSLock {
		o.Chrony.NMEAOffset = NMEADelay(tr)
	}
	rep.ChronyConf = o.Chrony.conf(o.Dir)
	rep.Feed = o.Chrony.Feed.String()
	ch, err := StartChrony(ctx, o.Chrony, o.Dir)
	if err != nil {
		return Report{}, nil, err
	}
	fed, late, ferr := feed(ctx, ch, tr, o.Chrony.Feed, o.SendDelay, o.Progress)
	// Let chrony log the last sample before stopping it.
	time.Sleep(300 * time.Millisecond)
	serr := ch.Stop()
	// chronyd's own messages, for whoever examines a kept directory.
	if err := os.WriteFile(filepath.Join(o.Dir, "chronyd.out"), []byte(ch.Output()), 0o644); err != nil && serr == nil {
		serr = fmt.Errorf("servocmp: write chronyd.out: %w", err)
	}
	if ferr != nil {
		return Report{}, nil, fmt.Errorf("%w\nchronyd output:\n%s", ferr, ch.Output())
	}
	if serr != nil {
		return Report{}, nil, serr
	}
	recs, err := ch.Refclocks()
	if err != nil {
		return Report{}, nil, fmt.Errorf("%w\nchronyd output:\n%s", err, ch.Output())
	}
	pts, st, err := Recover(fed, recs, o.Chrony.RefID())
	if err != nil {
		return Report{}, nil, err
	}
	if err := writeSamples(filepath.Join(o.Dir, "samples.tsv"), tr.Start, fed, pts); err != nil {
		return Report{}, nil, err
	}
	rep.Samples, rep.LateSends = st, late
	if len(pts) == 0 {
		return Report{}, nil, fmt.Errorf("servocmp: chronyd logged %d samples, none matching the %d pulses sent\nchronyd output:\n%s", st.Logged, st.Fed, ch.Output())
	}
	rep.ChronyFinalErrNs = round1(pts[len(pts)-1].ErrNs)
	firstFix := tr.Start.Add(time.Duration(ours.FirstFixS * float64(time.Second)))
	rep.Chrony = Score("chrony", pts, firstFix, tr.End, tr.End)
	// chrony is scored only at the seconds it got a sample (a missing pulse, a rejected one): score ours on
	// exactly those seconds too, so a comparison that skips our hard seconds is visible.
	have := make(map[timebase.Instant]bool, len(pts))
	for _, p := range pts {
		have[p.Second] = true
	}
	var same []Point
	for _, p := range oursPts {
		if have[p.Second] {
			same = append(same, p)
		}
	}
	rep.OursSame = Score("gpsntp@chrony-seconds", same, firstFix, tr.End, tr.End)
	rep.RatioRMSSame = ratio(rep.Chrony.RMSNs, rep.OursSame.RMSNs, rep.Chrony.WindowS > 0 && rep.OursSame.WindowS > 0)
	rep.RatioRMS = ratio(rep.Chrony.RMSNs, rep.Ours.RMSNs, rep.Chrony.WindowS > 0 && rep.Ours.WindowS > 0)
	rep.RatioP99 = ratio(rep.Chrony.P99AbsNs, rep.Ours.P99AbsNs, rep.Chrony.WindowS > 0 && rep.Ours.WindowS > 0)
	rep.RatioMax = ratio(rep.Chrony.MaxAbsNs, rep.Ours.MaxAbsNs, rep.Chrony.WindowS > 0 && rep.Ours.WindowS > 0)
	if rep.Chrony.LockS != nil && rep.Ours.LockS != nil {
		rep.RatioLock = ratio(*rep.Chrony.LockS, *rep.Ours.LockS, true)
	}
	return rep, pts, nil
}

func ratio(a, b float64, ok bool) *float64 {
	if !ok || b <= 0 {
		return nil
	}
	r := math.Round(a/b*100) / 100
	return &r
}

// feed sends the planned datagrams to chrony in real time: each at its raw time plus delay, with raw times
// mapped from board readings by H(b) = t0 + (b − start), t0 a whole second of the host clock chosen so that
// the first datagram is due about 2 s from now. It returns the scored samples sent and how many datagrams
// left more than 100 ms late.
func feed(ctx context.Context, ch *Chrony, tr Trace, feedKind Feed, delay time.Duration, progress io.Writer) ([]Fed, int, error) {
	probe := plan(tr, feedKind, tr.Start)
	if len(probe) == 0 {
		return nil, 0, fmt.Errorf("servocmp: nothing to send")
	}
	lead := probe[0].s.TV.Sub(tr.Start).Truncate(time.Second)
	t0 := timebase.FromTime(time.Now()).Truncate(time.Second).Add(2*time.Second - lead)
	sends := plan(tr, feedKind, t0)
	var fed []Fed
	late := 0
	nextReport := time.Now().Add(time.Minute)
	for _, p := range sends {
		at := p.s.TV.Add(delay).Time()
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fed, late, fmt.Errorf("servocmp: feeding chronyd: %w", ctx.Err())
			case <-t.C:
			}
		} else if -wait > 100*time.Millisecond {
			late++
		}
		if exited, err := ch.Exited(); exited {
			return fed, late, fmt.Errorf("servocmp: chronyd exited during the run: %v", err)
		}
		if err := ch.Send(p.sock, p.s); err != nil {
			return fed, late, err
		}
		if p.fed != nil {
			fed = append(fed, *p.fed)
		}
		if progress != nil && time.Now().After(nextReport) {
			fmt.Fprintf(progress, "servobench: %v of %v sent to chronyd\n", p.s.TV.Sub(t0).Truncate(time.Second), tr.End.Sub(tr.Start))
			nextReport = nextReport.Add(time.Minute)
		}
	}
	return fed, late, nil
}

// writeSamples records, per scored sample sent, what was sent and chrony's recovered error (NaN: chrony
// logged nothing for it), so that a run can be examined afterwards.
func writeSamples(path string, start timebase.Instant, fed []Fed, pts []Point) error {
	errAt := make(map[timebase.Instant]float64, len(pts))
	for _, p := range pts {
		errAt[p.Second] = p.ErrNs
	}
	var b strings.Builder
	b.WriteString("# sim_s\tkind\ttv_unix\toffset_s\tboard_err_s\tchrony_err_ns\n")
	for _, f := range fed {
		kind := "pulse"
		e, ok := errAt[f.Second]
		if f.Spurious {
			kind, ok = "spurious", false
		}
		if !ok {
			e = math.NaN()
		}
		sec, nsec := f.TV.Unix()
		fmt.Fprintf(&b, "%.6f\t%s\t%d.%06d\t%.12e\t%.12e\t%.3f\n", f.Second.Sub(start).Seconds(), kind, sec, nsec/1000, f.Offset, f.BoardErr, e)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("servocmp: write %s: %w", path, err)
	}
	return nil
}

// TempDir makes a directory for chronyd that chronyd can use, under base ("" for the system's).
func TempDir(base string) (string, error) {
	d, err := os.MkdirTemp(base, "servobench-")
	if err != nil {
		return "", fmt.Errorf("servocmp: MkdirTemp: %w", err)
	}
	return d, nil
}

// Text formats the report: a header, one line per discipline, one line of ratios.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s seed %d, %.0f s; first fix at %.0f s; window: %s\n", r.Scenario, r.Seed, r.DurationS, r.FirstFixS, r.Window)
	for _, s := range []Side{r.Ours, r.Chrony} {
		fmt.Fprintf(&b, "%-7s lock_s=%-5s rms_ns=%-8s p99_abs_ns=%-8s max_abs_ns=%-8s window_s=%d\n",
			s.Name, num(s.LockS), fig(s.RMSNs, s.WindowS), fig(s.P99AbsNs, s.WindowS), fig(s.MaxAbsNs, s.WindowS), s.WindowS)
	}
	fmt.Fprintf(&b, "ratio chrony/gpsntp: rms=%s p99=%s max=%s lock=%s\n", num(r.RatioRMS), num(r.RatioP99), num(r.RatioMax), num(r.RatioLock))
	fmt.Fprintf(&b, "on chrony's %d seconds only: gpsntp rms_ns=%s, ratio rms=%s\n", r.OursSame.WindowS, fig(r.OursSame.RMSNs, r.OursSame.WindowS), num(r.RatioRMSSame))
	fmt.Fprintf(&b, "chrony samples: %d sent, %d logged, %d matched (%d spurious, %d misaligned), %d unmatched; %d sent late; last error %v ns\n",
		r.Samples.Fed, r.Samples.Logged, r.Samples.Matched, r.Samples.Spurious, r.Samples.Misaligned, r.Samples.Unmatched, r.LateSends, r.ChronyFinalErrNs)
	return b.String()
}

func num(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

func fig(x float64, n int) string {
	if n == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}
