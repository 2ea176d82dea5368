package webui

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

// The page names the leap second to come and the NTS certificate to pin, with a link to download it.
func TestPageShowsLeapAndNTS(t *testing.T) {
	tai := 37
	st := status.Status{Version: "test", Mode: "sim", Now: "2026-11-22T12:00:00Z", Board: "rpi4 with uputronics"}
	st.Leap = status.Leap{TAIUTC: &tai, TAIUTCSource: "table", LIServed: 1, KernelFlag: "insert",
		Next:     &status.LeapNext{At: "2027-01-01T00:00:00Z", Change: 1, Source: "table"},
		Table:    status.LeapTable{Source: "builtin", Expiry: "2027-06-28T00:00:00Z"},
		Warnings: []status.LeapWarning{{Kind: "event-disagree", Message: "the receiver says <otherwise>"}}}
	st.NTS = &status.NTS{KEListen: []string{"127.0.0.1:4460"}, CertSHA256: strings.Repeat("ab", 32), Handshakes: 3, Authentic: 41}
	srv := httptest.NewServer(Handler(func() status.Status { return st }))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{
		"insert before 2027-01-01T00:00:00Z", "37 s", "rpi4 with uputronics",
		strings.Repeat("ab", 32), `href="/api/nts/cert.pem"`, "41 requests",
		"the receiver says &lt;otherwise&gt;", // receiver-supplied text is escaped
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Without NTS the card is absent rather than empty.
	st.NTS = nil
	resp, _ = srv.Client().Get(srv.URL + "/")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `id="ntscard"`) {
		t.Error("NTS card shown with NTS off")
	}
}
