package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// ef builds an extension field with the given type, stated length and body bytes (the body is not padded:
// tests state exactly what goes on the wire).
func ef(typ, length uint16, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, length)
	return append(b, body...)
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func packet(parts ...[]byte) []byte {
	p := append([]byte{}, chronyRequest...)
	for _, x := range parts {
		p = append(p, x...)
	}
	return p
}

type wantField struct {
	typ    uint16
	offset int
	length int
}

func TestExtensionsTable(t *testing.T) {
	mac20 := append([]byte{0, 0, 0, 7}, seq(16, 0x40)...)
	mac24 := append([]byte{0xde, 0xad, 0xbe, 0xef}, seq(20, 0x80)...)
	tests := []struct {
		name      string
		pkt       []byte
		fields    []wantField
		macKey    uint32
		macLen    int // digest length; 0 for no MAC
		err       error
		errOffset int
	}{
		{name: "bare header", pkt: packet()},
		{name: "one minimal field", pkt: packet(ef(0x0002, 16, seq(12, 1))), fields: []wantField{{2, 48, 16}}},
		{
			name: "NTS-shaped request: unique id, cookie, authenticator",
			pkt:  packet(ef(0x0104, 36, seq(32, 0)), ef(0x0204, 104, seq(100, 0)), ef(0x0404, 40, seq(36, 0))),
			fields: []wantField{
				{0x0104, 48, 36}, {0x0204, 84, 104}, {0x0404, 188, 40},
			},
		},
		{name: "field then MD5 MAC", pkt: packet(ef(0x2005, 28, seq(24, 0)), mac20), fields: []wantField{{0x2005, 48, 28}}, macKey: 7, macLen: 16},
		{name: "field then SHA-1 MAC", pkt: packet(ef(0x2005, 16, seq(12, 0)), mac24), fields: []wantField{{0x2005, 48, 16}}, macKey: 0xdeadbeef, macLen: 20},
		{name: "MD5 MAC only", pkt: packet(mac20), macKey: 7, macLen: 16},
		{name: "SHA-1 MAC only", pkt: packet(mac24), macKey: 0xdeadbeef, macLen: 20},
		{name: "28-byte last field is a field, not a MAC", pkt: packet(ef(0x0001, 28, seq(24, 0))), fields: []wantField{{1, 48, 28}}},
		{name: "largest field", pkt: packet(ef(0x7777, MaxExtLen, make([]byte, MaxExtLen-4))), fields: []wantField{{0x7777, 48, MaxExtLen}}},
		{name: "length zero", pkt: packet(ef(1, 0, seq(12, 0))), err: ErrExtLength, errOffset: 48},
		{name: "length below 16", pkt: packet(ef(1, 12, seq(12, 0))), err: ErrExtLength, errOffset: 48},
		{name: "length not a multiple of 4", pkt: packet(ef(1, 18, seq(24, 0))), err: ErrExtLength, errOffset: 48},
		{name: "length past the end", pkt: packet(ef(1, 32, seq(12, 0))), err: ErrExtOverrun, errOffset: 48},
		{name: "second field malformed", pkt: packet(ef(1, 16, seq(12, 0)), ef(2, 13, seq(12, 0))), fields: []wantField{{1, 48, 16}}, err: ErrExtLength, errOffset: 64},
		{name: "three stray bytes", pkt: packet([]byte{1, 2, 3}), err: ErrExtTruncated, errOffset: 48},
		{name: "stray bytes after a field", pkt: packet(ef(1, 16, seq(12, 0)), []byte{9, 9}), fields: []wantField{{1, 48, 16}}, err: ErrExtTruncated, errOffset: 64},
		{name: "20 bytes that look like a field are a MAC", pkt: packet(ef(1, 20, seq(16, 0))), macKey: 0x00010014, macLen: 16},
		{name: "MAC not at the end is not recognised", pkt: packet(mac20, ef(1, 16, seq(12, 0))), err: ErrExtLength, errOffset: 48},
		{name: "truncated header", pkt: chronyRequest[:40], err: ErrShort, errOffset: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := Extensions(tt.pkt)
			var got []wantField
			for it.Next() {
				f := it.Field()
				got = append(got, wantField{f.Type, f.Offset, f.Length})
				if !bytes.Equal(f.Value, tt.pkt[f.Offset+4:f.Offset+f.Length]) {
					t.Errorf("field at %d: Value does not alias the packet body", f.Offset)
				}
				if cap(f.Value) != len(f.Value) {
					t.Errorf("field at %d: Value has spare capacity into the next field", f.Offset)
				}
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("fields = %v, want %v", got, tt.fields)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Fatalf("fields = %v, want %v", got, tt.fields)
				}
			}
			if it.Err() != tt.err {
				t.Fatalf("Err = %v, want %v", it.Err(), tt.err)
			}
			if tt.err != nil {
				if !errors.Is(it.Err(), ErrMalformed) {
					t.Errorf("%v does not match ErrMalformed", it.Err())
				}
				if it.Offset() != tt.errOffset {
					t.Errorf("error offset = %d, want %d", it.Offset(), tt.errOffset)
				}
			}
			mac, ok := it.MAC()
			if ok != (tt.macLen > 0) {
				t.Fatalf("MAC present = %v, want %v", ok, tt.macLen > 0)
			}
			if ok {
				if mac.KeyID != tt.macKey || len(mac.Digest) != tt.macLen || mac.Offset+4+len(mac.Digest) != len(tt.pkt) {
					t.Fatalf("MAC = %+v, want key %#x digest %d ending the packet", mac, tt.macKey, tt.macLen)
				}
			}
			if it.Next() {
				t.Fatal("Next after the end returned true")
			}
			if v := ValidateTrailer(tt.pkt, 4); v != tt.err {
				t.Fatalf("ValidateTrailer(v4) = %v, want %v", v, tt.err)
			}
		})
	}
}

