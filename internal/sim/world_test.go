package sim

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	nmea "github.com/adrianmo/go-nmea"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func mustWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := NewWorld(cfg)
	if err != nil {
		t.Fatalf("NewWorld: %v", err)
	}
	return w
}

// run collects events until truth reaches end.
func run(w *World, end timebase.Instant) []Event {
	var evs []Event
	for {
		ev := w.Next()
		if ev.Truth >= end {
			return evs
		}
		evs = append(evs, ev)
	}
}

// epochs groups serial bytes by the UTC second they describe, in order of first appearance.
type epoch struct {
	second timebase.Instant
	valid  bool
	data   []byte
	chunks []Event
}

func epochsOf(evs []Event) []*epoch {
	var out []*epoch
	by := map[timebase.Instant]*epoch{}
	for _, ev := range evs {
		if ev.Kind != EventBytes {
			continue
		}
		e := by[ev.Second]
		if e == nil {
			e = &epoch{second: ev.Second, valid: ev.Valid}
			by[ev.Second] = e
			out = append(out, e)
		}
		e.data = append(e.data, ev.Bytes...)
		e.chunks = append(e.chunks, ev)
	}
	return out
}

// lines splits an epoch into sentences, checking each ends in CRLF and its checksum.
func lines(t *testing.T, data []byte) []string {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Fatalf("epoch does not end in CRLF: %q", data)
	}
	var out []string
	for _, l := range strings.SplitAfter(string(data), "\r\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\r\n") || strings.Count(l, "\r") != 1 || strings.Count(l, "\n") != 1 {
			t.Fatalf("bad line ending: %q", l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		star := strings.LastIndexByte(l, '*')
		if l[0] != '$' || star != len(l)-3 {
			t.Fatalf("not a sentence: %q", l)
		}
		if got, want := l[star+1:], nmea.Checksum(l[1:star]); got != want {
			t.Fatalf("checksum of %q is %s, want %s", l, got, want)
		}
		if len(l)+2 > 82 {
			t.Errorf("sentence longer than NMEA's 82 characters: %q", l)
		}
		out = append(out, l)
	}
	return out
}

func fields(l string) []string { return strings.Split(l[1:strings.LastIndexByte(l, '*')], ",") }

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Start", func(c *Config) { c.Start = 0 }},
		{"Osc.InitialPPM", func(c *Config) { c.Osc.InitialPPM = 501 }},
		{"Osc.InitialPPM", func(c *Config) { c.Osc.InitialPPM = math.NaN() }},
		{"Osc.WanderPPMPerSqrtS", func(c *Config) { c.Osc.WanderPPMPerSqrtS = -1 }},
		{"Osc.UpdateInterval", func(c *Config) { c.Osc.UpdateInterval = time.Hour }},
		{"Osc.Temperature.NoiseC", func(c *Config) { c.Osc.Temperature.NoiseC = -0.1 }},
		{"Osc.Temperature.Steps[0].Tau", func(c *Config) { c.Osc.Temperature.Steps = []TempStep{{Tau: -1}} }},
		{"Receiver.Baud", func(c *Config) { c.Receiver.Baud = 0 }},
		{"Receiver.Sentences[1]", func(c *Config) { c.Receiver.Sentences = []string{"RMC", "VTG"} }},
		{"Receiver.Sentences[1]", func(c *Config) { c.Receiver.Sentences = []string{"RMC", "RMC"} }},
		{"Receiver.Talker", func(c *Config) { c.Receiver.Talker = "GL" }},
		{"Receiver.Constellations[1]", func(c *Config) {
			c.Receiver.Talker = "GP"
			c.Receiver.Constellations = []string{"GPS", "Galileo"}
		}},
		{"Receiver.Constellations[0]", func(c *Config) { c.Receiver.Constellations = []string{"BeiDou"} }},
		{"Receiver.Constellations", func(c *Config) { c.Receiver.Constellations = []string{} }},
		{"Receiver.LatencyMean", func(c *Config) { c.Receiver.LatencyMean = time.Second }},
		{"Receiver.ChunkBytes", func(c *Config) { c.Receiver.ChunkBytes = -1 }},
		{"Receiver.Latitude", func(c *Config) { c.Receiver.Latitude = 91 }},
		{"Receiver.Outages[0]", func(c *Config) { c.Receiver.Outages = []Interval{{From: t0, To: t0}} }},
		{"Receiver.Outages[0]", func(c *Config) { c.Receiver.Outages = []Interval{{From: t0, To: t0.Add(40 * 24 * time.Hour)}} }},
		{"Receiver.Outages[0].Kind", func(c *Config) { c.Receiver.Outages = []Interval{{From: t0, To: t0 + 1, Kind: 7}} }},
		{"Receiver.ColdStartNoTime", func(c *Config) { c.Receiver.ColdStartNoTime = c.Receiver.ColdStartNoFix + 1 }},
		{"PPS.Bias", func(c *Config) { c.PPS.Bias = time.Second }},
		{"PPS.Jitter", func(c *Config) { c.PPS.Jitter = -1 }},
		{"PPS.MissingProb", func(c *Config) { c.PPS.MissingProb = 1.5 }},
		{"PPS.SpuriousProb", func(c *Config) { c.PPS.SpuriousProb = math.Inf(1) }},
		{"PPS.CaptureLatencyMean", func(c *Config) { c.PPS.CaptureLatencyMean = time.Second }},
		{"PPS.OutlierLatency", func(c *Config) { c.PPS.OutlierLatency = time.Second }},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		_, err := NewWorld(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field+" = ") {
			t.Errorf("%s: NewWorld error %v, want one naming the field", tc.field, err)
		}
	}
	// Every problem is reported at once.
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Start") || !strings.Contains(err.Error(), "Receiver.Baud") {
		t.Errorf("zero Config: %v, want errors naming Start and Receiver.Baud", err)
	}
}

