package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// rxState is what the receiver knows during one second.
type rxState int

const (
	rxSilent rxState = iota // no output at all
	rxNoTime                // talking, but without time or fix (just powered)
	rxNoFix                 // talking, time from its own clock, no fix
	rxFix                   // a valid fix and time
)

// receiver generates each second's NMEA epoch.
type receiver struct {
	cfg                        ReceiverConfig
	sky                        *sky
	rng                        *rand.Rand // latency
	pos                        *rand.Rand // position noise
	noiseN, noiseE, noiseU     float64    // metres, Ornstein-Uhlenbeck
	want                       [len(sentenceOrder)]bool
	metresPerDegLat, perDegLon float64
}

const positionTau = 60.0 // s, correlation time of the reported position's wander

func newReceiver(cfg ReceiverConfig, seed uint64, start timebase.Instant) *receiver {
	r := &receiver{
		cfg: cfg,
		sky: newSky(cfg.Constellations, cfg.Latitude, cfg.Longitude, seed, start),
		rng: rand.New(rand.NewPCG(seed, streamLatency)),
		pos: rand.New(rand.NewPCG(seed, streamPosition)),
	}
	for _, s := range cfg.Sentences {
		for i, k := range sentenceOrder {
			if s == k {
				r.want[i] = true
			}
		}
	}
	r.metresPerDegLat = 2 * math.Pi * earthRadiusKm * 1000 / 360
	r.perDegLon = r.metresPerDegLat * math.Cos(cfg.Latitude*math.Pi/180)
	return r
}

// latency draws the delay from the UTC second to the epoch's first start bit.
func (r *receiver) latency() time.Duration {
	j := clipNorm(r.rng.NormFloat64()) * float64(r.cfg.LatencyJitter)
	l := time.Duration(float64(r.cfg.LatencyMean) + j)
	return max(l, 0)
}

// clipNorm limits a standard normal draw to ±6σ, so that every delay stays within validated bounds.
func clipNorm(x float64) float64 { return math.Max(-6, math.Min(6, x)) }

// epochInfo is the ground truth of one epoch.
type epochInfo struct {
	valid   bool // the epoch reports a valid fix (and time)
	used    int
	visible int
}

