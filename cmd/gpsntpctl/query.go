package main

// gpsntpctl query is an NTP client of its own: one or a few client-mode (mode 3) exchanges with any NTPv4
// server, plain or authenticated with NTS (RFC 8915). It sets no clock; it reports what it measured.
//
// The four timestamps of an exchange (RFC 5905 section 8):
//
//	client  T1 ----------------------------> T2  server
//	        T4 <---------------------------- T3
//
//	offset = ((T2 - T1) + (T3 - T4)) / 2     how far the server's clock is ahead of ours
//	delay  = (T4 - T1) - (T3 - T2)           the round trip, minus the server's own processing
//
// T1 and T4 are ours: T1 is read from the wall clock just before sending and T4 is T1 plus the monotonic
// time elapsed, so a step of the local clock during the exchange cannot make the delay negative. The
// request's transmit field carries 64 random bits instead of T1 (RFC 9109 data minimisation, as chrony
// does): the server echoes it as origin, which both hides our clock and matches the reply to the request;
// a reply whose origin differs is ignored, not trusted. Differences of NTP timestamps are taken modulo
// 2^64 as signed 64-bit fractions of a second, so they stay right across an NTP era rollover (2036).
//
// With -nts, NTS-KE runs first over TLS 1.3 (ALPN ntske/1): the server's certificate is verified against
// -ca (a PEM bundle) or, with -insecure-pin, only compared with a SHA-256 fingerprint (the one /api/nts
// shows), or against the system roots. The exported keys then authenticate each NTP request, which carries
// a Unique Identifier, a cookie and placeholders asking for enough fresh cookies to keep eight. A reply
// must echo the identifier and verify under the server-to-client key; anything else is discarded. An NTS
// NAK (a kiss with code NTSN) means the cookie was refused: the client runs NTS-KE again (at most twice
// per query) and retries.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// Bounds of a query, so that it always ends.
const (
	queryMaxCount    = 100
	queryMaxTimeout  = 30 * time.Second
	queryMaxKERedos  = 2                 // NTS-KE handshakes after the first, on NAK or lack of cookies
	queryMaxReply    = 2048              // bytes read per datagram; a larger reply is truncated and fails
	queryCookiesWant = nts.MaxCookies    // cookies the client keeps in hand
	queryMaxInterval = 60 * time.Second  // between samples
	queryDefaultKE   = nts.DefaultKEPort // 4460
)

// queryOptions are the parsed flags of gpsntpctl query.
type queryOptions struct {
	host     string
	port     int // NTP port; 0: 123, or what NTS-KE announced
	kePort   int // NTS-KE port (-nts)
	nts      bool
	caFile   string
	pin      []byte // SHA-256 of the leaf certificate's DER
	aeads    []nts.AlgorithmID
	count    int
	interval time.Duration
	timeout  time.Duration
	json     bool
}

// querySample is one exchange as gpsntpctl query reports it.
type querySample struct {
	OffsetS         float64 `json:"offset_s"`
	DelayS          float64 `json:"delay_s"`
	Stratum         int     `json:"stratum"`
	RefID           string  `json:"refid"`
	Leap            string  `json:"leap"`
	LeapIndicator   int     `json:"leap_indicator"`
	Version         int     `json:"version"`
	Poll            int     `json:"poll"`
	Precision       int     `json:"precision"`
	RootDelayS      float64 `json:"root_delay_s"`
	RootDispersionS float64 `json:"root_dispersion_s"`
	ReferenceTime   string  `json:"reference_time,omitempty"`
	ServerTime      string  `json:"server_time"` // T3
	Authenticated   bool    `json:"authenticated"`
	CookiesReceived int     `json:"cookies_received,omitempty"`
}

// queryNTS is what NTS-KE negotiated, and how the session went.
type queryNTS struct {
	KEServer        string `json:"ke_server"`
	CertSHA256      string `json:"cert_sha256"`
	AEAD            string `json:"aead"`
	AEADID          int    `json:"aead_id"`
	Compliant128GCM bool   `json:"compliant_128gcm"`
	CookiesFromKE   int    `json:"cookies_from_ke"`
	Handshakes      int    `json:"handshakes"`
	NAKs            int    `json:"naks"`
}