func TestDeterministicPerSeed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PPS.SpuriousProb, cfg.PPS.MissingProb, cfg.PPS.OutlierProb = 0.05, 0.05, 0.05
	end := cfg.Start.Add(120 * time.Second)
	a := run(mustWorld(t, cfg), end)
	b := run(mustWorld(t, cfg), end)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two worlds with the same seed produced different events")
	}
	cfg.Seed++
	c := run(mustWorld(t, cfg), end)
	if reflect.DeepEqual(a, c) {
		t.Fatal("a different seed produced the same events")
	}

	// The models draw from separate streams: changing the PPS does not change one serial byte.
	cfg.Seed--
	cfg.PPS.Jitter = 300 * time.Nanosecond
	cfg.PPS.SpuriousProb = 0.5
	d := run(mustWorld(t, cfg), end)
	serial := func(evs []Event) (s []Event) {
		for _, ev := range evs {
			if ev.Kind == EventBytes {
				s = append(s, ev)
			}
		}
		return s
	}
	if !reflect.DeepEqual(serial(a), serial(d)) {
		t.Error("changing the PPS config changed the serial stream")
	}
}

func TestEventsInOrderAndNow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PPS.SpuriousProb = 0.3 // spurious edges interleave with serial chunks
	cfg.Receiver.Baud = 4800   // and epochs back up on the line
	w := mustWorld(t, cfg)
	if w.Now() != cfg.Start {
		t.Fatalf("Now before the first event = %v, want Start %v", w.Now(), cfg.Start)
	}
	last := cfg.Start
	for i := 0; i < 5000; i++ {
		ev := w.Next()
		if ev.Truth < last {
			t.Fatalf("event %d at %v comes after one at %v", i, ev.Truth, last)
		}
		if w.Now() != ev.Truth {
			t.Fatalf("Now = %v after an event at %v", w.Now(), ev.Truth)
		}
		last = ev.Truth
	}
}

