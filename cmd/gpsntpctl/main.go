// Command gpsntpctl is the terminal client of a gpsntp box: it shows the daemon's state (status), decodes
// what a receiver sends (decode), and grows with the tools a user needs without a shell on the box.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Usage: gpsntpctl COMMAND [flags]

Commands:
  status   show the box's sync state, like chronyc tracking (reads /api/status)
  sources  list the time sources, like ntpq -p (reads /api/status)
  decode   decode a receiver log or stream (NMEA and u-blox UBX), one JSON object per epoch
  feed     play a simulated receiver or a log into a pty or serial port
  query    ask an NTP server the time, plain or with NTS, and print offset, delay and stratum
  simulate run the loop in virtual time against a simulated box; print JSON figures
  update   install an image over the air: trial boot, kept only if the box proves healthy

Run "gpsntpctl COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "status":
		return runStatus(args[1:], stdout, stderr)
	case "sources":
		return runSources(args[1:], stdout, stderr)
	case "decode":
		return runDecode(args[1:], stdin, stdout, stderr)
	case "feed":
		return runFeed(args[1:], stdout, stderr)
	case "query":
		return runQuery(args[1:], stdout, stderr)
	case "simulate":
		return runSimulate(args[1:], stdout, stderr)
	case "update":
		return runUpdate(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gpsntpctl: unknown command %q\n%s", args[0], usage)
	return 2
}
