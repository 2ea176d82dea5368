package webui

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/status"
)

// updateCard returns the page and the summary fragment's Updates card (from its section tag to the end of
// the section), checking that both carry the same card: the live refresh swaps the fragment in.
func updateCard(t *testing.T, st *status.Status) string {
	t.Helper()
	srv := httptest.NewServer(Handler(func() status.Status { return *st }))
	defer srv.Close()
	var cards []string
	for _, path := range []string{"/", "/fragment/summary"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		card := ""
		if _, rest, ok := strings.Cut(string(body), `<section class="card" id="updatecard">`); ok {
			card, _, _ = strings.Cut(rest, "</section>")
		}
		cards = append(cards, card)
	}
	if cards[0] != cards[1] {
		t.Errorf("the page and the summary fragment disagree on the Updates card:\n%s\n---\n%s", cards[0], cards[1])
	}
	return cards[0]
}

func TestPageShowsUpdates(t *testing.T) {
	st := status.Status{Version: "v1.3", Mode: "hardware", Now: "2026-11-22T12:00:00Z"}
	hint := "gpsntpctl update -target HOST -password-file F IMAGE"

	// A trial boot of slot 3 (gpsntpd v1.3 in a box flashed with v1.2), its receiver not heard yet.
	st.Update = &status.Update{BootedSlot: 3, DefaultSlot: 2, Phase: "trial", TrialLeftS: 187, Health: "no receiver data on /dev/ttyAMA0",
		ImageVersion: "v1.2", ImageProfile: "rpi4/uputronics", CheckedAt: "2026-11-22T11:59:55Z",
		Last: &status.LastUpdate{State: status.UpdateTrying, FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T11:57:00Z"}}
	card := updateCard(t, &st)
	for _, want := range []string{
		"<h2>Updates</h2>", "slot 3, gpsntp v1.3", "(rpi4/uputronics)", "kernel and firmware as flashed with v1.2",
		"trial boot in progress (187 s left, health: no receiver data on /dev/ttyAMA0)", "slot 2 boots again unless this one proves healthy",
		"gpsntp v1.3 on trial in slot 3 since 2026-11-22 11:57 UTC", hint,
	} {
		if !strings.Contains(card, want) {
			t.Errorf("trial: card lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(card, "alert") || strings.Contains(card, "Update agent") {
		t.Errorf("trial: card shows an alert:\n%s", card)
	}
	// Before the first health check.
	st.Update.Health, st.Update.TrialLeftS = "", 0
	if card := updateCard(t, &st); !strings.Contains(card, "(0 s left, health: not checked yet)") {
		t.Errorf("trial before a check:\n%s", card)
	}

	// Committed: back to normal, the verdict with its date.
	st.Update = &status.Update{BootedSlot: 3, DefaultSlot: 3, Phase: "normal", ImageVersion: "v1.2", ImageProfile: "rpi4/uputronics",
		Last: &status.LastUpdate{State: status.UpdateCommitted, FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T11:57:00Z",
			Decided: "2026-11-22T11:58:10Z", Detail: "healthy: gpsntpd v1.3 serving on [::]:123, receiver 12 sentences"}}
	card = updateCard(t, &st)
	for _, want := range []string{"slot 3, gpsntp v1.3", "gpsntp v1.3 committed in slot 3 on 2026-11-22 11:58 UTC",
		"healthy: gpsntpd v1.3 serving on [::]:123, receiver 12 sentences", hint} {
		if !strings.Contains(card, want) {
			t.Errorf("committed: card lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(card, "trial boot in progress") || strings.Contains(card, "alert") || strings.Contains(card, "Next boot") {
		t.Errorf("committed: card shows a trial or an alert:\n%s", card)
	}

	// Rolled back, with a detail that must be escaped; gpsntp-ota now unreachable: its last answer stays,
	// with the error. The running gpsntpd is the flashed one: no word on the flashed version.
	st.Version = "v1.2"
	st.Update = &status.Update{BootedSlot: 2, DefaultSlot: 2, Phase: "normal", ImageVersion: "v1.2", CheckedAt: "2026-11-22T11:59:40Z",
		Error: "gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: dial tcp 127.0.0.1:8081: connect: connection refused",
		Last: &status.LastUpdate{State: status.UpdateRolledBack, FromSlot: 2, ToSlot: 3, Requested: "2026-11-21T10:00:00Z",
			Decided: "2026-11-21T10:05:00Z", Detail: `not healthy within 5m0s: <script>alert("x")</script> no NTP socket`}}
	card = updateCard(t, &st)
	for _, want := range []string{
		"slot 2, gpsntp v1.2", `<span class="alert">an image rolled back on 2026-11-21 10:05 UTC: slot 3 failed its trial, the box went back to slot 2</span>`,
		"not healthy within 5m0s: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; no NTP socket",
		"gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: dial tcp 127.0.0.1:8081: connect: connection refused",
		"its last answer, at 2026-11-22 11:59 UTC", hint,
	} {
		if !strings.Contains(card, want) {
			t.Errorf("rolled back: card lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(card, "<script>") || strings.Contains(card, "flashed") {
		t.Errorf("rolled back: the detail is not escaped:\n%s", card)
	}

	// gpsntp-ota never answered: no slot is made up.
	st.Update = &status.Update{Error: "gpsntp-ota not reachable at http://127.0.0.1:8081/ota/status: no answer within 2s: context deadline exceeded"}
	card = updateCard(t, &st)
	if !strings.Contains(card, "no answer within 2s") || strings.Contains(card, "slot") || strings.Contains(card, "last answer") {
		t.Errorf("never answered:\n%s", card)
	}
	// The first poll under way.
	st.Update = &status.Update{}
	if card := updateCard(t, &st); !strings.Contains(card, "waiting for gpsntp-ota's first answer") || strings.Contains(card, "slot") {
		t.Errorf("first poll under way:\n%s", card)
	}
	// A box never updated.
	st.Update = &status.Update{BootedSlot: 2, DefaultSlot: 2, Phase: "normal"}
	if card := updateCard(t, &st); !strings.Contains(card, "none recorded") || !strings.Contains(card, "slot 2, gpsntp v1.2</dd>") {
		t.Errorf("never updated:\n%s", card)
	}

	// Without -ota-status the card is absent rather than empty.
	st.Update = nil
	if card := updateCard(t, &st); card != "" {
		t.Errorf("Updates card shown without an update section:\n%s", card)
	}
	if page := pageBody(t, &st); strings.Contains(page, "updatecard") || strings.Contains(page, "Updates") {
		t.Error("page mentions updates without an update section")
	}
}