// checkEpoch checks one epoch's sentences against the ground truth; it returns the satellites in use.
func checkEpoch(t *testing.T, e *epoch, cfg ReceiverConfig, timeKnown bool) {
	t.Helper()
	ls := lines(t, e.data)
	sec := e.second.Time()
	hhmmss := sec.Format("150405") + ".00"
	gn := cfg.Talker == "GN"
	var order []string
	gsvSeen := map[string]int{}
	gsvInView := map[string]int64{}
	gsaUsed, ggaUsed, gsaN := 0, int64(-1), 0
	for _, l := range ls {
		f := fields(l)
		talker, typ := f[0][:2], f[0][2:]
		if len(order) == 0 || order[len(order)-1] != typ {
			order = append(order, typ)
		}
		if typ != "GSV" && talker != cfg.Talker {
			t.Errorf("%s: talker %s, want %s", l, talker, cfg.Talker)
		}
		if !e.valid && (typ == "RMC" || typ == "GGA") {
			// go-nmea rejects the empty position fields every receiver sends without a fix; check by hand.
			wantTime := ""
			if timeKnown {
				wantTime = hhmmss
			}
			if f[1] != wantTime {
				t.Errorf("%s: time %q, want %q", l, f[1], wantTime)
			}
			if typ == "RMC" && (f[2] != "V" || f[3] != "" || f[12] != "N") {
				t.Errorf("%s: want status V, no position, mode N", l)
			}
			if typ == "GGA" && (f[2] != "" || f[6] != "0") {
				t.Errorf("%s: want no position, quality 0", l)
			}
			continue
		}
		s, err := nmea.Parse(l)
		if err != nil {
			t.Errorf("go-nmea rejects %q: %v", l, err)
			continue
		}
		switch m := s.(type) {
		case nmea.RMC:
			if m.Validity != "A" || m.Time.String() != sec.Format("15:04:05")+".0000" {
				t.Errorf("%s: validity %s time %v, want A %v", l, m.Validity, m.Time, sec)
			}
			if m.Date.DD != sec.Day() || m.Date.MM != int(sec.Month()) || m.Date.YY != sec.Year()%100 {
				t.Errorf("%s: date %v, want %v", l, m.Date, sec)
			}
			if math.Abs(m.Latitude-cfg.Latitude) > 1e-3 || math.Abs(m.Longitude-cfg.Longitude) > 1e-3 {
				t.Errorf("%s: position %v %v, want near %v %v", l, m.Latitude, m.Longitude, cfg.Latitude, cfg.Longitude)
			}
			if (m.NavStatus == "V") != gn || m.FFAMode != "A" {
				t.Errorf("%s: mode %q nav status %q", l, m.FFAMode, m.NavStatus)
			}
		case nmea.GGA:
			ggaUsed = m.NumSatellites
			if m.FixQuality != nmea.GPS || m.NumSatellites < 4 || m.NumSatellites > 12 || m.HDOP <= 0 || m.HDOP > 5 {
				t.Errorf("%s: quality %s, %d satellites, HDOP %v", l, m.FixQuality, m.NumSatellites, m.HDOP)
			}
			if math.Abs(m.Altitude-cfg.AltitudeM) > 20 || m.Separation != cfg.GeoidSepM {
				t.Errorf("%s: altitude %v separation %v", l, m.Altitude, m.Separation)
			}
			if m.Time.String() != sec.Format("15:04:05")+".0000" {
				t.Errorf("%s: time %v, want %v", l, m.Time, sec)
			}
		case nmea.GSA:
			wantFix := nmea.FixNone
			if e.valid {
				wantFix = nmea.Fix3D
			}
			if m.Mode != nmea.Auto || m.FixType != wantFix {
				t.Errorf("%s: mode %s fix %s", l, m.Mode, m.FixType)
			}
			if e.valid && !(m.PDOP >= m.HDOP && m.PDOP >= m.VDOP && math.Abs(m.PDOP*m.PDOP-m.HDOP*m.HDOP-m.VDOP*m.VDOP) < 0.05) {
				t.Errorf("%s: PDOP² must be HDOP² + VDOP²", l)
			}
			if !e.valid && len(m.SV) != 0 {
				t.Errorf("%s: satellites used without a fix", l)
			}
			gsaN++
			gsaUsed += len(m.SV)
			wantID := int64(0) // NMEA 2.3 has no system ID
			if gn {
				wantID = int64(constellationByName(cfg.Constellations[gsaN-1]).systemID)
			}
			if m.SystemID != wantID {
				t.Errorf("%s: system ID %d, want %d", l, m.SystemID, wantID)
			}
		case nmea.GSV:
			gsvSeen[m.Talker]++
			if n, ok := gsvInView[m.Talker]; ok && n != m.NumberSVsInView {
				t.Errorf("%s: %d in view, earlier messages said %d", l, m.NumberSVsInView, n)
			}
			gsvInView[m.Talker] = m.NumberSVsInView
			if m.MessageNumber != int64(gsvSeen[m.Talker]) || m.MessageNumber > m.TotalMessages {
				t.Errorf("%s: message %d of %d out of sequence", l, m.MessageNumber, m.TotalMessages)
			}
			if want := min(4, m.NumberSVsInView-4*(m.MessageNumber-1)); int64(len(m.Info)) != want {
				t.Errorf("%s: %d satellites in this message, want %d", l, len(m.Info), want)
			}
			for _, in := range m.Info {
				if in.Elevation < 0 || in.Elevation > 90 || in.Azimuth < 0 || in.Azimuth > 359 || in.SNR < 0 || in.SNR > 99 {
					t.Errorf("%s: satellite %+v out of range", l, in)
				}
				if !e.valid && in.SNR != 0 {
					t.Errorf("%s: SNR without tracking", l)
				}
			}
		case nmea.ZDA:
			if timeKnown && (m.Time.String() != sec.Format("15:04:05")+".0000" || m.Day != int64(sec.Day()) || m.Month != int64(sec.Month()) || m.Year != int64(sec.Year())) {
				t.Errorf("%s: %v %d-%d-%d, want %v", l, m.Time, m.Year, m.Month, m.Day, sec)
			}
			if !timeKnown && m.Time.Valid {
				t.Errorf("%s: time without knowing it", l)
			}
		default:
			t.Errorf("unexpected sentence %s", l)
		}
	}
	if ggaUsed >= 0 && gsaN > 0 && ggaUsed != int64(min(gsaUsed, 12)) {
		t.Errorf("epoch %v: GGA uses %d satellites, GSA lists %d", e.second, ggaUsed, gsaUsed)
	}
	if gsaN > 0 && gsaN != map[bool]int{true: len(cfg.Constellations), false: 1}[gn] {
		t.Errorf("epoch %v: %d GSA sentences for %v", e.second, gsaN, cfg.Constellations)
	}
	if len(gsvSeen) > 0 && len(gsvSeen) != len(cfg.Constellations) {
		t.Errorf("epoch %v: GSV talkers %v for %v", e.second, gsvSeen, cfg.Constellations)
	}
	want := []string{}
	for _, s := range sentenceOrder {
		for _, c := range cfg.Sentences {
			if c == s {
				want = append(want, s)
			}
		}
	}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("epoch %v: sentences %v, want %v", e.second, order, want)
	}
}