// queryAttempt is one request: a sample, or why there is none.
type queryAttempt struct {
	Sample *querySample `json:"sample,omitempty"`
	Kiss   string       `json:"kiss,omitempty"` // kiss code of a Kiss-o'-Death reply (RATE, DENY, RSTR, NTSN...)
	Error  string       `json:"error,omitempty"`
}

// queryReport is the whole result; -json prints it as is.
type queryReport struct {
	Server   string         `json:"server"` // the NTP server address queried
	NTS      *queryNTS      `json:"nts,omitempty"`
	Attempts []queryAttempt `json:"attempts"`
	Best     int            `json:"best"` // index in attempts of the sample with the lowest delay; -1: none
}

func runQuery(args []string, stdout, stderr io.Writer) int {
	o, code := parseQueryFlags(args, stderr)
	if code >= 0 {
		return code
	}
	// Everything the query does is bounded by this deadline: KE handshakes, every request, the waits.
	limit := time.Duration(o.count)*(o.timeout+o.interval) + time.Duration(1+queryMaxKERedos)*o.timeout
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	rep, err := query(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl query: %v\n", err)
		if rep == nil {
			return 1
		}
	}
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printQuery(stdout, rep)
	}
	if rep.Best < 0 {
		return 1
	}
	return 0
}

// parseQueryFlags returns the options, or an exit code (>= 0) when the command should stop here.
func parseQueryFlags(args []string, stderr io.Writer) (queryOptions, int) {
	fs := flag.NewFlagSet("gpsntpctl query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	useNTS := fs.Bool("nts", false, "authenticate with NTS: NTS-KE over TLS 1.3 first, then authenticated NTP")
	ca := fs.String("ca", "", "PEM `file` of certificates to trust for NTS-KE (default: the system roots)")
	pin := fs.String("insecure-pin", "", "accept the NTS-KE certificate whose DER has this SHA-256 (hex, as /api/nts shows) instead of verifying it")
	port := fs.Int("port", 0, "NTP port (default 123; with -nts the port NTS-KE announces)")
	kePort := fs.Int("ke-port", 0, "NTS-KE port (default 4460)")
	aeads := fs.String("aead", "15,30,17", "NTS: AEAD algorithms to offer, in order of preference (15 AES-SIV-CMAC-256, 17 AES-SIV-CMAC-512, 30 AES-128-GCM-SIV)")
	count := fs.Int("n", 1, fmt.Sprintf("number of requests (1..%d)", queryMaxCount))
	interval := fs.Duration("interval", time.Second, "time between requests")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for each reply and for NTS-KE")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: gpsntpctl query [-nts] [-ca FILE | -insecure-pin SHA256] [-port P] [-ke-port P] [-n COUNT] [-json] HOST[:PORT]\n\n"+
			"Asks an NTP server for the time, without setting any clock, and prints offset (server minus local\n"+
			"clock), round-trip delay, stratum, reference ID, leap indicator and root delay/dispersion.\n"+
			"With -nts the exchange is authenticated (RFC 8915) and the negotiated AEAD and the cookies are shown.\n"+
			"PORT is the NTP port, or with -nts the NTS-KE port. Exit status: 0 when at least one reply was valid.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return queryOptions{}, 0
		}
		return queryOptions{}, 2
	}
	bad := func(format string, a ...any) (queryOptions, int) {
		fmt.Fprintf(stderr, "gpsntpctl query: "+format+"\n", a...)
		return queryOptions{}, 2
	}
	if fs.NArg() != 1 {
		return bad("want exactly one HOST[:PORT], got %d arguments", fs.NArg())
	}
	o := queryOptions{nts: *useNTS, caFile: *ca, count: *count, interval: *interval, timeout: *timeout, json: *asJSON, port: *port, kePort: *kePort}
	host, hostPort, err := splitQueryTarget(fs.Arg(0))
	if err != nil {
		return bad("%v", err)
	}
	o.host = host
	for _, p := range []struct {
		name string
		v    int
	}{{"-port", o.port}, {"-ke-port", o.kePort}} {
		if p.v < 0 || p.v > 65535 {
			return bad("invalid value %d for flag %s: 1..65535", p.v, p.name)
		}
	}
	if hostPort != 0 {
		target := &o.port
		if o.nts {
			target = &o.kePort
		}
		if *target != 0 && *target != hostPort {
			return bad("port %d in %q contradicts the flag's %d", hostPort, fs.Arg(0), *target)
		}
		*target = hostPort
	}
	switch {
	case o.count < 1 || o.count > queryMaxCount:
		return bad("invalid value %d for flag -n: 1..%d", o.count, queryMaxCount)
	case o.interval < 0 || o.interval > queryMaxInterval:
		return bad("invalid value %v for flag -interval: 0..%v", o.interval, queryMaxInterval)
	case o.timeout <= 0 || o.timeout > queryMaxTimeout:
		return bad("invalid value %v for flag -timeout: above 0, at most %v", o.timeout, queryMaxTimeout)
	case !o.nts && (o.caFile != "" || *pin != "" || o.kePort != 0):
		return bad("-ca, -insecure-pin and -ke-port need -nts")
	case o.caFile != "" && *pin != "":
		return bad("give -ca or -insecure-pin, not both")
	}
	if *pin != "" {
		if o.pin, err = parsePin(*pin); err != nil {
			return bad("invalid value %q for flag -insecure-pin: %v", *pin, err)
		}
	}
	if o.aeads, err = parseQueryAEADs(*aeads); err != nil {
		return bad("invalid value %q for flag -aead: %v", *aeads, err)
	}
	return o, -1
}

