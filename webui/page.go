package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
)

// pageView is what the templates see: the document plus the words and pictures made from it.
type pageView struct {
	S        status.Status
	Headline string
	Tone     Tone
	Uptime   string
	Range    string // "1h" or "1d"
	Sky      template.HTML
	CN0      template.HTML
	Charts   []template.HTML
	History  bool
}

func (h *handler) view(r Range, withCharts bool) pageView {
	s := h.p()
	hl, tone := headline(s)
	v := pageView{
		S: s, Headline: hl, Tone: tone, Range: r.String(), History: h.hist != nil,
		Uptime: humanDuration(time.Duration(s.UptimeS * float64(time.Second))),
		Sky:    template.HTML(renderSky(s.GPS.Sky)), // #nosec: built by renderSky, which escapes its text
		CN0:    template.HTML(renderCN0(s.GPS.Sky)),
	}
	if withCharts {
		for _, svg := range h.chartSVGs(r) {
			v.Charts = append(v.Charts, template.HTML(svg))
		}
	}
	return v
}

func (h *handler) render(w http.ResponseWriter, name string, v pageView) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, v); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	rg, err := parseRange(r.URL.RawQuery)
	if err != nil {
		badRequest(w, "/: "+err.Error())
		return
	}
	h.render(w, "page", h.view(rg, true))
}

func (h *handler) summary(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		badRequest(w, "/fragment/summary takes no parameters")
		return
	}
	h.render(w, "summary", h.view(RangeHour, false))
}

func (h *handler) chartsFragment(w http.ResponseWriter, r *http.Request) {
	rg, err := parseRange(r.URL.RawQuery)
	if err != nil {
		badRequest(w, "/fragment/charts: "+err.Error())
		return
	}
	h.render(w, "charts", h.view(rg, true))
}