func TestNMEAFieldsAndChecksums(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ReceiverConfig)
	}{
		{"u-blox 8 GPS+GLONASS", func(r *ReceiverConfig) {}},
		{"three constellations at 115200", func(r *ReceiverConfig) {
			r.Baud = 115200
			r.Constellations = []string{"GPS", "GLONASS", "Galileo"}
		}},
		{"GPS-only NMEA 2.3", func(r *ReceiverConfig) { r.Talker, r.Constellations = "GP", nil }},
		{"southern and western", func(r *ReceiverConfig) {
			r.Latitude, r.Longitude, r.Sentences = -33.8688, -70.6693, []string{"ZDA", "RMC", "GGA"}
		}},
		{"near the pole", func(r *ReceiverConfig) {
			r.Latitude, r.Longitude, r.Sentences = 89.9999, 179.9999, []string{"RMC", "GSV"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Several starts through the day see different skies (the constellations turn by 15° an
			// hour); each run covers the cold start and some seconds with a fix.
			for h := 0; h < 24; h += 5 {
				cfg := DefaultConfig()
				cfg.Start = cfg.Start.Add(time.Duration(h)*time.Hour + 17*time.Minute)
				tc.mod(&cfg.Receiver)
				w := mustWorld(t, cfg)
				rc := w.Config().Receiver
				evs := run(w, cfg.Start.Add(12*time.Second))
				es := epochsOf(evs)
				for _, e := range es[:len(es)-1] { // the last one may be cut short
					el := e.second.Sub(cfg.Start)
					checkEpoch(t, e, rc, el >= rc.ColdStartNoTime)
					if wantValid := el >= rc.ColdStartNoFix; e.valid != wantValid {
						t.Errorf("epoch %v valid %v, want %v", e.second, e.valid, wantValid)
					}
				}
			}
		})
	}
}

// Bytes come out 10 bit times apart; reads return when their last byte has arrived.
func TestByteTimingFollowsBaud(t *testing.T) {
	for _, tc := range []struct {
		baud, chunk, secs int
	}{{9600, 32, 300}, {9600, 1, 60}, {115200, 64, 300}, {38400, 7, 200}} {
		t.Run(fmt.Sprintf("%d/%d", tc.baud, tc.chunk), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Osc = quietOsc(20, 300*time.Millisecond) // a linear board: Received is known exactly
			cfg.Receiver.Baud, cfg.Receiver.ChunkBytes = tc.baud, tc.chunk
			cfg.Receiver.LatencyMean, cfg.Receiver.LatencyJitter = 80*time.Millisecond, 3*time.Millisecond
			w := mustWorld(t, cfg)
			evs := run(w, cfg.Start.Add(time.Duration(tc.secs)*time.Second))
			bit := 1e9 / float64(tc.baud)
			var latSum, latSum2 float64
			es := epochsOf(evs)
			for _, e := range es {
				n := 0
				for i, ch := range e.chunks {
					n += len(ch.Bytes)
					if len(ch.Bytes) > tc.chunk || (len(ch.Bytes) < tc.chunk && i != len(e.chunks)-1) {
						t.Fatalf("epoch %v chunk %d has %d bytes, want %d", e.second, i, len(ch.Bytes), tc.chunk)
					}
					if want := ch.Truth + timebase.Instant(300*time.Millisecond) + timebase.Instant(math.Round(20e-6*float64(ch.Truth-cfg.Start))); absDur(ch.Received.Sub(want)) > 1 {
						t.Fatalf("chunk received at board %v, want %v", ch.Received, want)
					}
					if i > 0 {
						gap := float64(ch.Truth-e.chunks[i-1].Truth) / (10 * bit)
						if math.Abs(gap-float64(len(ch.Bytes))) > 1e-3 {
							t.Fatalf("epoch %v chunk %d: %.4f byte times after the previous one, want %d", e.second, i, gap, len(ch.Bytes))
						}
					}
				}
				// The first chunk's last byte ends latency + chunk·10 bit times after the second.
				lat := float64(e.chunks[0].Truth-e.second) - float64(len(e.chunks[0].Bytes))*10*bit
				latSum += lat
				latSum2 += lat * lat
				// And the line is never busy past the next second at these speeds.
				if end := e.chunks[len(e.chunks)-1].Truth; end > e.second+timebase.Second {
					t.Errorf("epoch %v still sending at %v", e.second, end)
				}
			}
			n := float64(len(es))
			mean := latSum / n
			sd := math.Sqrt(latSum2/n - mean*mean)
			if math.Abs(mean-80e6) > 4*3e6/math.Sqrt(n) {
				t.Errorf("mean latency %.3f ms, want 80 ± %.3f", mean/1e6, 4*3/math.Sqrt(n))
			}
			if tol := 4 * 3e6 / math.Sqrt(2*n); math.Abs(sd-3e6) > tol { // 4σ of a sample σ
				t.Errorf("latency σ %.3f ms, want 3 ± %.3f", sd/1e6, tol/1e6)
			}
		})
	}
}

