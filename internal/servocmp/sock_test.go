package servocmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestAppendSockLayout(t *testing.T) {
	// 2026-11-22T10:00:01.000123Z, offset −1.5 s, a full sample, leap insert.
	s := SockSample{TV: timebase.Date(2026, 11, 22, 10, 0, 1, 123000), Offset: -1.5, Leap: 1}
	b, err := AppendSock(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	// tv_sec 1795341601 = 0x6B02BD21, tv_usec 123 = 0x7B, −1.5 = 0xBFF8000000000000, pulse 0, leap 1,
	// pad 0, magic "KCOS" little-endian.
	want := "21bd026b00000000" + "7b00000000000000" + "000000000000f8bf" + "00000000" + "01000000" + "00000000" + "4b434f53"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("AppendSock = %s\nwant          %s", got, want)
	}
	if len(b) != SockSampleSize {
		t.Fatalf("len %d, want %d", len(b), SockSampleSize)
	}
	back, err := DecodeSock(b)
	if err != nil || back != s {
		t.Fatalf("DecodeSock = %+v, %v; want %+v", back, err, s)
	}
}

func TestAppendSockRejects(t *testing.T) {
	base := timebase.Date(2026, 11, 22, 10, 0, 1, 0)
	for _, tc := range []struct {
		name string
		s    SockSample
	}{
		{"sub-µs tv", SockSample{TV: base + 1}},
		{"NaN offset", SockSample{TV: base, Offset: math.NaN()}},
		{"infinite offset", SockSample{TV: base, Offset: math.Inf(-1)}},
		{"leap 3", SockSample{TV: base, Leap: 3}},
		{"leap -1", SockSample{TV: base, Leap: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AppendSock([]byte{9}, tc.s)
			if !errors.Is(err, ErrSockSample) {
				t.Fatalf("err = %v, want ErrSockSample", err)
			}
			if !bytes.Equal(b, []byte{9}) {
				t.Fatalf("buffer changed on error: %x", b)
			}
		})
	}
}

func TestDecodeSockRejects(t *testing.T) {
	good, err := AppendSock(nil, SockSample{TV: timebase.Date(2026, 11, 22, 10, 0, 1, 0), Offset: 0.25, Pulse: true})
	if err != nil {
		t.Fatal(err)
	}
	mut := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", good[:39]},
		{"long", append(bytes.Clone(good), 0)},
		{"bad magic", mut(36, 0)},
		{"usec 1e6", func() []byte { b := bytes.Clone(good); b[8], b[9], b[10] = 0x40, 0x42, 0x0f; return b }()},
		{"pulse 2", mut(24, 2)},
		{"leap 7", mut(28, 7)},
		{"NaN offset", func() []byte { b := bytes.Clone(good); copy(b[16:24], []byte{1, 0, 0, 0, 0, 0, 0xf8, 0x7f}); return b }()},
		{"huge seconds", mut(7, 0x7f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeSock(tc.b); !errors.Is(err, ErrSockSample) {
				t.Fatalf("err = %v, want ErrSockSample", err)
			}
		})
	}
	s, err := DecodeSock(good)
	if err != nil || !s.Pulse || s.Offset != 0.25 {
		t.Fatalf("DecodeSock(good) = %+v, %v", s, err)
	}
}

// FuzzDecodeSock: any datagram decodes or fails cleanly, and what decodes encodes back to the same bytes
// (the pad field aside, which chrony ignores and AppendSock zeroes).
func FuzzDecodeSock(f *testing.F) {
	good, _ := AppendSock(nil, SockSample{TV: timebase.Date(2026, 11, 22, 10, 0, 1, 123000), Offset: -1.5, Leap: 1})
	f.Add(good)
	f.Add(good[:20])
	f.Add(make([]byte, SockSampleSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSock(b)
		if err != nil {
			if !errors.Is(err, ErrSockSample) {
				t.Fatalf("error %v does not wrap ErrSockSample", err)
			}
			return
		}
		out, err := AppendSock(nil, s)
		if err != nil {
			t.Fatalf("AppendSock(%+v) after a successful decode: %v", s, err)
		}
		in := bytes.Clone(b)
		copy(in[32:36], []byte{0, 0, 0, 0})
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip\n in %x\nout %x", in, out)
		}
	})
}
