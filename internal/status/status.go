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
	Leap    Leap    `json:"leap"`
	// NTS is absent when NTS is off.
	NTS *NTS `json:"nts,omitempty"`
	// DAC is the DAC-steered oscillator, absent when none is configured.
	DAC *DAC `json:"dac,omitempty"`
	// Temperature is the board's temperature sensor and the servo's fit of the crystal's frequency against
	// it, absent without a sensor.
	Temperature *Temperature `json:"temperature,omitempty"`
	// Board is the board and HAT profile the image was built for, empty when not set.
	Board string `json:"board,omitempty"`
	// Update is the box's over-the-air update state as gpsntp-ota reports it, absent when gpsntpd is not
	// told where to ask (-ota-status).
	Update *Update `json:"update,omitempty"`
	// Sources lists the time sources, one line each in `gpsntpctl sources`, like ntpq -p.
	Sources []Source `json:"sources"`
}

// NTS is Network Time Security at a glance; /api/nts has the certificate itself and every counter.
type NTS struct {
	KEListen     []string `json:"ke_listen"`
	CertSHA256   string   `json:"cert_sha256"` // hex, of the leaf certificate's DER: what clients pin
	CertNotAfter string   `json:"cert_not_after"`
	Handshakes   uint64   `json:"handshakes"` // NTS-KE exchanges that issued cookies
	KEFailed     uint64   `json:"ke_failed"`  // TLS handshakes failed, bad requests, refused by limits
	Authentic    uint64   `json:"authentic"`  // NTS-authenticated NTP requests answered
	NAKs         uint64   `json:"naks"`       // NTS NAKs sent (unknown or expired cookies, bad authenticators)
	ReloadError  string   `json:"reload_error,omitempty"`
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

// Temperature is the board's temperature sensor and what the servo learned from it: the crystal's frequency
// coefficient, which steers a holdover once the fit is trusted (see discipline's temperature compensation).
type Temperature struct {
	Sensor   string  `json:"sensor"`            // the file read, or "simulator"
	Celsius  float64 `json:"celsius"`           // the last reading
	ReadAt   string  `json:"read_at,omitempty"` // when it was taken
	Readings uint64  `json:"readings"`          // readings handed to the servo
	// Errors counts reads that failed, files that did not parse and readings the servo refused.
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// CoeffPPMPerC is the learned frequency coefficient (positive: the crystal runs faster when warmer),
	// CoeffSigmaPPMPerC its standard deviation, Samples the blocks of frequency it was learned from, SpanC the
	// temperature span they cover and ResidualPPB what the fit leaves unexplained.
	CoeffPPMPerC      float64 `json:"coeff_ppm_per_c"`
	CoeffSigmaPPMPerC float64 `json:"coeff_sigma_ppm_per_c"`
	Samples           int     `json:"samples"`
	SpanC             float64 `json:"span_c"`
	ResidualPPB       float64 `json:"residual_ppb"`
	// Trusted: the fit is good enough to steer a holdover; Compensating: the current holdover is steered by it.
	Trusted      bool `json:"trusted"`
	Compensating bool `json:"compensating"`
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
	// ClientsTracked is the number of client addresses (IPv6 by prefix) the rate limiter holds: the unique
	// clients seen recently, up to its capacity.
	ClientsTracked uint64 `json:"clients_tracked"`
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

	Firmware string `json:"firmware,omitempty"`
	Antenna  string `json:"antenna,omitempty"` // the receiver's antenna status, e.g. "OK", "OPEN"
	// Position is absent when the receiver reported none.
	Position *Position `json:"position,omitempty"`
	HDOP     float64   `json:"hdop,omitempty"`
	PDOP     float64   `json:"pdop,omitempty"`
	TDOP     float64   `json:"tdop,omitempty"`
	// Constellations has one entry per satellite system in view or used, in a fixed order (gps, sbas,
	// glonass, galileo, beidou, qzss, navic).
	Constellations []Constellation `json:"constellations"`
	// Sky is the latest sky view the receiver sent (GSV or NAV-SAT); receivers send it every few epochs,
	// so it may be a few seconds older than the fix. SkyTime says when it was received.
	Sky     []Sat  `json:"sky"`
	SkyTime string `json:"sky_time,omitempty"`
}

// Position is the antenna position, WGS84.
type Position struct {
	LatDeg float64  `json:"lat_deg"`
	LonDeg float64  `json:"lon_deg"`
	AltM   *float64 `json:"alt_m,omitempty"` // metres above mean sea level, absent when not reported
}

// Constellation summarises one satellite system.
type Constellation struct {
	Name    string  `json:"name"` // gps, sbas, glonass, galileo, beidou, qzss, navic
	Used    int     `json:"used"`
	Visible int     `json:"visible"`
	Tracked int     `json:"tracked"`  // in view with a C/N0 reading
	MeanCN0 float64 `json:"mean_cn0"` // dB-Hz over tracked satellites
	MaxCN0  int     `json:"max_cn0"`  // dB-Hz
}

// Sat is one satellite of the sky view.
type Sat struct {
	Constellation string `json:"constellation"`
	PRN           int    `json:"prn"`
	// ElevationDeg and AzimuthDeg are absent when the receiver did not report the satellite's position.
	ElevationDeg *int `json:"elevation_deg,omitempty"`
	AzimuthDeg   *int `json:"azimuth_deg,omitempty"`
	CN0          int  `json:"cn0"` // dB-Hz, 0 when not tracked
	Used         bool `json:"used"`
}

// Source is one time source as `gpsntpctl sources` lists it.
type Source struct {
	Name string `json:"name"` // e.g. "GPS", "PPS"
	Kind string `json:"kind"` // "receiver" (labels seconds), "pps" (marks them), later "oscillator", "peer"
	// Reach is an 8-bit shift register of the source's last eight polls (one per second for GPS and
	// PPS), newest in bit 0: 1 when the source delivered a usable sample in that poll. Printed in octal
	// (377 = all eight), as ntpq and chronyc do.
	Reach uint8 `json:"reach"`
	// OffsetS is the source's last offset: for PPS the pulse against the board clock, for GPS the delay
	// of the receiver's message after the second it names (its serial latency).
	OffsetS float64 `json:"offset_s"`
	JitterS float64 `json:"jitter_s"` // standard deviation of its last eight offsets
	// Tally is the selection code of ntpq -p: "*" selected, "+" candidate, "-" outlier, "x" falseticker,
	// " " rejected (or not heard from).
	Tally    string `json:"tally"`
	LastSeen string `json:"last_seen,omitempty"` // when it last delivered a usable sample
	Note     string `json:"note,omitempty"`      // why it has its tally, in a few words
}

// Tally codes, as ntpq -p prints them.
const (
	TallySelected    = "*"
	TallyCandidate   = "+"
	TallyOutlier     = "-"
	TallyFalseticker = "x"
	TallyRejected    = " "
)

// DAC is an external oscillator (OCXO/TCXO) tuned by a DAC and steered to the GPS pulse (discipline's
// DACController). Phases are the oscillator's time error against UTC, positive when it is ahead.
type DAC struct {
	Device string `json:"device"` // the DAC, e.g. "mcp4725@/dev/i2c-1:0x60"
	PPS    string `json:"pps"`    // the capture of the oscillator's 1PPS
	// State is acquiring, calibrating, locking, locked or holdover (no GPS pulse: coasting).
	State         string  `json:"state"`
	Code          uint32  `json:"code"`             // the DAC code in force
	GainPPBPerLSB float64 `json:"gain_ppb_per_lsb"` // tuning slope, fitted or configured; 0 before calibration
	// FrequencyPPB is the estimated frequency error of the free-running oscillator at the centre code.
	FrequencyPPB float64 `json:"frequency_ppb"`
	// PhaseOffsetS is the estimated phase error beyond SoftwareOffsetS, the constant phase of the
	// oscillator's pulse adopted at start when its divider cannot be re-phased.
	PhaseOffsetS    float64 `json:"phase_offset_s"`
	SoftwareOffsetS float64 `json:"software_offset_s"`
	// BoundS is the bound on the oscillator's phase error now; null before the controller can promise one.
	BoundS *float64 `json:"bound_s"`
	// Following is true while the board clock follows the oscillator because the GPS is lost.
	Following      bool   `json:"following"`
	FollowingSince string `json:"following_since,omitempty"`
	Pairs          uint64 `json:"pairs"`    // GPS and oscillator pulses paired into phase samples
	Outliers       uint64 `json:"outliers"` // samples the controller's gate rejected
	Writes         uint64 `json:"writes"`   // codes written to the DAC
	// GainErrPPBPerLSB is the gain's σ (0 when configured); GainSource says where it came from: unknown (not
	// yet calibrated), configured (-dac-gain), calibrated (fitted in this run) or remembered (the DAC state
	// file); Checking is true while a remembered state is being checked against the oscillator.
	GainErrPPBPerLSB float64 `json:"gain_err_ppb_per_lsb"`
	GainSource       string  `json:"gain_source"`
	Checking         bool    `json:"checking,omitempty"`
	Calibrations     uint64  `json:"calibrations"`  // calibrations started in this run
	StateRefused     uint64  `json:"state_refused"` // remembered states the check found wrong
	Error            string  `json:"error,omitempty"`
}

// Update is where the box stands with over-the-air updates (package ota): which root slot runs, whether
// this boot is the one-shot trial of a new slot, and the verdict on the last update. gpsntpd copies it from
// gpsntp-ota's GET /ota/status, which it polls; the fields stay as last reported when a poll fails, and
// Error then says why, so a page never shows a guess as the truth.
type Update struct {
	// BootedSlot is the root partition running now (2 or 3); DefaultSlot the one a plain reboot starts.
	// They differ only during a trial boot. Both are 0 before gpsntp-ota first answered.
	BootedSlot  int `json:"booted_slot"`
	DefaultSlot int `json:"default_slot"`
	// Phase is "normal", or "trial" while the new slot's one boot is judged; "" before the first answer.
	Phase string `json:"phase"`
	// TrialLeftS is the time the trial has left to prove healthy before the box goes back to DefaultSlot,
	// counted to this document's time; Health is the last health check's verdict in the trial.
	TrialLeftS float64 `json:"trial_left_s,omitempty"`
	Health     string  `json:"health,omitempty"`
	// ImageVersion and ImageProfile describe the image as flashed: its boot partition's gpsntp.txt, empty
	// for an image without that file. An over-the-air update replaces only the root slot, so after one the
	// gpsntpd running (the document's version) is newer than ImageVersion, while the kernel and firmware
	// are still the flashed image's.
	ImageVersion string `json:"image_version,omitempty"`
	ImageProfile string `json:"image_profile,omitempty"`
	// Last is the last update's account, absent when the box was never updated.
	Last *LastUpdate `json:"last_update,omitempty"`
	// CheckedAt is when gpsntp-ota last answered well; Error is why the last poll failed (absent when it
	// did not), e.g. "gpsntp-ota not reachable at URL: ...".
	CheckedAt string `json:"checked_at,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Outcomes of LastUpdate.State, as package ota records them.
const (
	UpdateTrying     = "trying"      // the trial boot was requested and not yet judged
	UpdateCommitted  = "committed"   // the new slot proved healthy and is the default
	UpdateRolledBack = "rolled-back" // the box went back to the old slot; Detail says why
)

// LastUpdate is the box's record of the last update.
type LastUpdate struct {
	State    string `json:"state"`
	FromSlot int    `json:"from_slot"`
	ToSlot   int    `json:"to_slot"`
	// Version is the version of the image written to ToSlot, as the host announced it.
	Version   string `json:"version,omitempty"`
	Requested string `json:"requested,omitempty"`
	Decided   string `json:"decided,omitempty"` // absent while trying
	Detail    string `json:"detail,omitempty"`
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

// Leap is what the box knows of leap seconds and what it does about them (issue 8). The daemon's rule for
// which source wins is the leap package's; this is its outcome, for people and for monitoring.
type Leap struct {
	// TAIUTC is TAI−UTC in seconds now (37 since 2017), absent (null) when nothing says; TAIUTCSource is
	// where it came from: "table", "gps-navigation-message", "receiver" or "remembered".
	TAIUTC       *int   `json:"tai_utc"`
	TAIUTCSource string `json:"tai_utc_source"`
	// Next is the announced leap second, absent (null) when none is.
	Next *LeapNext `json:"next"`
	// Table is the leap-seconds.list in use.
	Table LeapTable `json:"table"`
	// LIServed is the Leap Indicator in replies now: 0 none, 1 insert, 2 delete (all through the last day
	// before the leap), 3 unsynchronized.
	LIServed int `json:"li_served"`
	// KernelFlag is the leap flag the kernel clock is armed with: "none", "insert" (STA_INS) or "delete"
	// (STA_DEL); KernelError the last failure to arm it.
	KernelFlag  string `json:"kernel_flag"`
	KernelError string `json:"kernel_error,omitempty"`
	// Mode is how served time crosses a leap second: "step" (the kernel's 23:59:59 repeated, the default)
	// or "smear".
	Mode string `json:"mode"`
	// Warnings are the disagreements and doubts of the sources (never null).
	Warnings []LeapWarning `json:"warnings"`
}

// LeapNext is an announced leap second.
type LeapNext struct {
	At     string `json:"at"`     // the instant the new TAI−UTC applies: 00:00:00 UTC on the first of a month
	Change int    `json:"change"` // +1 inserted (23:59:60), −1 deleted (23:59:59 skipped)
	Source string `json:"source"` // who announced it: "table", "gps-navigation-message", "receiver", "remembered"
}

// LeapTable describes the leap-seconds.list in use.
type LeapTable struct {
	Source  string `json:"source"`  // "builtin" or the file it was read from
	Updated string `json:"updated"` // the file's #$ line
	Expiry  string `json:"expiry"`  // the file's #@ line: it says nothing of leap seconds after it
	Expired bool   `json:"expired"`
}

// LeapWarning is one warning: Kind is a stable name for monitoring (e.g. "table-expired",
// "event-disagree"), Message is for people.
type LeapWarning struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
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
