package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

func TestStatusUpdateLines(t *testing.T) {
	status1 := func(version string, u *status.Update) string {
		t.Helper()
		doc := testDoc()
		doc.Version, doc.Update = version, u
		var out, errb bytes.Buffer
		if code := runStatus([]string{"-url", serve(t, doc)}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	for _, c := range []struct {
		name    string
		version string // the running gpsntpd's
		u       *status.Update
		want    []string
		absent  []string
	}{
		{"trial", "v1.3", &status.Update{BootedSlot: 3, DefaultSlot: 2, Phase: "trial", TrialLeftS: 187, Health: "no receiver data on /dev/ttyAMA0",
			ImageVersion: "v1.2", ImageProfile: "rpi4/uputronics",
			Last: &status.LastUpdate{State: status.UpdateTrying, FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T11:57:00Z"}},
			[]string{
				"Update          : slot 3, gpsntp v1.3 (rpi4/uputronics); kernel and firmware as flashed with v1.2; trial boot in progress, 187 s left (health: no receiver data on /dev/ttyAMA0); slot 2 boots again unless it proves healthy\n",
				"Last update     : gpsntp v1.3 on trial in slot 3 since 2026-11-22T11:57:00Z\n",
			}, []string{"Update agent"}},
		{"committed", "v1.3", &status.Update{BootedSlot: 3, DefaultSlot: 3, Phase: "normal", ImageVersion: "v1.3",
			Last: &status.LastUpdate{State: status.UpdateCommitted, FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T11:57:00Z",
				Decided: "2026-11-22T11:58:10Z", Detail: "healthy: gpsntpd v1.3 serving on [::]:123, receiver 12 sentences"}},
			[]string{
				"Update          : slot 3, gpsntp v1.3\n",
				"Last update     : gpsntp v1.3 committed in slot 3 at 2026-11-22T11:58:10Z (healthy: gpsntpd v1.3 serving on [::]:123, receiver 12 sentences)\n",
			}, []string{"trial boot", "Update agent", "next boot"}},
		{"rolled back, agent unreachable now", "v1.2", &status.Update{BootedSlot: 2, DefaultSlot: 2, Phase: "normal", ImageVersion: "v1.2", CheckedAt: "2026-11-22T11:59:40Z",
			Error: "gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: connect: connection refused",
			Last: &status.LastUpdate{State: status.UpdateRolledBack, FromSlot: 2, ToSlot: 3, Decided: "2026-11-21T10:05:00Z",
				Detail: "not healthy within 5m0s:\nno NTP socket\x1b[2J"}},
			[]string{
				"Update          : slot 2, gpsntp v1.2\n",
				"Last update     : an image ROLLED BACK at 2026-11-21T10:05:00Z: slot 3 failed its trial, back on slot 2 (not healthy within 5m0s: no NTP socket [2J)\n",
				"Update agent    : gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: connect: connection refused; shown: its last answer, at 2026-11-22T11:59:40Z\n",
			}, []string{"\x1b", "flashed"}},
		{"rebooting into the default", "v1.3", &status.Update{BootedSlot: 3, DefaultSlot: 2, Phase: "normal"},
			[]string{"Update          : slot 3, gpsntp v1.3; next boot: slot 2\n"}, []string{"Last update"}},
		{"never answered", "v1.3", &status.Update{Error: "gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: no answer within 2s"},
			[]string{"Update agent    : gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: no answer within 2s\n"},
			[]string{"Update          :", "Last update", "shown:"}},
		{"first poll under way", "v1.3", &status.Update{}, []string{"Update          : waiting for gpsntp-ota's first answer\n"}, []string{"Update agent"}},
		{"no section", "v1.3", nil, nil, []string{"Update", "update"}},
	} {
		out := status1(c.version, c.u)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: status lacks %q:\n%s", c.name, w, out)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(out, a) {
				t.Errorf("%s: status has %q:\n%s", c.name, a, out)
			}
		}
	}
}
