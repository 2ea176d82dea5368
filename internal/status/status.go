// Package status defines the document that /api/status serves and gpsntpctl reads: one set of Go types with
// JSON tags, so the daemon, the web UI and the command-line client cannot drift apart. Durations are in
// seconds as floating point (suffix _s), instants are RFC 3339 strings in UTC, and counters are totals since
// start. It is pure data: no behaviour beyond formatting helpers.
package status

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Status is the whole /api/status document.
type Status struct {
	Version string  `json:"version"`
	Mode    string  `json:"mode"` // "sim" or "hardware"
	Now     string  `json:"now"`
	UptimeS float64 `json:"uptime_s"`
	Sync    Sync    `json:"sync"`
	NTP     NTP     `json:"ntp"`
	GPS     GPS     `json:"gps"`
	PPS     PPS     `json:"pps"`
}

// Sync is what the discipline publishes and the server serves.
type Sync struct {
	State           string  `json:"state"`
	Stratum         int     `json:"stratum"`
	RefID           string  `json:"refid"`
	Leap            int     `json:"leap"` // the LI being served: 0 none, 1 insert, 2 delete, 3 unsynchronized
	LeapStatus      string  `json:"leap_status"`
	RefTime         string  `json:"ref_time,omitempty"`
	RootDelayS      float64 `json:"root_delay_s"`
	RootDispersionS float64 `json:"root_dispersion_s"` // as served now: grows from RefTime
	OffsetS         float64 `json:"offset_s"`          // last measured offset of the board clock from the reference
	FrequencyPPM    float64 `json:"frequency_ppm"`
	JitterS         float64 `json:"jitter_s"`
	EstErrorS       float64 `json:"est_error_s"`
	LockedSince     string  `json:"locked_since,omitempty"`
	HoldoverSince   string  `json:"holdover_since,omitempty"`
	Steps           uint64  `json:"steps"`
}

// NTP holds the server's counters, one per outcome.
type NTP struct {
	Listen      []string `json:"listen"`
	Requests    uint64   `json:"requests"`
	Served      uint64   `json:"served"`
	RateLimited uint64   `json:"rate_limited"`
	KoDSent     uint64   `json:"kod_sent"`
	Denied      uint64   `json:"denied"`
	Malformed   uint64   `json:"malformed"`
	Ignored     uint64   `json:"ignored"`
}

// GPS is the receiver as the decoder sees it.
type GPS struct {
	Device       string `json:"device"`
	Model        string `json:"model,omitempty"`
	Fix          string `json:"fix"`
	Valid        bool   `json:"valid"`
	SatsUsed     int    `json:"sats_used"`
	SatsVisible  int    `json:"sats_visible"`
	LastTime     string `json:"last_time,omitempty"`
	Source       string `json:"source,omitempty"`
	SentencesOK  uint64 `json:"sentences_ok"`
	SentencesBad uint64 `json:"sentences_bad"`
	Epochs       uint64 `json:"epochs"`
}

// PPS is the pulse capture and its pairing with receiver labels.
type PPS struct {
	Source   string  `json:"source"`
	Edges    uint64  `json:"edges"`
	Paired   uint64  `json:"paired"`
	Rejected uint64  `json:"rejected"`
	OffsetS  float64 `json:"offset_s"`
	JitterS  float64 `json:"jitter_s"`
}

// Seconds converts a duration to float seconds for the document.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// Time formats an instant for the document; the zero instant is "" (absent).
func Time(i timebase.Instant) string {
	if i == 0 {
		return ""
	}
	return i.Time().Format(time.RFC3339Nano)
}

// FromSnapshot fills the Sync section from a published snapshot, with root dispersion evaluated at now.
func FromSnapshot(s *timebase.Snapshot, now timebase.Instant) Sync {
	return Sync{
		State:           s.State.String(),
		Stratum:         int(s.Stratum),
		RefID:           s.RefID.String(),
		Leap:            int(s.Leap),
		LeapStatus:      s.Leap.String(),
		RefTime:         Time(s.RefTime),
		RootDelayS:      Seconds(s.RootDelay),
		RootDispersionS: Seconds(s.RootDispersionAt(now)),
		OffsetS:         Seconds(s.Offset),
		FrequencyPPM:    s.FrequencyPPM,
		JitterS:         Seconds(s.Jitter),
		EstErrorS:       Seconds(s.EstError),
		LockedSince:     Time(s.LockedSince),
		HoldoverSince:   Time(s.HoldoverFrom),
	}
}
