package ota

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

const gptCmdline = "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-6f3c1a2b0001/PARTNROFF=1 init=/gokrazy/init rootwait panic=10 oops=panic" + "        "

func TestRootSlot(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		slot    int
		guid    string
		err     string
	}{
		{gptCmdline, 2, "60c24cc1-f3f9-427a-8199-6f3c1a2b0001", ""},
		{strings.Replace(gptCmdline, "PARTNROFF=1", "PARTNROFF=2", 1), 3, "60c24cc1-f3f9-427a-8199-6f3c1a2b0001", ""},
		{"root=PARTUUID=2e18c40c-03 ro", 3, "", ""},
		{"root=/dev/mmcblk0p2 init=/gokrazy/init", 2, "", ""},
		{"root=/dev/vda3", 3, "", ""},
		{"init=/gokrazy/init", 0, "", "no root="},
		{"root=/dev/sda2 root=/dev/sda3", 0, "", "two root="},
		{"root=/dev/sda4", 0, "", "no root slot"},
		{"root=PARTUUID=x/PARTNROFF=3", 0, "", "no root slot"},
		{"xroot=/dev/sda2", 0, "", "no root="},
	} {
		slot, guid, err := RootSlot(tc.cmdline)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("RootSlot(%q) err = %v, want %q", tc.cmdline, err, tc.err)
			}
			continue
		}
		if err != nil || slot != tc.slot || guid != tc.guid {
			t.Errorf("RootSlot(%q) = %d, %q, %v; want %d, %q", tc.cmdline, slot, guid, err, tc.slot, tc.guid)
		}
	}
}

func TestWithRootSlot(t *testing.T) {
	got, err := WithRootSlot(gptCmdline, SlotB)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(gptCmdline, "PARTNROFF=1", "PARTNROFF=2", 1); got != want {
		t.Errorf("WithRootSlot = %q, want %q", got, want)
	}
	back, err := WithRootSlot(got, SlotA)
	if err != nil || back != gptCmdline {
		t.Errorf("back to A: %q, %v", back, err)
	}
	got, err = WithRootSlot("xroot=1 root=/dev/mmcblk0p2 rootwait", SlotB)
	if err != nil || got != "xroot=1 root=/dev/mmcblk0p3 rootwait" {
		t.Errorf("device form: %q, %v", got, err)
	}
	if _, err := WithRootSlot(gptCmdline, 4); err == nil {
		t.Error("slot 4 accepted")
	}
	if _, err := WithRootSlot("ro quiet", 2); err == nil {
		t.Error("a line without root= accepted")
	}
}

func FuzzRootSlot(f *testing.F) {
	f.Add(gptCmdline, 3)
	f.Add("root=/dev/sda2 ro", 2)
	f.Add("a root=PARTUUID=01234567-02 b", 3)
	f.Add("00000 root=PARTUUID=0/PARTNROFF=1\v", 3) // \v ends a word for the kernel
	f.Add("root=/dev/sda2\xa0ro", 3)
	f.Fuzz(func(t *testing.T, cmdline string, slot int) {
		got, err := WithRootSlot(cmdline, slot)
		if err != nil {
			return
		}
		if len(got) != len(cmdline) {
			t.Fatalf("length changed: %q -> %q", cmdline, got)
		}
		s, _, err := RootSlot(got)
		if err != nil || s != slot {
			t.Fatalf("WithRootSlot(%q, %d) = %q reads back as %d, %v", cmdline, slot, got, s, err)
		}
	})
}

func TestFitAndRewrite(t *testing.T) {
	img := tinyFAT16(1, 3)
	fs := &memFS{b: img}
	if err := RewriteFile(fs, "/cmdline.txt", "root=/dev/sda3\n"); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(bytes.NewReader(fs.b), "/cmdline.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 600 || !strings.HasPrefix(string(got), "root=/dev/sda3 ") || !strings.HasSuffix(string(got), " \n") {
		t.Errorf("rewritten cmdline.txt = %q", got)
	}
	if err := RewriteFile(fs, "/cmdline.txt", strings.Repeat("y", 601)); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("oversized rewrite: %v", err)
	}
	if err := RewriteFile(fs, "/nothere.txt", "x"); err == nil {
		t.Error("rewrote a missing file")
	}
	if b, _ := Fit("ab", 4); string(b) != "ab  " {
		t.Errorf("Fit without newline = %q", b)
	}
}

type memFS struct{ b []byte }

func (m *memFS) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.b).ReadAt(p, off)
}

func (m *memFS) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("write out of range")
	}
	return copy(m.b[off:], p), nil
}

