package dacosc

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
)

const (
	mcp4725First = 0x60
	mcp4725Last  = 0x67
	mcp4725Max   = 1<<12 - 1

	mcp4725CmdDAC       = 0x40 // C2 C1 C0 = 010: write the DAC register
	mcp4725CmdDACEEPROM = 0x60 // C2 C1 C0 = 011: write the DAC register and the EEPROM
	mcp4725Ready        = 0x80 // status byte: RDY/BSY, 1 when no EEPROM write is in progress
	mcp4725POR          = 0x40 // status byte: power-on reset done
)

// PowerDown is an MCP4725 output mode: normal, or powered down with the output pulled to ground through a
// resistor (the oscillator's tuning input then sees ground: do not use while steering).
type PowerDown uint8

const (
	PowerOn       PowerDown = 0 // PD1 PD0 = 00
	PowerDown1k   PowerDown = 1 // 01: output to ground through 1 kΩ
	PowerDown100k PowerDown = 2 // 10: 100 kΩ
	PowerDown500k PowerDown = 3 // 11: 500 kΩ
)

func (p PowerDown) String() string {
	switch p {
	case PowerOn:
		return "on"
	case PowerDown1k:
		return "1k"
	case PowerDown100k:
		return "100k"
	case PowerDown500k:
		return "500k"
	}
	return fmt.Sprintf("PowerDown(%d)", uint8(p))
}

// MCP4725 drives a Microchip MCP4725 12-bit DAC. Not safe for concurrent use.
type MCP4725 struct {
	dev  i2c.Dev
	code uint16
	pd   PowerDown
	// Sleep waits between polls of the EEPROM's busy flag; tests replace it.
	Sleep func(time.Duration)
}

// NewMCP4725 addresses an MCP4725 at addr (0x60..0x67) on bus. It does not talk to the part.
func NewMCP4725(bus i2c.Bus, addr uint16) (*MCP4725, error) {
	if addr < mcp4725First || addr > mcp4725Last {
		return nil, fmt.Errorf("dacosc: NewMCP4725(%#x): an MCP4725 answers at 0x60..0x67", addr)
	}
	return &MCP4725{dev: i2c.Dev{Bus: bus, Addr: addr}, Sleep: time.Sleep}, nil
}

func (m *MCP4725) String() string  { return fmt.Sprintf("mcp4725@%#x", m.dev.Addr) }
func (m *MCP4725) MaxCode() uint32 { return mcp4725Max }

// fast writes code and pd with the two-byte fast-write command.
func (m *MCP4725) fast(code uint16, pd PowerDown) error {
	w := [2]byte{byte(pd)<<4 | byte(code>>8), byte(code)}
	if err := m.dev.Tx(w[:], nil); err != nil {
		return fmt.Errorf("dacosc: %s: fast write %d (%s): %w", m, code, pd, err)
	}
	m.code, m.pd = code, pd
	return nil
}

// SetCode sets the output code, powered on, with the fast-write command (volatile: the EEPROM is untouched).
func (m *MCP4725) SetCode(code uint32) error {
	if code > mcp4725Max {
		return fmt.Errorf("dacosc: %s: SetCode(%d): beyond 12 bits", m, code)
	}
	return m.fast(uint16(code), PowerOn)
}

// SetPowerDown changes the output mode, keeping the code.
func (m *MCP4725) SetPowerDown(pd PowerDown) error {
	if pd > PowerDown500k {
		return fmt.Errorf("dacosc: %s: SetPowerDown(%d): no such mode", m, pd)
	}
	return m.fast(m.code, pd)
}

// eepromPolls bounds the wait for an EEPROM write: the data sheet gives 25 ms typical, 50 ms maximum.
const (
	eepromPolls    = 20
	eepromPollWait = 5 * time.Millisecond
)

// WriteEEPROM sets the output and stores code and pd as the power-up state, then waits for the write to
// finish. Only for an explicit request (a "save" command after calibration): see the package doc.
func (m *MCP4725) WriteEEPROM(code uint16, pd PowerDown) error {
	if code > mcp4725Max || pd > PowerDown500k {
		return fmt.Errorf("dacosc: %s: WriteEEPROM(%d, %d): code beyond 12 bits or no such mode", m, code, pd)
	}
	w := [3]byte{mcp4725CmdDACEEPROM | byte(pd)<<1, byte(code >> 4), byte(code << 4)}
	if err := m.dev.Tx(w[:], nil); err != nil {
		return fmt.Errorf("dacosc: %s: write DAC and EEPROM %d (%s): %w", m, code, pd, err)
	}
	m.code, m.pd = code, pd
	var st [1]byte
	for range eepromPolls {
		m.Sleep(eepromPollWait)
		if err := m.dev.Tx(nil, st[:]); err != nil {
			return fmt.Errorf("dacosc: %s: read status after EEPROM write: %w", m, err)
		}
		if st[0]&mcp4725Ready != 0 {
			return nil
		}
	}
	return fmt.Errorf("dacosc: %s: EEPROM write of %d not finished after %v", m, code, eepromPolls*eepromPollWait)
}

// MCP4725State is what the part reports.
type MCP4725State struct {
	Ready, PowerOnReset bool
	PowerDown           PowerDown
	Code                uint16
	EEPROMPowerDown     PowerDown
	EEPROMCode          uint16
}

// Read reads the part's status, DAC register and EEPROM (five bytes).
func (m *MCP4725) Read() (MCP4725State, error) {
	var r [5]byte
	if err := m.dev.Tx(nil, r[:]); err != nil {
		return MCP4725State{}, fmt.Errorf("dacosc: %s: read: %w", m, err)
	}
	return decodeMCP4725(r), nil
}

func decodeMCP4725(r [5]byte) MCP4725State {
	return MCP4725State{
		Ready:           r[0]&mcp4725Ready != 0,
		PowerOnReset:    r[0]&mcp4725POR != 0,
		PowerDown:       PowerDown(r[0] >> 1 & 3),
		Code:            uint16(r[1])<<4 | uint16(r[2]>>4),
		EEPROMPowerDown: PowerDown(r[3] >> 5 & 3),
		EEPROMCode:      uint16(r[3]&0x0f)<<8 | uint16(r[4]),
	}
}
