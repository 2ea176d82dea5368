// Package gpiocdev captures PPS edges from a GPIO line through the Linux GPIO character device, uAPI v2
// (/dev/gpiochipN, GPIO_V2_GET_LINE_IOCTL), keeping the kernel's own event timestamp.
//
// Why not a library: periph.io's gpioioctl WaitForEdge reads the kernel's line event and throws its
// timestamp_ns away, which is the one number a PPS needs; libgpiod is C. The uAPI needs one ioctl and a read
// loop, so this package issues them itself through golang.org/x/sys/unix. periph.io/x/host is not used:
// chip discovery on the boards we target is the /dev/gpiochipN name, and a line is named by its offset.
//
// The request asks for edge detection on one input line with GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME, so the
// kernel stamps each edge with CLOCK_REALTIME in its interrupt handler: the board clock, which is what the
// discipline steers. Kernels before 5.11 reject that flag (EINVAL); then events carry CLOCK_MONOTONIC and a
// Mapper translates them with (monotonic, realtime) pairs sampled as each event is read. Between the edge and
// the read the two clocks differ only by the kernel's slew (at most 500 ppm of a few µs: nanoseconds), unless
// the realtime clock was stepped in between; the Mapper notices steps (an offset change beyond what slewing
// can do) and counts them, and the edge is still emitted (the pps core's validation sees the jump).
//
// Each read returns whole gpio_v2_line_event records (48 bytes, native endian, here little endian):
//
//	 0      8      12     16     20         24                48
//	+------+------+------+------+----------+------------------+
//	| ts_ns| id   |offset|seqno |line_seqno| padding [6]u32   |
//	+------+------+------+------+----------+------------------+
//	id: 1 rising, 2 falling. line_seqno counts this line's events from 1; a gap means the kernel's event
//	FIFO overflowed (the reader fell behind) and the gap's size is the number of edges lost.
//
// Lines are named "gpiochip0:18" (chip, line offset) or "/dev/gpiochip0:18".
package gpiocdev

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// UAPI sizes and values from include/uapi/linux/gpio.h.
const (
	EventSize   = 48  // sizeof(struct gpio_v2_line_event)
	RequestSize = 592 // sizeof(struct gpio_v2_line_request)

	eventRising  = 1 // GPIO_V2_LINE_EVENT_RISING_EDGE
	eventFalling = 2 // GPIO_V2_LINE_EVENT_FALLING_EDGE
)

// EdgeMode selects which edges the kernel reports.
type EdgeMode uint8

const (
	Rising EdgeMode = iota + 1
	Falling
	Both
)

func (m EdgeMode) String() string {
	switch m {
	case Rising:
		return "rising"
	case Falling:
		return "falling"
	case Both:
		return "both"
	}
	return fmt.Sprintf("EdgeMode(%d)", uint8(m))
}