// Too many sentences for the baud rate: epochs queue back to back on the line and, once the line is more
// than a second behind, are dropped. Bytes never overlap.
func TestSlowLineQueuesAndDrops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receiver.Baud = 4800
	cfg.Receiver.Constellations = []string{"GPS", "GLONASS", "Galileo"}
	w := mustWorld(t, cfg)
	evs := run(w, cfg.Start.Add(120*time.Second))
	st := w.Stats()
	if st.EpochsDropped == 0 || st.Epochs == 0 {
		t.Fatalf("stats %+v: want some epochs sent and some dropped at 4800 baud", st)
	}
	var prev *Event
	for i := range evs {
		ev := &evs[i]
		if ev.Kind != EventBytes {
			continue
		}
		if prev != nil {
			// Two consecutive reads are at least their bytes' transmission time apart.
			if min := time.Duration(float64(len(ev.Bytes)) * 10e9 / 4800); ev.Truth.Sub(prev.Truth) < min-1 {
				t.Fatalf("read at %v only %v after the previous one, want ≥ %v", ev.Truth, ev.Truth.Sub(prev.Truth), min)
			}
		}
		prev = ev
	}
	es := epochsOf(evs)
	for _, e := range es[:len(es)-1] {
		lines(t, e.data) // whole sentences even when queued
	}
}

