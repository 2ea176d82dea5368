package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

func TestOffsetDelay(t *testing.T) {
	sec := func(s float64) timebase.NTPTime { return timebase.NTPTime(int64(s * (1 << 32))) }
	base := timebase.Date(2026, 11, 22, 7, 0, 0, 0).NTP()
	// The NTP era rolls over at 2036-02-07T06:28:16Z: timestamps just before it are near 2^64.
	roll := timebase.Date(2036, 2, 7, 6, 28, 15, 900_000_000).NTP()
	for _, tc := range []struct {
		name           string
		t1, t2, t3, t4 timebase.NTPTime
		offset, delay  float64
	}{
		{"equal clocks", base, base + sec(0.010), base + sec(0.011), base + sec(0.021), 0, 0.020},
		{"server 1.5 s ahead", base, base + sec(1.510), base + sec(1.511), base + sec(0.021), 1.5, 0.020},
		{"server 2 s behind", base, base - sec(1.990), base - sec(1.989), base + sec(0.021), -2, 0.020},
		{"across the era rollover", roll, roll + sec(0.150), roll + sec(0.151), roll + sec(0.201), 0.05, 0.2},
		{"server past rollover, client before", roll, roll + sec(100.010), roll + sec(100.011), roll + sec(0.021), 100, 0.020},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, del := offsetDelay(tc.t1, tc.t2, tc.t3, tc.t4)
			if math.Abs(off-tc.offset) > 1e-9 || math.Abs(del-tc.delay) > 1e-9 {
				t.Errorf("offset %.9f delay %.9f, want %.9f %.9f", off, del, tc.offset, tc.delay)
			}
		})
	}
}

func TestQueryFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr; "" means the flags are accepted
	}{
		{[]string{"127.0.0.1"}, ""},
		{[]string{"-nts", "-ke-port", "4460", "127.0.0.1:4460"}, ""},
		{[]string{"-nts", "-insecure-pin", strings.Repeat("ab:", 31) + "ab", "[::1]:4460"}, ""},
		{[]string{}, "exactly one HOST"},
		{[]string{"a", "b"}, "exactly one HOST"},
		{[]string{"127.0.0.1:0"}, "port 1..65535"},
		{[]string{"127.0.0.1:x"}, "port 1..65535"},
		{[]string{"-port", "70000", "h"}, "flag -port"},
		{[]string{"-port", "124", "h:123"}, "contradicts"},
		{[]string{"-n", "0", "h"}, "flag -n"},
		{[]string{"-n", "101", "h"}, "flag -n"},
		{[]string{"-timeout", "0s", "h"}, "flag -timeout"},
		{[]string{"-timeout", "1h", "h"}, "flag -timeout"},
		{[]string{"-interval", "-1s", "h"}, "flag -interval"},
		{[]string{"-ca", "x.pem", "h"}, "need -nts"},
		{[]string{"-nts", "-ca", "x.pem", "-insecure-pin", strings.Repeat("00", 32), "h"}, "not both"},
		{[]string{"-nts", "-insecure-pin", "abcd", "h"}, "SHA-256 has 32"},
		{[]string{"-nts", "-insecure-pin", strings.Repeat("zz", 32), "h"}, "not hex"},
		{[]string{"-nts", "-aead", "15,16", "h"}, "AEAD 16 is not supported"},
		{[]string{"-nts", "-aead", "", "h"}, "not an AEAD number"},
	} {
		var stderr bytes.Buffer
		_, code := parseQueryFlags(tc.args, &stderr)
		if tc.want == "" {
			if code >= 0 {
				t.Errorf("%q: exit %d: %s", tc.args, code, stderr.String())
			}
			continue
		}
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	var out bytes.Buffer
	if code := runQuery([]string{"-h"}, &out, &out); code != 0 || !strings.Contains(out.String(), "HOST[:PORT]") {
		t.Errorf("-h: exit %d, %q", code, out.String())
	}
}

// fakeNTP is a loopback UDP server whose answers a test scripts: answer returns the datagrams to send
// back for one request (none: stay silent).
type fakeNTP struct {
	conn *net.UDPConn
	seen atomic.Int32
}

