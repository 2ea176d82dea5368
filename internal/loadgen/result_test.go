package loadgen

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:123")
	var h Histogram
	for v := int64(1); v <= 1000; v++ {
		h.Record(v * 1000) // 1..1000 µs
	}
	tests := []struct {
		name    string
		cfg     Config
		c       counts
		elapsed time.Duration
		check   func(r Result) string
	}{
		{"closed loop", Config{Target: target, Window: 64, Sockets: 4}, counts{sent: 1000, answered: 950, kod: 10}, 2 * time.Second,
			func(r Result) string {
				if r.Mode != "closed" || r.Window != 64 || r.Rate != 0 || r.Sockets != 4 || r.Target != "127.0.0.1:123" {
					return "mode fields"
				}
				if r.SentPerSec != 500 || r.AnsweredPerSec != 475 || r.LossPct != 4 || r.Seconds != 2 {
					return "rates or loss"
				}
				return ""
			}},
		{"open loop", Config{Target: target, Rate: 1000}, counts{sent: 3000, answered: 3000}, 3 * time.Second,
			func(r Result) string {
				if r.Mode != "open" || r.Rate != 1000 || r.Window != 0 || r.LossPct != 0 || r.AnsweredPerSec != 1000 {
					return "open loop fields"
				}
				return ""
			}},
		{"nothing sent", Config{Target: target}, counts{}, time.Second,
			func(r Result) string {
				if r.LossPct != 0 || r.SentPerSec != 0 {
					return "loss of nothing is not 0"
				}
				return ""
			}},
		{"more answers than requests", Config{Target: target}, counts{sent: 10, answered: 12}, time.Second,
			func(r Result) string {
				if r.LossPct != 0 {
					return "negative loss"
				}
				return ""
			}},
		{"zero elapsed", Config{Target: target}, counts{sent: 10, answered: 10}, 0,
			func(r Result) string {
				if r.SentPerSec != 0 || r.AnsweredPerSec != 0 {
					return "rate without time"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		r := summarize(tt.cfg, tt.c, &h, tt.elapsed)
		if msg := tt.check(r); msg != "" {
			t.Errorf("%s: %s: %+v", tt.name, msg, r)
		}
	}
	r := summarize(tests[0].cfg, tests[0].c, &h, time.Second)
	// Exact below 256 ns only; 1000 samples of whole microseconds land within 0.4 %.
	near := func(got, want float64) bool { return got >= want*0.996 && got <= want*1.004 }
	if r.MinUs != 1 || r.MaxUs != 1000 || !near(r.P50Us, 500) || !near(r.P90Us, 900) || !near(r.P99Us, 990) ||
		!near(r.P999Us, 999) || r.MeanUs != 500.5 {
		t.Errorf("percentiles: %+v", r)
	}
}

func TestResultOutput(t *testing.T) {
	a := Result{Label: "gpsntpd", Target: "127.0.0.1:1", Mode: "closed", Window: 256, Sockets: 4, Seconds: 3,
		Sent: 900000, Answered: 900000, SentPerSec: 300000, AnsweredPerSec: 300000, P50Us: 30, P90Us: 40, P99Us: 50, P999Us: 80}
	b := Result{Label: "chronyd", Target: "127.0.0.1:2", Mode: "closed", Window: 256, Sockets: 4, Seconds: 3,
		Sent: 600000, Answered: 600000, SentPerSec: 200000, AnsweredPerSec: 200000, P50Us: 60, P90Us: 80, P99Us: 100, P999Us: 160}
	var out bytes.Buffer
	if err := WriteComparison(&out, []Result{a, b}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"gpsntpd/chronyd", "answered/s", "300000", "200000", "1.50x", "0.50x", "closed loop, window 256"} {
		if !strings.Contains(s, want) {
			t.Errorf("comparison lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	c := Result{Target: "127.0.0.1:1", Mode: "open", Rate: 100000, Sockets: 1, Seconds: 1, Sent: 50000, SentPerSec: 50000,
		Answered: 40000, AnsweredPerSec: 40000, LossPct: 20, KoD: 3}
	if err := c.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"open loop at 100000/s", "20.000 %", "kiss-o'-death 3", "warning: the generator sent only 50000/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if Ratio(1, 0) != 0 || Ratio(3, 2) != 1.5 {
		t.Error("Ratio")
	}
	// JSON round trip, as -json and -compare use it.
	j, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || back != a {
		t.Errorf("JSON round trip: %v\n%+v\n%+v", err, back, a)
	}
	for _, key := range []string{`"answered_per_s":300000`, `"loss_pct":0`, `"p99_us":50`} {
		if !strings.Contains(string(j), key) {
			t.Errorf("JSON lacks %s: %s", key, j)
		}
	}
}

func TestNextCost(t *testing.T) {
	tests := []struct{ est, sample, want int64 }{
		{1000, 500, 500},                      // down at once
		{500, 1140, 510},                      // up by 1/64 of the difference
		{500, 1_000_000, 500 + (5000-500)/64}, // a preempted call is capped first
		{0, -5, 0},
	}
	for _, tt := range tests {
		if got := nextCost(tt.est, tt.sample); got != tt.want {
			t.Errorf("nextCost(%d, %d) = %d, want %d", tt.est, tt.sample, got, tt.want)
		}
	}
}
