package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// HeaderLen is the length of the NTP header, and of a packet without extension fields or MAC.
const HeaderLen = 48

// Mode is the three-bit association mode of an NTP packet.
type Mode uint8

const (
	ModeReserved         Mode = 0 // reserved (NTPv1 had no mode field: its bits were zero)
	ModeSymmetricActive  Mode = 1
	ModeSymmetricPassive Mode = 2
	ModeClient           Mode = 3 // a request a server answers
	ModeServer           Mode = 4 // the answer to a client request
	ModeBroadcast        Mode = 5
	ModeControl          Mode = 6 // NTP control messages (ntpq); a different layout after the first byte
	ModePrivate          Mode = 7 // implementation-private (ntpdc); a different layout after the first byte
)

var modeNames = [...]string{"reserved", "symmetric-active", "symmetric-passive", "client", "server", "broadcast", "control", "private"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// malformedError is the type of the errors about bad input. Its values are package-level pointers, so
// returning one never allocates, and each matches ErrMalformed so a caller can test for the whole family.
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return e.msg }

func (e *malformedError) Is(target error) bool { return target == ErrMalformed }

var (
	// ErrMalformed matches (with errors.Is) every error this package returns about malformed input.
	ErrMalformed = errors.New("ntp wire: malformed packet")

	// ErrShort: the packet is shorter than the 48-byte header.
	ErrShort error = &malformedError{"ntp wire: packet shorter than the 48-byte header"}
	// ErrExtTruncated: fewer than 4 bytes remain where an extension field header should start.
	ErrExtTruncated error = &malformedError{"ntp wire: extension field header truncated"}
	// ErrExtLength: an extension field's length is below 16 or not a multiple of 4.
	ErrExtLength error = &malformedError{"ntp wire: extension field length below 16 or not a multiple of 4"}
	// ErrExtOverrun: an extension field's length runs past the end of the packet.
	ErrExtOverrun error = &malformedError{"ntp wire: extension field runs past the end of the packet"}
	// ErrTrailer: data after an NTPv1-v3 header is neither empty nor a 20- or 24-byte MAC.
	ErrTrailer error = &malformedError{"ntp wire: data after an NTPv1-v3 header is not a MAC"}

	// ErrShortBuffer: the destination given to Marshal is shorter than 48 bytes.
	ErrShortBuffer = errors.New("ntp wire: buffer shorter than the 48-byte header")
	// ErrFieldRange: a Header field does not fit its bits on the wire (Leap > 3, Version > 7, Mode > 7).
	ErrFieldRange = errors.New("ntp wire: header field out of range")
)

// Header is the 48-byte NTP packet header (RFC 5905 section 7.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |  0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Root Delay (NTP short)                     |  4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Root Dispersion (NTP short)                   |  8
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Reference ID                          | 12
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Reference Timestamp (64 bits)                  | 16
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Origin Timestamp (64 bits)                   | 24
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Receive Timestamp (64 bits)                  | 32
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Transmit Timestamp (64 bits)                 | 40
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  48
//
// All multi-byte fields are big-endian. Poll and Precision are signed log2 seconds. Timestamps carry no era
// number; timebase.FromNTP resolves it against a pivot.
type Header struct {
	Leap           timebase.LeapIndicator // 2 bits
	Version        uint8                  // 3 bits
	Mode           Mode                   // 3 bits
	Stratum        uint8
	Poll           int8
	Precision      int8
	RootDelay      timebase.NTPShort
	RootDispersion timebase.NTPShort
	RefID          timebase.RefID
	ReferenceTime  timebase.NTPTime
	OriginTime     timebase.NTPTime
	ReceiveTime    timebase.NTPTime
	TransmitTime   timebase.NTPTime
}

// Byte offsets of the header fields that are patched in place after marshalling.
const (
	offRootDispersion = 8
	offTransmitTime   = 40
)

