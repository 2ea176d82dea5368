package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// runExpectFailure runs gpsntpd with args and returns its stderr, failing unless it exits non-zero with
// exactly one line.
func runExpectFailure(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin(t, "gpsntpd"), args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("gpsntpd %v exited 0, want an error", args)
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("gpsntpd %v: %v", args, err)
	}
	msg := strings.TrimRight(string(out), "\n")
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("gpsntpd %v printed %d lines, want one:\n%s", args, strings.Count(msg, "\n")+1, msg)
	}
	return msg
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-no-such-flag"}, "-no-such-flag"},
		{[]string{"-ntp-rate", "fast"}, "-ntp-rate"},
		{[]string{"-ntp-listen", "127.0.0.1"}, "-ntp-listen"},
		{[]string{"-http-listen", "127.0.0.1:99999"}, "-http-listen"},
		{[]string{"-ntp-burst", "0"}, "-ntp-burst"},
		{[]string{"-ntp-allow", "10.0.0.0/33", "-sim", "-ntp-listen", "127.0.0.1:0", "-http-listen", "", "-nts-ke-listen", "", "-state-dir", t.TempDir()}, "10.0.0.0/33"},
		{[]string{"-nts-aeads", "15,99"}, "-nts-aeads"},
		{[]string{"-nts-cert", "/x.pem"}, "-nts-key"},
		{[]string{"-pps-gpio", "gpiochip0:18", "-dac", "mcp4725@/dev/i2c-1:0x70", "-dac-pps", "gpiochip0:17"}, "-dac"},
		{[]string{"-pps-gpio", "gpiochip0:18", "-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0"}, "-dac-pps"},
		{[]string{"-pps-gpio", "gpiochip0:18", "-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17", "-dac-gain", "NaN"}, "-dac-gain"},
		{[]string{"-sim", "-dac", "mcp4725@/dev/i2c-1:0x60", "-dac-pps", "gpiochip0:17"}, "-dac"},
	}
	for _, c := range cases {
		msg := runExpectFailure(t, c.args...)
		if !strings.Contains(msg, c.want) {
			t.Errorf("gpsntpd %v said %q, want it to name %s", c.args, msg, c.want)
		}
	}
}

func TestAddressInUseNamesTheAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	busy := pc.LocalAddr().String()
	msg := runExpectFailure(t, "-sim", "-ntp-listen", busy, "-http-listen", "", "-nts-ke-listen", "127.0.0.1:0", "-state-dir", t.TempDir())
	if !strings.Contains(msg, busy) || !strings.Contains(msg, "in use") {
		t.Errorf("busy NTP address: %q, want it to name %s and say it is in use", msg, busy)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busyTCP := ln.Addr().String()
	msg = runExpectFailure(t, "-sim", "-ntp-listen", "127.0.0.1:0", "-http-listen", busyTCP, "-nts-ke-listen", "127.0.0.1:0", "-state-dir", t.TempDir())
	if !strings.Contains(msg, busyTCP) || !strings.Contains(msg, "in use") {
		t.Errorf("busy HTTP address: %q, want it to name %s and say it is in use", msg, busyTCP)
	}
}
