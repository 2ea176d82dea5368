package servocmp

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireChronyd returns chronyd's path, skipping when it is absent (failing under CI, where `make deps`
// installs it), as internal/e2e's requireTool does.
func requireChronyd(t *testing.T) string {
	t.Helper()
	p, err := FindChronyd("")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("chronyd is not installed; `make deps` installs it: %v", err)
	}
	t.Skipf("chronyd is not installed (run `make deps`); skipping: %v", err)
	return ""
}

// TestChronyIdeal runs the real chronyd (-x) for about 15 s on the noiseless "ideal" box, through both
// feeds at once, and checks the method end to end: every pulse sent comes back from the log, chrony's
// recovered error starts at the board's true error (1 ms plus 5 ppm: nothing corrected yet) and ends within
// a few nanoseconds of zero. A wrong sign or mapping anywhere would leave it at the board's error or
// double it.
func TestChronyIdeal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs chronyd in real time for 15 s")
	}
	requireChronyd(t)
	for _, feed := range []Feed{FeedLabelled, FeedPPSLock} {
		t.Run(feed.String(), func(t *testing.T) {
			t.Parallel()
			cfg := DefaultChronyConfig()
			cfg.Poll, cfg.Feed = 1, feed
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			rep, pts, err := run(ctx, Options{Scenario: Ideal, Duration: 20 * time.Second, Seed: 1, Chrony: cfg, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", rep.Text())
			st := rep.Samples
			if st.Unmatched != 0 || st.Matched < st.Fed-2 || st.Fed < 14 {
				t.Errorf("samples %+v: want ~15 sent, all but the first (pps-lock: no NMEA yet) and last matched", st)
			}
			first := pts[0]
			// The board reads 1 ms + 5 ppm·(second − start) ahead; nothing is corrected at the first sample.
			want := 1e6 + 5e-6*first.Second.Sub(rep.start).Seconds()*1e9
			if math.Abs(first.ErrNs-want) > 2 {
				t.Errorf("first error %.1f ns at %v, want the board's %.1f", first.ErrNs, first.Second, want)
			}
			last := pts[len(pts)-1]
			if math.Abs(last.ErrNs) > 5 {
				t.Errorf("last error %.1f ns: chrony did not converge on a noiseless source, or the recovery is wrong\n%s", last.ErrNs, tail(dir))
			}
		})
	}
}

func tail(dir string) string {
	b, _ := os.ReadFile(dir + "/refclocks.log")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// TestStartChronyFails: a chronyd that exits at once is reported with its output, not waited on.
func TestStartChronyFails(t *testing.T) {
	f, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1)")
	}
	cfg := DefaultChronyConfig()
	cfg.Path = f
	_, err = StartChrony(context.Background(), cfg, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "exited before opening") {
		t.Fatalf("err = %v, want chronyd exited before opening its socket", err)
	}
}

func TestChronyConfig(t *testing.T) {
	cfg := DefaultChronyConfig()
	cfg.Filter = 16
	if got, want := cfg.conf("/d"), "refclock SOCK /d/gps.sock refid GPS poll 4 precision 1e-07 filter 16\n"; !strings.HasPrefix(got, want) {
		t.Errorf("labelled conf:\n%s\nwant prefix\n%s", got, want)
	}
	cfg.Feed, cfg.Filter, cfg.NMEAOffset = FeedPPSLock, 0, 93500*time.Microsecond
	want := "refclock SOCK /d/nmea.sock refid NMEA noselect offset 0.0935 delay 0.2 precision 0.001\n" +
		"refclock SOCK /d/pps.sock refid PPS lock NMEA poll 4 precision 1e-07\n"
	if got := cfg.conf("/d"); !strings.HasPrefix(got, want) {
		t.Errorf("pps-lock conf:\n%s\nwant prefix\n%s", got, want)
	}
	for _, c := range []string{"logdir /d\n", "log refclocks tracking\n", "cmdport 0\n", "port 0\n"} {
		if !strings.Contains(cfg.conf("/d"), c) {
			t.Errorf("conf lacks %q", c)
		}
	}
	for _, bad := range []ChronyConfig{
		{Poll: 13, Precision: 1e-7},
		{Poll: 4, Precision: 0},
		{Poll: 4, Precision: 1e-7, Filter: -1},
		{Poll: 4, Precision: 1e-7, Feed: 7},
		{Poll: 4, Precision: 1e-7, Extra: []string{"a\nb"}},
		{Poll: 4, Precision: 1e-7, NMEAOffset: 2 * time.Second},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}
