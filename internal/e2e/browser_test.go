package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's browser binary; the test drives it over the DevTools protocol with chromedp.
const chromium = "/usr/bin/chromium"

// browserFlags are the only flags the browser gets (chromedp adds the DevTools pipe and about:blank).
// Without the background-networking, component-update and sync flags it tries to reach the internet; QUIC
// is off for the same reason.
func browserFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(userDataDir),
	}
}

// consoleLog collects what the page writes to the console, and its uncaught exceptions.
type consoleLog struct {
	mu     sync.Mutex
	errors []string
	all    []string
}

func (c *consoleLog) collect(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
			c.mu.Lock()
			c.all = append(c.all, line)
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Exception != nil {
				c.errors = append(c.errors, line)
			}
			c.mu.Unlock()
		}
	}()
}

func (c *consoleLog) snapshot() (errors, all []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...), append([]string(nil), c.all...)
}

// artifactsDir is where the screenshots go: $GPSNTP_ARTIFACTS (CI keeps it) or the test's temporary dir.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("GPSNTP_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

// pageFacts is what the test reads from the rendered page in one evaluation.
type pageFacts struct {
	Headline   string         `json:"headline"`
	Tone       string         `json:"tone"`
	Charts     map[string]int `json:"charts"`    // id -> data-points
	LineLen    map[string]int `json:"lineLen"`   // id -> length of the first line's path data
	Sats       int            `json:"sats"`      // satellites drawn in the sky plot
	Bars       int            `json:"bars"`      // C/N0 bars
	Sources    []string       `json:"sources"`   // the sources table's rows, as text
	Sub        string         `json:"sub"`       // the line under the headline (has the server's time)
	Range      string         `json:"range"`     // the charts' range
	Overflow   int            `json:"overflow"`  // document width beyond the viewport, px
	Stylesheet bool           `json:"styleside"` // the style sheet applied (the body background is not white)
}

const factsJS = `(() => {
  const q = (s) => document.querySelector(s);
  const charts = {}, lineLen = {};
  for (const svg of document.querySelectorAll('svg.chart')) {
    charts[svg.id] = Number(svg.getAttribute('data-points'));
    const p = svg.querySelector('path.line');
    lineLen[svg.id] = p ? (p.getAttribute('d') || '').length : 0;
  }
  return {
    headline: q('#headline') ? q('#headline').textContent : '',
    tone: q('header.head') ? q('header.head').className : '',
    charts, lineLen,
    sats: document.querySelectorAll('#sky circle.sat').length,
    bars: document.querySelectorAll('#cn0 rect.bar').length,
    sources: Array.from(document.querySelectorAll('table.src tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent.replace(/\s+/g, ' ').trim()).join('|')),
    sub: q('.sub') ? q('.sub').textContent : '',
    range: q('#charts') ? q('#charts').dataset.range : '',
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    styleside: getComputedStyle(document.body).backgroundColor !== 'rgba(0, 0, 0, 0)' && getComputedStyle(document.body).backgroundColor !== 'rgb(255, 255, 255)',
  };
})()`

