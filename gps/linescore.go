package gps

// LineScore says how much a sample of bytes read at one candidate line speed looks like receiver output.
// At the wrong speed a UART delivers framing garbage: NMEA sentences whose XOR checksum comes out right,
// or UBX frames whose Fletcher checksum does, are then vanishingly rare (a garbage "sentence" must also be
// printable ASCII ending in '*', two hex digits and CR LF). So the evidence for a speed is the number of
// frames with a good checksum, and the evidence against it the number of broken ones. The serial edge
// uses it to detect the baud rate; it is pure so that the decision can be tested without a port.
type LineScore struct {
	Good  uint64 // NMEA sentences and UBX frames with a correct checksum
	Bad   uint64 // sentences with a wrong or missing checksum, malformed framing, UBX frames with a bad checksum
	Bytes uint64
}

// ScoreCounts scores the counts of a decoder that has seen only the sample.
func ScoreCounts(c Counts) LineScore {
	return LineScore{
		Good:  c.SentencesOK + c.Unknown + c.UBXOK + c.UBXUnknown + c.UBXMalformed,
		Bad:   c.BadChecksum + c.NoChecksum + c.Malformed + c.UBXBad,
		Bytes: c.Bytes,
	}
}

// ScoreLine decodes a sample with a fresh decoder and scores it.
func ScoreLine(sample []byte) LineScore {
	d := NewDecoder(Options{})
	d.Write(sample, 1)
	return ScoreCounts(d.Counts())
}

// Convincing reports whether the sample shows a receiver talking at this speed: at least minGood good
// frames, and more good frames than broken ones (a line at the right speed may still carry the odd
// damaged sentence, one at the wrong speed essentially never a good one).
func (s LineScore) Convincing(minGood int) bool {
	if minGood < 1 {
		minGood = 1
	}
	return s.Good >= uint64(minGood) && s.Good > s.Bad
}

// Better reports whether s is stronger evidence than o: more good frames, then fewer bad ones.
func (s LineScore) Better(o LineScore) bool {
	if s.Good != o.Good {
		return s.Good > o.Good
	}
	return s.Bad < o.Bad
}
