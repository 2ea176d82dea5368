package leap

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Limits that keep a hostile or corrupt file from costing memory: the real file is about 5 KB.
const (
	maxFileBytes = 1 << 20
	maxLineBytes = 4096
	maxEntries   = 1000
)

// Bounds on TAI-UTC accepted from any source. It was 10 s in 1972 and has only grown; a value outside these
// bounds is corruption, not history.
const (
	minTAIMinusUTC = 0
	maxTAIMinusUTC = 1000
)

// Entry is one line of the table: from At on, TAI-UTC is TAIMinusUTC seconds. At is 00:00:00 UTC on the first
// day of a month; the leap second itself (inserted or deleted) is the last second of the day before.
type Entry struct {
	At          timebase.Instant
	TAIMinusUTC int
}

// Event is one leap second: at At (00:00:00 UTC of the first day of a month) TAI-UTC changes by Change
// (+1: a second 23:59:60 was inserted before At; -1: 23:59:59 was left out) to TAIMinusUTC.
type Event struct {
	At          timebase.Instant
	Change      int
	TAIMinusUTC int // after the event
}

// Day returns the UTC day that ends at the event, [At-24h, At): the day whose last minute is 61 or 59
// seconds long, and during which the Leap Indicator announces it.
func (e Event) Day() (start, end timebase.Instant) { return e.At - 86400*timebase.Second, e.At }

func (e Event) String() string {
	kind := "insert"
	if e.Change < 0 {
		kind = "delete"
	}
	return fmt.Sprintf("%s before %s (TAI-UTC %d -> %d)", kind, e.At.Time().Format(time.DateTime), e.TAIMinusUTC-e.Change, e.TAIMinusUTC)
}

// Table is a parsed, hash-verified leap second table. It is immutable.
type Table struct {
	entries []Entry
	updated timebase.Instant
	expiry  timebase.Instant
	hash    [sha1.Size]byte
}

// ErrHash is wrapped by Parse when the file's #h line does not match its contents.
var ErrHash = errors.New("leap-seconds.list hash mismatch")

// Entries returns a copy of the table's lines, oldest first.
func (t *Table) Entries() []Entry { return append([]Entry(nil), t.entries...) }

// Updated is the file's last-update time (the #$ line).
func (t *Table) Updated() timebase.Instant { return t.updated }

// Expiry is the file's expiry time (the #@ line): the table says nothing about leap seconds after it.
func (t *Table) Expiry() timebase.Instant { return t.expiry }

// Expired reports whether the table no longer covers now.
func (t *Table) Expired(now timebase.Instant) bool { return now >= t.expiry }

// Hash is the file's verified SHA-1, for display and for telling copies apart.
func (t *Table) Hash() string { return hex.EncodeToString(t.hash[:]) }

// TAIMinusUTC returns TAI-UTC in seconds at the instant at; ok is false before the table's first entry
// (1972, when UTC with integer offsets began). After Expiry the last value is returned: it stays right
// unless a leap second the table could not know about has happened, which the caller must judge.
func (t *Table) TAIMinusUTC(at timebase.Instant) (seconds int, ok bool) {
	i := t.search(at)
	if i < 0 {
		return 0, false
	}
	return t.entries[i].TAIMinusUTC, true
}

// NextLeap returns the first leap second at an instant strictly after after. The table's first entry is the
// 1972 starting offset, not a leap, and is never returned.
func (t *Table) NextLeap(after timebase.Instant) (Event, bool) {
	i := t.search(after) + 1
	if i < 1 {
		i = 1
	}
	if i >= len(t.entries) {
		return Event{}, false
	}
	e := t.entries[i]
	return Event{At: e.At, Change: e.TAIMinusUTC - t.entries[i-1].TAIMinusUTC, TAIMinusUTC: e.TAIMinusUTC}, true
}

// LastLeap returns the latest leap second at or before at.
func (t *Table) LastLeap(at timebase.Instant) (Event, bool) {
	i := t.search(at)
	if i < 1 {
		return Event{}, false
	}
	e := t.entries[i]
	return Event{At: e.At, Change: e.TAIMinusUTC - t.entries[i-1].TAIMinusUTC, TAIMinusUTC: e.TAIMinusUTC}, true
}

