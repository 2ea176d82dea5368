package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/serialdev"
	"github.com/gpsntp/gpsntp/internal/daemon"
)

func TestGPSFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		sim     bool
		wantErr string
		want    gpsOptions
	}{
		{nil, false, "", gpsOptions{configure: true}},
		{[]string{"-gps-device", "/dev/ttyAMA0", "-gps-baud", "9600", "-gps-configure=false"}, false, "", gpsOptions{"/dev/ttyAMA0", 9600, false}},
		{[]string{"-gps-baud", "12345"}, false, "invalid value 12345 for flag -gps-baud", gpsOptions{}},
		{[]string{"-gps-device", "/dev/ttyS0"}, true, "exclude each other", gpsOptions{}},
	} {
		var g gpsOptions
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		g.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := g.validate(tc.sim)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || g != tc.want {
			t.Errorf("%v: %+v %v, want %+v", tc.args, g, err, tc.want)
		}
	}
}

func TestReceiverForwardsChunks(t *testing.T) {
	master, path, err := serialdev.OpenPTY(9600)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	out := make(chan daemon.Chunk, 8)
	rx, err := newReceiver(gpsOptions{device: path, baud: 9600}, hostClock{}, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rx.Run(ctx) }()
	deadline := time.Now().Add(3 * time.Second)
	for !rx.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("not connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := hostClock{}.Now()
	master.Write([]byte("$GPZDA,120000.00,22,11,2026,00,00*6B\r\n"))
	var got strings.Builder
	for got.Len() < 38 {
		select {
		case ch := <-out:
			if ch.Received < before || ch.Received > (hostClock{}).Now() {
				t.Errorf("chunk stamped %v, not between write and now", ch.Received)
			}
			got.Write(ch.Data)
		case <-time.After(3 * time.Second):
			t.Fatalf("got %q", got.String())
		}
	}
	if !strings.HasPrefix(got.String(), "$GPZDA") {
		t.Errorf("got %q", got.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
