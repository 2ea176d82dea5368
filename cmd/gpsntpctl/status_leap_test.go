package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

func TestStatusLeapLines(t *testing.T) {
	doc := testDoc()
	doc.Sync.Leap = 1
	tai := 36
	doc.Leap = status.Leap{
		TAIUTC: &tai, TAIUTCSource: "table",
		Next:     &status.LeapNext{At: "2017-01-01T00:00:00Z", Change: 1, Source: "table"},
		Table:    status.LeapTable{Source: "builtin", Updated: "2025-07-08T00:00:00Z", Expiry: "2027-06-28T00:00:00Z"},
		LIServed: 1, KernelFlag: "insert", Mode: "step",
		Warnings: []status.LeapWarning{{Kind: "event-disagree", Message: "receiver announces insert before 2017-02-01"}},
	}
	url := serve(t, doc)
	var out, errb bytes.Buffer
	if code := runStatus([]string{"-url", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"Leap status     : Insert second (LI=1)\n",
		"TAI-UTC         : 36 seconds (table)\n",
		"Next leap       : insert a second before 2017-01-01T00:00:00Z (table); kernel flag insert\n",
		"Leap table      : builtin, expires 2027-06-28T00:00:00Z\n",
		"Leap warning    : event-disagree: receiver announces insert before 2017-02-01\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	// An expired table and nothing announced.
	doc.Leap.Next, doc.Leap.Table.Expired, doc.Leap.KernelFlag, doc.Leap.Warnings = nil, true, "none", nil
	out.Reset()
	if code := runStatus([]string{"-url", serve(t, doc)}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	for _, want := range []string{"Next leap       : none announced; kernel flag none\n", "expires 2027-06-28T00:00:00Z, EXPIRED\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	// A daemon without the leap section: no leap lines beyond the LI.
	out.Reset()
	if code := runStatus([]string{"-url", serve(t, testDoc())}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	if strings.Contains(out.String(), "TAI-UTC") || strings.Contains(out.String(), "Next leap") {
		t.Errorf("leap lines without a leap section:\n%s", out.String())
	}
}
