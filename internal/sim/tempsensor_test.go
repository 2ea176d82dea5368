package sim

import (
	"math"
	"testing"
	"time"
)

func TestTempSensorReadsCrystalWithOffsetLagAndSteps(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  TempSensorConfig
		at   time.Duration // reading time after a 10 °C instant step at 100 s
		want float64
		tol  float64
	}{
		{"steady", TempSensorConfig{OffsetC: 8}, 50 * time.Second, 33, 1e-9},
		{"no lag", TempSensorConfig{OffsetC: 8}, 150 * time.Second, 43, 1e-9},
		// One lag time constant after the step (read every second) the reading has moved 1−e⁻¹ of the way.
		{"one time constant", TempSensorConfig{OffsetC: 8, Lag: 30 * time.Second}, 130 * time.Second, 33 + 10*(1-math.Exp(-1)), 0.01},
		{"half-degree steps", TempSensorConfig{OffsetC: 8.2, StepC: 0.5}, 50 * time.Second, 33, 1e-9},
		{"millidegrees", TempSensorConfig{OffsetC: 8.0004}, 50 * time.Second, 33, 1e-9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			osc := quietOsc(3, 0)
			osc.TempCoeffPPMPerC = 0.1
			osc.Temperature.Steps = []TempStep{{At: 100 * time.Second, DeltaC: 10}}
			b := mustBoard(t, osc)
			s, err := NewTempSensor(tc.cfg, b, 1)
			if err != nil {
				t.Fatal(err)
			}
			var got float64
			for e := time.Duration(0); e <= tc.at; e += time.Second {
				got = s.ReadAt(t0.Add(e))
			}
			if math.Abs(got-tc.want) > tc.tol {
				t.Errorf("reading at %v = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestTempSensorNoiseIsSeededAndOwnStream(t *testing.T) {
	osc := quietOsc(3, 0)
	osc.WanderPPMPerSqrtS = 1e-3
	read := func(withSensor bool) (sum, sq float64, freq float64) {
		b := mustBoard(t, osc)
		s, err := NewTempSensor(TempSensorConfig{NoiseC: 0.1}, b, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			at := t0.Add(time.Duration(i) * time.Second)
			if withSensor {
				r := s.ReadAt(at) - 25
				sum += r
				sq += r * r
			} else {
				b.Advance(at)
			}
		}
		return sum, sq, b.OscillatorPPM(t0.Add(999 * time.Second))
	}
	sum, sq, f1 := read(true)
	sum2, _, _ := read(true)
	_, _, f0 := read(false)
	if sum != sum2 {
		t.Errorf("same seed, different readings: %v vs %v", sum, sum2)
	}
	if f0 != f1 {
		t.Errorf("reading the sensor changed the oscillator: %v vs %v ppm", f1, f0)
	}
	if sd := math.Sqrt(sq / 1000); sd < 0.08 || sd > 0.12 {
		t.Errorf("noise σ %v, want about 0.1", sd)
	}
}

func TestTempSensorConfigValidate(t *testing.T) {
	for _, c := range []TempSensorConfig{
		{NoiseC: -1}, {StepC: -0.1}, {OffsetC: math.NaN()}, {Lag: -time.Second}, {OffsetC: 60}, {NoiseC: math.Inf(1)},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := DefaultTempSensor().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if _, err := NewTempSensor(DefaultTempSensor(), nil, 1); err == nil {
		t.Error("no board accepted")
	}
	if got := Millidegrees(51.5404); got != "51540\n" {
		t.Errorf("Millidegrees = %q", got)
	}
}
