// Package kpps captures PPS edges from a kernel PPS device, /dev/ppsN, through the RFC 2783 ioctls of
// linux/pps.h (PPS_GETCAP, PPS_GETPARAMS, PPS_SETPARAMS, PPS_FETCH), for kernels with a PPS driver such as
// pps-gpio (Raspberry Pi OS with dtoverlay=pps-gpio). The gokrazy kernel has none; there pps/gpiocdev is the
// path.
//
// The kernel timestamps each assert (and, if asked, clear) event with CLOCK_REALTIME in its interrupt
// handler and counts them. PPS_FETCH with a timeout blocks until the next event and returns both the latest
// assert and clear time stamps with their sequence numbers:
//
//	struct pps_fdata  { struct pps_kinfo info; struct pps_ktime timeout; }            64 bytes
//	struct pps_kinfo  { u32 assert_sequence; u32 clear_sequence;
//	                    struct pps_ktime assert_tu; struct pps_ktime clear_tu; int current_mode; }  48
//	struct pps_ktime  { s64 sec; s32 nsec; u32 flags; }                                16
//	struct pps_kparams{ int api_version; int mode; struct pps_ktime assert_off_tu, clear_off_tu; }  40
//
// A fetch may report an event already seen (the sequence did not move) or skip some (the reader was late):
// the sequence numbers tell, repeats are dropped here and skips counted. The ioctl numbers encode a
// pointer's size, not the struct's (the header declares them with `struct pps_fdata *`), which is why they
// differ between 32- and 64-bit kernels; golang.org/x/sys/unix carries both.
//
// The device's ioctls sit behind the small Device interface so the fetch loop is tested with a fake.
package kpps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Mode bits of linux/pps.h.
const (
	CaptureAssert = 0x01   // PPS_CAPTUREASSERT
	CaptureClear  = 0x02   // PPS_CAPTURECLEAR
	OffsetAssert  = 0x10   // PPS_OFFSETASSERT
	OffsetClear   = 0x20   // PPS_OFFSETCLEAR
	CanWait       = 0x100  // PPS_CANWAIT
	TimeSpec      = 0x1000 // PPS_TSFMT_TSPEC
	apiVersion1   = 1      // PPS_API_VERS_1
)

// Time is a pps_ktime.
type Time struct {
	Sec  int64
	Nsec int32
}

// Instant converts to a board-clock instant.
func (t Time) Instant() timebase.Instant { return timebase.Instant(t.Sec*1e9 + int64(t.Nsec)) }

// Info is a pps_kinfo.
type Info struct {
	AssertSeq, ClearSeq uint32
	Assert, Clear       Time
	Mode                int32
}

// Params is a pps_kparams (offsets are left zero: the bias is applied by the pps core).
type Params struct {
	APIVersion int32
	Mode       int32
}

// ErrTimeout is what Device.Fetch returns when no event came within the timeout.
var ErrTimeout = errors.New("kpps: fetch timed out")

// Device is the RFC 2783 ioctl set of one PPS source.
type Device interface {
	GetCap() (int32, error)
	GetParams() (Params, error)
	SetParams(Params) error
	Fetch(timeout time.Duration) (Info, error) // ErrTimeout when nothing came
	Close() error
}

// EdgeSelect names which events to capture.
type EdgeSelect uint8

const (
	Assert EdgeSelect = iota + 1
	Clear
	Both
)

