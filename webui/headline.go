package webui

import (
	"fmt"
	"math"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

// Tone is how the headline should look: good, a warning, or bad.
type Tone string

const (
	ToneOK   Tone = "ok"
	ToneWarn Tone = "warn"
	ToneBad  Tone = "bad"
)

// Headline says in one sentence whether the box serves good time, and if not, why.
func Headline(s status.Status) string {
	h, _ := headline(s)
	return h
}

func headline(s status.Status) (string, Tone) {
	now, nowErr := time.Parse(time.RFC3339Nano, s.Now)
	since := func(ts string) string {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || nowErr != nil {
			return ""
		}
		return humanDuration(now.Sub(t))
	}
	switch s.Sync.State {
	case "locked":
		locked := ""
		if d := since(s.Sync.LockedSince); d != "" {
			locked = " Locked " + d + "."
		}
		return fmt.Sprintf("Serving GPS time.%s Estimated error ±%s.", locked, humanSeconds(s.Sync.EstErrorS)), ToneOK
	case "holdover":
		d := since(s.Sync.HoldoverSince)
		if d != "" {
			d = " (" + d + ")"
		}
		if s.Sync.Stratum == 1 {
			return fmt.Sprintf("Holdover since %s%s: %s; serving on the learned frequency, error bound ±%s.",
				clockTime(s.Sync.HoldoverSince), d, whyNoReference(s), humanSeconds(s.Sync.RootDispersionS)), ToneWarn
		}
		return fmt.Sprintf("Not serving synchronized time: holdover error bound exceeded; %s.", whyNoReference(s)), ToneBad
	case "locking", "stepping":
		return "Not yet serving: locking to GPS and PPS.", ToneWarn
	}
	return "Not serving synchronized time: " + whyNoReference(s) + ".", ToneBad
}

// whyNoReference names the first missing link of the chain receiver -> fix -> PPS pairing.
func whyNoReference(s status.Status) string {
	switch {
	case s.GPS.Device == "":
		return "no receiver configured"
	case s.GPS.Epochs == 0:
		return "nothing heard from the receiver yet"
	case !s.GPS.Valid:
		return "the receiver has no fix"
	case s.PPS.Paired == 0:
		return "no PPS pulses paired with receiver time"
	}
	if s.Sync.State == "holdover" {
		return "PPS or receiver time lost"
	}
	return "waiting for the servo"
}

// clockTime shortens an RFC 3339 instant to its UTC time of day, or returns it unchanged.
func clockTime(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	return t.UTC().Format("15:04:05 UTC")
}

func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days := int(d.Hours()) / 24
	h := int(d.Hours()) % 24
	m := int(d.Minutes()) % 60
	s := int(d.Seconds()) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, s)
	}
	return fmt.Sprintf("%d s", s)
}

// humanSeconds prints a duration in seconds with a unit that keeps two or three significant digits.
func humanSeconds(s float64) string {
	a := math.Abs(s)
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return "–"
	case a < 1e-6:
		return fmt.Sprintf("%.0f ns", s*1e9)
	case a < 1e-3:
		return fmt.Sprintf("%.1f µs", s*1e6)
	case a < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
	return fmt.Sprintf("%.2f s", s)
}
