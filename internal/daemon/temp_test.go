package daemon

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Readings reach the servo's fit and the view; bad ones are counted, not used.
func TestCoreTemperature(t *testing.T) {
	core, err := NewCore(Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	at := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	core.Temperature(at, 51.5)
	core.Temperature(at.Add(2*time.Second), math.NaN())
	core.Temperature(at.Add(4*time.Second), 51.75)
	core.Tick(at.Add(5 * time.Second))
	v := core.View().Temp
	if !v.Have || v.Celsius != 51.75 || v.Readings != 2 || v.Rejected != 1 || v.At != at.Add(4*time.Second) || v.Trusted {
		t.Errorf("view %+v", v)
	}
}

// With a DAC-steered oscillator the holdover follows it: readings are shown, not learned.
func TestCoreTemperatureWithDAC(t *testing.T) {
	ok := steerFunc(func(discipline.DACCommand) error { return nil })
	core, err := NewCore(Config{DAC: DACConfig{Controller: discipline.DACConfig{MaxCode: 4095}, Steer: ok}}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	at := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	core.Temperature(at, 40)
	core.Temperature(at, 41) // not after the previous one
	core.Tick(at.Add(time.Second))
	v := core.View().Temp
	if !v.Have || v.Celsius != 40 || v.Readings != 1 || v.Rejected != 1 || v.Samples != 0 {
		t.Errorf("view %+v", v)
	}
}

// Run hands the sensor's channel to the core.
func TestRunFeedsTemperatures(t *testing.T) {
	core, err := NewCore(Config{}, nullSteer{})
	if err != nil {
		t.Fatal(err)
	}
	temps := make(chan TempReading, 1)
	at := timebase.Date(2026, 11, 22, 12, 0, 0, 0)
	temps <- TempReading{At: at, Celsius: 47.25}
	close(temps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	clock := fixedClock(at.Add(time.Second))
	go func() { done <- Run(ctx, core, clock, Inputs{Temps: temps}) }()
	deadline := time.Now().Add(10 * time.Second)
	for core.View().Temp.Readings == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := core.View().Temp; v.Readings != 1 || v.Celsius != 47.25 {
		t.Errorf("view %+v", v)
	}
}
