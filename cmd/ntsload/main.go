// Command ntsload is the project's NTS load generator: it measures how many NTS-authenticated NTP
// requests per second a server answers, how many NTS-KE handshakes per second it completes, the same
// server's plain NTP for comparison, and the generator's own ceiling. Loopback targets only, bounded in
// time, workers and requests outstanding; it never sets a clock. scripts/bench-nts.sh drives it.
//
// NTS load (default mode): each worker runs one NTS-KE (TLS 1.3, ALPN ntske/1) and then keeps -window
// requests outstanding on its own UDP socket, sending and receiving in batches with sendmmsg/recvmmsg
// (sends as UDP GSO runs where the kernel has it; -gso=false sends one message per request).
// Each request spends one cookie and each authenticated reply brings a fresh one, as with a real client;
// a worker asks for extra cookies (placeholders) only to make up for lost replies, and runs NTS-KE again
// if it ever runs out. A reply counts as answered only when its Unique Identifier matches an outstanding
// request and its authenticator verifies under the S2C key (nts.VerifyResponse).
//
//	ntsload -target 127.0.0.1:4460 -ca cert.pem -duration 5s -json     # NTS requests/s
//	ntsload -plain -target 127.0.0.1:123 -duration 5s                 # plain NTP, same engine
//	ntsload -ke -target 127.0.0.1:4460 -insecure-pin HEX -duration 5s # NTS-KE handshakes/s
//	ntsload -self -duration 2s                                        # the generator's own ceiling
//	ntsload -compare a.json,b.json                                    # ratio of the first to the second
//	ntsload -make-cert DIR                                            # a self-signed cert for 127.0.0.1
//
// The uid of each request is its sequence number (8 bytes) followed by 24 random bytes fixed per worker,
// so a reply finds its request without a map; nonces come from a ChaCha8 stream seeded from crypto/rand
// (a load generator needs unique, not secret, nonces, and crypto/rand per request would cost a syscall).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
)

