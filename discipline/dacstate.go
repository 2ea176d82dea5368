package discipline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DACLearned is what a DAC controller learned about its oscillator and keeps across restarts (the DAC state
// file, next to the drift file): the code that held the oscillator on frequency, the tuning slope the
// calibration fitted, and the frequency at that code. With it a restart starts at the learned code and skips
// the three-segment calibration (see DACController: a check segment still verifies the oscillator answers as
// remembered, and a full calibration runs if it does not).
//
// The file is one line of nine space-separated fields:
//
//	gpsntp-dac/1 <part> <max code> <code> <gain ppb/LSB> <gain σ> <freq at code ppb> <freq σ ppb> <unix s>\n
//	gpsntp-dac/1 ad5693r 65535 33012 0.01220703 0.00031 -0.0123 0.045 1795348800
//
// The part and its full scale say which hardware the numbers belong to: a state written for another DAC
// (the user swapped an MCP4725 for an AD5693R) means nothing for this one and is refused. The frequency is
// the residual one at the saved code (free-running plus the tuning there, ≈ 0 while locked), not the
// free-running one at the centre code, so that the state does not depend on where the centre was.
type DACLearned struct {
	Model         string // the DAC part, as dacosc names it ("mcp4725", "ad5693r")
	MaxCode       uint32 // its full scale: 4095 for 12 bits, 65535 for 16
	Code          uint32 // the code in force when saved
	GainPPBPerLSB float64
	GainErrPPB    float64 // σ of the gain, ppb/LSB
	FreqPPB       float64 // the oscillator's residual frequency at Code (positive: ahead), ppb
	FreqErrPPB    float64 // its σ, ppb; Aged widens it for the time the box was off
	Written       timebase.Instant
}

// MaxDACStateFile bounds what DecodeDACLearned reads: the line is under 150 bytes.
const MaxDACStateFile = 512

// ErrCorruptDACState wraps every reason a DAC state file is refused; the caller logs it and calibrates.
var ErrCorruptDACState = errors.New("corrupt DAC state file")

const dacStateMagic = "gpsntp-dac/1"

// dacMaxFreqPPB is the largest residual frequency a state may carry: no tuning range reaches beyond
// 100 ppm, and a locked loop saves a residual near zero.
const dacMaxFreqPPB = 1e5

// EncodeDACLearned formats l as the DAC state file's line.
func EncodeDACLearned(l DACLearned) ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	sec, _ := l.Written.Unix()
	b := append([]byte(dacStateMagic), ' ')
	b = append(b, l.Model...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(l.MaxCode), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(l.Code), 10)
	for _, v := range []float64{l.GainPPBPerLSB, l.GainErrPPB, l.FreqPPB, l.FreqErrPPB} {
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'g', -1, 64) // shortest exact: a decode gives back the same value
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, sec, 10)
	return append(b, '\n'), nil
}

// DecodeDACLearned parses a DAC state file's content. Anything but exactly one well-formed line with a
// known version, a code within the full scale, a finite non-zero gain and finite non-negative errors is
// refused with an error wrapping ErrCorruptDACState: a torn or foreign file must never tune the oscillator.
func DecodeDACLearned(b []byte) (DACLearned, error) {
	bad := func(format string, a ...any) (DACLearned, error) {
		return DACLearned{}, fmt.Errorf("%w: %s", ErrCorruptDACState, fmt.Sprintf(format, a...))
	}
	if len(b) > MaxDACStateFile {
		return bad("%d bytes, more than %d", len(b), MaxDACStateFile)
	}
	line, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return bad("no final newline (truncated write?)")
	}
	f := bytes.Split(line, []byte(" "))
	if len(f) != 9 {
		return bad("%d fields, want 9 (%s part max_code code gain gain_err freq freq_err unix_time)", len(f), dacStateMagic)
	}
	if string(f[0]) != dacStateMagic {
		return bad("version %q, want %q", f[0], dacStateMagic)
	}
	l := DACLearned{Model: string(f[1])}
	u32 := func(i int, name string) (uint32, error) {
		v, err := strconv.ParseUint(string(f[i]), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %s %q: %v", ErrCorruptDACState, name, f[i], err)
		}
		return uint32(v), nil
	}
	var err error
	if l.MaxCode, err = u32(2, "max code"); err != nil {
		return DACLearned{}, err
	}
	if l.Code, err = u32(3, "code"); err != nil {
		return DACLearned{}, err
	}
	for i, p := range []*float64{&l.GainPPBPerLSB, &l.GainErrPPB, &l.FreqPPB, &l.FreqErrPPB} {
		if *p, err = strconv.ParseFloat(string(f[4+i]), 64); err != nil {
			return bad("field %d %q: %v", 5+i, f[4+i], err)
		}
	}
	sec, err := strconv.ParseInt(string(f[8]), 10, 64)
	if err != nil || sec > math.MaxInt64/int64(time.Second) {
		return bad("time %q not a unix time in seconds", f[8])
	}
	l.Written = timebase.Instant(sec * int64(time.Second))
	if err := l.validate(); err != nil {
		return DACLearned{}, err
	}
	return l, nil
}

