package gpiocdev

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestUAPISizes(t *testing.T) {
	// Sizes from include/uapi/linux/gpio.h; the ioctl number encodes the request size.
	sizes := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"gpio_v2_line_attribute", unsafe.Sizeof(lineAttribute{}), 16},
		{"gpio_v2_line_config_attribute", unsafe.Sizeof(lineConfigAttribute{}), 24},
		{"gpio_v2_line_config", unsafe.Sizeof(lineConfig{}), 272},
		{"gpio_v2_line_request", unsafe.Sizeof(lineRequest{}), RequestSize},
		{"offsetof(gpio_v2_line_request.config)", unsafe.Offsetof(lineRequest{}.Config), 288},
		{"offsetof(gpio_v2_line_request.fd)", unsafe.Offsetof(lineRequest{}.Fd), 588},
		{"gpiochip_info", unsafe.Sizeof(chipInfo{}), chipInfoSize},
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("%s: %d bytes, want %d", s.name, s.got, s.want)
		}
	}
	if RequestSize != 592 || EventSize != 48 {
		t.Errorf("UAPI sizes %d/%d, want 592/48", RequestSize, EventSize)
	}
	if getLineIoctl != 0xC250B407 {
		t.Errorf("GPIO_V2_GET_LINE_IOCTL = %#x, want 0xc250b407", getLineIoctl)
	}
	if chipInfoIoctl != 0x8044B401 {
		t.Errorf("GPIO_GET_CHIPINFO_IOCTL = %#x, want 0x8044b401", chipInfoIoctl)
	}
}

func TestNewRequestFlags(t *testing.T) {
	tests := []struct {
		mode     EdgeMode
		realtime bool
		flags    uint64
	}{
		{Rising, true, 4 | 16 | 2048},
		{Falling, true, 4 | 32 | 2048},
		{Both, false, 4 | 16 | 32},
	}
	for _, tt := range tests {
		r := newRequest(18, tt.mode, "gpsntpd", tt.realtime)
		if r.Config.Flags != tt.flags || r.NumLines != 1 || r.Offsets[0] != 18 || string(r.Consumer[:7]) != "gpsntpd" {
			t.Errorf("%v realtime=%v: flags %#x lines %d offset %d", tt.mode, tt.realtime, r.Config.Flags, r.NumLines, r.Offsets[0])
		}
	}
}

