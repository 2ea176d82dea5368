package board

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		board, hat string
		pin        int
		wantConfig []string
		wantFlags  []string
		wantErr    string
	}{
		{
			board: "rpi4", hat: "uputronics",
			wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "gpiochip0:18", "-pps-edge", "rising"},
		},
		{
			board: "rpi3", hat: "adafruit",
			wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "gpiochip0:4", "-pps-edge", "rising"},
		},
		{
			board: "RPi3B+", hat: "mtk3339",
			wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "gpiochip0:4", "-pps-edge", "rising"},
		},
		{
			board: "rpi5", hat: "uputronics",
			wantConfig: []string{"dtparam=uart0=on"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "@pinctrl-rp1:18", "-pps-edge", "rising"},
		},
		{
			board: "zero2w", hat: "adafruit",
			wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "gpiochip0:4", "-pps-edge", "rising"},
		},
		{
			board: "rpi4", hat: "ublox", pin: 23,
			wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"},
			wantFlags:  []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "0", "-pps-gpio", "gpiochip0:23", "-pps-edge", "rising"},
		},
		{board: "rpi4", hat: "adafruit", pin: 4, wantFlags: []string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-pps-gpio", "gpiochip0:4", "-pps-edge", "rising"}, wantConfig: []string{"enable_uart=1", "dtoverlay=disable-bt"}},
		{
			board: "qemu", hat: "virtio",
			wantFlags: []string{"-gps-device", "/dev/hvc0", "-gps-baud", "9600", "-nmea-time"},
		},
		{board: "qemu", hat: "uputronics", wantErr: "no 40-pin header"},
		{board: "rpi4", hat: "virtio", wantErr: "emulated board only"},
		{board: "vm", hat: "virtio", pin: 4, wantErr: "no PPS line"},
		{board: "rpi2", hat: "uputronics", wantErr: `unknown board "rpi2"`},
		{board: "", hat: "uputronics", wantErr: "unknown board"},
		{board: "rpi4", hat: "sirf", wantErr: `unknown HAT "sirf"`},
		{board: "rpi4", hat: "ublox", wantErr: "has no fixed PPS pin"},
		{board: "rpi4", hat: "ublox", pin: 14, wantErr: "conflicts with the receiver's UART"},
		{board: "rpi5", hat: "ublox", pin: 15, wantErr: "conflicts with the receiver's UART"},
		{board: "rpi4", hat: "ublox", pin: 1, wantErr: "HAT ID EEPROM"},
		{board: "rpi4", hat: "ublox", pin: 28, wantErr: "not on the 40-pin header"},
		{board: "rpi4", hat: "ublox", pin: -3, wantErr: "not on the 40-pin header"},
		{board: "rpi4", hat: "uputronics", pin: 4, wantErr: "wires PPS to GPIO18"},
	}
	for _, tc := range tests {
		name := tc.board + "/" + tc.hat
		p, err := ParsePin(tc.board, tc.hat, tc.pin)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s pin %d: err = %v, want it to contain %q", name, tc.pin, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s pin %d: %v", name, tc.pin, err)
			continue
		}
		if got := p.ConfigLines(); !slices.Equal(got, tc.wantConfig) && (len(got) > 0 || len(tc.wantConfig) > 0) {
			t.Errorf("%s: ConfigLines = %q, want %q", name, got, tc.wantConfig)
		}
		// Every profile names itself first, for the status page.
		if want := append([]string{"-board", p.String()}, tc.wantFlags...); !slices.Equal(p.DaemonFlags(), want) {
			t.Errorf("%s: DaemonFlags = %q, want %q", name, p.DaemonFlags(), want)
		}
	}
}

func TestParseDefaultsToHATPin(t *testing.T) {
	p, err := Parse("rpi4", "uputronics")
	if err != nil {
		t.Fatal(err)
	}
	if p.PPSPin != 18 || p.PPSLine() != "gpiochip0:18" || p.String() != "rpi4/uputronics@GPIO18" {
		t.Errorf("got pin %d line %q name %q", p.PPSPin, p.PPSLine(), p)
	}
}

