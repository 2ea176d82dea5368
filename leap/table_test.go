package leap

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// ntp returns the seconds-since-1900 of a UTC date, unwrapped.
func ntp(y int, m time.Month, d int) uint64 {
	return uint64(timebase.Date(y, m, d, 0, 0, 0, 0).Time().Unix() + timebase.NTPEpochOffset)
}

type line struct {
	ts  uint64
	off int
}

// makeList writes a leap-seconds.list with a correct hash. Timestamps are written as given (callers wrap
// them with %(1<<32) to test era resolution). zeroFmt suppresses leading zeros in the hash words as the
// NIST writer does.
func makeList(updated, expiry uint64, lines []line) string {
	var b strings.Builder
	h := sha1.New()
	fmt.Fprintf(&b, "#\tsynthetic test file\n#NTP Time      DTAI    Day Month Year\n#$\t%d\n#@\t%d\n", updated, expiry)
	fmt.Fprintf(h, "%d%d", updated, expiry)
	for _, l := range lines {
		fmt.Fprintf(&b, "%d\t%d\t# comment 1 Jan 1999\n", l.ts, l.off)
		fmt.Fprintf(h, "%d%d", l.ts, l.off)
	}
	s := h.Sum(nil)
	b.WriteString("#h\t")
	for i := 0; i < 5; i++ {
		w := uint32(s[4*i])<<24 | uint32(s[4*i+1])<<16 | uint32(s[4*i+2])<<8 | uint32(s[4*i+3])
		fmt.Fprintf(&b, " %x", w)
	}
	b.WriteString("\n")
	return b.String()
}

// history is the real table up to 2017, for synthetic files.
var history = func() []line {
	var out []line
	for _, e := range Builtin().Entries() {
		out = append(out, line{uint64(e.At.Time().Unix() + timebase.NTPEpochOffset), e.TAIMinusUTC})
	}
	return out
}()

func TestBuiltin(t *testing.T) {
	tb := Builtin()
	if got, want := tb.Updated(), timebase.Date(2026, 7, 6, 7, 44, 57, 0); got != want {
		t.Errorf("Updated = %s, want %s", got, want)
	}
	if got, want := tb.Expiry(), timebase.Date(2027, 6, 28, 0, 0, 0, 0); got != want {
		t.Errorf("Expiry = %s, want %s", got, want)
	}
	if got := tb.Hash(); got != "a9bad14584c31c70758402aab37bfd545923836a" {
		t.Errorf("Hash = %s", got)
	}
	if n := len(tb.Entries()); n != 28 {
		t.Errorf("%d entries, want 28", n)
	}
	// The embedded copy must be the file the package says it is: compare with the system copy when it is
	// the same release (skip silently otherwise: the system may be older or newer).
	if sys, err := os.ReadFile("/usr/share/zoneinfo/leap-seconds.list"); err == nil && strings.Contains(string(sys), "#$\t3992312697") {
		if string(sys) != string(builtinList) {
			t.Errorf("embedded leap-seconds.list differs from the system copy of the same update")
		}
	}
}

func TestTableLookups(t *testing.T) {
	tb := Builtin()
	leap2017 := timebase.Date(2017, 1, 1, 0, 0, 0, 0)
	tests := []struct {
		at     timebase.Instant
		off    int
		ok     bool
		next   Event
		noNext bool
	}{
		{at: timebase.Date(1971, 12, 31, 23, 59, 59, 0), ok: false, next: Event{timebase.Date(1972, 7, 1, 0, 0, 0, 0), 1, 11}},
		{at: timebase.Date(1972, 1, 1, 0, 0, 0, 0), off: 10, ok: true, next: Event{timebase.Date(1972, 7, 1, 0, 0, 0, 0), 1, 11}},
		{at: timebase.Date(2016, 12, 31, 0, 0, 0, 0), off: 36, ok: true, next: Event{leap2017, 1, 37}},
		{at: leap2017 - 1, off: 36, ok: true, next: Event{leap2017, 1, 37}},
		{at: leap2017, off: 37, ok: true, noNext: true},
		{at: timebase.Date(2026, 11, 22, 7, 0, 0, 0), off: 37, ok: true, noNext: true},
		{at: timebase.Date(2040, 1, 1, 0, 0, 0, 0), off: 37, ok: true, noNext: true},
	}
	for _, tt := range tests {
		off, ok := tb.TAIMinusUTC(tt.at)
		if off != tt.off || ok != tt.ok {
			t.Errorf("TAIMinusUTC(%s) = %d,%v want %d,%v", tt.at, off, ok, tt.off, tt.ok)
		}
		next, ok := tb.NextLeap(tt.at)
		if ok == tt.noNext || (ok && next != tt.next) {
			t.Errorf("NextLeap(%s) = %v,%v want %v,%v", tt.at, next, ok, tt.next, !tt.noNext)
		}
	}
	if last, ok := tb.LastLeap(timebase.Date(2026, 1, 1, 0, 0, 0, 0)); !ok || last.At != leap2017 || last.Change != 1 {
		t.Errorf("LastLeap = %v,%v", last, ok)
	}
	if _, ok := tb.LastLeap(timebase.Date(1972, 3, 1, 0, 0, 0, 0)); ok {
		t.Errorf("LastLeap before the first leap reported one")
	}
	if !tb.Expired(timebase.Date(2027, 6, 28, 0, 0, 0, 0)) || tb.Expired(timebase.Date(2027, 6, 27, 23, 59, 59, 0)) {
		t.Errorf("Expired boundary wrong")
	}
}

