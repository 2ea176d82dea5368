package ota

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

// Outcome states of the update record.
const (
	StateTrying     = "trying"      // the trial boot was requested and has not been judged yet
	StateCommitted  = "committed"   // the new slot proved healthy and is now the default
	StateRolledBack = "rolled-back" // the box is back on the old slot; Detail says why
)

// Record is the box's account of the last update, kept on /perm so that it survives the reboots it is
// about and `gpsntpctl update` can read the verdict afterwards.
type Record struct {
	State     string    `json:"state"`
	From      int       `json:"from_slot"`
	To        int       `json:"to_slot"`
	Requested time.Time `json:"requested"`
	// Deadline is how long the trial boot has to become healthy, counted from the agent's start in it.
	Deadline time.Duration `json:"deadline_ns"`
	RootSize int64         `json:"root_bytes"`
	RootSHA  string        `json:"root_sha256"`
	Version  string        `json:"version,omitempty"` // what the host said the new image is
	Decided  time.Time     `json:"decided,omitempty"`
	Detail   string        `json:"detail,omitempty"`
}

// ParseRecord decodes a record file strictly: a damaged record is reported, never half-used.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("ota: update record: %w", err)
	}
	if err := r.check(); err != nil {
		return Record{}, fmt.Errorf("ota: update record %w", err)
	}
	if r.Deadline <= 0 || r.Deadline > 24*time.Hour {
		return Record{}, fmt.Errorf("ota: update record deadline %v is out of range", r.Deadline)
	}
	return r, nil
}

// check refuses a record whose state or slots mean nothing; the caller names the record.
func (r Record) check() error {
	switch r.State {
	case StateTrying, StateCommitted, StateRolledBack:
	default:
		return fmt.Errorf("has state %q", truncate(r.State, 30))
	}
	if !validSlot(r.From) || r.To != Other(r.From) {
		return fmt.Errorf("names slots %d -> %d", r.From, r.To)
	}
	return nil
}

func validSlot(s int) bool { return s == SlotA || s == SlotB }

// Health is the verdict on gpsntpd's status in a trial boot.
type Health struct {
	OK     bool
	Detail string // what is missing, for the record and the log
}