// Peek decodes the version and mode from the first byte of a packet without decoding the rest, so a
// server can classify packets of other modes (whose layouts differ after the first byte) before anything else.
func Peek(b []byte) (version uint8, mode Mode, err error) {
	if len(b) == 0 {
		return 0, 0, ErrShort
	}
	return (b[0] >> 3) & 7, Mode(b[0] & 7), nil
}

// Unmarshal decodes the first 48 bytes of b into h. Bytes after the header are not examined (see
// Extensions and ValidateTrailer). Every bit pattern is a valid header at this layer; policy (which
// versions and modes to answer) belongs to the caller.
func (h *Header) Unmarshal(b []byte) error {
	if len(b) < HeaderLen {
		return ErrShort
	}
	b = b[:HeaderLen] // one bounds check for all reads below
	h.Leap = timebase.LeapIndicator(b[0] >> 6)
	h.Version = (b[0] >> 3) & 7
	h.Mode = Mode(b[0] & 7)
	h.Stratum = b[1]
	h.Poll = int8(b[2])
	h.Precision = int8(b[3])
	h.RootDelay = timebase.NTPShort(binary.BigEndian.Uint32(b[4:8]))
	h.RootDispersion = timebase.NTPShort(binary.BigEndian.Uint32(b[8:12]))
	copy(h.RefID[:], b[12:16])
	h.ReferenceTime = timebase.NTPTime(binary.BigEndian.Uint64(b[16:24]))
	h.OriginTime = timebase.NTPTime(binary.BigEndian.Uint64(b[24:32]))
	h.ReceiveTime = timebase.NTPTime(binary.BigEndian.Uint64(b[32:40]))
	h.TransmitTime = timebase.NTPTime(binary.BigEndian.Uint64(b[40:48]))
	return nil
}

// Marshal encodes h into the first 48 bytes of b and returns 48. It fails, writing nothing, if b is shorter
// than 48 bytes (ErrShortBuffer) or a field does not fit its bits (ErrFieldRange): silently masking a
// field would put a different value on the wire than the caller meant.
func (h *Header) Marshal(b []byte) (int, error) {
	if len(b) < HeaderLen {
		return 0, ErrShortBuffer
	}
	if h.Leap > 3 || h.Version > 7 || h.Mode > 7 {
		return 0, ErrFieldRange
	}
	b = b[:HeaderLen]
	b[0] = byte(h.Leap)<<6 | h.Version<<3 | byte(h.Mode)
	b[1] = h.Stratum
	b[2] = byte(h.Poll)
	b[3] = byte(h.Precision)
	binary.BigEndian.PutUint32(b[4:8], uint32(h.RootDelay))
	binary.BigEndian.PutUint32(b[8:12], uint32(h.RootDispersion))
	copy(b[12:16], h.RefID[:])
	binary.BigEndian.PutUint64(b[16:24], uint64(h.ReferenceTime))
	binary.BigEndian.PutUint64(b[24:32], uint64(h.OriginTime))
	binary.BigEndian.PutUint64(b[32:40], uint64(h.ReceiveTime))
	binary.BigEndian.PutUint64(b[40:48], uint64(h.TransmitTime))
	return HeaderLen, nil
}

// SetTransmitTime overwrites the transmit timestamp of a marshalled header in b (len(b) >= 48). A server
// marshals its reply first and patches the transmit time last, so that the clock is read as late as possible.
func SetTransmitTime(b []byte, t timebase.NTPTime) error {
	if len(b) < HeaderLen {
		return ErrShortBuffer
	}
	binary.BigEndian.PutUint64(b[offTransmitTime:offTransmitTime+8], uint64(t))
	return nil
}

// SetRootDispersion overwrites the root dispersion of a marshalled header in b (len(b) >= 48), for a
// server that computes it at the same instant as the transmit timestamp.
func SetRootDispersion(b []byte, d timebase.NTPShort) error {
	if len(b) < HeaderLen {
		return ErrShortBuffer
	}
	binary.BigEndian.PutUint32(b[offRootDispersion:offRootDispersion+4], uint32(d))
	return nil
}
