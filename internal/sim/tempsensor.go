package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// streamTempSensor is the sensor's own random stream: adding a sensor to a run does not change the
// oscillator's wander or any other model's noise.
const streamTempSensor = 0x74656d70

// TempSensorConfig describes the board's temperature sensor as a Raspberry Pi exposes it in
// /sys/class/thermal/thermal_zone0/temp: the SoC's die temperature, a proxy for the crystal's. The reading
// at truth t is
//
//	R(t) = quantize(s(t) + OffsetC + n),   ds/dt = (T(t) − s)/Lag
//
// where T is the crystal temperature the board clock's oscillator follows, s its first-order lag (the two
// sit on different parts of the board, with their own thermal mass), n white noise of σ NoiseC per reading
// (CPU load heating the die for a moment), and quantize rounds to StepC (0.001 °C for the millidegree
// interface of a fine sensor; some SoCs report in steps of about 0.5 °C).
type TempSensorConfig struct {
	OffsetC float64       // reading minus the crystal's temperature in steady state
	NoiseC  float64       // σ of the white noise of one reading
	StepC   float64       // quantization step; 0 means 0.001 °C
	Lag     time.Duration // time constant of the reading behind the crystal; 0: none
}

// DefaultTempSensor is a Pi's SoC sensor: 8 °C above the crystal, 0.1 °C of noise per reading, millidegree
// steps, 30 s behind the crystal.
func DefaultTempSensor() TempSensorConfig {
	return TempSensorConfig{OffsetC: 8, NoiseC: 0.1, StepC: 0.001, Lag: 30 * time.Second}
}

// Validate reports the first unusable setting.
func (c TempSensorConfig) Validate() error {
	for _, v := range []float64{c.OffsetC, c.NoiseC, c.StepC} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sim: TempSensorConfig %+v: a value is NaN or infinite", c)
		}
	}
	switch {
	case math.Abs(c.OffsetC) > 50:
		return fmt.Errorf("sim: TempSensorConfig.OffsetC %g outside ±50 °C", c.OffsetC)
	case c.NoiseC < 0 || c.NoiseC > 10:
		return fmt.Errorf("sim: TempSensorConfig.NoiseC %g outside [0, 10] °C", c.NoiseC)
	case c.StepC < 0 || c.StepC > 5:
		return fmt.Errorf("sim: TempSensorConfig.StepC %g outside [0, 5] °C", c.StepC)
	case c.Lag < 0 || c.Lag > 24*time.Hour:
		return fmt.Errorf("sim: TempSensorConfig.Lag %v outside [0, 24h]", c.Lag)
	}
	return nil
}

// TempSensor reads a board clock's crystal temperature through the sensor model. It is safe for concurrent
// use; readings must come in truth order (an earlier instant repeats the latest reading's state).
type TempSensor struct {
	mu    sync.Mutex
	cfg   TempSensorConfig
	board *BoardClock
	rng   *rand.Rand
	s     float64 // the lagged temperature
	last  timebase.Instant
	have  bool
}

// NewTempSensor makes a sensor on board; the seed feeds its noise (a stream of its own).
func NewTempSensor(cfg TempSensorConfig, board *BoardClock, seed uint64) (*TempSensor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if board == nil {
		return nil, fmt.Errorf("sim: NewTempSensor: no board clock")
	}
	if cfg.StepC == 0 {
		cfg.StepC = 0.001
	}
	return &TempSensor{cfg: cfg, board: board, rng: rand.New(rand.NewPCG(seed, streamTempSensor))}, nil
}

// TempSensor returns a sensor on the world's board clock, with the world's seed.
func (w *World) TempSensor(cfg TempSensorConfig) (*TempSensor, error) {
	return NewTempSensor(cfg, w.board, w.cfg.Seed)
}

// ReadAt returns the sensor's reading (°C) at truth t, advancing the board clock's oscillator to t.
func (s *TempSensor) ReadAt(t timebase.Instant) float64 {
	s.board.Advance(t)
	T := s.board.TemperatureC()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.have:
		s.s, s.have = T, true
	case t > s.last && s.cfg.Lag > 0:
		a := 1 - math.Exp(-t.Sub(s.last).Seconds()/s.cfg.Lag.Seconds())
		s.s += a * (T - s.s)
	case t > s.last:
		s.s = T
	}
	if t > s.last {
		s.last = t
	}
	r := s.s + s.cfg.OffsetC + s.cfg.NoiseC*s.rng.NormFloat64()
	return math.Round(r/s.cfg.StepC) * s.cfg.StepC
}

// Millidegrees formats a reading the way Linux's thermal zone file does: an integer of m°C and a newline.
func Millidegrees(c float64) string {
	return fmt.Sprintf("%d\n", int64(math.Round(c*1000)))
}
