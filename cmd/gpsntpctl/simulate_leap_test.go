package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimulateLeapScenario(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runSimulate([]string{"-scenario", "leap-delete", "-duration", "10m"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m struct {
		Scenario string `json:"scenario"`
		Leap     *struct {
			LI            int     `json:"li"`
			LIFirst       string  `json:"li_first"`
			LILast        string  `json:"li_last"`
			KernelSet     string  `json:"kernel_flag_set"`
			KernelCleared string  `json:"kernel_flag_cleared"`
			KernelFlag    string  `json:"kernel_flag"`
			MaxForwardS   float64 `json:"max_forward_jump_s"`
			Smeared       *bool   `json:"smeared"`
		} `json:"leap"`
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	l := m.Leap
	if m.Scenario != "leap-delete" || l == nil || l.LI != 2 || l.KernelFlag != "delete" || l.Smeared == nil || *l.Smeared ||
		!strings.HasPrefix(l.LILast, "2027-09-30T23:59:58") || !strings.HasPrefix(l.KernelCleared, "2027-10-01T00:00:0") ||
		l.MaxForwardS < 0.999 || l.MaxForwardS > 1.001 || l.LIFirst == "" || l.KernelSet == "" {
		t.Errorf("summary %s", out.String())
	}
	out.Reset()
	if code := runSimulate([]string{"-list"}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	for _, n := range []string{"leap-2016", "leap-delete", "leap-gps-only", "leap-file-only", "leap-disagree"} {
		if !strings.Contains(out.String(), n+" ") {
			t.Errorf("-list lacks %s: %s", n, out.String())
		}
	}
}
