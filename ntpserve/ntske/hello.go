package ntske

import (
	"crypto/tls"
	"encoding/binary"
)

// Which key share the server answers.
//
// crypto/tls lets a server restrict its key exchange groups but not order them: among the groups both sides
// support it takes one the client sent a key share for, X25519 before P-256. In Go, P-256's ephemeral key
// exchange costs the server less than X25519's (a fixed-base table for the key generation, assembly for
// both halves): on amd64 about 12 % less in a profile of the server under load, 20 % in a micro-benchmark,
// so 3 % of a whole handshake; on arm64 (the Pi), where P-256 has assembly and X25519 is plain Go, the gap
// should be wider (not measured on a board). GnuTLS clients (chrony) send shares for both. So the server
// reads the key shares of the ClientHello itself, from the bytes crypto/tls read through corkConn, and
// when one is for P-256 it answers with a configuration that takes P-256 only (Server.configFor): no
// HelloRetryRequest, since the share is there. A ClientHello that does not parse here changes nothing
// (crypto/tls has the last word on it anyway).
//
// The ClientHello arrives in TLS records (RFC 8446 sections 5.1 and 4.1.2; all lengths big-endian):
//
//	record:       type (22 = handshake) | legacy version (2) | length (2) | fragment ...
//	handshake:    type (1 = client_hello) | length (3) | body
//	body:         legacy_version (2) | random (32) | session_id <0..32> (1-byte length)
//	              | cipher_suites (2-byte length) | compression_methods (1-byte length)
//	              | extensions (2-byte length): { type (2) | length (2) | data }...
//	key_share (extension 51): client_shares (2-byte length): { group (2) | key_exchange (2-byte length) }...
//
// The handshake message may span several records; helloKeyShares joins their fragments first.

// maxHelloBytes bounds what helloConn keeps: a ClientHello with a hybrid post-quantum share is about 1.5 KiB.
const maxHelloBytes = 8 << 10

// helloKeyShares returns the groups of the key shares in the ClientHello that starts raw (the bytes read
// from the connection, records included), in the client's order; nil when raw holds no complete, well-formed
// ClientHello.
func helloKeyShares(raw []byte) []tls.CurveID {
	// Join the handshake records' fragments until the ClientHello is complete.
	var msg []byte
	for len(raw) >= 5 && raw[0] == 22 {
		n := int(binary.BigEndian.Uint16(raw[3:5]))
		if len(raw) < 5+n {
			return nil
		}
		msg = append(msg, raw[5:5+n]...)
		raw = raw[5+n:]
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			break
		}
	}
	if len(msg) < 4 || msg[0] != 1 {
		return nil
	}
	body, ok := take(msg[1:], 3)
	if !ok {
		return nil
	}
	r := reader(body)
	if !r.skip(2+32) || !r.skipVec(1) || !r.skipVec(2) || !r.skipVec(1) {
		return nil
	}
	exts, ok := r.vec(2)
	if !ok {
		return nil
	}
	for len(exts) > 0 {
		var typ uint16
		if typ, ok = exts.u16(); !ok {
			return nil
		}
		var data reader
		if data, ok = exts.vec(2); !ok {
			return nil
		}
		if typ != 51 {
			continue
		}
		shares, ok := data.vec(2)
		if !ok || len(data) != 0 {
			return nil
		}
		var groups []tls.CurveID
		for len(shares) > 0 {
			g, ok := shares.u16()
			if !ok || !shares.skipVec(2) {
				return nil
			}
			groups = append(groups, tls.CurveID(g))
		}
		return groups
	}
	return nil
}

// take returns the body of a vector whose length has n bytes, at the start of b.
func take(b []byte, n int) ([]byte, bool) {
	if len(b) < n {
		return nil, false
	}
	l := 0
	for _, c := range b[:n] {
		l = l<<8 | int(c)
	}
	if len(b) < n+l {
		return nil, false
	}
	return b[n : n+l], true
}

// reader consumes a byte slice from the front; every method reports whether the bytes were there.
type reader []byte

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *reader) vec(n int) (reader, bool) {
	v, ok := take(*r, n)
	if ok {
		*r = (*r)[n+len(v):]
	}
	return v, ok
}

func (r *reader) skipVec(n int) bool {
	_, ok := r.vec(n)
	return ok
}

func (r *reader) u16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*r)
	*r = (*r)[2:]
	return v, true
}
