package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// A client request as chrony 4.x sends it (NTPv4, mode 3, poll 6, precision -25), transmit timestamp
// set, everything else zero except the fields chrony fills: written out byte by byte.
var chronyRequest = mustHex("23" + "00" + "06" + "e7" + // LI 0, VN 4, mode 3; stratum 0; poll 6; precision -25
	"00000000" + "00000000" + "00000000" + // root delay, root dispersion, refid
	"0000000000000000" + "0000000000000000" + "0000000000000000" + // reference, origin, receive
	"e9c4c4b2a3d70a3d") // transmit

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestUnmarshalKnownPacket(t *testing.T) {
	var h Header
	if err := h.Unmarshal(chronyRequest); err != nil {
		t.Fatal(err)
	}
	want := Header{Leap: timebase.LeapNone, Version: 4, Mode: ModeClient, Poll: 6, Precision: -25,
		TransmitTime: 0xe9c4c4b2a3d70a3d}
	if h != want {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
}

func TestHeaderFieldsTable(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want string // hex of the 48 bytes
	}{
		{
			name: "unsynchronized server reply",
			h: Header{Leap: timebase.LeapUnsync, Version: 4, Mode: ModeServer, Stratum: 16, Poll: 6, Precision: -20,
				RootDelay: 0, RootDispersion: 16 << 16, OriginTime: 0x0102030405060708,
				ReceiveTime: 0x1112131415161718, TransmitTime: 0x2122232425262728},
			want: "e4" + "10" + "06" + "ec" + "00000000" + "00100000" + "00000000" +
				"0000000000000000" + "0102030405060708" + "1112131415161718" + "2122232425262728",
		},
		{
			name: "stratum 1 GPS, leap insert, negative poll",
			h: Header{Leap: timebase.LeapInsert, Version: 3, Mode: ModeServer, Stratum: 1, Poll: -2, Precision: -23,
				RootDelay: 0x00000001, RootDispersion: 0x0000000a, RefID: timebase.RefIDFromString("GPS"),
				ReferenceTime: 0xfffffffffffffffe},
			want: "5c" + "01" + "fe" + "e9" + "00000001" + "0000000a" + "47505300" +
				"fffffffffffffffe" + "0000000000000000" + "0000000000000000" + "0000000000000000",
		},
		{
			name: "all bits set",
			h: Header{Leap: 3, Version: 7, Mode: 7, Stratum: 255, Poll: -1, Precision: -1, RootDelay: 0xffffffff,
				RootDispersion: 0xffffffff, RefID: timebase.RefID{255, 255, 255, 255}, ReferenceTime: ^timebase.NTPTime(0),
				OriginTime: ^timebase.NTPTime(0), ReceiveTime: ^timebase.NTPTime(0), TransmitTime: ^timebase.NTPTime(0)},
			want: "ff" + "ff" + "ff" + "ff" + "ffffffff" + "ffffffff" + "ffffffff" +
				"ffffffffffffffff" + "ffffffffffffffff" + "ffffffffffffffff" + "ffffffffffffffff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 60)
			for i := range buf {
				buf[i] = 0xaa
			}
			n, err := tt.h.Marshal(buf)
			if err != nil || n != HeaderLen {
				t.Fatalf("Marshal = %d, %v", n, err)
			}
			if got := hex.EncodeToString(buf[:HeaderLen]); got != tt.want {
				t.Fatalf("Marshal:\n got %s\nwant %s", got, tt.want)
			}
			for i, c := range buf[HeaderLen:] {
				if c != 0xaa {
					t.Fatalf("Marshal wrote past the header at byte %d", HeaderLen+i)
				}
			}
			var back Header
			if err := back.Unmarshal(buf); err != nil {
				t.Fatal(err)
			}
			if back != tt.h {
				t.Fatalf("round trip: got %+v want %+v", back, tt.h)
			}
		})
	}
}

