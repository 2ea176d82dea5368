package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

func runSources(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpsntpctl sources", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL, "base URL of the gpsntpd status server")
	asJSON := fs.Bool("json", false, "print the sources as a JSON array")
	verbose := fs.Bool("v", false, "add a column saying why each source has its tally code")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: gpsntpctl sources [-url URL] [-json] [-v]\n\n"+
			"Lists the time sources like ntpq -p: tally code, name, kind, reach (octal register of the last 8\n"+
			"polls, one a second), last offset, jitter, and when the source last delivered a sample.\n"+
			"Tally: * selected, + candidate, - outlier, x falseticker, blank rejected.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gpsntpctl sources: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	st, _, err := fetchStatus(*url)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl: %v\n", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(st.Sources, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	printSources(stdout, st, *verbose)
	return 0
}

// printSources lays the sources out as ntpq -p does: the tally code glued to the name, reach in octal.
func printSources(w io.Writer, s status.Status, verbose bool) {
	header := fmt.Sprintf(" %-10s %-10s %5s %10s %9s %6s", "source", "kind", "reach", "offset", "jitter", "last")
	if verbose {
		header += "  note"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, strings.Repeat("=", len(header)))
	if len(s.Sources) == 0 {
		fmt.Fprintln(w, "  (no sources)")
		return
	}
	for _, src := range s.Sources {
		tally := src.Tally
		if len(tally) != 1 {
			tally = " "
		}
		line := fmt.Sprintf("%s%-10s %-10s %5o %10s %9s %6s", tally, src.Name, src.Kind, src.Reach,
			humanSigned(src.OffsetS), humanAbs(src.JitterS), ago(s.Now, src.LastSeen))
		if verbose {
			line += "  " + src.Note
		}
		fmt.Fprintln(w, line)
	}
}

// humanSigned prints a signed duration in seconds with a unit, as chronyc sources does (+12ns, -3.4us).
func humanSigned(v float64) string {
	sign := "+"
	if v < 0 {
		sign = "-"
	}
	return sign + humanAbs(v)
}

func humanAbs(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case a < 1e-6:
		return fmt.Sprintf("%.0fns", a*1e9)
	case a < 1e-3:
		return fmt.Sprintf("%.1fus", a*1e6)
	case a < 1:
		return fmt.Sprintf("%.1fms", a*1e3)
	}
	return fmt.Sprintf("%.2fs", a)
}

// ago is the age of ts at now, in the largest whole unit ("3s", "5m", "2h", "4d"); "-" when never.
func ago(now, ts string) string {
	if ts == "" {
		return "-"
	}
	n, err1 := time.Parse(time.RFC3339Nano, now)
	t, err2 := time.Parse(time.RFC3339Nano, ts)
	if err1 != nil || err2 != nil {
		return "?"
	}
	d := n.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < 100*time.Second:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 100*time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
