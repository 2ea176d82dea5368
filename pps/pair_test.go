package pps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var t0 = timebase.Date(2026, 11, 22, 12, 0, 0, 0)

func sec(n int) timebase.Instant { return t0.Add(time.Duration(n) * time.Second) }

func label(s int, recvAfter time.Duration, boardOffset time.Duration) timebase.TimeLabel {
	return timebase.TimeLabel{Second: sec(s), Valid: true, Source: "RMC", Received: sec(s).Add(boardOffset + recvAfter)}
}

func mustNew(t testing.TB, cfg Config) *Pairer {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// step is one event of a scripted scenario: an edge or a label, with the outcome expected of a label.
type step struct {
	edge  *timebase.Edge
	label *timebase.TimeLabel
	want  Outcome
	off   time.Duration // expected offset when want is OutcomePaired
}

func edgeAt(t timebase.Instant, seq uint64, rising bool) step {
	return step{edge: &timebase.Edge{Time: t, Seq: seq, Rising: rising}}
}

func labelStep(l timebase.TimeLabel, want Outcome, off time.Duration) step {
	return step{label: &l, want: want, off: off}
}

func run(t *testing.T, p *Pairer, steps []step) {
	t.Helper()
	for i, s := range steps {
		if s.edge != nil {
			p.Edge(*s.edge)
			continue
		}
		smp, o := p.Pair(*s.label)
		if o != s.want {
			t.Fatalf("step %d (label %v): outcome %v, want %v (counts %+v)", i, s.label.Second, o, s.want, p.Counts())
		}
		if o == OutcomePaired && smp.Offset != s.off {
			t.Fatalf("step %d: offset %v, want %v", i, smp.Offset, s.off)
		}
	}
}

func TestPairsEdgeWithFollowingLabel(t *testing.T) {
	for _, off := range []time.Duration{0, 3 * time.Microsecond, -700 * time.Millisecond, 5 * time.Second, -3 * time.Hour} {
		p := NewPairer(2 * time.Microsecond)
		for s := 0; s < 6; s++ {
			edge := sec(s).Add(off + 2*time.Microsecond)
			if !p.Edge(timebase.Edge{Time: edge, Seq: uint64(s + 1), Rising: true}) {
				t.Fatalf("offset %v: edge %d rejected", off, s)
			}
			at, got, ok := p.Label(label(s, 80*time.Millisecond, off))
			if s < 2 {
				// The first edge has nothing to be verified by, and the first pair only proposes the second
				// numbering that the next must confirm: no sample yet.
				if ok {
					t.Fatalf("offset %v: second %d paired before verification and confirmation", off, s)
				}
				continue
			}
			if !ok {
				t.Fatalf("offset %v: second %d not paired (counts %+v)", off, s, p.Counts())
			}
			if got != off {
				t.Errorf("offset %v: second %d measured %v", off, s, got)
			}
			if at != edge.Add(-2*time.Microsecond) {
				t.Errorf("offset %v: sample time %v, want edge minus bias", off, at)
			}
		}
		if c := p.Counts(); c.Paired != 4 || c.Confirming != 1 || c.Rejected != 0 || c.Unpaired != 1 || c.Missing != 0 {
			t.Errorf("offset %v: counts %+v", off, c)
		}
	}
}

func TestRepeatsSpuriousInvalidAndReuse(t *testing.T) {
	p := NewPairer(0)
	run(t, p, []step{
		edgeAt(sec(0), 1, true),
		edgeAt(sec(0), 1, true), // repeat
		edgeAt(sec(1), 2, true),
		edgeAt(sec(1), 7, true), // same timestamp, other seq: repeat
		labelStep(label(1, 100*time.Millisecond, 0), OutcomeConfirming, 0),
		edgeAt(sec(2), 3, true),
		edgeAt(sec(2).Add(200*time.Millisecond), 4, true), // spurious: 0.2 s off the grid
		{label: &timebase.TimeLabel{Second: sec(2), Received: sec(2).Add(300 * time.Millisecond)}, want: OutcomeInvalid},
		// The glitch came after the pulse and before the label: the label still pairs with the pulse.
		labelStep(label(2, 300*time.Millisecond, 0), OutcomePaired, 0),
		// The same label twice pairs once: one pulse, one sample.
		labelStep(label(2, 400*time.Millisecond, 0), OutcomeNoPulse, 0),
		// A label with no pulse in the second before it yields nothing.
		labelStep(label(5, 100*time.Millisecond, 0), OutcomeNoPulse, 0),
	})
	c := p.Counts()
	want := Counts{Edges: 6, Rejected: 3, Repeats: 2, Spurious: 1, Labels: 5, InvalidLabels: 1, Confirming: 1, Paired: 1, Unpaired: 2}
	if c != want {
		t.Errorf("counts\n got %+v\nwant %+v", c, want)
	}
}

func TestGlitchFirstIsRelearned(t *testing.T) {
	// A glitch before the first pulse: the first pulse is off its grid (spurious), the second is on the
	// first's grid, and pairing resumes. The glitch is never paired.
	p := NewPairer(0)
	run(t, p, []step{
		edgeAt(sec(0).Add(300*time.Millisecond), 1, true),
		edgeAt(sec(1), 2, true),
		labelStep(label(1, 100*time.Millisecond, 0), OutcomeNoPulse, 0),
		edgeAt(sec(2), 3, true),
		labelStep(label(2, 100*time.Millisecond, 0), OutcomeConfirming, 0),
		edgeAt(sec(3), 4, true),
		labelStep(label(3, 100*time.Millisecond, 0), OutcomePaired, 0),
	})
	if c := p.Counts(); c.Spurious != 1 || c.Paired != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestMissingPulsesAndOutages(t *testing.T) {
	p := NewPairer(0)
	// Slightly fast board clock: 300 ppm, inside the tolerance.
	at := func(s int) timebase.Instant { return sec(s).Add(time.Duration(s) * 300 * time.Microsecond) }
	run(t, p, []step{
		edgeAt(at(0), 1, true),
		edgeAt(at(1), 2, true),
		labelStep(label(1, 100*time.Millisecond, 0), OutcomeConfirming, 0),
		edgeAt(at(4), 3, true), // two missing
		labelStep(label(4, 100*time.Millisecond, 0), OutcomePaired, 4*300*time.Microsecond),
		edgeAt(at(30), 4, true), // outage: starts afresh, unverified
		labelStep(label(30, 100*time.Millisecond, 0), OutcomeNoPulse, 0),
		edgeAt(at(31), 5, true),
		// Within MaxAnchorAge of the last good pair, so the numbering is still known.
		labelStep(label(31, 100*time.Millisecond, 0), OutcomePaired, 31*300*time.Microsecond),
		edgeAt(at(400), 6, true),
		edgeAt(at(401), 7, true),
		// Past MaxAnchorAge: the numbering must be confirmed afresh.
		labelStep(label(401, 100*time.Millisecond, 401*300*time.Microsecond), OutcomeConfirming, 0),
	})
	if c := p.Counts(); c.Missing != 2 || c.Outages != 2 || c.Spurious != 0 {
		t.Errorf("counts %+v", c)
	}
}

func TestIntervalTolerance(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		taken    bool
	}{
		{"exact", time.Second, true},
		{"fast within", time.Second - 900*time.Microsecond, true},
		{"slow within", time.Second + 900*time.Microsecond, true},
		{"too fast", time.Second - 1100*time.Microsecond, false},
		{"too slow", time.Second + 1100*time.Microsecond, false},
		{"two seconds, 2 ms off", 2*time.Second + 1900*time.Microsecond, true},
		{"half", 500 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPairer(0)
			p.Edge(timebase.Edge{Time: t0, Seq: 1})
			if got := p.Edge(timebase.Edge{Time: t0.Add(tt.interval), Seq: 2}); got != tt.taken {
				t.Errorf("edge after %v taken=%v, want %v", tt.interval, got, tt.taken)
			}
		})
	}
}

