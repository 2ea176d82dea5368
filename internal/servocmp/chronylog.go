package servocmp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// RefclockRecord is one line of chrony's refclocks.log.
//
// chrony writes two kinds of line (refclock.c, log_sample), each nine whitespace-separated fields:
//
//	2026-11-22 10:00:01.000123 GPS     3 N 0 -1.234568e+00 -2.345000e-07  1.000e-07   a sample as received
//	2026-11-22 10:00:16.500061 GPS     - N -       -        1.200000e-08  3.100e-08   the poll's filtered sample
//	date       time (UTC, µs)  refid  DP L P  raw offset    cooked offset  dispersion
//
// The time is the sample's time on chrony's own (cooked) clock, truncated to the microsecond. The raw
// offset is the reference time minus the sample's raw timestamp, as the driver delivered it; the cooked
// offset is the reference time minus the cooked time, i.e. raw offset minus chrony's correction at that
// raw instant. Both are printed with seven significant digits (%13.6e). Banner lines ("=====", the column
// titles) repeat every few dozen lines and are skipped.
type RefclockRecord struct {
	Time         timebase.Instant // cooked time of the sample, µs resolution
	RefID        string
	Filtered     bool    // the poll's output rather than a received sample (DP, P and raw offset are "-")
	DP           int     // samples received in the current poll before this one
	Leap         byte    // 'N', '+', '-' or '?'
	Pulse        bool    // the driver delivered a bare pulse (offset only within the second)
	RawOffset    float64 // seconds; 0 for a filtered line
	CookedOffset float64 // seconds
	Dispersion   float64 // seconds
}

// ErrLog is wrapped by every refclocks.log parse error.
var ErrLog = errors.New("chrony refclocks.log")

// maxLogLine bounds a line: chrony's are about 80 bytes.
const maxLogLine = 4096

// ParseRefclocks reads a refclocks.log. A line that is neither a banner nor a well-formed record is an
// error naming its number: a partial comparison must not pass silently.
func ParseRefclocks(r io.Reader) ([]RefclockRecord, error) {
	var out []RefclockRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLogLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "=") || strings.HasPrefix(t, "Date") {
			continue
		}
		rec, err := ParseRefclockLine(line)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%w: read after line %d: %w", ErrLog, n, err)
	}
	return out, nil
}

// ParseRefclockLine parses one record line (not a banner).
func ParseRefclockLine(line string) (RefclockRecord, error) {
	f := strings.Fields(line)
	if len(f) != 9 {
		return RefclockRecord{}, fmt.Errorf("%w: %d fields, want 9: %q", ErrLog, len(f), clip(line))
	}
	tm, err := time.Parse("2006-01-02 15:04:05.000000", f[0]+" "+f[1])
	if err != nil {
		return RefclockRecord{}, fmt.Errorf("%w: time %q %q: %w", ErrLog, f[0], f[1], err)
	}
	rec := RefclockRecord{Time: timebase.FromTime(tm), RefID: f[2]}
	if len(f[4]) != 1 || !strings.Contains("N+-?", f[4]) {
		return RefclockRecord{}, fmt.Errorf("%w: leap field %q, want one of N + - ?", ErrLog, f[4])
	}
	rec.Leap = f[4][0]
	if f[3] == "-" {
		if f[5] != "-" || f[6] != "-" {
			return RefclockRecord{}, fmt.Errorf("%w: filtered line with pulse %q and raw offset %q, want - -", ErrLog, f[5], f[6])
		}
		rec.Filtered = true
	} else {
		if rec.DP, err = strconv.Atoi(f[3]); err != nil || rec.DP < 0 {
			return RefclockRecord{}, fmt.Errorf("%w: DP %q is not a count", ErrLog, f[3])
		}
		switch f[5] {
		case "0":
		case "1":
			rec.Pulse = true
		default:
			return RefclockRecord{}, fmt.Errorf("%w: pulse field %q, want 0 or 1", ErrLog, f[5])
		}
		if rec.RawOffset, err = parseSeconds(f[6]); err != nil {
			return RefclockRecord{}, fmt.Errorf("%w: raw offset: %w", ErrLog, err)
		}
	}
	if rec.CookedOffset, err = parseSeconds(f[7]); err != nil {
		return RefclockRecord{}, fmt.Errorf("%w: cooked offset: %w", ErrLog, err)
	}
	if rec.Dispersion, err = parseSeconds(f[8]); err != nil {
		return RefclockRecord{}, fmt.Errorf("%w: dispersion: %w", ErrLog, err)
	}
	return rec, nil
}

// parseSeconds parses a finite offset of at most a day (anything larger is not a refclock sample chrony
// would have kept: its sanity check is far tighter).
func parseSeconds(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", clip(s), err)
	}
	if math.IsNaN(v) || math.Abs(v) > 86400 {
		return 0, fmt.Errorf("%q is not a plausible offset in seconds", clip(s))
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
