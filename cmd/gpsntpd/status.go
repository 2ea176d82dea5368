package main

import (
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// statusProvider builds the /api/status document from the daemon's immutable view and the server's
// counters. It runs on HTTP goroutines and only reads snapshots, so it cannot slow the time path.
type statusProvider struct {
	version, mode, device string
	ppsSource             string // the PPS capture's name; the receiver's device in the simulator
	started               time.Time
	listen                []string
	clock                 timebase.Clock
	core                  *daemon.Core
	server                *ntpserve.Server
	// sources holds what needs a memory of past seconds (reach registers, jitter, the last sky view);
	// startWeb creates it and its sampler. Without it the document lists the sources without history.
	sources *sourceTracker
	// leap is the leap-seconds.list main chose (chooseLeapTable): where the table in use came from and
	// which files were refused. The zero value stands for the built-in table.
	leap  leap.Choice
	nts   *ntsService // nil when NTS is off
	board string
	dac   *dacSetup   // nil without a DAC-steered oscillator
	ota   *otaPoller  // nil without -ota-status
	temps *tempSource // nil without a temperature sensor
}

func (p statusProvider) status() status.Status {
	v := p.core.View()
	now := p.clock.Now()
	st := p.server.Stats()
	s := status.Status{
		Version: p.version,
		Mode:    p.mode,
		Now:     now.Time().Format(time.RFC3339Nano),
		UptimeS: time.Since(p.started).Seconds(),
		Sync:    status.FromSnapshot(v.Snapshot, now),
		NTP: status.NTP{
			Listen: p.listen, Requests: st.Requests, Served: st.Served, RateLimited: st.RateLimited,
			KoDSent: st.KoDSent, Denied: st.Denied, Malformed: st.Malformed, Ignored: st.Ignored,
			ClientsTracked: st.ClientsTracked,
		},
		GPS: status.GPS{
			Device:         p.device,
			SentencesOK:    v.GPS.SentencesOK,
			SentencesBad:   v.GPS.BadChecksum + v.GPS.Malformed,
			Epochs:         v.GPS.Epochs,
			Constellations: []status.Constellation{},
			Sky:            []status.Sat{},
		},
		PPS: status.PPS{
			Source:   p.ppsSource,
			Edges:    v.PPS.Edges,
			Paired:   v.PPS.Paired,
			Rejected: v.PPS.Rejected,
			OffsetS:  v.PPSOffset.Seconds(),
			JitterS:  v.Snapshot.Jitter.Seconds(),
		},
	}
	s.Sync.Steps = v.Steps
	s.Leap = leapStatus(v, p.leap, now)
	tracker := p.sources
	if tracker == nil {
		tracker = &sourceTracker{}
	}
	if ep, ok := tracker.epoch(v); ok {
		e := &ep
		s.GPS.Fix = e.Fix.String()
		s.GPS.Valid = e.Label.Valid
		s.GPS.SatsUsed = e.SatsUsed
		s.GPS.SatsVisible = e.SatsVisible
		s.GPS.LastTime = status.Time(e.Label.Second)
		s.GPS.Source = e.Label.Source
		s.GPS.Model = strings.TrimSpace(e.Receiver.Vendor + " " + e.Receiver.Model)
		s.GPS.Firmware = e.Receiver.Firmware
		s.GPS.Antenna = e.Receiver.Antenna
		s.GPS.HDOP, s.GPS.PDOP, s.GPS.TDOP = e.HDOP, e.PDOP, e.TDOP
		if e.Position.Valid {
			pos := &status.Position{LatDeg: e.Position.Lat, LonDeg: e.Position.Lon}
			if e.Position.HasAlt {
				alt := e.Position.Alt
				pos.AltM = &alt
			}
			s.GPS.Position = pos
		}
		s.GPS.Constellations = constellations(e)
	} else {
		s.GPS.Fix = "none"
	}
	if sky, at := tracker.sky(); sky != nil {
		s.GPS.Sky, s.GPS.SkyTime = sky, status.Time(at)
	} else if v.HaveEpoch && v.Epoch.Sky != nil {
		s.GPS.Sky, s.GPS.SkyTime = skyOf(v.Epoch.Sky), status.Time(v.Epoch.Label.Received)
	}
	s.Sources = tracker.list(v)
	if p.nts != nil {
		s.NTS = p.nts.summary()
	}
	s.DAC = dacStatus(v, p.dac)
	s.Temperature = p.temps.section(v)
	s.Board = p.board
	s.Update = p.ota.section(time.Now())
	return s
}

// constellations lists the systems the epoch saw, in the decoder's fixed order.
func constellations(e *gps.Epoch) []status.Constellation {
	out := []status.Constellation{}
	for c := gps.Constellation(1); c < gps.NumConstellations; c++ {
		cs := e.Constellations[c]
		if cs.Used == 0 && cs.Visible == 0 {
			continue
		}
		out = append(out, status.Constellation{
			Name: c.String(), Used: cs.Used, Visible: cs.Visible, Tracked: cs.Tracked,
			MeanCN0: cs.MeanCN0, MaxCN0: int(cs.MaxCN0),
		})
	}
	return out
}

// skyOf converts the decoder's sky view for the document; satellites without angles keep their C/N0.
func skyOf(sky []gps.Sat) []status.Sat {
	out := make([]status.Sat, 0, len(sky))
	for _, s := range sky {
		x := status.Sat{Constellation: s.Constellation.String(), PRN: int(s.PRN), CN0: int(s.CN0), Used: s.Used}
		if s.HasAngles {
			el, az := int(s.Elevation), int(s.Azimuth)
			x.ElevationDeg, x.AzimuthDeg = &el, &az
		}
		out = append(out, x)
	}
	return out
}

// leapStatus is the leap section: the daemon's leap decision and schedule, the flag it armed the kernel
// with, and the table main chose. Files refused for the table (a bad hash, expired, truncated) are warnings
// too: an operator who installed one must learn that it is not used.
func leapStatus(v *daemon.View, choice leap.Choice, now timebase.Instant) status.Leap {
	table, source := choice.Table, choice.Source
	if table == nil {
		table, source = leap.Builtin(), "builtin"
	}
	d := v.Leap
	l := status.Leap{
		Table: status.LeapTable{
			Source:  source,
			Updated: status.Time(table.Updated()),
			Expiry:  status.Time(table.Expiry()),
			Expired: table.Expired(now),
		},
		LIServed:   int(v.Snapshot.Leap),
		KernelFlag: v.LeapKernel.String(),
		Mode:       v.LeapSchedule.Mode.String(),
		Warnings:   []status.LeapWarning{},
	}
	if d.Known {
		tai := d.TAIMinusUTC
		l.TAIUTC, l.TAIUTCSource = &tai, d.Source.String()
	} else if tai, ok := table.TAIMinusUTC(now); ok {
		// Before the daemon's first tick the decision is empty: the table alone speaks.
		l.TAIUTC, l.TAIUTCSource = &tai, leap.SourceTable.String()
	}
	if d.HasNext {
		l.Next = &status.LeapNext{At: status.Time(d.Next.At), Change: d.Next.Change, Source: d.NextSource.String()}
	}
	if v.LeapError != nil {
		l.KernelError = v.LeapError.Error()
	}
	for _, r := range choice.Rejected {
		l.Warnings = append(l.Warnings, status.LeapWarning{Kind: "file-rejected", Message: r.Name + ": " + r.Reason})
	}
	for _, w := range d.Warnings {
		l.Warnings = append(l.Warnings, status.LeapWarning{Kind: w.Kind.String(), Message: w.Message})
	}
	return l
}