func TestPulseWidth(t *testing.T) {
	p := mustNew(t, Config{OnTime: RisingEdge, MinWidth: 50 * time.Millisecond, MaxWidth: 150 * time.Millisecond})
	run(t, p, []step{
		edgeAt(sec(0), 1, true),
		edgeAt(sec(0).Add(100*time.Millisecond), 2, false),
		edgeAt(sec(1), 3, true),
		edgeAt(sec(1).Add(100*time.Millisecond), 4, false),
		labelStep(label(1, 200*time.Millisecond, 0), OutcomeConfirming, 0),
		// A 2 µs pulse on the grid: a glitch pair. Its bad width vetoes it before the label comes.
		edgeAt(sec(2), 5, true),
		edgeAt(sec(2).Add(2*time.Microsecond), 6, false),
		labelStep(label(2, 200*time.Millisecond, 0), OutcomeNoPulse, 0),
		// A trailing edge with no pulse before it.
		edgeAt(sec(3).Add(500*time.Millisecond), 7, false),
	})
	c := p.Counts()
	if c.Trailing != 4 || c.BadWidth != 1 || c.Orphans != 1 || c.Confirming != 1 {
		t.Errorf("counts %+v", c)
	}
	if p.LastWidth() != 2*time.Microsecond {
		t.Errorf("last width %v", p.LastWidth())
	}

	// Falling edges on time (inverted line): the falling edge is the pulse.
	p = mustNew(t, Config{OnTime: FallingEdge})
	run(t, p, []step{
		edgeAt(sec(0).Add(time.Millisecond), 1, false),
		edgeAt(sec(0).Add(101*time.Millisecond), 2, true),
		edgeAt(sec(1).Add(time.Millisecond), 3, false),
		edgeAt(sec(1).Add(101*time.Millisecond), 4, true),
		labelStep(label(1, 200*time.Millisecond, 0), OutcomeConfirming, 0),
		edgeAt(sec(2).Add(time.Millisecond), 5, false),
		labelStep(label(2, 200*time.Millisecond, 0), OutcomePaired, time.Millisecond),
	})
}

