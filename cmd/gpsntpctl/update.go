package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/image"
	"github.com/gpsntp/gpsntp/ota"
)

// updateTarget is where a box's three HTTP services answer.
type updateTarget struct {
	host                     string
	gokrazyPort, otaPort     int
	password                 string
	client                   *http.Client
	deadline, wait, interval time.Duration
}

func (t updateTarget) url(port int, path string) string {
	return "http://" + net.JoinHostPort(t.host, strconv.Itoa(port)) + path
}

// runUpdate is `gpsntpctl update`: see package ota for what happens on the box.
func runUpdate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gpsntpctl update -target HOST -password-file FILE [flags] IMAGE\n\n"+
			"Writes IMAGE's root file system into the box's inactive slot, boots it once, and keeps it only if\n"+
			"gpsntpd is healthy in it (serving NTP, hearing the receiver) within -deadline; otherwise the box\n"+
			"returns to the slot it runs now by itself. Exit status 0 only when the new slot is committed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var t updateTarget
	fs.StringVar(&t.host, "target", "", "the box's host name or address")
	pwFile := fs.String("password-file", "", "file with the box's update password (the one the image was built with)")
	fs.IntVar(&t.gokrazyPort, "gokrazy-port", 8080, "port of gokrazy's update API on the box")
	fs.IntVar(&t.otaPort, "ota-port", image.OTAPort, "port of gpsntp-ota on the box")
	fs.DurationVar(&t.deadline, "deadline", 5*time.Minute, "how long the new slot has to become healthy in its trial boot (10s..1h)")
	fs.DurationVar(&t.wait, "wait", 15*time.Minute, "how long to wait for the verdict after the trial reboot")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gpsntpctl update: "+format+"\n", a...)
		return 1
	}
	switch {
	case fs.NArg() != 1:
		fmt.Fprintln(stderr, "gpsntpctl update: give exactly one IMAGE")
		return 2
	case t.host == "":
		fmt.Fprintln(stderr, "gpsntpctl update: -target is required")
		return 2
	case *pwFile == "":
		fmt.Fprintln(stderr, "gpsntpctl update: -password-file is required (the update password the image was built with)")
		return 2
	case t.deadline < 10*time.Second || t.deadline > time.Hour:
		fmt.Fprintf(stderr, "gpsntpctl update: -deadline %v: want 10s..1h\n", t.deadline)
		return 2
	}
	pw, err := os.ReadFile(*pwFile)
	if err != nil {
		return fail("reading -password-file: %v", err)
	}
	t.password = strings.TrimRight(string(pw), "\r\n")
	if t.password == "" {
		return fail("-password-file %s is empty", *pwFile)
	}
	t.client = &http.Client{Timeout: 10 * time.Second}
	t.interval = 2 * time.Second
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := update(ctx, t, fs.Arg(0), stdout); err != nil {
		return fail("%v", err)
	}
	return 0
}

