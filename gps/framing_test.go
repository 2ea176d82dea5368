package gps

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func rmcAt(hhmmss string) string {
	return nm("GPRMC," + hhmmss + ",A,4807.038,N,01131.000,E,0.0,0.0,140326,,,A")
}

func TestFraming(t *testing.T) {
	good := rmcAt("120000")
	for _, tc := range []struct {
		name   string
		stream string
		valid  int // valid epochs
		want   Counts
	}{
		{"clean", good, 1, Counts{SentencesOK: 1}},
		{"noise around", "\x00\x01garbage" + good + "\xff\xfe", 1, Counts{SentencesOK: 1, OtherBytes: 11}},
		{"double dollar", "$" + good, 1, Counts{SentencesOK: 1, OtherBytes: 1}},
		{"binary inside a sentence, then a good one", "$GPRMC,1200\x00\x00" + good, 1, Counts{SentencesOK: 1, Malformed: 1, OtherBytes: 2}},
		{"two on a line, the first unterminated", strings.TrimSuffix(nm("GPGSA,A,1,,,,,,,,,,,,,,,"), "\r\n") + good, 1, Counts{SentencesOK: 1, Malformed: 1}},
		{"lowercase hex digits accepted", strings.Replace(rmcAt("120008"), "*7B", "*7b", 1), 1, Counts{SentencesOK: 1}},
		{"checksum not at the end", "$GPRMC,120000,A*1E0,*4E\r\n" + good, 1, Counts{SentencesOK: 1, Malformed: 1}},
		{"LF only", strings.TrimSuffix(good, "\r\n") + "\n", 1, Counts{SentencesOK: 1}},
		{"CR only", strings.TrimSuffix(good, "\r\n") + "\r", 1, Counts{SentencesOK: 1}},
		{"tag block before the sentence", "\\s:r3669961,c:1120959341*2B\\" + good, 1, Counts{SentencesOK: 1, OtherBytes: 28}},
		{"over-long line", "$GP" + strings.Repeat("A", 600) + "\r\n" + good, 1, Counts{SentencesOK: 1, Malformed: 1, OtherBytes: 603 - (maxSentence + 1)}},
		{"AIS and proprietary sentences are unknown", nm("AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0") + nm("PGRME,15.0,M,22.5,M,27.0,M") + good, 1, Counts{SentencesOK: 1, Unknown: 2}},
		{"false UBX sync claiming a huge frame", "\xb5\x62\x01\x21\xff\xff" + good, 1, Counts{SentencesOK: 1, OtherBytes: 6}},
		{"false UBX sync with an unknown class", "\xb5\x62\x77\x21\x04\x00" + good, 1, Counts{SentencesOK: 1, OtherBytes: 6}},
		{"0xB5 without 0x62", "\xb5\xb5" + good, 1, Counts{SentencesOK: 1, OtherBytes: 2}},
		{
			// A frame with a bad checksum whose body hides a good frame: the good one is still found.
			"UBX frame inside a broken one",
			func() string {
				inner := navTimeUTC(1000, 2026, 3, 14, 12, 0, 0, 0, 0x37)
				outer := ubxFrame(0x01, 0x07, append(append(make([]byte, 10), inner...), make([]byte, 92-10-len(inner))...))
				outer[len(outer)-2] ^= 0xFF
				return string(outer)
			}(),
			1, Counts{UBXOK: 1, UBXBad: 1, OtherBytes: 8 + 92 - 28},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(testOpts)
			es := feedCycles(d, tc.stream)
			valid := 0
			for _, e := range es {
				if e.Label.Valid {
					valid++
				}
			}
			c := d.Counts()
			got := Counts{SentencesOK: c.SentencesOK, BadChecksum: c.BadChecksum, NoChecksum: c.NoChecksum, Malformed: c.Malformed, Unknown: c.Unknown,
				UBXOK: c.UBXOK, UBXBad: c.UBXBad, UBXMalformed: c.UBXMalformed, UBXUnknown: c.UBXUnknown, OtherBytes: c.OtherBytes}
			if valid != tc.valid || got != tc.want || c.Bytes != uint64(len(tc.stream)) {
				t.Errorf("valid epochs %d (want %d)\ncounts %+v\nwant   %+v", valid, tc.valid, got, tc.want)
			}
		})
	}
}

