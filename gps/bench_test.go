package gps

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// ubloxSecond is one second of a u-blox 8 timing setup at its defaults plus the UBX messages gpsntp
// enables: the NMEA set (RMC, VTG, GGA, GSA x2, GSV for GPS and GLONASS, GLL, ZDA) and NAV-PVT, NAV-SAT,
// NAV-TIMELS and TIM-TP.
func ubloxSecond(i int) []byte {
	s := fmt6(12*3600+i) + ".00"
	itow := uint32(testTOW + i*1000)
	var b strings.Builder
	b.WriteString(nm("GNRMC," + s + ",A,4807.03812,N,01131.00045,E,0.012,,140326,,,A,V"))
	b.WriteString(nm("GNVTG,,T,,M,0.012,N,0.023,K,A"))
	b.WriteString(nm("GNGGA," + s + ",4807.03812,N,01131.00045,E,1,12,0.58,545.4,M,46.9,M,,"))
	b.WriteString(nm("GNGSA,A,3,05,13,15,18,20,23,25,29,,,,,1.01,0.58,0.83,1"))
	b.WriteString(nm("GNGSA,A,3,65,71,72,88,,,,,,,,,1.01,0.58,0.83,2"))
	b.WriteString(nm("GPGSV,3,1,11,05,45,120,44,13,30,200,40,15,60,300,38,18,05,010,21,1"))
	b.WriteString(nm("GPGSV,3,2,11,20,35,150,39,23,12,080,33,25,71,260,47,29,22,330,36,1"))
	b.WriteString(nm("GPGSV,3,3,11,31,03,100,,46,35,150,39,48,24,236,44,1"))
	b.WriteString(nm("GLGSV,2,1,06,65,20,045,33,71,70,270,35,72,41,190,37,80,,,,1"))
	b.WriteString(nm("GLGSV,2,2,06,87,09,320,24,88,52,020,40,1"))
	b.WriteString(nm("GNGLL,4807.03812,N,01131.00045,E," + s + ",A,A"))
	b.WriteString(nm("GNZDA," + s + ",14,03,2026,00,00"))
	sats := make([]satFixture, 0, 17)
	for k := 0; k < 17; k++ {
		sats = append(sats, satFixture{uint8(k % 3 * 3), uint8(k + 1), uint8(30 + k), int8(10 + 4*k), int16(20 * k), k < 12})
	}
	b.WriteString(cat(
		navPVT(itow, 2026, 3, 14, 12, 0, i%60, 100, 0x37, 3, 1, 0xE0, 12, 481173020, 115166741),
		navSatFrame(itow, sats...),
		navTimeLS(itow, 2, 18, 2, 0, 0, 3),
		timTPFrame(itow-17000, 0, int32(i*37%2000-1000), testWeek, 0x0B, 0x0F)))
	return []byte(b.String())
}

type benchStream struct {
	seconds [][]byte
	bytes   int
	frames  int
}

func newBenchStream(n int, gen func(int) []byte) benchStream {
	var s benchStream
	for i := 0; i < n; i++ {
		sec := gen(i)
		s.seconds = append(s.seconds, sec)
		s.bytes += len(sec)
	}
	d := NewDecoder(testOpts)
	s.run(d)
	c := d.Counts()
	s.frames = int(c.SentencesOK + c.Unknown + c.UBXOK + c.UBXUnknown)
	return s
}

// run feeds the stream as a UART edge would: 64-byte reads, one second of receive time per epoch.
func (s *benchStream) run(d *Decoder) {
	recv := t0
	for _, sec := range s.seconds {
		r := recv
		for i := 0; i < len(sec); i += 64 {
			d.Write(sec[i:min(i+64, len(sec))], r)
			r += timebase.Instant(5 * time.Millisecond)
		}
		for {
			if _, ok := d.Next(); !ok {
				break
			}
		}
		recv += timebase.Second
	}
	d.Flush(recv)
	for {
		if _, ok := d.Next(); !ok {
			break
		}
	}
}

func benchDecode(b *testing.B, s benchStream) {
	b.SetBytes(int64(s.bytes))
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for b.Loop() {
		s.run(NewDecoder(testOpts))
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	frames := float64(s.frames) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frames, "ns/frame")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/frames, "allocs/frame")
	// Share of one core this machine would spend decoding a saturated 115200-baud line (11520 bytes/s).
	bytesPerSec := float64(s.bytes) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(100*11520/bytesPerSec, "%core@115200")
}

// BenchmarkDecode: a realistic mixed stream, u-blox 8 NMEA plus UBX, 60 seconds per operation.
func BenchmarkDecode(b *testing.B) {
	benchDecode(b, newBenchStream(60, ubloxSecond))
}

// BenchmarkDecodeNMEA: the same receiver with NMEA only.
func BenchmarkDecodeNMEA(b *testing.B) {
	benchDecode(b, newBenchStream(60, func(i int) []byte {
		s := ubloxSecond(i)
		return s[:strings.IndexByte(string(s), 0xB5)]
	}))
}

// BenchmarkDecodeUBX: the UBX part only (NAV-PVT, NAV-SAT with 17 satellites, NAV-TIMELS, TIM-TP).
func BenchmarkDecodeUBX(b *testing.B) {
	benchDecode(b, newBenchStream(60, func(i int) []byte {
		s := ubloxSecond(i)
		return s[strings.IndexByte(string(s), 0xB5):]
	}))
}

// BenchmarkDecodeLog: a real multi-GNSS receiver log (u-blox ZED-F9P, 41 satellites in view).
func BenchmarkDecodeLog(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(gpsdDir(b), "ublox-zed-f9p-nmea.log"))
	if err != nil {
		b.Fatal(err)
	}
	var s benchStream
	// One "second" per ZDA-terminated cycle is not needed here: feed the log as it is.
	s.seconds = [][]byte{data}
	s.bytes = len(data)
	d := NewDecoder(Options{Floor: defaultLogFloor, JumpTolerance: -1})
	d.Write(data, t0)
	c := d.Counts()
	s.frames = int(c.SentencesOK + c.Unknown + c.Malformed + c.BadChecksum + c.NoChecksum)
	if s.frames == 0 {
		b.Fatalf("no frames in the log: %+v", c)
	}
	benchDecode(b, s)
}
