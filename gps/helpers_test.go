package gps

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// nm builds an NMEA sentence with its checksum and CRLF from the text between '$' and '*'.
func nm(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

// ubxFrame builds a UBX frame with its Fletcher checksum.
func ubxFrame(class, id byte, payload []byte) []byte {
	f := []byte{0xB5, 0x62, class, id, byte(len(payload)), byte(len(payload) >> 8)}
	f = append(f, payload...)
	var a, b byte
	for _, c := range f[2:] {
		a += c
		b += a
	}
	return append(f, a, b)
}

// payload is a little-endian payload builder.
type payload []byte

func (p payload) u1(v uint8) payload  { return append(p, v) }
func (p payload) i1(v int8) payload   { return append(p, byte(v)) }
func (p payload) u2(v uint16) payload { return binary.LittleEndian.AppendUint16(p, v) }
func (p payload) u4(v uint32) payload { return binary.LittleEndian.AppendUint32(p, v) }
func (p payload) i4(v int32) payload  { return binary.LittleEndian.AppendUint32(p, uint32(v)) }
func (p payload) zero(n int) payload  { return append(p, make([]byte, n)...) }
func (p payload) str(s string, n int) payload {
	b := make([]byte, n)
	copy(b, s)
	return append(p, b...)
}

// Fixed test times.
var (
	t0       = timebase.Date(2026, time.March, 14, 12, 0, 0, 0) // a receive-clock origin
	testOpts = Options{Floor: timebase.Date(2026, time.January, 1, 0, 0, 0, 0)}
)

// feedCycles writes each element of cycles one second apart on the receive clock, starting at t0 + 60 ms
// (a receiver's latency after the second), flushes, and returns the epochs.
func feedCycles(d *Decoder, cycles ...string) []Epoch {
	recv := t0 + timebase.Instant(60*time.Millisecond)
	for _, c := range cycles {
		d.Write([]byte(c), recv)
		recv += timebase.Second
	}
	d.Flush(recv + timebase.Second)
	return drain(d)
}

func drain(d *Decoder) []Epoch {
	var out []Epoch
	for {
		e, ok := d.Next()
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

// gpsdDir finds ../shared/testdata/gpsd relative to the module root, or skips.
func gpsdDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Skip("cannot locate the test source to find ../shared/testdata")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "testdata", "gpsd")
	if st, err := os.Stat(p); err != nil || !st.IsDir() {
		t.Skipf("receiver logs not present at %s (they live beside the project, not in it)", p)
	}
	return p
}