func TestLabelSlipNeverBecomesASample(t *testing.T) {
	p := NewPairer(0)
	off := 40 * time.Microsecond
	var steps []step
	for s := 0; s < 8; s++ {
		steps = append(steps, edgeAt(sec(s).Add(off), uint64(s+1), true))
		want, l := OutcomePaired, label(s, 150*time.Millisecond, off)
		switch {
		case s == 0:
			want = OutcomeNoPulse
		case s == 1:
			want = OutcomeConfirming
		case s == 4:
			// The receiver names the next second for this pulse (a one-second slip) ...
			l.Second = sec(5)
			want = OutcomeSlip
		case s == 5:
			// ... and the previous one for this.
			l.Second = sec(4)
			want = OutcomeSlip
		}
		steps = append(steps, labelStep(l, want, off))
	}
	run(t, p, steps)
	if c := p.Counts(); c.LabelSlips != 2 || c.LabelJumps != 0 || c.Paired != 4 {
		t.Errorf("counts %+v", c)
	}
}

func TestConfirmedLabelJump(t *testing.T) {
	p := mustNew(t, Config{JumpConfirm: 3})
	var steps []step
	for s := 0; s < 10; s++ {
		steps = append(steps, edgeAt(sec(s), uint64(s+1), true))
		l := label(s, 150*time.Millisecond, 0)
		want, off := OutcomePaired, time.Duration(0)
		if s >= 4 {
			// From here on the receiver's time is one second ahead, for good.
			l.Second = sec(s + 1)
			want, off = OutcomeSlip, -time.Second
			if s >= 6 {
				want = OutcomePaired
			}
		}
		switch s {
		case 0:
			want = OutcomeNoPulse
		case 1:
			want = OutcomeConfirming
		}
		steps = append(steps, labelStep(l, want, off))
	}
	run(t, p, steps)
	if c := p.Counts(); c.LabelSlips != 2 || c.LabelJumps != 1 {
		t.Errorf("counts %+v", c)
	}
}

// noise is a fixed pseudo-random sequence in [-1, 1), so tests are reproducible without a generator.
func noise(i int) float64 {
	x := uint32(i)*2654435761 + 12345
	x ^= x >> 13
	x *= 0x5bd1e995
	x ^= x >> 15
	return float64(x%2000)/1000 - 1
}

