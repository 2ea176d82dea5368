package sim

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// constellation is the nominal geometry of one GNSS: circular orbits in equally spaced planes.
type constellation struct {
	name        string
	talker      string  // GSV talker
	systemID    int     // NMEA 4.10 GSA system ID
	signalID    int     // NMEA 4.10 GSV signal ID of the civil L1/E1 signal u-blox reports
	planes      int     // orbital planes, equally spaced in right ascension
	perPlane    int     // satellites per plane, equally spaced in argument of latitude
	inclination float64 // degrees
	radiusKm    float64 // orbit radius
	periodS     float64 // orbital period
	ids         []int   // NMEA satellite numbers available, in the order slots get them
}

var constellations = []constellation{
	// GPS: 6 planes at 55°, 26 560 km, half a sidereal day; PRNs 1-32.
	{name: "GPS", talker: "GP", systemID: 1, signalID: 1, planes: 6, perPlane: 5, inclination: 55, radiusKm: 26560, periodS: 43082, ids: seq(1, 32)},
	// GLONASS: 3 planes at 64.8°, 25 510 km, 11 h 15 min 44 s; NMEA numbers 65-96 (slot + 64).
	{name: "GLONASS", talker: "GL", systemID: 2, signalID: 1, planes: 3, perPlane: 8, inclination: 64.8, radiusKm: 25510, periodS: 40544, ids: seq(65, 88)},
	// Galileo: 3 planes at 56°, 29 600 km, 14 h 4 min 42 s; NMEA 4.10 numbers 1-36 under talker GA.
	{name: "Galileo", talker: "GA", systemID: 3, signalID: 7, planes: 3, perPlane: 8, inclination: 56, radiusKm: 29600, periodS: 50682, ids: seq(1, 36)},
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from+1)
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func constellationByName(name string) *constellation {
	for i := range constellations {
		if constellations[i].name == name {
			return &constellations[i]
		}
	}
	return nil
}

// satellite is one orbiting space vehicle, fixed for the whole run.
type satellite struct {
	id        int
	u0        float64 // argument of latitude at the sky's reference instant, rad
	cosO      float64 // cosine and sine of the right ascension of the ascending node
	sinO      float64
	cosI      float64
	sinI      float64
	radius    float64 // km
	meanMot   float64 // rad/s
	obstructs bool    // low passes through a sector the antenna cannot see (a wall), attenuated
}

// satView is a satellite as the receiver sees it in one second.
type satView struct {
	id       int
	elev     float64 // degrees
	azim     float64 // degrees, [0, 360)
	cn0      int     // dB-Hz; 0 means not tracked
	used     bool
	east     float64 // unit line of sight, local east/north/up
	north    float64
	up       float64
	sysIndex int // index into sky.systems
}

type skySystem struct {
	c    *constellation
	sats []satellite
}

// sky is the receiver's deterministic view of its constellations.
type sky struct {
	systems []skySystem
	rx      [3]float64 // receiver position, km, Earth-fixed
	lat     float64    // rad
	lon     float64    // rad
	blockAz float64    // centre of the obstructed azimuth sector, degrees
	rng     *rand.Rand // C/N0 noise
	views   []satView  // reused each second
	ref     int64      // reference instant, whole Unix seconds: angles are kept relative to it for precision
	theta0  float64    // Earth rotation angle at ref, rad
}

const (
	earthRadiusKm = 6371.0
	earthRotation = 7.2921159e-5 // rad/s
	elevMaskUsed  = 10.0         // degrees; below this a satellite is tracked but not used
	cn0Tracked    = 22           // dB-Hz below which a satellite is lost
	cn0Used       = 28           // dB-Hz below which it is not used in the fix
)

// newSky places the constellations for a receiver at latDeg, lonDeg. Orbits are phased relative to the
// Unix epoch, so the sky at a given instant does not depend on ref, which only keeps the float64 angles
// small.
func newSky(names []string, latDeg, lonDeg float64, seed uint64, ref timebase.Instant) *sky {
	setup := rand.New(rand.NewPCG(seed, streamSkySetup))
	refSec, _ := ref.Unix()
	s := &sky{
		ref:     refSec,
		theta0:  angleAt(earthRotation, refSec),
		lat:     latDeg * math.Pi / 180,
		lon:     lonDeg * math.Pi / 180,
		blockAz: setup.Float64() * 360,
		rng:     rand.New(rand.NewPCG(seed, streamSkyNoise)),
	}
	s.rx = [3]float64{
		earthRadiusKm * math.Cos(s.lat) * math.Cos(s.lon),
		earthRadiusKm * math.Cos(s.lat) * math.Sin(s.lon),
		earthRadiusKm * math.Sin(s.lat),
	}
	for _, name := range names {
		c := constellationByName(name)
		ids := slices.Clone(c.ids)
		setup.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		raanOff := setup.Float64() * 2 * math.Pi
		sys := skySystem{c: c}
		inc := c.inclination * math.Pi / 180
		for p := 0; p < c.planes; p++ {
			planeOff := setup.Float64() * 2 * math.Pi
			raan := raanOff + 2*math.Pi*float64(p)/float64(c.planes)
			for k := 0; k < c.perPlane; k++ {
				mm := 2 * math.Pi / c.periodS
				sys.sats = append(sys.sats, satellite{
					id:        ids[p*c.perPlane+k],
					cosO:      math.Cos(raan),
					sinO:      math.Sin(raan),
					u0:        planeOff + 2*math.Pi*float64(k)/float64(c.perPlane) + angleAt(mm, refSec),
					cosI:      math.Cos(inc),
					sinI:      math.Sin(inc),
					radius:    c.radiusKm,
					meanMot:   mm,
					obstructs: setup.Float64() < 0.5,
				})
			}
		}
		slices.SortFunc(sys.sats, func(a, b satellite) int { return a.id - b.id })
		s.systems = append(s.systems, sys)
	}
	return s
}