// splitQueryTarget splits HOST, HOST:PORT, IPv6 or [IPv6]:PORT; port 0 means none was given.
func splitQueryTarget(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("empty HOST")
	}
	if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		return s, 0, nil // a bare IPv6 address
	}
	if !strings.Contains(s, ":") {
		return s, 0, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("target %q: %w", s, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 || h == "" {
		return "", 0, fmt.Errorf("target %q: want HOST or HOST:PORT with a port 1..65535", s)
	}
	return h, int(n), nil
}

// parsePin reads a SHA-256 fingerprint as 64 hex digits, with or without colons.
func parsePin(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("%d bytes, a SHA-256 has 32", len(b))
	}
	return b, nil
}

func parseQueryAEADs(s string) ([]nts.AlgorithmID, error) {
	var out []nts.AlgorithmID
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q is not an AEAD number", p)
		}
		if !nts.AlgorithmID(n).Supported() {
			return nil, fmt.Errorf("AEAD %d is not supported (15, 17 and 30 are)", n)
		}
		out = append(out, nts.AlgorithmID(n))
	}
	return out, nil
}

// ntsClientTLS builds the TLS configuration of NTS-KE: trust from -ca or a pinned fingerprint.
func ntsClientTLS(o *queryOptions, seen *[]byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: o.host}
	switch {
	case o.caFile != "":
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("reading -ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no PEM certificate in it", o.caFile)
		}
		cfg.RootCAs = pool
	case o.pin != nil:
		// Pinning replaces chain and name verification: the fingerprint names exactly one certificate.
		cfg.InsecureSkipVerify = true
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server sent no certificate")
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		*seen = sum[:]
		if o.pin != nil && !bytes.Equal(sum[:], o.pin) {
			return fmt.Errorf("certificate SHA-256 %x does not match -insecure-pin %x", sum, o.pin)
		}
		return nil
	}
	return cfg, nil
}

// ntsState is the client's NTS session: keys and the cookies in hand.
type ntsState struct {
	sess *ntske.Session
	jar  [][]byte
}

