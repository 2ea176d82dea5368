package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of a run. Durations are in microseconds, rates per second.
type Result struct {
	Label   string  `json:"label,omitempty"`
	Target  string  `json:"target"`
	Mode    string  `json:"mode"` // "open" (fixed rate) or "closed" (fixed window)
	Rate    float64 `json:"target_rate,omitempty"`
	Window  int     `json:"window,omitempty"`
	Sockets int     `json:"sockets"`
	Seconds float64 `json:"seconds"` // length of the send phase

	Sent           uint64 `json:"sent"`
	Answered       uint64 `json:"answered"` // replies other than kiss-o'-death
	KoD            uint64 `json:"kod"`
	Bad            uint64 `json:"bad_replies"`     // undecodable, or a send time that is not ours
	SendErrors     uint64 `json:"send_errors"`     // requests the kernel refused (e.g. connection refused)
	GeneratorDrops uint64 `json:"generator_drops"` // replies dropped by the generator's own full sockets

	SentPerSec     float64 `json:"sent_per_s"`
	AnsweredPerSec float64 `json:"answered_per_s"`
	LossPct        float64 `json:"loss_pct"` // requests sent and not answered (nor refused by KoD)

	MinUs  float64 `json:"min_us"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
}

// counts are the raw tallies of a run.
type counts struct {
	sent, answered, kod, bad, sendErrors, generatorDrops uint64
}

// summarize turns a run's tallies into a Result. elapsed is the send phase's length.
func summarize(cfg Config, c counts, h *Histogram, elapsed time.Duration) Result {
	r := Result{
		Target:         cfg.Target.String(),
		Sockets:        cfg.Sockets,
		Seconds:        elapsed.Seconds(),
		Sent:           c.sent,
		Answered:       c.answered,
		KoD:            c.kod,
		Bad:            c.bad,
		SendErrors:     c.sendErrors,
		GeneratorDrops: c.generatorDrops,
	}
	if cfg.Rate > 0 {
		r.Mode, r.Rate = "open", cfg.Rate
	} else {
		r.Mode, r.Window = "closed", cfg.Window
	}
	if r.Seconds > 0 {
		r.SentPerSec = float64(c.sent) / r.Seconds
		r.AnsweredPerSec = float64(c.answered) / r.Seconds
	}
	if c.sent > 0 && c.answered+c.kod < c.sent {
		r.LossPct = 100 * float64(c.sent-c.answered-c.kod) / float64(c.sent)
	}
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	r.MinUs = us(h.Min())
	r.MeanUs = h.Mean() / 1e3
	r.P50Us = us(h.Quantile(0.50))
	r.P90Us = us(h.Quantile(0.90))
	r.P99Us = us(h.Quantile(0.99))
	r.P999Us = us(h.Quantile(0.999))
	r.MaxUs = us(h.Max())
	return r
}

// Describe names the run's load in a few words.
func (r *Result) Describe() string {
	if r.Mode == "open" {
		return fmt.Sprintf("open loop at %.0f/s", r.Rate)
	}
	return fmt.Sprintf("closed loop, window %d", r.Window)
}

// GeneratorFellBehind reports whether an open-loop run sent noticeably fewer requests than asked for.
func (r *Result) GeneratorFellBehind() bool {
	return r.Mode == "open" && r.Seconds > 0 && r.SentPerSec < 0.97*r.Rate
}

// WriteTable prints the result for a person.
func (r *Result) WriteTable(w io.Writer) error {
	name := r.Target
	if r.Label != "" {
		name = r.Label + " at " + r.Target
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, %d sockets, %.2f s\n", name, r.Describe(), r.Sockets, r.Seconds)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  sent\t%d\t%.0f/s\t\n", r.Sent, r.SentPerSec)
	fmt.Fprintf(tw, "  answered\t%d\t%.0f/s\t\n", r.Answered, r.AnsweredPerSec)
	fmt.Fprintf(tw, "  loss\t%.3f %%\t\t\n", r.LossPct)
	tw.Flush()
	fmt.Fprintf(&b, "  response µs: min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		fmtUs(r.MinUs), fmtUs(r.P50Us), fmtUs(r.P90Us), fmtUs(r.P99Us), fmtUs(r.P999Us), fmtUs(r.MaxUs))
	if r.KoD+r.Bad+r.SendErrors+r.GeneratorDrops > 0 {
		fmt.Fprintf(&b, "  kiss-o'-death %d, bad replies %d, send errors %d, dropped by the generator %d\n",
			r.KoD, r.Bad, r.SendErrors, r.GeneratorDrops)
	}
	if r.GeneratorFellBehind() {
		fmt.Fprintf(&b, "  warning: the generator sent only %.0f/s of the %.0f/s asked for\n", r.SentPerSec, r.Rate)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtUs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// Ratio returns a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteComparison prints results side by side, with the ratio of the first to the second, for runs of
// the same load against different servers.
func WriteComparison(w io.Writer, rs []Result) error {
	if len(rs) == 0 {
		return nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for i, r := range rs {
		label := r.Label
		if label == "" {
			label = fmt.Sprintf("run %d", i+1)
		}
		fmt.Fprintf(tw, "%s\t", label)
	}
	two := len(rs) >= 2
	if two {
		fmt.Fprintf(tw, "%s/%s\t", labelOr(rs[0], "1"), labelOr(rs[1], "2"))
	}
	fmt.Fprintln(tw)
	row := func(name string, get func(*Result) float64, format func(float64) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for i := range rs {
			fmt.Fprintf(tw, "%s\t", format(get(&rs[i])))
		}
		if two {
			if q := Ratio(get(&rs[0]), get(&rs[1])); q != 0 {
				fmt.Fprintf(tw, "%.2fx\t", q)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	pct := func(v float64) string { return fmt.Sprintf("%.3f %%", v) }
	row("sent/s", func(r *Result) float64 { return r.SentPerSec }, num)
	row("answered/s", func(r *Result) float64 { return r.AnsweredPerSec }, num)
	row("loss", func(r *Result) float64 { return r.LossPct }, pct)
	row("p50 µs", func(r *Result) float64 { return r.P50Us }, fmtUs)
	row("p90 µs", func(r *Result) float64 { return r.P90Us }, fmtUs)
	row("p99 µs", func(r *Result) float64 { return r.P99Us }, fmtUs)
	row("p99.9 µs", func(r *Result) float64 { return r.P999Us }, fmtUs)
	tw.Flush()
	fmt.Fprintf(&b, "load: %s, %d sockets, %.2f s each\n", rs[0].Describe(), rs[0].Sockets, rs[0].Seconds)
	for _, r := range rs {
		if r.GeneratorFellBehind() {
			fmt.Fprintf(&b, "warning: against %s the generator sent only %.0f/s of the %.0f/s asked for\n",
				labelOr(r, r.Target), r.SentPerSec, r.Rate)
		}
		if r.GeneratorDrops > 0 {
			fmt.Fprintf(&b, "warning: against %s the generator's sockets dropped %d replies\n", labelOr(r, r.Target), r.GeneratorDrops)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func labelOr(r Result, def string) string {
	if r.Label != "" {
		return r.Label
	}
	return def
}
