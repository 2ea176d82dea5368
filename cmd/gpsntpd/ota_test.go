package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/ota"
)

var otaRequested = time.Date(2026, 11, 22, 9, 58, 0, 0, time.UTC)

// trialDoc is gpsntp-ota's answer in the trial boot of slot 3 after an update from slot 2.
func trialDoc() ota.AgentStatus {
	return ota.AgentStatus{Booted: 3, Default: 2, Phase: "trial", TrialLeftS: 120, Health: "no receiver data on /dev/ttyAMA0",
		Info:   &ota.Info{Profile: "rpi4/uputronics", Version: "v1.3", Kernel: strings.Repeat("ab", 32)},
		Record: &ota.Record{State: ota.StateTrying, From: 2, To: 3, Requested: otaRequested, Deadline: 5 * time.Minute, RootSize: 4096, RootSHA: strings.Repeat("cd", 32), Version: "v1.3"}}
}

func TestOTAStatusFlag(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.ota.url != "" || newOTAPoller(o.ota.url) != nil {
		t.Fatalf("default: %v, url %q", err, o.ota.url)
	}
	o, err = parseFlags([]string{"-ota-status", "http://127.0.0.1:8081/ota/status"}, io.Discard)
	if err != nil || o.ota.url != "http://127.0.0.1:8081/ota/status" {
		t.Fatalf("-ota-status: %v, %+v", err, o.ota)
	}
	for _, bad := range []string{"127.0.0.1:8081", "ftp://127.0.0.1/ota/status", "http:///ota/status", "http://[::1/x"} {
		if _, err := parseFlags([]string{"-ota-status", bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "-ota-status") {
			t.Errorf("-ota-status %q: %v", bad, err)
		}
	}
}

// The document's update outcomes are package ota's, named again in internal/status (which ota imports).
func TestUpdateStatesMatchOTA(t *testing.T) {
	if status.UpdateTrying != ota.StateTrying || status.UpdateCommitted != ota.StateCommitted || status.UpdateRolledBack != ota.StateRolledBack {
		t.Error("internal/status's update states differ from package ota's")
	}
}

func TestUpdateSection(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	decided := trialDoc()
	decided.Booted, decided.Phase, decided.TrialLeftS, decided.Health = 2, "normal", 0, ""
	decided.Record.State, decided.Record.Decided = ota.StateRolledBack, at.Add(-time.Minute)
	decided.Record.Detail = "not healthy within 5m0s: no NTP socket"
	decided.Info = nil
	for _, c := range []struct {
		name string
		doc  *ota.AgentStatus
		err  error
		now  time.Time
		want status.Update
	}{
		{"first poll under way", nil, nil, at, status.Update{}},
		{"never answered", nil, fmt.Errorf("gpsntp-ota not reachable at X: refused"), at, status.Update{Error: "gpsntp-ota not reachable at X: refused"}},
		{"trial, 30.4 s after the answer", ptr(trialDoc()), nil, at.Add(30400 * time.Millisecond), status.Update{
			BootedSlot: 3, DefaultSlot: 2, Phase: "trial", TrialLeftS: 90, Health: "no receiver data on /dev/ttyAMA0",
			ImageVersion: "v1.3", ImageProfile: "rpi4/uputronics", CheckedAt: "2026-11-22T10:00:00Z",
			Last: &status.LastUpdate{State: "trying", FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T09:58:00Z"}}},
		{"trial past its deadline, answer stale", ptr(trialDoc()), fmt.Errorf("gpsntp-ota at X answered 500"), at.Add(5 * time.Minute), status.Update{
			BootedSlot: 3, DefaultSlot: 2, Phase: "trial", TrialLeftS: 0, Health: "no receiver data on /dev/ttyAMA0",
			ImageVersion: "v1.3", ImageProfile: "rpi4/uputronics", CheckedAt: "2026-11-22T10:00:00Z", Error: "gpsntp-ota at X answered 500",
			Last: &status.LastUpdate{State: "trying", FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T09:58:00Z"}}},
		{"rolled back, image without gpsntp.txt", &decided, nil, at, status.Update{
			BootedSlot: 2, DefaultSlot: 2, Phase: "normal", CheckedAt: "2026-11-22T10:00:00Z",
			Last: &status.LastUpdate{State: "rolled-back", FromSlot: 2, ToSlot: 3, Version: "v1.3", Requested: "2026-11-22T09:58:00Z",
				Decided: "2026-11-22T09:59:00Z", Detail: "not healthy within 5m0s: no NTP socket"}}},
	} {
		got := updateSection(c.doc, at, c.err, c.now)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(c.want)
		if string(gb) != string(wb) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, gb, wb)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// otaServer is a stand-in for gpsntp-ota whose answer the test sets.
type otaServer struct {
	mu      sync.Mutex
	answer  func(w http.ResponseWriter, r *http.Request)
	entered chan struct{} // receives once per request, when set
	hits    int
}

func (s *otaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f, entered := s.answer, s.entered
	s.hits++
	s.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		case <-r.Context().Done():
			return
		}
	}
	f(w, r)
}

func (s *otaServer) set(f func(w http.ResponseWriter, r *http.Request)) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

func jsonAnswer(doc any) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ota/status" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	}
}

// hang answers nothing until the client gives up (or the test ends).
func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func newTestPoller(t *testing.T, url string) *otaPoller {
	t.Helper()
	p := newOTAPoller(url)
	p.timeout = 300 * time.Millisecond
	p.logf = t.Logf
	return p
}

// TestOTAPoller runs the poller against a fake gpsntp-ota through good answers and each kind of failure:
// a failure keeps the last good answer and says what went wrong.
func TestOTAPoller(t *testing.T) {
	fake := &otaServer{answer: jsonAnswer(trialDoc())}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := newTestPoller(t, srv.URL+"/ota/status")
	ctx := context.Background()

	if u := p.section(time.Now()); u == nil || u.Phase != "" || u.Error != "" || u.BootedSlot != 0 {
		t.Fatalf("before the first poll: %+v", u)
	}
	if err := p.poll(ctx); err != nil {
		t.Fatal(err)
	}
	u := p.section(p.at)
	if u.Phase != "trial" || u.BootedSlot != 3 || u.DefaultSlot != 2 || u.TrialLeftS != 120 || u.ImageVersion != "v1.3" ||
		u.Last == nil || u.Last.State != "trying" || u.Error != "" || u.CheckedAt == "" {
		t.Fatalf("good answer: %+v", u)
	}
	good := p.at

	long := trialDoc()
	long.Health = strings.Repeat("x", otaMaxBody)
	badPhase := trialDoc()
	badPhase.Phase = "rebooting"
	badSlots := trialDoc()
	badSlots.Record.To = 2
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "reading cmdline.txt: input/output error\nmore", http.StatusInternalServerError)
		}, "gpsntp-ota at " + srv.URL + "/ota/status answered 500 Internal Server Error: reading cmdline.txt: input/output error"},
		{"404 with no body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) },
			"answered 404 Not Found: (empty body)"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/", http.StatusFound)
		},
			"answered 302 Found to http://192.0.2.1/ (not followed)"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>gokrazy</html>") },
			"gpsntp-ota at " + srv.URL + "/ota/status: decoding its status: invalid character '<'"},
		{"truncated", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"booted_slot":3,"default_slot":2,`) },
			"decoding its status: unexpected end of JSON input"},
		{"wrong types", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"booted_slot":"3"}`) },
			"decoding its status: json: cannot unmarshal string"},
		{"unknown phase", jsonAnswer(badPhase), `its status has phase "rebooting"`},
		{"bad record", jsonAnswer(badSlots), "its last update names slots 2 -> 2"},
		{"too long", jsonAnswer(long), fmt.Sprintf("answer longer than %d bytes", otaMaxBody)},
		{"slow", hang, "gpsntp-ota not reachable at " + srv.URL + "/ota/status: no answer within 300ms"},
	} {
		fake.set(c.answer)
		err := p.poll(ctx)
		t.Logf("%s: %v", c.name, err)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: poll error %v, want it to contain %q", c.name, err, c.want)
			continue
		}
		u := p.section(good)
		if u.Error != err.Error() || u.Phase != "trial" || u.BootedSlot != 3 || u.TrialLeftS != 120 || u.CheckedAt != rfc3339(good) {
			t.Errorf("%s: the last good answer is not kept with the error: %+v", c.name, u)
		}
	}

	// Back to good: the error goes.
	fake.set(jsonAnswer(trialDoc()))
	if err := p.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if u := p.section(p.at); u.Error != "" || u.Phase != "trial" {
		t.Errorf("after recovery: %+v", u)
	}
}

