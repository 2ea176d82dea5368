package gps

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// TestByteTime: with Options.ByteTime, an epoch's receive time is when its first byte arrived, worked back
// from the read that carried it: every read returns when its last byte has arrived.
func TestByteTime(t *testing.T) {
	const bt = time.Millisecond
	s := rmcAt("120000")
	for _, tc := range []struct {
		name   string
		writes []write
		want   time.Duration
	}{
		// The whole sentence in one read at 100 ms: its first byte came len-1 characters earlier.
		{"one read", []write{{100 * time.Millisecond, s}}, 100*time.Millisecond - time.Duration(len(s)-1)*bt},
		// Garbage then the sentence in one read: only the characters after the '$' count.
		{"after garbage", []write{{100 * time.Millisecond, "xyz" + s}}, 100*time.Millisecond - time.Duration(len(s)-1)*bt},
		// Split: the first read holds "$GPR" and ends 10 ms before the second read.
		{"split", []write{{90 * time.Millisecond, s[:4]}, {100 * time.Millisecond, s[4:]}}, 90*time.Millisecond - 3*bt},
		// A pending tail from an earlier read: the '$' is the last byte of the first read.
		{"start at a read's end", []write{{50 * time.Millisecond, "junk$"}, {100 * time.Millisecond, s[1:]}}, 50 * time.Millisecond},
	} {
		d := NewDecoder(Options{ByteTime: bt})
		es := feedWrites(d, tc.writes...)
		if len(es) != 1 {
			t.Fatalf("%s: %d epochs", tc.name, len(es))
		}
		if got := es[0].Label.Received - t0; got != timebase.Instant(tc.want) {
			t.Errorf("%s: received %v, want %v", tc.name, time.Duration(got), tc.want)
		}
	}
	// Without ByteTime, the read's time.
	es := feedWrites(NewDecoder(Options{}), write{100 * time.Millisecond, s})
	if len(es) != 1 || es[0].Label.Received-t0 != timebase.Instant(100*time.Millisecond) {
		t.Errorf("without ByteTime: %+v", es)
	}
}
