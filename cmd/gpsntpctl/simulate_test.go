package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimulatePrintsTheSummary(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runSimulate([]string{"-scenario", "cold-start", "-duration", "4m", "-seed", "1"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"scenario", "lock_s", "rms_ns", "p99_abs_ns", "max_abs_ns", "bound_violations", "bound_over_true_p50"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, out.String())
		}
	}
	if m["scenario"] != "cold-start" || m["bound_violations"].(float64) != 0 {
		t.Errorf("summary %s", out.String())
	}
}

func TestSimulateErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-scenario", "nope"}, 1, "unknown"},
		{[]string{"-duration", "1s"}, 1, "duration"},
		{[]string{"-seed", "x"}, 2, "invalid value"},
		{[]string{"extra"}, 2, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		if code := runSimulate(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
	var out, errb bytes.Buffer
	if code := runSimulate([]string{"-list"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "holdover-1h") {
		t.Errorf("-list: exit %d, %q", code, out.String())
	}
}
