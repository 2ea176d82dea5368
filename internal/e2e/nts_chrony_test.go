package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// ntsResponder is a minimal NTP server over the real NTS processor: it answers as a stratum-1 server from
// the host clock, exactly in the order the ntpserve hook will (header with the transmit timestamp first,
// then Exchange.Reply over it). It stands in for gpsntpd until the daemon wires NTS, so that the NTS layers
// (KE edge, cookies, AEAD, extension fields) meet a real client now.
type ntsResponder struct {
	conn   *net.UDPConn
	proc   *nts.Processor
	before func() // called before each request, on the responder's goroutine
	done   chan struct{}
}

func startNTSResponder(t *testing.T, proc *nts.Processor, before func()) *ntsResponder {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &ntsResponder{conn: c, proc: proc, before: before, done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

func (r *ntsResponder) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *ntsResponder) run() {
	defer close(r.done)
	req := make([]byte, 2048)
	resp := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(req)
		if err != nil {
			return
		}
		rx := timebase.FromTime(time.Now())
		if r.before != nil {
			r.before()
		}
		var q wire.Header
		if q.Unmarshal(req[:n]) != nil || q.Mode != wire.ModeClient {
			continue
		}
		x, v := r.proc.Open(req[:n])
		h := wire.Header{
			Version: q.Version, Mode: wire.ModeServer, Stratum: 1, Poll: q.Poll, Precision: -20,
			RefID: timebase.RefIDFromString("GPS"), ReferenceTime: rx.NTP(), OriginTime: q.TransmitTime,
			ReceiveTime: rx.NTP(), RootDispersion: timebase.ShortFromDuration(10 * time.Microsecond),
		}
		out := 0
		switch v {
		case nts.NotNTS, nts.Authentic:
			h.TransmitTime = timebase.FromTime(time.Now()).NTP()
			h.Marshal(resp)
			out = wire.HeaderLen
			if v == nts.Authentic {
				out, err = x.Reply(resp, wire.HeaderLen)
			}
		case nts.NAK:
			h = wire.Header{Leap: timebase.LeapUnsync, Version: q.Version, Mode: wire.ModeServer, RefID: timebase.RefIDFromString("NTSN"),
				OriginTime: q.TransmitTime, ReceiveTime: q.TransmitTime, TransmitTime: q.TransmitTime}
			h.Marshal(resp)
			out, err = x.AppendNAK(resp, wire.HeaderLen)
		}
		r.proc.Release(x)
		if out > 0 && err == nil && out <= n {
			r.conn.WriteToUDPAddrPort(resp[:out], from)
		}
	}
}

func newProcessor(t *testing.T) *nts.Processor {
	t.Helper()
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, timebase.FromTime(time.Now()), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	if err != nil {
		t.Fatal(err)
	}
	return proc
}

// startNTSKE runs the real NTS-KE edge on loopback with a self-signed certificate in dir, sealing cookies
// with proc's keys and announcing ntpPort. It returns the server and its port.
func startNTSKE(t *testing.T, dir string, proc *nts.Processor, ntpPort int, aeads []nts.AlgorithmID) (*ntske.Server, string) {
	t.Helper()
	srv, err := ntske.New(ntske.Config{
		StateDir: dir, Hosts: []string{"localhost"}, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Processor: proc, Rand: rand.Reader, KE: nts.KEConfig{AEADs: aeads, NTPPort: uint16(ntpPort)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// chronyd reads the certificate after dropping root privileges.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ntske.ErrServerClosed) {
			t.Errorf("NTS-KE Serve: %v", err)
		}
	})
	return srv, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// runChronyNTS runs chronyd -Q as an NTS client against the KE server on kePort; the NTP port comes from
// the server's NTPv4 Port Negotiation record (the configuration names none).
func runChronyNTS(t *testing.T, dir, kePort, certFile, extra string) ([]chronyMeasurement, string) {
	t.Helper()
	chronyd := requireTool(t, "chronyd")
	cfg := fmt.Sprintf(`server 127.0.0.1 iburst nts ntsport %s minpoll -2 maxpoll -2 maxsamples 6
ntstrustedcerts %s
nosystemcert
%s
log measurements
logdir %s
cmdport 0
pidfile %s/x.pid
`, kePort, certFile, extra, dir, dir)
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chronyd, "-Q", "-t", "20", "-f", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd -Q: %v\n%s", err, out)
	}
	ms, err := parseChronyMeasurements(filepath.Join(dir, "measurements.log"))
	if err != nil {
		t.Fatalf("reading chronyd measurements: %v\n%s", err, out)
	}
	return ms, strings.TrimSpace(string(out))
}