// Without a cold start the World starts mid-epoch: the first read is the tail of the previous second's
// epoch, as when a serial port is opened while the receiver talks.
func TestStartMidEpoch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
	cfg.Start = cfg.Start.Add(300 * time.Millisecond)
	w := mustWorld(t, cfg)
	ev := w.Next()
	if ev.Kind != EventBytes || ev.Second != cfg.Start.Truncate(time.Second) || ev.Truth < cfg.Start {
		t.Fatalf("first event %v %v at %v, want the tail of second %v after Start", ev.Kind, ev.Second, ev.Truth, cfg.Start.Truncate(time.Second))
	}
	if ev.Bytes[0] == '$' && ev.Truth.Sub(cfg.Start) > 40*time.Millisecond {
		t.Logf("first read happens to start on a sentence: %q", ev.Bytes)
	}
	evs := run(w, cfg.Start.Add(3*time.Second))
	for _, e := range evs {
		if e.Kind == EventEdge {
			if e.Second != cfg.Start.Truncate(time.Second)+timebase.Second {
				t.Errorf("first edge marks %v, want the next second", e.Second)
			}
			break
		}
	}
}

func TestColdStartAndOutages(t *testing.T) {
	base := DefaultConfig()
	base.Receiver.ColdStartNoTime, base.Receiver.ColdStartNoFix = 2*time.Second, 5*time.Second
	base.PPS.MissingProb, base.PPS.SpuriousProb = 0, 0
	base.Receiver.Outages = []Interval{
		{From: base.Start.Add(100 * time.Second), To: base.Start.Add(110 * time.Second), Kind: OutageNoFix},
		{From: base.Start.Add(200 * time.Second), To: base.Start.Add(205 * time.Second), Kind: OutageSilent},
	}
	for _, pulses := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoFixPulses=%v", pulses), func(t *testing.T) {
			cfg := base
			cfg.PPS.NoFixPulses = pulses
			cfg.PPS.NoFixDriftNsPerS = 1000
			w := mustWorld(t, cfg)
			evs := run(w, cfg.Start.Add(220*time.Second))
			edges := map[timebase.Instant]Event{}
			for _, ev := range evs {
				if ev.Kind == EventEdge {
					edges[ev.Second] = ev
				}
			}
			serial := map[timebase.Instant]*epoch{}
			for _, e := range epochsOf(evs) {
				serial[e.second] = e
			}
			for s := 0; s < 219; s++ {
				sec := cfg.Start.Add(time.Duration(s) * time.Second)
				e, hasBytes := serial[sec]
				edge, hasEdge := edges[sec]
				silent := s >= 200 && s < 205
				noFix := s < 5 || (s >= 100 && s < 110)
				switch {
				case silent:
					if hasBytes || hasEdge {
						t.Errorf("second %d (silent): bytes %v edge %v", s, hasBytes, hasEdge)
					}
					continue
				case !hasBytes:
					t.Fatalf("second %d: no NMEA epoch", s)
				}
				checkEpoch(t, e, w.Config().Receiver, s >= 2)
				if e.valid == noFix {
					t.Errorf("second %d: epoch valid %v", s, e.valid)
				}
				switch {
				case !noFix:
					if !hasEdge || !edge.Valid || edge.Pulse.FreeRunning {
						t.Errorf("second %d: edge %v %+v, want a locked pulse", s, hasEdge, edge)
					}
				case !pulses:
					if hasEdge {
						t.Errorf("second %d: a pulse without a fix", s)
					}
				case !hasEdge || edge.Valid || !edge.Pulse.FreeRunning:
					t.Errorf("second %d: edge %v %+v, want a free-running pulse", s, hasEdge, edge)
				case s < 5:
					if off := edge.Pulse.Emitted.Sub(sec); off < 100*time.Millisecond || off > 800*time.Millisecond {
						t.Errorf("second %d: a cold-start pulse at +%v, want an arbitrary phase in [0.1, 0.8) s", s, off)
					}
				default:
					// After losing the fix at 100 s the pulse drifts 1000 ns more each second.
					drift := edge.Pulse.Emitted.Sub(sec) - cfg.PPS.Bias - edge.Pulse.QuantErr
					if want := time.Duration(1000 * (s - 100)); absDur(drift-want) > 6*cfg.PPS.Jitter {
						t.Errorf("second %d: free-running pulse %v off, want %v", s, drift, want)
					}
				}
			}
		})
	}
}