// Judge decides whether a status document shows a healthy box: gpsntpd answers its API, serves NTP on
// at least one socket, and hears the receiver (good sentences or decoded epochs). It does not ask for a
// lock: after a reboot the servo needs minutes, and a receiver indoors may never lock, but a build that
// cannot serve or cannot read the receiver is broken.
func Judge(st status.Status) Health {
	var missing []string
	if len(st.NTP.Listen) == 0 {
		missing = append(missing, "no NTP socket")
	}
	if st.GPS.SentencesOK == 0 && st.GPS.Epochs == 0 {
		missing = append(missing, fmt.Sprintf("no receiver data on %s", orDash(st.GPS.Device)))
	}
	if len(missing) > 0 {
		return Health{Detail: strings.Join(missing, ", ")}
	}
	return Health{OK: true, Detail: fmt.Sprintf("gpsntpd %s serving on %s, receiver %d sentences", orDash(st.Version), strings.Join(st.NTP.Listen, ","), st.GPS.SentencesOK)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Boot is what the agent sees when it starts: the slot the kernel booted (/proc/cmdline), the slot
// cmdline.txt makes the default, and the record on /perm, if any.
type Boot struct {
	Booted    int
	Committed int
	Record    *Record
}

// Phase is what the agent does with a boot.
type Phase int

const (
	Normal Phase = iota // nothing to judge
	Trial               // booted the non-default slot once: judge it, then commit or go back
)

// Start classifies a boot, and returns the record as it should now read (changed when a previous trial
// ended without a verdict: the box came back on the old slot, or the commit landed but its record did not).
// A boot whose slot differs from cmdline.txt's is a trial whatever the record says: only a one-shot
// firmware flag can boot it, and the next plain reboot returns to the default slot.
func Start(b Boot, now time.Time) (Phase, *Record) {
	if b.Booted != b.Committed {
		return Trial, b.Record
	}
	r := b.Record
	if r == nil || r.State != StateTrying {
		return Normal, r
	}
	out := *r
	out.Decided = now
	if b.Booted == r.To {
		out.State = StateCommitted
		out.Detail = "the new slot is the default (its record was not written before the reboot)"
	} else {
		out.State = StateRolledBack
		out.Detail = fmt.Sprintf("the box is back on slot %d: the trial boot of slot %d never reported healthy (it crashed, hung, rebooted, or the firmware ignored the tryboot flag)", b.Booted, r.To)
	}
	return Normal, &out
}

// Judgement is the trial's running verdict: call Observe with each health check; it says when to commit (the
// health held for Need consecutive checks) and when to give up (Deadline after Begin).
type Judgement struct {
	Begin    time.Time
	Deadline time.Duration
	Need     int // consecutive healthy checks before committing; 3 by default

	streak int
	last   string
}

// Verdict is Judgement's decision after one observation.
type Verdict int

const (
	Wait     Verdict = iota // keep checking
	Commit                  // make this slot the default
	Rollback                // reboot into the default (old) slot
)

// Observe records one health check at now and returns the decision and, for Rollback, the reason.
func (j *Judgement) Observe(now time.Time, h Health, err error) (Verdict, string) {
	need := j.Need
	if need <= 0 {
		need = 3
	}
	switch {
	case err != nil:
		j.streak, j.last = 0, err.Error()
	case h.OK:
		j.streak++
		j.last = h.Detail
	default:
		j.streak, j.last = 0, h.Detail
	}
	if j.streak >= need {
		return Commit, j.last
	}
	if now.Sub(j.Begin) >= j.Deadline {
		if j.last == "" {
			j.last = "no health check completed"
		}
		return Rollback, fmt.Sprintf("not healthy within %v: %s", j.Deadline, j.last)
	}
	return Wait, ""
}

// AgentStatus is gpsntp-ota's GET /ota/status document: where the box stands and the last update's verdict.
type AgentStatus struct {
	Booted     int     `json:"booted_slot"`
	Default    int     `json:"default_slot"`
	Phase      string  `json:"phase"` // PhaseNormal or PhaseTrial
	TrialLeftS float64 `json:"trial_left_s,omitempty"`
	Health     string  `json:"health,omitempty"`
	// Info describes the image as flashed (the boot partition's gpsntp.txt: its kernel and board);
	// RunningVersion is the gpsntpd version of the root slot running now, which updates replace.
	Info           *Info   `json:"image,omitempty"`
	RunningVersion string  `json:"running_version,omitempty"`
	Record         *Record `json:"last_update,omitempty"`
}

// The phases AgentStatus names.
const (
	PhaseNormal = "normal"
	PhaseTrial  = "trial"
)

// ParseAgentStatus decodes and checks a GET /ota/status document (errors read "... its status ...", for the
// caller to name the agent). Unknown keys are allowed (a newer agent
// may say more); values a reader would show wrongly are refused.
func ParseAgentStatus(b []byte) (AgentStatus, error) {
	var st AgentStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return AgentStatus{}, fmt.Errorf("decoding its status: %w", err)
	}
	if st.Phase != PhaseNormal && st.Phase != PhaseTrial {
		return AgentStatus{}, fmt.Errorf("its status has phase %q (want normal or trial)", truncate(st.Phase, 30))
	}
	if !validSlot(st.Booted) || !validSlot(st.Default) {
		return AgentStatus{}, fmt.Errorf("its status names slots %d (booted) and %d (default), want %d or %d", st.Booted, st.Default, SlotA, SlotB)
	}
	if math.IsNaN(st.TrialLeftS) || math.IsInf(st.TrialLeftS, 0) {
		return AgentStatus{}, fmt.Errorf("its status has trial_left_s %v", st.TrialLeftS)
	}
	if st.Record != nil {
		if err := st.Record.check(); err != nil {
			return AgentStatus{}, fmt.Errorf("its last update %w", err)
		}
	}
	return st, nil
}