func TestOutliersAreGated(t *testing.T) {
	p := NewPairer(0)
	// A locked clock wandering 0.5 µs/s, 1 µs capture noise, one 50 µs late capture at second 12 and
	// another at 20.
	outliers := 0
	for s := 0; s < 40; s++ {
		off := time.Duration(s)*500*time.Nanosecond + time.Duration(noise(s)*1000)
		late := time.Duration(0)
		if s == 12 || s == 20 {
			late = 50 * time.Microsecond
		}
		p.Edge(timebase.Edge{Time: sec(s).Add(off + late), Seq: uint64(s + 1)})
		smp, o := p.Pair(label(s, 100*time.Millisecond, off))
		switch {
		case late != 0:
			if o != OutcomeOutlier {
				t.Errorf("second %d: 50 µs late capture: outcome %v", s, o)
			}
			outliers++
		case s < 2:
		case o != OutcomePaired:
			t.Errorf("second %d: outcome %v", s, o)
		case smp.Offset != off:
			t.Errorf("second %d: offset %v want %v", s, smp.Offset, off)
		}
	}
	if c := p.Counts(); c.Outliers != 2 || c.Relearned != 0 {
		t.Errorf("counts %+v", c)
	}
	if j := p.Jitter(); j < 300*time.Nanosecond || j > 3*time.Microsecond {
		t.Errorf("jitter estimate %v for ±1 µs uniform noise", j)
	}
}