func update(ctx context.Context, t updateTarget, imagePath string, out io.Writer) error {
	u, err := image.OpenUpdate(imagePath)
	if err != nil {
		return err
	}
	defer u.Close()
	fmt.Fprintf(out, "image: %s, gpsntpd %s, root %d bytes, sha256 %.16s\n", u.Info.Profile, u.Info.Version, u.RootSize, u.RootSHA)

	before, err := agentStatus(ctx, t)
	if err != nil {
		return err
	}
	if before.Phase == ota.PhaseTrial {
		return fmt.Errorf("the box is judging a trial boot already (%.0f s left); wait for its verdict", before.TrialLeftS)
	}
	if before.Info == nil {
		return errors.New("the box does not describe its image (no gpsntp.txt): reflash it with a current image")
	}
	if err := ota.Compatible(*before.Info, u.Info); err != nil {
		return err
	}
	running := before.RunningVersion
	if running == "" {
		running = "unknown"
	}
	fmt.Fprintf(out, "box: %s, gpsntpd %s in slot %d (flashed as %s)\n", before.Info.Profile, running, before.Booted, before.Info.Version)

	// gokrazy answers 401 to a wrong password on every endpoint; ask a harmless one first, so a wrong
	// password is reported before anything is written.
	if _, err := t.gokrazy(ctx, t.client, http.MethodGet, "/update/features", nil, 0); err != nil {
		return err
	}
	fmt.Fprintf(out, "uploading the root file system into slot %d ...\n", ota.Other(before.Booted))
	start := time.Now()
	if err := t.putRoot(ctx, u); err != nil {
		return fmt.Errorf("%w; the box still runs slot %d, untouched: run the update again", err, before.Booted)
	}
	fmt.Fprintf(out, "uploaded in %v; verified sha256\n", time.Since(start).Round(time.Millisecond))

	form := url.Values{"size": {strconv.FormatInt(u.RootSize, 10)}, "sha256": {u.RootSHA}, "version": {u.Info.Version}, "deadline": {t.deadline.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url(t.otaPort, "/ota/tryboot"), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("gokrazy", t.password)
	// The box reads the whole slot back to check it before answering: seconds on a Pi's SD card, far more
	// in an emulated VM on a busy machine.
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("asking the box for a trial boot: %w (if the box did take it, `curl %s` tells the verdict)", err, t.url(t.otaPort, "/ota/status"))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the box refused the trial boot (%s): %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var rec ota.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return fmt.Errorf("the box's answer to the trial request: %w", err)
	}
	fmt.Fprintf(out, "the box reboots into slot %d once; it has %v to prove healthy\n", rec.To, t.deadline)
	return t.awaitVerdict(ctx, rec, out)
}

func agentStatus(ctx context.Context, t updateTarget) (ota.AgentStatus, error) {
	var st ota.AgentStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url(t.otaPort, "/ota/status"), nil)
	if err != nil {
		return st, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return st, fmt.Errorf("cannot reach gpsntp-ota on %s: %w", t.url(t.otaPort, ""), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("gpsntp-ota on %s: %s", t.host, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return st, fmt.Errorf("gpsntp-ota on %s: %w", t.host, err)
	}
	if st, err = ota.ParseAgentStatus(b); err != nil {
		return st, fmt.Errorf("gpsntp-ota on %s: %w", t.host, err)
	}
	return st, nil
}

// gokrazy calls one of gokrazy's update endpoints with the password and returns the start of its answer.
func (t updateTarget) gokrazy(ctx context.Context, client *http.Client, method, path string, body io.Reader, size int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.url(t.gokrazyPort, path), body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.SetBasicAuth("gokrazy", t.password)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gokrazy's update API at %s: %w", t.url(t.gokrazyPort, ""), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("the box refused the password from -password-file (gokrazy said %s)", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("gokrazy %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(answer)))
	}
	return answer, nil
}

// putRoot streams the root into the inactive slot with gokrazy's PUT /update/root and checks the SHA-256 the
// box computed over what it wrote.
func (t updateTarget) putRoot(ctx context.Context, u *image.Update) error {
	answer, err := t.gokrazy(ctx, &http.Client{Timeout: 30 * time.Minute}, http.MethodPut, "/update/root", u.Root(), u.RootSize)
	if err != nil {
		return fmt.Errorf("upload interrupted or refused: %w", err)
	}
	if got := strings.TrimSpace(string(answer)); got != u.RootSHA {
		return fmt.Errorf("the box wrote sha256 %.16s, not the image's %.16s", got, u.RootSHA)
	}
	return nil
}

// awaitVerdict polls gpsntp-ota through the reboots until the record of this update is decided.
func (t updateTarget) awaitVerdict(ctx context.Context, sent ota.Record, out io.Writer) error {
	deadline := time.Now().Add(t.wait)
	lastNote := ""
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while the box decides; `curl %s` tells the verdict", t.url(t.otaPort, "/ota/status"))
		case <-time.After(t.interval):
		}
		st, err := agentStatus(ctx, t)
		note := ""
		switch {
		case err != nil:
			note = "waiting for the box to come back"
		case st.Record == nil || st.Record.RootSHA != sent.RootSHA || !st.Record.Requested.Equal(sent.Requested):
			note = "waiting for the box to come back"
		case st.Record.State == ota.StateTrying:
			note = fmt.Sprintf("trial boot of slot %d: %s", st.Booted, orDash(st.Health))
		case st.Record.State == ota.StateCommitted:
			fmt.Fprintf(out, "committed: slot %d is the default now (%s)\n", st.Default, st.Record.Detail)
			return nil
		case st.Record.State == ota.StateRolledBack && st.Booted != sent.From:
			// The trial decided against itself and is about to reboot into the old slot.
			note = fmt.Sprintf("the trial failed (%s); the box reboots into slot %d", st.Record.Detail, sent.From)
		case st.Record.State == ota.StateRolledBack:
			return fmt.Errorf("rolled back: the box runs slot %d again, as before: %s", st.Booted, st.Record.Detail)
		}
		if note != lastNote {
			fmt.Fprintln(out, note)
			lastNote = note
		}
	}
	return fmt.Errorf("no verdict within -wait %v; `curl %s` tells it later", t.wait, t.url(t.otaPort, "/ota/status"))
}
