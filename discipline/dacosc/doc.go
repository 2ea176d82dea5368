// Package dacosc is the edge for an external oscillator (a TCXO or an OCXO) whose frequency is tuned by a DAC
// on an I2C bus: it writes the codes discipline.DACController decides, and parses the flags that name the
// hardware. The control logic (calibration of the gain, the steering loop, holdover, the error bound) is pure
// and lives in package discipline (dacsteer.go); this package only translates its commands into I2C bytes.
//
// # Parts
//
// MCP4725 (Microchip, 12 bit, addresses 0x60-0x67): codes go out with the two-byte fast-write command; the
// power-down bits ride in the same command. The part's EEPROM (the code and power-down mode it powers up
// with) is written only by WriteEEPROM, never by steering: the EEPROM is specified for about a million
// writes and each takes up to 50 ms, during which the part ignores commands, so a loop writing once a second
// would wear it out in days and stall its own steering.
//
//	fast write      | 0 0 PD1 PD0 D11 D10 D9 D8 | D7 .. D0 |
//	DAC (+EEPROM)   | 0 1 0/1 x x PD1 PD0 x | D11 .. D4 | D3 D2 D1 D0 x x x x |   C2..C0 = 010 (DAC), 011 (+EEPROM)
//	read (5 bytes)  | RDY POR x x x PD1 PD0 x | D11..D4 | D3..D0 x x x x | x PD1 PD0 x D11..D8 | D7..D0 |
//	                  status + DAC register                                   EEPROM
//
// AD5693R (Analog Devices, 16 bit, 0x4C with A0 low, 0x4E with A0 high): every command is three bytes, a
// command byte and a 16-bit big-endian word. The R part has a 2.5 V internal reference (2 ppm/°C): a DAC
// whose reference moved with the supply would put supply noise on the oscillator's tuning input, which is
// why this part and not a supply-referenced 16-bit DAC.
//
//	| C3 C2 C1 C0 0 0 0 0 | D15 .. D8 | D7 .. D0 |
//	  0011 (0x30): write the input and DAC registers (the output changes at once)
//	  0100 (0x40): write the control register: D15 reset, D14 D13 power-down, D12 REF (1: internal reference
//	               off), D11 gain (1: 0..2·VREF), D10..D0 zero
//
// The command formats were checked against the parts' data sheets' register descriptions; the tests play back
// the exact byte sequences with periph's i2ctest, so a wrong command byte fails a test.
//
// # Why periph.io/x/conn/v3
//
// Its i2c.Bus interface (one Tx(addr, w, r) call) is the narrowest description of an I2C master, and its
// i2ctest.Playback replays expected transactions byte for byte, which is how these drivers are tested
// without hardware. The bus itself is opened here (OpenBus, Linux i2c-dev with the I2C_RDWR ioctl) rather
// than through periph.io/x/host: the gokrazy kernel has i2c-dev, and a 60-line ioctl wrapper is smaller than
// host's driver registry.
//
// # Flags and wiring
//
//	-dac mcp4725@/dev/i2c-1:0x60        part@bus:address (ParseDAC); "i2c-1" is short for "/dev/i2c-1"
//	-dac ad5693r@/dev/i2c-1:0x4c,gain2  options after a comma: gain2 (AD5693R: 0..2·VREF), extref
//	-dac-pps gpiochip0:17               the oscillator's divided 1PPS (ParseLine), captured with the same
//	                                    GPIO line events as the GPS PPS (pps/gpiocdev)
//
// In gpsntpd: open the bus and the part (Open), make a discipline.DACController with MaxCode from the part,
// write its first command, capture the -dac-pps line like -pps-gpio, pair each oscillator edge with the GPS
// edge of the same second (within half a second), hand DACController.Sample the difference, and Apply every
// command it returns. While the GPS is good the board clock is disciplined from the GPS PPS as before; when
// the board servo goes to holdover and the DAC controller is locked, the daemon feeds the board servo from
// the oscillator's edges instead, so the board clock follows the oscillator. DACCommand.Sync needs a divider
// reload line, which no part here drives: without one, configure NoSync (the phase is then slewed).
package dacosc
