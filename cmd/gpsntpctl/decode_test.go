package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func nmeaLine(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

type decodedLine struct {
	Time        *string  `json:"time"`
	Valid       bool     `json:"valid"`
	Fix         string   `json:"fix"`
	SatsUsed    int      `json:"sats_used"`
	SatsVisible int      `json:"sats_visible"`
	Source      string   `json:"source"`
	Warnings    []string `json:"warnings"`
	Leap        *struct {
		Current int    `json:"current"`
		Source  string `json:"source"`
	} `json:"leap"`
	QErrPS  *int32 `json:"qerr_ps"`
	Summary *struct {
		SentencesOK  uint64 `json:"sentences_ok"`
		BadChecksum  uint64 `json:"bad_checksum"`
		Unknown      uint64 `json:"unknown"`
		UBXFrames    uint64 `json:"ubx_frames"`
		OtherBytes   uint64 `json:"other_bytes"`
		Epochs       uint64 `json:"epochs"`
		ValidEpochs  uint64 `json:"valid_epochs"`
		CommentBytes int64  `json:"comment_bytes"`
	} `json:"summary"`
}

func parseOutput(t *testing.T, out string) (epochs []decodedLine, summary decodedLine) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l decodedLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q is not JSON: %v", sc.Text(), err)
		}
		if l.Summary != nil {
			summary = l
			continue
		}
		if summary.Summary != nil {
			t.Fatalf("epoch after the summary: %q", sc.Text())
		}
		epochs = append(epochs, l)
	}
	if summary.Summary == nil {
		t.Fatalf("no summary line in %q", out)
	}
	return epochs, summary
}

func TestDecodeStdin(t *testing.T) {
	// Two seconds of a GPS receiver: the example line of the issue, then a no-fix second, noise and a
	// sentence with a bad checksum in between.
	in := nmeaLine("GPRMC,102127,A,4807.038,N,01131.000,E,0.0,0.0,210211,,,A") +
		nmeaLine("GPGGA,102127,4807.038,N,01131.000,E,1,04,0.9,545.4,M,46.9,M,,") +
		nmeaLine("GPGSA,A,2,04,05,09,12,,,,,,,,,2.5,1.3,2.1") +
		nmeaLine("GPGSV,3,1,10,04,40,083,46,05,17,308,41,09,07,044,39,12,76,297,44") +
		nmeaLine("GPGSV,3,2,10,14,22,228,45,17,09,174,40,22,09,330,38,25,10,129,41") +
		nmeaLine("GPGSV,3,3,10,29,43,264,44,31,18,050,38") +
		"\x00\xff noise \x10\x03" +
		"$GPRMC,102128,A,4807.038,N,01131.000,E,0.0,0.0,210211,,,A*00\r\n" +
		nmeaLine("GPRMC,102129,V,,,,,,,210211,,,N") +
		nmeaLine("GPGGA,102129,,,,,0,00,,,M,,M,,")
	var out, errb bytes.Buffer
	if rc := runDecode([]string{"-floor", "2000-01-01"}, strings.NewReader(in), &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	epochs, sum := parseOutput(t, out.String())
	if len(epochs) != 2 {
		t.Fatalf("%d epochs: %s", len(epochs), out.String())
	}
	e := epochs[0]
	if e.Time == nil || *e.Time != "2011-02-21T10:21:27Z" || !e.Valid || e.Fix != "2d" || e.SatsUsed != 4 || e.SatsVisible != 10 || e.Source != "RMC+GGA" {
		t.Errorf("first epoch %+v", e)
	}
	e = epochs[1]
	if e.Time == nil || *e.Time != "2011-02-21T10:21:29Z" || e.Valid || e.Fix != "none" || len(e.Warnings) == 0 {
		t.Errorf("second epoch %+v", e)
	}
	s := sum.Summary
	if s.SentencesOK != 8 || s.BadChecksum != 1 || s.OtherBytes != 11 || s.Epochs != 2 || s.ValidEpochs != 1 {
		t.Errorf("summary %+v", *s)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		msg  string
	}{
		{[]string{"-floor", "yesterday"}, 2, "-floor"},
		{[]string{"-baud", "0"}, 2, "-baud"},
		{[]string{"a", "b"}, 2, "one input"},
		{[]string{"/nonexistent/receiver.log"}, 1, "no such file"},
		{[]string{"/dev/ttyAMA0"}, 1, "no such file"}, // a live device that is absent fails at once
	} {
		var out, errb bytes.Buffer
		rc := runDecode(tc.args, strings.NewReader(""), &out, &errb)
		if rc != tc.rc || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: rc %d, stderr %q; want rc %d mentioning %q", tc.args, rc, errb.String(), tc.rc, tc.msg)
		}
	}
	var out, errb bytes.Buffer
	if rc := runDecode([]string{"-h"}, strings.NewReader(""), &out, &errb); rc != 0 || !strings.Contains(errb.String(), "Usage") {
		t.Errorf("-h: rc %d, %q", rc, errb.String())
	}
}

// logDir finds ../shared/testdata/gpsd beside the module root, or skips.
func logDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("module root not found")
		}
		dir = filepath.Dir(dir)
	}
	p := filepath.Join(dir, "..", "shared", "testdata", "gpsd")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("receiver logs not present at %s", p)
	}
	return p
}

func TestDecodeLogFiles(t *testing.T) {
	dir := logDir(t)
	t.Run("mt3339", func(t *testing.T) {
		var out, errb bytes.Buffer
		if rc := runDecode([]string{"-floor", "2000-01-01", filepath.Join(dir, "mt3339.log")}, nil, &out, &errb); rc != 0 {
			t.Fatalf("rc %d: %s", rc, errb.String())
		}
		epochs, sum := parseOutput(t, out.String())
		if len(epochs) != 30 || sum.Summary.ValidEpochs != 30 || sum.Summary.CommentBytes == 0 {
			t.Fatalf("%d epochs, summary %+v", len(epochs), *sum.Summary)
		}
		if e := epochs[0]; *e.Time != "2015-04-13T20:26:40Z" || e.Source != "RMC+GGA+ZDA" || e.Fix != "3d" || e.SatsUsed != 10 {
			t.Errorf("first epoch %+v", e)
		}
		if e := epochs[29]; *e.Time != "2015-04-13T20:27:09Z" {
			t.Errorf("last epoch %+v", e)
		}
	})
	t.Run("u-blox-m8t", func(t *testing.T) {
		var out, errb bytes.Buffer
		if rc := runDecode([]string{"-floor", "2000-01-01", filepath.Join(dir, "u-blox-m8t-time.log")}, nil, &out, &errb); rc != 0 {
			t.Fatalf("rc %d: %s", rc, errb.String())
		}
		epochs, sum := parseOutput(t, out.String())
		if sum.Summary.UBXFrames < 1500 || sum.Summary.ValidEpochs != 151 {
			t.Fatalf("summary %+v", *sum.Summary)
		}
		e := epochs[0]
		if e.Leap == nil || e.Leap.Current != 18 || e.Leap.Source != "NAV-TIMELS" || e.QErrPS == nil || *e.QErrPS != -4331 || e.Fix != "time" {
			t.Errorf("first epoch %+v", e)
		}
	})
}