// ppsSample runs a world with a quiet linear board (offset 0, 0 ppm: board time is truth) and a serial
// stream reduced to one read per second, and returns its edges.
func ppsSample(t *testing.T, p PPSConfig, seconds int) ([]Event, *World) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Osc = quietOsc(0, 0)
	cfg.Receiver.Sentences = []string{"ZDA"}
	cfg.Receiver.ChunkBytes = 4096
	cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
	cfg.PPS = p
	w := mustWorld(t, cfg)
	var edges []Event
	end := cfg.Start.Add(time.Duration(seconds) * time.Second)
	for {
		ev := w.Next()
		if ev.Truth >= end {
			return edges, w
		}
		if ev.Kind == EventEdge {
			if ev.Edge.Time != ev.Truth {
				t.Fatalf("edge stamped %v at truth %v on a perfect board", ev.Edge.Time, ev.Truth)
			}
			edges = append(edges, ev)
		}
	}
}

func meanSD(xs []float64) (float64, float64) {
	var s, s2 float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		s2 += (x - m) * (x - m)
	}
	return m, math.Sqrt(s2 / float64(len(xs)))
}

func TestPPSBiasJitterMissing(t *testing.T) {
	const n = 10000
	edges, w := ppsSample(t, PPSConfig{Bias: -75 * time.Nanosecond, Jitter: 20 * time.Nanosecond, MissingProb: 0.05}, n)
	var offs []float64
	var lastSeq uint64
	for _, ev := range edges {
		if !ev.Edge.Rising || ev.Edge.Seq != lastSeq+1 {
			t.Fatalf("edge %+v after seq %d: want rising and consecutive sequence numbers", ev.Edge, lastSeq)
		}
		lastSeq = ev.Edge.Seq
		if !ev.Valid || ev.Pulse.Spurious || ev.Pulse.CaptureLatency != 0 || ev.Truth != ev.Pulse.Emitted {
			t.Fatalf("unexpected edge %+v", ev)
		}
		offs = append(offs, float64(ev.Truth-ev.Second))
	}
	m, sd := meanSD(offs)
	if math.Abs(m+75) > 4*20/math.Sqrt(float64(len(offs))) {
		t.Errorf("mean offset %.2f ns, want -75", m)
	}
	if math.Abs(sd-20) > 1 {
		t.Errorf("jitter σ %.2f ns, want 20 ± 1", sd)
	}
	missed := 1 - float64(len(edges))/n
	if math.Abs(missed-0.05) > 0.009 { // 4σ of a binomial rate over 10000 pulses
		t.Errorf("missing rate %.4f, want 0.05", missed)
	}
	// Planning runs up to a second ahead: one pulse may be planned but not yet delivered.
	if st := w.Stats(); st.Pulses-st.PulsesMissed-uint64(len(edges)) > 1 {
		t.Errorf("stats %+v disagree with %d edges delivered", st, len(edges))
	}
}

func TestPPSCaptureLatencyOutliersSpurious(t *testing.T) {
	const n = 10000
	edges, _ := ppsSample(t, PPSConfig{
		CaptureLatencyMean: 5 * time.Microsecond, CaptureLatencySigma: time.Microsecond,
		OutlierProb: 0.01, OutlierLatency: 50 * time.Microsecond, SpuriousProb: 0.02,
	}, n)
	var lat []float64
	outliers, spurious := 0, 0
	for _, ev := range edges {
		if ev.Pulse.Spurious {
			spurious++
			if ev.Valid || ev.Second != 0 {
				t.Errorf("spurious edge %+v claims a second", ev)
			}
			continue
		}
		l := float64(ev.Truth - ev.Second)
		if ev.Pulse.Outlier {
			outliers++
			if l < 5e3+25e3-6e3 || l > 5e3+75e3+6e3 {
				t.Errorf("outlier latency %.1f µs, want 5 + [25, 75] µs", l/1e3)
			}
			continue
		}
		lat = append(lat, l)
	}
	m, sd := meanSD(lat)
	if math.Abs(m-5000) > 4*1000/math.Sqrt(float64(len(lat))) {
		t.Errorf("mean capture latency %.1f ns, want 5000", m)
	}
	if math.Abs(sd-1000) > 50 {
		t.Errorf("capture latency σ %.1f ns, want 1000", sd)
	}
	if r := float64(outliers) / n; math.Abs(r-0.01) > 0.004 {
		t.Errorf("outlier rate %.4f, want 0.01", r)
	}
	if r := float64(spurious) / n; math.Abs(r-0.02) > 0.006 {
		t.Errorf("spurious rate %.4f, want 0.02", r)
	}
}

