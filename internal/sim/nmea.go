package sim

import (
	"math"
	"strconv"
)

// sentence appends NMEA 0183 sentences to a buffer:
//
//	$TTSSS,field,field,...*HH<CR><LF>
//	 └┬┘└┬┘                └┬┘
//	talker type     checksum: XOR of every byte between '$' and '*', two upper-case hex digits
type sentence struct {
	b     []byte
	start int
}

func (s *sentence) begin(talker, typ string) {
	s.start = len(s.b)
	s.b = append(s.b, '$')
	s.b = append(s.b, talker...)
	s.b = append(s.b, typ...)
}

// f appends a field separator and a literal field (possibly empty).
func (s *sentence) f(v string) {
	s.b = append(s.b, ',')
	s.b = append(s.b, v...)
}

// empty appends n empty fields.
func (s *sentence) empty(n int) {
	for range n {
		s.b = append(s.b, ',')
	}
}

// int appends a non-negative integer zero-padded to width digits.
func (s *sentence) int(v, width int) {
	s.b = append(s.b, ',')
	s.b = appendPadded(s.b, v, width)
}

// fixed appends v with the given number of decimals.
func (s *sentence) fixed(v float64, decimals int) {
	s.b = append(s.b, ',')
	s.b = strconv.AppendFloat(s.b, v, 'f', decimals, 64)
}

const hexDigits = "0123456789ABCDEF"

func (s *sentence) end() {
	var cs byte
	for _, c := range s.b[s.start+1:] {
		cs ^= c
	}
	s.b = append(s.b, '*', hexDigits[cs>>4], hexDigits[cs&15], '\r', '\n')
}

func appendPadded(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// coord appends a latitude (degWidth 2) or longitude (degWidth 3) as d…dmm.mmmmm and its hemisphere,
// five decimals of minutes as u-blox receivers give (about 2 cm). Rounding is done in integer
// 1e-5 minutes so that 59.999996' carries into the degrees instead of printing 60.00000.
func (s *sentence) coord(v float64, degWidth int, pos, neg string) {
	hemi := pos
	if v < 0 {
		hemi = neg
		v = -v
	}
	total := int64(math.Round(v * 60 * 1e5))
	deg := int(total / 6e6)
	rem := total % 6e6
	s.b = append(s.b, ',')
	s.b = appendPadded(s.b, deg, degWidth)
	s.b = appendPadded(s.b, int(rem/1e5), 2)
	s.b = append(s.b, '.')
	s.b = appendPadded(s.b, int(rem%1e5), 5)
	s.f(hemi)
}

// clock appends hhmmss.ss for a whole second of the day.
func (s *sentence) clock(h, m, sec int) {
	s.b = append(s.b, ',')
	s.b = appendPadded(s.b, h, 2)
	s.b = appendPadded(s.b, m, 2)
	s.b = appendPadded(s.b, sec, 2)
	s.b = append(s.b, ".00"...)
}
