package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gpsntp/gpsntp/internal/status"
)

const defaultURL = "http://localhost"

// fetchStatus reads the status document from a running gpsntpd.
func fetchStatus(base string) (status.Status, []byte, error) {
	var st status.Status
	url := strings.TrimRight(base, "/") + "/api/status"
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return st, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return st, nil, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, nil, fmt.Errorf("GET %s: decoding status: %w", url, err)
	}
	return st, body, nil
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpsntpctl status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL, "base URL of the gpsntpd status server")
	asJSON := fs.Bool("json", false, "print the raw status document")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	st, raw, err := fetchStatus(*url)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl: %v\n", err)
		return 1
	}
	if *asJSON {
		stdout.Write(raw)
		return 0
	}
	printStatus(stdout, st)
	return 0
}

// printStatus lays the document out like chronyc tracking, which is what operators already read.
func printStatus(w io.Writer, s status.Status) {
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%-16s: %s\n", k, fmt.Sprintf(format, a...)) }
	state := s.Sync.State
	if s.Sync.LockedSince != "" {
		state += " since " + s.Sync.LockedSince
	}
	if s.Sync.HoldoverSince != "" {
		state += ", holdover since " + s.Sync.HoldoverSince
	}
	line("Reference ID", "%s", orDash(s.Sync.RefID))
	line("Stratum", "%d", s.Sync.Stratum)
	line("State", "%s", state)
	line("Ref time (UTC)", "%s", orDash(s.Sync.RefTime))
	line("Last offset", "%+.9f seconds", s.Sync.OffsetS)
	line("Jitter", "%.9f seconds", s.Sync.JitterS)
	line("Frequency", "%.3f ppm %s", math.Abs(s.Sync.FrequencyPPM), fastSlow(s.Sync.FrequencyPPM))
	line("Estimated error", "±%.9f seconds", s.Sync.EstErrorS)
	line("Root delay", "%.9f seconds", s.Sync.RootDelayS)
	line("Root dispersion", "%.9f seconds", s.Sync.RootDispersionS)
	line("Leap status", "%s (LI=%d)", leapWords(s.Sync.Leap), s.Sync.Leap)
	printLeap(line, s.Leap)
	line("Clock steps", "%d", s.Sync.Steps)
	line("Receiver", "%s: fix %s, %d/%d satellites, last %s", receiverName(s.GPS), s.GPS.Fix, s.GPS.SatsUsed, s.GPS.SatsVisible, orDash(s.GPS.LastTime))
	if len(s.GPS.Constellations) > 0 {
		var parts []string
		for _, c := range s.GPS.Constellations {
			parts = append(parts, fmt.Sprintf("%s %d/%d", c.Name, c.Used, c.Visible))
		}
		line("Constellations", "%s (used/visible)", strings.Join(parts, ", "))
	}
	if p := s.GPS.Position; p != nil {
		alt := ""
		if p.AltM != nil {
			alt = fmt.Sprintf(", %.1f m", *p.AltM)
		}
		line("Position", "%.6f %.6f%s", p.LatDeg, p.LonDeg, alt)
	}
	line("Sentences", "%d ok, %d bad", s.GPS.SentencesOK, s.GPS.SentencesBad)
	line("PPS", "%d edges, %d paired, %d rejected, offset %+.9f s", s.PPS.Edges, s.PPS.Paired, s.PPS.Rejected, s.PPS.OffsetS)
	line("NTP", "%d requests, %d served, %d rate-limited, %d KoD, %d denied, %d malformed, %d ignored",
		s.NTP.Requests, s.NTP.Served, s.NTP.RateLimited, s.NTP.KoDSent, s.NTP.Denied, s.NTP.Malformed, s.NTP.Ignored)
	line("NTP clients", "%d recent addresses", s.NTP.ClientsTracked)
	line("Version", "%s (%s), up %s", s.Version, s.Mode, (time.Duration(s.UptimeS) * time.Second).String())
	printUpdate(line, s.Version, s.Update)
}