// ParseEdgeMode parses "rising", "falling" or "both".
func ParseEdgeMode(s string) (EdgeMode, error) {
	switch s {
	case "rising":
		return Rising, nil
	case "falling":
		return Falling, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("gpiocdev: edge %q: want rising, falling or both", s)
}

// LineSpec names one line of one chip: by device path, or by the chip's label, which survives the
// renumbering of /dev/gpiochipN between kernels (the Pi 5's header chip, "pinctrl-rp1", was gpiochip4
// and is gpiochip0 since 6.6.45).
type LineSpec struct {
	Chip   string // device path, e.g. /dev/gpiochip0; empty when Label names the chip
	Label  string // the chip's label, e.g. pinctrl-rp1, resolved by ResolveLabel
	Offset uint32 // line offset on the chip
}

func (l LineSpec) String() string {
	if l.Chip == "" {
		return fmt.Sprintf("@%s:%d", l.Label, l.Offset)
	}
	return fmt.Sprintf("%s:%d", l.Chip, l.Offset)
}

// Chip is what GPIO_GET_CHIPINFO_IOCTL tells of one /dev/gpiochipN.
type Chip struct {
	Path  string
	Label string
	Lines uint32
}

// ResolveLabel finds the chip whose label spec names, among chips, and returns spec with its device path.
// Exactly one chip must carry the label, and it must have the line.
func ResolveLabel(spec LineSpec, chips []Chip) (LineSpec, error) {
	if spec.Label == "" {
		return spec, nil
	}
	var found []Chip
	var labels []string
	for _, c := range chips {
		labels = append(labels, fmt.Sprintf("%s=%q", c.Path, c.Label))
		if c.Label == spec.Label {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 0:
		return LineSpec{}, fmt.Errorf("gpiocdev: no GPIO chip labelled %q (chips: %s)", spec.Label, strings.Join(labels, ", "))
	case len(found) > 1:
		return LineSpec{}, fmt.Errorf("gpiocdev: %d GPIO chips labelled %q: name the chip by its device instead", len(found), spec.Label)
	case spec.Offset >= found[0].Lines:
		return LineSpec{}, fmt.Errorf("gpiocdev: %s (%q) has %d lines, no line %d", found[0].Path, spec.Label, found[0].Lines, spec.Offset)
	}
	return LineSpec{Chip: found[0].Path, Label: spec.Label, Offset: spec.Offset}, nil
}

// maxLineOffset bounds offsets: no GPIO chip has anywhere near this many lines.
const maxLineOffset = 1 << 16

// ParseLine parses "gpiochip0:18", "/dev/gpiochip0:18", or "@pinctrl-rp1:18" (the chip by its label).
func ParseLine(s string) (LineSpec, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return LineSpec{}, fmt.Errorf("gpiocdev: line %q: want CHIP:OFFSET, e.g. gpiochip0:18 or @pinctrl-rp1:18", s)
	}
	chip, off := s[:i], s[i+1:]
	n, err := strconv.ParseUint(off, 10, 32)
	if err != nil || n >= maxLineOffset {
		return LineSpec{}, fmt.Errorf("gpiocdev: line %q: offset %q is not a line number below %d", s, off, maxLineOffset)
	}
	if label, ok := strings.CutPrefix(chip, "@"); ok {
		if label == "" || len(label) >= maxNameSize || strings.ContainsAny(label, "/ \x00") {
			return LineSpec{}, fmt.Errorf("gpiocdev: line %q: %q is not a chip label", s, label)
		}
		return LineSpec{Label: label, Offset: uint32(n)}, nil
	}
	if !strings.HasPrefix(chip, "/") {
		if strings.ContainsAny(chip, "/.") || chip == "" {
			return LineSpec{}, fmt.Errorf("gpiocdev: line %q: chip %q is not a device name", s, chip)
		}
		chip = "/dev/" + chip
	}
	return LineSpec{Chip: chip, Offset: uint32(n)}, nil
}

// Event is one decoded gpio_v2_line_event.
type Event struct {
	TimestampNs uint64
	Rising      bool
	Offset      uint32
	Seqno       uint32 // across all lines of the request
	LineSeqno   uint32 // this line's events, from 1
}

// DecodeEvent decodes one 48-byte record.
func DecodeEvent(b []byte) (Event, error) {
	if len(b) != EventSize {
		return Event{}, fmt.Errorf("gpiocdev: event record of %d bytes, want %d", len(b), EventSize)
	}
	id := binary.LittleEndian.Uint32(b[8:])
	if id != eventRising && id != eventFalling {
		return Event{}, fmt.Errorf("gpiocdev: event id %d is neither rising (1) nor falling (2)", id)
	}
	return Event{
		TimestampNs: binary.LittleEndian.Uint64(b),
		Rising:      id == eventRising,
		Offset:      binary.LittleEndian.Uint32(b[12:]),
		Seqno:       binary.LittleEndian.Uint32(b[16:]),
		LineSeqno:   binary.LittleEndian.Uint32(b[20:]),
	}, nil
}

// AppendEvent encodes an event record (for tests and fakes).
func AppendEvent(dst []byte, e Event) []byte {
	var b [EventSize]byte
	binary.LittleEndian.PutUint64(b[0:], e.TimestampNs)
	id := uint32(eventFalling)
	if e.Rising {
		id = eventRising
	}
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], e.Offset)
	binary.LittleEndian.PutUint32(b[16:], e.Seqno)
	binary.LittleEndian.PutUint32(b[20:], e.LineSeqno)
	return append(dst, b[:]...)
}