// epoch appends the NMEA sentences describing UTC second sec in state st to buf. A fix needs four used
// satellites with a usable geometry; without them the epoch reports no fix even in state rxFix.
//
// The epoch is labelled lb (the POSIX second, or 23:59:60 during an inserted leap second); sec is truth, which
// moves the satellites.
func (r *receiver) epoch(buf []byte, sec timebase.Instant, lb rxLabel, st rxState) ([]byte, epochInfo) {
	var info epochInfo
	views := r.sky.at(sec, st == rxFix)
	pdop, hdop, vdop, geomOK := dop(views)
	for i := range views {
		if views[i].used {
			info.used++
		}
	}
	info.visible = len(views)
	fix := st == rxFix && geomOK
	info.valid = fix
	if !fix {
		for i := range views {
			views[i].used = false
		}
		info.used = 0
	}

	// The reported position wanders even though the antenna does not move.
	a := math.Exp(-1 / positionTau)
	k := r.cfg.PositionNoiseM * math.Sqrt(1-a*a)
	r.noiseN = r.noiseN*a + k*r.pos.NormFloat64()
	r.noiseE = r.noiseE*a + k*r.pos.NormFloat64()
	r.noiseU = r.noiseU*a + 1.6*k*r.pos.NormFloat64()
	speed := math.Abs(0.02 * r.pos.NormFloat64())
	lat := r.cfg.Latitude + r.noiseN/r.metresPerDegLat
	lon := r.cfg.Longitude
	if r.perDegLon > 1 {
		lon += r.noiseE / r.perDegLon
	}
	lon = math.Max(-180, math.Min(180, lon))
	lat = math.Max(-90, math.Min(90, lat))

	t := lb.posix.Time()
	h, m, s := t.Clock()
	if lb.sixty {
		s = 60
	}
	year, month, day := t.Date()
	timeKnown := st != rxNoTime
	gn := r.cfg.Talker == "GN"
	talker := r.cfg.Talker
	w := sentence{b: buf}

	if r.want[0] { // RMC
		w.begin(talker, "RMC")
		if timeKnown {
			w.clock(h, m, s)
		} else {
			w.empty(1)
		}
		if fix {
			w.f("A")
			w.coord(lat, 2, "N", "S")
			w.coord(lon, 3, "E", "W")
			w.fixed(speed, 3)
			w.empty(1) // course: receivers leave it empty when nearly still
		} else {
			w.f("V")
			w.empty(6)
		}
		if timeKnown {
			w.int(day, 2)
			w.b = appendPadded(w.b, int(month), 2)
			w.b = appendPadded(w.b, year%100, 2)
		} else {
			w.empty(1)
		}
		w.empty(2) // magnetic variation and its direction: not computed
		if fix {
			w.f("A")
		} else {
			w.f("N")
		}
		if gn {
			w.f("V") // NMEA 4.10 navigational status; u-blox always reports V
		}
		w.end()
	}
	if r.want[1] { // GGA
		w.begin(talker, "GGA")
		if timeKnown {
			w.clock(h, m, s)
		} else {
			w.empty(1)
		}
		if fix {
			w.coord(lat, 2, "N", "S")
			w.coord(lon, 3, "E", "W")
			w.f("1")
			w.int(min(info.used, 12), 2) // u-blox caps the count at 12 in NMEA mode
			w.fixed(hdop, 2)
			w.fixed(r.cfg.AltitudeM+r.noiseU, 1)
			w.f("M")
			w.fixed(r.cfg.GeoidSepM, 1)
			w.f("M")
			w.empty(2)
		} else {
			w.empty(4)
			w.f("0")
			w.f("00")
			w.f("99.99")
			w.empty(6)
		}
		w.end()
	}
	if r.want[2] { // GSA
		for si := range r.sky.systems {
			if !gn && si > 0 {
				break
			}
			w.begin(talker, "GSA")
			w.f("A")
			if fix {
				w.f("3")
			} else {
				w.f("1")
			}
			n := 0
			for i := range views {
				if n < 12 && views[i].used && views[i].sysIndex == si {
					w.int(views[i].id, 2)
					n++
				}
			}
			w.empty(12 - n)
			if fix {
				w.fixed(pdop, 2)
				w.fixed(hdop, 2)
				w.fixed(vdop, 2)
			} else {
				w.f("99.99")
				w.f("99.99")
				w.f("99.99")
			}
			if gn {
				w.int(r.sky.systems[si].c.systemID, 1)
			}
			w.end()
		}
	}
	if r.want[3] { // GSV
		for si := range r.sky.systems {
			sys := &r.sky.systems[si]
			var inView []*satView
			for i := range views {
				if views[i].sysIndex == si {
					inView = append(inView, &views[i])
				}
			}
			msgs := max((len(inView)+3)/4, 1)
			gsvTalker := sys.c.talker
			for mi := range msgs {
				w.begin(gsvTalker, "GSV")
				w.int(msgs, 1)
				w.int(mi+1, 1)
				w.int(len(inView), 2)
				for _, v := range inView[mi*4 : min(mi*4+4, len(inView))] {
					w.int(v.id, 2)
					w.int(int(math.Round(v.elev)), 2)
					w.int(int(math.Round(v.azim))%360, 3)
					if v.cn0 > 0 {
						w.int(v.cn0, 2)
					} else {
						w.empty(1)
					}
				}
				if gn {
					w.int(sys.c.signalID, 1)
				}
				w.end()
			}
		}
	}
	if r.want[4] { // ZDA
		w.begin(talker, "ZDA")
		if timeKnown {
			w.clock(h, m, s)
			w.int(day, 2)
			w.int(int(month), 2)
			w.int(year, 4)
		} else {
			w.empty(4)
		}
		w.f("00")
		w.f("00")
		w.end()
	}
	return w.b, info
}
