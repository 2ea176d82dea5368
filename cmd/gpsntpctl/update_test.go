package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/image"
	"github.com/gpsntp/gpsntp/internal/fattest"
	"github.com/gpsntp/gpsntp/ota"
)

var kernelA = strings.Repeat("aa", 32)

// fakeImage writes a sparse file laid out like a built image: the boot FAT at its offset with gpsntp.txt,
// and a squashfs-looking root in slot A.
func fakeImage(t *testing.T, info ota.Info) (path string, rootSHA string) {
	t.Helper()
	dir := t.TempDir()
	fat := filepath.Join(dir, "boot.fat")
	fattest.Make(t, fat, 16384, map[string]string{"gpsntp.txt": info.Text()})
	bootFS, err := os.ReadFile(fat)
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 3*4096)
	copy(root, "hsqs")
	binary.LittleEndian.PutUint16(root[28:], 4)
	binary.LittleEndian.PutUint64(root[40:], 9000)
	for i := 96; i < 9000; i++ {
		root[i] = byte(i * 7)
	}
	path = filepath.Join(dir, "new.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bootFS, image.BootStart*image.SectorSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(root, image.RootAStart*image.SectorSize); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(root)
	return path, hex.EncodeToString(sum[:])
}

// fakeBox plays gokrazy's update API and gpsntp-ota for one update: the trial's outcome is chosen by the test.
type fakeBox struct {
	t        *testing.T
	password string
	info     ota.Info
	outcome  string // ota.StateCommitted or ota.StateRolledBack
	cutAt    int    // >0: drop the upload connection after this many bytes

	mu       sync.Mutex
	uploaded []byte
	rec      *ota.Record
	polls    int
	calls    []string
}