// query runs the whole command. It returns a report whenever it got as far as sending a request.
func query(ctx context.Context, o queryOptions) (*queryReport, error) {
	rep := &queryReport{Best: -1}
	var st *ntsState
	ntpHost, ntpPort := o.host, o.port
	var tlsCfg *tls.Config
	var seen []byte
	if o.nts {
		var err error
		if tlsCfg, err = ntsClientTLS(&o, &seen); err != nil {
			return nil, err
		}
		rep.NTS = &queryNTS{KEServer: net.JoinHostPort(o.host, strconv.Itoa(cmp0(o.kePort, queryDefaultKE)))}
		if st, err = ntsHandshake(ctx, o, tlsCfg, rep.NTS, &seen); err != nil {
			return nil, err
		}
		if st.sess.Server != "" {
			ntpHost = st.sess.Server
		}
		if ntpPort == 0 {
			ntpPort = int(st.sess.Port)
		}
	}
	ntpPort = cmp0(ntpPort, 123)
	rep.Server = net.JoinHostPort(ntpHost, strconv.Itoa(ntpPort))
	conn, err := dialNTP(ctx, rep.Server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	var lastErr error
	for i := 0; i < o.count; i++ {
		if i > 0 && o.interval > 0 {
			select {
			case <-ctx.Done():
				return rep, fmt.Errorf("query: %w", ctx.Err())
			case <-time.After(o.interval):
			}
		}
		a, err := queryOnce(ctx, conn, o, st)
		if st != nil && (errors.Is(err, nts.ErrNTSNAK) || errors.Is(err, errNoCookie)) && rep.NTS.Handshakes <= queryMaxKERedos {
			// A NAK: the server no longer opens our cookies. No cookie: nothing left to send. Either way
			// only a new NTS-KE helps; bounded so that a server that NAKs everything cannot loop us.
			if errors.Is(err, nts.ErrNTSNAK) {
				rep.NTS.NAKs++
			}
			ns, kerr := ntsHandshake(ctx, o, tlsCfg, rep.NTS, &seen)
			if kerr != nil {
				a.Error += "; NTS-KE again: " + kerr.Error()
			} else {
				*st = *ns
				a, err = queryOnce(ctx, conn, o, st)
			}
		}
		if err != nil {
			lastErr = err
		}
		rep.Attempts = append(rep.Attempts, a)
		if a.Sample != nil && (rep.Best < 0 || a.Sample.DelayS < rep.Attempts[rep.Best].Sample.DelayS) {
			rep.Best = len(rep.Attempts) - 1
		}
		if a.Kiss == "DENY" || a.Kiss == "RSTR" {
			break // the server refuses us: asking again only adds load (RFC 5905 section 7.4)
		}
	}
	if rep.Best < 0 {
		return rep, lastErr
	}
	return rep, nil
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func ntsHandshake(ctx context.Context, o queryOptions, tlsCfg *tls.Config, info *queryNTS, seen *[]byte) (*ntsState, error) {
	kctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	info.Handshakes++
	sess, err := ntske.Exchange(kctx, info.KEServer, tlsCfg, o.aeads)
	if err != nil {
		return nil, fmt.Errorf("NTS-KE: %w", err)
	}
	info.AEAD, info.AEADID = sess.AEAD.String(), int(sess.AEAD)
	info.Compliant128GCM = sess.Compliant128GCM
	info.CookiesFromKE = len(sess.Cookies)
	info.CertSHA256 = hex.EncodeToString(*seen)
	return &ntsState{sess: sess, jar: sess.Cookies}, nil
}

func dialNTP(ctx context.Context, addr string) (*net.UDPConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial udp %s: %w", addr, err)
	}
	return c.(*net.UDPConn), nil
}

// queryOnce sends one request and waits for its reply. Datagrams that do not answer this request (stale
// replies, another origin, failed authentication) are skipped: an off-path forger could otherwise end
// the exchange. err is set when no sample came out; the attempt says why.
func queryOnce(ctx context.Context, conn *net.UDPConn, o queryOptions, st *ntsState) (queryAttempt, error) {
	fail := func(err error) (queryAttempt, error) { return queryAttempt{Error: err.Error()}, err }
	var secret [8]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return fail(fmt.Errorf("crypto/rand: %w", err))
	}
	origin := timebase.NTPTime(binary.BigEndian.Uint64(secret[:]))
	req := make([]byte, wire.HeaderLen, 1024)
	h := wire.Header{Leap: timebase.LeapUnsync, Version: 4, Mode: wire.ModeClient, TransmitTime: origin}
	if _, err := h.Marshal(req); err != nil {
		return fail(fmt.Errorf("wire.Header.Marshal: %w", err))
	}
	var uid []byte
	if st != nil {
		if len(st.jar) == 0 {
			return fail(errNoCookie)
		}
		uid = make([]byte, nts.MinUniqueIDLen)
		nonce := make([]byte, nonceLen(st.sess.AEAD))
		if _, err := rand.Read(uid); err != nil {
			return fail(fmt.Errorf("crypto/rand: %w", err))
		}
		if _, err := rand.Read(nonce); err != nil {
			return fail(fmt.Errorf("crypto/rand: %w", err))
		}
		cookie := st.jar[0]
		st.jar = st.jar[1:]
		// Ask for enough cookies to hold queryCookiesWant again once this reply is in.
		placeholders := min(queryCookiesWant-1-len(st.jar), nts.MaxCookies-1)
		var err error
		if req, err = nts.AppendRequest(req, uid, cookie, max(placeholders, 0), &st.sess.Keys, nonce); err != nil {
			return fail(err)
		}
	}
	deadline := time.Now().Add(o.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return fail(fmt.Errorf("SetDeadline: %w", err))
	}
	t1 := time.Now()
	if _, err := conn.Write(req); err != nil {
		return fail(fmt.Errorf("send to %s: %w", conn.RemoteAddr(), err))
	}
	buf := make([]byte, queryMaxReply)
	var skipped []string
	for {
		n, err := conn.Read(buf)
		t4 := t1.Add(time.Since(t1)) // wall T1 plus monotonic elapsed
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("no valid reply from %s within %v", conn.RemoteAddr(), o.timeout)
				if len(skipped) > 0 {
					err = fmt.Errorf("%w (ignored: %s)", err, strings.Join(skipped, "; "))
				}
			} else {
				err = fmt.Errorf("read from %s: %w", conn.RemoteAddr(), err)
			}
			return fail(err)
		}
		a, err := parseReply(buf[:n], origin, timebase.FromTime(t1), timebase.FromTime(t4), uid, st)
		if err != nil {
			if errors.Is(err, errIgnore) {
				skipped = append(skipped, err.Error())
				continue
			}
			return a, err
		}
		return a, nil
	}
}

