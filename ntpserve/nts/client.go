package nts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// ServeKE is the whole server side of one NTS-KE exchange once TLS is up: it negotiates (Negotiate),
// exports the session keys, seals cfg.Cookies cookies with the current key of ks and returns the response
// message. A request that fails negotiation still gets a response (an Error record, or empty Next Protocol
// or AEAD records); err is non-nil only when the server itself failed (exporter, entropy), and the response
// is then an Internal Server Error.
func ServeKE(cfg *KEConfig, req []Record, export Exporter, ks *KeySet, rand io.Reader) ([]byte, Negotiation, error) {
	n := Negotiate(cfg, req)
	if !n.OK() {
		resp, err := AppendResponse(nil, cfg, n, nil)
		return resp, n, err
	}
	internal := func(err error) ([]byte, Negotiation, error) {
		f := Negotiation{ErrorCode: ErrCodeInternal}
		resp, _ := AppendResponse(nil, cfg, f, nil)
		return resp, f, err
	}
	keys, err := ExportKeys(n, export)
	if err != nil {
		return internal(fmt.Errorf("nts.ServeKE: %w", err))
	}
	count := cfg.Cookies
	if count == 0 {
		count = MaxCookies
	}
	nonces := make([]byte, 16*count)
	if _, err := io.ReadFull(rand, nonces); err != nil {
		return internal(fmt.Errorf("nts.ServeKE: reading nonces: %w", err))
	}
	cookies := make([][]byte, count)
	for i := range cookies {
		if cookies[i], err = ks.AppendCookie(nil, &keys, nonces[16*i:16*(i+1)]); err != nil {
			return internal(fmt.Errorf("nts.ServeKE: %w", err))
		}
	}
	clear(keys.c2s[:])
	clear(keys.s2c[:])
	resp, err := AppendResponse(nil, cfg, n, cookies)
	return resp, n, err
}

// AppendKERequest appends a client's NTS-KE request offering NTPv4 and aeads, in order of preference. With
// compliant128GCM it adds chrony's record 1024 when AES-128-GCM-SIV is offered.
func AppendKERequest(dst []byte, aeads []AlgorithmID, compliant128GCM bool) []byte {
	dst = appendU16s(dst, true, RecNextProtocol, ProtocolNTPv4)
	vals := make([]uint16, len(aeads))
	gcm := false
	for i, a := range aeads {
		vals[i] = uint16(a)
		gcm = gcm || a == AES128GCMSIV
	}
	dst = appendU16s(dst, true, RecAEAD, vals...)
	if gcm && compliant128GCM {
		dst = appendU16s(dst, false, RecCompliant128GCMExport)
	}
	return appendU16s(dst, true, RecEndOfMessage)
}

// KEResponse is what a client learns from a successful NTS-KE response.
type KEResponse struct {
	AEAD            AlgorithmID
	Compliant128GCM bool   // the server echoed record 1024
	Server          string // from NTPv4 Server Negotiation; empty: the KE server's address
	Port            uint16 // from NTPv4 Port Negotiation; 0: 123
	Cookies         [][]byte
}

// Negotiation returns the negotiation as the client sees it, for ExporterContext and ExportKeys.
func (r *KEResponse) Negotiation() Negotiation {
	return Negotiation{ErrorCode: -1, NTPv4: true, AEAD: r.AEAD, Compliant128GCM: r.Compliant128GCM}
}

// ErrKERefused: the server answered with an Error record, or offered no protocol or algorithm.
var ErrKERefused = errors.New("nts: NTS-KE refused")

// ParseKEResponse checks a server's response records (as ParseMessage returns them).
func ParseKEResponse(recs []Record, offered []AlgorithmID) (KEResponse, error) {
	var r KEResponse
	var next, aead int
	ntp := false
	for _, rec := range recs {
		switch rec.Type {
		case RecEndOfMessage:
		case RecError:
			code := -1
			if len(rec.Body) == 2 {
				code = int(binary.BigEndian.Uint16(rec.Body))
			}
			return r, fmt.Errorf("nts.ParseKEResponse: error code %d: %w", code, ErrKERefused)
		case RecNextProtocol:
			next++
			if len(rec.Body) == 2 && binary.BigEndian.Uint16(rec.Body) == ProtocolNTPv4 {
				ntp = true
			}
		case RecAEAD:
			aead++
			if len(rec.Body) == 2 {
				r.AEAD = AlgorithmID(binary.BigEndian.Uint16(rec.Body))
			}
		case RecCompliant128GCMExport:
			r.Compliant128GCM = true
		case RecNewCookie:
			if len(rec.Body) == 0 {
				return r, errors.New("nts.ParseKEResponse: empty cookie")
			}
			r.Cookies = append(r.Cookies, rec.Body)
		case RecServer:
			r.Server = string(rec.Body)
		case RecPort:
			if len(rec.Body) != 2 {
				return r, errors.New("nts.ParseKEResponse: malformed port record")
			}
			r.Port = binary.BigEndian.Uint16(rec.Body)
		case RecWarning:
		default:
			if rec.Critical {
				return r, fmt.Errorf("nts.ParseKEResponse: unrecognised critical record %d", rec.Type)
			}
		}
	}
	if next != 1 || !ntp || aead != 1 || r.AEAD == 0 {
		return r, fmt.Errorf("nts.ParseKEResponse: no NTPv4 or no AEAD agreed: %w", ErrKERefused)
	}
	known := false
	for _, a := range offered {
		known = known || a == r.AEAD
	}
	if !known || !r.AEAD.Supported() {
		return r, fmt.Errorf("nts.ParseKEResponse: server chose %v, which was not offered", r.AEAD)
	}
	if len(r.Cookies) == 0 {
		return r, errors.New("nts.ParseKEResponse: no cookies")
	}
	return r, nil
}

