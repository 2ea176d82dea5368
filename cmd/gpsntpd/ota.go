package main

// The update section of the status page. gpsntp-ota (cmd/gpsntp-ota) knows where the box stands with
// over-the-air updates: the slot it booted, whether this boot is a trial, the last update's verdict. A user
// without a shell sees only gpsntpd's page, so gpsntpd asks gpsntp-ota every few seconds and shows the
// answer. The poll runs in its own goroutine and the status handler only copies its last result under a
// mutex: a slow or dead gpsntp-ota can never hold up the page, the API or the time path. A failed poll keeps
// the last good answer (marked with when it was received) and says plainly why the poll failed.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ota"
)

const (
	otaPollInterval = 10 * time.Second
	// otaPollTimeout bounds one poll end to end; gpsntp-ota answers from memory and one small file read.
	otaPollTimeout = 2 * time.Second
	// otaMaxBody bounds the answer read: the document is well under a kilobyte, its longest part the last
	// update's detail.
	otaMaxBody = 64 << 10
)

// otaOptions holds -ota-status.
type otaOptions struct {
	url string
}

func (o *otaOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "ota-status", "", "gpsntp-ota's status `URL` (the image: http://127.0.0.1:8081/ota/status), polled for the update section of the status page; empty: no section")
}

func (o *otaOptions) validate() error {
	if o.url == "" {
		return nil
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return fmt.Errorf("invalid value %q for flag -ota-status: %w", o.url, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid value %q for flag -ota-status: want an http:// or https:// URL with a host", o.url)
	}
	return nil
}

// otaPoller asks gpsntp-ota for its status and keeps the last answer.
type otaPoller struct {
	url      string
	client   *http.Client
	interval time.Duration
	timeout  time.Duration
	logf     func(format string, a ...any)

	mu  sync.Mutex
	doc *ota.AgentStatus // the last good answer, never modified once stored; nil before the first
	at  time.Time        // when doc was received
	err error            // the last poll's failure; nil when it succeeded or none finished yet
}

// newOTAPoller returns the poller of rawURL, or nil when rawURL is empty (no update section).
func newOTAPoller(rawURL string) *otaPoller {
	if rawURL == "" {
		return nil
	}
	return &otaPoller{
		url:      rawURL,
		interval: otaPollInterval,
		timeout:  otaPollTimeout,
		logf:     log.Printf,
		client: &http.Client{
			// Its own transport: no proxy from the environment for a service on the same box, one idle
			// connection kept between polls.
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           (&net.Dialer{Timeout: otaPollTimeout}).DialContext,
				MaxIdleConns:          1,
				IdleConnTimeout:       2 * otaPollInterval,
				ResponseHeaderTimeout: otaPollTimeout,
			},
			// A redirect is not what gpsntp-ota sends: report it instead of following it elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// run polls at once and then every interval until ctx ends. It logs when gpsntp-ota stops answering and
// when it answers again, not every failed poll.
func (p *otaPoller) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	failing := false
	for {
		err := p.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			p.logf("gpsntpd: update status: %v", err)
		case err == nil && failing:
			p.logf("gpsntpd: update status: gpsntp-ota at %s answers again", p.url)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll asks once and records the outcome.
func (p *otaPoller) poll(ctx context.Context) error {
	doc, err := p.fetch(ctx)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
	if err == nil {
		p.doc, p.at = &doc, now
	}
	return err
}

// fetch is one GET of the status URL, bounded in time and size, with each failure worded for the page.
func (p *otaPoller) fetch(ctx context.Context) (ota.AgentStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota status request %q: %w", p.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota not reachable at %s: %w", p.url, p.reason(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, otaMaxBody+1))
	if err != nil {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota at %s: reading its answer: %w", p.url, p.reason(err))
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota at %s answered %s to %s (not followed)", p.url, resp.Status, clip(loc, 200))
	}
	if resp.StatusCode != http.StatusOK {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota at %s answered %s: %s", p.url, resp.Status, firstLine(body, 200))
	}
	if len(body) > otaMaxBody {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota at %s: answer longer than %d bytes", p.url, otaMaxBody)
	}
	st, err := ota.ParseAgentStatus(body)
	if err != nil {
		return ota.AgentStatus{}, fmt.Errorf("gpsntp-ota at %s: %w", p.url, err)
	}
	return st, nil
}

// reason strips net/http's repetition of the method and URL, and words a timeout as one.
func (p *otaPoller) reason(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer within %v: %w", p.timeout, err)
	}
	return err
}

// firstLine is the start of an error body, for the message: one line, at most n bytes, printable.
func firstLine(b []byte, n int) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > n {
		s = s[:n] + "..."
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if s == "" {
		return "(empty body)"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// section is the document's update section now: the last good answer with the trial's time left counted
// on to now, and the last poll's error. It never waits for the network.
func (p *otaPoller) section(now time.Time) *status.Update {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	doc, at, err := p.doc, p.at, p.err
	p.mu.Unlock()
	return updateSection(doc, at, err, now)
}

// updateSection converts gpsntp-ota's answer, received at, for the document at now; err is the last
// poll's failure. With neither an answer nor an error (the first poll is under way) the section has only
// zero slots and an empty phase: not known yet.
func updateSection(doc *ota.AgentStatus, at time.Time, err error, now time.Time) *status.Update {
	u := &status.Update{}
	if err != nil {
		u.Error = err.Error()
	}
	if doc == nil {
		return u
	}
	u.BootedSlot, u.DefaultSlot, u.Phase = doc.Booted, doc.Default, doc.Phase
	if doc.Phase == ota.PhaseTrial {
		// The agent said how long was left when it answered; the page may be read up to a poll later.
		u.TrialLeftS = math.Max(0, math.Round(doc.TrialLeftS-now.Sub(at).Seconds()))
		u.Health = doc.Health
	}
	if doc.Info != nil {
		u.ImageVersion, u.ImageProfile = doc.Info.Version, doc.Info.Profile
	}
	if r := doc.Record; r != nil {
		u.Last = &status.LastUpdate{
			State: r.State, FromSlot: r.From, ToSlot: r.To, Version: r.Version,
			Requested: rfc3339(r.Requested), Decided: rfc3339(r.Decided), Detail: r.Detail,
		}
	}
	u.CheckedAt = rfc3339(at)
	return u
}

// rfc3339 formats t in UTC to the second; the zero time is "" (absent).
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
