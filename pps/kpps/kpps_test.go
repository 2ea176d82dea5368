package kpps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// fakeDev scripts a PPS device. It fails the test on calls it does not expect.
type fakeDev struct {
	t       *testing.T
	caps    int32
	params  Params
	set     []Params
	fetches []fetchResult
	closed  bool
}

type fetchResult struct {
	info Info
	err  error
}

func (d *fakeDev) GetCap() (int32, error)     { return d.caps, nil }
func (d *fakeDev) GetParams() (Params, error) { return d.params, nil }
func (d *fakeDev) SetParams(p Params) error {
	d.set = append(d.set, p)
	d.params = p
	return nil
}
func (d *fakeDev) Fetch(timeout time.Duration) (Info, error) {
	if timeout <= 0 {
		d.t.Fatalf("fetch without a timeout")
	}
	if len(d.fetches) == 0 {
		d.t.Fatalf("unexpected fetch: script exhausted")
	}
	f := d.fetches[0]
	d.fetches = d.fetches[1:]
	return f.info, f.err
}
func (d *fakeDev) Close() error {
	if d.closed {
		d.t.Error("closed twice")
	}
	d.closed = true
	return nil
}

var t0 = timebase.Date(2026, 11, 22, 12, 0, 0, 0)

func at(sec int, nsec int32) Time {
	s, _ := t0.Unix()
	return Time{Sec: s + int64(sec), Nsec: nsec}
}

func TestNewSetsModeFromCapabilities(t *testing.T) {
	d := &fakeDev{t: t, caps: CaptureAssert | CaptureClear | CanWait | TimeSpec | OffsetAssert, params: Params{APIVersion: 1, Mode: OffsetAssert | 0x4000}}
	if _, err := New(d, Assert); err != nil {
		t.Fatal(err)
	}
	if len(d.set) != 1 || d.set[0].Mode != CaptureAssert|TimeSpec|0x4000 || d.set[0].APIVersion != 1 {
		t.Errorf("SETPARAMS %+v: want assert capture, timespec, offsets cleared, other bits kept", d.set)
	}
	d = &fakeDev{t: t, caps: CaptureAssert | CanWait | TimeSpec}
	if _, err := New(d, Both); err == nil {
		t.Error("clear capture accepted on an assert-only device")
	}
	d = &fakeDev{t: t, caps: CaptureAssert | TimeSpec}
	if _, err := New(d, Assert); err == nil {
		t.Error("device without PPS_CANWAIT accepted")
	}
}

func TestPollSequences(t *testing.T) {
	d := &fakeDev{t: t, caps: CaptureAssert | CaptureClear | CanWait | TimeSpec, fetches: []fetchResult{
		{info: Info{AssertSeq: 10, Assert: at(0, 12_000), ClearSeq: 9, Clear: at(-1, 100_012_000)}},
		{err: ErrTimeout},
		{info: Info{AssertSeq: 10, Assert: at(0, 12_000), ClearSeq: 10, Clear: at(0, 100_013_000)}},
		{info: Info{AssertSeq: 10, Assert: at(0, 12_000), ClearSeq: 10, Clear: at(0, 100_013_000)}}, // nothing new
		{info: Info{AssertSeq: 13, Assert: at(3, 11_000), ClearSeq: 10, Clear: at(0, 100_013_000)}}, // two lost
		{err: errors.New("EIO")},
	}}
	s, err := New(d, Both)
	if err != nil {
		t.Fatal(err)
	}
	var got []timebase.Edge
	for i := 0; i < 5; i++ {
		e, err := s.Poll(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e...)
	}
	want := []timebase.Edge{
		{Time: at(-1, 100_012_000).Instant(), Seq: 9, Rising: false},
		{Time: at(0, 12_000).Instant(), Seq: 10, Rising: true},
		{Time: at(0, 100_013_000).Instant(), Seq: 10, Rising: false},
		{Time: at(3, 11_000).Instant(), Seq: 13, Rising: true},
	}
	if len(got) != len(want) {
		t.Fatalf("edges %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("edge %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := s.Poll(time.Second); err == nil {
		t.Error("fetch error swallowed")
	}
	c := s.Counts()
	if c.Fetches != 6 || c.Timeouts != 1 || c.Repeats != 1 || c.Lost != 2 || c.Edges != 4 {
		t.Errorf("counts %+v", c)
	}
}

func TestRunStopsAndCloses(t *testing.T) {
	var fetches []fetchResult
	for i := 1; i <= 3; i++ {
		fetches = append(fetches, fetchResult{info: Info{AssertSeq: uint32(i), Assert: at(i, 0)}})
	}
	fetches = append(fetches, fetchResult{err: errors.New("device gone")})
	d := &fakeDev{t: t, caps: CaptureAssert | CanWait | TimeSpec, fetches: fetches}
	s, err := New(d, Assert)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan timebase.Edge, 8)
	err = s.Run(context.Background(), out)
	if err == nil || len(out) != 3 || !d.closed {
		t.Errorf("Run: err %v, %d edges, closed %v", err, len(out), d.closed)
	}
}

func TestParseEdgeSelect(t *testing.T) {
	for in, want := range map[string]EdgeSelect{"rising": Assert, "assert": Assert, "falling": Clear, "clear": Clear, "both": Both} {
		if got, err := ParseEdgeSelect(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseEdgeSelect("up"); err == nil {
		t.Error("accepted up")
	}
}

func TestRealDevice(t *testing.T) {
	devs, _ := filepath.Glob("/dev/pps*")
	if len(devs) == 0 {
		t.Skip("no /dev/pps* here: the real ioctl path is not exercised")
	}
	if _, err := os.Stat(devs[0]); err != nil {
		t.Skip(err)
	}
	d, err := Open(devs[0])
	if err != nil {
		t.Skipf("%s: %v", devs[0], err)
	}
	defer d.Close()
	caps, err := d.GetCap()
	if err != nil {
		t.Fatalf("PPS_GETCAP: %v", err)
	}
	t.Logf("%s capabilities %#x", devs[0], caps)
}