func nonceLen(a nts.AlgorithmID) int {
	if a == nts.AES128GCMSIV {
		return 12
	}
	return 16
}

// errIgnore marks replies that are not an answer to our request: the client keeps waiting.
var errIgnore = errors.New("not a reply to this request")

// errNoCookie: the NTS client has no cookie left to send.
var errNoCookie = errors.New("no NTS cookie left")

// errKiss is a Kiss-o'-Death: the server refused to give the time.
var errKiss = errors.New("kiss-o'-death")

// parseReply checks a reply against the request (origin, and with NTS the identifier and authenticator)
// and computes the sample. t1 and t4 are the local send and receive times.
func parseReply(b []byte, origin timebase.NTPTime, t1, t4 timebase.Instant, uid []byte, st *ntsState) (queryAttempt, error) {
	var h wire.Header
	if err := h.Unmarshal(b); err != nil {
		return queryAttempt{}, fmt.Errorf("%d-byte datagram: %w", len(b), errIgnore)
	}
	if h.Mode != wire.ModeServer || h.OriginTime != origin {
		return queryAttempt{}, fmt.Errorf("mode %v, origin %016x: %w", h.Mode, uint64(h.OriginTime), errIgnore)
	}
	var cookies [][]byte
	if st != nil {
		var err error
		cookies, err = nts.VerifyResponse(b, uid, &st.sess.Keys)
		switch {
		case errors.Is(err, nts.ErrNTSNAK) && h.Stratum == 0:
			return queryAttempt{Kiss: "NTSN", Error: "NTS NAK: the server refused the cookie"}, nts.ErrNTSNAK
		case err != nil:
			// Unauthenticated or forged: an NTS client never uses it (RFC 8915 section 5.7).
			return queryAttempt{}, fmt.Errorf("unauthenticated (%v): %w", err, errIgnore)
		}
		st.jar = append(st.jar, cookies...)
	}
	if h.Stratum == 0 {
		// Kiss-o'-Death (RFC 5905 section 7.4): the reference ID is an ASCII code, the timestamps carry nothing.
		code := strings.TrimRight(string(h.RefID[:]), "\x00")
		return queryAttempt{Kiss: code, Error: "kiss-o'-death " + strconv.Quote(code)}, fmt.Errorf("%w %q", errKiss, code)
	}
	if h.TransmitTime == 0 {
		return queryAttempt{Error: "reply without transmit timestamp"}, errors.New("reply without transmit timestamp")
	}
	// Resolve the server's timestamps around our own time: the era comes from the pivot.
	t3 := timebase.FromNTP(h.TransmitTime, t1)
	offset, delay := offsetDelay(t1.NTP(), h.ReceiveTime, h.TransmitTime, t4.NTP())
	s := &querySample{
		OffsetS: offset, DelayS: delay, Stratum: int(h.Stratum), RefID: h.RefID.String(),
		Leap: h.Leap.String(), LeapIndicator: int(h.Leap), Version: int(h.Version), Poll: int(h.Poll), Precision: int(h.Precision),
		RootDelayS: h.RootDelay.Duration().Seconds(), RootDispersionS: h.RootDispersion.Duration().Seconds(),
		ServerTime: t3.String(), Authenticated: st != nil, CookiesReceived: len(cookies),
	}
	if h.Stratum >= 2 && h.Stratum < 16 {
		s.RefID = fmt.Sprintf("%d.%d.%d.%d", h.RefID[0], h.RefID[1], h.RefID[2], h.RefID[3])
	}
	if h.ReferenceTime != 0 {
		s.ReferenceTime = timebase.FromNTP(h.ReferenceTime, t1).String()
	}
	return queryAttempt{Sample: s}, nil
}

