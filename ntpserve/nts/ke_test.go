package nts

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

var t0 = timebase.Date(2026, time.November, 22, 7, 0, 0, 0)

func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// fakeExporter derives keys from label and context the way a TLS exporter would: deterministically, and
// differently for every context.
func fakeExporter(secret string) Exporter {
	return func(label string, context []byte, length int) ([]byte, error) {
		var out []byte
		for i := byte(0); len(out) < length; i++ {
			h := sha256.Sum256(append(append([]byte(secret+label), context...), i))
			out = append(out, h[:]...)
		}
		return out[:length], nil
	}
}

func rec(crit bool, typ RecordType, body ...byte) Record {
	return Record{Critical: crit, Type: typ, Body: body}
}

func u16(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

func msg(t *testing.T, recs ...Record) []byte {
	t.Helper()
	var b []byte
	for _, r := range recs {
		var err error
		if b, err = AppendRecord(b, r); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestRecordCodec(t *testing.T) {
	m := msg(t, rec(true, RecNextProtocol, u16(0)...), rec(false, RecAEAD, u16(15, 30)...), rec(false, 0x1234, 'x'), rec(true, RecEndOfMessage))
	m = append(m, "trailing"...)
	recs, rest, err := ParseMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "trailing" || len(recs) != 4 {
		t.Fatalf("rest %q, %d records", rest, len(recs))
	}
	if !recs[0].Critical || recs[0].Type != RecNextProtocol || recs[1].Critical || !bytes.Equal(recs[1].Body, u16(15, 30)) || recs[2].Type != 0x1234 {
		t.Fatalf("records %+v", recs)
	}
	got, recs2, err := ReadMessage(bytes.NewReader(m))
	if err != nil || !bytes.Equal(got, m[:len(m)-8]) || len(recs2) != 4 {
		t.Fatalf("ReadMessage: %v, %d bytes", err, len(got))
	}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNoEndOfMessage},
		{"no EOM", msg(t, rec(true, RecNextProtocol, 0, 0)), ErrNoEndOfMessage},
		{"truncated header", []byte{0x80, 1, 0}, ErrRecordTruncated},
		{"truncated body", []byte{0x80, 1, 0, 4, 0, 0}, ErrRecordTruncated},
		{"EOM with body", msg(t, rec(true, RecEndOfMessage, 1)), ErrEndOfMessage},
		{"too long", append(bytes.Repeat(msg(t, rec(false, 99, make([]byte, 1000)...)), 17), msg(t, rec(true, RecEndOfMessage))...), ErrMessageTooLong},
	} {
		if _, _, err := ParseMessage(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: ParseMessage: %v, want %v", c.name, err, c.want)
		}
		if _, _, err := ReadMessage(bytes.NewReader(c.in)); err == nil {
			t.Errorf("%s: ReadMessage accepted it", c.name)
		}
	}
	if _, err := AppendRecord(nil, Record{Type: 9, Body: make([]byte, 70000)}); !errors.Is(err, ErrBodyTooLong) {
		t.Fatalf("oversized body: %v", err)
	}
}

func TestNegotiate(t *testing.T) {
	next := rec(true, RecNextProtocol, u16(0)...)
	eom := rec(true, RecEndOfMessage)
	aead := func(ids ...uint16) Record { return rec(true, RecAEAD, u16(ids...)...) }
	all := &KEConfig{}
	sivOnly := &KEConfig{AEADs: []AlgorithmID{AESSIVCMAC256}}
	for _, c := range []struct {
		name string
		cfg  *KEConfig
		req  []Record
		want Negotiation
	}{
		{"siv256", all, []Record{next, aead(15), eom}, Negotiation{-1, true, AESSIVCMAC256, false}},
		{"client order", all, []Record{next, aead(17, 15), eom}, Negotiation{-1, true, AESSIVCMAC512, false}},
		{"unknown aeads skipped", all, []Record{next, aead(1, 2, 17), eom}, Negotiation{-1, true, AESSIVCMAC512, false}},
		{"gcm with 1024", all, []Record{next, aead(30, 15), rec(false, RecCompliant128GCMExport), eom}, Negotiation{-1, true, AES128GCMSIV, true}},
		{"gcm without 1024 ranks after siv", all, []Record{next, aead(30, 15), eom}, Negotiation{-1, true, AESSIVCMAC256, false}},
		{"gcm alone without 1024", all, []Record{next, aead(30), eom}, Negotiation{-1, true, AES128GCMSIV, false}},
		{"server restricts", sivOnly, []Record{next, aead(30, 17, 15), rec(false, RecCompliant128GCMExport), eom}, Negotiation{-1, true, AESSIVCMAC256, true}},
		{"no common aead", sivOnly, []Record{next, aead(17), eom}, Negotiation{-1, true, 0, false}},
		{"not ntpv4", all, []Record{rec(true, RecNextProtocol, u16(7)...), eom}, Negotiation{-1, false, 0, false}},
		{"unknown non-critical ignored", all, []Record{next, rec(false, 0x4321, 1, 2, 3), aead(15), eom}, Negotiation{-1, true, AESSIVCMAC256, false}},
		{"port and server suggestions", all, []Record{next, aead(15), rec(false, RecServer, 'a'), rec(true, RecPort, 0, 123), eom}, Negotiation{-1, true, AESSIVCMAC256, false}},
		{"unknown critical", all, []Record{next, rec(true, 0x4321), aead(15), eom}, Negotiation{ErrorCode: ErrCodeUnrecognizedCritical}},
		{"next protocol not critical", all, []Record{rec(false, RecNextProtocol, 0, 0), aead(15), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"two next protocols", all, []Record{next, next, aead(15), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"no next protocol", all, []Record{aead(15), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"empty next protocol", all, []Record{rec(true, RecNextProtocol), aead(15), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"odd aead", all, []Record{next, rec(true, RecAEAD, 0, 15, 1), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"no aead", all, []Record{next, eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"two aeads", all, []Record{next, aead(15), aead(15), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"1024 with body", all, []Record{next, aead(30), rec(false, RecCompliant128GCMExport, 1), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"client sends cookie", all, []Record{next, aead(15), rec(false, RecNewCookie, 1), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"client sends error", all, []Record{next, aead(15), rec(true, RecError, 0, 1), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"bad port", all, []Record{next, aead(15), rec(true, RecPort, 1), eom}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"no eom", all, []Record{next, aead(15)}, Negotiation{ErrorCode: ErrCodeBadRequest}},
		{"eom not critical", all, []Record{next, aead(15), rec(false, RecEndOfMessage)}, Negotiation{ErrorCode: ErrCodeBadRequest}},
	} {
		if got := Negotiate(c.cfg, c.req); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestExporterContext(t *testing.T) {
	for _, c := range []struct {
		n        Negotiation
		c2s, s2c []byte
	}{
		{Negotiation{-1, true, AESSIVCMAC256, false}, []byte{0, 0, 0, 15, 0}, []byte{0, 0, 0, 15, 1}},
		{Negotiation{-1, true, AESSIVCMAC512, false}, []byte{0, 0, 0, 17, 0}, []byte{0, 0, 0, 17, 1}},
		{Negotiation{-1, true, AES128GCMSIV, true}, []byte{0, 0, 0, 30, 0}, []byte{0, 0, 0, 30, 1}},
		// chrony's compatibility context: AES-128-GCM-SIV keys (16 bytes) exported under id 15.
		{Negotiation{-1, true, AES128GCMSIV, false}, []byte{0, 0, 0, 15, 0}, []byte{0, 0, 0, 15, 1}},
	} {
		if got := c.n.ExporterContext(false); !bytes.Equal(got, c.c2s) {
			t.Errorf("%+v c2s: %x, want %x", c.n, got, c.c2s)
		}
		if got := c.n.ExporterContext(true); !bytes.Equal(got, c.s2c) {
			t.Errorf("%+v s2c: %x, want %x", c.n, got, c.s2c)
		}
	}
}

func TestServeKEAndClient(t *testing.T) {
	ks, err := NewKeySet(KeyPolicy{}, t0, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &KEConfig{NTPServer: "ntp.example", NTPPort: 1123, Cookies: 3}
	for _, c := range []struct {
		offer     []AlgorithmID
		compliant bool
		want      AlgorithmID
	}{
		{[]AlgorithmID{AESSIVCMAC256}, false, AESSIVCMAC256},
		{[]AlgorithmID{AESSIVCMAC512, AESSIVCMAC256}, false, AESSIVCMAC512},
		{[]AlgorithmID{AES128GCMSIV, AESSIVCMAC256}, true, AES128GCMSIV},
		{[]AlgorithmID{AES128GCMSIV}, false, AES128GCMSIV},
	} {
		req := AppendKERequest(nil, c.offer, c.compliant)
		recs, _, err := ParseMessage(req)
		if err != nil {
			t.Fatal(err)
		}
		exp := fakeExporter("session")
		resp, n, err := ServeKE(cfg, recs, exp, ks, testRand(2))
		if err != nil || !n.OK() || n.AEAD != c.want {
			t.Fatalf("%v: ServeKE: %+v, %v", c.offer, n, err)
		}
		rrecs, rest, err := ParseMessage(resp)
		if err != nil || len(rest) != 0 {
			t.Fatalf("response does not parse: %v", err)
		}
		r, err := ParseKEResponse(rrecs, c.offer)
		if err != nil {
			t.Fatal(err)
		}
		if r.AEAD != c.want || r.Server != "ntp.example" || r.Port != 1123 || len(r.Cookies) != 3 || r.Compliant128GCM != (c.compliant && c.want == AES128GCMSIV) {
			t.Fatalf("%v: client saw %+v", c.offer, r)
		}
		// The client exports with the same context, so its keys match those in the cookie.
		ck, err := ExportKeys(r.Negotiation(), exp)
		if err != nil {
			t.Fatal(err)
		}
		for _, cookie := range r.Cookies {
			if len(cookie)%4 != 0 || len(cookie) != ks.CookieLen(c.want) {
				t.Fatalf("cookie of %d bytes", len(cookie))
			}
			sk, err := ks.OpenCookie(cookie)
			if err != nil || sk != ck {
				t.Fatalf("cookie keys differ from the client's: %v", err)
			}
		}
	}
	// Failures produce Error records that a client reports.
	bad := msg(t, rec(true, RecNextProtocol, 0, 0), rec(true, 0x999), rec(true, RecAEAD, 0, 15), rec(true, RecEndOfMessage))
	recs, _, _ := ParseMessage(bad)
	resp, n, err := ServeKE(cfg, recs, fakeExporter("x"), ks, testRand(3))
	if err != nil || n.ErrorCode != ErrCodeUnrecognizedCritical {
		t.Fatalf("unknown critical: %+v %v", n, err)
	}
	rrecs, _, _ := ParseMessage(resp)
	if _, err := ParseKEResponse(rrecs, []AlgorithmID{15}); !errors.Is(err, ErrKERefused) {
		t.Fatalf("client accepted an error response: %v", err)
	}
	failing := func(string, []byte, int) ([]byte, error) { return nil, errors.New("exporter broke") }
	recs, _, _ = ParseMessage(AppendKERequest(nil, []AlgorithmID{15}, false))
	if resp, n, err := ServeKE(cfg, recs, failing, ks, testRand(3)); err == nil || n.ErrorCode != ErrCodeInternal || len(resp) == 0 {
		t.Fatalf("exporter failure: %+v %v", n, err)
	}
}