// at computes the view at truth t: every satellite above the horizon, its C/N0, whether the fix uses it.
// tracking false (no fix: antenna lost, or still acquiring) lists satellites from the almanac without
// C/N0, as receivers do. The returned slice is reused by the next call.
func (s *sky) at(t timebase.Instant, tracking bool) []satView {
	s.views = s.views[:0]
	sec, nsec := t.Unix()
	ts := float64(sec-s.ref) + float64(nsec)*1e-9
	theta := s.theta0 + earthRotation*ts
	ct, st := math.Cos(theta), math.Sin(theta)
	sinLat, cosLat := math.Sin(s.lat), math.Cos(s.lat)
	sinLon, cosLon := math.Sin(s.lon), math.Cos(s.lon)
	for si := range s.systems {
		sys := &s.systems[si]
		for i := range sys.sats {
			v := &sys.sats[i]
			su, cu := math.Sincos(v.u0 + v.meanMot*ts)
			co, so := v.cosO, v.sinO
			// Inertial position, then rotated with the Earth.
			xi := v.radius * (cu*co - su*v.cosI*so)
			yi := v.radius * (cu*so + su*v.cosI*co)
			zi := v.radius * su * v.sinI
			dx := xi*ct + yi*st - s.rx[0]
			dy := -xi*st + yi*ct - s.rx[1]
			dz := zi - s.rx[2]
			e := -sinLon*dx + cosLon*dy
			n := -sinLat*cosLon*dx - sinLat*sinLon*dy + cosLat*dz
			up := cosLat*cosLon*dx + cosLat*sinLon*dy + sinLat*dz
			r := math.Sqrt(e*e + n*n + up*up)
			elev := math.Asin(up/r) * 180 / math.Pi
			if elev < 0 {
				continue
			}
			az := math.Atan2(e, n) * 180 / math.Pi
			if az < 0 {
				az += 360
			}
			sv := satView{id: v.id, elev: elev, azim: az, east: e / r, north: n / r, up: up / r, sysIndex: si}
			if tracking {
				cn0 := 30 + 18*math.Sin(elev*math.Pi/180) + 1.5*s.rng.NormFloat64()
				if v.obstructs && elev < 25 && angleDiff(az, s.blockAz) < 60 {
					cn0 -= 12
				}
				c := int(math.Round(cn0))
				if c > 55 {
					c = 55
				}
				if c >= cn0Tracked {
					sv.cn0 = c
					sv.used = c >= cn0Used && elev >= elevMaskUsed
				}
			}
			s.views = append(s.views, sv)
		}
	}
	return s.views
}

// angleAt returns rate·sec modulo 2π, exactly enough for seconds since 1970.
func angleAt(rate float64, sec int64) float64 {
	period := 2 * math.Pi / rate
	return rate * math.Mod(float64(sec), period)
}

func angleDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	if d > 180 {
		d = 360 - d
	}
	return d
}

// dop returns the dilutions of precision of the used satellites: the geometry matrix G has a row
// (−e, −n, −u, 1) per satellite, and PDOP, HDOP, VDOP come from the diagonal of (GᵀG)⁻¹. One common clock
// term is assumed for all constellations (the receiver knows the inter-system biases). ok is false with
// fewer than four satellites or a degenerate geometry.
func dop(views []satView) (pdop, hdop, vdop float64, ok bool) {
	var a [4][4]float64
	n := 0
	for i := range views {
		v := &views[i]
		if !v.used {
			continue
		}
		n++
		row := [4]float64{-v.east, -v.north, -v.up, 1}
		for r := 0; r < 4; r++ {
			for c := 0; c < 4; c++ {
				a[r][c] += row[r] * row[c]
			}
		}
	}
	if n < 4 {
		return 0, 0, 0, false
	}
	inv, ok := invert4(a)
	if !ok {
		return 0, 0, 0, false
	}
	h := inv[0][0] + inv[1][1]
	if h < 0 || inv[2][2] < 0 {
		return 0, 0, 0, false
	}
	return math.Sqrt(h + inv[2][2]), math.Sqrt(h), math.Sqrt(inv[2][2]), true
}

// invert4 inverts a symmetric positive 4×4 matrix by Gauss-Jordan elimination with partial pivoting.
func invert4(m [4][4]float64) ([4][4]float64, bool) {
	var inv [4][4]float64
	for i := range inv {
		inv[i][i] = 1
	}
	for col := 0; col < 4; col++ {
		p := col
		for r := col + 1; r < 4; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		if math.Abs(m[p][col]) < 1e-12 {
			return inv, false
		}
		m[col], m[p] = m[p], m[col]
		inv[col], inv[p] = inv[p], inv[col]
		d := m[col][col]
		for c := 0; c < 4; c++ {
			m[col][c] /= d
			inv[col][c] /= d
		}
		for r := 0; r < 4; r++ {
			if r == col {
				continue
			}
			f := m[r][col]
			for c := 0; c < 4; c++ {
				m[r][c] -= f * m[col][c]
				inv[r][c] -= f * inv[col][c]
			}
		}
	}
	return inv, true
}