// Nothing listens: the section says so plainly.
func TestOTAPollerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/ota/status"
	ln.Close()
	p := newTestPoller(t, url)
	if err := p.poll(context.Background()); err == nil {
		t.Fatal("poll of a closed port succeeded")
	}
	u := p.section(time.Now())
	want := "gpsntp-ota not reachable at " + url + ": dial tcp " + ln.Addr().String() + ": connect: connection refused"
	if u.Error != want || u.Phase != "" || u.Last != nil {
		t.Errorf("section %+v\nwant error %q", u, want)
	}
}

// A poll in flight never holds up the status document or the API: the fake blocks until the test has
// read both.
func TestOTAPollDoesNotBlockStatus(t *testing.T) {
	release := make(chan struct{})
	fake := &otaServer{entered: make(chan struct{}, 1), answer: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		jsonAnswer(trialDoc())(w, r)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := newOTAPoller(srv.URL + "/ota/status")
	p.logf = t.Logf

	core, err := daemon.NewCore(daemon.Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	ntp, err := ntpserve.NewServer(ntpserve.Config{Rate: 8, Burst: 16, IPv6Prefix: 64}, hostClock{})
	if err != nil {
		t.Fatal(err)
	}
	prov := &statusProvider{version: "test", mode: "sim", started: time.Now(), clock: fixedClock(inst(sec, 0)), core: core, server: ntp, ota: p}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startWeb(ctx, prov)
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	<-fake.entered // the first poll is now waiting for its answer

	if u := prov.status().Update; u == nil || u.Phase != "" || u.Error != "" {
		t.Errorf("update section while the first poll is under way: %+v", u)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	var doc status.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 || doc.Update == nil || *doc.Update != (status.Update{}) {
		t.Errorf("/api/status while a poll is under way: %d %v %s", rec.Code, err, rec.Body.String())
	}
	close(release)
	cancel()
	<-done
}

// run logs when gpsntp-ota stops answering and when it answers again, not each failed poll.
func TestOTARunLogsChanges(t *testing.T) {
	fake := &otaServer{entered: make(chan struct{}, 8)}
	fake.set(func(w http.ResponseWriter, r *http.Request) {
		fake.mu.Lock()
		n := fake.hits
		fake.mu.Unlock()
		if n <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		jsonAnswer(trialDoc())(w, r)
	})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := newTestPoller(t, srv.URL+"/ota/status")
	p.interval = time.Millisecond
	var mu sync.Mutex
	var logged []string
	p.logf = func(format string, a ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	for i := 0; i < 6; i++ { // three failures, then three answers: the fifth's outcome has been logged
		<-fake.entered
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 2 || !strings.Contains(logged[0], "answered 503 Service Unavailable: busy") || !strings.Contains(logged[1], "answers again") {
		t.Errorf("logged %q", logged)
	}
}

func FuzzParseAgentStatus(f *testing.F) {
	good, _ := json.Marshal(trialDoc())
	f.Add(good)
	f.Add([]byte(`{"booted_slot":2,"default_slot":2,"phase":"normal"}`))
	f.Add([]byte(`{"booted_slot":2,"default_slot":2,"phase":"normal","last_update":{"state":"committed","from_slot":3,"to_slot":2}}`))
	f.Add([]byte(`{"booted_slot":2,"default_slot":2,"phase":"trial","trial_left_s":1e400}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"phase":"normal","booted_slot":2,"default_slot":3} trailing`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ota.ParseAgentStatus(b)
		if err != nil {
			return
		}
		if (st.Phase != "normal" && st.Phase != "trial") || !validSlot(st.Booted) || !validSlot(st.Default) {
			t.Fatalf("accepted %+v", st)
		}
		if r := st.Record; r != nil && (!validSlot(r.From) || r.To != ota.Other(r.From)) {
			t.Fatalf("accepted record %+v", r)
		}
		u := updateSection(&st, time.Unix(1e9, 0), nil, time.Unix(1e9+5, 0))
		if u.TrialLeftS < 0 || u.Phase != st.Phase {
			t.Fatalf("section %+v of %+v", u, st)
		}
		if _, err := json.Marshal(u); err != nil {
			t.Fatalf("section does not marshal: %v", err)
		}
	})
}

func validSlot(s int) bool { return s == ota.SlotA || s == ota.SlotB }
