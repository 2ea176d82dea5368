package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned makes a self-signed ECDSA P-256 certificate for 127.0.0.1 (IP SAN, which chrony and
// our client check when the server is named by address) and writes it and its key as PEM into dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	// chronyd reads both after dropping root to its own user: this throwaway key must be readable.
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// freeLoopbackPort returns a port free for both TCP and UDP on 127.0.0.1 at the time of the call.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		ln.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

// startChronyNTSServer runs chronyd -x (it never touches the clock) as a stratum-1 NTS server on
// loopback: NTS-KE on one port, NTP on another, our self-signed certificate. It returns the ports and
// the certificate file, once NTS-KE accepts connections.
func startChronyNTSServer(t *testing.T) (kePort, ntpPort int, certFile string) {
	t.Helper()
	chronyd := requireTool(t, "chronyd")
	dir := chronyDir(t)
	certFile, keyFile := writeSelfSigned(t, dir)
	kePort, ntpPort = freeLoopbackPort(t), freeLoopbackPort(t)
	cfg := fmt.Sprintf(`ntsserverkey %s
ntsservercert %s
ntsport %d
port %d
bindaddress 127.0.0.1
cmdport 0
allow 127.0.0.1
local stratum 1
pidfile %s/chronyd.pid
`, keyFile, certFile, kePort, ntpPort, dir)
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, chronyd, "-x", "-d", "-f", conf)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("chronyd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(kePort), time.Second)
		if err == nil {
			c.Close()
			return kePort, ntpPort, certFile
		}
		select {
		case <-done:
			t.Fatalf("chronyd exited at start:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronyd's NTS-KE did not listen on %d:\n%s", kePort, out.String())
		}
	}
}

// TestQueryChronyNTS: gpsntpctl query against chronyd as an NTS server: TLS 1.3 NTS-KE verified against
// the certificate chrony serves (IP SAN 127.0.0.1), port negotiation to chrony's NTP port, authenticated
// samples with fresh cookies; and plain NTP against the same chronyd.
func TestQueryChronyNTS(t *testing.T) {
	requireQuery(t)
	kePort, ntpPort, certFile := startChronyNTSServer(t)
	ke := "127.0.0.1:" + strconv.Itoa(kePort)
	ntpAddr := "127.0.0.1:" + strconv.Itoa(ntpPort)

	q, code, stderr := runCtlQuery(t, "-nts", "-ca", certFile, "-n", "3", "-interval", "100ms", ke)
	if code != 0 || q.NTS == nil {
		t.Fatalf("NTS: exit %d, %+v\n%s", code, q, stderr)
	}
	// chrony 4.3 implements AEAD 15 only for NTS; later versions may choose 30 (with record 1024).
	if q.Server != ntpAddr || q.NTS.CookiesFromKE != 8 || q.NTS.Handshakes != 1 || q.NTS.NAKs != 0 ||
		(q.NTS.AEADID != 15 && !(q.NTS.AEADID == 30 && q.NTS.Compliant128GCM)) {
		t.Errorf("NTS %+v, server %s; want chrony's NTP at %s", *q.NTS, q.Server, ntpAddr)
	}
	checkQuerySamples(t, q, 3, true)

	// Only AES-SIV-CMAC-512 offered: chrony 4.3 does not implement it and refuses, and the query says
	// so instead of falling back to another algorithm; a chrony that has it must use it.
	if q17, code, stderr := runCtlQuery(t, "-nts", "-ca", certFile, "-aead", "17", ke); (code == 0 && q17.NTS.AEADID != 17) ||
		(code != 0 && (code != 1 || !strings.Contains(stderr, "refused"))) {
		t.Errorf("AEAD 17 only: exit %d, %+v, %s", code, q17.NTS, stderr)
	}

	q, code, stderr = runCtlQuery(t, "-n", "2", "-interval", "100ms", ntpAddr)
	if code != 0 || q.NTS != nil {
		t.Fatalf("plain: exit %d, %+v\n%s", code, q, stderr)
	}
	checkQuerySamples(t, q, 2, false)
}
