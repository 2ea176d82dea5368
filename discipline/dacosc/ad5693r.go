package dacosc

import (
	"fmt"

	"periph.io/x/conn/v3/i2c"
)

const (
	ad5693rA0Low  = 0x4c
	ad5693rA0High = 0x4e
	ad5693rMax    = 1<<16 - 1

	ad5693rCmdWriteDAC = 0x30 // write the input and DAC registers
	ad5693rCmdControl  = 0x40 // write the control register

	ad5693rCtlReset  = 1 << 15
	ad5693rCtlPDLow  = 13 // D14 D13: power-down mode
	ad5693rCtlExtRef = 1 << 12
	ad5693rCtlGain2x = 1 << 11
)

// AD5693RConfig is the control register's steady configuration.
type AD5693RConfig struct {
	Gain2x      bool // output 0..2·VREF (5 V) instead of 0..VREF (2.5 V)
	ExternalRef bool // turn the internal 2.5 V reference off
}

// AD5693R drives an Analog Devices AD5693R 16-bit DAC. Not safe for concurrent use.
type AD5693R struct {
	dev  i2c.Dev
	cfg  AD5693RConfig
	pd   PowerDown
	code uint16
}

// NewAD5693R addresses an AD5693R at addr (0x4c or 0x4e) on bus and writes its control register.
func NewAD5693R(bus i2c.Bus, addr uint16, cfg AD5693RConfig) (*AD5693R, error) {
	if addr != ad5693rA0Low && addr != ad5693rA0High {
		return nil, fmt.Errorf("dacosc: NewAD5693R(%#x): an AD5693R answers at 0x4c or 0x4e", addr)
	}
	a := &AD5693R{dev: i2c.Dev{Bus: bus, Addr: addr}, cfg: cfg}
	if err := a.control(PowerOn, false); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *AD5693R) String() string  { return fmt.Sprintf("ad5693r@%#x", a.dev.Addr) }
func (a *AD5693R) MaxCode() uint32 { return ad5693rMax }

func (a *AD5693R) write(cmd byte, v uint16) error {
	w := [3]byte{cmd, byte(v >> 8), byte(v)}
	return a.dev.Tx(w[:], nil)
}

// control writes the control register. The AD5693R's power-down modes are 01 1 kΩ, 10 100 kΩ, 11
// three-state; PowerDown500k stands for three-state here.
func (a *AD5693R) control(pd PowerDown, reset bool) error {
	v := uint16(pd) << ad5693rCtlPDLow
	if a.cfg.ExternalRef {
		v |= ad5693rCtlExtRef
	}
	if a.cfg.Gain2x {
		v |= ad5693rCtlGain2x
	}
	if reset {
		v |= ad5693rCtlReset
	}
	if err := a.write(ad5693rCmdControl, v); err != nil {
		return fmt.Errorf("dacosc: %s: write control register %#04x: %w", a, v, err)
	}
	a.pd = pd
	return nil
}

// SetCode writes the input and DAC registers: the output changes at once.
func (a *AD5693R) SetCode(code uint32) error {
	if code > ad5693rMax {
		return fmt.Errorf("dacosc: %s: SetCode(%d): beyond 16 bits", a, code)
	}
	if err := a.write(ad5693rCmdWriteDAC, uint16(code)); err != nil {
		return fmt.Errorf("dacosc: %s: write DAC %d: %w", a, code, err)
	}
	a.code = uint16(code)
	return nil
}

// SetPowerDown changes the output mode (PowerOn to steer).
func (a *AD5693R) SetPowerDown(pd PowerDown) error {
	if pd > PowerDown500k {
		return fmt.Errorf("dacosc: %s: SetPowerDown(%d): no such mode", a, pd)
	}
	return a.control(pd, false)
}

// Reset resets the part (code zero, power on) and writes the configuration back.
func (a *AD5693R) Reset() error {
	if err := a.control(PowerOn, true); err != nil {
		return err
	}
	a.code = 0
	return a.control(PowerOn, false)
}
