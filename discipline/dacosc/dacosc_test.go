package dacosc

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/gpsntp/gpsntp/discipline"
)

// playback returns a bus that expects exactly ops, failing (not panicking) on anything else.
func playback(ops ...i2ctest.IO) *i2ctest.Playback {
	return &i2ctest.Playback{Ops: ops, DontPanic: true}
}

func done(t *testing.T, p *i2ctest.Playback) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

func TestMCP4725FastWriteAndPowerDown(t *testing.T) {
	p := playback(
		i2ctest.IO{Addr: 0x60, W: []byte{0x0a, 0xbc}}, // code 0xabc, powered on: 0 0 PD1 PD0 D11..D8
		i2ctest.IO{Addr: 0x60, W: []byte{0x0f, 0xff}}, // full scale
		i2ctest.IO{Addr: 0x60, W: []byte{0x00, 0x00}}, // zero
		i2ctest.IO{Addr: 0x60, W: []byte{0x20, 0x00}}, // 100 kΩ power-down keeps the code (zero): PD = 10
		i2ctest.IO{Addr: 0x60, W: []byte{0x38, 0x00}}, // 500 kΩ (PD = 11) with code 0x800
		i2ctest.IO{Addr: 0x60, W: []byte{0x08, 0x00}}, // SetCode powers back on
	)
	m, err := NewMCP4725(p, 0x60)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return m.SetCode(0xabc) },
		func() error { return m.SetCode(4095) },
		func() error { return m.SetCode(0) },
		func() error { return m.SetPowerDown(PowerDown100k) },
		func() error {
			m.code = 0x800 // as after a SetCode whose bytes this test does not repeat
			return m.SetPowerDown(PowerDown500k)
		},
		func() error { return m.SetCode(0x800) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	done(t, p)
}

func TestMCP4725WrongCommandFails(t *testing.T) {
	// A driver sending the register-write command (0x40) where fast write was expected fails the playback.
	p := playback(i2ctest.IO{Addr: 0x60, W: []byte{0x40, 0xab, 0xc0}})
	m, _ := NewMCP4725(p, 0x60)
	if err := m.SetCode(0xabc); err == nil {
		t.Fatal("fast write accepted where a register write was expected")
	}
	for _, c := range []uint32{4096, 1 << 20} {
		if err := m.SetCode(c); err == nil || !strings.Contains(err.Error(), "12 bits") {
			t.Errorf("SetCode(%d): %v", c, err)
		}
	}
	if err := m.SetPowerDown(4); err == nil {
		t.Error("SetPowerDown(4) accepted")
	}
	if _, err := NewMCP4725(p, 0x4c); err == nil {
		t.Error("MCP4725 at 0x4c accepted")
	}
}

func TestMCP4725EEPROMOnlyOnRequest(t *testing.T) {
	p := playback(
		// C2..C0 = 011, PD 01 (1 kΩ) in bits 2..1; the code left-justified in two bytes.
		i2ctest.IO{Addr: 0x61, W: []byte{0x60 | 0x02, 0x7f, 0xf0}},
		i2ctest.IO{Addr: 0x61, R: []byte{0x40}},       // busy (RDY 0, POR 1)
		i2ctest.IO{Addr: 0x61, R: []byte{0x40}},       // busy
		i2ctest.IO{Addr: 0x61, R: []byte{0xc0 | 0x2}}, // ready
	)
	m, _ := NewMCP4725(p, 0x61)
	var slept time.Duration
	m.Sleep = func(d time.Duration) { slept += d }
	if err := m.WriteEEPROM(0x7ff, PowerDown1k); err != nil {
		t.Fatal(err)
	}
	if slept != 3*eepromPollWait {
		t.Errorf("waited %v", slept)
	}
	done(t, p)

	// A part that never finishes: an error naming the timeout, not a hang.
	ops := []i2ctest.IO{{Addr: 0x61, W: []byte{0x60, 0x00, 0x10}}}
	for range eepromPolls {
		ops = append(ops, i2ctest.IO{Addr: 0x61, R: []byte{0x00}})
	}
	p = playback(ops...)
	m, _ = NewMCP4725(p, 0x61)
	m.Sleep = func(time.Duration) {}
	if err := m.WriteEEPROM(1, PowerOn); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Errorf("stuck EEPROM: %v", err)
	}
	done(t, p)
}

