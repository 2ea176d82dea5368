package ubx

import (
	"bytes"
	"strings"
	"testing"
)

func TestNextFrame(t *testing.T) {
	poll := PollMonVER()
	ack, _ := AppendFrame(nil, ClassACK, 0x01, []byte{ClassCFG, IDCfgMSG})
	long, _ := AppendFrame(nil, ClassCFG, IDCfgVALSET, bytes.Repeat([]byte{7}, 300))
	stream := append(append(append([]byte("$GPRMC,junk\r\n"), poll...), ack...), long[:20]...)

	f, rest, ok := NextFrame(stream)
	if !ok || !bytes.Equal(f, poll) {
		t.Fatalf("first frame %x, %v", f, ok)
	}
	if f, rest, ok = NextFrame(rest); !ok || !bytes.Equal(f, ack) {
		t.Fatalf("second frame %x, %v", f, ok)
	}
	// A frame longer than 255 bytes is incomplete until all of it is there.
	if f, rest, ok = NextFrame(rest); ok || !bytes.Equal(rest, long[:20]) {
		t.Fatalf("partial long frame: %x %x %v", f, rest, ok)
	}
	if f, rest, ok = NextFrame(append(rest, long[20:]...)); !ok || !bytes.Equal(f, long) || len(rest) != 0 {
		t.Fatalf("long frame: %d bytes, rest %d, %v", len(f), len(rest), ok)
	}
	for _, tc := range []struct {
		in, rest string
	}{
		{"no sync here", ""},
		{"text\xb5", "\xb5"},
		{"x\xb5\x62\x0a", "\xb5\x62\x0a"},
	} {
		if _, rest, ok := NextFrame([]byte(tc.in)); ok || string(rest) != tc.rest {
			t.Errorf("NextFrame(%q): rest %q, %v; want %q", tc.in, rest, ok, tc.rest)
		}
	}
}

func FuzzNextFrame(f *testing.F) {
	f.Add(append([]byte("$GP*00\r\n"), PollMonVER()...))
	f.Add([]byte{0xB5, 0x62, 1, 2, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		for n := 0; n <= len(b); n++ {
			fr, rest, ok := NextFrame(b)
			if len(rest) > len(b) || (ok && (len(fr) < 8 || fr[0] != 0xB5 || fr[1] != 0x62 || len(fr) != 8+(int(fr[4])|int(fr[5])<<8))) {
				t.Fatalf("NextFrame(%x) = %x, %x, %v", b, fr, rest, ok)
			}
			if !ok {
				return
			}
			b = rest
		}
	})
}

func TestAnswer(t *testing.T) {
	mv := Answer(PollMonVER(), "18.00", false)
	if mv[2] != ClassMON || mv[3] != IDMonVER || !bytes.Contains(mv, []byte("PROTVER=18.00")) || !bytes.Contains(mv, []byte("MOD=NEO-M8T")) {
		t.Errorf("MON-VER answer %q", mv)
	}
	if f9 := MonVER("27.12"); !bytes.Contains(f9, []byte("MOD=ZED-F9T")) {
		t.Errorf("protocol 27 answers as %q", f9)
	}
	cfg, _ := AppendFrame(nil, ClassCFG, IDCfgMSG, CfgMSG(ClassNAV, IDNavTimeUTC, 1))
	for nak, id := range map[bool]byte{false: 0x01, true: 0x00} {
		a := Answer(cfg, "18.00", nak)
		if want, _ := AppendFrame(nil, ClassACK, id, []byte{ClassCFG, IDCfgMSG}); !bytes.Equal(a, want) {
			t.Errorf("nak=%v: %x, want %x", nak, a, want)
		}
	}
	nav, _ := AppendFrame(nil, ClassNAV, IDNavTimeUTC, nil)
	if a := Answer(nav, "18.00", false); a != nil || Answer([]byte{0xB5}, "18.00", false) != nil {
		t.Errorf("answered a NAV poll or a fragment: %x", a)
	}
	if !strings.HasPrefix(string(MonVER("18.00")[6:]), "ROM CORE") {
		t.Error("MON-VER payload starts elsewhere")
	}
}
