package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// codec builds and checks a client's NTS packets with the session's AEADs made once. nts.AppendRequest
// and nts.VerifyResponse build the AEAD on every call (key expansion and allocations: 40 % of the client's
// time in a profile), which would make the generator rather than the server the bottleneck. The layout is
// the one RFC 8915 section 5 defines and ntpserve/nts implements; the tests check the two agree.
//
//	header (48) | Unique Identifier | NTS Cookie | Placeholder... | Authenticator (last)
//
//	Authenticator: type 0x0404 | length | nonce length (2) | ciphertext length (2) |
//	               nonce, padded to 4 and to at least 12 or 16 bytes | ciphertext, padded to 4
type codec struct {
	c2s, s2c nts.AEAD
	scratch  []byte
}

func newCodec(k *nts.SessionKeys) (*codec, error) {
	c2s, err := nts.NewAEAD(k.AEAD, k.C2S())
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	s2c, err := nts.NewAEAD(k.AEAD, k.S2C())
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return &codec{c2s: c2s, s2c: s2c, scratch: make([]byte, 0, 2048)}, nil
}

func pad4(n int) int { return (n + 3) &^ 3 }

func appendField(b []byte, typ uint16, value []byte, zero int) []byte {
	n := len(value) + zero
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(wire.ExtHeaderLen+pad4(n)))
	b = append(b, value...)
	for range pad4(n) - len(value) {
		b = append(b, 0)
	}
	return b
}

// appendRequest appends the NTS fields of a request to pkt (the 48-byte header): uid, cookie,
// placeholders asking for ph more cookies, and the authenticator over all of it with the C2S key.
func (c *codec) appendRequest(pkt, uid, cookie []byte, ph int, nonce []byte) []byte {
	pkt = appendField(pkt, nts.FieldUniqueID, uid, 0)
	pkt = appendField(pkt, nts.FieldCookie, cookie, 0)
	for range ph {
		pkt = appendField(pkt, nts.FieldCookiePlaceholder, nil, len(cookie))
	}
	ns := len(nonce)
	flen := wire.ExtHeaderLen + 4 + max(pad4(ns), min(16, max(ns, 12))) + pad4(nts.TagLen)
	start := len(pkt)
	pkt = binary.BigEndian.AppendUint16(pkt, nts.FieldAuthenticator)
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(flen))
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(ns))
	pkt = binary.BigEndian.AppendUint16(pkt, nts.TagLen)
	pkt = append(pkt, nonce...)
	for len(pkt) < start+flen-nts.TagLen {
		pkt = append(pkt, 0)
	}
	return c.c2s.Seal(pkt, nonce, nil, pkt[:start])
}

var errReply = errors.New("malformed NTS reply")

// verify checks a reply: the Unique Identifier echoes uid, the authenticator is the last field and
// verifies under the S2C key. It calls keep for each fresh cookie (the slice is only valid during the
// call), or returns nts.ErrNTSNAK for an NTS NAK that echoes uid.
func (c *codec) verify(resp, uid []byte, keep func([]byte)) error {
	if len(resp) < wire.HeaderLen {
		return errReply
	}
	uidOK, auth := false, -1
	off := wire.HeaderLen
	for off < len(resp) {
		if len(resp)-off < wire.ExtHeaderLen {
			return errReply
		}
		typ := binary.BigEndian.Uint16(resp[off:])
		l := int(binary.BigEndian.Uint16(resp[off+2:]))
		if l < wire.ExtHeaderLen || l%4 != 0 || l > len(resp)-off {
			return errReply
		}
		switch typ {
		case nts.FieldUniqueID:
			uidOK = bytes.Equal(resp[off+wire.ExtHeaderLen:off+l], uid)
		case nts.FieldAuthenticator:
			auth = off
			if off+l != len(resp) {
				return errReply
			}
		}
		off += l
	}
	if !uidOK {
		return errReply
	}
	if auth < 0 {
		if resp[1] == 0 && string(resp[12:16]) == "NTSN" {
			return nts.ErrNTSNAK
		}
		return errReply
	}
	body := resp[auth+wire.ExtHeaderLen:]
	if len(body) < 4 {
		return errReply
	}
	nl, cl := int(binary.BigEndian.Uint16(body)), int(binary.BigEndian.Uint16(body[2:]))
	if nl < 1 || cl < nts.TagLen || 4+pad4(nl)+cl > len(body) {
		return errReply
	}
	pt, err := c.s2c.Open(c.scratch[:0], body[4:4+nl], body[4+pad4(nl):4+pad4(nl)+cl], resp[:auth])
	if err != nil {
		return err
	}
	for o := 0; o < len(pt); {
		if len(pt)-o < wire.ExtHeaderLen {
			return errReply
		}
		typ := binary.BigEndian.Uint16(pt[o:])
		l := int(binary.BigEndian.Uint16(pt[o+2:]))
		if l < wire.ExtHeaderLen || l%4 != 0 || l > len(pt)-o {
			return errReply
		}
		if typ == nts.FieldCookie {
			keep(pt[o+wire.ExtHeaderLen : o+l])
		}
		o += l
	}
	return nil
}
