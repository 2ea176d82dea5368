package discipline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Drift is the frequency estimate persisted across restarts (the drift file), so a restart begins slewing
// from the oscillator's learned frequency instead of from zero and locks in seconds rather than minutes.
//
// The file is one line of three space-separated decimal fields, like chrony's driftfile plus a time stamp:
//
//	<frequency ppm> <estimated error ppm> <unix seconds written>\n
//	-12.345678 0.012000 1795348800
//
// frequency is the correction the servo applied (positive: the clock was made to run faster), error its
// estimated uncertainty, and the time says how old the estimate is (temperature and ageing move it, so a
// caller may widen the error or ignore a stale one). Encoding and decoding are pure; the atomic write lives in
// internal/statefile.
type Drift struct {
	FrequencyPPM float64
	ErrorPPM     float64
	Written      timebase.Instant // whole seconds
}

// MaxDriftFile bounds what DecodeDrift reads: the line is well under 100 bytes.
const MaxDriftFile = 256

// maxDriftPPM is the largest frequency a drift file may carry: the kernel's ±500 ppm limit.
const maxDriftPPM = 500

// EncodeDrift formats d as the drift file's line.
func EncodeDrift(d Drift) ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	sec, _ := d.Written.Unix()
	b := strconv.AppendFloat(nil, d.FrequencyPPM, 'f', 6, 64)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, d.ErrorPPM, 'f', 6, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, sec, 10)
	return append(b, '\n'), nil
}

// ErrCorruptDrift wraps every reason a drift file is refused; the caller logs it and starts from zero.
var ErrCorruptDrift = errors.New("corrupt drift file")

// DecodeDrift parses a drift file's content. Anything but exactly one well-formed line with a frequency within
// ±500 ppm, a non-negative finite error and a positive time is refused with an error wrapping ErrCorruptDrift:
// a half-written or foreign file must never steer the clock.
func DecodeDrift(b []byte) (Drift, error) {
	if len(b) > MaxDriftFile {
		return Drift{}, fmt.Errorf("%w: %d bytes, more than %d", ErrCorruptDrift, len(b), MaxDriftFile)
	}
	line, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return Drift{}, fmt.Errorf("%w: no final newline (truncated write?)", ErrCorruptDrift)
	}
	fields := bytes.Split(line, []byte(" "))
	if len(fields) != 3 {
		return Drift{}, fmt.Errorf("%w: %d fields, want 3 (ppm error_ppm unix_time)", ErrCorruptDrift, len(fields))
	}
	var d Drift
	var err error
	if d.FrequencyPPM, err = strconv.ParseFloat(string(fields[0]), 64); err != nil {
		return Drift{}, fmt.Errorf("%w: frequency %q: %v", ErrCorruptDrift, fields[0], err)
	}
	if d.ErrorPPM, err = strconv.ParseFloat(string(fields[1]), 64); err != nil {
		return Drift{}, fmt.Errorf("%w: error %q: %v", ErrCorruptDrift, fields[1], err)
	}
	sec, err := strconv.ParseInt(string(fields[2]), 10, 64)
	if err != nil || sec > math.MaxInt64/int64(1e9) {
		return Drift{}, fmt.Errorf("%w: time %q not a unix time in seconds", ErrCorruptDrift, fields[2])
	}
	d.Written = timebase.Instant(sec * 1e9)
	if err := d.validate(); err != nil {
		return Drift{}, err
	}
	return d, nil
}

func (d Drift) validate() error {
	switch {
	case math.IsNaN(d.FrequencyPPM) || math.Abs(d.FrequencyPPM) > maxDriftPPM:
		return fmt.Errorf("%w: frequency %g ppm beyond ±%d ppm", ErrCorruptDrift, d.FrequencyPPM, maxDriftPPM)
	case math.IsNaN(d.ErrorPPM) || d.ErrorPPM < 0 || d.ErrorPPM > maxDriftPPM:
		return fmt.Errorf("%w: error %g ppm not in [0, %d]", ErrCorruptDrift, d.ErrorPPM, maxDriftPPM)
	case d.Written <= 0:
		return fmt.Errorf("%w: time %d not after 1970", ErrCorruptDrift, d.Written)
	}
	return nil
}
