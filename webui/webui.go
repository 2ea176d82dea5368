// Package webui serves the box's state over HTTP: the JSON API at /api/status and a status page at /.
//
// It sees the daemon only through a Provider function returning the status document (internal/status), so
// it cannot reach, block or steer the time path: every request builds one document from immutable snapshots
// and counters. The page is rendered on the server from the same document, with no script, no external
// asset and a restrictive Content-Security-Policy, so it works offline, on a phone, and without trusting a
// CDN. (The charts and live page of the status-page issue build on this handler.)
package webui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

// Provider returns the current status document. It is called once per request and must be cheap.
type Provider func() status.Status

// Handler returns the HTTP handler for the API and the page.
func Handler(p Provider) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		setCommonHeaders(w)
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p()); err != nil {
			// The client went away; nothing useful to do.
			return
		}
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		setCommonHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		st := p()
		_ = page.Execute(w, pageData{S: st, Headline: Headline(st)})
	})
	return mux
}

func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// Headline says in one sentence whether the box serves good time, and if not, why.
func Headline(s status.Status) string {
	switch s.Sync.State {
	case "locked":
		since := ""
		if t, err := time.Parse(time.RFC3339Nano, s.Sync.LockedSince); err == nil {
			if now, err := time.Parse(time.RFC3339Nano, s.Now); err == nil {
				since = " Locked " + humanDuration(now.Sub(t)) + "."
			}
		}
		return fmt.Sprintf("Serving GPS time.%s Estimated error ±%s.", since, humanSeconds(s.Sync.EstErrorS))
	case "holdover":
		if s.Sync.Stratum == 1 {
			return fmt.Sprintf("Holdover since %s: serving on the learned frequency, error bound ±%s.", s.Sync.HoldoverSince, humanSeconds(s.Sync.RootDispersionS))
		}
		return "Not serving synchronized time: holdover error bound exceeded; waiting for GPS and PPS."
	case "locking", "stepping":
		return "Not yet serving: locking to GPS and PPS."
	}
	switch {
	case s.GPS.Device == "":
		return "Not serving synchronized time: no receiver configured."
	case s.GPS.Epochs == 0:
		return "Not serving synchronized time: nothing heard from the receiver yet."
	case !s.GPS.Valid:
		return "Not serving synchronized time: the receiver has no fix."
	case s.PPS.Paired == 0:
		return "Not serving synchronized time: no PPS pulses paired with receiver time."
	}
	return "Not serving synchronized time yet."
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h := int(d.Hours())
	m := int(d.Minutes()) % 60
	s := int(d.Seconds()) % 60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, s)
	}
	return fmt.Sprintf("%d s", s)
}

func humanSeconds(s float64) string {
	a := math.Abs(s)
	switch {
	case a < 1e-6:
		return fmt.Sprintf("%.0f ns", s*1e9)
	case a < 1e-3:
		return fmt.Sprintf("%.1f µs", s*1e6)
	case a < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
	return fmt.Sprintf("%.2f s", s)
}

type pageData struct {
	S        status.Status
	Headline string
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{"human": humanSeconds}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>gpsntp</title>
<style>body{font:16px system-ui,sans-serif;margin:1em auto;max-width:46em;padding:0 1em}h1{font-size:1.3em}
table{border-collapse:collapse}td{padding:.2em 1em .2em 0}td:first-child{color:#555}</style></head>
<body><h1 id="headline">{{.Headline}}</h1>
<table>
<tr><td>State</td><td>{{.S.Sync.State}}, stratum {{.S.Sync.Stratum}}, refid {{.S.Sync.RefID}}, leap {{.S.Sync.LeapStatus}}</td></tr>
<tr><td>Offset</td><td>{{human .S.Sync.OffsetS}} (jitter {{human .S.Sync.JitterS}})</td></tr>
<tr><td>Frequency</td><td>{{printf "%.3f" .S.Sync.FrequencyPPM}} ppm</td></tr>
<tr><td>Root dispersion</td><td>{{human .S.Sync.RootDispersionS}}</td></tr>
<tr><td>Receiver</td><td>{{.S.GPS.Device}} {{.S.GPS.Model}}: fix {{.S.GPS.Fix}}, {{.S.GPS.SatsUsed}}/{{.S.GPS.SatsVisible}} satellites, last {{.S.GPS.LastTime}}</td></tr>
<tr><td>NTP</td><td>{{.S.NTP.Served}} served, {{.S.NTP.RateLimited}} rate-limited, {{.S.NTP.Denied}} denied, {{.S.NTP.Malformed}} malformed</td></tr>
<tr><td>Version</td><td>{{.S.Version}} ({{.S.Mode}}), up {{printf "%.0f" .S.UptimeS}} s</td></tr>
</table></body></html>
`))