func TestMCP4725Read(t *testing.T) {
	p := playback(i2ctest.IO{Addr: 0x62, R: []byte{0xc4, 0xab, 0xc0, 0x4f, 0xed}})
	m, _ := NewMCP4725(p, 0x62)
	st, err := m.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := MCP4725State{Ready: true, PowerOnReset: true, PowerDown: PowerDown100k, Code: 0xabc, EEPROMPowerDown: PowerDown100k, EEPROMCode: 0xfed}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	done(t, p)
}

func TestAD5693RCommands(t *testing.T) {
	p := playback(
		i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x00, 0x00}}, // control: internal reference, gain 1, powered on
		i2ctest.IO{Addr: 0x4c, W: []byte{0x30, 0x80, 0x00}}, // write DAC and input registers: mid-scale
		i2ctest.IO{Addr: 0x4c, W: []byte{0x30, 0xff, 0xff}},
		i2ctest.IO{Addr: 0x4c, W: []byte{0x30, 0x12, 0x34}},
		i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x60, 0x00}}, // power-down three-state: D14 D13 = 11
		i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x80, 0x00}}, // reset: D15
		i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x00, 0x00}}, // configuration back
	)
	a, err := NewAD5693R(p, 0x4c, AD5693RConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []uint32{0x8000, 0xffff, 0x1234} {
		if err := a.SetCode(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetPowerDown(PowerDown500k); err != nil {
		t.Fatal(err)
	}
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCode(1 << 16); err == nil {
		t.Error("17-bit code accepted")
	}
	done(t, p)
}

func TestAD5693RConfigBits(t *testing.T) {
	// Gain 2x is D11, the external reference D12: 0x08 and 0x10 in the high byte.
	p := playback(i2ctest.IO{Addr: 0x4e, W: []byte{0x40, 0x18, 0x00}})
	if _, err := NewAD5693R(p, 0x4e, AD5693RConfig{Gain2x: true, ExternalRef: true}); err != nil {
		t.Fatal(err)
	}
	done(t, p)
	if _, err := NewAD5693R(p, 0x60, AD5693RConfig{}); err == nil {
		t.Error("AD5693R at 0x60 accepted")
	}
	// A wrong control byte fails the playback.
	p = playback(i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x08, 0x00}})
	if _, err := NewAD5693R(p, 0x4c, AD5693RConfig{ExternalRef: true}); err == nil {
		t.Error("external reference bit sent as gain bit went unnoticed")
	}
}