func TestTryboot(t *testing.T) {
	cfg := "arm_64bit=1\n[pi4]\narm_boost=1\n[all]\nenable_uart=1\n"
	if f, err := FirmwareCmdlineFile(cfg); err != nil || f != CmdlineFile {
		t.Errorf("config.txt names %q, %v", f, err)
	}
	try := TrybootConfigText(cfg)
	if !strings.HasPrefix(try, cfg) {
		t.Errorf("tryboot.txt drops config.txt's settings:\n%s", try)
	}
	if f, err := FirmwareCmdlineFile(try); err != nil || f != TrialCmdline {
		t.Errorf("tryboot.txt names %q, %v", f, err)
	}
	// A cmdline= under a filter that does not match here is ignored; a bad name is an error.
	if f, _ := FirmwareCmdlineFile("[pi5]\ncmdline=other.txt\n"); f != CmdlineFile {
		t.Errorf("filtered cmdline= used: %q", f)
	}
	if _, err := FirmwareCmdlineFile("cmdline=../etc/x.txt\n"); err == nil {
		t.Error("path in cmdline= accepted")
	}
}

func TestInfo(t *testing.T) {
	k := strings.Repeat("ab", 32)
	in := Info{Profile: "rpi4/uputronics", Version: "v1.2", Kernel: k}
	got, err := ParseInfo(in.Text() + "      ")
	if err != nil || got != in {
		t.Fatalf("ParseInfo(Text()) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "profile=x\n", "profile=x\nkernel_sha256=zz\n", "profile=x\nprofile=y\nkernel_sha256=" + k, "color=red\n", "junk\n"} {
		if _, err := ParseInfo(bad); err == nil {
			t.Errorf("ParseInfo(%q) accepted", bad)
		}
	}
	if err := Compatible(in, in); err != nil {
		t.Error(err)
	}
	other := in
	other.Profile = "pi5/uputronics"
	if err := Compatible(in, other); err == nil || !strings.Contains(err.Error(), "BOARD and HAT") {
		t.Errorf("wrong board: %v", err)
	}
	other = in
	other.Kernel = strings.Repeat("cd", 32)
	if err := Compatible(in, other); err == nil || !strings.Contains(err.Error(), "reflash") {
		t.Errorf("new kernel: %v", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(Info{Profile: "qemu/virtio", Version: "x", Kernel: strings.Repeat("0", 64)}.Text())
	f.Add("profile=\n")
	f.Fuzz(func(t *testing.T, s string) {
		i, err := ParseInfo(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(i.Profile+i.Version, "\n") {
			t.Fatalf("multi-line field from %q", s)
		}
		again, err := ParseInfo(i.Text())
		if err != nil || again != i {
			t.Fatalf("round trip of %+v: %+v, %v", i, again, err)
		}
	})
}

func TestRecord(t *testing.T) {
	good := `{"state":"trying","from_slot":2,"to_slot":3,"requested":"2026-11-22T10:00:00Z","deadline_ns":300000000000,"root_bytes":4096,"root_sha256":"ab"}`
	r, err := ParseRecord([]byte(good))
	if err != nil || r.To != 3 || r.Deadline != 5*time.Minute {
		t.Fatalf("ParseRecord = %+v, %v", r, err)
	}
	for _, bad := range []string{
		`{}`,
		strings.Replace(good, `"trying"`, `"maybe"`, 1),
		strings.Replace(good, `"to_slot":3`, `"to_slot":2`, 1),
		strings.Replace(good, `300000000000`, `-1`, 1),
		strings.Replace(good, `"root_bytes"`, `"extra":1,"root_bytes"`, 1),
		`{"state":`,
	} {
		if _, err := ParseRecord([]byte(bad)); err == nil {
			t.Errorf("ParseRecord(%s) accepted", bad)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"state":"committed","from_slot":3,"to_slot":2,"requested":"2026-11-22T10:00:00Z","deadline_ns":1}`))
	f.Add([]byte(`{"state":"trying"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if r.To != Other(r.From) || r.Deadline <= 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func TestStart(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	trying := &Record{State: StateTrying, From: 2, To: 3, Deadline: time.Minute}
	for _, tc := range []struct {
		name  string
		boot  Boot
		phase Phase
		state string
	}{
		{"fresh box", Boot{Booted: 2, Committed: 2}, Normal, ""},
		{"trial boot", Boot{Booted: 3, Committed: 2, Record: trying}, Trial, StateTrying},
		{"trial without record", Boot{Booted: 3, Committed: 2}, Trial, ""},
		{"came back", Boot{Booted: 2, Committed: 2, Record: trying}, Normal, StateRolledBack},
		{"committed, record lost", Boot{Booted: 3, Committed: 3, Record: trying}, Normal, StateCommitted},
		{"old verdict kept", Boot{Booted: 3, Committed: 3, Record: &Record{State: StateCommitted, From: 2, To: 3}}, Normal, StateCommitted},
	} {
		phase, rec := Start(tc.boot, now)
		state := ""
		if rec != nil {
			state = rec.State
		}
		if phase != tc.phase || state != tc.state {
			t.Errorf("%s: Start = %v, %q; want %v, %q", tc.name, phase, state, tc.phase, tc.state)
		}
	}
	if trying.State != StateTrying {
		t.Error("Start changed its input record")
	}
}

func TestJudge(t *testing.T) {
	var st status.Status
	if h := Judge(st); h.OK || !strings.Contains(h.Detail, "no NTP socket") || !strings.Contains(h.Detail, "no receiver data") {
		t.Errorf("empty status judged %+v", h)
	}
	st.NTP.Listen = []string{":123"}
	st.GPS.Device = "/dev/hvc0"
	if h := Judge(st); h.OK || !strings.Contains(h.Detail, "/dev/hvc0") {
		t.Errorf("no receiver judged %+v", h)
	}
	st.GPS.SentencesOK = 5
	if h := Judge(st); !h.OK {
		t.Errorf("healthy status judged %+v", h)
	}
}

func TestJudgement(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ok := Health{OK: true, Detail: "fine"}
	bad := Health{Detail: "no receiver data on /dev/ttyAMA0"}

	j := Judgement{Begin: t0, Deadline: time.Minute}
	steps := []struct {
		at   time.Duration
		h    Health
		err  error
		want Verdict
	}{
		{2 * time.Second, Health{}, errors.New("connection refused"), Wait},
		{4 * time.Second, ok, nil, Wait},
		{6 * time.Second, bad, nil, Wait}, // a relapse resets the streak
		{8 * time.Second, ok, nil, Wait},
		{10 * time.Second, ok, nil, Wait},
		{12 * time.Second, ok, nil, Commit},
	}
	for i, s := range steps {
		if v, _ := j.Observe(t0.Add(s.at), s.h, s.err); v != s.want {
			t.Fatalf("step %d: %v, want %v", i, v, s.want)
		}
	}

	j = Judgement{Begin: t0, Deadline: time.Minute}
	for at := 2 * time.Second; at < time.Minute; at += 2 * time.Second {
		if v, _ := j.Observe(t0.Add(at), bad, nil); v != Wait {
			t.Fatalf("at %v: %v before the deadline", at, v)
		}
	}
	v, why := j.Observe(t0.Add(time.Minute), Health{}, errors.New("dial tcp 127.0.0.1:80: connection refused"))
	if v != Rollback || !strings.Contains(why, "connection refused") || !strings.Contains(why, "1m0s") {
		t.Errorf("deadline: %v %q", v, why)
	}
}

func TestSquashfsSize(t *testing.T) {
	sb := make([]byte, SquashfsHeaderSize)
	copy(sb, "hsqs")
	binary.LittleEndian.PutUint16(sb[28:], 4)
	binary.LittleEndian.PutUint64(sb[40:], 5000)
	if n, err := SquashfsSize(sb, 1<<20); err != nil || n != 8192 {
		t.Errorf("SquashfsSize = %d, %v", n, err)
	}
	binary.LittleEndian.PutUint64(sb[40:], 2<<20)
	if _, err := SquashfsSize(sb, 1<<20); err == nil {
		t.Error("a squashfs larger than its slot accepted")
	}
	if _, err := SquashfsSize(make([]byte, SquashfsHeaderSize), 1<<20); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("empty slot: %v", err)
	}
	if _, err := SquashfsSize(sb[:10], 1<<20); err == nil {
		t.Error("short superblock accepted")
	}
}

func TestSBOMVersion(t *testing.T) {
	if v, err := SBOMVersion([]byte(`{"sbom_hash":"ab","sbom":{"gpsntp_version":"v1.2-3-gabc","profile":"rpi4/uputronics@GPIO18"}}`)); err != nil || v != "v1.2-3-gabc" {
		t.Errorf("SBOMVersion = %q, %v", v, err)
	}
	for _, bad := range []string{``, `{}`, `{"sbom":{}}`, `{"sbom":[1]}`, `nope`} {
		if _, err := SBOMVersion([]byte(bad)); err == nil {
			t.Errorf("SBOMVersion(%s) accepted", bad)
		}
	}
}