func TestPPSSawtooth(t *testing.T) {
	const amp, slip = 10.4, 1.9
	edges, _ := ppsSample(t, PPSConfig{Bias: 50 * time.Nanosecond, SawtoothNs: amp, SawtoothSlipNsPerS: slip}, 5000)
	var qs []float64
	for i, ev := range edges {
		q := ev.Pulse.QuantErr
		if got := ev.Truth.Sub(ev.Second) - 50*time.Nanosecond; got != q {
			t.Fatalf("pulse off by %v, want its quantization error %v", got, q)
		}
		if math.Abs(float64(q)) > amp+0.5 {
			t.Fatalf("quantization error %v beyond ±%v ns", q, amp)
		}
		qs = append(qs, float64(q))
		if i > 0 {
			// The tick grid slides by the slip each second, modulo the tick period.
			d := math.Mod(float64(q)-qs[i-1]-slip+4*amp, 2*amp)
			if d > 1 && d < 2*amp-1 {
				t.Fatalf("step %v -> %v is not the slip %v modulo %v", qs[i-1], q, slip, 2*amp)
			}
		}
	}
	m, sd := meanSD(qs)
	// Uniform over the tick period: σ = 2A/√12.
	if math.Abs(m) > 0.5 || math.Abs(sd-2*amp/math.Sqrt(12)) > 0.3 {
		t.Errorf("quantization mean %.2f σ %.2f ns, want 0 and %.2f", m, sd, 2*amp/math.Sqrt(12))
	}
}

// Steering through the World's Steerable moves the board timestamps of later events, not the events.
func TestSteeringMovesTimestamps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Osc = quietOsc(10, time.Second)
	w := mustWorld(t, cfg)
	for w.Now() < cfg.Start.Add(10*time.Second) {
		w.Next()
	}
	if err := w.Steerable().Step(-time.Second); err != nil {
		t.Fatal(err)
	}
	if err := w.Steerable().SetFrequency(-10 / (1 + 10e-6)); err != nil {
		t.Fatal(err)
	}
	e0 := w.BoardError()
	for i := 0; i < 2000; i++ {
		ev := w.Next()
		got := ev.Received
		if ev.Kind == EventEdge {
			got = ev.Edge.Time
		}
		if absDur(got.Sub(ev.Truth)-e0) > 1 {
			t.Fatalf("event at %v stamped %v: error %v, want the held %v", ev.Truth, got, got.Sub(ev.Truth), e0)
		}
	}
	if absDur(e0-100*time.Microsecond) > 2 {
		t.Errorf("board error after stepping by -1 s = %v, want the 100 µs accumulated at 10 ppm", e0)
	}
}

// Another goroutine steers and reads while Next runs.
func TestWorldConcurrentSteering(t *testing.T) {
	w := mustWorld(t, DefaultConfig())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := w.Steerable()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := s.SetFrequency(float64(i%20) - 10); err != nil {
				t.Error(err)
				return
			}
			_ = w.Now()
			_ = w.Stats()
			_ = w.Board().At(w.Now())
			if i%50 == 0 {
				s.Step(time.Microsecond)
			}
		}
	}()
	run(w, DefaultConfig().Start.Add(200*time.Second))
	close(done)
	wg.Wait()
}

// BenchmarkWorld runs the default world (9600 baud, GPS+GLONASS, about 25 events a second) and reports
// simulated seconds per real second.
func BenchmarkWorld(b *testing.B) {
	w := mustWorld(b, DefaultConfig())
	start := w.Now()
	b.ReportAllocs()
	b.ResetTimer()
	end := start.Add(time.Duration(b.N) * time.Second)
	events := 0
	for w.Now() < end {
		w.Next()
		events++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/sim-s")
}

// A slip of exactly one tick period per second is a hanging bridge: the quantization error holds still.
func TestPPSSawtoothHangingBridge(t *testing.T) {
	edges, _ := ppsSample(t, PPSConfig{SawtoothNs: 8, SawtoothSlipNsPerS: 16}, 300)
	for _, ev := range edges[1:] {
		if ev.Pulse.QuantErr != edges[0].Pulse.QuantErr {
			t.Fatalf("quantization error moved from %v to %v with a slip of one period", edges[0].Pulse.QuantErr, ev.Pulse.QuantErr)
		}
	}
}