func chronyDir(t *testing.T) string {
	t.Helper()
	// chronyd drops root privileges to its own user: it needs a directory it can reach.
	dir, err := os.MkdirTemp("", "gpsntp-nts-chrony")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestChronyNTSClient: chronyd as an NTS client gets keys and cookies from our NTS-KE edge (TLS 1.3,
// pinned self-signed certificate, IP SAN checked, port negotiation), then takes authenticated samples
// from a responder running our processor. chrony discards unauthenticated replies to NTS requests, so
// each sample in its log passed our authenticator.
func TestChronyNTSClient(t *testing.T) {
	requireTool(t, "chronyd")
	dir := chronyDir(t)
	keDir := filepath.Join(dir, "ke")
	proc := newProcessor(t)
	resp := startNTSResponder(t, proc, nil)
	srv, kePort := startNTSKE(t, keDir, proc, resp.port(), nil)

	ms, out := runChronyNTS(t, dir, kePort, filepath.Join(keDir, ntske.SelfSignedCertFile), "")
	t.Logf("chronyd: %s", out)
	if len(ms) == 0 {
		t.Fatalf("chronyd recorded no authenticated sample; KE stats %+v, NTS stats %+v\n%s", srv.Stats(), proc.Stats(), out)
	}
	for _, m := range ms {
		if m.stratum != 1 {
			t.Errorf("chronyd saw stratum %d", m.stratum)
		}
	}
	st, pst := srv.Stats(), proc.Stats()
	t.Logf("KE %+v; NTS %+v", st, pst)
	if st.Served != 1 || pst.Authentic < uint64(len(ms)) || pst.NAKAuth+pst.NAKCookie+pst.DropLayout != 0 {
		t.Errorf("KE served %d, NTS authentic %d for %d samples (NAKs %d/%d, drops %d)", st.Served, pst.Authentic, len(ms), pst.NAKAuth, pst.NAKCookie, pst.DropLayout)
	}
}

// TestChronyNTSNAK: when the server's master keys change under chrony (as after a lost key file), chrony's
// cookies stop opening; our NTS NAK makes chrony run NTS-KE again, and it goes on with fresh cookies.
func TestChronyNTSNAK(t *testing.T) {
	requireTool(t, "chronyd")
	dir := chronyDir(t)
	keDir := filepath.Join(dir, "ke")
	proc := newProcessor(t)
	swapped := false
	resp := startNTSResponder(t, proc, func() {
		if !swapped && proc.Stats().Authentic == 2 {
			swapped = true
			ks, err := nts.NewKeySet(nts.KeyPolicy{}, timebase.FromTime(time.Now()), rand.Reader)
			if err != nil {
				panic(err)
			}
			proc.SetKeys(ks)
		}
	})
	srv, kePort := startNTSKE(t, keDir, proc, resp.port(), nil)
	ms, out := runChronyNTS(t, dir, kePort, filepath.Join(keDir, ntske.SelfSignedCertFile), "")
	st, pst := srv.Stats(), proc.Stats()
	t.Logf("chronyd: %s\nKE %+v; NTS %+v; %d samples", out, st, pst, len(ms))
	if pst.NAKCookie == 0 || st.Served < 2 || pst.Authentic <= 2 {
		t.Errorf("no NAK-driven re-key: KE served %d, NAKs %d, authentic %d", st.Served, pst.NAKCookie, pst.Authentic)
	}
}
