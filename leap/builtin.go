package leap

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"sync"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// builtinList is the IERS leap-seconds.list (public domain) as shipped by Debian tzdata 2026f: updated
// 2026-07-06, expires 2027-06-28. Replace the file with a newer IERS copy when one is published; the tests
// check that it parses and that its hash verifies.
//
//go:embed leap-seconds.list
var builtinList []byte

var builtin = sync.OnceValues(func() (*Table, error) { return Parse(bytes.NewReader(builtinList)) })

// Builtin returns the table compiled into the binary. It panics if the embedded file does not verify, which
// the package's tests rule out for every build that passed them.
func Builtin() *Table {
	t, err := builtin()
	if err != nil {
		panic(fmt.Sprintf("leap: embedded leap-seconds.list: %v", err))
	}
	return t
}

// Candidate is a leap-seconds.list from outside the binary: the state directory (a copy fetched later) or a
// file named on the command line. Opening it is the caller's job.
type Candidate struct {
	Name string    // for messages, e.g. "/perm/gpsntp/leap-seconds.list" or "-leapfile"
	Data io.Reader // nil when the caller could not open it (then Err says why)
	Err  error     // the caller's open/read error, reported as the rejection reason
}

// Rejection says why a candidate was not used.
type Rejection struct {
	Name   string
	Reason string
}

// Choice is the outcome of Choose: the table to use, where it came from, and why the others lost.
type Choice struct {
	Table    *Table
	Source   string // "builtin" or the winning candidate's Name
	Rejected []Rejection
	// Expired is set when even the chosen table is expired at now: its history is still right, but it
	// says nothing about leap seconds after its expiry. The daemon shows this as a warning.
	Expired bool
}

// Choose picks the leap second table to use at now among the built-in one and candidates.
//
// Rule: a candidate wins over the built-in table when it parses, its hash verifies, it is not expired at
// now, it was updated later than the built-in table, and it agrees with every entry of the built-in table
// (IERS only ever appends; a file that rewrites history is corrupt or forged). Among winners the latest
// update wins; on a tie, the earlier candidate in the list. When every table, the built-in one included, is
// expired, the one that expires last is used and Choice.Expired is set: old history is still right, and a
// newer expired file knows more than an older one.
func Choose(builtin *Table, candidates []Candidate, now timebase.Instant) Choice {
	ch := Choice{Table: builtin, Source: "builtin"}
	var newest *Table
	var newestName string
	var expired []struct {
		t    *Table
		name string
	}
	for _, c := range candidates {
		reject := func(format string, a ...any) {
			ch.Rejected = append(ch.Rejected, Rejection{Name: c.Name, Reason: fmt.Sprintf(format, a...)})
		}
		if c.Err != nil {
			reject("unreadable: %v", c.Err)
			continue
		}
		if c.Data == nil {
			reject("no data")
			continue
		}
		t, err := Parse(c.Data)
		if err != nil {
			reject("%v", err)
			continue
		}
		if err := consistent(builtin, t); err != nil {
			reject("%v", err)
			continue
		}
		if t.Updated() <= builtin.Updated() {
			reject("not newer than the built-in table (updated %s, built-in %s)", t.Updated(), builtin.Updated())
			continue
		}
		if t.Expired(now) {
			reject("expired at %s", t.Expiry())
			expired = append(expired, struct {
				t    *Table
				name string
			}{t, c.Name})
			continue
		}
		if newest == nil || t.Updated() > newest.Updated() {
			newest, newestName = t, c.Name
		}
	}
	if newest != nil {
		ch.Table, ch.Source = newest, newestName
		return ch
	}
	if builtin.Expired(now) {
		for _, e := range expired {
			if e.t.Expiry() > ch.Table.Expiry() {
				ch.Table, ch.Source = e.t, e.name
			}
		}
		ch.Expired = true
		if ch.Source != "builtin" {
			kept := ch.Rejected[:0]
			for _, r := range ch.Rejected {
				if r.Name != ch.Source {
					kept = append(kept, r)
				}
			}
			ch.Rejected = kept
		}
	}
	return ch
}

// consistent checks that t contains every entry of base unchanged.
func consistent(base, t *Table) error {
	for _, b := range base.entries {
		v, ok := t.TAIMinusUTC(b.At)
		if !ok || v != b.TAIMinusUTC {
			return fmt.Errorf("contradicts the built-in table: TAI-UTC at %s is %d there, %d (known %v) here", b.At, b.TAIMinusUTC, v, ok)
		}
		if i := t.search(b.At); t.entries[i].At != b.At {
			return fmt.Errorf("contradicts the built-in table: no change of TAI-UTC at %s", b.At)
		}
	}
	return nil
}
