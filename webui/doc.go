// Package webui serves the box's state over HTTP: the status page at /, the JSON API (/api/status,
// /api/history) and Prometheus metrics (/metrics).
//
// # One read-only view of the daemon
//
// The package sees the daemon only through a Provider returning the status document (internal/status),
// and a History that a sampler in cmd/gpsntpd feeds once a second. It cannot reach, block or steer the
// time path: every request reads immutable snapshots and counters. Nothing it serves changes anything, so
// it needs no authentication; nothing secret is in the document.
//
// # History
//
// History keeps seven series (PPS offset, jitter, frequency, estimated error, NTP requests, served and
// rate-limited per second) in two fixed rings: 3600 one-second points and 1440 one-minute aggregates
// (min, mean, max). Slots are addressed by time modulo the ring length and remember their time, so memory
// is fixed at start and a missed second is a gap, never a stale value. The sampler is pure (Sample(now,
// status)); counters become rates from the difference of successive documents.
//
// # Charts: SVG drawn on the server
//
// The charts, the sky plot and the C/N0 bars are SVG that this package renders from the rings, in Go,
// rather than a JavaScript chart library from npm (uPlot and the like) bundled into the assets. Why:
//   - `go build` on a fresh checkout needs nothing else: no npm step, no generated bundle to keep in step
//     with its source, no third-party code in the firmware image to audit and update.
//   - The page works without script: it is complete HTML when loaded, and app.js only refreshes parts of
//     it by fetching HTML fragments rendered by the same templates. Every number is formatted once, in Go.
//   - It is testable like the rest of the code: table tests over the renderer, and the browser test checks
//     the paths in the DOM.
//   - The cost is bounded and small: a chart is at most 286 buckets (min/mean/max per bucket, a few tens of
//     kilobytes for all four), and the rendering is cached until the history's next second, so a flood of
//     page loads renders each chart once a second at most. A phone receives drawn pictures instead of
//     3600-point arrays and a script to plot them.
//
// What is given up is client-side interaction (zoom, hover read-out of each point); the raw numbers are
// in /api/history for tools that want them.
//
// # Safety
//
// Every response carries a Content-Security-Policy that allows only this origin's script and style sheet
// and no inline script or style (the SVG uses presentation attributes, which CSP does not govern),
// frame-ancestors 'none', nosniff and no-referrer. Dynamic requests share a fixed number of in-flight
// slots (beyond them: 503 at once), held until the response is written, so neither a flood nor slow
// readers can make memory grow; the HTTP server's timeouts (cmd/gpsntpd) end slow connections.
// Query parameters are validated strictly: an unknown, repeated or malformed parameter is a 400 naming it.
//
// # Metrics
//
// /metrics uses prometheus/client_golang, the reference implementation of the exposition format, with a
// custom Collector that reads the Provider at scrape time, so the metrics are another view of the same
// document rather than a second set of counters to keep in step. Names follow the Prometheus conventions:
// gpsntp_ prefix, base units in the name (_seconds, _ppm), _total for counters.
package webui
