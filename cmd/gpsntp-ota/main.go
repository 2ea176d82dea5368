// Command gpsntp-ota is the box's half of an over-the-air update (see package ota for the design). It runs
// as a gokrazy service in every image and does two things:
//
//   - On request from `gpsntpctl update` (POST /ota/tryboot, HTTP basic auth with gokrazy's update
//     password) it checks that the inactive root slot holds exactly the uploaded bytes, points trycmd.txt at
//     that slot, records the attempt on /perm and reboots with the firmware's one-shot tryboot flag.
//   - When it starts in such a trial boot, it watches gpsntpd's /api/status: healthy three checks in a row
//     commits the slot (cmdline.txt's root= rewritten in place); not healthy by the deadline records why and
//     reboots, and the firmware boots the old slot.
//
// GET /ota/status tells anyone where the box stands (slots, the last update's verdict, the image info).
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/internal/statefile"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ota"
)

const recordName = "update.json"

func main() {
	os.Exit(runMain(os.Args[1:], os.Stderr))
}

type options struct {
	listen     string
	statusURL  string
	stateDir   string
	pwFiles    string
	deadline   time.Duration
	interval   time.Duration
	cmdline    string // where the booted command line is read (tests: a file)
	sysBlock   string
	devDir     string
	uptime     string // /proc/uptime: the trial's deadline counts from the boot, not from this process
	sbom       string // the running root's /etc/gokrazy/sbom.json: gpsntpd's version in this slot
	rebootWait time.Duration
}

