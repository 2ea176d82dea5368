package webui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/gpsntp/gpsntp/internal/status"
)

// Provider returns the current status document. It is called once per request and must be cheap.
type Provider func() status.Status

// Option configures Handler.
type Option func(*handler)

// WithHistory serves /api/history and the charts from h, which the caller samples once a second.
func WithHistory(h *History) Option { return func(x *handler) { x.hist = h } }

// WithMaxInFlight bounds the dynamic requests (page, fragments, API, charts) being built or written at
// once; more get 503 at once, which costs next to nothing. The default is 8: a page load and its
// refreshes take one slot at a time, and the largest response (every series for the hour) is a few hundred
// kilobytes, so the dynamic requests in flight hold at most a few megabytes.
func WithMaxInFlight(n int) Option {
	return func(x *handler) {
		if n > 0 {
			x.slots = make(chan struct{}, n)
		}
	}
}

//go:embed assets
var assetFS embed.FS

type handler struct {
	p     Provider
	hist  *History
	slots chan struct{}

	mu    sync.Mutex
	cache [2]chartCache // by Range
}

// chartCache holds the charts rendered from the history as it was at its newest second: the history
// changes once a second, so a flood of page loads renders the charts once a second at most.
type chartCache struct {
	last int64
	svgs [][]byte
}

// Handler returns the HTTP handler for the page, the API and the metrics. Without WithHistory the page
// shows no charts and /api/history answers 404.
//
//	GET /                       the status page (HTML, server-rendered; app.js refreshes its parts)
//	GET /fragment/summary       the page's live text, sky plot and tables, as an HTML fragment
//	GET /fragment/charts        the page's charts for ?range=1h|1d, as an HTML fragment
//	GET /api/status             the status document (internal/status), JSON
//	GET /api/history            time series: ?series=a,b&range=1h|1d&since=UNIX (README)
//	GET /metrics                Prometheus text exposition
//	GET /static/...             the embedded style sheet, script and icon
func Handler(p Provider, opts ...Option) http.Handler {
	h := &handler{p: p, slots: make(chan struct{}, 8)}
	for _, o := range opts {
		o(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.limit(h.page))
	mux.HandleFunc("GET /fragment/summary", h.limit(h.summary))
	mux.HandleFunc("GET /fragment/charts", h.limit(h.chartsFragment))
	mux.HandleFunc("GET /api/status", h.limit(h.apiStatus))
	if h.hist != nil {
		mux.HandleFunc("GET /api/history", h.limit(h.apiHistory))
	}
	metrics := metricsHandler(p)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		setCommonHeaders(w)
		metrics.ServeHTTP(w, r)
	})
	static, _ := fs.Sub(assetFS, "assets")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		setCommonHeaders(w)
		w.Header().Set("Cache-Control", "max-age=300")
		files.ServeHTTP(w, r)
	})
	return mux
}

// limit answers 503 when too many dynamic requests are in flight. The slot is held while the response is
// written too, so slow readers cannot pile up rendered pages in memory: the memory in use is bounded by
// the slots times the largest response (a few hundred kilobytes).
func (h *handler) limit(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
		default:
			setCommonHeaders(w)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy: too many requests in flight, retry in a second", http.StatusServiceUnavailable)
			return
		}
		setCommonHeaders(w)
		f(w, r)
	}
}

// csp allows only this origin's script, style and fetches. No inline script or style is needed: the page's
// SVG uses presentation attributes, which CSP does not govern.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(msg + "\n"))
}

func (h *handler) apiStatus(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		badRequest(w, "/api/status takes no parameters")
		return
	}
	b, err := json.MarshalIndent(h.p(), "", "  ")
	if err != nil {
		http.Error(w, "encoding status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	_, _ = w.Write(append(b, '\n'))
}

func (h *handler) apiHistory(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r.URL.RawQuery)
	if err != nil {
		badRequest(w, "/api/history: "+err.Error())
		return
	}
	b := appendHistoryJSON(make([]byte, 0, 64<<10), h.hist.Window(q.r, q.series, q.since))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// parseRange reads the only parameter the page and the charts fragment take.
func parseRange(raw string) (Range, error) {
	if raw == "" {
		return RangeHour, nil
	}
	if len(raw) > maxQuery {
		return RangeHour, errQuery("query string too long")
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return RangeHour, errQuery("malformed query string")
	}
	for k, x := range v {
		if k != "range" {
			return RangeHour, errQuery("unknown parameter " + strconv.Quote(k) + ": only range is accepted")
		}
		if len(x) != 1 {
			return RangeHour, errQuery("range given more than once")
		}
		switch x[0] {
		case "1h":
			return RangeHour, nil
		case "1d":
			return RangeDay, nil
		}
		return RangeHour, errQuery("range " + strconv.Quote(x[0]) + ": want 1h or 1d")
	}
	return RangeHour, nil
}

type errQuery string

func (e errQuery) Error() string { return string(e) }

// chartSVGs returns the rendered charts for r. Rendering happens under the lock: concurrent requests wait
// for one rendering rather than each doing their own.
func (h *handler) chartSVGs(r Range) [][]byte {
	if h.hist == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c := &h.cache[r]
	h.hist.mu.RLock()
	last := h.hist.last
	h.hist.mu.RUnlock()
	if c.svgs != nil && c.last == last {
		return c.svgs
	}
	svgs := make([][]byte, len(charts))
	for i, spec := range charts {
		svgs[i] = renderChart(spec, h.hist.Window(r, spec.series(), 0))
	}
	*c = chartCache{last: last, svgs: svgs}
	return svgs
}
