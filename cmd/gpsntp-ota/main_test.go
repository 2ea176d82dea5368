package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/fattest"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ota"
)

const testGUID = "60c24cc1-f3f9-427a-8199-0badc0de0001"

// fakeBox is a disk laid out like a gokrazy image, as separate files per partition (what /dev has), plus a
// /sys/block listing and a /proc/cmdline: everything the agent reads, and nothing that can reboot anything.
type fakeBox struct {
	dir, dev, sys, cmdline, state string
	reboots                       chan bool
}

func cmdlineFor(slot int) string {
	return fmt.Sprintf("console=tty1 root=PARTUUID=%s/PARTNROFF=%d init=/gokrazy/init rootwait panic=10", testGUID, slot-1)
}

func newFakeBox(t *testing.T, booted, committed int) *fakeBox {
	t.Helper()
	dir := t.TempDir()
	b := &fakeBox{dir: dir, dev: filepath.Join(dir, "dev"), sys: filepath.Join(dir, "sys"), cmdline: filepath.Join(dir, "cmdline"),
		state: filepath.Join(dir, "perm"), reboots: make(chan bool, 4)}
	for _, d := range []string{b.dev, b.sys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The whole disk: just enough GPT for the GUID lookup.
	disk := make([]byte, 4096)
	copy(disk[512:], "EFI PART")
	binary.LittleEndian.PutUint64(disk[512+72:], 2)
	g := disk[1024+16 : 1024+32]
	binary.LittleEndian.PutUint32(g[0:], 0x60c24cc1)
	binary.LittleEndian.PutUint16(g[4:], 0xf3f9)
	binary.LittleEndian.PutUint16(g[6:], 0x427a)
	copy(g[8:], []byte{0x81, 0x99, 0x0b, 0xad, 0xc0, 0xde, 0x00, 0x01})
	writeFile(t, filepath.Join(b.dev, "vda"), disk)
	if err := os.Symlink("../devices/virtual/vda", filepath.Join(b.sys, "vda")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../devices/virtual/ram0", filepath.Join(b.sys, "ram0")); err != nil {
		t.Fatal(err)
	}

	// Partition 1: FAT16 with the files an image carries.
	pad := strings.Repeat(" ", 64)
	cfg := "arm_64bit=1\nenable_uart=1\n"
	fattest.Make(t, filepath.Join(b.dev, "vda1"), 16384, map[string]string{
		"cmdline.txt": cmdlineFor(committed) + pad,
		"trycmd.txt":  cmdlineFor(committed) + pad,
		"config.txt":  cfg,
		"tryboot.txt": ota.TrybootConfigText(cfg),
		"gpsntp.txt":  ota.Info{Profile: "qemu/virtio", Version: "old", Kernel: strings.Repeat("ab", 32)}.Text() + pad,
	})

	for _, slot := range []int{2, 3} {
		writeFile(t, filepath.Join(b.dev, fmt.Sprintf("vda%d", slot)), make([]byte, 1<<20))
	}
	writeFile(t, b.cmdline, []byte(cmdlineFor(booted)+"\n"))
	writeFile(t, filepath.Join(dir, "uptime"), []byte("1.50 2.00\n"))
	writeFile(t, filepath.Join(dir, "sbom.json"), []byte(`{"sbom_hash": "x", "sbom": {"gpsntp_version": "running-v3", "hostname": "h"}}`))
	writeFile(t, filepath.Join(dir, "pw"), []byte("secret\n"))
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// upload writes a squashfs-looking root into slot and returns its size and hash, as PUT /update/root would.
func (b *fakeBox) upload(t *testing.T, slot int, seed byte) (int64, string) {
	t.Helper()
	root := make([]byte, 8192)
	copy(root, "hsqs")
	binary.LittleEndian.PutUint16(root[28:], 4)
	binary.LittleEndian.PutUint64(root[40:], 8000)
	for i := 100; i < len(root); i++ {
		root[i] = seed + byte(i)
	}
	f, err := os.OpenFile(filepath.Join(b.dev, fmt.Sprintf("vda%d", slot)), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(root, 0); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(root)
	return int64(len(root)), hex.EncodeToString(sum[:])
}

func (b *fakeBox) bootFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(b.dev, "vda1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := ota.ReadFile(f, p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (b *fakeBox) agent(t *testing.T, statusURL string, deadline time.Duration) (*agent, *bytes.Buffer) {
	t.Helper()
	var logBuf syncBuffer
	o := options{
		listen: "127.0.0.1:0", statusURL: statusURL, stateDir: b.state, pwFiles: filepath.Join(b.dir, "nothere") + "," + filepath.Join(b.dir, "pw"),
		deadline: deadline, interval: 20 * time.Millisecond, cmdline: b.cmdline, sysBlock: b.sys, devDir: b.dev,
		uptime: filepath.Join(b.dir, "uptime"), sbom: filepath.Join(b.dir, "sbom.json"),
	}
	a, err := newAgent(o, log.New(&logBuf, "", 0), func(tryboot bool) error { b.reboots <- tryboot; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return a, &logBuf.b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func tryboot(t *testing.T, a *agent, user, pw string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/ota/tryboot", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	rec := httptest.NewRecorder()
	a.handleTryboot(rec, req)
	return rec
}

func TestTrybootRequest(t *testing.T) {
	b := newFakeBox(t, 2, 2)
	a, logs := b.agent(t, "http://127.0.0.1:1/", time.Minute)
	if a.disk.device != filepath.Join(b.dev, "vda") || a.disk.booted != 2 || a.phase != ota.Normal {
		t.Fatalf("agent sees %+v, phase %v", a.disk, a.phase)
	}
	if a.info == nil || a.info.Profile != "qemu/virtio" || a.info.Version != "old" || a.running != "running-v3" {
		t.Errorf("image info %+v, running %q", a.info, a.running)
	}
	size, sum := b.upload(t, 3, 1)
	good := url.Values{"size": {fmt.Sprint(size)}, "sha256": {sum}, "version": {"new"}, "deadline": {"90s"}}
	trialBefore := b.bootFile(t, ota.TrialCmdline)

	for _, tc := range []struct {
		name, user, pw string
		form           url.Values
		code           int
		body           string
	}{
		{"no auth", "", "", good, http.StatusUnauthorized, "password"},
		{"wrong password", "gokrazy", "guess", good, http.StatusUnauthorized, "password"},
		{"wrong user", "root", "secret", good, http.StatusUnauthorized, "password"},
		{"bad size", "gokrazy", "secret", url.Values{"size": {"100"}, "sha256": {sum}}, http.StatusBadRequest, "size"},
		{"bad hash", "gokrazy", "secret", url.Values{"size": {fmt.Sprint(size)}, "sha256": {"zz"}}, http.StatusBadRequest, "sha256"},
		{"bad deadline", "gokrazy", "secret", url.Values{"size": {fmt.Sprint(size)}, "sha256": {sum}, "deadline": {"1s"}}, http.StatusBadRequest, "deadline"},
		{"interrupted upload", "gokrazy", "secret", url.Values{"size": {fmt.Sprint(size)}, "sha256": {strings.Repeat("0", 64)}}, http.StatusConflict, "did not complete"},
		{"size beyond the upload", "gokrazy", "secret", url.Values{"size": {fmt.Sprint(2 << 20)}, "sha256": {sum}}, http.StatusConflict, "slot 3"},
	} {
		rec := tryboot(t, a, tc.user, tc.pw, tc.form)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
	if got := b.bootFile(t, ota.TrialCmdline); got != trialBefore {
		t.Fatalf("a refused request changed trycmd.txt to %q", got)
	}
	if _, err := os.Stat(filepath.Join(b.state, recordName)); err == nil {
		t.Fatal("a refused request wrote a record")
	}
	select {
	case <-b.reboots:
		t.Fatal("a refused request rebooted")
	default:
	}

	rec := tryboot(t, a, "gokrazy", "secret", good)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("tryboot: %d %s\n%s", rec.Code, rec.Body, logs)
	}
	select {
	case tb := <-b.reboots:
		if !tb {
			t.Error("rebooted without the tryboot flag")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reboot after an accepted request")
	}
	trial := b.bootFile(t, ota.TrialCmdline)
	if slot, _, err := ota.RootSlot(trial); err != nil || slot != 3 || len(trial) != len(trialBefore) {
		t.Errorf("trycmd.txt = %q (slot %d, %v)", trial, slot, err)
	}
	if slot, _, _ := ota.RootSlot(b.bootFile(t, ota.CmdlineFile)); slot != 2 {
		t.Errorf("cmdline.txt moved to slot %d before any trial", slot)
	}
	r, err := a.loadRecord()
	if err != nil || r == nil || r.State != ota.StateTrying || r.To != 3 || r.Deadline != 90*time.Second || r.Version != "new" || r.RootSHA != sum {
		t.Errorf("record %+v, %v", r, err)
	}
}

// gpsntpdStatus serves /api/status as a healthy (or not) gpsntpd would.
func gpsntpdStatus(t *testing.T, healthy bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st status.Status
		st.Version = "new"
		st.NTP.Listen = []string{":123"}
		st.GPS.Device = "/dev/hvc0"
		if healthy {
			st.GPS.SentencesOK = 42
		}
		json.NewEncoder(w).Encode(st)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func startTrial(t *testing.T, b *fakeBox, deadline time.Duration) {
	t.Helper()
	rec := ota.Record{State: ota.StateTrying, From: 2, To: 3, Requested: time.Now().UTC(), Deadline: deadline, RootSize: 8192, RootSHA: "x"}
	data, _ := json.Marshal(rec)
	os.MkdirAll(b.state, 0o700)
	writeFile(t, filepath.Join(b.state, recordName), data)
}

func TestTrialCommits(t *testing.T) {
	b := newFakeBox(t, 3, 2)
	startTrial(t, b, 10*time.Second)
	a, logs := b.agent(t, gpsntpdStatus(t, true).URL, time.Minute)
	if a.phase != ota.Trial {
		t.Fatalf("phase %v in a trial boot", a.phase)
	}
	done := make(chan struct{})
	go func() { a.judgeTrial(t.Context()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no verdict\n%s", logs)
	}
	if slot, _, _ := ota.RootSlot(b.bootFile(t, ota.CmdlineFile)); slot != 3 {
		t.Errorf("cmdline.txt boots slot %d after a healthy trial", slot)
	}
	r, _ := a.loadRecord()
	if r == nil || r.State != ota.StateCommitted || !strings.Contains(r.Detail, "42 sentences") {
		t.Errorf("record %+v", r)
	}
	select {
	case <-b.reboots:
		t.Error("a committed trial rebooted")
	default:
	}
}

func TestTrialRollsBack(t *testing.T) {
	b := newFakeBox(t, 3, 2)
	startTrial(t, b, 300*time.Millisecond)
	a, logs := b.agent(t, gpsntpdStatus(t, false).URL, time.Minute)
	go a.judgeTrial(t.Context())
	select {
	case tb := <-b.reboots:
		if tb {
			t.Error("the rollback reboot carried the tryboot flag")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no rollback\n%s", logs)
	}
	if slot, _, _ := ota.RootSlot(b.bootFile(t, ota.CmdlineFile)); slot != 2 {
		t.Errorf("cmdline.txt boots slot %d after a failed trial", slot)
	}
	r, _ := a.loadRecord()
	if r == nil || r.State != ota.StateRolledBack || !strings.Contains(r.Detail, "no receiver data on /dev/hvc0") {
		t.Errorf("record %+v", r)
	}

	// The box comes back on slot 2: the agent there keeps the verdict and takes new requests.
	writeFile(t, b.cmdline, []byte(cmdlineFor(2)))
	a2, _ := b.agent(t, "http://127.0.0.1:1/", time.Minute)
	if a2.phase != ota.Normal || a2.record == nil || a2.record.State != ota.StateRolledBack {
		t.Errorf("after the rollback: phase %v record %+v", a2.phase, a2.record)
	}
	resp := httptest.NewRecorder()
	a2.handleStatus(resp, httptest.NewRequest(http.MethodGet, "/ota/status", nil))
	var st ota.AgentStatus
	if err := json.Unmarshal(resp.Body.Bytes(), &st); err != nil || st.Booted != 2 || st.Default != 2 || st.Record == nil || st.Record.State != ota.StateRolledBack {
		t.Errorf("GET /ota/status: %s (%v)", resp.Body, err)
	}
}

func TestTrialRefusesSecondRequest(t *testing.T) {
	b := newFakeBox(t, 3, 2)
	a, _ := b.agent(t, "http://127.0.0.1:1/", time.Minute)
	size, sum := b.upload(t, 2, 7)
	rec := tryboot(t, a, "gokrazy", "secret", url.Values{"size": {fmt.Sprint(size)}, "sha256": {sum}})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "trial boot is being judged") {
		t.Errorf("tryboot during a trial: %d %s", rec.Code, rec.Body)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-deadline", "1s"}, {"-nope"}, {"extra"}} {
		var errb bytes.Buffer
		if code := runMain(args, &errb); code != 2 {
			t.Errorf("%v: exit %d (%s)", args, code, errb.String())
		}
	}
}

// TestTrialDeadlineCountsFromBoot: an agent restarted late in the trial (gokrazy restarts a crashed
// service) must not grant the trial a fresh deadline.
func TestTrialDeadlineCountsFromBoot(t *testing.T) {
	b := newFakeBox(t, 3, 2)
	startTrial(t, b, 30*time.Second)
	writeFile(t, filepath.Join(b.dir, "uptime"), []byte("29.95 50.00\n"))
	a, logs := b.agent(t, gpsntpdStatus(t, false).URL, time.Minute)
	go a.judgeTrial(t.Context())
	select {
	case <-b.reboots:
	case <-time.After(5 * time.Second):
		t.Fatalf("an agent started 29.95 s into a 30 s trial did not roll back within 5 s\n%s", logs)
	}
	if _, err := readUptime(filepath.Join(b.dir, "nothere")); err == nil {
		t.Error("a missing uptime file read")
	}
	writeFile(t, filepath.Join(b.dir, "uptime"), []byte("abc"))
	if _, err := readUptime(filepath.Join(b.dir, "uptime")); err == nil {
		t.Error("garbage uptime read")
	}
}