// search returns the index of the last entry with At <= at, or -1.
func (t *Table) search(at timebase.Instant) int {
	lo, hi := 0, len(t.entries) // invariant: entries[:lo] <= at < entries[hi:]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.entries[m].At <= at {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// ntpStamp is a seconds-since-1900 value as written in the file, before its NTP era is known.
type ntpStamp struct {
	raw  uint64
	line int
}

const (
	eraSeconds = 1 << 32
	// maxGap bounds the distance between consecutive resolved stamps. Era resolution picks the first era
	// that keeps the file in order; a gap this large means the order is wrong, not that 68 years passed.
	maxGap = 1 << 31
	// maxStamp keeps instants inside timebase.Instant's range (it ends in 2262).
	maxStamp = 11_000_000_000
)

// resolve places a file timestamp on the time line: a value of 2^32 or more is taken as plain seconds since
// 1900 (a writer that does not wrap); a smaller one is an NTP timestamp of unknown era and gets the first era
// that puts it at or after floor (seconds since 1900). The whole file is thereby resolved from its first data
// line (1972, era 0) forwards, so the 2036 wrap needs no wall clock.
func resolve(s ntpStamp, floor int64, first bool) (int64, error) {
	v := int64(s.raw)
	if s.raw < eraSeconds && v < floor {
		v += (floor - v + eraSeconds - 1) / eraSeconds * eraSeconds
	}
	if v > maxStamp {
		return 0, fmt.Errorf("line %d: timestamp %d is beyond the year 2248", s.line, s.raw)
	}
	if v < floor || (!first && v-floor >= maxGap) {
		return 0, fmt.Errorf("line %d: timestamp %d is out of order", s.line, s.raw)
	}
	return v, nil
}

func instantFrom1900(s int64) timebase.Instant {
	return timebase.Instant(s-timebase.NTPEpochOffset) * timebase.Second
}

// Parse reads a leap-seconds.list file in the IERS/NIST format and verifies it.
//
// The format: lines starting with '#' and a blank or tab are comments; three special comments carry data:
//
//	#$	3992312697                  last update, seconds since 1900-01-01 (NTP timestamp)
//	#@	4023129600                  expiry, seconds since 1900-01-01
//	2272060800      10      # 1 Jan 1972   data line: from this instant on, TAI-UTC is 10 s
//	#h	a9bad145 84c31c70 758402aa b37bfd54 5923836a
//
// The #h line is the SHA-1 of the file's data: the digits of the #$ value, of the #@ value and of each
// data line's two numeric fields, concatenated in file order with all white space and comments removed. It
// is written as five 32-bit words in hexadecimal, and writers suppress leading zeros in a word, so words are
// compared as numbers. A missing or wrong hash is an error: a table we serve to the world must be the one
// IERS published.
func Parse(r io.Reader) (*Table, error) {
	lr := &io.LimitedReader{R: r, N: maxFileBytes + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 512), maxLineBytes)
	h := sha1.New()
	var (
		updated, expiry            ntpStamp
		haveUpd, haveExp, haveHash bool
		want                       [5]uint32
		raw                        []ntpStamp
		offsets                    []int
		n                          int
	)
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "#$"), strings.HasPrefix(line, "#@"):
			f := strings.Fields(line[2:])
			what := "#$ (last update)"
			if line[1] == '@' {
				what = "#@ (expiry)"
			}
			if len(f) != 1 {
				return nil, fmt.Errorf("leap.Parse: line %d: %s wants one number, got %q", n, what, line)
			}
			v, err := strconv.ParseUint(f[0], 10, 63)
			if err != nil {
				return nil, fmt.Errorf("leap.Parse: line %d: %s: %w", n, what, err)
			}
			if line[1] == '$' {
				if haveUpd {
					return nil, fmt.Errorf("leap.Parse: line %d: second #$ line", n)
				}
				updated, haveUpd = ntpStamp{v, n}, true
			} else {
				if haveExp {
					return nil, fmt.Errorf("leap.Parse: line %d: second #@ line", n)
				}
				expiry, haveExp = ntpStamp{v, n}, true
			}
			h.Write([]byte(f[0]))
		case strings.HasPrefix(line, "#h"):
			if haveHash {
				return nil, fmt.Errorf("leap.Parse: line %d: second #h line", n)
			}
			f := strings.Fields(line[2:])
			if len(f) != 5 {
				return nil, fmt.Errorf("leap.Parse: line %d: #h wants five hexadecimal words, got %d", n, len(f))
			}
			for i, w := range f {
				v, err := strconv.ParseUint(w, 16, 32)
				if err != nil {
					return nil, fmt.Errorf("leap.Parse: line %d: #h word %d %q: %w", n, i+1, w, err)
				}
				want[i] = uint32(v)
			}
			haveHash = true
		case strings.HasPrefix(line, "#"):
			// A comment, including ones like "#NTP Time  DTAI" that have no blank after '#'.
		default:
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(f) != 2 {
				return nil, fmt.Errorf("leap.Parse: line %d: data line wants 2 fields (NTP time, TAI-UTC), got %d", n, len(f))
			}
			ts, err := strconv.ParseUint(f[0], 10, 63)
			if err != nil {
				return nil, fmt.Errorf("leap.Parse: line %d: NTP time: %w", n, err)
			}
			off, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("leap.Parse: line %d: TAI-UTC: %w", n, err)
			}
			if off < minTAIMinusUTC || off > maxTAIMinusUTC {
				return nil, fmt.Errorf("leap.Parse: line %d: TAI-UTC %d outside [%d, %d]", n, off, minTAIMinusUTC, maxTAIMinusUTC)
			}
			if len(raw) == maxEntries {
				return nil, fmt.Errorf("leap.Parse: line %d: more than %d data lines", n, maxEntries)
			}
			raw = append(raw, ntpStamp{ts, n})
			offsets = append(offsets, off)
			h.Write([]byte(f[0]))
			h.Write([]byte(f[1]))
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("leap.Parse: line %d: longer than %d bytes: %w", n+1, maxLineBytes, err)
		}
		return nil, fmt.Errorf("leap.Parse: read after line %d: %w", n, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("leap.Parse: file larger than %d bytes", maxFileBytes)
	}
	switch {
	case len(raw) == 0:
		return nil, fmt.Errorf("leap.Parse: no data lines (empty or truncated file, %d lines read)", n)
	case !haveUpd:
		return nil, fmt.Errorf("leap.Parse: no #$ (last update) line")
	case !haveExp:
		return nil, fmt.Errorf("leap.Parse: no #@ (expiry) line")
	case !haveHash:
		return nil, fmt.Errorf("leap.Parse: no #h (hash) line: truncated file? (%d lines read)", n)
	}

	t := &Table{}
	copy(t.hash[:], h.Sum(nil))
	var wantSum [sha1.Size]byte
	for i, w := range want {
		wantSum[4*i], wantSum[4*i+1], wantSum[4*i+2], wantSum[4*i+3] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	}
	if !bytes.Equal(wantSum[:], t.hash[:]) {
		return nil, fmt.Errorf("leap.Parse: %w: file says %x, contents give %x", ErrHash, wantSum, t.hash)
	}

	// Resolve eras from the first data line forwards, then check the table's shape.
	floor := int64(0)
	t.entries = make([]Entry, len(raw))
	for i, s := range raw {
		v, err := resolve(s, floor, i == 0)
		if err != nil {
			return nil, fmt.Errorf("leap.Parse: data %w", err)
		}
		if i > 0 && v == floor {
			return nil, fmt.Errorf("leap.Parse: line %d: timestamp %d repeats the previous line", s.line, s.raw)
		}
		at := instantFrom1900(v)
		if !MonthStart(at) {
			return nil, fmt.Errorf("leap.Parse: line %d: %s is not 00:00:00 UTC on the first of a month", s.line, at)
		}
		if i > 0 {
			if d := offsets[i] - offsets[i-1]; d != 1 && d != -1 {
				return nil, fmt.Errorf("leap.Parse: line %d: TAI-UTC goes from %d to %d: a leap second changes it by exactly one", s.line, offsets[i-1], offsets[i])
			}
		}
		t.entries[i] = Entry{At: at, TAIMinusUTC: offsets[i]}
		floor = v
	}
	first := int64(raw[0].raw)
	u, err := resolve(updated, first, false)
	if err != nil {
		return nil, fmt.Errorf("leap.Parse: #$ %w", err)
	}
	e, err := resolve(expiry, u, false)
	if err != nil {
		return nil, fmt.Errorf("leap.Parse: #@ %w", err)
	}
	if e == u {
		return nil, fmt.Errorf("leap.Parse: line %d: expiry equals the update time", expiry.line)
	}
	t.updated, t.expiry = instantFrom1900(u), instantFrom1900(e)
	return t, nil
}

// MonthStart reports whether at is exactly 00:00:00 UTC on the first day of a month: the only instants at
// which TAI-UTC may change. IERS prefers the ends of June and December, then March and September, but may use
// any month (ITU-R TF.460-6); we accept any month end, as ntpd does.
func MonthStart(at timebase.Instant) bool {
	if at.Truncate(24*time.Hour) != at {
		return false
	}
	return at.Time().Day() == 1
}
