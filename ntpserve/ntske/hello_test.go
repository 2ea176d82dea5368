package ntske

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// chronyHello is the ClientHello chronyd 4.3 (GnuTLS 3.7.9, Debian 12) sends as an NTS-KE client,
// captured on loopback: key shares for P-256 and X25519.
const chronyHello = "testdata/clienthello-chrony-4.3-gnutls-3.7.9.bin"

// goHello returns the bytes a crypto/tls client with these curve preferences writes first: its ClientHello.
func goHello(t testing.TB, curves []tls.CurveID) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		tc := tls.Client(c, &tls.Config{ServerName: "x", MinVersion: tls.VersionTLS13, CurvePreferences: curves, NextProtos: []string{"ntske/1"}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake() // fails when s closes
		c.Close()
	}()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, maxHelloBytes)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// refragment splits the handshake message in one record into records of at most size bytes, as a
// client may (RFC 8446 section 5.1).
func refragment(rec []byte, size int) []byte {
	var out []byte
	for msg := rec[5:]; len(msg) > 0; {
		n := min(size, len(msg))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func TestHelloKeyShares(t *testing.T) {
	chrony, err := os.ReadFile(chronyHello)
	if err != nil {
		t.Fatal(err)
	}
	hybridHello := goHello(t, nil)
	for _, c := range []struct {
		name string
		raw  []byte
		want []tls.CurveID
	}{
		{"chrony (GnuTLS)", chrony, []tls.CurveID{tls.CurveP256, tls.X25519}},
		{"go default", hybridHello, []tls.CurveID{tls.X25519MLKEM768, tls.X25519}},
		{"go x25519", goHello(t, []tls.CurveID{tls.X25519, tls.CurveP256}), []tls.CurveID{tls.X25519}},
		{"go p256", goHello(t, []tls.CurveID{tls.CurveP256}), []tls.CurveID{tls.CurveP256}},
		{"in 100-byte records", refragment(hybridHello, 100), []tls.CurveID{tls.X25519MLKEM768, tls.X25519}},
		{"in 1-byte records", refragment(chrony, 1), []tls.CurveID{tls.CurveP256, tls.X25519}},
		{"and more after it", append(bytes.Clone(chrony), 21, 3, 3, 0, 2, 1, 0), []tls.CurveID{tls.CurveP256, tls.X25519}},
		{"truncated", chrony[:len(chrony)-7], nil}, // the capture ends with a 6-byte ChangeCipherSpec record
		{"truncated record", refragment(chrony, 100)[:150], nil},
		{"not handshake", append([]byte{23}, chrony[1:]...), nil},
		{"not client_hello", append(append([]byte{}, chrony[:5]...), append([]byte{2}, chrony[6:]...)...), nil},
		{"empty", nil, nil},
	} {
		if got := helloKeyShares(c.raw); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// configFor answers chrony's ClientHello with P-256 only (it sent that share), and leaves Go's alone.
func TestConfigFor(t *testing.T) {
	chrony, err := os.ReadFile(chronyHello)
	if err != nil {
		t.Fatal(err)
	}
	hybridOnly, p256Only := &tls.Config{}, &tls.Config{}
	all := []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}
	for _, c := range []struct {
		name      string
		pq        bool
		hello     []byte
		supported []tls.CurveID
		want      *tls.Config
	}{
		{"chrony", false, chrony, []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.X25519}, p256Only},
		{"chrony, post-quantum server", true, chrony, []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.X25519}, p256Only},
		{"go default", false, goHello(t, nil), all, nil},
		{"go default, post-quantum server", true, goHello(t, nil), all, nil},
		{"hybrid only", false, goHello(t, []tls.CurveID{tls.X25519MLKEM768}), []tls.CurveID{tls.X25519MLKEM768}, hybridOnly},
		{"unparsed hello", false, chrony[:20], []tls.CurveID{tls.CurveP256, tls.X25519}, nil},
	} {
		s := &Server{cfg: Config{PreferClassical: !c.pq}}
		cc := &corkConn{recording: true, hello: c.hello}
		got := s.configFor(&tls.ClientHelloInfo{SupportedCurves: c.supported, Conn: cc}, hybridOnly, p256Only)
		if got != c.want {
			t.Errorf("%s: config %p, want %p (hybrid-only %p, P-256-only %p)", c.name, got, c.want, hybridOnly, p256Only)
		}
		if cc.hello != nil || cc.recording {
			t.Errorf("%s: hello still recorded", c.name)
		}
	}
}

func FuzzHelloKeyShares(f *testing.F) {
	chrony, err := os.ReadFile(chronyHello)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chrony)
	f.Add(refragment(chrony, 7))
	f.Add(goHello(f, nil))
	f.Add(goHello(f, []tls.CurveID{tls.CurveP256}))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		groups := helloKeyShares(raw)
		// Each share takes at least 4 bytes of the input beyond the headers.
		if 4*len(groups) > len(raw) {
			t.Fatalf("%d groups from %d bytes", len(groups), len(raw))
		}
	})
}
