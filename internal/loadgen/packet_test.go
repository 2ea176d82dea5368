package loadgen

import (
	"bytes"
	"testing"
)

func TestPutRequest(t *testing.T) {
	b := bytes.Repeat([]byte{0xff}, 60)
	putRequest(b, 0x0102030405060708)
	want := make([]byte, 48)
	want[0] = 0x23
	copy(want[40:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if !bytes.Equal(b[:48], want) {
		t.Errorf("request = %x, want %x", b[:48], want)
	}
	if b[48] != 0xff {
		t.Error("putRequest wrote past 48 bytes")
	}
	setStamp(b, 0x1112131415161718)
	if !bytes.Equal(b[40:48], []byte{0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}) || b[0] != 0x23 {
		t.Errorf("after setStamp: %x", b[:48])
	}
}

func reply(byte0, stratum byte, origin uint64, n int) []byte {
	b := make([]byte, n)
	if n > 0 {
		b[0] = byte0
	}
	if n > 1 {
		b[1] = stratum
	}
	if n >= 32 {
		for i := range 8 {
			b[24+i] = byte(origin >> (56 - 8*i))
		}
	}
	return b
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		origin uint64
		kind   replyKind
	}{
		{"server reply v4", reply(0x24, 1, 42, 48), 42, replyOK},
		{"server reply v3 unsynchronized", reply(0xdc, 16, 7, 48), 7, replyOK},
		{"longer reply", reply(0x24, 2, 9, 120), 9, replyOK},
		{"kiss-o'-death", reply(0x24, 0, 5, 48), 5, replyKoD},
		{"client mode", reply(0x23, 1, 1, 48), 0, replyBad},
		{"broadcast mode", reply(0x25, 1, 1, 48), 0, replyBad},
		{"short", reply(0x24, 1, 1, 47), 0, replyBad},
		{"empty", nil, 0, replyBad},
	}
	for _, tt := range tests {
		origin, kind := readReply(tt.b)
		if kind != tt.kind || (kind != replyBad && origin != tt.origin) {
			t.Errorf("%s: readReply = %d, %d; want %d, %d", tt.name, origin, kind, tt.origin, tt.kind)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add(reply(0x24, 1, 42, 48))
	f.Add(reply(0x24, 0, 42, 48))
	f.Add([]byte{0x24})
	f.Fuzz(func(t *testing.T, b []byte) {
		origin, kind := readReply(b)
		if kind != replyBad && (len(b) < 48 || b[0]&7 != 4) {
			t.Fatalf("accepted %x", b)
		}
		if kind == replyBad && origin != 0 {
			t.Fatalf("bad reply with origin %d", origin)
		}
	})
}
