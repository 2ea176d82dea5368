package loadgen

import "encoding/binary"

// Request layout; see the package comment.
const (
	packetLen    = 48
	requestByte0 = 0<<6 | 4<<3 | 3 // LI 0 (no warning), version 4, mode 3 (client)
	originAt     = 24
	transmitAt   = 40
)

// putRequest writes an NTPv4 client request whose transmit timestamp is stamp into b[:48].
func putRequest(b []byte, stamp uint64) {
	clear(b[:packetLen])
	b[0] = requestByte0
	binary.BigEndian.PutUint64(b[transmitAt:], stamp)
}

// setStamp rewrites only the transmit timestamp of a request made by putRequest.
func setStamp(b []byte, stamp uint64) {
	binary.BigEndian.PutUint64(b[transmitAt:], stamp)
}

// replyKind classifies a datagram the generator received.
type replyKind uint8

const (
	replyBad replyKind = iota // too short or not a server reply
	replyOK                   // a server reply
	replyKoD                  // a kiss-o'-death (stratum 0): the server refused to serve
)

// readReply classifies b and returns the origin timestamp it carries (meaningful unless replyBad).
func readReply(b []byte) (origin uint64, kind replyKind) {
	if len(b) < packetLen || b[0]&7 != 4 {
		return 0, replyBad
	}
	origin = binary.BigEndian.Uint64(b[originAt:])
	if b[1] == 0 {
		return origin, replyKoD
	}
	return origin, replyOK
}
