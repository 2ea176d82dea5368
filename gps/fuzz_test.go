package gps

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

const badWarnings = WarnNoTime | WarnNoDate | WarnNoValidity | WarnReceiverInvalid | WarnConflict | WarnTimeJump | WarnRepeat | WarnBeforeFloor

// checkEpochs holds for any input: valid epochs are dated, after the floor, claimed by the receiver,
// free of disqualifying warnings, and never repeat the epoch before them.
func checkEpochs(t *testing.T, es []Epoch, floor timebase.Instant, c Counts) {
	t.Helper()
	var prev *Epoch
	for i := range es {
		e := &es[i]
		if e.Label.Valid {
			if !e.HasTime || e.Label.Second < floor || e.Label.Source == "" || e.Warnings&badWarnings != 0 {
				t.Fatalf("bad valid epoch: %+v", e)
			}
			if prev != nil && prev.Time == e.Time && prev.LeapSecond == e.LeapSecond {
				t.Fatalf("valid epoch repeats the previous one: %v", e.Time)
			}
		}
		if e.HasTime && e.Label.Second != 0 {
			prev = e
		}
		if i > 0 && e.Label.Received < es[i-1].Label.Received {
			t.Fatalf("epochs out of receive order")
		}
	}
	if c.Epochs != c.ValidEpochs+c.InvalidEpochs {
		t.Fatalf("counts %+v", c)
	}
}

// addLogSeeds adds the start of some receiver logs as seeds, when the logs are there.
func addLogSeeds(f *testing.F, names ...string) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "testdata", "gpsd")
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			f.Add(b[:min(len(b), 1024)])
		}
	}
}

// FuzzDecoder feeds arbitrary bytes. However they are cut into reads, the result is the same, nothing
// panics, and the epoch invariants hold; with a receive clock that advances, Flush and Deadline run too.
func FuzzDecoder(f *testing.F) {
	f.Add(mixedStream())
	f.Add([]byte(rmcAt("120000") + nm("GPGGA,120000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,") + "\x00\xb5\x62\x01"))
	f.Add([]byte("$GPRMC,235960,A,,,,,,,311226,,,A*00\r\n$$GPZDA,1*\r\n\xb5\x62\x01\x21\x14\x00"))
	f.Add([]byte(nm("GPTXT,01") + nm("PUBX,04,120000.00,140326,475200.00,2409,18D,-1196,-2.533,43") + nm("GPGSV,1,1,01,05,95,120,44")))
	addLogSeeds(f, "gp-320fw-2019-04-07-coldboot.log", "u-blox-m8t-time.log", "trimble-res720.log", "isync.log")
	floor := testOpts.Floor
	f.Fuzz(func(t *testing.T, data []byte) {
		decode := func(chunk int) ([]Epoch, Counts) {
			d := NewDecoder(Options{Floor: floor, JumpTolerance: -1})
			var es []Epoch
			for i := 0; i < len(data); i += chunk {
				d.Write(data[i:min(i+chunk, len(data))], t0)
				es = append(es, drain(d)...)
			}
			d.Flush(t0 + timebase.Second)
			return append(es, drain(d)...), d.Counts()
		}
		ref, rc := decode(max(len(data), 1))
		if rc.Bytes != uint64(len(data)) {
			t.Fatalf("bytes %d of %d", rc.Bytes, len(data))
		}
		checkEpochs(t, ref, floor, rc)
		chunk := 1 + len(data)%7
		if es, c := decode(chunk); !reflect.DeepEqual(es, ref) || c != rc {
			t.Fatalf("chunk %d: %d epochs %+v, one read: %d epochs %+v", chunk, len(es), c, len(ref), rc)
		}

		// Live-like: reads of varying size at an advancing clock, Flush at each deadline, bytes dated back
		// from their reads at 1 ms per character.
		d := NewDecoder(Options{Floor: floor, ByteTime: time.Millisecond})
		var es []Epoch
		now := t0
		for i := 0; i < len(data); {
			n := 1 + int(data[i])%32
			now += timebase.Instant(time.Duration(data[i]) * 3 * time.Millisecond)
			if dl, ok := d.Deadline(); ok && now >= dl {
				d.Flush(now)
			}
			d.Write(data[i:min(i+n, len(data))], now)
			es = append(es, drain(d)...)
			i += n
		}
		d.Flush(now + timebase.Second)
		es = append(es, drain(d)...)
		checkEpochs(t, es, floor, d.Counts())
		earliest := t0 - timebase.Instant(len(data))*timebase.Instant(time.Millisecond)
		for _, e := range es {
			if r := e.Label.Received; r != 0 && (r > now || r < earliest) {
				t.Fatalf("epoch received at %v, outside [%v, %v]", r, earliest, now)
			}
		}
	})
}