func TestParseLine(t *testing.T) {
	good := map[string]LineSpec{
		"gpiochip0:18":     {Chip: "/dev/gpiochip0", Offset: 18},
		"/dev/gpiochip4:0": {Chip: "/dev/gpiochip4", Offset: 0},
		"gpiochip10:65535": {Chip: "/dev/gpiochip10", Offset: 65535},
		"@pinctrl-rp1:18":  {Label: "pinctrl-rp1", Offset: 18},
	}
	for in, want := range good {
		got, err := ParseLine(in)
		if err != nil || got != want {
			t.Errorf("ParseLine(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "gpiochip0", ":18", "gpiochip0:", "gpiochip0:-1", "gpiochip0:x", "gpiochip0:65536", "../x:1", "a/b:1", "@:18", "@a/b:1", "@" + strings.Repeat("x", 40) + ":1"} {
		if _, err := ParseLine(in); err == nil {
			t.Errorf("ParseLine(%q) accepted", in)
		}
	}
	for in, want := range map[string]EdgeMode{"rising": Rising, "falling": Falling, "both": Both} {
		if got, err := ParseEdgeMode(in); err != nil || got != want {
			t.Errorf("ParseEdgeMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseEdgeMode("up"); err == nil {
		t.Error("ParseEdgeMode accepted up")
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	ev := Event{TimestampNs: 1795348800_000_012_345, Rising: true, Offset: 18, Seqno: 7, LineSeqno: 7}
	b := AppendEvent(nil, ev)
	if len(b) != EventSize {
		t.Fatalf("record of %d bytes", len(b))
	}
	got, err := DecodeEvent(b)
	if err != nil || got != ev {
		t.Fatalf("DecodeEvent = %+v, %v", got, err)
	}
	b[8] = 3
	if _, err := DecodeEvent(b); err == nil {
		t.Error("event id 3 accepted")
	}
	if _, err := DecodeEvent(b[:47]); err == nil {
		t.Error("short record accepted")
	}
}

// A pipe stands in for the line's file descriptor: the decoder reads crafted kernel records from it.
func TestReadEdgesFromFakeLine(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	base := uint64(timebase.Date(2026, 11, 22, 12, 0, 0, 0))
	for i, seq := range []uint32{1, 2, 3, 6, 7} { // 4 and 5 lost: one overrun, two edges
		buf = AppendEvent(buf, Event{TimestampNs: base + uint64(i)*1e9, Rising: i%2 == 0, Offset: 18, Seqno: seq, LineSeqno: seq})
	}
	buf = append(buf, make([]byte, EventSize)...) // id 0: a broken record
	go func() {
		w.Write(buf)
		w.Close()
	}()
	d := NewDecoder(nil)
	out := make(chan timebase.Edge, 16)
	if err := d.ReadEdges(context.Background(), r, out); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadEdges: %v", err)
	}
	close(out)
	var edges []timebase.Edge
	for e := range out {
		edges = append(edges, e)
	}
	if len(edges) != 5 || edges[3].Seq != 6 || edges[3].Time != timebase.Instant(base+3e9) || !edges[0].Rising || edges[1].Rising {
		t.Errorf("edges %+v", edges)
	}
	c := d.Counts()
	if c.Events != 5 || c.Overruns != 1 || c.Lost != 2 || c.BadRecords != 1 || c.MappedEdges != 0 {
		t.Errorf("counts %+v", c)
	}
}

func TestReadEdgesCountsTornRead(t *testing.T) {
	rec := AppendEvent(nil, Event{TimestampNs: 5, Rising: true, LineSeqno: 1})
	d := NewDecoder(nil)
	out := make(chan timebase.Edge, 4)
	err := d.ReadEdges(context.Background(), bytes.NewReader(append(rec, rec[:20]...)), out)
	if !errors.Is(err, io.EOF) || len(out) != 1 || d.Counts().BadRecords != 1 {
		t.Errorf("err %v, %d edges, counts %+v", err, len(out), d.Counts())
	}
}

func TestMonotonicMapping(t *testing.T) {
	// Realtime = monotonic + 1.7e18 ns, slewing by 100 ppm, then stepped by +2 s before the third event.
	off := int64(1_700_000_000_000_000_000)
	mono := int64(5_000_000_000)
	sampler := func() (int64, int64) { return mono, mono + off }
	d := NewDecoder(NewMapper(sampler))
	type ev struct {
		ts, monoNow int64 // event stamp, monotonic clock when read
		step        int64
		want        timebase.Instant
	}
	evs := []ev{
		{ts: 5_000_000_000, monoNow: 5_000_020_000, want: timebase.Instant(5_000_000_000 + off)},
		{ts: 6_000_000_000, monoNow: 6_000_015_000, step: 100_000, want: timebase.Instant(6_000_000_000 + off + 100_000)},
		{ts: 7_000_000_000, monoNow: 7_000_010_000, step: 2_000_000_000, want: timebase.Instant(7_000_000_000 + off + 2_000_100_000)},
	}
	for i, e := range evs {
		mono = e.monoNow
		off += e.step
		got := d.Edge(Event{TimestampNs: uint64(e.ts), Rising: true, LineSeqno: uint32(i + 1)})
		if got.Time != e.want {
			t.Errorf("event %d: mapped to %d, want %d", i, got.Time, e.want)
		}
	}
	c := d.Counts()
	if c.ClockSteps != 1 || c.MappedEdges != 3 || c.Overruns != 0 {
		t.Errorf("counts %+v", c)
	}
}

// The ioctl path runs only where a GPIO chip exists (a Pi, or gpio-sim/gpio-mockup loaded); this machine's
// kernel has neither and no modprobe, so it skips there.
func TestOpenRealChip(t *testing.T) {
	chips, _ := filepath.Glob("/dev/gpiochip*")
	if len(chips) == 0 {
		t.Skip("no /dev/gpiochip* here (gpio-sim/gpio-mockup not loaded): ioctl path not exercised")
	}
	l, err := Open(LineSpec{Chip: chips[0], Offset: 0}, Rising, "gpsntp-test")
	if err != nil {
		t.Skipf("line 0 of %s not requestable here: %v", chips[0], err)
	}
	defer l.Close()
	t.Logf("%s line 0: realtime timestamps %v", chips[0], l.Realtime())
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(AppendEvent(nil, Event{TimestampNs: 1, Rising: true, LineSeqno: 1}))
	f.Add(make([]byte, EventSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			return
		}
		if got, _ := DecodeEvent(AppendEvent(nil, ev)); got != ev {
			t.Fatalf("round trip %+v -> %+v", ev, got)
		}
		d := NewDecoder(nil)
		d.Edge(ev)
	})
}

func TestReadEdgesStopsWhenNobodyListens(t *testing.T) {
	rec := AppendEvent(nil, Event{TimestampNs: 5, Rising: true, LineSeqno: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := NewDecoder(nil)
	if err := d.ReadEdges(ctx, bytes.NewReader(rec), make(chan timebase.Edge)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadEdges with a cancelled context and no receiver: %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"gpiochip0:18", "/dev/gpiochip4:0", "gpiochip0:", ":1", "a:b:3", "@pinctrl-rp1:18"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if l.Offset >= maxLineOffset || (l.Label == "") == (l.Chip == "") || (l.Chip != "" && !strings.HasPrefix(l.Chip, "/")) {
			t.Fatalf("ParseLine(%q) = %+v", s, l)
		}
		if again, err := ParseLine(l.String()); err != nil || again != l {
			t.Fatalf("round trip %q -> %+v -> %+v, %v", s, l, again, err)
		}
	})
}

func TestResolveLabel(t *testing.T) {
	chips := []Chip{
		{Path: "/dev/gpiochip0", Label: "pinctrl-rp1", Lines: 54},
		{Path: "/dev/gpiochip10", Label: "gpio-brcmstb@107d508500", Lines: 32},
		{Path: "/dev/gpiochip11", Label: "dup", Lines: 8},
		{Path: "/dev/gpiochip12", Label: "dup", Lines: 8},
	}
	got, err := ResolveLabel(LineSpec{Label: "pinctrl-rp1", Offset: 18}, chips)
	if err != nil || got.Chip != "/dev/gpiochip0" || got.Offset != 18 {
		t.Errorf("ResolveLabel = %+v, %v", got, err)
	}
	for _, c := range []struct {
		spec LineSpec
		want string
	}{
		{LineSpec{Label: "pinctrl-bcm2711", Offset: 18}, `no GPIO chip labelled "pinctrl-bcm2711" (chips: /dev/gpiochip0="pinctrl-rp1"`},
		{LineSpec{Label: "dup", Offset: 1}, "2 GPIO chips"},
		{LineSpec{Label: "pinctrl-rp1", Offset: 54}, "has 54 lines"},
	} {
		if _, err := ResolveLabel(c.spec, chips); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ResolveLabel(%+v): %v, want %q", c.spec, err, c.want)
		}
	}
	plain := LineSpec{Chip: "/dev/gpiochip0", Offset: 4}
	if got, err := ResolveLabel(plain, nil); err != nil || got != plain {
		t.Errorf("a spec with a path changed: %+v, %v", got, err)
	}
}