func TestUnmarshalShort(t *testing.T) {
	for _, n := range []int{0, 1, 47} {
		var h Header
		err := h.Unmarshal(make([]byte, n))
		if err != ErrShort {
			t.Errorf("Unmarshal(%d bytes) = %v, want ErrShort", n, err)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ErrShort does not match ErrMalformed")
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	good := Header{Version: 4, Mode: ModeServer}
	if _, err := good.Marshal(make([]byte, 47)); err != ErrShortBuffer {
		t.Errorf("short buffer: %v", err)
	}
	for _, h := range []Header{{Leap: 4, Version: 4}, {Version: 8}, {Version: 4, Mode: 8}} {
		buf := make([]byte, HeaderLen)
		if _, err := h.Marshal(buf); err != ErrFieldRange {
			t.Errorf("Marshal(%+v) = %v, want ErrFieldRange", h, err)
		}
		if !bytes.Equal(buf, make([]byte, HeaderLen)) {
			t.Errorf("Marshal wrote on error")
		}
	}
	if errors.Is(ErrShortBuffer, ErrMalformed) {
		t.Error("a caller's buffer error must not count as malformed input")
	}
}

func TestPeek(t *testing.T) {
	for _, tt := range []struct {
		b    byte
		vn   uint8
		mode Mode
	}{{0x23, 4, ModeClient}, {0x1b, 3, ModeClient}, {0x0b, 1, ModeClient}, {0x08, 1, ModeReserved}, {0x16, 2, ModeControl}, {0xe7, 4, ModePrivate}} {
		vn, mode, err := Peek([]byte{tt.b})
		if err != nil || vn != tt.vn || mode != tt.mode {
			t.Errorf("Peek(%#x) = %d, %v, %v; want %d, %v", tt.b, vn, mode, err, tt.vn, tt.mode)
		}
	}
	if _, _, err := Peek(nil); err != ErrShort {
		t.Errorf("Peek(nil) = %v", err)
	}
}

func TestSetters(t *testing.T) {
	h := Header{Version: 4, Mode: ModeServer, RootDispersion: 1, TransmitTime: 2}
	buf := make([]byte, HeaderLen)
	if _, err := h.Marshal(buf); err != nil {
		t.Fatal(err)
	}
	if err := SetTransmitTime(buf, 0x0102030405060708); err != nil {
		t.Fatal(err)
	}
	if err := SetRootDispersion(buf, 0x0a0b0c0d); err != nil {
		t.Fatal(err)
	}
	var back Header
	if err := back.Unmarshal(buf); err != nil {
		t.Fatal(err)
	}
	h.TransmitTime, h.RootDispersion = 0x0102030405060708, 0x0a0b0c0d
	if back != h {
		t.Fatalf("got %+v want %+v", back, h)
	}
	if SetTransmitTime(buf[:47], 0) != ErrShortBuffer || SetRootDispersion(buf[:47], 0) != ErrShortBuffer {
		t.Fatal("setters accept a short buffer")
	}
}

// Timestamps on both sides of the NTP era boundary (2036-02-07T06:28:16Z) survive the wire and are put back
// in the right era by timebase.FromNTP with a nearby pivot.
func TestTimestampsAcrossEraBoundary(t *testing.T) {
	boundary := timebase.Date(2036, time.February, 7, 6, 28, 16, 0)
	for _, tt := range []struct {
		name  string
		at    timebase.Instant
		era   int64
		secs  uint32
		pivot time.Duration
	}{
		{"last nanosecond of era 0", boundary - 1, 0, 0xffffffff, time.Hour},
		{"first instant of era 1", boundary, 1, 0, -time.Hour},
		{"era 1 plus 1.5 s", boundary + 3*timebase.Second/2, 1, 1, 0},
		{"2040, pivot a day early", timebase.Date(2040, 1, 1, 0, 0, 0, 999_999_999), 1, 0x0754fd00, -24 * time.Hour},
		{"2030, pivot in era 1", timebase.Date(2030, 6, 1, 12, 0, 0, 500), 0, 0xf54e1240, 10 * 365 * 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.at.Era() != tt.era {
				t.Fatalf("era = %d, want %d", tt.at.Era(), tt.era)
			}
			h := Header{Version: 4, Mode: ModeServer, ReferenceTime: tt.at.NTP(), OriginTime: tt.at.NTP(),
				ReceiveTime: tt.at.NTP(), TransmitTime: tt.at.NTP()}
			if got := h.TransmitTime.Seconds(); got != tt.secs {
				t.Fatalf("wire seconds = %#x, want %#x", got, tt.secs)
			}
			buf := make([]byte, HeaderLen)
			if _, err := h.Marshal(buf); err != nil {
				t.Fatal(err)
			}
			var back Header
			if err := back.Unmarshal(buf); err != nil {
				t.Fatal(err)
			}
			pivot := tt.at.Add(tt.pivot)
			for _, ts := range []timebase.NTPTime{back.ReferenceTime, back.OriginTime, back.ReceiveTime, back.TransmitTime} {
				if got := timebase.FromNTP(ts, pivot); got != tt.at {
					t.Fatalf("FromNTP = %v, want %v", got, tt.at)
				}
			}
		})
	}
}

func TestUnmarshalZeroAlloc(t *testing.T) {
	var h Header
	pkt := append(append([]byte{}, chronyRequest...), mustHex("01040024"+
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")...)
	buf := make([]byte, HeaderLen)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := h.Unmarshal(pkt); err != nil {
			t.Fatal(err)
		}
		if err := ValidateTrailer(pkt, h.Version); err != nil {
			t.Fatal(err)
		}
		if err := h.Unmarshal(pkt[:10]); err != ErrShort {
			t.Fatal(err)
		}
		if _, err := h.Marshal(buf); err != nil {
			t.Fatal(err)
		}
		it := Extensions(pkt)
		for it.Next() {
			_ = it.Field()
		}
		// A malformed layout allocates nothing either: errors are sentinels.
		if err := ValidateTrailer(pkt[:HeaderLen+8], 4); err == nil {
			t.Fatal("no error")
		}
	})
	if allocs != 0 {
		t.Fatalf("decode allocates %v times per run, want 0", allocs)
	}
}

func TestModeString(t *testing.T) {
	if ModeClient.String() != "client" || ModePrivate.String() != "private" || Mode(9).String() != "Mode(9)" {
		t.Fatal("Mode.String")
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	b.ReportAllocs()
	var h Header
	for b.Loop() {
		if err := h.Unmarshal(chronyRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	h := Header{Leap: 0, Version: 4, Mode: ModeServer, Stratum: 1, TransmitTime: 12345}
	buf := make([]byte, HeaderLen)
	for b.Loop() {
		if _, err := h.Marshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}