// Bounds: the generator always ends and never floods anything but loopback.
const (
	maxDuration = 30 * time.Second
	maxWorkers  = 64
	maxWindow   = 1024
	maxBatch    = 64
	maxKEConns  = 64
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	target   string
	plain    bool
	ke       bool
	self     bool
	caFile   string
	pin      string
	aead     nts.AlgorithmID
	workers  int
	window   int
	batch    int
	conns    int
	groups   string // key exchange groups offered in NTS-KE: a keGroups key
	duration time.Duration
	timeout  time.Duration
	label    string
	json     bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ntsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.target, "target", "", "NTS-KE `host:port` (with -plain: the NTP address); loopback only")
	fs.BoolVar(&c.plain, "plain", false, "plain NTP load instead of NTS, with the same engine")
	fs.BoolVar(&c.ke, "ke", false, "measure NTS-KE handshakes/s instead of NTP")
	fs.BoolVar(&c.self, "self", false, "measure the generator's own ceiling: request building and reply verification, no I/O")
	fs.StringVar(&c.caFile, "ca", "", "PEM `file` to verify the NTS-KE certificate against")
	fs.StringVar(&c.pin, "insecure-pin", "", "SHA-256 (hex) of the NTS-KE certificate to accept instead of verifying it")
	aead := fs.Uint("aead", uint(nts.AESSIVCMAC256), "AEAD to negotiate (15, 17 or 30)")
	fs.IntVar(&c.workers, "workers", 4, fmt.Sprintf("NTP workers: one socket and one NTS-KE each (1..%d)", maxWorkers))
	fs.IntVar(&c.window, "window", 64, fmt.Sprintf("requests outstanding per worker (1..%d)", maxWindow))
	fs.IntVar(&c.batch, "batch", 32, fmt.Sprintf("datagrams per sendmmsg/recvmmsg (1..%d)", maxBatch))
	fs.BoolVar(&useGSO, "gso", true, "send runs of equal-length requests with UDP GSO where the kernel has it (the server still gets one datagram per request)")
	fs.IntVar(&c.conns, "conns", 4, fmt.Sprintf("-ke: concurrent handshakes (1..%d; gpsntpd allows 4 per client by default)", maxKEConns))
	fs.StringVar(&c.groups, "ke-groups", "x25519", "key exchange groups NTS-KE offers: x25519 (an X25519 key share, P-256 also listed, as OpenSSL clients such as NTPsec offer), p256 (a P-256 share: what gpsntpd takes from chrony's P-256 and X25519 shares), or hybrid (crypto/tls's default: X25519MLKEM768 and X25519 shares)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, fmt.Sprintf("length of the measurement (at most %v)", maxDuration))
	fs.DurationVar(&c.timeout, "timeout", 500*time.Millisecond, "a request unanswered this long counts as lost")
	fs.StringVar(&c.label, "label", "", "name of the server, for the output")
	fs.BoolVar(&c.json, "json", false, "print the result as one JSON object")
	makeCert := fs.String("make-cert", "", "write a self-signed certificate for 127.0.0.1 into `dir` (as gpsntpd makes its own), print the cert and key paths, and exit")
	compare := fs.String("compare", "", "print saved -json results (comma-separated `files`) with the ratio of the first to the second")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *makeCert != "" {
		cert, key, err := ntske.EnsureSelfSigned(*makeCert, []string{"localhost"}, []netip.Addr{netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			fmt.Fprintln(stderr, "ntsload:", err)
			return 1
		}
		fmt.Fprintln(stdout, cert, key)
		return 0
	}
	if *compare != "" {
		if err := doCompare(stdout, strings.Split(*compare, ",")); err != nil {
			fmt.Fprintln(stderr, "ntsload:", err)
			return 1
		}
		return 0
	}
	c.aead = nts.AlgorithmID(*aead)
	if err := c.validate(fs.NArg()); err != nil {
		fmt.Fprintln(stderr, "ntsload:", err)
		return 2
	}
	var res *result
	var err error
	cpu0 := cpuTime()
	switch {
	case c.self:
		res, err = runSelf(ctx, c)
	case c.ke:
		res, err = runKE(ctx, c)
	default:
		res, err = runLoad(ctx, c)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ntsload:", err)
		return 1
	}
	if res.DurationS > 0 {
		res.GenCPU = (cpuTime() - cpu0).Seconds() / res.DurationS
	}
	if c.json {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		res.print(stdout)
	}
	return 0
}

func (c *config) validate(nargs int) error {
	_, groupsOK := keGroups[c.groups]
	switch {
	case nargs > 0:
		return errors.New("unexpected arguments")
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("-duration %v: above 0, at most %v", c.duration, maxDuration)
	case c.workers < 1 || c.workers > maxWorkers:
		return fmt.Errorf("-workers %d: 1..%d", c.workers, maxWorkers)
	case c.window < 1 || c.window > maxWindow:
		return fmt.Errorf("-window %d: 1..%d", c.window, maxWindow)
	case c.batch < 1 || c.batch > maxBatch:
		return fmt.Errorf("-batch %d: 1..%d", c.batch, maxBatch)
	case c.conns < 1 || c.conns > maxKEConns:
		return fmt.Errorf("-conns %d: 1..%d", c.conns, maxKEConns)
	case c.timeout < time.Millisecond || c.timeout > 5*time.Second:
		return fmt.Errorf("-timeout %v: 1ms..5s", c.timeout)
	case !c.aead.Supported():
		return fmt.Errorf("-aead %d: 15, 17 or 30", c.aead)
	case !groupsOK:
		return fmt.Errorf("-ke-groups %q: x25519, p256 or hybrid", c.groups)
	case btoi(c.plain)+btoi(c.ke)+btoi(c.self) > 1:
		return errors.New("-plain, -ke and -self exclude each other")
	case !c.self && c.target == "":
		return errors.New("-target is required")
	case !c.self:
		if _, err := loopbackAddr(c.target); err != nil {
			return fmt.Errorf("-target: %w", err)
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// result is one measurement; -json prints it and -compare reads it back.
type result struct {
	Label      string  `json:"label"`
	Mode       string  `json:"mode"` // nts, plain, ke, self
	AEAD       string  `json:"aead,omitempty"`
	DurationS  float64 `json:"duration_s"`
	Workers    int     `json:"workers,omitempty"`
	Window     int     `json:"window,omitempty"`
	Sent       uint64  `json:"sent"`
	Answered   uint64  `json:"answered"` // authenticated (NTS), valid (plain), completed handshakes (ke), iterations (self)
	NAKs       uint64  `json:"naks,omitempty"`
	Lost       uint64  `json:"lost"`
	Invalid    uint64  `json:"invalid,omitempty"` // replies that matched no request or failed verification
	Handshakes uint64  `json:"handshakes,omitempty"`
	Failed     uint64  `json:"failed,omitempty"` // NTS-KE failures
	PerSecond  float64 `json:"per_second"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	GenCPU     float64 `json:"generator_cpu"` // CPU time of this process over the run, in CPUs (1: one CPU busy)
	FirstError string  `json:"first_error,omitempty"`
}

func (r *result) print(w io.Writer) {
	unit := "answered/s"
	switch r.Mode {
	case "ke":
		unit = "handshakes/s"
	case "self":
		unit = "requests built and replies verified/s (no I/O)"
	}
	fmt.Fprintf(w, "%-10s %-5s %12.0f %s  sent %d answered %d lost %d invalid %d naks %d  p50 %.1fus p99 %.1fus  generator CPU %.0f%%",
		r.Label, r.Mode, r.PerSecond, unit, r.Sent, r.Answered, r.Lost, r.Invalid, r.NAKs, r.P50us, r.P99us, 100*r.GenCPU)
	if r.AEAD != "" {
		fmt.Fprintf(w, "  %s", r.AEAD)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s", r.FirstError)
	}
	fmt.Fprintln(w)
}

func doCompare(w io.Writer, files []string) error {
	var rs []result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("-compare %s: %w", f, err)
		}
		rs = append(rs, r)
	}
	for i := range rs {
		rs[i].print(w)
	}
	if len(rs) >= 2 && rs[1].PerSecond > 0 {
		fmt.Fprintf(w, "ratio %s/%s: %.2f\n", rs[0].Label, rs[1].Label, rs[0].PerSecond/rs[1].PerSecond)
	}
	return nil
}