// Counts are the capture's totals.
type Counts struct {
	Events      uint64 // records decoded
	BadRecords  uint64 // records that did not decode
	Overruns    uint64 // gaps in line_seqno (kernel FIFO overflow)
	Lost        uint64 // edges lost in those gaps
	ClockSteps  uint64 // realtime steps seen by the monotonic mapping
	MappedEdges uint64 // edges translated from CLOCK_MONOTONIC
}

// Sampler reads a (monotonic, realtime) pair as close together as it can.
type Sampler func() (mono, real int64)

// Mapper translates CLOCK_MONOTONIC timestamps to CLOCK_REALTIME with pairs sampled as events are read.
type Mapper struct {
	sample   Sampler
	have     bool
	lastMono int64
	lastOff  int64 // realtime - monotonic at the last sample
	Steps    uint64
}

// NewMapper returns a mapper over a sampler.
func NewMapper(s Sampler) *Mapper { return &Mapper{sample: s} }

// slewLimit is the most the kernel can move CLOCK_REALTIME against CLOCK_MONOTONIC by frequency alone
// (500 ppm), plus a millisecond for sampling delays; more is a step.
const slewLimit = 500e-6

// Map translates a monotonic event timestamp, sampling a fresh pair.
func (m *Mapper) Map(monoNs int64) timebase.Instant {
	mono, real := m.sample()
	off := real - mono
	if m.have {
		allowed := int64(float64(mono-m.lastMono)*slewLimit) + int64(time.Millisecond)
		if d := off - m.lastOff; d > allowed || d < -allowed {
			m.Steps++
		}
	}
	m.have, m.lastMono, m.lastOff = true, mono, off
	return timebase.Instant(monoNs + off)
}

// Decoder turns event records into edges. One goroutine decodes; Counts may be called from any.
type Decoder struct {
	mu       sync.Mutex // Counts may be read while a reader goroutine decodes
	mapper   *Mapper    // nil: timestamps are CLOCK_REALTIME already
	have     bool
	lastLine uint32
	counts   Counts
}

// NewDecoder returns a decoder; mapper is nil when the kernel stamps events with CLOCK_REALTIME.
func NewDecoder(mapper *Mapper) *Decoder { return &Decoder{mapper: mapper} }

// Counts returns the totals.
func (d *Decoder) Counts() Counts {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.counts
	if d.mapper != nil {
		c.ClockSteps = d.mapper.Steps
	}
	return c
}

// Edge converts one event into a timebase.Edge, counting sequence gaps.
func (d *Decoder) Edge(ev Event) timebase.Edge {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counts.Events++
	if d.have && ev.LineSeqno != d.lastLine+1 {
		d.counts.Overruns++
		if gap := ev.LineSeqno - d.lastLine - 1; ev.LineSeqno > d.lastLine && gap < 1<<31 {
			d.counts.Lost += uint64(gap)
		}
	}
	d.have, d.lastLine = true, ev.LineSeqno
	t := timebase.Instant(ev.TimestampNs)
	if d.mapper != nil {
		t = d.mapper.Map(int64(ev.TimestampNs))
		d.counts.MappedEdges++
	}
	return timebase.Edge{Time: t, Seq: uint64(ev.LineSeqno), Rising: ev.Rising}
}

// ReadEdges reads event records from r until it fails or ctx is done while an edge waits to be sent, sending
// each edge on out. It returns r's error (io.EOF, or the error of a closed file when the caller stops it by
// closing r). A short or undecodable record is counted and skipped: the kernel only ever returns whole
// records, so one means a broken device, not a reason to die.
func (d *Decoder) ReadEdges(ctx context.Context, r io.Reader, out chan<- timebase.Edge) error {
	buf := make([]byte, 16*EventSize) // the kernel returns as many whole records as fit
	for {
		n, err := r.Read(buf)
		for off := 0; off+EventSize <= n; off += EventSize {
			ev, derr := DecodeEvent(buf[off : off+EventSize])
			if derr != nil {
				d.bad()
				continue
			}
			select {
			case out <- d.Edge(ev):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if n%EventSize != 0 {
			d.bad()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("gpiocdev: read line events: %w", err)
		}
	}
}

func (d *Decoder) bad() {
	d.mu.Lock()
	d.counts.BadRecords++
	d.mu.Unlock()
}