func TestParseSynthetic(t *testing.T) {
	del := append(append([]line(nil), history...), line{ntp(2027, 10, 1), 36})
	got, err := Parse(strings.NewReader(makeList(ntp(2027, 3, 1), ntp(2028, 6, 28), del)))
	if err != nil {
		t.Fatal(err)
	}
	at := timebase.Date(2027, 10, 1, 0, 0, 0, 0)
	if ev, ok := got.NextLeap(timebase.Date(2027, 9, 30, 12, 0, 0, 0)); !ok || ev != (Event{at, -1, 36}) {
		t.Errorf("deletion: NextLeap = %v,%v", ev, ok)
	}
	if off, _ := got.TAIMinusUTC(at - 1); off != 37 {
		t.Errorf("before deletion TAI-UTC = %d", off)
	}
	if off, _ := got.TAIMinusUTC(at); off != 36 {
		t.Errorf("after deletion TAI-UTC = %d", off)
	}
}

// Era 1 begins 2036-02-07T06:28:16Z. A file updated after it writes either wrapped NTP timestamps or plain
// seconds since 1900; both must land on the same instants.
func TestParseEra2036(t *testing.T) {
	lines := append(append([]line(nil), history...), line{ntp(2036, 7, 1), 38})
	upd, exp := ntp(2036, 3, 1), ntp(2037, 6, 28)
	want := timebase.Date(2036, 7, 1, 0, 0, 0, 0)
	wrapped := append([]line(nil), lines...)
	wrapped[len(wrapped)-1].ts %= 1 << 32
	for name, f := range map[string]string{
		"plain":   makeList(upd, exp, lines),
		"wrapped": makeList(upd%(1<<32), exp%(1<<32), wrapped),
	} {
		tb, err := Parse(strings.NewReader(f))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev, ok := tb.NextLeap(timebase.Date(2036, 2, 1, 0, 0, 0, 0)); !ok || ev.At != want || ev.Change != 1 {
			t.Errorf("%s: NextLeap = %v,%v", name, ev, ok)
		}
		if tb.Updated() != timebase.Date(2036, 3, 1, 0, 0, 0, 0) || tb.Expiry() != timebase.Date(2037, 6, 28, 0, 0, 0, 0) {
			t.Errorf("%s: updated %s expiry %s", name, tb.Updated(), tb.Expiry())
		}
	}
	if wrapped[len(wrapped)-1].ts >= 1<<31 {
		t.Fatalf("test does not exercise a small wrapped value")
	}
}

// The NIST writer prints hash words without leading zeros; such a file must verify.
func TestParseHashLeadingZeros(t *testing.T) {
	for upd := ntp(2026, 7, 6); upd < ntp(2026, 7, 7); upd++ {
		f := makeList(upd, ntp(2027, 6, 28), history)
		hl := f[strings.LastIndex(f, "#h"):]
		short := false
		for _, w := range strings.Fields(hl[2:]) {
			short = short || len(w) < 8
		}
		if !short {
			continue
		}
		if _, err := Parse(strings.NewReader(f)); err != nil {
			t.Fatalf("hash with suppressed zeros %q: %v", hl, err)
		}
		return
	}
	t.Fatal("no update time gave a hash word with a leading zero")
}