// TestStatusPageInBrowser loads the status page of gpsntpd -sim in headless Chromium, waits for the box to
// lock, and checks what a person would: the headline, charts drawn from data, the sky plot, the sources,
// that the page updates itself, that the range switch works, and that nothing went to the console as an
// error (a CSP violation would). It saves screenshots at desktop and phone widths.
func TestStatusPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		requireTool(t, "chromium")
		t.Skipf("chromium is at %s, not %s", requireTool(t, "chromium"), chromium)
	}
	d := startSim(t)
	d.waitLocked(t, 150*time.Second)
	// Let the sampler record a few seconds of locked service, so every chart has points.
	time.Sleep(3 * time.Second)

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserFlags(t.TempDir())...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline on its life
		t.Fatalf("start chromium: %v", err)
	}
	var console consoleLog
	console.collect(ctx)
	run := func(what string, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, tcancel := context.WithTimeout(ctx, limit)
		defer tcancel()
		if err := chromedp.Do(tctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	facts := func() pageFacts {
		t.Helper()
		tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
		defer tcancel()
		f, err := chromedp.Run(tctx, chromedp.Evaluate[pageFacts](factsJS))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return f
	}
	dir := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
		defer tcancel()
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}

	run("desktop page", 30*time.Second,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(d.httpURL+"/"),
		chromedp.WaitVisible("#chart-offset"),
	)
	f := facts()
	if !strings.HasPrefix(f.Headline, "Serving GPS time. Locked ") || !strings.Contains(f.Headline, "Estimated error ±") || !strings.Contains(f.Tone, "ok") {
		t.Errorf("headline %q (class %q), want the locked headline", f.Headline, f.Tone)
	}
	for _, id := range []string{"chart-offset", "chart-frequency", "chart-error", "chart-ntp"} {
		if f.Charts[id] < 2 || f.LineLen[id] < 20 {
			t.Errorf("%s: %d points, path of %d bytes; want a drawn line", id, f.Charts[id], f.LineLen[id])
		}
	}
	if f.Sats < 4 || f.Bars < 4 {
		t.Errorf("sky plot %d satellites, C/N0 %d bars; the simulator has more than 4 in view", f.Sats, f.Bars)
	}
	// Rows are tally|name kind|reach|offset|jitter|last. The PPS is selected and delivered in the last poll
	// (odd reach); the receiver is a candidate. The page updates itself: on a loaded machine an epoch can be
	// late for a moment (and the page says so), so give it a few updates to show the steady state.
	sourcesOK := func(rows []string) bool {
		return len(rows) == 2 && strings.HasPrefix(rows[0], "*|PPS pps|") && strings.HasPrefix(rows[1], "+|GPS receiver|")
	}
	for i := 0; i < 10 && !sourcesOK(f.Sources); i++ {
		time.Sleep(time.Second)
		f = facts()
	}
	if len(f.Sources) != 2 || !strings.HasPrefix(f.Sources[0], "*|PPS pps|") || !strings.HasPrefix(f.Sources[1], "+|GPS receiver|") {
		t.Errorf("sources rows %q, want *PPS then +GPS", f.Sources)
	} else if reach := strings.Split(f.Sources[0], "|")[2]; !strings.ContainsAny(reach[len(reach)-1:], "1357") {
		t.Errorf("PPS reach %s: the last poll has no pulse", reach)
	}
	if !f.Stylesheet {
		t.Error("the style sheet did not apply")
	}
	if f.Overflow > 0 {
		t.Errorf("desktop page is %d px wider than the window", f.Overflow)
	}
	shot("status-desktop.png")

	// The page is live: the summary is refetched every 2 s, so the server's time under the headline moves.
	before := f.Sub
	deadline := time.Now().Add(15 * time.Second)
	for facts().Sub == before {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not update itself in 15 s: still %q", before)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The range switch fetches the day charts without reloading the page.
	run("switch to 1 day", 15*time.Second,
		chromedp.Click(`a[data-range="1d"]`),
		chromedp.WaitVisible(`#charts[data-range="1d"] #chart-offset`),
	)
	if f := facts(); f.Range != "1d" || f.Charts["chart-offset"] < 1 {
		t.Errorf("after switching: range %q, offset chart %d points", f.Range, f.Charts["chart-offset"])
	}

	run("phone page", 30*time.Second,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(d.httpURL+"/"),
		chromedp.WaitVisible("#chart-offset"),
	)
	f = facts()
	if f.Overflow > 0 {
		t.Errorf("phone page is %d px wider than the screen: it scrolls sideways", f.Overflow)
	}
	if f.Charts["chart-offset"] < 2 {
		t.Errorf("phone: offset chart has %d points", f.Charts["chart-offset"])
	}
	shot("status-phone.png")
	// The top of the page and the charts as the phone's screen shows them, at its own scale.
	view := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		run("scroll for "+name, 10*time.Second, steps...)
		tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
		defer tcancel()
		png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	view("status-phone-top.png", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	view("status-phone-charts.png", chromedp.ScrollIntoView("#charts"))

	errs, all := console.snapshot()
	for _, e := range errs {
		t.Errorf("console: %s", e)
	}
	if t.Failed() {
		t.Logf("console, all messages:\n%s", strings.Join(all, "\n"))
	}
}
