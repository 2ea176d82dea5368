package nts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// RecordType is an NTS-KE record type (RFC 8915 section 4, IANA "Network Time Security Key Establishment
// Record Types").
type RecordType uint16

// Record types. RecCompliant128GCMExport is chrony's private-use record (see the package doc).
const (
	RecEndOfMessage          RecordType = 0
	RecNextProtocol          RecordType = 1
	RecError                 RecordType = 2
	RecWarning               RecordType = 3
	RecAEAD                  RecordType = 4
	RecNewCookie             RecordType = 5
	RecServer                RecordType = 6
	RecPort                  RecordType = 7
	RecCompliant128GCMExport RecordType = 1024
)

// ProtocolNTPv4 is the Next Protocol identifier of NTPv4.
const ProtocolNTPv4 = 0

// Error codes of the Error record (RFC 8915 section 4.1.3).
const (
	ErrCodeUnrecognizedCritical = 0
	ErrCodeBadRequest           = 1
	ErrCodeInternal             = 2
)

// Limits of NTS-KE messages. A real request is a few dozen bytes; a response with eight of our cookies is
// under 1.5 kB. MaxMessage bounds what a peer can make us buffer.
const (
	RecordHeaderLen = 4
	MaxMessage      = 16384 // bytes in one message, headers included (chrony uses the same bound)
	MaxCookies      = 8     // cookies per KE response and per NTP response (RFC 8915 section 4.1.6)
	ExporterLabel   = "EXPORTER-network-time-security"
	ALPN            = "ntske/1"
	DefaultKEPort   = 4460
)

// Record is one NTS-KE record:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|C|         Record Type         |          Body Length          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	.                          Record Body                          .
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// C is the critical bit: a receiver that does not recognise a critical record must reject the message.
type Record struct {
	Critical bool
	Type     RecordType
	Body     []byte
}

// Errors of the record codec.
var (
	ErrRecordTruncated = errors.New("nts: NTS-KE record truncated")
	ErrMessageTooLong  = errors.New("nts: NTS-KE message too long")
	ErrBodyTooLong     = errors.New("nts: NTS-KE record body too long")
	ErrNoEndOfMessage  = errors.New("nts: NTS-KE message without End of Message")
	ErrEndOfMessage    = errors.New("nts: malformed End of Message record")
)

// AppendRecord appends r to dst.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	if len(r.Body) > 0xffff {
		return dst, fmt.Errorf("nts.AppendRecord(type %d, %d bytes): %w", r.Type, len(r.Body), ErrBodyTooLong)
	}
	t := uint16(r.Type) & 0x7fff
	if r.Critical {
		t |= 0x8000
	}
	dst = binary.BigEndian.AppendUint16(dst, t)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Body)))
	return append(dst, r.Body...), nil
}

// appendU16s appends a record whose body is a list of 16-bit values.
func appendU16s(dst []byte, critical bool, typ RecordType, vals ...uint16) []byte {
	t := uint16(typ)
	if critical {
		t |= 0x8000
	}
	dst = binary.BigEndian.AppendUint16(dst, t)
	dst = binary.BigEndian.AppendUint16(dst, uint16(2*len(vals)))
	for _, v := range vals {
		dst = binary.BigEndian.AppendUint16(dst, v)
	}
	return dst
}

// ParseMessage splits msg into records up to and including End of Message, and returns what follows it.
// The records' bodies alias msg.
func ParseMessage(msg []byte) (recs []Record, rest []byte, err error) {
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage+1] // anything longer fails below without walking the whole input
	}
	off := 0
	for {
		if len(msg)-off < RecordHeaderLen {
			if off >= MaxMessage {
				return nil, nil, fmt.Errorf("nts.ParseMessage: %w", ErrMessageTooLong)
			}
			if off == len(msg) {
				return nil, nil, fmt.Errorf("nts.ParseMessage: %w", ErrNoEndOfMessage)
			}
			return nil, nil, fmt.Errorf("nts.ParseMessage: header at %d: %w", off, ErrRecordTruncated)
		}
		h := binary.BigEndian.Uint16(msg[off:])
		n := int(binary.BigEndian.Uint16(msg[off+2:]))
		end := off + RecordHeaderLen + n
		if end > MaxMessage {
			return nil, nil, fmt.Errorf("nts.ParseMessage: record at %d: %w", off, ErrMessageTooLong)
		}
		if end > len(msg) {
			return nil, nil, fmt.Errorf("nts.ParseMessage: record at %d, body %d: %w", off, n, ErrRecordTruncated)
		}
		r := Record{Critical: h&0x8000 != 0, Type: RecordType(h & 0x7fff), Body: msg[off+RecordHeaderLen : end : end]}
		recs = append(recs, r)
		off = end
		if r.Type == RecEndOfMessage {
			if n != 0 {
				return nil, nil, fmt.Errorf("nts.ParseMessage: %w", ErrEndOfMessage)
			}
			return recs, msg[off:], nil
		}
	}
}

