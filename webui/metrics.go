package webui

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gpsntp/gpsntp/internal/status"
)

// syncStates are the values of gpsntp_sync_state's state label, every one present in each scrape (a
// state set: exactly one is 1), so a query never sees a series appear or vanish on a change of state.
var syncStates = []string{"unsynced", "stepping", "locking", "locked", "holdover"}

// ntpOutcomes label gpsntp_ntp_requests_total; they partition the requests.
var ntpOutcomes = []string{"served", "rate_limited", "denied", "malformed", "ignored"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gpsntp_"+name, help, labels, nil)
}

var (
	mBuildInfo      = desc("build_info", "Version and mode of the running gpsntpd; always 1.", "version", "mode")
	mUptime         = desc("uptime_seconds", "Seconds since gpsntpd started.")
	mSyncState      = desc("sync_state", "Servo state: 1 for the current state, 0 for the others.", "state")
	mStratum        = desc("stratum", "Stratum being served (16: unsynchronized).")
	mLeap           = desc("leap_indicator", "Leap indicator being served: 0 none, 1 insert, 2 delete, 3 unsynchronized.")
	mOffset         = desc("offset_seconds", "Last measured offset of the board clock from the reference (clock minus reference).")
	mPPSOffset      = desc("pps_offset_seconds", "Last paired PPS offset, bias removed.")
	mJitter         = desc("jitter_seconds", "RMS of recent offsets.")
	mFrequency      = desc("frequency_ppm", "Frequency correction applied to the board clock, parts per million.")
	mEstError       = desc("estimated_error_seconds", "Estimated error of the time served.")
	mRootDispersion = desc("root_dispersion_seconds", "Root dispersion being served now.")
	mRootDelay      = desc("root_delay_seconds", "Root delay being served.")
	mSteps          = desc("clock_steps_total", "Steps of the clock (rather than slews) since start.")
	mNTPRequests    = desc("ntp_requests_total", "NTP requests by outcome; the outcomes partition the requests.", "outcome")
	mNTPKoD         = desc("ntp_kod_sent_total", "Rate-limited NTP requests answered with a RATE Kiss-o'-Death.")
	mNTPClients     = desc("ntp_clients_tracked", "Client addresses (IPv6 by prefix) held by the rate limiter.")
	mGPSSentences   = desc("gps_sentences_total", "Receiver sentences by result: ok (decoded and used) or bad (checksum or framing).", "result")
	mGPSEpochs      = desc("gps_epochs_total", "Receiver epochs (one per navigation solution) decoded.")
	mGPSValid       = desc("gps_fix_valid", "1 when the receiver's latest epoch claims a valid fix.")
	mSatsUsed       = desc("gps_satellites_used", "Satellites used in the latest solution.")
	mSatsVisible    = desc("gps_satellites_visible", "Satellites in view in the latest sky report.")
	mConstUsed      = desc("gps_constellation_satellites_used", "Satellites used in the latest solution, by constellation.", "constellation")
	mConstVisible   = desc("gps_constellation_satellites_visible", "Satellites in view, by constellation.", "constellation")
	mPPSEdges       = desc("pps_edges_total", "PPS edges captured.")
	mPPSPaired      = desc("pps_paired_total", "PPS edges paired with a valid receiver time label.")
	mPPSRejected    = desc("pps_rejected_total", "PPS edges rejected as repeats or spurious.")
	mSourceReach    = desc("source_reach", "Reach register of a time source: its last eight polls as bits, newest in bit 0.", "source")
	mSourceOffset   = desc("source_offset_seconds", "Last offset of a time source.", "source")
	mSourceJitter   = desc("source_jitter_seconds", "Standard deviation of a time source's last eight offsets.", "source")
	mSourceSelected = desc("source_selected", "1 when the time source is selected to discipline the clock.", "source")
)

// collector reads the provider at scrape time: the metrics are another view of the status document, so
// there is no second copy of any state to keep in step.
type collector struct{ p Provider }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mBuildInfo, mUptime, mSyncState, mStratum, mLeap, mOffset, mPPSOffset, mJitter, mFrequency, mEstError,
		mRootDispersion, mRootDelay, mSteps, mNTPRequests, mNTPKoD, mNTPClients, mGPSSentences, mGPSEpochs,
		mGPSValid, mSatsUsed, mSatsVisible, mConstUsed, mConstVisible, mPPSEdges, mPPSPaired, mPPSRejected,
		mSourceReach, mSourceOffset, mSourceJitter, mSourceSelected,
	} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(mBuildInfo, 1, s.Version, s.Mode)
	gauge(mUptime, s.UptimeS)
	for _, st := range syncStates {
		v := 0.0
		if st == s.Sync.State {
			v = 1
		}
		gauge(mSyncState, v, st)
	}
	gauge(mStratum, float64(s.Sync.Stratum))
	gauge(mLeap, float64(s.Sync.Leap))
	gauge(mOffset, s.Sync.OffsetS)
	gauge(mPPSOffset, s.PPS.OffsetS)
	gauge(mJitter, s.Sync.JitterS)
	gauge(mFrequency, s.Sync.FrequencyPPM)
	gauge(mEstError, s.Sync.EstErrorS)
	gauge(mRootDispersion, s.Sync.RootDispersionS)
	gauge(mRootDelay, s.Sync.RootDelayS)
	counter(mSteps, s.Sync.Steps)
	for i, v := range []uint64{s.NTP.Served, s.NTP.RateLimited, s.NTP.Denied, s.NTP.Malformed, s.NTP.Ignored} {
		counter(mNTPRequests, v, ntpOutcomes[i])
	}
	counter(mNTPKoD, s.NTP.KoDSent)
	gauge(mNTPClients, float64(s.NTP.ClientsTracked))
	counter(mGPSSentences, s.GPS.SentencesOK, "ok")
	counter(mGPSSentences, s.GPS.SentencesBad, "bad")
	counter(mGPSEpochs, s.GPS.Epochs)
	gauge(mGPSValid, boolFloat(s.GPS.Valid))
	gauge(mSatsUsed, float64(s.GPS.SatsUsed))
	gauge(mSatsVisible, float64(s.GPS.SatsVisible))
	for _, cs := range s.GPS.Constellations {
		gauge(mConstUsed, float64(cs.Used), cs.Name)
		gauge(mConstVisible, float64(cs.Visible), cs.Name)
	}
	counter(mPPSEdges, s.PPS.Edges)
	counter(mPPSPaired, s.PPS.Paired)
	counter(mPPSRejected, s.PPS.Rejected)
	for _, src := range s.Sources {
		gauge(mSourceReach, float64(src.Reach), src.Name)
		gauge(mSourceOffset, src.OffsetS, src.Name)
		gauge(mSourceJitter, src.JitterS, src.Name)
		gauge(mSourceSelected, boolFloat(src.Tally == status.TallySelected), src.Name)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves /metrics from a registry of its own (not the global one, which any imported
// package may write to): our collector plus the Go runtime's and the process's.
func metricsHandler(p Provider) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{p}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             5 * time.Second,
	})
}
