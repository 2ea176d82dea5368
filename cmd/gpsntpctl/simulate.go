package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gpsntp/gpsntp/internal/scenario"
)

// runSimulate runs one scenario of the whole loop (simulated receiver, PPS and oscillator; the real decoder,
// pairing and servo) in virtual time and prints its JSON summary.
func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, s := range scenario.Specs() {
		names = append(names, s.Name)
	}
	name := fs.String("scenario", "cold-start", "scenario to run: "+strings.Join(names, ", "))
	dur := fs.Duration("duration", 0, "virtual time to simulate (0: the scenario's default)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same figures")
	list := fs.Bool("list", false, "list the scenarios and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: gpsntpctl simulate [-scenario NAME] [-duration D] [-seed N]\n\n"+
			"Runs the daemon's loop against a simulated box in virtual time and prints one JSON summary:\n"+
			"lock time, true error of the served clock (RMS, p99, max) and the honesty of its error bound.\n"+
			"The leap-* scenarios add a \"leap\" object: when LI 1 or 2 was first and last served, when the kernel\n"+
			"leap flag was set and cleared, the largest backward and forward jumps of served time, whether any\n"+
			"reply was smeared, and the leap warnings raised.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gpsntpctl simulate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *list {
		for _, s := range scenario.Specs() {
			fmt.Fprintf(stdout, "%-17s %-8v %s\n", s.Name, s.DefaultDuration, s.Summary)
		}
		return 0
	}
	res, err := scenario.Run(*name, *dur, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl simulate: %v\n", err)
		return 1
	}
	b, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl simulate: encoding the summary: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}