func (l DACLearned) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !validModel(l.Model):
		return fmt.Errorf("%w: part %q not a DAC part name", ErrCorruptDACState, l.Model)
	case l.MaxCode < 255 || l.MaxCode > 1<<24-1:
		return fmt.Errorf("%w: full scale %d not of an 8- to 24-bit DAC", ErrCorruptDACState, l.MaxCode)
	case l.Code > l.MaxCode:
		return fmt.Errorf("%w: code %d beyond full scale %d", ErrCorruptDACState, l.Code, l.MaxCode)
	case !finite(l.GainPPBPerLSB) || l.GainPPBPerLSB == 0 || math.Abs(l.GainPPBPerLSB) > 1e6:
		return fmt.Errorf("%w: gain %g ppb/LSB not a usable slope", ErrCorruptDACState, l.GainPPBPerLSB)
	case !finite(l.GainErrPPB) || l.GainErrPPB < 0 || l.GainErrPPB > math.Abs(l.GainPPBPerLSB):
		return fmt.Errorf("%w: gain σ %g ppb/LSB not in [0, |gain|]", ErrCorruptDACState, l.GainErrPPB)
	case !finite(l.FreqPPB) || math.Abs(l.FreqPPB) > dacMaxFreqPPB:
		return fmt.Errorf("%w: frequency %g ppb beyond ±%g", ErrCorruptDACState, l.FreqPPB, dacMaxFreqPPB)
	case !finite(l.FreqErrPPB) || l.FreqErrPPB < 0 || l.FreqErrPPB > dacMaxFreqPPB:
		return fmt.Errorf("%w: frequency σ %g ppb not in [0, %g]", ErrCorruptDACState, l.FreqErrPPB, dacMaxFreqPPB)
	case l.Written <= 0:
		return fmt.Errorf("%w: time %d not after 1970", ErrCorruptDACState, l.Written)
	}
	return nil
}

// validModel: a short lower-case word of letters and digits (a field of the line: no spaces).
func validModel(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// What a remembered frequency is worth after the box was off. Powering an OCXO down and up again moves its
// frequency by its retrace (a few 1e-9 on typical parts' data sheets), and it ages by up to about 1e-9 a
// day in its first months; a TCXO's retrace is similar. The check segment (DACController) sees anything
// larger than that allowance as a different oscillator and recalibrates.
const (
	dacRetracePPB   = 5
	dacAgeingPPBDay = 1
)

// Aged returns l with its frequency σ widened for the time since it was written: the retrace of a power
// cycle and ageing, added in quadrature with the saved σ. A state from the future (a clock set back) is
// treated as written now.
func (l DACLearned) Aged(now timebase.Instant) DACLearned {
	days := math.Max(now.Sub(l.Written).Hours()/24, 0)
	l.FreqErrPPB = math.Sqrt(l.FreqErrPPB*l.FreqErrPPB + dacRetracePPB*dacRetracePPB + math.Pow(dacAgeingPPBDay*days, 2))
	return l
}

// Check reports why l cannot be used with cfg's DAC (model is the part cfg belongs to): another part or
// full scale, a code outside cfg's range. The caller logs it and leaves Learned unset (calibrate).
func (l DACLearned) Check(model string, cfg DACConfig) error {
	if err := l.validate(); err != nil {
		return err
	}
	switch {
	case l.Model != model:
		return fmt.Errorf("discipline: DAC state is for a %s, this DAC is a %s", l.Model, model)
	case l.MaxCode != cfg.MaxCode:
		return fmt.Errorf("discipline: DAC state is for full scale %d, this DAC's is %d", l.MaxCode, cfg.MaxCode)
	case l.Code < cfg.MinCode || l.Code > cfg.MaxCode:
		return fmt.Errorf("discipline: DAC state code %d outside [%d, %d]", l.Code, cfg.MinCode, cfg.MaxCode)
	}
	return nil
}