func TestValidateConstructed(t *testing.T) {
	rpi4, _ := LookupBoard("rpi4")
	upu, _ := LookupHAT("uputronics")
	noHeader := rpi4
	noHeader.Name, noHeader.Model, noHeader.Header40 = "cm4", "Compute Module 4 (no carrier)", false
	ppsOverlay := upu
	ppsOverlay.ConfigLines = []string{"dtoverlay=pps-gpio,gpiopin=18"}
	badEdge := upu
	badEdge.PPSEdge = "up"
	badBaud := upu
	badBaud.Baud = 9601
	noDev := rpi4
	noDev.UARTDevice = "ttyAMA0"
	multi := upu
	multi.ConfigLines = []string{"a=1\nb=2"}
	tests := []struct {
		name    string
		p       Profile
		wantErr string
	}{
		{"ok", Profile{rpi4, upu, 18}, ""},
		{"no header", Profile{noHeader, upu, 18}, "needs the 40-pin header"},
		{"pps overlay", Profile{rpi4, ppsOverlay, 18}, "dtoverlay=pps-gpio would claim"},
		{"edge", Profile{rpi4, badEdge, 18}, `PPS edge "up"`},
		{"baud", Profile{rpi4, badBaud, 18}, "baud 9601"},
		{"device", Profile{noDev, upu, 18}, "no UART device under /dev"},
		{"multi-line", Profile{rpi4, multi, 18}, "not one trimmed line"},
		{"pin mismatch", Profile{rpi4, upu, 17}, "not GPIO17"},
		{"empty", Profile{}, "no board given"},
	}
	for _, tc := range tests {
		err := tc.p.Validate()
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestCheckCmdline(t *testing.T) {
	p4, _ := Parse("rpi4", "uputronics")
	p5, _ := Parse("rpi5", "uputronics")
	tests := []struct {
		p       Profile
		cmdline string
		wantErr bool
	}{
		{p4, "console=tty1 root=PARTUUID=x/PARTNROFF=1 init=/gokrazy/init", false},
		{p4, "console=tty1 console=serial0,115200 root=/dev/mmcblk0p2", true},
		{p4, "console=ttyS0,115200", true},
		{p4, "console=ttyAMA0", true},
		{p5, "console=ttyAMA10,115200 console=tty1", false}, // the Pi 5 debug connector is not the header
		{p5, "console=serial0,115200", true},
	}
	for _, tc := range tests {
		err := tc.p.CheckCmdline(tc.cmdline)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s %q: err = %v, want error %v", tc.p, tc.cmdline, err, tc.wantErr)
		}
	}
}

func TestEveryCombinationWithAPin(t *testing.T) {
	for _, b := range Boards() {
		for _, h := range HATs() {
			p, err := ParsePin(b, h, 0)
			hat, _ := LookupHAT(h)
			brd, _ := LookupBoard(b)
			if hat.NoPPS != brd.Virtual {
				if err == nil {
					t.Errorf("%s/%s: accepted a real HAT on the emulated board or the emulated receiver on a Pi", b, h)
				}
				continue
			}
			if hat.PPSPin == 0 && !hat.NoPPS {
				if err == nil {
					t.Errorf("%s/%s without a pin: no error", b, h)
				}
				p, err = ParsePin(b, h, 22)
			}
			if err != nil {
				t.Errorf("%s/%s: %v", b, h, err)
				continue
			}
			for _, l := range p.ConfigLines() {
				if strings.Contains(l, "pps-gpio") {
					t.Errorf("%s: config line %q", p, l)
				}
			}
			if err := p.CheckCmdline("console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-00000000/PARTNROFF=1"); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
}

func FuzzParsePin(f *testing.F) {
	f.Add("rpi4", "uputronics", 0)
	f.Add("rpi5", "ublox", 22)
	f.Add("zero2w", "adafruit", 14)
	f.Add("", "", -1)
	f.Fuzz(func(t *testing.T, b, h string, pin int) {
		p, err := ParsePin(b, h, pin)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePin(%q, %q, %d) returned a profile that does not validate: %v", b, h, pin, err)
		}
		if p.PPSPin == 14 || p.PPSPin == 15 || p.PPSPin < 2 || p.PPSPin > 27 {
			t.Fatalf("accepted PPS pin %d", p.PPSPin)
		}
	})
}