var funcs = template.FuncMap{
	"human": humanSeconds,
	"ppm":   func(v float64) string { return fmt.Sprintf("%+.3f ppm", v) },
	"octal": func(v uint8) string { return fmt.Sprintf("%03o", v) },
	"since": func(now, ts string) string {
		a, err1 := time.Parse(time.RFC3339Nano, now)
		b, err2 := time.Parse(time.RFC3339Nano, ts)
		if err1 != nil || err2 != nil {
			return ""
		}
		return humanDuration(a.Sub(b)) + " ago"
	},
	"clock": clockTime,
	"leap":  leapWords,
	"pos":   position,
	"dop": func(v float64) string {
		if v <= 0 {
			return "–"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	},
	"tallyWord": tallyWord,
	"ppb":       func(v float64) string { return fmt.Sprintf("%+.3f ppb", v) },
	"dacPart":   func(dev string) string { p, _, _ := strings.Cut(dev, "@"); return p },
	"dacBus": func(dev string) string {
		if _, b, ok := strings.Cut(dev, "@"); ok {
			return b
		}
		return dev
	},
	"gainFrom": gainWords,
	"plural": func(n uint64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatUint(n, 10) + " " + many
	},
	"verdict": updateVerdict,
	"day":     dayTime,
	"join":    strings.Join,
	"deref":   func(p *int) int { return *p },
	"derefF":  func(p *float64) float64 { return *p },
}

func leapWords(li int) string {
	switch li {
	case 0:
		return "no leap second pending (LI=0)"
	case 1:
		return "leap second to be inserted at the end of the month (LI=1)"
	case 2:
		return "leap second to be deleted at the end of the month (LI=2)"
	}
	return "clock unsynchronized (LI=3)"
}

func position(p *status.Position) string {
	if p == nil {
		return "–"
	}
	ns, ew := "N", "E"
	lat, lon := p.LatDeg, p.LonDeg
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	s := fmt.Sprintf("%.5f° %s, %.5f° %s", lat, ns, lon, ew)
	if p.AltM != nil && !math.IsNaN(*p.AltM) {
		s += fmt.Sprintf(", %.0f m", *p.AltM)
	}
	return s
}

// gainWords says where the DAC's tuning gain came from, for the calibration line.
func gainWords(d *status.DAC) string {
	switch d.GainSource {
	case "calibrated":
		return "calibrated in this run"
	case "configured":
		return "configured (-dac-gain)"
	case "remembered":
		if d.Checking {
			return "remembered from the state file, being checked"
		}
		return "remembered from the state file, checked"
	}
	if d.State == "calibrating" {
		return "calibrating"
	}
	return "not yet calibrated"
}

// updateVerdict is the last update in a few words: what was written where, and how it ended.
func updateVerdict(l *status.LastUpdate) string {
	what := "an image"
	if l.Version != "" {
		what = "gpsntp " + l.Version
	}
	switch l.State {
	case status.UpdateCommitted:
		return fmt.Sprintf("%s committed in slot %d on %s", what, l.ToSlot, dayTime(l.Decided))
	case status.UpdateRolledBack:
		return fmt.Sprintf("%s rolled back on %s: slot %d failed its trial, the box went back to slot %d", what, dayTime(l.Decided), l.ToSlot, l.FromSlot)
	case status.UpdateTrying:
		return fmt.Sprintf("%s on trial in slot %d since %s", what, l.ToSlot, dayTime(l.Requested))
	}
	return fmt.Sprintf("%s to slot %d: %s", what, l.ToSlot, l.State)
}

// dayTime is an instant of the document with its date, for events that may be days old.
func dayTime(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		if ts == "" {
			return "an unknown date"
		}
		return ts
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func tallyWord(t string) string {
	switch t {
	case status.TallySelected:
		return "selected"
	case status.TallyCandidate:
		return "candidate"
	case status.TallyOutlier:
		return "outlier"
	case status.TallyFalseticker:
		return "falseticker"
	}
	return "rejected"
}

// The templates. No inline script or style: the page works with the CSP above, and without script at all
// (it then shows the state at load time, and the range links reload it).
var templates = template.Must(template.New("").Funcs(funcs).Parse(`
{{define "page"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>gpsntp</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body data-range="{{.Range}}">
<main>
{{template "summary" .}}
{{template "charts" .}}
</main>
<footer><p><span id="conn" class="conn">live</span> · <a href="/api/status">/api/status</a> · <a href="/api/history?range=1h">/api/history</a> · <a href="/metrics">/metrics</a></p></footer>
</body></html>
{{end}}

{{define "summary"}}<div id="summary">
<header class="head {{.Tone}}"><h1 id="headline">{{.Headline}}</h1>
<p class="sub">gpsntp {{.S.Version}} · {{.S.Mode}}{{if .S.Board}} · {{.S.Board}}{{end}} · up {{.Uptime}} · {{clock .S.Now}}</p></header>
<div class="grid">
<section class="card" id="time"><h2>Time service</h2>
<dl>
<dt>State</dt><dd id="state">{{.S.Sync.State}}{{if .S.Sync.LockedSince}} since {{clock .S.Sync.LockedSince}}{{else if .S.Sync.HoldoverSince}} since {{clock .S.Sync.HoldoverSince}}{{end}}</dd>
<dt>Stratum</dt><dd>{{.S.Sync.Stratum}}{{if .S.Sync.RefID}}, reference {{.S.Sync.RefID}}{{end}}</dd>
<dt>Offset</dt><dd>{{human .S.Sync.OffsetS}} <span class="muted">(jitter {{human .S.Sync.JitterS}})</span></dd>
<dt>PPS offset</dt><dd>{{human .S.PPS.OffsetS}}</dd>
<dt>Frequency</dt><dd>{{ppm .S.Sync.FrequencyPPM}}</dd>
<dt>Est. error</dt><dd id="esterr">±{{human .S.Sync.EstErrorS}}</dd>
<dt>Root dispersion</dt><dd>{{human .S.Sync.RootDispersionS}} <span class="muted">(as served now)</span></dd>
<dt>Leap</dt><dd>{{leap .S.Sync.Leap}}</dd>
<dt>Clock steps</dt><dd>{{.S.Sync.Steps}}</dd>
</dl></section>

<section class="card" id="receiver"><h2>Receiver</h2>
<dl>
<dt>Device</dt><dd>{{or .S.GPS.Device "none"}}{{if .S.GPS.Model}}: {{.S.GPS.Model}}{{end}}{{if .S.GPS.Firmware}}, firmware {{.S.GPS.Firmware}}{{end}}</dd>
<dt>Fix</dt><dd id="fix">{{.S.GPS.Fix}}{{if .S.GPS.Valid}} (valid){{else}} (not valid){{end}}{{if .S.GPS.Source}} <span class="muted">from {{.S.GPS.Source}}</span>{{end}}</dd>
<dt>Position</dt><dd>{{pos .S.GPS.Position}}</dd>
<dt>Satellites</dt><dd id="sats">{{.S.GPS.SatsUsed}} used / {{.S.GPS.SatsVisible}} visible</dd>
<dt>DOP</dt><dd>H {{dop .S.GPS.HDOP}} · P {{dop .S.GPS.PDOP}} · T {{dop .S.GPS.TDOP}}</dd>
{{if .S.GPS.Antenna}}<dt>Antenna</dt><dd>{{.S.GPS.Antenna}}</dd>{{end}}
<dt>Sentences</dt><dd>{{.S.GPS.SentencesOK}} ok, {{.S.GPS.SentencesBad}} bad</dd>
</dl>
{{if .S.GPS.Constellations}}<table class="const"><thead><tr><th>System</th><th>Used</th><th>Visible</th><th>Mean C/N0</th></tr></thead><tbody>
{{range .S.GPS.Constellations}}<tr><td><span class="dot c-{{.Name}}"></span>{{.Name}}</td><td>{{.Used}}</td><td>{{.Visible}}</td><td>{{if .Tracked}}{{printf "%.0f" .MeanCN0}} dB-Hz{{else}}–{{end}}</td></tr>
{{end}}</tbody></table>{{end}}
</section>

<section class="card" id="skycard"><h2>Sky</h2>
<div class="skywrap">{{.Sky}}</div>
<h3>Signal strength (C/N0)</h3>
<div class="cn0wrap">{{.CN0}}</div>
<p class="muted small">Filled: used in the solution. {{if .S.GPS.SkyTime}}Sky view from {{clock .S.GPS.SkyTime}}.{{end}}</p>
</section>

<section class="card" id="sources"><h2>Sources</h2>
<table class="src"><thead><tr><th></th><th>Source</th><th>Reach</th><th>Offset</th><th>Jitter</th><th>Last</th></tr></thead><tbody>
{{range .S.Sources}}<tr title="{{tallyWord .Tally}}{{if .Note}}: {{.Note}}{{end}}"><td class="tally">{{.Tally}}</td><td>{{.Name}} <span class="muted">{{.Kind}}</span></td><td class="num">{{octal .Reach}}</td><td class="num">{{human .OffsetS}}</td><td class="num">{{human .JitterS}}</td><td>{{if .LastSeen}}{{since $.S.Now .LastSeen}}{{else}}never{{end}}</td></tr>
{{else}}<tr><td colspan="6" class="muted">no sources configured</td></tr>
{{end}}</tbody></table>
<p class="muted small">* selected · + candidate · - outlier · x falseticker · blank rejected. Reach: last 8 seconds, octal.</p>
</section>

<section class="card" id="leapcard"><h2>Leap second</h2>
<dl>
<dt>Served</dt><dd>{{leap .S.Leap.LIServed}}</dd>
<dt>TAI−UTC</dt><dd>{{if .S.Leap.TAIUTC}}{{deref .S.Leap.TAIUTC}} s <span class="muted">from {{.S.Leap.TAIUTCSource}}</span>{{else}}unknown{{end}}</dd>
<dt>Next</dt><dd id="nextleap">{{with .S.Leap.Next}}{{if gt .Change 0}}insert{{else}}delete{{end}} before {{.At}} <span class="muted">from {{.Source}}</span>{{else}}none announced{{end}}</dd>
<dt>Kernel flag</dt><dd>{{.S.Leap.KernelFlag}}{{if .S.Leap.KernelError}} <span class="alert">({{.S.Leap.KernelError}})</span>{{end}}</dd>
<dt>Table</dt><dd>{{.S.Leap.Table.Source}}, expires {{.S.Leap.Table.Expiry}}{{if .S.Leap.Table.Expired}} <span class="alert">EXPIRED</span>{{end}}</dd>
</dl>
{{if .S.Leap.Warnings}}<ul class="warn">{{range .S.Leap.Warnings}}<li>{{.Message}}</li>{{end}}</ul>{{end}}
</section>

{{with .S.NTS}}<section class="card" id="ntscard"><h2>NTS</h2>
<dl>
<dt>NTS-KE</dt><dd>{{join .KEListen ", "}}</dd>
<dt>Handshakes</dt><dd>{{.Handshakes}} <span class="muted">({{.KEFailed}} refused or failed)</span></dd>
<dt>Authenticated</dt><dd>{{.Authentic}} requests <span class="muted">({{.NAKs}} NTS NAKs)</span></dd>
<dt>Certificate</dt><dd>SHA-256 <span class="fp" id="certfp">{{.CertSHA256}}</span><br><a href="/api/nts/cert.pem" download>download PEM</a> <span class="muted">valid until {{.CertNotAfter}}</span>{{if .ReloadError}}<br><span class="alert">reload failed: {{.ReloadError}}</span>{{end}}</dd>
</dl></section>{{end}}

{{with .S.DAC}}<section class="card" id="daccard"><h2>Steered oscillator</h2>
<dl>
<dt>DAC</dt><dd>{{dacPart .Device}} <span class="muted">on {{dacBus .Device}}</span></dd>
<dt>State</dt><dd id="dacstate">{{.State}}{{if .Following}} <span class="alert">board clock following it since {{clock .FollowingSince}}</span>{{end}}</dd>
<dt>Code</dt><dd>{{.Code}} <span class="muted">({{plural .Writes "write" "writes"}})</span></dd>
<dt>Gain</dt><dd>{{if .GainPPBPerLSB}}{{printf "%.5g" .GainPPBPerLSB}} ppb/LSB{{if .GainErrPPBPerLSB}} <span class="muted">± {{printf "%.2g" .GainErrPPBPerLSB}}</span>{{end}}{{else}}–{{end}}</dd>
<dt>Calibration</dt><dd id="daccal">{{gainFrom .}} <span class="muted">({{plural .Calibrations "calibration" "calibrations"}}{{if .StateRefused}}, state file refused{{end}})</span></dd>
<dt>Frequency</dt><dd>{{ppb .FrequencyPPB}} <span class="muted">free-running, at mid-scale</span></dd>
<dt>Phase vs GPS PPS</dt><dd id="dacphase">{{human .PhaseOffsetS}}{{if .BoundS}} <span class="muted">(bound ±{{human (derefF .BoundS)}})</span>{{else}} <span class="muted">(no bound yet)</span>{{end}}{{if .SoftwareOffsetS}}<br><span class="muted">pulse offset {{human .SoftwareOffsetS}} adopted at start</span>{{end}}</dd>
<dt>1PPS</dt><dd>{{.PPS}} <span class="muted">({{.Pairs}} pairs, {{.Outliers}} outliers)</span>{{if .Error}}<br><span class="alert">{{.Error}}</span>{{end}}</dd>
</dl></section>{{end}}

<section class="card" id="ntp"><h2>NTP clients</h2>
<dl>
<dt>Listening</dt><dd>{{if .S.NTP.Listen}}{{join .S.NTP.Listen ", "}}{{else}}not serving NTP{{end}}</dd>
<dt>Requests</dt><dd>{{.S.NTP.Requests}}</dd>
<dt>Served</dt><dd>{{.S.NTP.Served}}</dd>
<dt>Rate-limited</dt><dd>{{.S.NTP.RateLimited}} <span class="muted">({{.S.NTP.KoDSent}} answered with KoD)</span></dd>
<dt>Refused</dt><dd>{{.S.NTP.Denied}} denied, {{.S.NTP.Malformed}} malformed, {{.S.NTP.Ignored}} ignored</dd>
<dt>Clients</dt><dd>{{.S.NTP.ClientsTracked}} recent addresses</dd>
</dl></section>

{{with .S.Update}}<section class="card" id="updatecard"><h2>Updates</h2>
<dl>
{{if .Phase}}<dt>Running</dt><dd id="updrunning">slot {{.BootedSlot}}, gpsntp {{$.S.Version}}{{if .ImageProfile}} <span class="muted">({{.ImageProfile}})</span>{{end}}{{if and .ImageVersion (ne .ImageVersion $.S.Version)}}<br><span class="muted">kernel and firmware as flashed with {{.ImageVersion}}</span>{{end}}</dd>
{{if eq .Phase "trial"}}<dt>Trial</dt><dd id="updtrial"><span class="note">trial boot in progress ({{printf "%.0f" .TrialLeftS}} s left, health: {{or .Health "not checked yet"}})</span><br><span class="muted">slot {{.DefaultSlot}} boots again unless this one proves healthy</span></dd>
{{else if ne .BootedSlot .DefaultSlot}}<dt>Next boot</dt><dd>slot {{.DefaultSlot}}</dd>{{end}}
{{else if not .Error}}<dt>State</dt><dd class="muted">waiting for gpsntp-ota's first answer</dd>
{{end}}{{with .Last}}<dt>Last update</dt><dd id="updlast">{{if eq .State "rolled-back"}}<span class="alert">{{verdict .}}</span>{{else}}{{verdict .}}{{end}}{{if .Detail}}<br><span class="muted">{{.Detail}}</span>{{end}}</dd>
{{else}}{{if .Phase}}<dt>Last update</dt><dd>none recorded</dd>
{{end}}{{end}}{{if .Error}}<dt>Update agent</dt><dd id="updagent"><span class="alert">{{.Error}}</span>{{if .CheckedAt}}<br><span class="muted">shown: its last answer, at {{day .CheckedAt}}</span>{{end}}</dd>
{{end}}</dl>
<p class="muted small">To update: <code>gpsntpctl update -target HOST -password-file F IMAGE</code></p>
</section>{{end}}
</div></div>{{end}}

{{define "charts"}}<section id="charts" data-range="{{.Range}}">
<div class="charthead"><h2>History <span class="muted small">(times in UTC)</span></h2>
<nav class="range"><a href="/?range=1h" data-range="1h"{{if eq .Range "1h"}} aria-current="true"{{end}}>1 hour</a><a href="/?range=1d" data-range="1d"{{if eq .Range "1d"}} aria-current="true"{{end}}>1 day</a></nav></div>
{{if .History}}<div class="charts">{{range .Charts}}<figure>{{.}}</figure>{{end}}</div>
{{else}}<p class="muted">History is not recorded by this server.</p>{{end}}
</section>{{end}}
`))