// ParseEdgeSelect parses rising (assert), falling (clear) or both, as the -pps-edge flag spells them.
func ParseEdgeSelect(s string) (EdgeSelect, error) {
	switch s {
	case "rising", "assert":
		return Assert, nil
	case "falling", "clear":
		return Clear, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("kpps: edge %q: want rising, falling or both", s)
}

// Counts are the capture's totals.
type Counts struct {
	Fetches  uint64
	Timeouts uint64
	Repeats  uint64 // fetches whose sequence had not moved
	Lost     uint64 // events skipped between fetches (sequence jumped by more than one)
	Edges    uint64 // edges emitted
}

// Source reads one PPS device.
type Source struct {
	mu     sync.Mutex // guards counts: Run's goroutine writes, status readers read
	dev    Device
	sel    EdgeSelect
	lastA  uint32
	lastC  uint32
	counts Counts
}

// New configures dev to capture sel (with CLOCK_REALTIME timespec stamps) and returns the source. It
// checks the device's capabilities first, so an unsupported edge is a clear error, not silence.
func New(dev Device, sel EdgeSelect) (*Source, error) {
	if sel < Assert || sel > Both {
		return nil, fmt.Errorf("kpps: edge selection %d", sel)
	}
	caps, err := dev.GetCap()
	if err != nil {
		return nil, fmt.Errorf("kpps: PPS_GETCAP: %w", err)
	}
	want := int32(TimeSpec)
	if sel == Assert || sel == Both {
		want |= CaptureAssert
	}
	if sel == Clear || sel == Both {
		want |= CaptureClear
	}
	if caps&want != want {
		return nil, fmt.Errorf("kpps: device capabilities %#x lack mode %#x", caps, want)
	}
	if caps&CanWait == 0 {
		return nil, fmt.Errorf("kpps: device capabilities %#x lack PPS_CANWAIT (blocking fetch)", caps)
	}
	p, err := dev.GetParams()
	if err != nil {
		return nil, fmt.Errorf("kpps: PPS_GETPARAMS: %w", err)
	}
	p.APIVersion = apiVersion1
	p.Mode = (p.Mode &^ (CaptureAssert | CaptureClear | OffsetAssert | OffsetClear)) | want
	if err := dev.SetParams(p); err != nil {
		return nil, fmt.Errorf("kpps: PPS_SETPARAMS mode %#x: %w", p.Mode, err)
	}
	return &Source{dev: dev, sel: sel}, nil
}

// Counts returns the totals; safe from any goroutine.
func (s *Source) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// Poll performs one fetch with the given timeout and returns the new edges (in time order), if any.
func (s *Source) Poll(timeout time.Duration) ([]timebase.Edge, error) {
	info, err := s.dev.Fetch(timeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts.Fetches++
	if errors.Is(err, ErrTimeout) {
		s.counts.Timeouts++
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kpps: PPS_FETCH: %w", err)
	}
	var out []timebase.Edge
	moved := false
	if s.sel != Clear && info.AssertSeq != s.lastA {
		s.lost(info.AssertSeq, s.lastA)
		s.lastA, moved = info.AssertSeq, true
		out = append(out, timebase.Edge{Time: info.Assert.Instant(), Seq: uint64(info.AssertSeq), Rising: true})
	}
	if s.sel != Assert && info.ClearSeq != s.lastC {
		s.lost(info.ClearSeq, s.lastC)
		s.lastC, moved = info.ClearSeq, true
		out = append(out, timebase.Edge{Time: info.Clear.Instant(), Seq: uint64(info.ClearSeq), Rising: false})
	}
	if !moved {
		s.counts.Repeats++
	}
	if len(out) == 2 && out[1].Time < out[0].Time {
		out[0], out[1] = out[1], out[0]
	}
	s.counts.Edges += uint64(len(out))
	return out, nil
}

func (s *Source) lost(seq, last uint32) {
	if last != 0 && seq-last > 1 && seq-last < 1<<31 {
		s.counts.Lost += uint64(seq - last - 1)
	}
}

// Run fetches until ctx is done or the device fails, sending edges on out, and closes the device.
func (s *Source) Run(ctx context.Context, out chan<- timebase.Edge) error {
	defer s.dev.Close()
	for ctx.Err() == nil {
		edges, err := s.Poll(time.Second)
		if err != nil {
			return err
		}
		for _, e := range edges {
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return ctx.Err()
}