// ReadMessage reads one NTS-KE message from r: records up to and including End of Message, at most
// MaxMessage bytes in total. It never reads past the End of Message record.
func ReadMessage(r io.Reader) ([]byte, []Record, error) {
	var buf []byte
	var hdr [RecordHeaderLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || (errors.Is(err, io.EOF) && len(buf) > 0) {
				err = ErrRecordTruncated
			}
			return nil, nil, fmt.Errorf("nts.ReadMessage: header at %d: %w", len(buf), err)
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if len(buf)+RecordHeaderLen+n > MaxMessage {
			return nil, nil, fmt.Errorf("nts.ReadMessage: %w", ErrMessageTooLong)
		}
		buf = append(buf, hdr[:]...)
		start := len(buf)
		buf = slices.Grow(buf, n)[:start+n]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrRecordTruncated
			}
			return nil, nil, fmt.Errorf("nts.ReadMessage: body of %d bytes: %w", n, err)
		}
		if binary.BigEndian.Uint16(hdr[:])&0x7fff == uint16(RecEndOfMessage) {
			recs, _, err := ParseMessage(buf)
			return buf, recs, err
		}
	}
}

// KEConfig is the server side of NTS-KE negotiation.
type KEConfig struct {
	// AEADs the server accepts; nil means all this package implements.
	AEADs []AlgorithmID
	// NTPServer, if not empty, is sent in an NTPv4 Server Negotiation record: the name or address clients
	// should send NTP to (otherwise they use the KE server's address).
	NTPServer string
	// NTPPort is sent in an NTPv4 Port Negotiation record when it is neither 0 nor 123.
	NTPPort uint16
	// Cookies per response; 0 means MaxCookies.
	Cookies int
}

// Validate checks the configuration.
func (c *KEConfig) Validate() error {
	for _, a := range c.AEADs {
		if !a.Supported() {
			return fmt.Errorf("nts.KEConfig: AEAD %v: %w", a, ErrAlgorithm)
		}
	}
	if len(c.NTPServer) > 255 {
		return fmt.Errorf("nts.KEConfig: NTP server name of %d bytes is too long", len(c.NTPServer))
	}
	if c.Cookies < 0 || c.Cookies > MaxCookies {
		return fmt.Errorf("nts.KEConfig: Cookies %d outside 0..%d", c.Cookies, MaxCookies)
	}
	return nil
}

func (c *KEConfig) accepts(a AlgorithmID) bool {
	if c.AEADs == nil {
		return a.Supported()
	}
	return slices.Contains(c.AEADs, a)
}

// Negotiation is the outcome of an NTS-KE request.
type Negotiation struct {
	// ErrorCode is the Error record sent (ErrCodeBadRequest...), or -1 if none.
	ErrorCode int
	// NTPv4 is true when the client offered NTPv4 (the only next protocol we speak).
	NTPv4 bool
	// AEAD is the algorithm chosen, or 0 when none the client offered is acceptable.
	AEAD AlgorithmID
	// Compliant128GCM is true when the client sent chrony's record 1024, asking that AES-128-GCM-SIV
	// keys be exported with the RFC's context.
	Compliant128GCM bool
}

// OK reports whether keys are to be exported and cookies issued.
func (n Negotiation) OK() bool { return n.ErrorCode < 0 && n.NTPv4 && n.AEAD != 0 }

// ExporterContext returns the RFC 5705 exporter context for the client-to-server (s2c false) or
// server-to-client key: Protocol ID (16 bits) | AEAD ID (16 bits) | 0x00 (C2S) or 0x01 (S2C)
// (RFC 8915 section 5.1). For AES-128-GCM-SIV without record 1024 it names AES-SIV-CMAC-256 instead, as
// chrony does (see the package doc).
func (n Negotiation) ExporterContext(s2c bool) []byte {
	id := n.AEAD
	if id == AES128GCMSIV && !n.Compliant128GCM {
		id = AESSIVCMAC256
	}
	ctx := []byte{0, ProtocolNTPv4, byte(id >> 8), byte(id), 0}
	if s2c {
		ctx[4] = 1
	}
	return ctx
}

