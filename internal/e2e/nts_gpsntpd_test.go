package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ntsAPI is the part of GET /api/nts this test relies on: where NTS-KE listens and the certificate to pin.
type ntsAPI struct {
	KEListen    []string `json:"ke_listen"`
	Certificate struct {
		PEM    string `json:"pem"`
		SHA256 string `json:"sha256"`
	} `json:"certificate"`
}

// TestChronyNTSAgainstGpsntpd: chronyd as an NTS client of gpsntpd itself: NTS-KE on the daemon's edge
// with the self-signed certificate it made in its state directory (pinned from /api/nts), then
// authenticated NTP on the daemon's NTP port, announced by NTS-KE port negotiation.
func TestChronyNTSAgainstGpsntpd(t *testing.T) {
	requireTool(t, "chronyd")
	if help, _ := exec.Command(bin(t, "gpsntpd"), "-h").CombinedOutput(); !strings.Contains(string(help), "-nts-ke-listen") {
		t.Skip("gpsntpd does not serve NTS yet (-nts-ke-listen): the daemon wiring of issue 6 is pending")
	}
	d := startSim(t, "-nts-ke-listen", "127.0.0.1:0")
	d.waitLocked(t, 120*time.Second)

	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(d.httpURL + "/api/nts")
	if err != nil {
		t.Fatalf("GET /api/nts: %v", err)
	}
	var api ntsAPI
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || len(api.KEListen) == 0 || !strings.Contains(api.Certificate.PEM, "BEGIN CERTIFICATE") || len(api.Certificate.SHA256) != 64 {
		t.Fatalf("/api/nts: %+v, %v", api, err)
	}
	_, kePort, err := net.SplitHostPort(api.KEListen[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := chronyDir(t)
	certFile := filepath.Join(dir, "gpsntpd-nts.pem")
	if err := os.WriteFile(certFile, []byte(api.Certificate.PEM), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, out := runChronyNTS(t, dir, kePort, certFile, "")
	t.Logf("chronyd: %s", out)
	if len(ms) == 0 {
		t.Fatalf("chronyd recorded no authenticated sample from gpsntpd\n%s", out)
	}
	for _, m := range ms {
		if m.stratum != 1 || m.leap != "N" {
			t.Errorf("chronyd saw stratum %d leap %s over NTS", m.stratum, m.leap)
		}
	}
}