func TestParseErrors(t *testing.T) {
	good := makeList(ntp(2026, 7, 6), ntp(2027, 6, 28), history)
	if _, err := Parse(strings.NewReader(good)); err != nil {
		t.Fatalf("good file: %v", err)
	}
	swap := append([]line(nil), history...)
	swap[3].ts, swap[4].ts = swap[4].ts, swap[3].ts
	jump := append(append([]line(nil), history...), line{ntp(2027, 1, 1), 39})
	midMonth := append(append([]line(nil), history...), line{ntp(2027, 1, 2), 38})
	repeat := append(append([]line(nil), history...), history[len(history)-1])
	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "no data lines"},
		{"comments only", "# nothing\n#\n", "no data lines"},
		{"bad hash", strings.Replace(good, "#h\t a", "#h\t b", 1), "hash mismatch"},
		{"data changed", strings.Replace(good, "3692217600\t37", "3692217600\t38", 1), "hash mismatch"},
		{"no hash", good[:strings.Index(good, "#h")], "no #h"},
		{"hash four words", good[:strings.LastIndex(good, " ")] + "\n", "five hexadecimal words"},
		{"hash not hex", strings.Replace(good, "#h\t ", "#h\t zz", 1), "#h word 1"},
		{"no update", strings.Replace(good, "#$", "# $", 1), "no #$"},
		{"no expiry", strings.Replace(good, "#@", "# @", 1), "no #@"},
		{"two updates", strings.Replace(good, "#@", "#$\t1\n#@", 1), "second #$"},
		{"update not a number", strings.Replace(good, "#$\t", "#$\tx", 1), "#$ (last update)"},
		{"three fields", strings.Replace(good, "\t37\t#", "\t37\t1\t#", 1), "wants 2 fields"},
		{"bad offset", strings.Replace(good, "\t37\t#", "\tthirty\t#", 1), "TAI-UTC"},
		{"negative offset", strings.Replace(good, "\t37\t#", "\t-5\t#", 1), "outside"},
		{"out of order", makeList(ntp(2026, 7, 6), ntp(2027, 6, 28), swap), "out of order"},
		{"jump by two", makeList(ntp(2026, 7, 6), ntp(2027, 6, 28), jump), "exactly one"},
		{"not a month start", makeList(ntp(2026, 7, 6), ntp(2027, 6, 28), midMonth), "first of a month"},
		{"repeated line", makeList(ntp(2026, 7, 6), ntp(2027, 6, 28), repeat), "repeats"},
		{"expiry before update", makeList(ntp(2026, 7, 6), ntp(2026, 7, 6), history), "expiry equals"},
		{"far future", makeList(ntp(2026, 7, 6), 99_000_000_000, history), "beyond the year"},
		{"long line", good + strings.Repeat("1", 5000) + "\n", "longer than"},
		{"huge", good + strings.Repeat("#\n", maxFileBytes/2+1), "larger than"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := Parse(strings.NewReader(strings.Replace(good, "#h\t a", "#h\t b", 1))); !errors.Is(err, ErrHash) {
		t.Errorf("bad hash does not wrap ErrHash: %v", err)
	}
	// CRLF line ends and extra blank lines do not change the data.
	if _, err := Parse(strings.NewReader(strings.ReplaceAll(good, "\n", "\r\n\n"))); err != nil {
		t.Errorf("CRLF: %v", err)
	}
}

// Every truncation of the real file is an error, save dropping its final newline.
func TestParseTruncated(t *testing.T) {
	for n := 0; n < len(builtinList)-1; n++ {
		if _, err := Parse(strings.NewReader(string(builtinList[:n]))); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(builtinList))
		}
	}
}

func TestMonthStart(t *testing.T) {
	tests := []struct {
		at   timebase.Instant
		want bool
	}{
		{timebase.Date(2017, 1, 1, 0, 0, 0, 0), true},
		{timebase.Date(2027, 4, 1, 0, 0, 0, 0), true}, // end of March: allowed (second preference)
		{timebase.Date(2027, 2, 1, 0, 0, 0, 0), true}, // end of January: any month end
		{timebase.Date(2017, 1, 2, 0, 0, 0, 0), false},
		{timebase.Date(2017, 1, 1, 0, 0, 1, 0), false},
		{timebase.Date(2017, 1, 1, 0, 0, 0, 1), false},
		{timebase.Date(2016, 12, 31, 23, 59, 59, 0), false},
		{timebase.Date(2036, 3, 1, 0, 0, 0, 0), true},
	}
	for _, tt := range tests {
		if got := MonthStart(tt.at); got != tt.want {
			t.Errorf("MonthStart(%s) = %v", tt.at, got)
		}
	}
}
