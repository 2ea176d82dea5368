package gps

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// garble turns a byte stream sent at one speed into what a UART set to another speed would deliver,
// bit by bit: the line idles high, every character is a start bit (0), 8 data bits LSB first and a stop
// bit (1), and the receiver samples in the middle of its own bit times.
func garble(data []byte, sendBaud, recvBaud int) []byte {
	// Line level as a function of time, in units of 1/(sendBaud*recvBaud) seconds.
	var bits []bool
	for _, b := range data {
		bits = append(bits, false)
		for i := 0; i < 8; i++ {
			bits = append(bits, b>>i&1 == 1)
		}
		bits = append(bits, true)
	}
	level := func(t float64) bool { // t in seconds
		i := int(t * float64(sendBaud))
		if i < 0 || i >= len(bits) {
			return true
		}
		return bits[i]
	}
	end := float64(len(bits)) / float64(sendBaud)
	rb := 1 / float64(recvBaud)
	var out []byte
	for t := 0.0; t < end; {
		if level(t) { // wait for a falling edge (start bit)
			t += rb / 16
			continue
		}
		var c byte
		for i := 0; i < 8; i++ {
			if level(t + rb*(1.5+float64(i))) {
				c |= 1 << i
			}
		}
		out = append(out, c)
		t += rb * 9.5 // to the middle of the stop bit; framing errors are not modelled
	}
	return out
}

const scoreSample = "$GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E*62\r\n" +
	"$GPGGA,081836,3751.65,S,14507.36,E,1,05,1.5,280.2,M,-34.0,M,,*79\r\n" +
	"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39\r\n" +
	"$GPZDA,081836.00,13,09,1998,00,00*60\r\n"

func TestScoreLine(t *testing.T) {
	ok := ScoreLine([]byte(scoreSample))
	if ok.Good != 4 || ok.Bad != 0 || !ok.Convincing(2) {
		t.Fatalf("clean sample: %+v", ok)
	}
	bauds := []int{4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800}
	for _, send := range bauds {
		for _, recv := range bauds {
			sample := []byte(strings.Repeat(scoreSample, 3))
			got := ScoreLine(garble(sample, send, recv))
			if send == recv {
				if got.Good != 12 || !got.Convincing(2) {
					t.Errorf("send %d recv %d (same): %+v", send, recv, got)
				}
				continue
			}
			if got.Convincing(2) || got.Good != 0 {
				t.Errorf("send %d recv %d: %+v convincing", send, recv, got)
			}
			if got.Better(ok) {
				t.Errorf("send %d recv %d: garbage %+v scores better than a clean sample", send, recv, got)
			}
		}
	}
	// Random noise is never convincing.
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	if s := ScoreLine(noise); s.Convincing(1) {
		t.Errorf("noise: %+v", s)
	}
	// A good line with a damaged sentence is still convincing; with more damage than good frames it is not.
	damaged := strings.Replace(scoreSample, "*62", "*63", 1)
	if s := ScoreLine([]byte(damaged)); s.Good != 3 || s.Bad != 1 || !s.Convincing(2) {
		t.Errorf("damaged: %+v", s)
	}
	if s := (LineScore{Good: 2, Bad: 2}); s.Convincing(2) {
		t.Error("2 good 2 bad convincing")
	}
	if s := (LineScore{Good: 1}); s.Convincing(0) != true || s.Convincing(2) {
		t.Error("minGood handling")
	}
	if !(LineScore{Good: 3, Bad: 1}).Better(LineScore{Good: 3, Bad: 2}) || (LineScore{Good: 2}).Better(LineScore{Good: 3}) {
		t.Error("Better ordering")
	}
}
