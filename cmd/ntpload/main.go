// Command ntpload is the project's NTP load generator (see internal/loadgen): loopback targets only,
// bounded in time and count. It prints answered/s, loss and response-time percentiles, as a table or
// with -json as one JSON object; -compare prints saved JSON results side by side with their ratio;
// -probe waits until a server answers.
//
//	ntpload -target 127.0.0.1:11123 -duration 5s                 # closed loop, window 256
//	ntpload -target 127.0.0.1:11123 -rate 100000 -json > a.json  # open loop at 100k/s
//	ntpload -compare gpsntpd.json,chronyd.json
//	ntpload -target 127.0.0.1:11123 -probe 10s
//	ntpload -floor-server 127.0.0.1:11124 -floor-life 1m          # the kernel's floor, see floor.go
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ntpload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ntpload", flag.ExitOnError)
	target := fs.String("target", "", "server `host:port` on loopback (127.0.0.0/8 or ::1)")
	duration := fs.Duration("duration", loadgen.DefaultDuration, fmt.Sprintf("length of the send phase (at most %v)", loadgen.MaxDuration))
	maxReq := fs.Uint64("max-requests", loadgen.DefaultMaxRequests, fmt.Sprintf("stop after this many requests (at most %d)", uint64(loadgen.MaxMaxRequests)))
	rate := fs.Float64("rate", 0, "open loop: requests per second (0: closed loop with -window)")
	window := fs.Int("window", loadgen.DefaultWindow, "closed loop: requests outstanding")
	sockets := fs.Int("sockets", loadgen.DefaultSockets, "source sockets (ports)")
	batch := fs.Int("batch", loadgen.DefaultBatch, "datagrams per sendmmsg/recvmmsg call")
	drain := fs.Duration("drain", loadgen.DefaultDrain, "wait this long for late replies after sending")
	gso := fs.Bool("gso", true, "send batches with UDP GSO where the kernel has it (the server still gets one datagram per request)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	label := fs.String("label", "", "name of the server, for the output")
	probe := fs.Duration("probe", 0, "only wait up to this long for the target to answer one request, then exit")
	floor := fs.String("floor-server", "", "instead of loading a server, be one: answer NTP on this loopback `host:port` with the least work a reply needs, through gpsntpd's socket edge (see floor.go), for -floor-life")
	floorLife := fs.Duration("floor-life", time.Minute, fmt.Sprintf("how long -floor-server runs (at most %v)", maxFloorLife))
	compare := fs.String("compare", "", "print saved -json results (comma-separated `files`) side by side, with the ratio of the first to the second")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ntpload -target HOST:PORT [flags] | -compare A.json,B.json\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if *compare != "" {
		return doCompare(strings.Split(*compare, ","))
	}
	if *floor != "" {
		return serveFloor(*floor, *floorLife)
	}
	if *target == "" {
		return errors.New("-target is required")
	}
	addr, err := loadgen.ParseTarget(*target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *probe > 0 {
		rtt, stratum, err := loadgen.Probe(ctx, addr, *probe)
		if err != nil {
			return err
		}
		fmt.Printf("%v answered in %v, stratum %d\n", addr, rtt.Round(time.Microsecond), stratum)
		return nil
	}

	res, err := loadgen.Run(ctx, loadgen.Config{
		Target:      addr,
		Duration:    *duration,
		MaxRequests: *maxReq,
		Rate:        *rate,
		Window:      *window,
		Sockets:     *sockets,
		Batch:       *batch,
		Drain:       *drain,
		NoGSO:       !*gso,
	})
	if err != nil {
		return err
	}
	res.Label = *label
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(os.Stdout)
}

func doCompare(files []string) error {
	var rs []loadgen.Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
		var r loadgen.Result
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("-compare: %s: %w", f, err)
		}
		rs = append(rs, r)
	}
	return loadgen.WriteComparison(os.Stdout, rs)
}
