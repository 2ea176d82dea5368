//go:build linux

package adjtimex

import "testing"

// The one real kernel call a test may make: a read (modes = 0) changes nothing.
func TestReadRealKernel(t *testing.T) {
	st, err := New().Read()
	if err != nil {
		t.Skipf("clock_adjtime read not permitted here: %v", err)
	}
	if st.Tick <= 0 || st.FrequencyPPM < -MaxFrequencyPPM || st.FrequencyPPM > MaxFrequencyPPM {
		t.Errorf("implausible kernel state %+v", st)
	}
	t.Logf("kernel clock: %+v", st)
}
