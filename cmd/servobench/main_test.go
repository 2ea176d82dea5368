package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-chrony-feed", "shm"}, 2, `feed "shm" unknown`},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-duration", "5s", "-scenario", "ideal"}, 1, "duration 5s outside"},
		{[]string{"-scenario", "holdover-1h", "-duration", "70m"}, 1, "GPS outage"},
		{[]string{"-scenario", "nope"}, 1, `scenario "nope" unknown`},
		{[]string{"-chrony-poll", "20", "-scenario", "ideal", "-duration", "10s"}, 1, "poll 20 outside"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
