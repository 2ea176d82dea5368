package servocmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// SockMagic is the last field of every chrony SOCK sample ("SOCK" read as a native int).
const SockMagic = 0x534f434b

// SockSampleSize is the size of chrony's struct sock_sample on LP64 Linux (amd64, arm64): chrony checks
// the datagram's length against it and drops any other size.
//
//	offset size field
//	     0    8 tv.tv_sec   int64  raw system time of the sample: seconds
//	     8    8 tv.tv_usec  int64  ... and microseconds (so the sample time has µs resolution)
//	    16    8 offset      double reference time minus tv, seconds
//	    24    4 pulse       int32  1: offset is only the fraction of a second (a bare pulse); 0: full offset
//	    28    4 leap        int32  0 normal, 1 insert, 2 delete
//	    32    4 _pad        int32
//	    36    4 magic       int32  0x534f434b
//
// All fields are in the host's byte order (little-endian on both targets).
const SockSampleSize = 40

// SockSample is one sample for chrony's refclock SOCK driver: "at raw time TV the reference read
// TV+Offset".
type SockSample struct {
	TV     timebase.Instant // microsecond resolution: Encode refuses sub-µs parts rather than dropping them
	Offset float64          // seconds
	Pulse  bool
	Leap   int32
}

// ErrSockSample is wrapped by every SOCK encoding and decoding error.
var ErrSockSample = errors.New("chrony SOCK sample")

// AppendSock appends s in chrony's layout. A TV that is not a whole microsecond, a non-finite offset or a
// leap value chrony does not know is an error: chrony would truncate the first and drop the others.
func AppendSock(b []byte, s SockSample) ([]byte, error) {
	sec, nsec := s.TV.Unix()
	if nsec%1000 != 0 {
		return b, fmt.Errorf("%w: tv %v is not a whole microsecond", ErrSockSample, s.TV)
	}
	if math.IsNaN(s.Offset) || math.IsInf(s.Offset, 0) {
		return b, fmt.Errorf("%w: offset %v is not finite", ErrSockSample, s.Offset)
	}
	if s.Leap < 0 || s.Leap > 2 {
		return b, fmt.Errorf("%w: leap %d outside 0..2", ErrSockSample, s.Leap)
	}
	ne := binary.NativeEndian
	b = ne.AppendUint64(b, uint64(sec))
	b = ne.AppendUint64(b, uint64(nsec/1000))
	b = ne.AppendUint64(b, math.Float64bits(s.Offset))
	var pulse uint32
	if s.Pulse {
		pulse = 1
	}
	b = ne.AppendUint32(b, pulse)
	b = ne.AppendUint32(b, uint32(s.Leap))
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint32(b, SockMagic)
	return b, nil
}

// DecodeSock parses one datagram in chrony's layout, checking what chrony checks (length, magic) and
// what AppendSock promises (µs in range, finite offset, known leap, pulse 0 or 1).
func DecodeSock(b []byte) (SockSample, error) {
	if len(b) != SockSampleSize {
		return SockSample{}, fmt.Errorf("%w: %d bytes, want %d", ErrSockSample, len(b), SockSampleSize)
	}
	ne := binary.NativeEndian
	if m := ne.Uint32(b[36:]); m != SockMagic {
		return SockSample{}, fmt.Errorf("%w: magic %#x, want %#x", ErrSockSample, m, SockMagic)
	}
	sec := int64(ne.Uint64(b[0:]))
	usec := int64(ne.Uint64(b[8:]))
	if usec < 0 || usec >= 1e6 {
		return SockSample{}, fmt.Errorf("%w: tv_usec %d outside [0, 1e6)", ErrSockSample, usec)
	}
	// Instant covers 1678..2262; refuse seconds whose nanoseconds would overflow int64.
	if sec > math.MaxInt64/int64(1e9)-1 || sec < math.MinInt64/int64(1e9)+1 {
		return SockSample{}, fmt.Errorf("%w: tv_sec %d out of range", ErrSockSample, sec)
	}
	s := SockSample{
		TV:     timebase.Instant(sec*1e9 + usec*1000),
		Offset: math.Float64frombits(ne.Uint64(b[16:])),
		Leap:   int32(ne.Uint32(b[28:])),
	}
	switch p := ne.Uint32(b[24:]); p {
	case 0:
	case 1:
		s.Pulse = true
	default:
		return SockSample{}, fmt.Errorf("%w: pulse %d, want 0 or 1", ErrSockSample, p)
	}
	if math.IsNaN(s.Offset) || math.IsInf(s.Offset, 0) {
		return SockSample{}, fmt.Errorf("%w: offset is not finite", ErrSockSample)
	}
	if s.Leap < 0 || s.Leap > 2 {
		return SockSample{}, fmt.Errorf("%w: leap %d outside 0..2", ErrSockSample, s.Leap)
	}
	return s, nil
}
