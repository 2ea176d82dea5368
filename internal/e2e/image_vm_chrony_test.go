package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/image"
	"github.com/gpsntp/gpsntp/internal/status"
)

// netnsChild marks the copy of the test binary that runs inside the network namespace.
const netnsChild = "GPSNTP_E2E_NETNS_CHILD"

// TestVMServesChrony is `make e2e`'s promise: the VM image, fed NMEA from the host over virtio-serial,
// serves time that a real chronyd on the host accepts, and its status page loads. QEMU must forward UDP,
// which needs restrict=off, so the whole test runs in a network namespace it creates (the test binary
// re-runs itself under `unshare -n`): the guest can reach nothing but that namespace's loopback.
//
// The VM has no PPS, so the board profile runs gpsntpd with -nmea-time: the sentences, which the host
// writes 80 ms after each second, time the seconds. chronyd must see a stratum-1 server whose offset lies
// within the root dispersion the box serves, which is the box's claim about its own error.
func TestVMServesChrony(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	if os.Getenv(netnsChild) == "" {
		requireImageTools(t)
		requireTool(t, "qemu-system-aarch64")
		requireTool(t, "chronyd")
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("unshare not available")
		}
		if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
			t.Skipf("cannot create a network namespace here (needs root or user namespaces): %v %s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, unshare, "-n", os.Args[0], "-test.run", "^TestVMServesChrony$", "-test.v", "-test.count=1", "-test.timeout=7m")
		cmd.Env = append(os.Environ(), netnsChild+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("the namespaced run failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestVMServesChrony") {
			t.Fatal("the namespaced run did not pass the test")
		}
		return
	}

	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v %s", err, out)
	}
	qemu := requireTool(t, "qemu-system-aarch64")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	res := buildVMImage(ctx, t, "gpsntpvm", "vm-chrony", "e2e-chrony", t.TempDir(), "-nmea-delay", "80ms", "-nmea-uncertainty", "50ms")
	web, ntp, nmea := freePort(t), freeUDPPort(t), freePort(t)
	var console syncBuffer
	vmDone := make(chan error, 1)
	go func() {
		vmDone <- image.RunVM(ctx, qemu, image.VM{
			Image: res.Path, Kernel: res.Vmlinuz, Restrict: false,
			Forward: map[int]int{web: 80}, UDPForward: map[int]int{ntp: 123}, NMEAPort: nmea,
		}, nil, &console, nil)
	}()
	defer func() {
		cancel()
		<-vmDone
		if t.Failed() {
			t.Logf("VM console (last lines):\n%s", lastLines(console.String(), 60))
		}
	}()
	go feedNMEAOnSecond(ctx, nmea, 80*time.Millisecond)

	start := time.Now()
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/api/status", web)
	var st status.Status
	for {
		err := pollJSON(ctx, apiURL, "", 5*time.Second, &st)
		if err == nil && st.Sync.Stratum == 1 {
			break
		}
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("the VM never served stratum 1 (last: %+v, err %v)", st.Sync, err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("VM serving stratum 1, refid %s, root dispersion %.1f ms, %v after QEMU start", st.Sync.RefID, st.Sync.RootDispersionS*1e3, time.Since(start).Round(time.Second))
	if st.Sync.RefID != "NMEA" || st.Sync.RootDispersionS < 0.05 {
		t.Errorf("the VM serves refid %q with root dispersion %g s: NMEA time must say it is NMEA time", st.Sync.RefID, st.Sync.RootDispersionS)
	}

	ms := runChronyClient(t, fmt.Sprint(ntp))
	best := ms[0]
	for _, m := range ms {
		if m.stratum != 1 || m.leap != "N" {
			t.Errorf("chronyd measured %+v, want stratum 1 and leap N", m)
		}
		if m.delay < best.delay {
			best = m
		}
	}
	// The box's claim about its error: its root dispersion (plus half the round trip, NTP's own bound).
	if err := pollJSON(ctx, apiURL, "", 5*time.Second, &st); err != nil {
		t.Fatal(err)
	}
	if limit := st.Sync.RootDispersionS + best.delay/2; math.Abs(best.offset) > limit {
		t.Errorf("chronyd measured offset %.2f ms, beyond the box's root dispersion plus half the delay, %.2f ms", best.offset*1e3, limit*1e3)
	}
	t.Logf("chronyd: %d samples, best offset %.3f ms, delay %.3f ms; the box served root dispersion %.1f ms", len(ms), best.offset*1e3, best.delay*1e3, st.Sync.RootDispersionS*1e3)

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", web))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "NMEA") {
		t.Errorf("status page: %s, %d bytes, mentions NMEA: %v", resp.Status, len(page), strings.Contains(string(page), "NMEA"))
	}
}

// feedNMEAOnSecond writes one second of NMEA into QEMU's virtio-serial socket at each host second plus
// lag, as a receiver does, reconnecting whenever QEMU restarts.
func feedNMEAOnSecond(ctx context.Context, port int, lag time.Duration) {
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ctx.Err() == nil {
			now := time.Now()
			next := now.Truncate(time.Second).Add(time.Second + lag)
			time.Sleep(time.Until(next))
			conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(conn, nmeaSecond(next.Truncate(time.Second).UTC())); err != nil {
				break
			}
		}
		conn.Close()
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