// AppendRequest appends the NTS fields of a client request to pkt (which holds the 48-byte header): a
// Unique Identifier, the cookie, placeholders asking for more cookies, and an authenticator made with the
// C2S key and nonce (16 bytes for AES-SIV, 12 for AES-GCM-SIV).
func AppendRequest(pkt, uid, cookie []byte, placeholders int, k *SessionKeys, nonce []byte) ([]byte, error) {
	if len(pkt) != wire.HeaderLen || len(uid) < MinUniqueIDLen {
		return pkt, fmt.Errorf("nts.AppendRequest: header %d bytes, uid %d bytes", len(pkt), len(uid))
	}
	a, err := NewAEAD(k.AEAD, k.C2S())
	if err != nil {
		return pkt, fmt.Errorf("nts.AppendRequest: %w", err)
	}
	if len(nonce) != a.NonceSize() {
		return pkt, fmt.Errorf("nts.AppendRequest: %d-byte nonce: %w", len(nonce), ErrNonce)
	}
	if pkt, err = wire.AppendField(pkt, FieldUniqueID, uid); err != nil {
		return pkt, fmt.Errorf("nts.AppendRequest: %w", err)
	}
	if pkt, err = wire.AppendField(pkt, FieldCookie, cookie); err != nil {
		return pkt, fmt.Errorf("nts.AppendRequest: %w", err)
	}
	zero := make([]byte, len(cookie))
	for range placeholders {
		if pkt, err = wire.AppendField(pkt, FieldCookiePlaceholder, zero); err != nil {
			return pkt, fmt.Errorf("nts.AppendRequest: %w", err)
		}
	}
	return appendAuthenticator(pkt, a, nonce, nil, 0), nil
}

// ErrNTSNAK: the server answered with an NTS NAK (kiss code NTSN): the cookie was refused; redo NTS-KE.
var ErrNTSNAK = errors.New("nts: NTS NAK")

// VerifyResponse checks a server's reply to a request made with AppendRequest: the Unique Identifier must
// echo uid and the authenticator must verify under the S2C key. It returns the fresh cookies, or ErrNTSNAK
// for a NAK whose Unique Identifier matches (a NAK is unauthenticated: a client should only count it).
func VerifyResponse(resp, uid []byte, k *SessionKeys) ([][]byte, error) {
	if len(resp) < wire.HeaderLen {
		return nil, fmt.Errorf("nts.VerifyResponse: %d bytes: %w", len(resp), wire.ErrShort)
	}
	var uidOK bool
	authOff := -1
	it := wire.Extensions(resp)
	for it.Next() {
		f := it.Field()
		switch f.Type {
		case FieldUniqueID:
			uidOK = string(f.Value) == string(uid)
		case FieldAuthenticator:
			authOff = f.Offset
			if f.Offset+f.Length != len(resp) {
				return nil, errors.New("nts.VerifyResponse: authenticator is not the last field")
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("nts.VerifyResponse: %w", err)
	}
	if !uidOK {
		return nil, errors.New("nts.VerifyResponse: unique identifier missing or different")
	}
	if resp[1] == 0 && string(resp[12:16]) == "NTSN" && authOff < 0 {
		return nil, ErrNTSNAK
	}
	if authOff < 0 {
		return nil, errors.New("nts.VerifyResponse: no authenticator")
	}
	a, err := NewAEAD(k.AEAD, k.S2C())
	if err != nil {
		return nil, fmt.Errorf("nts.VerifyResponse: %w", err)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var scratch []byte
	pt, ok := openAuthenticator(a, sc, resp, authOff, &scratch)
	if !ok {
		return nil, fmt.Errorf("nts.VerifyResponse: %w", ErrOpen)
	}
	var cookies [][]byte
	for off := 0; off < len(pt); {
		typ, flen, ok := innerField(pt[off:])
		if !ok {
			return nil, errors.New("nts.VerifyResponse: malformed encrypted field")
		}
		if typ == FieldCookie {
			cookies = append(cookies, append([]byte(nil), pt[off+wire.ExtHeaderLen:off+flen]...))
		}
		off += flen
	}
	return cookies, nil
}