// offsetDelay computes RFC 5905's offset and delay in seconds. Each difference is taken between
// neighbouring timestamps modulo 2^64, as a signed fixed-point number: exact across the era rollover as
// long as the clocks are within 68 years of each other.
func offsetDelay(t1, t2, t3, t4 timebase.NTPTime) (offset, delay float64) {
	d := func(a, b timebase.NTPTime) float64 { return float64(int64(a-b)) / (1 << 32) }
	offset = (d(t2, t1) + d(t3, t4)) / 2
	delay = d(t4, t1) - d(t3, t2)
	return offset, delay
}

// printQuery prints the report for a person.
func printQuery(w io.Writer, r *queryReport) {
	fmt.Fprintf(w, "server %s", r.Server)
	if n := r.NTS; n != nil {
		fmt.Fprintf(w, " (NTS via %s: %s, %d cookies from NTS-KE, %d handshake(s), certificate SHA-256 %s)", n.KEServer, n.AEAD, n.CookiesFromKE, n.Handshakes, n.CertSHA256)
	}
	fmt.Fprintln(w)
	for i, a := range r.Attempts {
		if a.Sample == nil {
			fmt.Fprintf(w, "  #%d  %s\n", i+1, a.Error)
			continue
		}
		s := a.Sample
		refid := s.RefID
		if refid == "" {
			refid = "-"
		}
		auth := ""
		if s.Authenticated {
			auth = fmt.Sprintf("  authenticated, %d new cookie(s)", s.CookiesReceived)
		}
		fmt.Fprintf(w, "  #%d  offset %s  delay %s  stratum %d  refid %s  leap %s  root delay %s  root dispersion %s%s\n",
			i+1, humanSigned(s.OffsetS), humanAbs(s.DelayS), s.Stratum, refid, s.Leap, humanAbs(s.RootDelayS), humanAbs(s.RootDispersionS), auth)
	}
	if r.Best < 0 {
		fmt.Fprintln(w, "no valid reply")
		return
	}
	s := r.Attempts[r.Best].Sample
	fmt.Fprintf(w, "offset %s, delay %s (lowest-delay sample of %d), server time %s", humanSigned(s.OffsetS), humanAbs(s.DelayS), len(r.Attempts), s.ServerTime)
	if s.LeapIndicator == int(timebase.LeapUnsync) {
		fmt.Fprint(w, "; the server says it is NOT synchronized")
	}
	if r.NTS != nil && r.NTS.NAKs > 0 {
		fmt.Fprintf(w, "; %d NTS NAK(s)", r.NTS.NAKs)
	}
	fmt.Fprintln(w)
}
