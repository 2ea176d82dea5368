package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestNMEAFlags(t *testing.T) {
	o, err := parseFlags([]string{"-gps-device", "/dev/ttyUSB0", "-nmea-time", "-nmea-delay", "80ms", "-nmea-uncertainty", "40ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.nmea.on || o.nmea.delay != 80*time.Millisecond || o.nmea.uncertainty != 40*time.Millisecond {
		t.Errorf("parsed %+v", o.nmea)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-nmea-time"}, "needs -gps-device"},
		{[]string{"-sim", "-nmea-time"}, "-sim exclude each other"},
		{[]string{"-gps-device", "/dev/ttyUSB0", "-pps-gpio", "gpiochip0:18", "-nmea-time"}, "without PPS"},
		{[]string{"-gps-device", "/dev/ttyUSB0", "-nmea-time", "-nmea-delay", "1s"}, "-nmea-delay"},
		{[]string{"-gps-device", "/dev/ttyUSB0", "-nmea-time", "-nmea-uncertainty", "0s"}, "-nmea-uncertainty"},
		{[]string{"-gps-device", "/dev/ttyUSB0", "-nmea-time", "-nmea-byte-timing", "maybe"}, "-nmea-byte-timing"},
	} {
		if _, err := parseFlags(c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestNMEAByteTime(t *testing.T) {
	for _, c := range []struct {
		mode, device string
		baud         int
		want         time.Duration
	}{
		{"auto", "/dev/ttyAMA0", 9600, 10 * time.Second / 9600},
		{"auto", "/dev/serial0", 115200, 10 * time.Second / 115200},
		{"auto", "/dev/ttyACM0", 9600, 0},
		{"auto", "/dev/hvc0", 9600, 0},
		{"on", "/dev/ttyUSB0", 9600, 10 * time.Second / 9600},
		{"off", "/dev/ttyAMA0", 9600, 0},
	} {
		n := nmeaOptions{byteTiming: c.mode}
		if got := n.byteTime(c.device, c.baud); got != c.want {
			t.Errorf("%s %s %d: %v, want %v", c.mode, c.device, c.baud, got, c.want)
		}
	}
}