func (b *fakeBox) auth(w http.ResponseWriter, r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != b.password {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

func (b *fakeBox) gokrazy(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.calls = append(b.calls, r.Method+" "+r.URL.Path)
	b.mu.Unlock()
	if !b.auth(w, r) {
		return
	}
	switch r.URL.Path {
	case "/update/features":
		io.WriteString(w, "partuuid,updatehash,gpt,")
	case "/update/root":
		var data []byte
		if b.cutAt > 0 {
			data = make([]byte, b.cutAt)
			io.ReadFull(r.Body, data)
			hj := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		data, _ = io.ReadAll(r.Body)
		b.mu.Lock()
		b.uploaded = data
		b.mu.Unlock()
		sum := sha256.Sum256(data)
		fmt.Fprintf(w, "%x", sum)
	default:
		http.NotFound(w, r)
	}
}

func (b *fakeBox) ota(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, r.Method+" "+r.URL.Path)
	switch r.URL.Path {
	case "/ota/status":
		st := ota.AgentStatus{Booted: 2, Default: 2, Phase: "normal", Info: &b.info, Record: b.rec}
		if b.rec != nil && (b.rec.State == ota.StateTrying || b.polls == 3) {
			b.polls++
			switch {
			case b.polls < 2: // rebooting
				http.Error(w, "down", http.StatusBadGateway)
				return
			case b.polls < 3:
				st.Booted, st.Phase, st.Health = 3, "trial", "no receiver data on /dev/hvc0"
			default:
				rec := *b.rec
				rec.State = b.outcome
				rec.Detail = "judged by the fake"
				b.rec = &rec
				switch {
				case b.outcome == ota.StateCommitted:
					st.Booted, st.Default = 3, 3
				case b.polls == 3:
					st.Booted = 3 // the trial has judged itself and is about to reboot
				}
				st.Record = &rec
			}
		}
		json.NewEncoder(w).Encode(st)
	case "/ota/tryboot":
		if u, p, ok := r.BasicAuth(); !ok || u != "gokrazy" || p != b.password {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		size, _ := strconv.ParseInt(r.FormValue("size"), 10, 64)
		sum := sha256.Sum256(b.uploaded)
		if size != int64(len(b.uploaded)) || r.FormValue("sha256") != hex.EncodeToString(sum[:]) {
			http.Error(w, "slot 3 holds other bytes", http.StatusConflict)
			return
		}
		d, _ := time.ParseDuration(r.FormValue("deadline"))
		rec := ota.Record{State: ota.StateTrying, From: 2, To: 3, Requested: time.Now().UTC().Truncate(time.Second), Deadline: d,
			RootSize: size, RootSHA: r.FormValue("sha256"), Version: r.FormValue("version")}
		b.rec = &rec
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(rec)
	default:
		http.NotFound(w, r)
	}
}

func (b *fakeBox) start(t *testing.T) (host string, gkPort, otaPort int) {
	gk := httptest.NewServer(http.HandlerFunc(b.gokrazy))
	t.Cleanup(gk.Close)
	ot := httptest.NewServer(http.HandlerFunc(b.ota))
	t.Cleanup(ot.Close)
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	return "127.0.0.1", port(gk), port(ot)
}

func runUpdateAgainst(t *testing.T, b *fakeBox, img, password string) (int, string, string) {
	t.Helper()
	host, gk, ot := b.start(t)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	var out, errb bytes.Buffer
	u := updateTarget{host: host, gokrazyPort: gk, otaPort: ot, password: password, client: &http.Client{Timeout: 5 * time.Second},
		deadline: time.Minute, wait: 20 * time.Second, interval: 10 * time.Millisecond}
	err := update(t.Context(), u, img, &out)
	if err != nil {
		errb.WriteString(err.Error())
		return 1, out.String(), errb.String()
	}
	return 0, out.String(), ""
}

func TestUpdateCommits(t *testing.T) {
	info := ota.Info{Profile: "qemu/virtio", Version: "v2", Kernel: kernelA}
	img, sum := fakeImage(t, info)
	b := &fakeBox{t: t, password: "pw1", info: ota.Info{Profile: "qemu/virtio", Version: "v1", Kernel: kernelA}, outcome: ota.StateCommitted}
	code, out, errs := runUpdateAgainst(t, b, img, "pw1")
	if code != 0 {
		t.Fatalf("update failed: %s\n%s", errs, out)
	}
	if !strings.Contains(out, "committed: slot 3 is the default now") || !strings.Contains(out, "trial boot of slot 3") {
		t.Errorf("output:\n%s", out)
	}
	if got := sha256.Sum256(b.uploaded); len(b.uploaded) != 3*4096 || hex.EncodeToString(got[:]) != sum {
		t.Errorf("uploaded %d bytes, sha256 %x; the image's root is %s", len(b.uploaded), got, sum)
	}
	if b.rec.Version != "v2" || b.rec.Deadline != time.Minute {
		t.Errorf("trial request: %+v", b.rec)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	info := ota.Info{Profile: "qemu/virtio", Version: "v2", Kernel: kernelA}
	img, _ := fakeImage(t, info)
	b := &fakeBox{t: t, password: "pw1", info: info, outcome: ota.StateRolledBack}
	code, out, errs := runUpdateAgainst(t, b, img, "pw1")
	if code == 0 || !strings.Contains(errs, "rolled back: the box runs slot 2 again") || !strings.Contains(errs, "judged by the fake") {
		t.Errorf("rollback reported as %d %q", code, errs)
	}
	if !strings.Contains(out, "the box reboots into slot 2") {
		t.Errorf("the trial's own verdict was not shown while the box rebooted:\n%s", out)
	}
}

func TestUpdateRefusals(t *testing.T) {
	info := ota.Info{Profile: "qemu/virtio", Version: "v2", Kernel: kernelA}
	img, _ := fakeImage(t, info)
	for _, tc := range []struct {
		name     string
		box      ota.Info
		password string
		cut      int
		want     string
		noUpload bool
	}{
		{"wrong password", info, "guess", 0, "refused the password", true},
		{"wrong board", ota.Info{Profile: "rpi4/uputronics", Kernel: kernelA}, "pw1", 0, "BOARD and HAT", true},
		{"new kernel", ota.Info{Profile: "qemu/virtio", Kernel: strings.Repeat("bb", 32)}, "pw1", 0, "reflash", true},
		{"interrupted upload", info, "pw1", 5000, "still runs slot 2", false},
	} {
		b := &fakeBox{t: t, password: "pw1", info: tc.box, cutAt: tc.cut}
		code, _, errs := runUpdateAgainst(t, b, img, tc.password)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: %d %q, want %q", tc.name, code, errs, tc.want)
		}
		b.mu.Lock()
		calls := append([]string(nil), b.calls...)
		b.mu.Unlock()
		for _, c := range calls {
			if c == "POST /ota/tryboot" || (tc.noUpload && c == "PUT /update/root") {
				t.Errorf("%s: the box got %s", tc.name, c)
			}
		}
	}
}

func TestUpdateBadInput(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "x.img")
	os.WriteFile(notImage, make([]byte, 4096), 0o644)
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("x\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-password-file", pw, notImage}, 2, "-target is required"},
		{[]string{"-target", "box", notImage}, 2, "-password-file is required"},
		{[]string{"-target", "box", "-password-file", filepath.Join(dir, "none"), notImage}, 1, "reading -password-file"},
		{[]string{"-target", "box", "-password-file", empty, notImage}, 1, "is empty"},
		{[]string{"-target", "box", "-password-file", pw, "-deadline", "1s", notImage}, 2, "-deadline"},
		{[]string{"-target", "box", "-password-file", pw}, 2, "exactly one IMAGE"},
		{[]string{"-target", "box", "-password-file", pw, notImage}, 1, "not a gpsntp image"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"update"}, tc.args...), nil, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("update %v: %d %q, want %d %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
