package leap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// UTCParams are the leap second fields of the GPS L1 C/A navigation message (IS-GPS-200, 20.3.3.5.1.6),
// broadcast in subframe 4 page 18 every 12.5 minutes. The gps package does not decode RXM-SFRBX, so the
// decoding lives here, over the raw words.
type UTCParams struct {
	DeltaTLS  int   // GPS-UTC before the event, seconds
	WNLSF     uint8 // GPS week of the event, modulo 256
	DN        uint8 // day of that week (1 = Sunday ... 7 = Saturday) at whose end the event happens
	DeltaTLSF int   // GPS-UTC after the event, seconds
	WNt       uint8 // reference week of the UTC polynomial, modulo 256 (kept for display)
}

// ErrNotUTCPage is wrapped when a subframe is valid but is not subframe 4 page 18.
var ErrNotUTCPage = errors.New("not GPS subframe 4 page 18")

const (
	gpsPreamble = 0x8B
	utcPageSVID = 56 // subframe 4 page 18 carries SV ID 56 in word 3
)

// DecodeSubframe decodes subframe 4 page 18 from its ten 30-bit words, each right-aligned in a uint32 (bits
// 29..6 data bits d1..d24, bits 5..0 parity), with the data already de-inverted, as u-blox RXM-SFRBX delivers
// them after its parity check. The two top bits of each uint32 are ignored.
//
//	word  1 (TLM)  d1-8 preamble 0x8B | ...
//	word  2 (HOW)  d1-17 TOW count | d18-19 flags | d20-22 subframe ID (4) | ...
//	word  3        d1-2 data ID | d3-8 SV ID (56 = page 18) | d9-24 alpha0, alpha1
//	words 4-8      ionospheric alpha/beta, A1, A0, t_ot, d17-24 WN_t (word 8)
//	word  9        d1-8 dtLS (signed) | d9-16 WN_LSF | d17-24 DN
//	word 10        d1-8 dtLSF (signed) | reserved
func DecodeSubframe(words [10]uint32) (UTCParams, error) {
	data := func(i int) uint32 { return (words[i] >> 6) & 0xFFFFFF } // d1..d24 of word i (0-based)
	if p := data(0) >> 16; p != gpsPreamble {
		return UTCParams{}, fmt.Errorf("leap.DecodeSubframe: preamble %#02x, want 0x8b", p)
	}
	if id := (data(1) >> 2) & 7; id != 4 {
		return UTCParams{}, fmt.Errorf("leap.DecodeSubframe: subframe %d: %w", id, ErrNotUTCPage)
	}
	if sv := (data(2) >> 16) & 0x3F; sv != utcPageSVID {
		return UTCParams{}, fmt.Errorf("leap.DecodeSubframe: subframe 4 SV ID %d: %w", sv, ErrNotUTCPage)
	}
	w9, w10 := data(8), data(9)
	p := UTCParams{
		DeltaTLS:  int(int8(w9 >> 16)),
		WNLSF:     uint8(w9 >> 8),
		DN:        uint8(w9),
		DeltaTLSF: int(int8(w10 >> 16)),
		WNt:       uint8(data(7)),
	}
	return p, nil
}

// DecodeSFRBX decodes the payload of a u-blox UBX-RXM-SFRBX (0x02 0x13) message carrying a GPS L1 C/A
// subframe 4 page 18. Other GNSS and other subframes give an error wrapping ErrNotUTCPage.
//
//	0 gnssId U1 (0 = GPS) | 1 svId U1 | 2 sigId/reserved U1 | 3 freqId U1 | 4 numWords U1 | 5 chn U1
//	6 version U1 | 7 reserved U1 | 8 dwrd[numWords] U4 little-endian
func DecodeSFRBX(payload []byte) (UTCParams, error) {
	if len(payload) < 8 {
		return UTCParams{}, fmt.Errorf("leap.DecodeSFRBX: payload of %d bytes, want at least 8", len(payload))
	}
	if payload[0] != 0 {
		return UTCParams{}, fmt.Errorf("leap.DecodeSFRBX: gnssId %d: %w", payload[0], ErrNotUTCPage)
	}
	n := int(payload[4])
	if n != 10 || len(payload) != 8+4*n {
		return UTCParams{}, fmt.Errorf("leap.DecodeSFRBX: GPS frame with %d words in %d bytes, want 10 words in 48 bytes", n, len(payload))
	}
	var w [10]uint32
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(payload[8+4*i:])
	}
	p, err := DecodeSubframe(w)
	if err != nil {
		return UTCParams{}, fmt.Errorf("leap.DecodeSFRBX: sv %d: %w", payload[1], err)
	}
	return p, nil
}

// gpsEpoch is the start of GPS week 0, 1980-01-06 00:00:00 (a Sunday).
var gpsEpoch = timebase.Date(1980, 1, 6, 0, 0, 0, 0)

const week = 7 * 24 * time.Hour

// GPSWeek returns the full GPS week number containing the UTC instant at (close enough for resolving 8-bit
// week numbers: the 18 s between GPS and UTC matter only within seconds of a week boundary).
func GPSWeek(at timebase.Instant) int {
	return int((at - gpsEpoch).Truncate(week) / timebase.Instant(week))
}

// Event places the parameters' leap second on the UTC time line. WN_LSF is 8 bits; it is resolved to the full
// week nearest to the GPS week of now (IS-GPS-200 keeps it within 127 weeks). ok is false when the
// parameters announce no change (dtLSF == dtLS): WN_LSF and DN then describe a past event or nothing.
// An error means the parameters are absurd: a DN outside 1..7, a change of more than one second, or an
// event that is not at the end of a month.
func (p UTCParams) Event(now timebase.Instant) (ev Event, ok bool, err error) {
	change := p.DeltaTLSF - p.DeltaTLS
	if change == 0 {
		return Event{}, false, nil
	}
	if change != 1 && change != -1 {
		return Event{}, false, fmt.Errorf("GPS UTC parameters: GPS-UTC would change from %d to %d s: a leap second is one second", p.DeltaTLS, p.DeltaTLSF)
	}
	if p.DN < 1 || p.DN > 7 {
		return Event{}, false, fmt.Errorf("GPS UTC parameters: day number DN=%d outside 1..7", p.DN)
	}
	cur := GPSWeek(now)
	wn := cur&^0xFF | int(p.WNLSF)
	switch {
	case wn-cur > 127:
		wn -= 256
	case cur-wn > 128:
		wn += 256
	}
	at := gpsEpoch + timebase.Instant(wn)*timebase.Instant(week) + timebase.Instant(p.DN)*timebase.Instant(24*time.Hour)
	if !MonthStart(at) {
		return Event{}, false, fmt.Errorf("GPS UTC parameters: leap second at the end of %s, not at the end of a month", (at - 1).Time().Format(time.DateOnly))
	}
	return Event{At: at, Change: change, TAIMinusUTC: p.DeltaTLSF + TAIMinusGPS}, true, nil
}

// TAIMinusGPS is the constant offset between TAI and GPS time: GPS time was UTC at 1980-01-06, when
// TAI-UTC was 19 s.
const TAIMinusGPS = 19
