package adjtimex

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// call is one expected adjtimex call: want is compared with what the clock passes, reply is what the fake
// kernel answers.
type call struct {
	want  Timex
	reply Timex
	err   error
}

// fakeKernel fails the test on any call it does not expect, so no test can move a clock by accident.
type fakeKernel struct {
	t     *testing.T
	calls []call
}

func (f *fakeKernel) Adjtimex(tx *Timex) (int, error) {
	f.t.Helper()
	if len(f.calls) == 0 {
		f.t.Fatalf("unexpected adjtimex call %+v", *tx)
	}
	c := f.calls[0]
	f.calls = f.calls[1:]
	if *tx != c.want {
		f.t.Fatalf("adjtimex called with\n %+v\nwant\n %+v", *tx, c.want)
	}
	*tx = c.reply
	return 0, c.err
}

func (f *fakeKernel) done() {
	f.t.Helper()
	if len(f.calls) != 0 {
		f.t.Errorf("%d expected adjtimex calls not made", len(f.calls))
	}
}

func TestSetFrequency(t *testing.T) {
	tests := []struct {
		ppm  float64
		freq int64
	}{
		{12.5, 819200},
		{-500, -32768000},
		{0.0000153, 1}, // one 2^-16 ppm step, rounded
		{0, 0},
	}
	for _, tt := range tests {
		k := &fakeKernel{t: t, calls: []call{{want: Timex{Modes: AdjFrequency, Freq: tt.freq}}}}
		if err := NewWith(k).SetFrequency(tt.ppm); err != nil {
			t.Errorf("%g ppm: %v", tt.ppm, err)
		}
		k.done()
	}
	for _, ppm := range []float64{500.01, -501, math.NaN(), math.Inf(1)} {
		k := &fakeKernel{t: t}
		if err := NewWith(k).SetFrequency(ppm); !errors.Is(err, ErrFrequencyRange) {
			t.Errorf("%g ppm: %v", ppm, err)
		}
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		d         time.Duration
		sec, nsec int64
	}{
		{1500 * time.Millisecond, 1, 500_000_000},
		{-1500 * time.Millisecond, -2, 500_000_000},
		{-time.Nanosecond, -1, 999_999_999},
		{37 * time.Second, 37, 0},
	}
	for _, tt := range tests {
		k := &fakeKernel{t: t, calls: []call{{want: Timex{Modes: AdjSetOffset | AdjNano, TimeSec: tt.sec, TimeUsec: tt.nsec}}}}
		if err := NewWith(k).Step(tt.d); err != nil {
			t.Errorf("%v: %v", tt.d, err)
		}
		k.done()
	}
}

func TestSetStatusNeverEnablesKernelDiscipline(t *testing.T) {
	// The kernel had its PLL and PPS discipline on, a leap armed and nanosecond mode: the write keeps the
	// leap and STA_NANO, clears the kernel's disciplines, and sets or clears STA_UNSYNC.
	cur := Timex{Status: StaPLL | StaPPSFreq | StaPPSTime | StaFLL | StaIns | StaNano | StaUnsync}
	k := &fakeKernel{t: t, calls: []call{
		{want: Timex{}, reply: cur},
		{want: Timex{Modes: AdjStatus | AdjEstError | AdjMaxError, Status: StaIns | StaNano, EstError: 2, MaxError: maxErrorUS}},
		{want: Timex{}, reply: cur},
		{want: Timex{Modes: AdjStatus | AdjEstError | AdjMaxError, Status: StaIns | StaNano | StaUnsync, EstError: 0, MaxError: 1500}},
	}}
	c := NewWith(k)
	if err := c.SetStatus(true, 1200*time.Nanosecond, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(false, 0, 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	k.done()
}

func TestSetLeap(t *testing.T) {
	cur := Timex{Status: StaDel | StaNano | StaPLL}
	tests := []struct {
		li     timebase.LeapIndicator
		status int32
	}{
		{timebase.LeapInsert, StaIns | StaNano},
		{timebase.LeapDelete, StaDel | StaNano},
		{timebase.LeapNone, StaNano},
		{timebase.LeapUnsync, StaNano},
	}
	for _, tt := range tests {
		k := &fakeKernel{t: t, calls: []call{{want: Timex{}, reply: cur}, {want: Timex{Modes: AdjStatus, Status: tt.status}}}}
		if err := NewWith(k).SetLeap(tt.li); err != nil {
			t.Errorf("%v: %v", tt.li, err)
		}
		k.done()
	}
}

func TestReadAndErrors(t *testing.T) {
	k := &fakeKernel{t: t, calls: []call{{want: Timex{}, reply: Timex{Freq: -819200, Status: StaUnsync, MaxError: 16000, EstError: 3, Tick: 10000}}}}
	st, err := NewWith(k).Read()
	if err != nil || st.FrequencyPPM != -12.5 || st.Synced() || st.MaxError != 16*time.Millisecond || st.EstError != 3*time.Microsecond {
		t.Errorf("Read = %+v, %v", st, err)
	}
	k = &fakeKernel{t: t, calls: []call{{want: Timex{Modes: AdjFrequency, Freq: 65536}, err: errors.New("operation not permitted")}}}
	err = NewWith(k).SetFrequency(1)
	if err == nil || !strings.Contains(err.Error(), "ADJ_FREQUENCY 1 ppm") {
		t.Errorf("error %v does not name the call and its argument", err)
	}
	k = &fakeKernel{t: t, calls: []call{{want: Timex{}, err: errors.New("EIO")}}}
	if err := NewWith(k).SetStatus(true, 0, 0); err == nil {
		t.Error("read failure in SetStatus swallowed")
	}
}
