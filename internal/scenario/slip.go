package scenario

import (
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// slipper rewrites the NMEA epochs of chosen seconds so that they name the next second: a receiver's
// one-second label slip. internal/sim has no such fault, so it is made here, on the byte stream the daemon
// reads, which keeps the decoder and the pairing honest: they see exactly what a slipping receiver sends.
//
// The rewrite is in place and streaming, because an epoch reaches the daemon in chunks that cut sentences
// anywhere: in RMC, GGA and ZDA the first field is hhmmss(.ss), and the units digit of the seconds (its sixth
// character) is incremented; the checksum after '*' is corrected by the XOR of the change. Only seconds whose
// units digit is not 9 can be slipped this way (no carry into minutes), which the scenarios respect.
//
//	$GNRMC,120004.00,A,...*5C   →   $GNRMC,120005.00,A,...*5D
//	       ^^^^^^ field 1, char 5
type slipper struct {
	seconds map[timebase.Instant]bool

	// Per-sentence state, carried across chunks.
	inSentence bool
	addr       []byte // the address field after '$' (e.g. GNRMC)
	field      int    // commas seen
	pos        int    // characters into the current field
	delta      byte   // XOR of the changes made to this sentence
	star       int    // checksum characters seen after '*' (0: none yet, -1: not in checksum)
}

func newSlipper(secs []timebase.Instant) *slipper {
	s := &slipper{seconds: map[timebase.Instant]bool{}, star: -1}
	for _, t := range secs {
		s.seconds[t] = true
	}
	return s
}

const hexDigits = "0123456789ABCDEF"

// rewrite passes p through, rewriting it when it belongs to a slipped second. p is the simulator's, the
// caller's to keep, so it is changed in place.
func (s *slipper) rewrite(second timebase.Instant, p []byte) []byte {
	if !s.seconds[second] {
		s.inSentence = false
		return p
	}
	for i, c := range p {
		switch {
		case c == '$':
			s.inSentence, s.addr, s.field, s.pos, s.delta, s.star = true, s.addr[:0], 0, 0, 0, -1
			continue
		case !s.inSentence:
			continue
		case s.star >= 0:
			// The two hex digits of the checksum: replace each by its value XOR the change.
			shift := 4 * (1 - s.star)
			v := hexValue(c) ^ (s.delta>>shift)&0xF
			p[i] = hexDigits[v]
			s.star++
			if s.star == 2 {
				s.inSentence = false
			}
			continue
		case c == '*':
			s.star = 0
			continue
		case c == ',':
			s.field++
			s.pos = 0
			continue
		}
		if s.field == 0 {
			s.addr = append(s.addr, c)
			continue
		}
		if s.field == 1 && s.pos == 5 && s.timed() && c >= '0' && c < '9' {
			p[i] = c + 1
			s.delta ^= c ^ (c + 1)
		}
		s.pos++
	}
	return p
}

// timed reports whether the sentence's first field is its UTC time.
func (s *slipper) timed() bool {
	if len(s.addr) != 5 {
		return false
	}
	switch string(s.addr[2:]) {
	case "RMC", "GGA", "ZDA":
		return true
	}
	return false
}

func hexValue(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0
}
