package dacosc

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/i2c"

	"github.com/gpsntp/gpsntp/discipline"
)

// DAC is a voltage DAC tuning an oscillator.
type DAC interface {
	// SetCode makes the output code (0..MaxCode) now, without touching any non-volatile memory.
	SetCode(code uint32) error
	MaxCode() uint32
	String() string
}

// Part names a supported DAC.
type Part string

const (
	PartMCP4725 Part = "mcp4725"
	PartAD5693R Part = "ad5693r"
)

// Spec is a parsed -dac flag.
type Spec struct {
	Part    Part
	Bus     string // device path, e.g. /dev/i2c-1
	Addr    uint16
	Gain2x  bool // AD5693R: output range 0..2·VREF
	ExtRef  bool // AD5693R: internal reference off (an external one on VREF)
	Options []string
}

func (s Spec) String() string {
	out := fmt.Sprintf("%s@%s:%#x", s.Part, s.Bus, s.Addr)
	if len(s.Options) > 0 {
		out += "," + strings.Join(s.Options, ",")
	}
	return out
}

// ParseDAC parses PART@BUS:ADDR[,OPTION...], e.g. "mcp4725@/dev/i2c-1:0x60" or "ad5693r@i2c-1:0x4c,gain2".
func ParseDAC(s string) (Spec, error) {
	bad := func(why string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("dacosc: DAC %q: %s (want PART@BUS:ADDR, e.g. mcp4725@/dev/i2c-1:0x60)", s, fmt.Sprintf(why, a...))
	}
	main, opts, hasOpts := strings.Cut(s, ",")
	part, rest, ok := strings.Cut(main, "@")
	if !ok {
		return bad("no @")
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return bad("no :ADDR after the bus")
	}
	bus, addrS := rest[:i], rest[i+1:]
	if !strings.HasPrefix(bus, "/") {
		if strings.ContainsAny(bus, "/.") {
			return bad("bus %q is not a device name", bus)
		}
		bus = "/dev/" + bus
	}
	if !strings.HasPrefix(bus, "/dev/i2c-") {
		return bad("bus %q is not an i2c-dev device (/dev/i2c-N)", bus)
	}
	if _, err := strconv.ParseUint(strings.TrimPrefix(bus, "/dev/i2c-"), 10, 16); err != nil {
		return bad("bus %q is not an i2c-dev device (/dev/i2c-N)", bus)
	}
	a, err := strconv.ParseUint(addrS, 0, 16)
	if err != nil {
		return bad("address %q is not a number", addrS)
	}
	sp := Spec{Part: Part(strings.ToLower(part)), Bus: bus, Addr: uint16(a)}
	switch sp.Part {
	case PartMCP4725:
		if a < mcp4725First || a > mcp4725Last {
			return bad("an MCP4725 answers at 0x60..0x67, not %#x", a)
		}
	case PartAD5693R:
		if a != ad5693rA0Low && a != ad5693rA0High {
			return bad("an AD5693R answers at 0x4c or 0x4e, not %#x", a)
		}
	default:
		return bad("part %q is not one of mcp4725, ad5693r", part)
	}
	if hasOpts {
		for _, o := range strings.Split(opts, ",") {
			switch {
			case o == "gain2" && sp.Part == PartAD5693R:
				sp.Gain2x = true
			case o == "extref" && sp.Part == PartAD5693R:
				sp.ExtRef = true
			default:
				return bad("option %q is not known for %s", o, sp.Part)
			}
			sp.Options = append(sp.Options, o)
		}
	}
	return sp, nil
}

// Open makes the driver for a spec on an open bus (from OpenBus, or a test's i2ctest.Playback), and puts the
// part in its steering configuration. The output code is left as the part has it until the first SetCode.
func Open(s Spec, bus i2c.Bus) (DAC, error) {
	switch s.Part {
	case PartMCP4725:
		return NewMCP4725(bus, s.Addr)
	case PartAD5693R:
		return NewAD5693R(bus, s.Addr, AD5693RConfig{Gain2x: s.Gain2x, ExternalRef: s.ExtRef})
	}
	return nil, fmt.Errorf("dacosc: Open(%s): unknown part", s)
}

// LineSpec names a GPIO line by chip device path and offset.
type LineSpec struct {
	Chip   string
	Offset uint32
}

func (l LineSpec) String() string { return fmt.Sprintf("%s:%d", l.Chip, l.Offset) }

// ParseLine parses the -dac-pps flag, "gpiochip0:17" or "/dev/gpiochip0:17", with the same syntax as
// -pps-gpio (pps/gpiocdev.ParseLine; an edge package may not import another).
func ParseLine(s string) (LineSpec, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return LineSpec{}, fmt.Errorf("dacosc: PPS line %q: want CHIP:OFFSET, e.g. gpiochip0:17", s)
	}
	chip, off := s[:i], s[i+1:]
	n, err := strconv.ParseUint(off, 10, 16)
	if err != nil {
		return LineSpec{}, fmt.Errorf("dacosc: PPS line %q: offset %q is not a line number below 65536", s, off)
	}
	if !strings.HasPrefix(chip, "/") {
		if chip == "" || strings.ContainsAny(chip, "/.") {
			return LineSpec{}, fmt.Errorf("dacosc: PPS line %q: chip %q is not a device name", s, chip)
		}
		chip = "/dev/" + chip
	}
	if !strings.HasPrefix(chip, "/dev/gpiochip") {
		return LineSpec{}, fmt.Errorf("dacosc: PPS line %q: chip %q is not a GPIO chip (/dev/gpiochipN)", s, chip)
	}
	return LineSpec{Chip: chip, Offset: uint32(n)}, nil
}

// Steerer applies a controller's commands to a DAC, within the part's range and only when the code changes.
type Steerer struct {
	dac     DAC
	code    uint32
	written bool
	writes  uint64
}

// NewSteerer wraps a DAC.
func NewSteerer(d DAC) *Steerer { return &Steerer{dac: d} }

// Apply writes cmd.Code if cmd asks for a write and the part does not already have it. Sync is not handled
// here (it needs a divider reload line): the caller sees cmd.Sync itself.
func (s *Steerer) Apply(cmd discipline.DACCommand) error {
	if !cmd.Write || (s.written && cmd.Code == s.code) {
		return nil
	}
	if cmd.Code > s.dac.MaxCode() {
		return fmt.Errorf("dacosc: %s: code %d beyond the part's %d", s.dac, cmd.Code, s.dac.MaxCode())
	}
	if err := s.dac.SetCode(cmd.Code); err != nil {
		return err
	}
	s.code, s.written = cmd.Code, true
	s.writes++
	return nil
}

// Writes returns how many codes were written.
func (s *Steerer) Writes() uint64 { return s.writes }

// OpenDevice opens the bus a spec names and the part on it; closing the returned closer releases the bus.
func OpenDevice(s Spec) (DAC, io.Closer, error) {
	bus, err := OpenBus(s.Bus)
	if err != nil {
		return nil, nil, err
	}
	d, err := Open(s, bus)
	if err != nil {
		bus.Close()
		return nil, nil, fmt.Errorf("dacosc: %s: %w", s, err)
	}
	return d, bus, nil
}