func runMain(args []string, stderr io.Writer) int {
	var o options
	fl := flag.NewFlagSet("gpsntp-ota", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.listen, "listen", ":8081", "`address` of the update API (POST /ota/tryboot, GET /ota/status)")
	fl.StringVar(&o.statusURL, "status", "http://127.0.0.1:80/api/status", "gpsntpd's status `URL`, polled in a trial boot")
	fl.StringVar(&o.stateDir, "state-dir", "/perm/gpsntp-ota", "`directory` for the update record")
	fl.StringVar(&o.pwFiles, "password-file", "/perm/gokr-pw.txt,/etc/gokr-pw.txt", "gokrazy's update password: the first of these `files` that exists")
	fl.DurationVar(&o.deadline, "deadline", 5*time.Minute, "default time a trial boot has to become healthy")
	fl.DurationVar(&o.interval, "interval", 2*time.Second, "health check interval in a trial boot")
	fl.StringVar(&o.cmdline, "proc-cmdline", "/proc/cmdline", "the booted kernel command line")
	fl.StringVar(&o.sysBlock, "sys-block", "/sys/block", "where block devices are listed")
	fl.StringVar(&o.devDir, "dev", "/dev", "device directory")
	fl.StringVar(&o.uptime, "proc-uptime", "/proc/uptime", "seconds since boot (the trial deadline counts from the boot)")
	fl.StringVar(&o.sbom, "sbom", "/etc/gokrazy/sbom.json", "the running root's build description (gpsntpd's version in this slot)")
	fl.DurationVar(&o.rebootWait, "reboot-wait", time.Second, "pause between answering and rebooting")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "gpsntp-ota: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if o.deadline < 10*time.Second || o.deadline > time.Hour {
		fmt.Fprintf(stderr, "gpsntp-ota: -deadline %v: want 10s..1h\n", o.deadline)
		return 2
	}
	logger := log.New(stderr, "gpsntp-ota: ", 0)
	a, err := newAgent(o, logger, rebootSystem)
	if err != nil {
		logger.Print(err)
		// Exit 125 would stop gokrazy's restarts; a box without a readable disk layout keeps retrying
		// slowly instead, since an update cannot be taken without it.
		time.Sleep(30 * time.Second)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := a.serve(ctx); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

// agent is the running service: the disk it booted from and what it knows of the update in progress.
type agent struct {
	o       options
	log     *log.Logger
	reboot  func(tryboot bool) error // rebootSystem; tests record the call instead
	disk    disk
	info    *ota.Info // the image's description from the boot partition (nil: an image without one)
	running string    // gpsntpd's version in the root slot running now ("" when unknown)

	mu      sync.Mutex
	phase   ota.Phase
	record  *ota.Record
	trialTo time.Time // when the trial gives up
	busy    bool      // a tryboot request is being carried out
	health  string    // last trial health detail
}

func newAgent(o options, logger *log.Logger, reboot func(tryboot bool) error) (*agent, error) {
	d, err := findDisk(o.cmdline, o.sysBlock, o.devDir)
	if err != nil {
		return nil, err
	}
	a := &agent{o: o, log: logger, reboot: reboot, disk: d}
	if b, err := a.readBoot(ota.InfoFile); err == nil {
		if i, err := ota.ParseInfo(string(b)); err == nil {
			a.info = &i
		} else {
			logger.Printf("image info: %v", err)
		}
	}
	if b, err := os.ReadFile(o.sbom); err == nil {
		if v, err := ota.SBOMVersion(b); err == nil {
			a.running = v
		} else {
			logger.Print(err)
		}
	}
	committed, err := a.committedSlot()
	if err != nil {
		return nil, err
	}
	rec, err := a.loadRecord()
	if err != nil {
		logger.Printf("%v (starting without it)", err)
	}
	phase, newRec := ota.Start(ota.Boot{Booted: d.booted, Committed: committed, Record: rec}, time.Now())
	a.phase, a.record = phase, newRec
	if newRec != nil && (rec == nil || *newRec != *rec) {
		if err := a.saveRecord(*newRec); err != nil {
			logger.Printf("saving the update record: %v", err)
		}
		logger.Printf("update to slot %d: %s: %s", newRec.To, newRec.State, newRec.Detail)
	}
	logger.Printf("booted slot %d from %s, default slot %d, phase %s", d.booted, d.device, committed, phaseName(phase))
	return a, nil
}

func phaseName(p ota.Phase) string {
	if p == ota.Trial {
		return ota.PhaseTrial
	}
	return ota.PhaseNormal
}

func (a *agent) readBoot(path string) ([]byte, error) {
	f, err := os.Open(a.disk.partition(ota.BootPartition))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ota.ReadFile(f, path)
}

func (a *agent) committedSlot() (int, error) {
	b, err := a.readBoot(ota.CmdlineFile)
	if err != nil {
		return 0, fmt.Errorf("reading cmdline.txt: %w", err)
	}
	slot, _, err := ota.RootSlot(string(b))
	return slot, err
}

func (a *agent) loadRecord() (*ota.Record, error) {
	b, err := statefile.Read(filepath.Join(a.o.stateDir, recordName), 1<<16)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := ota.ParseRecord(b)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (a *agent) saveRecord(r ota.Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.o.stateDir, 0o700); err != nil {
		return err
	}
	return statefile.WriteAtomic(a.o.stateDir, recordName, append(b, '\n'), 0o600)
}

func (a *agent) serve(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ota/status", a.handleStatus)
	mux.HandleFunc("POST /ota/tryboot", a.handleTryboot)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 5 * time.Minute}
	ln, err := net.Listen("tcp", a.o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", a.o.listen, err)
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if a.phase == ota.Trial {
		go a.judgeTrial(ctx)
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	committed, err := a.committedSlot()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.mu.Lock()
	st := ota.AgentStatus{Booted: a.disk.booted, Default: committed, Phase: phaseName(a.phase), Info: a.info, RunningVersion: a.running, Record: a.record, Health: a.health}
	if a.phase == ota.Trial {
		st.TrialLeftS = time.Until(a.trialTo).Seconds()
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// handleTryboot takes size, sha256, version and deadline (form values): the root the host wrote with
// PUT /update/root, and how long its trial may take to become healthy.
func (a *agent) handleTryboot(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="gpsntp update"`)
		http.Error(w, "wrong or missing update password (user gokrazy)", http.StatusUnauthorized)
		return
	}
	size, err := strconv.ParseInt(r.FormValue("size"), 10, 64)
	if err != nil || size <= 0 || size%4096 != 0 {
		http.Error(w, fmt.Sprintf("size %q: want the uploaded root's length, a positive multiple of 4096", r.FormValue("size")), http.StatusBadRequest)
		return
	}
	want := strings.ToLower(r.FormValue("sha256"))
	if _, err := hex.DecodeString(want); err != nil || len(want) != 64 {
		http.Error(w, "sha256: want the uploaded root's hex SHA-256", http.StatusBadRequest)
		return
	}
	deadline := a.o.deadline
	if s := r.FormValue("deadline"); s != "" {
		if deadline, err = time.ParseDuration(s); err != nil || deadline < 10*time.Second || deadline > time.Hour {
			http.Error(w, fmt.Sprintf("deadline %q: want 10s..1h", s), http.StatusBadRequest)
			return
		}
	}
	a.mu.Lock()
	switch {
	case a.phase == ota.Trial:
		a.mu.Unlock()
		http.Error(w, "a trial boot is being judged; wait for its verdict (GET /ota/status)", http.StatusConflict)
		return
	case a.busy:
		a.mu.Unlock()
		http.Error(w, "another trial request is in progress", http.StatusConflict)
		return
	}
	a.busy = true
	a.mu.Unlock()
	rec, err := a.prepareTrial(size, want, r.FormValue("version"), deadline)
	if err != nil {
		a.mu.Lock()
		a.busy = false
		a.mu.Unlock()
		a.log.Printf("tryboot refused: %v", err)
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	a.mu.Lock()
	a.record = &rec
	a.mu.Unlock()
	a.log.Printf("trial boot of slot %d (%d bytes, sha256 %.12s, version %q) in %v", rec.To, rec.RootSize, rec.RootSHA, rec.Version, a.o.rebootWait)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(rec)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		time.Sleep(a.o.rebootWait)
		if err := a.reboot(true); err != nil {
			a.log.Printf("reboot with the tryboot flag: %v", err)
		}
	}()
}

func (a *agent) authorized(r *http.Request) bool {
	user, pw, ok := r.BasicAuth()
	if !ok || user != "gokrazy" {
		return false
	}
	want, err := a.password()
	if err != nil {
		a.log.Print(err)
		return false
	}
	return subtle.ConstantTimeCompare([]byte(pw), []byte(want)) == 1
}

func (a *agent) password() (string, error) {
	for _, p := range strings.Split(a.o.pwFiles, ",") {
		b, err := os.ReadFile(p)
		if err == nil {
			if pw := strings.TrimSpace(string(b)); pw != "" {
				return pw, nil
			}
		}
	}
	return "", fmt.Errorf("no update password in %s", a.o.pwFiles)
}

// prepareTrial checks the inactive slot against what the host uploaded, points trycmd.txt at it and
// records the attempt. Nothing it does changes what a plain reboot boots.
func (a *agent) prepareTrial(size int64, sum, version string, deadline time.Duration) (ota.Record, error) {
	to := ota.Other(a.disk.booted)
	part, err := os.Open(a.disk.partition(to))
	if err != nil {
		return ota.Record{}, err
	}
	defer part.Close()
	hdr := make([]byte, ota.SquashfsHeaderSize)
	if _, err := part.ReadAt(hdr, 0); err != nil {
		return ota.Record{}, fmt.Errorf("reading slot %d: %w", to, err)
	}
	if _, err := ota.SquashfsSize(hdr, 1<<40); err != nil {
		return ota.Record{}, fmt.Errorf("slot %d: %w (was the upload interrupted?)", to, err)
	}
	h := sha256.New()
	if n, err := io.Copy(h, io.NewSectionReader(part, 0, size)); err != nil || n != size {
		return ota.Record{}, fmt.Errorf("reading %d bytes of slot %d: read %d: %v", size, to, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return ota.Record{}, fmt.Errorf("slot %d holds sha256 %.16s, not the uploaded %.16s: the upload did not complete; upload again", to, got, sum)
	}

	boot, err := os.OpenFile(a.disk.partition(ota.BootPartition), os.O_RDWR, 0)
	if err != nil {
		return ota.Record{}, err
	}
	defer boot.Close()
	cfg, err := ota.ReadFile(boot, ota.TrybootConfig)
	if err != nil {
		return ota.Record{}, fmt.Errorf("this box's image has no tryboot.txt, so it cannot boot a slot once; reflash it with a current image: %w", err)
	}
	if f, err := ota.FirmwareCmdlineFile(string(cfg)); err != nil || f != ota.TrialCmdline {
		return ota.Record{}, fmt.Errorf("tryboot.txt names command line %q (%v), not %s", f, err, ota.TrialCmdline)
	}
	cur, err := ota.ReadFile(boot, ota.CmdlineFile)
	if err != nil {
		return ota.Record{}, err
	}
	trial, err := ota.WithRootSlot(strings.TrimRight(string(cur), " "), to)
	if err != nil {
		return ota.Record{}, err
	}
	if err := ota.RewriteFile(boot, ota.TrialCmdline, trial); err != nil {
		return ota.Record{}, err
	}
	if err := boot.Sync(); err != nil {
		return ota.Record{}, fmt.Errorf("syncing the boot partition: %w", err)
	}
	rec := ota.Record{
		State: ota.StateTrying, From: a.disk.booted, To: to, Requested: time.Now().UTC().Truncate(time.Second),
		Deadline: deadline, RootSize: size, RootSHA: sum, Version: version,
	}
	if err := a.saveRecord(rec); err != nil {
		return ota.Record{}, fmt.Errorf("saving the update record: %w", err)
	}
	return rec, nil
}

// judgeTrial polls gpsntpd until the verdict, then commits or reboots into the old slot.
func (a *agent) judgeTrial(ctx context.Context) {
	deadline := a.o.deadline
	if a.record != nil && a.record.State == ota.StateTrying && a.record.To == a.disk.booted {
		deadline = a.record.Deadline
	}
	// The deadline counts from the boot: if this process crashed and gokrazy restarted it, a deadline
	// counted from its own start would move on every restart and never expire.
	begin := time.Now()
	if up, err := readUptime(a.o.uptime); err == nil {
		begin = begin.Add(-up)
	} else {
		a.log.Printf("%v: counting the trial deadline from now", err)
	}
	a.mu.Lock()
	a.trialTo = begin.Add(deadline)
	a.mu.Unlock()
	j := ota.Judgement{Begin: begin, Deadline: deadline}
	a.log.Printf("trial boot of slot %d: judging gpsntpd's health for up to %v", a.disk.booted, deadline)
	client := &http.Client{Timeout: 3 * time.Second}
	tick := time.NewTicker(a.o.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h, err := checkHealth(ctx, client, a.o.statusURL)
		a.mu.Lock()
		if err != nil {
			a.health = err.Error()
		} else {
			a.health = h.Detail
		}
		a.mu.Unlock()
		v, why := j.Observe(time.Now(), h, err)
		switch v {
		case ota.Commit:
			if err := a.commit(why); err != nil {
				a.log.Printf("commit failed, going back: %v", err)
				a.rollback("the commit failed: " + err.Error())
			}
			return
		case ota.Rollback:
			a.rollback(why)
			return
		}
	}
}

func checkHealth(ctx context.Context, client *http.Client, url string) (ota.Health, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ota.Health{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ota.Health{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ota.Health{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var st status.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return ota.Health{}, fmt.Errorf("%s: %w", url, err)
	}
	return ota.Judge(st), nil
}

func (a *agent) commit(why string) error {
	boot, err := os.OpenFile(a.disk.partition(ota.BootPartition), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer boot.Close()
	for _, p := range []string{ota.CmdlineFile, "/loader/entries/gokrazy.conf"} {
		cur, err := ota.ReadFile(boot, p)
		if err != nil {
			if p == ota.CmdlineFile {
				return err
			}
			continue // only EFI images have a loader entry
		}
		next, err := ota.WithRootSlot(string(cur), a.disk.booted)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := ota.RewriteFile(boot, p, next); err != nil {
			return err
		}
	}
	if err := boot.Sync(); err != nil {
		return fmt.Errorf("syncing the boot partition: %w", err)
	}
	a.finish(ota.StateCommitted, "healthy: "+why)
	a.log.Printf("slot %d committed: %s", a.disk.booted, why)
	return nil
}

func (a *agent) rollback(why string) {
	a.finish(ota.StateRolledBack, why)
	a.log.Printf("slot %d rolled back: %s; rebooting into slot %d", a.disk.booted, why, ota.Other(a.disk.booted))
	time.Sleep(a.o.rebootWait)
	if err := a.reboot(false); err != nil {
		a.log.Printf("reboot: %v", err)
	}
}

func (a *agent) finish(state, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := ota.Record{State: state, From: ota.Other(a.disk.booted), To: a.disk.booted, Deadline: a.o.deadline}
	if a.record != nil && a.record.To == a.disk.booted {
		rec = *a.record
		rec.State = state
	}
	rec.Decided = time.Now().UTC().Truncate(time.Second)
	rec.Detail = detail
	a.record = &rec
	a.phase = ota.Normal
	if err := a.saveRecord(rec); err != nil {
		a.log.Printf("saving the update record: %v", err)
	}
}

// readUptime reads the first field of /proc/uptime: seconds since boot.
func readUptime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s is empty", path)
	}
	sec, err := strconv.ParseFloat(f[0], 64)
	if err != nil || sec < 0 || sec > 1e9 {
		return 0, fmt.Errorf("%s: %q is not an uptime", path, f[0])
	}
	return time.Duration(sec * float64(time.Second)), nil
}