// mixedStream is a few seconds of a u-blox receiver sending NMEA and UBX, with line noise.
func mixedStream() []byte {
	var b strings.Builder
	for i := 0; i < 6; i++ {
		s := fmt6(12*3600 + i)
		itow := uint32(testTOW + i*1000)
		b.WriteString(nm("GNRMC," + s + ".00,A,4807.03800,N,01131.00000,E,0.010,,140326,,,A,V"))
		b.WriteString(nm("GNGGA," + s + ".00,4807.03800,N,01131.00000,E,1,12,0.58,545.4,M,46.9,M,,"))
		b.WriteString(nm("GNGSA,A,3,05,13,15,18,20,,,,,,,,1.01,0.58,0.83,1"))
		b.WriteString(nm("GPGSV,2,1,05,05,45,120,44,13,30,200,40,15,60,300,38,18,05,010,21,1"))
		b.WriteString(nm("GPGSV,2,2,05,20,35,150,39,1"))
		b.WriteString(cat(navTimeUTC(itow, 2026, 3, 14, 12, 0, i, 100, 0x37), timTPFrame(itow-17000, 0, int32(100*i), testWeek, 0x0B, 0x0F)))
		b.WriteString("\x10\x8f\xab\x10\x03") // a TSIP-like packet on the same line
		b.WriteString(nm("GNZDA," + s + ".00,14,03,2026,00,00"))
	}
	return []byte(b.String())
}

func fmt6(sod int) string {
	return time.Time{}.Add(time.Duration(sod) * time.Second).Format("150405")
}

// TestSplitInvariance: however the bytes are cut into reads, the decoder sees the same frames and makes
// the same epochs.
func TestSplitInvariance(t *testing.T) {
	data := mixedStream()
	decode := func(chunk int) ([]Epoch, Counts) {
		// All reads at one receive time: the cut must not matter, and no quiet gap can split anything.
		d := NewDecoder(Options{Floor: testOpts.Floor, JumpTolerance: -1})
		var es []Epoch
		for i := 0; i < len(data); i += chunk {
			d.Write(data[i:min(i+chunk, len(data))], t0)
			es = append(es, drain(d)...)
		}
		d.Flush(t0 + timebase.Second)
		return append(es, drain(d)...), d.Counts()
	}
	ref, refCounts := decode(len(data))
	if len(ref) != 6 || refCounts.ValidEpochs != 6 || refCounts.OtherBytes != 30 || refCounts.UBXOK != 12 || refCounts.SentencesOK != 36 {
		t.Fatalf("reference decode: %d epochs, %+v", len(ref), refCounts)
	}
	for _, e := range ref {
		if e.Label.Source != "RMC+GGA+ZDA+NAV-TIMEUTC" || !e.TimePulse.Valid || e.SatsUsed != 12 || e.SatsVisible != 5 {
			t.Fatalf("reference epoch %+v", e)
		}
	}
	for chunk := 1; chunk < 80; chunk++ {
		es, c := decode(chunk)
		if !reflect.DeepEqual(es, ref) || c != refCounts {
			t.Fatalf("chunk %d: %d epochs, counts %+v; want %d, %+v", chunk, len(es), c, len(ref), refCounts)
		}
	}
}

// TestReceiveTimeOfFirstByte: an epoch's Received is the receive time of the read holding its first byte,
// even when its first frame completes reads later.
func TestReceiveTimeOfFirstByte(t *testing.T) {
	for _, first := range []string{
		rmcAt("120001"),
		string(navTimeUTC(2000, 2026, 3, 14, 12, 0, 1, 0, 0x37)),
	} {
		d := NewDecoder(testOpts)
		d.Write([]byte(rmcAt("120000")), t0)
		r1 := t0 + timebase.Second
		d.Write([]byte(first[:3]), r1)
		d.Write([]byte(first[3:7]), r1+timebase.Instant(time.Millisecond))
		d.Write([]byte(first[7:]), r1+2*timebase.Instant(time.Millisecond))
		d.Write([]byte(nm("GPGSV,1,1,01,05,45,120,44")), r1+3*timebase.Instant(time.Millisecond))
		d.Flush(r1 + timebase.Second)
		es := drain(d)
		if len(es) != 2 || es[0].Label.Received != t0 || es[1].Label.Received != r1 || !es[1].Label.Valid || es[1].SatsVisible != 1 {
			t.Errorf("%q: %d epochs %+v", first[:6], len(es), es)
		}
	}
}
