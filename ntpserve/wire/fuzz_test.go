package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzHeader: any 48 bytes decode, and encode back to exactly the same bytes (every bit of the header is a
// field); anything shorter is ErrShort.
func FuzzHeader(f *testing.F) {
	f.Add(chronyRequest)
	f.Add(chronyRequest[:47])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 48))
	f.Add(packet(ef(0x0104, 36, seq(32, 0))))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Header
		err := h.Unmarshal(data)
		if len(data) < HeaderLen {
			if err != ErrShort {
				t.Fatalf("Unmarshal(%d bytes) = %v, want ErrShort", len(data), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		vn, mode, err := Peek(data)
		if err != nil || vn != h.Version || mode != h.Mode {
			t.Fatalf("Peek = %d %v %v, header says %d %v", vn, mode, err, h.Version, h.Mode)
		}
		buf := make([]byte, HeaderLen)
		n, err := h.Marshal(buf)
		if err != nil || n != HeaderLen {
			t.Fatalf("Marshal = %d, %v", n, err)
		}
		if !bytes.Equal(buf, data[:HeaderLen]) {
			t.Fatalf("round trip changed bytes:\n in % x\nout % x", data[:HeaderLen], buf)
		}
		var back Header
		if err := back.Unmarshal(buf); err != nil || back != h {
			t.Fatalf("second decode: %+v, %v; want %+v", back, err, h)
		}
	})
}

// FuzzExtensions: the iterator never panics or reads out of bounds; the fields it returns are well-formed,
// contiguous from offset 48 and alias the packet; re-encoding the fields and MAC reproduces the packet up to
// the point where iteration stopped, and all of it when there was no error.
func FuzzExtensions(f *testing.F) {
	f.Add([]byte{})
	f.Add(ef(0x0104, 36, seq(32, 0)))
	f.Add(append(ef(0x0104, 36, seq(32, 0)), append(ef(0x0204, 104, seq(100, 0)), ef(0x0404, 40, seq(36, 0))...)...))
	f.Add(append(ef(1, 16, seq(12, 0)), make([]byte, 20)...))
	f.Add(make([]byte, 24))
	f.Add(ef(1, 12, seq(12, 0)))
	f.Add(ef(1, 64, seq(12, 0)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, trailer []byte) {
		pkt := packet(trailer)
		it := Extensions(pkt)
		rebuilt := append([]byte{}, pkt[:HeaderLen]...)
		next := HeaderLen
		for it.Next() {
			fl := it.Field()
			if fl.Offset != next {
				t.Fatalf("field at %d, expected %d", fl.Offset, next)
			}
			if fl.Length < MinExtLen || fl.Length%4 != 0 || fl.Offset+fl.Length > len(pkt) {
				t.Fatalf("ill-formed field returned: %+v", fl)
			}
			if fl.Type != binary.BigEndian.Uint16(pkt[fl.Offset:]) || len(fl.Value) != fl.Length-ExtHeaderLen {
				t.Fatalf("field %+v does not match the bytes", fl)
			}
			var err error
			rebuilt, err = AppendField(rebuilt, fl.Type, fl.Value)
			if err != nil {
				t.Fatal(err)
			}
			next += fl.Length
		}
		if mac, ok := it.MAC(); ok {
			if it.Err() != nil || mac.Offset != next || (len(mac.Digest) != 16 && len(mac.Digest) != 20) {
				t.Fatalf("MAC %+v with err %v at %d", mac, it.Err(), next)
			}
			rebuilt = binary.BigEndian.AppendUint32(rebuilt, mac.KeyID)
			rebuilt = append(rebuilt, mac.Digest...)
		}
		if it.Err() == nil {
			if !bytes.Equal(rebuilt, pkt) {
				t.Fatalf("re-encoding differs:\n in % x\nout % x", pkt, rebuilt)
			}
		} else {
			if it.Offset() != next || !bytes.Equal(rebuilt, pkt[:next]) {
				t.Fatalf("error %v at %d after fields ending at %d", it.Err(), it.Offset(), next)
			}
		}
		if err := ValidateTrailer(pkt, 4); err != it.Err() {
			t.Fatalf("ValidateTrailer = %v, iterator = %v", err, it.Err())
		}
	})
}