func TestFieldBeforeNext(t *testing.T) {
	for _, pkt := range [][]byte{nil, chronyRequest[:3], packet(ef(1, 16, seq(12, 0)))} {
		it := Extensions(pkt)
		if f := it.Field(); f.Length != 0 || f.Value != nil {
			t.Fatalf("Field before Next = %+v", f)
		}
		if _, ok := it.MAC(); ok {
			t.Fatal("MAC before Next")
		}
	}
}

func TestValidateTrailerLegacyVersions(t *testing.T) {
	mac20 := make([]byte, 20)
	mac24 := make([]byte, 24)
	for _, vn := range []uint8{1, 2, 3} {
		for _, tt := range []struct {
			pkt []byte
			err error
		}{
			{packet(), nil},
			{packet(mac20), nil},
			{packet(mac24), nil},
			{packet(ef(1, 16, seq(12, 0))), ErrTrailer}, // extension fields are NTPv4-only
			{packet(ef(1, 28, seq(24, 0))), ErrTrailer},
			{packet([]byte{1}), ErrTrailer},
			{chronyRequest[:47], ErrShort},
		} {
			if err := ValidateTrailer(tt.pkt, vn); err != tt.err {
				t.Errorf("v%d, %d bytes: %v, want %v", vn, len(tt.pkt), err, tt.err)
			}
		}
	}
}

func TestAppendField(t *testing.T) {
	for _, tt := range []struct {
		valueLen, wantLen int
	}{{0, 16}, {1, 16}, {12, 16}, {13, 20}, {24, 28}, {32, 36}, {MaxExtLen - 4, MaxExtLen}} {
		v := seq(tt.valueLen, 1)
		b, err := AppendField([]byte{0xff}, 0x0104, v)
		if err != nil {
			t.Fatal(err)
		}
		f := b[1:]
		if len(f) != tt.wantLen || int(binary.BigEndian.Uint16(f[2:])) != tt.wantLen || binary.BigEndian.Uint16(f) != 0x0104 {
			t.Fatalf("value %d: field % x", tt.valueLen, f[:4])
		}
		if !bytes.Equal(f[4:4+len(v)], v) || !bytes.Equal(f[4+len(v):], make([]byte, tt.wantLen-4-len(v))) {
			t.Fatalf("value %d: body or padding wrong", tt.valueLen)
		}
	}
	if _, err := AppendField(nil, 1, make([]byte, MaxExtLen-3)); err != ErrExtTooLong {
		t.Fatalf("oversized value: %v", err)
	}
}

func BenchmarkExtensions(b *testing.B) {
	pkt := packet(ef(0x0104, 36, seq(32, 0)), ef(0x0204, 104, seq(100, 0)), ef(0x0404, 40, seq(36, 0)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateTrailer(pkt, 4); err != nil {
			b.Fatal(err)
		}
	}
}
