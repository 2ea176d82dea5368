// Command servobench compares gpsntp's PPS discipline with chrony's on the same simulated box: the same
// seeded oscillator and the same PPS captures, fed to our daemon loop in virtual time and to a real chronyd
// (run with -x: it never touches the host clock) in real time, scored the same way. See internal/servocmp.
//
//	servobench [-scenario cold-start] [-duration 600s] [-seed 1] [-chrony-poll 4] [-chrony-filter 0]
//	           [-chrony-precision 1e-7] [-chrony-feed labelled|pps-lock] [-chrony-extra 'LINE;LINE']
//	           [-chronyd PATH] [-keep DIR] [-json]
//
// It prints one line per discipline and one of ratios (chrony's figure over ours: above 1, ours is
// better). chrony runs in real time, so a run takes -duration of wall-clock time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/internal/servocmp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("servobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := servocmp.Options{Chrony: servocmp.DefaultChronyConfig(), Progress: stderr}
	fs.StringVar(&o.Scenario, "scenario", "cold-start", "scenario: cold-start, bad-pps, or "+servocmp.Ideal+" (a noiseless check of the method)")
	fs.DurationVar(&o.Duration, "duration", 600*time.Second, "simulated duration, run in real time for chrony (10s to 24h)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed gives the same pulses")
	fs.IntVar(&o.Chrony.Poll, "chrony-poll", o.Chrony.Poll, "chrony refclock poll, log2 s")
	fs.IntVar(&o.Chrony.Filter, "chrony-filter", 0, "chrony refclock median filter length (0: chrony's default)")
	fs.Float64Var(&o.Chrony.Precision, "chrony-precision", o.Chrony.Precision, "chrony refclock precision, s")
	fs.StringVar(&o.Chrony.Path, "chronyd", "", "chronyd to run (default: from PATH or /usr/sbin)")
	extra := fs.String("chrony-extra", "", "extra chrony.conf lines, separated by ';' (e.g. \"makestep 1 3\")")
	feedName := fs.String("chrony-feed", "", "how chrony gets the receiver: labelled (gpsd-style full samples, one SOCK refclock) or pps-lock (bare pulses locked to an NMEA refclock, chrony pairs; spurious edges reach it); default labelled, pps-lock for bad-pps")
	keep := fs.String("keep", "", "directory for chronyd's configuration, logs and samples.tsv, kept after the run (default: a temporary one, removed)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "servobench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *extra != "" {
		for _, l := range strings.Split(*extra, ";") {
			o.Chrony.Extra = append(o.Chrony.Extra, strings.TrimSpace(l))
		}
	}
	switch {
	case *feedName != "":
		f, err := servocmp.ParseFeed(*feedName)
		if err != nil {
			fmt.Fprintf(stderr, "servobench: %v\n", err)
			return 2
		}
		o.Chrony.Feed = f
	case o.Scenario == "bad-pps":
		o.Chrony.Feed = servocmp.FeedPPSLock
	}
	if *keep != "" {
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fmt.Fprintf(stderr, "servobench: %v\n", err)
			return 1
		}
		o.Dir = *keep
	} else {
		d, err := servocmp.TempDir("")
		if err != nil {
			fmt.Fprintf(stderr, "servobench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "servobench: %s seed %d for %v: our loop in virtual time, then chronyd in real time (%v)\n",
		o.Scenario, o.Seed, o.Duration, o.Duration)
	rep, err := servocmp.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "servobench: %v\n", err)
		return 1
	}
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "servobench: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprint(stdout, rep.Text())
	return 0
}
