package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

var (
	binDir   string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpsntp-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/gpsntp/gpsntp/cmd/...")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(t *testing.T, name string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// requireTool returns the path of a peer program, skipping (or failing under CI) when it is absent.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/sbin/", "/usr/bin/"} {
		p := name
		if dir != "" {
			p = dir + name
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; `make deps` installs it", name)
	}
	t.Skipf("%s is not installed (run `make deps`); skipping", name)
	return ""
}

// daemon is a running gpsntpd.
type daemon struct {
	cmd     *exec.Cmd
	httpURL string
	stderr  *syncBuffer
	done    chan struct{} // closed when the process has exited; waitErr is then set
	waitErr error
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var statusURLRe = regexp.MustCompile(`status page on (http://[^ ]+)/`)

// loopbackArgs are the flags that keep a test's gpsntpd on loopback, with ports picked by the kernel: no
// test binds NTP, NTS-KE or HTTP on another address.
func loopbackArgs(t *testing.T) []string {
	return []string{"-ntp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-nts-ke-listen", "127.0.0.1:0", "-state-dir", t.TempDir()}
}

// startSim starts gpsntpd -sim on loopback and waits for its status server.
func startSim(t *testing.T, extra ...string) *daemon {
	t.Helper()
	return startDaemon(t, append(append([]string{"-sim"}, loopbackArgs(t)...), extra...))
}

// startHardware starts gpsntpd in hardware mode (no -sim) on loopback, with the given extra flags (the
// receiver's -gps-device and friends), and waits for its status server.
func startHardware(t *testing.T, extra ...string) *daemon {
	t.Helper()
	return startDaemon(t, append(loopbackArgs(t), extra...))
}

// startDaemon starts gpsntpd with args, stops it when the test ends, and waits for its status server.
func startDaemon(t *testing.T, args []string) *daemon {
	t.Helper()
	cmd := exec.Command(bin(t, "gpsntpd"), args...)
	pr, pw := io.Pipe()
	d := &daemon{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gpsntpd: %v", err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			d.stderr.Write([]byte(line + "\n"))
			if m := statusURLRe.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { d.waitErr = cmd.Wait(); pw.Close(); close(d.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("gpsntpd stderr:\n%s", d.stderr.String())
		}
	})
	select {
	case d.httpURL = <-urlc:
	case <-d.done:
		t.Fatalf("gpsntpd exited at start: %v\n%s", d.waitErr, d.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("gpsntpd did not report its status server\n%s", d.stderr.String())
	}
	return d
}

func (d *daemon) status(t *testing.T) status.Status {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(d.httpURL + "/api/status")
	if err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	defer resp.Body.Close()
	var st status.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode /api/status: %v", err)
	}
	return st
}

// ntpAddr returns the NTP address the daemon reports it listens on.
func (d *daemon) ntpAddr(t *testing.T) (host, port string) {
	t.Helper()
	st := d.status(t)
	if len(st.NTP.Listen) == 0 {
		t.Fatal("status reports no NTP listen address")
	}
	a := st.NTP.Listen[0]
	i := strings.LastIndex(a, ":")
	return a[:i], a[i+1:]
}

// waitLocked polls until the servo reports locked, or fails after limit.
func (d *daemon) waitLocked(t *testing.T, limit time.Duration) status.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var st status.Status
	for {
		st = d.status(t)
		if st.Sync.State == "locked" {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not locked after %v: state %q, stratum %d, offset %g s, gps %+v, pps %+v", limit, st.Sync.State, st.Sync.Stratum, st.Sync.OffsetS, st.GPS, st.PPS)
		case <-d.done:
			t.Fatalf("gpsntpd exited: %v", d.waitErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