func TestRecordedSteering(t *testing.T) {
	// The steerer writes only when the code changes, and only within the part's range; Record keeps what
	// went on the bus.
	rec := &i2ctest.Record{}
	m, _ := NewMCP4725(rec, 0x60)
	s := NewSteerer(m)
	for _, c := range []discipline.DACCommand{
		{Code: 2048, Write: true}, {Code: 2048, Write: true}, {Code: 2049}, {Code: 2050, Write: true, Sync: true},
	} {
		if err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Apply(discipline.DACCommand{Code: 5000, Write: true}); err == nil {
		t.Error("code beyond 12 bits accepted")
	}
	want := []i2ctest.IO{{Addr: 0x60, W: []byte{0x08, 0x00}}, {Addr: 0x60, W: []byte{0x08, 0x02}}}
	if len(rec.Ops) != len(want) || s.Writes() != 2 {
		t.Fatalf("recorded %+v, writes %d", rec.Ops, s.Writes())
	}
	for i := range want {
		if rec.Ops[i].Addr != want[i].Addr || string(rec.Ops[i].W) != string(want[i].W) {
			t.Errorf("op %d: %+v, want %+v", i, rec.Ops[i], want[i])
		}
	}
}

func TestParseDAC(t *testing.T) {
	good := map[string]Spec{
		"mcp4725@/dev/i2c-1:0x60":       {Part: PartMCP4725, Bus: "/dev/i2c-1", Addr: 0x60},
		"MCP4725@i2c-1:0x67":            {Part: PartMCP4725, Bus: "/dev/i2c-1", Addr: 0x67},
		"ad5693r@/dev/i2c-22:0x4c":      {Part: PartAD5693R, Bus: "/dev/i2c-22", Addr: 0x4c},
		"ad5693r@i2c-1:78,gain2,extref": {Part: PartAD5693R, Bus: "/dev/i2c-1", Addr: 0x4e, Gain2x: true, ExtRef: true, Options: []string{"gain2", "extref"}},
	}
	for in, want := range good {
		got, err := ParseDAC(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got.String() != want.String() || got.Gain2x != want.Gain2x || got.ExtRef != want.ExtRef {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
		if _, err := ParseDAC(got.String()); err != nil {
			t.Errorf("%q does not parse back: %v", got.String(), err)
		}
	}
	for _, in := range []string{"", "mcp4725", "mcp4725@", "mcp4725@/dev/i2c-1", "mcp4725@/dev/i2c-1:", "mcp4725@/dev/i2c-1:0x4c",
		"ad5693r@/dev/i2c-1:0x60", "dac8571@/dev/i2c-1:0x4c", "mcp4725@/dev/spidev0:0x60", "mcp4725@../i2c-1:0x60",
		"mcp4725@/dev/i2c-x:0x60", "mcp4725@/dev/i2c-1:zz", "mcp4725@/dev/i2c-1:0x60,gain2", "ad5693r@i2c-1:0x4c,"} {
		if _, err := ParseDAC(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseLine(t *testing.T) {
	for in, want := range map[string]LineSpec{"gpiochip0:17": {"/dev/gpiochip0", 17}, "/dev/gpiochip4:0": {"/dev/gpiochip4", 0}} {
		if got, err := ParseLine(in); err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "17", "gpiochip0:", ":17", "gpiochip0:-1", "gpiochip0:65536", "../gpiochip0:1", "/dev/i2c-1:3"} {
		if _, err := ParseLine(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseDAC(f *testing.F) {
	for _, s := range []string{"mcp4725@/dev/i2c-1:0x60", "ad5693r@i2c-1:0x4e,gain2", "x@y:z", "@:", "mcp4725@i2c-1:0x60,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseDAC(s)
		if err != nil {
			return
		}
		again, err := ParseDAC(sp.String())
		if err != nil || again.String() != sp.String() {
			t.Fatalf("%q -> %q does not parse back: %v", s, sp.String(), err)
		}
	})
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"gpiochip0:17", "/dev/gpiochip1:0", ":", "a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		again, err := ParseLine(l.String())
		if err != nil || again != l {
			t.Fatalf("%q -> %q does not parse back: %v", s, l, err)
		}
	})
}

func TestOpenDeviceErrors(t *testing.T) {
	sp, _ := ParseDAC("mcp4725@/dev/i2c-250:0x60")
	if _, _, err := OpenDevice(sp); err == nil || !strings.Contains(err.Error(), "i2c-250") {
		t.Errorf("missing bus: %v", err)
	}
	p := playback(i2ctest.IO{Addr: 0x4c, W: []byte{0x40, 0x08, 0x00}})
	sp, _ = ParseDAC("ad5693r@i2c-1:0x4c,gain2")
	d, err := Open(sp, p)
	if err != nil || d.MaxCode() != 65535 || d.String() != "ad5693r@0x4c" {
		t.Errorf("Open: %v %v", d, err)
	}
	done(t, p)
}

func TestOpenBusRefusesANonI2CNode(t *testing.T) {
	if _, err := OpenBus("/dev/null"); err == nil {
		t.Error("/dev/null opened as an I2C bus")
	}
}
