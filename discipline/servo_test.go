package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// modelClock is a board clock with a constant frequency error, steered by the servo. Phase is the board
// clock minus truth.
type modelClock struct {
	errPPM, corrPPM float64
	phase           float64 // seconds
	steps           int
	synced          bool
}

func (m *modelClock) Step(d time.Duration) error                 { m.phase += d.Seconds(); m.steps++; return nil }
func (m *modelClock) SetFrequency(ppm float64) error             { m.corrPPM = ppm; return nil }
func (m *modelClock) SetStatus(s bool, _, _ time.Duration) error { m.synced = s; return nil }
func (m *modelClock) advance(dt float64)                         { m.phase += (m.errPPM + m.corrPPM) * 1e-6 * dt }

var start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)

// run drives the servo for n seconds with gaussian measurement noise sigma and returns the seconds at which
// it first locked (-1 if never) and the RMS of the true phase over the last half.
func run(t *testing.T, s *Servo, m *modelClock, n int, sigma float64, rng *rand.Rand) (lockAt int, rms float64) {
	t.Helper()
	lockAt = -1
	var sum float64
	var cnt int
	for i := 1; i <= n; i++ {
		m.advance(1)
		now := start.Add(time.Duration(i) * time.Second)
		x := m.phase + rng.NormFloat64()*sigma
		s.Sample(Sample{At: now.Add(time.Duration(m.phase * 1e9)), Offset: time.Duration(x * 1e9)})
		s.Tick(now)
		if lockAt < 0 && s.State() == timebase.StateLocked {
			lockAt = i
		}
		if i > n/2 {
			sum += m.phase * m.phase
			cnt++
		}
	}
	return lockAt, math.Sqrt(sum / float64(cnt))
}

func TestColdStartStepsThenLocks(t *testing.T) {
	m := &modelClock{errPPM: 37, phase: 2.4}
	s, err := New(Config{}, m)
	if err != nil {
		t.Fatal(err)
	}
	if snap := s.Snapshot(start); snap.Leap != timebase.LeapUnsync || snap.Stratum != 16 {
		t.Fatalf("before lock: LI=%d stratum=%d", snap.Leap, snap.Stratum)
	}
	lockAt, rms := run(t, s, m, 300, 1e-6, rand.New(rand.NewPCG(1, 2)))
	if m.steps != 1 {
		t.Errorf("steps = %d, want exactly one", m.steps)
	}
	if lockAt < 0 || lockAt > 60 {
		t.Errorf("locked at %d s, want within 60 s", lockAt)
	}
	if rms > 1e-6 {
		t.Errorf("steady-state RMS %.0f ns with 1 µs noise", rms*1e9)
	}
	if math.Abs(s.FrequencyPPM()+37) > 0.5 {
		t.Errorf("frequency correction %.3f ppm, want about -37", s.FrequencyPPM())
	}
	snap := s.Snapshot(start.Add(300 * time.Second))
	if snap.Leap != timebase.LeapNone || snap.Stratum != 1 || snap.RefID.String() != "PPS" || !m.synced {
		t.Errorf("locked snapshot: %+v synced=%v", snap, m.synced)
	}
	if snap.RootDispersion <= 0 || snap.RootDispersion > 20*time.Microsecond {
		t.Errorf("root dispersion %v", snap.RootDispersion)
	}
}

func TestSmallOffsetIsSlewedNotStepped(t *testing.T) {
	m := &modelClock{errPPM: -12, phase: 0.1} // under the 128 ms threshold
	s, _ := New(Config{}, m)
	lockAt, _ := run(t, s, m, 600, 0, rand.New(rand.NewPCG(3, 4)))
	if m.steps != 0 {
		t.Errorf("stepped %d times for a 100 ms offset", m.steps)
	}
	if lockAt < 0 {
		t.Error("never locked")
	}
}

func TestHoldoverAndHonestBound(t *testing.T) {
	m := &modelClock{errPPM: 5}
	s, _ := New(Config{}, m)
	run(t, s, m, 120, 0, rand.New(rand.NewPCG(5, 6)))
	if s.State() != timebase.StateLocked {
		t.Fatalf("state %v", s.State())
	}
	last := start.Add(120 * time.Second)
	s.Tick(last.Add(2 * time.Second))
	if s.State() != timebase.StateLocked {
		t.Fatal("holdover entered before HoldoverAfter")
	}
	s.Tick(last.Add(4 * time.Second))
	if s.State() != timebase.StateHoldover {
		t.Fatalf("state %v after samples stopped", s.State())
	}
	early := s.Snapshot(last.Add(10 * time.Second))
	if early.Stratum != 1 || early.Leap != timebase.LeapNone {
		t.Errorf("short holdover should keep stratum 1: %+v", early)
	}
	if b1, b2 := early.RootDispersionAt(last.Add(10*time.Second)), early.RootDispersionAt(last.Add(100*time.Second)); b2 <= b1 {
		t.Errorf("bound does not grow: %v then %v", b1, b2)
	}
	late := s.Snapshot(last.Add(time.Hour))
	if late.Leap != timebase.LeapUnsync || late.Stratum != 16 {
		t.Errorf("after an hour of holdover at 5 ppm the bound is 18 ms: must be unsynchronized, got LI=%d stratum=%d", late.Leap, late.Stratum)
	}
}

func TestNoStepAfterLockWithoutPanicRule(t *testing.T) {
	m := &modelClock{errPPM: 3}
	s, _ := New(Config{}, m)
	run(t, s, m, 120, 0, rand.New(rand.NewPCG(7, 8)))
	now := start.Add(121 * time.Second)
	for i := 0; i < 9; i++ { // one short of PanicSamples
		if s.Sample(Sample{At: now, Offset: time.Second}) {
			t.Fatalf("stepped on bad sample %d", i+1)
		}
		now = now.Add(time.Second)
	}
	if m.steps != 0 {
		t.Fatalf("steps = %d", m.steps)
	}
	if !s.Sample(Sample{At: now, Offset: time.Second}) {
		t.Error("panic rule did not step after ten consistent samples")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Kp: 1.5},
		{Kp: 0.1, Ki: 0.2},
		{LockThreshold: time.Millisecond, UnlockThreshold: time.Microsecond},
		{InitialPPM: 900},
		{RefID: "TOOLONG"},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}