func TestQuantizationErrorCorrection(t *testing.T) {
	p := NewPairer(0)
	// The receiver's pulse is 7.5 ns late: qErr = ideal − actual = −7500 ps.
	q := func(s int, ps int32) QErr {
		return QErr{Pulse: sec(s), PS: ps, Received: sec(s - 1).Add(300 * time.Millisecond)}
	}
	p.Edge(timebase.Edge{Time: sec(-1), Seq: 1})
	p.Edge(timebase.Edge{Time: sec(0), Seq: 2})
	if _, o := p.Pair(label(0, 200*time.Millisecond, 0)); o != OutcomeConfirming {
		t.Fatal(o)
	}
	p.Edge(timebase.Edge{Time: sec(1).Add(7 * time.Nanosecond), Seq: 3})
	// Reports for the pulse of second 1 came in second 0, and are applied to that pulse only.
	r := q(1, -7499)
	r.Pulse = r.Pulse.Add(50 * time.Nanosecond) // a user delay moves TIM-TP's pulse time off the second
	p.QErr(r)
	smp, o := p.Pair(label(1, 200*time.Millisecond, 0))
	if o != OutcomePaired || smp.Offset != 0 || smp.QErr != -7*time.Nanosecond {
		t.Fatalf("corrected sample %+v %v, want offset 0 with qErr -7ns", smp, o)
	}
	// A report naming another second is not applied.
	p.QErr(QErr{Pulse: sec(7), PS: 9000, Received: sec(1).Add(300 * time.Millisecond)})
	p.Edge(timebase.Edge{Time: sec(2), Seq: 4})
	smp, o = p.Pair(label(2, 200*time.Millisecond, 0))
	if o != OutcomePaired || smp.QErr != 0 {
		t.Fatalf("mismatched report applied: %+v", smp)
	}
	// A report without a known pulse time applies to the next pulse; one arriving after the pulse waits.
	p.QErr(QErr{PS: 2600, Received: sec(2).Add(500 * time.Millisecond)})
	p.Edge(timebase.Edge{Time: sec(3), Seq: 5})
	p.QErr(QErr{PS: 1000, Received: sec(3).Add(10 * time.Millisecond)})
	smp, _ = p.Pair(label(3, 200*time.Millisecond, 0))
	if smp.QErr != 3*time.Nanosecond {
		t.Fatalf("qErr %v, want 3ns", smp.QErr)
	}
	// A wild report is refused.
	p.QErr(q(4, 5_000_000))
	c := p.Counts()
	if c.QErrApplied != 2 || c.QErrUnmatched != 1 || c.QErrInvalid != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestTimeJumpBackAndReset(t *testing.T) {
	p := NewPairer(0)
	p.Edge(timebase.Edge{Time: sec(10), Seq: 1})
	p.Edge(timebase.Edge{Time: sec(11), Seq: 2})
	// The board clock went back 5 s under us.
	if !p.Edge(timebase.Edge{Time: sec(7), Seq: 3}) {
		t.Error("first edge after a backwards jump not kept")
	}
	if _, o := p.Pair(label(7, 100*time.Millisecond, 0)); o != OutcomeNoPulse {
		t.Errorf("edge after a backwards jump paired unverified: %v", o)
	}
	if c := p.Counts(); c.TimeJumps != 1 {
		t.Errorf("counts %+v", c)
	}
	p.Reset()
	if _, _, ok := p.Label(label(7, 100*time.Millisecond, 0)); ok {
		t.Error("edge from before Reset was paired")
	}
}

func TestBadOffset(t *testing.T) {
	p := NewPairer(0)
	p.Edge(timebase.Edge{Time: sec(0), Seq: 1})
	p.Edge(timebase.Edge{Time: sec(1), Seq: 2})
	l := label(1, 100*time.Millisecond, 0)
	l.Second = timebase.Date(1800, 1, 1, 0, 0, 0, 0)
	if _, o := p.Pair(l); o != OutcomeBadOffset {
		t.Errorf("outcome %v", o)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{OnTime: 7},
		{Bias: 2 * time.Second},
		{IntervalTolerance: time.Second},
		{MaxGap: time.Second},
		{LabelWindow: 3 * time.Second},
		{MinWidth: 200 * time.Millisecond, MaxWidth: 100 * time.Millisecond},
		{MaxWidth: time.Second},
		{JumpConfirm: -1},
		{Gate: GateConfig{Fraction: 1}},
		{Gate: GateConfig{K: -1}},
	}
	for _, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(Config{Bias: 30 * time.Microsecond, OnTime: RisingEdge}); err != nil {
		t.Error(err)
	}
	if p := NewPairer(5 * time.Second); p == nil || p.cfg.Bias != time.Second {
		t.Error("NewPairer did not clamp an out-of-range bias")
	}
}

func BenchmarkPairSecond(b *testing.B) {
	p := NewPairer(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := time.Duration(noise(i) * 1000)
		p.Edge(timebase.Edge{Time: sec(i).Add(off), Seq: uint64(i + 1)})
		p.Pair(label(i, 100*time.Millisecond, off))
	}
}

func TestRingingAndSecondTrain(t *testing.T) {
	p := NewPairer(0)
	var steps []step
	for s := 0; s < 4; s++ {
		steps = append(steps,
			edgeAt(sec(s), uint64(2*s+1), true),
			edgeAt(sec(s).Add(5*time.Microsecond), uint64(2*s+2), true)) // ringing right after each pulse
		want := OutcomePaired
		switch s {
		case 0:
			want = OutcomeNoPulse
		case 1:
			want = OutcomeConfirming
		}
		steps = append(steps, labelStep(label(s, 100*time.Millisecond, 0), want, 0))
	}
	run(t, p, steps)
	if c := p.Counts(); c.Spurious != 4 || c.Paired != 2 {
		// The first ringing edge follows an unverified pulse, so it is not "too close", but it fits no grid
		// and is spurious all the same; the later ones are too close to a verified pulse.
		t.Errorf("counts %+v", c)
	}

	// A periodic glitch 600 ms into every second, labels arriving 700 ms after the pulse: two verified trains
	// in each label's window. Before an anchor exists no choice is made; once one does, the pulse train on its
	// grid wins.
	p = NewPairer(0)
	steps = nil
	for s := 0; s < 3; s++ {
		steps = append(steps, edgeAt(sec(s), uint64(2*s+1), true), edgeAt(sec(s).Add(600*time.Millisecond), uint64(2*s+2), true))
	}
	steps = append(steps, labelStep(label(2, 700*time.Millisecond, 0), OutcomeNoPulse, 0))
	run(t, p, steps)
	if c := p.Counts(); c.Ambiguous != 1 {
		t.Errorf("counts %+v", c)
	}
	p = NewPairer(0)
	steps = []step{
		edgeAt(sec(0), 1, true),
		edgeAt(sec(1), 2, true),
		labelStep(label(1, 100*time.Millisecond, 0), OutcomeConfirming, 0),
		edgeAt(sec(2), 3, true),
		labelStep(label(2, 100*time.Millisecond, 0), OutcomePaired, 0),
	}
	for s := 2; s < 6; s++ {
		steps = append(steps, edgeAt(sec(s).Add(600*time.Millisecond), uint64(2*s), true), edgeAt(sec(s+1), uint64(2*s+1), true))
		steps = append(steps, labelStep(label(s+1, 700*time.Millisecond, 0), OutcomePaired, 0))
	}
	run(t, p, steps)
}
