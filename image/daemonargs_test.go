package image

import (
	"slices"
	"testing"

	"github.com/gpsntp/gpsntp/board"
)

// TestDaemonArgs pins gpsntpd's command line in the image: the listeners, the state directory, gpsntp-ota's
// status on loopback (the same port OTAArgs gives gpsntp-ota), the profile's flags and the extra flags.
func TestDaemonArgs(t *testing.T) {
	p, err := board.Parse("rpi4", "uputronics")
	if err != nil {
		t.Fatal(err)
	}
	got := DaemonArgs(p, []string{"-ntp-rate", "4"})
	want := []string{"-ntp-listen", ":123", "-nts-ke-listen", ":4460", "-http-listen", ":80", "-state-dir", "/perm/gpsntp",
		"-ota-status", "http://127.0.0.1:8081/ota/status"}
	want = append(want, p.DaemonFlags()...)
	want = append(want, "-ntp-rate", "4")
	if !slices.Equal(got, want) {
		t.Errorf("DaemonArgs:\n got %q\nwant %q", got, want)
	}
	if ota := OTAArgs(nil); !slices.Equal(ota, []string{"-listen", ":8081"}) {
		t.Errorf("OTAArgs(nil) = %q: gpsntpd's -ota-status must name gpsntp-ota's port", ota)
	}
}