// printUpdate shows the over-the-air update section: the running slot and image, a trial boot in progress,
// the last update's verdict, and why gpsntp-ota could not be asked. A daemon without -ota-status has no
// section and prints nothing.
// version is the running gpsntpd's: an update replaces the root, so the flashed image's version (the boot
// partition's) is shown only when it differs.
func printUpdate(line func(k, format string, a ...any), version string, u *status.Update) {
	if u == nil {
		return
	}
	if u.Phase != "" {
		run := fmt.Sprintf("slot %d, gpsntp %s", u.BootedSlot, orDash(version))
		if u.ImageProfile != "" {
			run += " (" + u.ImageProfile + ")"
		}
		if u.ImageVersion != "" && u.ImageVersion != version {
			run += "; kernel and firmware as flashed with " + u.ImageVersion
		}
		switch {
		case u.Phase == "trial":
			run += fmt.Sprintf("; trial boot in progress, %.0f s left (health: %s); slot %d boots again unless it proves healthy",
				u.TrialLeftS, oneLine(orText(u.Health, "not checked yet")), u.DefaultSlot)
		case u.BootedSlot != u.DefaultSlot:
			run += fmt.Sprintf("; next boot: slot %d", u.DefaultSlot)
		}
		line("Update", "%s", run)
	} else if u.Error == "" {
		line("Update", "waiting for gpsntp-ota's first answer")
	}
	if l := u.Last; l != nil {
		what := "an image"
		if l.Version != "" {
			what = "gpsntp " + l.Version
		}
		var v string
		switch l.State {
		case status.UpdateCommitted:
			v = fmt.Sprintf("%s committed in slot %d at %s", what, l.ToSlot, orDash(l.Decided))
		case status.UpdateRolledBack:
			v = fmt.Sprintf("%s ROLLED BACK at %s: slot %d failed its trial, back on slot %d", what, orDash(l.Decided), l.ToSlot, l.FromSlot)
		case status.UpdateTrying:
			v = fmt.Sprintf("%s on trial in slot %d since %s", what, l.ToSlot, orDash(l.Requested))
		default:
			v = fmt.Sprintf("%s to slot %d: %s", what, l.ToSlot, l.State)
		}
		if l.Detail != "" {
			v += " (" + oneLine(l.Detail) + ")"
		}
		line("Last update", "%s", v)
	}
	if u.Error != "" {
		e := oneLine(u.Error)
		if u.CheckedAt != "" {
			e += "; shown: its last answer, at " + u.CheckedAt
		}
		line("Update agent", "%s", e)
	}
}

// oneLine keeps text from the box on one terminal line: control characters (a newline, an escape
// sequence's ESC) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// receiverName is the device with the model and firmware the receiver reported, when it did.
func receiverName(g status.GPS) string {
	n := orDash(g.Device)
	if g.Model != "" {
		n += " (" + g.Model
		if g.Firmware != "" {
			n += ", firmware " + g.Firmware
		}
		n += ")"
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fastSlow words a frequency correction as chronyc does: the rate the clock would be wrong at without it,
// so a clock sped up by +10 ppm is "10 ppm slow".
func fastSlow(correctionPPM float64) string {
	if correctionPPM > 0 {
		return "slow"
	}
	return "fast"
}

func leapWords(li int) string {
	switch li {
	case 0:
		return "Normal"
	case 1:
		return "Insert second"
	case 2:
		return "Delete second"
	}
	return "Not synchronised"
}

// printLeap shows the leap section: TAI-UTC, the next leap second and who announced it, the table's
// expiry, the kernel flag, and each warning. A document from a daemon without the section prints nothing.
func printLeap(line func(k, format string, a ...any), l status.Leap) {
	if l.Table.Source == "" && l.TAIUTC == nil {
		return
	}
	if l.TAIUTC != nil {
		line("TAI-UTC", "%d seconds (%s)", *l.TAIUTC, l.TAIUTCSource)
	} else {
		line("TAI-UTC", "unknown")
	}
	if n := l.Next; n != nil {
		what := "insert"
		if n.Change < 0 {
			what = "delete"
		}
		line("Next leap", "%s a second before %s (%s); kernel flag %s", what, n.At, n.Source, orDash(l.KernelFlag))
	} else {
		line("Next leap", "none announced; kernel flag %s", orDash(l.KernelFlag))
	}
	exp := orDash(l.Table.Expiry)
	if l.Table.Expired {
		exp += ", EXPIRED"
	}
	line("Leap table", "%s, expires %s", orDash(l.Table.Source), exp)
	if l.Mode == "smear" {
		line("Leap mode", "smear (served time is smeared around a leap second; LI stays 0)")
	}
	if l.KernelError != "" {
		line("Leap kernel", "%s", l.KernelError)
	}
	for _, w := range l.Warnings {
		line("Leap warning", "%s: %s", w.Kind, w.Message)
	}
}