func startFakeNTP(t *testing.T, answer func(req []byte, rx timebase.Instant) [][]byte) *fakeNTP {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNTP{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f.seen.Add(1)
			for _, out := range answer(append([]byte(nil), buf[:n]...), timebase.FromTime(time.Now())) {
				c.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

func (f *fakeNTP) addr() string { return f.conn.LocalAddr().String() }

// serverReply builds a mode-4 reply to req from a server whose clock is skew ahead of ours.
func serverReply(req []byte, rx timebase.Instant, skew time.Duration, edit func(*wire.Header)) []byte {
	var q wire.Header
	if q.Unmarshal(req) != nil {
		return nil
	}
	h := wire.Header{
		Version: 4, Mode: wire.ModeServer, Stratum: 1, Poll: q.Poll, Precision: -20,
		RefID: timebase.RefIDFromString("GPS"), RootDelay: timebase.ShortFromDuration(0),
		RootDispersion: timebase.ShortFromDuration(250 * time.Microsecond),
		ReferenceTime:  rx.Add(skew).Truncate(time.Second).NTP(), OriginTime: q.TransmitTime,
		ReceiveTime: rx.Add(skew).NTP(), TransmitTime: timebase.FromTime(time.Now()).Add(skew).NTP(),
	}
	if edit != nil {
		edit(&h)
	}
	b := make([]byte, wire.HeaderLen)
	h.Marshal(b)
	return b
}

func kiss(req []byte, code string) []byte {
	return serverReply(req, 0, 0, func(h *wire.Header) {
		h.Stratum, h.Leap, h.RefID = 0, timebase.LeapUnsync, timebase.RefIDFromString(code)
		h.ReceiveTime, h.TransmitTime, h.ReferenceTime = 0, 0, 0
	})
}

func runQueryJSON(t *testing.T, args ...string) (queryReport, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runQuery(append([]string{"-json"}, args...), &stdout, &stderr)
	var rep queryReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
		}
	}
	return rep, code, stderr.String()
}

func TestQueryPlain(t *testing.T) {
	const skew = 1500 * time.Millisecond
	var mode atomic.Value
	mode.Store("ok")
	f := startFakeNTP(t, func(req []byte, rx timebase.Instant) [][]byte {
		switch mode.Load().(string) {
		case "spoof-first": // a forged reply with another origin, then the real one
			forged := serverReply(req, rx, -time.Hour, func(h *wire.Header) { h.OriginTime++ })
			return [][]byte{forged, []byte("junk"), serverReply(req, rx, skew, nil)}
		case "silent":
			return nil
		case "RATE", "DENY":
			return [][]byte{kiss(req, mode.Load().(string))}
		case "unsync":
			return [][]byte{serverReply(req, rx, skew, func(h *wire.Header) { h.Leap, h.Stratum, h.RefID = timebase.LeapUnsync, 16, timebase.RefID{} })}
		case "stratum2":
			return [][]byte{serverReply(req, rx, skew, func(h *wire.Header) { h.Stratum, h.RefID = 2, timebase.RefID{192, 0, 2, 1} })}
		}
		return [][]byte{serverReply(req, rx, skew, nil)}
	})

	checkSample := func(t *testing.T, rep queryReport) *querySample {
		t.Helper()
		if rep.Best < 0 || rep.Attempts[rep.Best].Sample == nil {
			t.Fatalf("no sample: %+v", rep)
		}
		s := rep.Attempts[rep.Best].Sample
		// The fake's clock is skew ahead; the offset is exact up to half the round trip.
		if math.Abs(s.OffsetS-skew.Seconds()) > s.DelayS/2+1e-4 || s.DelayS < 0 || s.DelayS > 0.5 {
			t.Errorf("offset %g s, delay %g s; want %g s", s.OffsetS, s.DelayS, skew.Seconds())
		}
		return s
	}

	t.Run("ok", func(t *testing.T) {
		mode.Store("ok")
		rep, code, stderr := runQueryJSON(t, "-n", "3", "-interval", "1ms", f.addr())
		if code != 0 || len(rep.Attempts) != 3 || rep.NTS != nil || rep.Server != f.addr() {
			t.Fatalf("exit %d, %+v, %s", code, rep, stderr)
		}
		s := checkSample(t, rep)
		if s.Stratum != 1 || s.RefID != "GPS" || s.Leap != timebase.LeapNone.String() || s.Version != 4 || s.Precision != -20 ||
			math.Abs(s.RootDispersionS-250e-6) > 20e-6 || s.Authenticated || s.ReferenceTime == "" {
			t.Errorf("sample %+v", s)
		}
	})
	t.Run("human", func(t *testing.T) {
		mode.Store("ok")
		var out, errb bytes.Buffer
		if code := runQuery([]string{f.addr()}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		for _, want := range []string{"server " + f.addr(), "#1  offset +1.50", "stratum 1  refid GPS", "lowest-delay sample of 1"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("forged and junk replies are skipped", func(t *testing.T) {
		mode.Store("spoof-first")
		rep, code, stderr := runQueryJSON(t, f.addr())
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		checkSample(t, rep)
	})
	t.Run("unsynchronized server", func(t *testing.T) {
		mode.Store("unsync")
		var out, errb bytes.Buffer
		if code := runQuery([]string{f.addr()}, &out, &errb); code != 0 || !strings.Contains(out.String(), "NOT synchronized") || !strings.Contains(out.String(), "refid -") {
			t.Errorf("exit %d:\n%s%s", code, out.String(), errb.String())
		}
	})
	t.Run("stratum 2 refid is an address", func(t *testing.T) {
		mode.Store("stratum2")
		rep, _, _ := runQueryJSON(t, f.addr())
		if s := checkSample(t, rep); s.RefID != "192.0.2.1" {
			t.Errorf("refid %q", s.RefID)
		}
	})
	t.Run("RATE", func(t *testing.T) {
		mode.Store("RATE")
		rep, code, stderr := runQueryJSON(t, "-n", "2", "-interval", "1ms", f.addr())
		if code != 1 || len(rep.Attempts) != 2 || rep.Attempts[0].Kiss != "RATE" || rep.Best != -1 || !strings.Contains(stderr, "RATE") {
			t.Errorf("exit %d, %+v, %s", code, rep, stderr)
		}
	})
	t.Run("DENY stops", func(t *testing.T) {
		mode.Store("DENY")
		before := f.seen.Load()
		rep, code, _ := runQueryJSON(t, "-n", "5", "-interval", "1ms", f.addr())
		if code != 1 || len(rep.Attempts) != 1 || rep.Attempts[0].Kiss != "DENY" || f.seen.Load()-before != 1 {
			t.Errorf("exit %d, %+v, %d requests", code, rep, f.seen.Load()-before)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		mode.Store("silent")
		start := time.Now()
		rep, code, stderr := runQueryJSON(t, "-timeout", "200ms", f.addr())
		if code != 1 || rep.Best != -1 || !strings.Contains(stderr, "no valid reply") || time.Since(start) > 5*time.Second {
			t.Errorf("exit %d, %+v, %s", code, rep, stderr)
		}
	})
}

// ntsFixture is an in-process NTS server: the real NTS-KE edge and a UDP responder over the real
// processor, answering as a stratum-1 server from the host clock.
type ntsFixture struct {
	proc    *nts.Processor
	ke      *ntske.Server
	kePort  string
	caFile  string
	fp      string
	ntp     *fakeNTP
	tamper  atomic.Value // string: "", "unauth" (strip the authenticator), "rekey-after-1"
	handled atomic.Int32
}

func startNTSFixture(t *testing.T) *ntsFixture {
	t.Helper()
	fx := &ntsFixture{}
	fx.tamper.Store("")
	var err error
	if fx.proc, err = nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, freshKeySet()); err != nil {
		t.Fatal(err)
	}
	fx.ntp = startFakeNTP(t, fx.answer)
	dir := t.TempDir()
	fx.ke, err = ntske.New(ntske.Config{
		StateDir: dir, Hosts: []string{"localhost"}, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Processor: fx.proc, Rand: rand.Reader, Rate: 1000, Burst: 100,
		KE: nts.KEConfig{NTPPort: uint16(fx.ntp.conn.LocalAddr().(*net.UDPAddr).Port)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fx.ke.Serve(ln) }()
	t.Cleanup(func() {
		fx.ke.Close()
		if err := <-done; !errors.Is(err, ntske.ErrServerClosed) {
			t.Errorf("NTS-KE Serve: %v", err)
		}
	})
	fx.kePort = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	fx.caFile = filepath.Join(dir, ntske.SelfSignedCertFile)
	sum := fx.ke.Certificate().SHA256
	fx.fp = hex.EncodeToString(sum[:])
	return fx
}

func (fx *ntsFixture) answer(req []byte, rx timebase.Instant) [][]byte {
	n := fx.handled.Add(1)
	if fx.tamper.Load() == "rekey-after-1" && n == 2 {
		fx.proc.SetKeys(freshKeySet()) // the cookies handed out so far stop opening
	}
	x, v := fx.proc.Open(req)
	defer fx.proc.Release(x)
	resp := make([]byte, 2048)
	switch v {
	case nts.NotNTS:
		return [][]byte{serverReply(req, rx, 0, nil)}
	case nts.Authentic:
		h := serverReply(req, rx, 0, nil)
		copy(resp, h)
		out, err := x.Reply(resp, wire.HeaderLen)
		if err != nil {
			return nil
		}
		if fx.tamper.Load() == "unauth" {
			return [][]byte{h} // the header alone: an unauthenticated answer to an NTS request
		}
		return [][]byte{resp[:out]}
	case nts.NAK:
		copy(resp, kiss(req, "NTSN"))
		out, err := x.AppendNAK(resp, wire.HeaderLen)
		if err != nil {
			return nil
		}
		return [][]byte{resp[:out]}
	}
	return nil
}

// freshKeySet makes new master keys; it panics only if crypto/rand fails.
func freshKeySet() *nts.KeySet {
	ks, err := nts.NewKeySet(nts.KeyPolicy{}, timebase.FromTime(time.Now()), rand.Reader)
	if err != nil {
		panic(err)
	}
	return ks
}

func TestQueryNTS(t *testing.T) {
	fx := startNTSFixture(t)
	ke := "127.0.0.1:" + fx.kePort
	ntpAddr := fx.ntp.addr()

	t.Run("ca", func(t *testing.T) {
		for _, aead := range []string{"15", "17", "30"} {
			fx.tamper.Store("")
			rep, code, stderr := runQueryJSON(t, "-nts", "-ca", fx.caFile, "-aead", aead, "-n", "3", "-interval", "1ms", ke)
			if code != 0 || rep.NTS == nil || rep.Server != ntpAddr {
				t.Fatalf("AEAD %s: exit %d, %+v, %s", aead, code, rep, stderr)
			}
			n := rep.NTS
			if strconv.Itoa(n.AEADID) != aead || n.CookiesFromKE != nts.MaxCookies || n.Handshakes != 1 || n.NAKs != 0 || n.CertSHA256 != fx.fp {
				t.Errorf("AEAD %s: NTS %+v", aead, n)
			}
			if aead == "30" && !n.Compliant128GCM {
				t.Errorf("AEAD 30 without record 1024")
			}
			for i, a := range rep.Attempts {
				if a.Sample == nil || !a.Sample.Authenticated || a.Sample.CookiesReceived != 1 || a.Sample.Stratum != 1 {
					t.Errorf("AEAD %s attempt %d: %+v", aead, i, a)
				}
			}
		}
	})
	t.Run("pin", func(t *testing.T) {
		fx.tamper.Store("")
		var out, errb bytes.Buffer
		if code := runQuery([]string{"-nts", "-insecure-pin", fx.fp, ke}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		for _, want := range []string{"NTS via " + ke, "AEAD_AES_SIV_CMAC_256", "8 cookies", "authenticated, 1 new cookie(s)", fx.fp} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("wrong pin", func(t *testing.T) {
		wrong := sha256.Sum256([]byte("another certificate"))
		_, code, stderr := runQueryJSON(t, "-nts", "-insecure-pin", hex.EncodeToString(wrong[:]), ke)
		if code != 1 || !strings.Contains(stderr, "does not match -insecure-pin") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, code, stderr := runQueryJSON(t, "-nts", ke) // system roots do not know the self-signed certificate
		if code != 1 || !strings.Contains(stderr, "certificate") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("NAK then NTS-KE again", func(t *testing.T) {
		fx.tamper.Store("rekey-after-1")
		fx.handled.Store(0)
		rep, code, stderr := runQueryJSON(t, "-nts", "-ca", fx.caFile, "-n", "3", "-interval", "1ms", ke)
		fx.tamper.Store("")
		if code != 0 || rep.NTS.NAKs != 1 || rep.NTS.Handshakes != 2 || len(rep.Attempts) != 3 {
			t.Fatalf("exit %d, %+v, %s", code, rep, stderr)
		}
		for i, a := range rep.Attempts {
			if a.Sample == nil || !a.Sample.Authenticated {
				t.Errorf("attempt %d: %+v", i, a)
			}
		}
	})
	t.Run("unauthenticated reply is not used", func(t *testing.T) {
		fx.tamper.Store("unauth")
		rep, code, stderr := runQueryJSON(t, "-nts", "-ca", fx.caFile, "-timeout", "300ms", ke)
		fx.tamper.Store("")
		if code != 1 || rep.Best != -1 || !strings.Contains(stderr, "unauthenticated") {
			t.Errorf("exit %d, %+v, %s", code, rep, stderr)
		}
	})
	t.Run("plain query of the same server", func(t *testing.T) {
		rep, code, stderr := runQueryJSON(t, ntpAddr)
		if code != 0 || rep.NTS != nil || rep.Attempts[0].Sample.Authenticated {
			t.Errorf("exit %d, %+v, %s", code, rep, stderr)
		}
	})
}
