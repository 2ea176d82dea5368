package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
)

// NTPsec conflicts with chrony as a Debian package, so it is unpacked rather than installed:
//
//	apt-get download ntpsec && dpkg-deb -x ntpsec_*.deb /opt/ntpsec
//
// NTPSEC_NTPD overrides where its ntpd is looked for.
func ntpsecNtpd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("NTPSEC_NTPD"), "/opt/ntpsec/usr/sbin/ntpd"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("NTPsec's ntpd is not unpacked in /opt/ntpsec; `make deps` does it")
	}
	t.Skip("NTPsec's ntpd is not unpacked in /opt/ntpsec (or NTPSEC_NTPD); skipping")
	return ""
}

// TestNTSHelperProcess is not a test: TestNTPsecNTSClient runs the test binary with GPSNTP_NTS_HELPER set
// inside a network namespace, where this serves NTS-KE and NTS-NTP on loopback next to NTPsec's ntpd,
// and reports its ports and counters through files in that directory.
func TestNTSHelperProcess(t *testing.T) {
	dir := os.Getenv("GPSNTP_NTS_HELPER")
	if dir == "" {
		t.Skip("helper process for TestNTPsecNTSClient")
	}
	// Only AES-SIV-CMAC-512: a successful NTS-KE then proves it was negotiated.
	aeads := []nts.AlgorithmID{nts.AESSIVCMAC512}
	proc := newProcessor(t)
	resp := startNTSResponder(t, proc, nil)
	srv, kePort := startNTSKE(t, filepath.Join(dir, "ke"), proc, resp.port(), aeads)
	if err := os.WriteFile(filepath.Join(dir, "ports"), []byte(kePort+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st, pst := srv.Stats(), proc.Stats()
		line := fmt.Sprintf("%d %d %d %d %d\n", st.Served, pst.Authentic, pst.NAKCookie+pst.NAKAuth, pst.DropLayout, st.HandshakeFailed)
		os.WriteFile(filepath.Join(dir, "stats.tmp"), []byte(line), 0o644)
		os.Rename(filepath.Join(dir, "stats.tmp"), filepath.Join(dir, "stats"))
		if _, err := os.Stat(filepath.Join(dir, "stop")); err == nil {
			return
		}
	}
}

// TestNTPsecNTSClient: NTPsec's ntpd, an independent NTS implementation (OpenSSL), negotiates
// AEAD_AES_SIV_CMAC_512 with our NTS-KE edge and takes authenticated time from our processor. ntpd runs
// in a network namespace (it binds port 123) without the capability to set the clock.
func TestNTPsecNTSClient(t *testing.T) {
	ntpd := ntpsecNtpd(t)
	unshare := requireTool(t, "unshare")
	requireTool(t, "setpriv")
	dir := chronyDir(t)
	conf := filepath.Join(dir, "ntp.conf")
	cfg := fmt.Sprintf(`server 127.0.0.1:@KEPORT@ nts ca %s/ke/%s aead AES_SIV_CMAC_512 iburst minpoll 3 maxpoll 3
disable ntp
statsdir %s/
`, dir, ntske.SelfSignedCertFile, dir)
	if err := os.WriteFile(conf+".in", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`set -e
ip link set lo up
GPSNTP_NTS_HELPER=%[1]s %[2]s -test.run '^TestNTSHelperProcess$' > %[1]s/helper.log 2>&1 &
for i in $(seq 100); do [ -s %[1]s/ports ] && break; sleep 0.05; done
sed "s/@KEPORT@/$(cat %[1]s/ports)/" %[3]s.in > %[3]s
timeout 25 setpriv --inh-caps=-sys_time --bounding-set=-sys_time %[4]s -n -c %[3]s > %[1]s/ntpd.log 2>&1 &
for i in $(seq 250); do
	set -- $(cat %[1]s/stats 2>/dev/null || echo 0 0 0 0 0)
	[ "$2" -ge 3 ] && break
	sleep 0.1
done
kill %%2 2>/dev/null || true
touch %[1]s/stop
wait %%1 || true
`, dir, os.Args[0], conf, ntpd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, unshare, "-n", "sh", "-c", script).CombinedOutput()
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"helper.log", "ntpd.log"} {
			c, _ := os.ReadFile(filepath.Join(dir, f))
			fmt.Fprintf(&b, "--- %s\n%s\n", f, c)
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("namespace script: %v\n%s\n%s", err, out, logs())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "stats"))
	f := strings.Fields(string(raw))
	if len(f) != 5 {
		t.Fatalf("no stats from the helper\n%s", logs())
	}
	n := make([]int, 5)
	for i := range f {
		n[i], _ = strconv.Atoi(f[i])
	}
	t.Logf("KE served %d, NTS authentic %d, NAK %d, dropped %d, handshakes failed %d", n[0], n[1], n[2], n[3], n[4])
	if n[0] < 1 || n[1] < 3 || n[2] != 0 || n[3] != 0 {
		t.Fatalf("NTPsec did not get authenticated time\n%s", logs())
	}
}