// FuzzUBX wraps an arbitrary payload in a correct UBX frame: whatever it says, it is counted exactly once
// and nothing panics; a frame with one bit flipped is never used.
func FuzzUBX(f *testing.F) {
	f.Add(byte(0x01), byte(0x21), []byte(navTimeUTC(1000, 2026, 3, 14, 12, 0, 0, 0, 0x37)[6:26]))
	f.Add(byte(0x01), byte(0x07), navPVT(1000, 2026, 3, 14, 12, 0, 0, 0, 0x37, 3, 1, 0xE0, 12, 1, 1)[6:98])
	f.Add(byte(0x01), byte(0x35), navSatFrame(1000, satFixture{0, 5, 44, 45, 120, true})[6:26])
	f.Add(byte(0x0D), byte(0x01), timTPFrame(1000, 0, 5, 2409, 0x0B, 0x0F)[6:22])
	f.Add(byte(0x01), byte(0x26), navTimeLS(1000, 2, 18, 2, 1, 100, 3)[6:30])
	f.Add(byte(0x0A), byte(0x04), monVerFrame("ROM", "0008", "MOD=X")[6:76])
	f.Add(byte(0x05), byte(0x01), []byte{6, 1})
	f.Fuzz(func(t *testing.T, class, id byte, p []byte) {
		if len(p) > maxUBXPayload {
			p = p[:maxUBXPayload]
		}
		frame := ubxFrame(class, id, p)
		d := NewDecoder(testOpts)
		d.Write(frame, t0)
		d.Flush(t0 + timebase.Second)
		es := drain(d)
		c := d.Counts()
		if len(p) <= ubxMaxLen(class) {
			if c.UBXOK+c.UBXMalformed+c.UBXUnknown != 1 || c.OtherBytes != 0 {
				t.Fatalf("counts %+v", c)
			}
		} else if c.OtherBytes == 0 {
			t.Fatalf("unknown class or implausible length, yet no byte skipped: counts %+v", c)
		} else if !bytes.Contains(p, []byte{0xB5, 0x62}) && c.UBXOK+c.UBXMalformed+c.UBXUnknown+c.UBXBad != 0 {
			// The rejected frame itself is never counted as a frame. (A payload holding a sync pair can hide a
			// frame candidate of its own, which the rescan rightly counts, good or bad.)
			t.Fatalf("unknown class or implausible length: counts %+v", c)
		}
		checkEpochs(t, es, testOpts.Floor, c)

		// A flipped bit breaks the checksum: the frame itself is never used. (A longer payload may hide a
		// whole frame of its own, which the rescan rightly finds.)
		bad := append([]byte(nil), frame...)
		bad[2+len(bad[2:])/2] ^= 0x10
		d = NewDecoder(testOpts)
		d.Write(bad, t0)
		if c := d.Counts(); knownUBXClass(class) && len(p) < 8 && !bytes.Contains(p, []byte{0xB5, 0x62}) &&
			(c.UBXOK+c.UBXMalformed+c.UBXUnknown != 0 || c.UBXBad > 1) {
			t.Fatalf("broken frame: counts %+v", c)
		}
	})
}

// FuzzEpoch drives the epoch assembler directly with arbitrary observations: times, dates, claims, UBX
// epochs and receive times, in any order.
//
//	op (8 bytes): [0] kind/flags  [1] claim  [2:4] seconds from 12:00 (int16)  [4] centiseconds
//	              [5] date offset in days (int8)  [6:8] receive-clock advance in ms
func FuzzEpoch(f *testing.F) {
	seed := func(ops ...[8]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o[:]...)
		}
		return b
	}
	f.Add(seed([8]byte{0x03, 1, 0, 0, 0, 0, 60, 0}, [8]byte{0x03, 1, 1, 0, 0, 0, 0xE8, 3}, [8]byte{0x03, 1, 1, 0, 0, 0, 0xE8, 3}))
	f.Add(seed([8]byte{0x01, 1, 0, 0, 0, 0, 0, 0}, [8]byte{0x04, 0, 0, 0, 0, 0, 0, 0}, [8]byte{0x80, 0, 0, 0, 0, 0, 0xFF, 0}))
	f.Add(seed([8]byte{0x13, 1, 0x7F, 0xA8, 99, 0, 0, 0}, [8]byte{0x23, 1, 0x80, 0xA8, 0, 1, 0xE8, 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(testOpts)
		noon := timebase.Date(2026, time.March, 14, 12, 0, 0, 0)
		recv := t0
		var es []Epoch
		for len(data) >= 8 {
			op := data[:8]
			data = data[8:]
			recv += timebase.Instant(binary.LittleEndian.Uint16(op[6:])) * timebase.Instant(time.Millisecond)
			if op[0]&0x80 != 0 {
				d.Flush(recv)
				es = append(es, drain(d)...)
				continue
			}
			o := &d.scratch
			o.reset()
			o.kind = kind(op[0] & 0x07)
			o.claim = int8(op[1]%3) - 1
			if op[0]&0x01 != 0 {
				sec := int64(int16(binary.LittleEndian.Uint16(op[2:])))
				o.src = srcRMC
				o.dup = true
				o.hasTOD = true
				o.todNs = ((12*3600+sec)%86400+86400)%86400*1e9 + int64(op[4]%100)*1e7
				if op[0]&0x10 != 0 && o.todNs/1e9 == 86399 {
					o.leap = true
				}
				if op[0]&0x02 != 0 {
					y, m, dd, _ := splitDay(noon + timebase.Instant(int8(op[5]))*timebase.Instant(24*time.Hour))
					o.setDate(y, m, dd)
				}
			}
			if op[0]&0x20 != 0 {
				o.hasITOW, o.itow = true, uint32(op[2])
			}
			if op[0]&0x40 != 0 {
				o.sats = append(o.sats, Sat{Constellation: Constellation(op[5] % uint8(NumConstellations)), PRN: uint16(op[4]), CN0: op[1]})
				o.usedIDs = append(o.usedIDs, satID{GPS, uint16(op[4])})
			}
			o.hash = uint32(op[1])<<24 | uint32(op[4])
			d.observe(o, recv)
			es = append(es, drain(d)...)
		}
		d.Flush(recv + timebase.Second)
		es = append(es, drain(d)...)
		checkEpochs(t, es, testOpts.Floor, d.Counts())
		for _, e := range es {
			if e.SatsVisible != len(e.Sky) || e.SatsUsed < 0 {
				t.Fatalf("satellites %d/%d sky %d", e.SatsUsed, e.SatsVisible, len(e.Sky))
			}
		}
	})
}