// Negotiate applies RFC 8915's rules to a request's records (as ParseMessage returns them, End of Message
// last). It never fails: a bad request yields a Negotiation with an ErrorCode.
//
// The AEAD is the first in the client's order that the server accepts, except that AES-128-GCM-SIV offered
// without record 1024 ranks after AES-SIV-CMAC-256: such a client may derive its keys either way (chrony
// before 4.6 the non-compliant way, RFC clients the compliant way), and AES-SIV-CMAC-256, which every NTS
// client must offer, has no such ambiguity.
func Negotiate(cfg *KEConfig, req []Record) Negotiation {
	n := Negotiation{ErrorCode: -1}
	var nextRecs, aeadRecs int
	var aeads []byte
	bad := func(code int) Negotiation { return Negotiation{ErrorCode: code} }
	for i, r := range req {
		switch r.Type {
		case RecEndOfMessage:
			if !r.Critical || len(r.Body) != 0 || i != len(req)-1 {
				return bad(ErrCodeBadRequest)
			}
		case RecNextProtocol:
			if !r.Critical || len(r.Body) < 2 || len(r.Body)%2 != 0 {
				return bad(ErrCodeBadRequest)
			}
			nextRecs++
			for j := 0; j < len(r.Body); j += 2 {
				if binary.BigEndian.Uint16(r.Body[j:]) == ProtocolNTPv4 {
					n.NTPv4 = true
				}
			}
		case RecAEAD:
			if len(r.Body) < 2 || len(r.Body)%2 != 0 {
				return bad(ErrCodeBadRequest)
			}
			aeadRecs++
			aeads = r.Body
		case RecCompliant128GCMExport:
			if len(r.Body) != 0 {
				return bad(ErrCodeBadRequest)
			}
			n.Compliant128GCM = true
		case RecServer:
			// A client may suggest an NTP server; we serve NTP ourselves, so the suggestion is ignored.
		case RecPort:
			if len(r.Body) != 2 {
				return bad(ErrCodeBadRequest)
			}
		case RecError, RecWarning, RecNewCookie:
			return bad(ErrCodeBadRequest) // server-to-client records
		default:
			if r.Critical {
				return bad(ErrCodeUnrecognizedCritical)
			}
		}
	}
	if len(req) == 0 || req[len(req)-1].Type != RecEndOfMessage || nextRecs != 1 || (n.NTPv4 && aeadRecs != 1) {
		return bad(ErrCodeBadRequest)
	}
	if !n.NTPv4 {
		return n
	}
	var fallbackGCM bool
	for j := 0; j+1 < len(aeads); j += 2 {
		a := AlgorithmID(binary.BigEndian.Uint16(aeads[j:]))
		if !cfg.accepts(a) {
			continue
		}
		if a == AES128GCMSIV && !n.Compliant128GCM {
			fallbackGCM = true
			continue
		}
		n.AEAD = a
		break
	}
	if n.AEAD == 0 && fallbackGCM {
		n.AEAD = AES128GCMSIV
	}
	return n
}

// Exporter is the TLS keying-material exporter: crypto/tls.ConnectionState.ExportKeyingMaterial.
type Exporter func(label string, context []byte, length int) ([]byte, error)

// ExportKeys derives the session's keys with the TLS exporter.
func ExportKeys(n Negotiation, export Exporter) (SessionKeys, error) {
	var k SessionKeys
	if !n.OK() {
		return k, fmt.Errorf("nts.ExportKeys: negotiation did not succeed")
	}
	kl := n.AEAD.KeyLen()
	c2s, err := export(ExporterLabel, n.ExporterContext(false), kl)
	if err != nil {
		return k, fmt.Errorf("nts.ExportKeys: c2s: %w", err)
	}
	s2c, err := export(ExporterLabel, n.ExporterContext(true), kl)
	if err != nil {
		return k, fmt.Errorf("nts.ExportKeys: s2c: %w", err)
	}
	if len(c2s) != kl || len(s2c) != kl {
		return k, fmt.Errorf("nts.ExportKeys: exporter returned %d/%d bytes, want %d", len(c2s), len(s2c), kl)
	}
	return NewSessionKeys(n.AEAD, c2s, s2c)
}

// AppendResponse appends the server's response message for n to dst: for a successful negotiation the
// cookies (already sealed) go in New Cookie records. The record order follows chrony's, which every client
// accepts: Next Protocol, AEAD, record 1024, Port, Server, cookies, End of Message.
func AppendResponse(dst []byte, cfg *KEConfig, n Negotiation, cookies [][]byte) ([]byte, error) {
	switch {
	case n.ErrorCode >= 0:
		dst = appendU16s(dst, true, RecError, uint16(n.ErrorCode))
	case !n.NTPv4:
		dst = appendU16s(dst, true, RecNextProtocol) // empty: none of the offered protocols
	case n.AEAD == 0:
		dst = appendU16s(dst, true, RecNextProtocol, ProtocolNTPv4)
		dst = appendU16s(dst, true, RecAEAD) // empty: none of the offered algorithms
	default:
		dst = appendU16s(dst, true, RecNextProtocol, ProtocolNTPv4)
		dst = appendU16s(dst, true, RecAEAD, uint16(n.AEAD))
		if n.AEAD == AES128GCMSIV && n.Compliant128GCM {
			dst = appendU16s(dst, false, RecCompliant128GCMExport)
		}
		if cfg.NTPPort != 0 && cfg.NTPPort != 123 {
			dst = appendU16s(dst, true, RecPort, cfg.NTPPort)
		}
		if cfg.NTPServer != "" {
			var err error
			if dst, err = AppendRecord(dst, Record{Critical: true, Type: RecServer, Body: []byte(cfg.NTPServer)}); err != nil {
				return dst, fmt.Errorf("nts.AppendResponse: %w", err)
			}
		}
		if len(cookies) == 0 {
			return dst, errors.New("nts.AppendResponse: a successful negotiation needs cookies")
		}
		for _, c := range cookies {
			var err error
			if dst, err = AppendRecord(dst, Record{Type: RecNewCookie, Body: c}); err != nil {
				return dst, fmt.Errorf("nts.AppendResponse: %w", err)
			}
		}
	}
	return appendU16s(dst, true, RecEndOfMessage), nil
}
