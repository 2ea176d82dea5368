package leap

import (
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// linuxClock models the kernel's CLOCK_REALTIME across a leap second as Linux does it: at the first
// midnight UTC it passes with STA_INS set, the clock goes back one second (23:59:59 repeats); with STA_DEL
// set, it jumps from 23:59:59.000 to 00:00:00. It runs on uniform time and knows nothing of the announcement:
// only the flag the controller made it hold.
type linuxClock struct {
	off     timebase.Instant // posix = uniform + off
	flag    KernelFlag
	oopEnd  timebase.Instant // uniform end of the inserted second (TIME_OOP)
	applied int              // leap seconds applied
	waiting bool             // TIME_WAIT: applied, flag not yet cleared
}

func (k *linuxClock) read(u timebase.Instant) (posix timebase.Instant, repeat bool) {
	return u + k.off, u < k.oopEnd
}

// advance moves the model from uniform u0 to u1 (< 1 s apart), applying an armed leap at the midnight it
// crosses. As in Linux, a leap is applied once per arming: the flag must be cleared (TIME_WAIT -> TIME_OK)
// before another one can happen.
func (k *linuxClock) advance(u0, u1 timebase.Instant) {
	if k.flag == KernelNone {
		k.waiting = false
	}
	if k.waiting {
		return
	}
	p0, p1 := u0+k.off, u1+k.off
	next := p0.Truncate(24*time.Hour) + 86400*timebase.Second
	switch {
	case k.flag == KernelInsert && p1 >= next:
		uMid := next - k.off
		k.off -= timebase.Second
		k.oopEnd = uMid + timebase.Second
		k.applied++
		k.waiting = true
	case k.flag == KernelDelete && p1 >= next-timebase.Second:
		k.off += timebase.Second
		k.applied++
		k.waiting = true
	}
}

type leapRun struct {
	Summary
	applied     int
	quietAtLeap bool
	rec         *Recorder
}

// runLeap drives a Controller (1 s steps, quarter seconds within two minutes of the event) from uniform from
// to to, with rx giving the receiver's report at each uniform instant and a linuxClock applying its flags.
func runLeap(t *testing.T, table *Table, mode Mode, around timebase.Instant, from, to timebase.Instant, rx func(u timebase.Instant) Receiver) leapRun {
	t.Helper()
	c := NewController(table, mode)
	k := &linuxClock{}
	rec := &Recorder{}
	r := leapRun{rec: rec}
	for u := from; u < to; {
		posix, repeat := k.read(u)
		o := c.Tick(rx(u), posix, true)
		if o.SetKernel {
			k.flag = o.Kernel
			c.KernelApplied(o.Kernel)
		}
		smear := o.Schedule.SmearOffset(posix, repeat)
		rec.Observe(u, posix, smear, o.Leap, k.flag, o.Decision.Warnings)
		if posix >= around-timebase.Second && posix < around && repeat && o.Schedule.Quiet(posix) {
			r.quietAtLeap = true
		}
		step := 10 * timebase.Second
		if u >= around-2*timebase.Instant(time.Minute) && u < around+2*timebase.Instant(time.Minute) {
			step = 250 * timebase.Instant(time.Millisecond)
		}
		k.advance(u, u+step)
		u += step
	}
	r.Summary, r.applied = rec.Summary(), k.applied
	return r
}

func tls(cur, change int, at timebase.Instant) Receiver {
	return Receiver{Known: true, Current: cur, Source: "NAV-TIMELS", ChangeKnown: true, Change: change, Event: at, EventKnown: at != 0}
}

func TestControllerScenarios(t *testing.T) {
	leap2017 := insert2016.At
	leap2028 := timebase.Date(2028, 1, 1, 0, 0, 0, 0)
	del := delete2027.At
	deleteTable, err := Parse(strings.NewReader(makeList(ntp(2027, 3, 1), ntp(2028, 6, 28), append(append([]line(nil), history...), line{ntp(2027, 10, 1), 36}))))
	if err != nil {
		t.Fatal(err)
	}
	fileLeap := timebase.Date(2027, 7, 1, 0, 0, 0, 0)
	fileTable, err := Parse(strings.NewReader(makeList(ntp(2027, 1, 6), ntp(2028, 6, 28), append(append([]line(nil), history...), line{ntp(2027, 7, 1), 38}))))
	if err != nil {
		t.Fatal(err)
	}
	day := 86400 * timebase.Second
	tests := []struct {
		name    string
		table   *Table
		mode    Mode
		at      timebase.Instant
		rx      func(u timebase.Instant) Receiver
		li      timebase.LeapIndicator // 0: none served
		flag    KernelFlag
		applied int
		back    time.Duration // largest backward jump of served time
		fwd     time.Duration
		warn    []WarningKind
	}{
		{"leap-2016", Builtin(), ModeStep, leap2017, func(u timebase.Instant) Receiver {
			if u >= leap2017+timebase.Second {
				return tls(18, 0, 0)
			}
			return tls(17, 1, leap2017)
		}, timebase.LeapInsert, KernelInsert, 1, time.Second, 0, nil},
		{"leap-delete", deleteTable, ModeStep, del, func(timebase.Instant) Receiver { return Receiver{} }, timebase.LeapDelete, KernelDelete, 1, 0, time.Second, nil},
		{"leap-gps-only", Builtin(), ModeStep, leap2028, func(u timebase.Instant) Receiver {
			if u >= leap2028+timebase.Second {
				return tls(19, 0, 0)
			}
			return tls(18, 1, leap2028)
		}, timebase.LeapInsert, KernelInsert, 1, time.Second, 0, []WarningKind{WarnTableExpired}},
		{"leap-file-only", fileTable, ModeStep, fileLeap, func(timebase.Instant) Receiver { return Receiver{} }, timebase.LeapInsert, KernelInsert, 1, time.Second, 0, nil},
		{"leap-disagree", Builtin(), ModeStep, timebase.Date(2027, 1, 1, 0, 0, 0, 0), func(timebase.Instant) Receiver {
			return tls(18, 1, timebase.Date(2027, 1, 1, 0, 0, 0, 0))
		}, 0, KernelNone, 0, 0, 0, []WarningKind{WarnEventDisagree}},
		{"gps cold start on the leap day", Builtin(), ModeStep, leap2028, func(u timebase.Instant) Receiver {
			if u < leap2028-18*timebase.Instant(time.Hour) {
				return tls(18, 1, leap2028)
			}
			return Receiver{Known: true, Current: 18, Default: true, Source: "NAV-TIMELS"}
		}, timebase.LeapInsert, KernelInsert, 1, time.Second, 0, []WarningKind{WarnTableExpired, WarnForgotten, WarnReceiverDefault, WarnNoLeapInfo}},
		{"smear", Builtin(), ModeSmear, leap2017, func(timebase.Instant) Receiver { return Receiver{} }, 0, KernelInsert, 1, 0, 0, nil},
	}
	for _, tt := range tests {
		r := runLeap(t, tt.table, tt.mode, tt.at, tt.at-2*day, tt.at+day, tt.rx)
		if r.LI != tt.li {
			t.Errorf("%s: LI served %v, want %v", tt.name, r.LI, tt.li)
		}
		lastSecond := tt.at - timebase.Second // the repeated 23:59:59 of an insertion
		if tt.li == timebase.LeapDelete {
			lastSecond -= timebase.Second // 23:59:59 does not exist
		}
		if tt.li != 0 && (r.LIFirst != tt.at-day || r.LILast >= lastSecond+timebase.Second || r.LILast < lastSecond) {
			t.Errorf("%s: LI served from %s to %s, want from %s to the last second before %s", tt.name, r.LIFirst, r.LILast, tt.at-day, tt.at)
		}
		if r.KernelFlag != tt.flag || r.applied != tt.applied {
			t.Errorf("%s: kernel flag %v, %d leaps applied; want %v, %d", tt.name, r.KernelFlag, r.applied, tt.flag, tt.applied)
		}
		if tt.flag != KernelNone && (r.KernelSet != tt.at-day || r.KernelCleared != tt.at) {
			t.Errorf("%s: kernel flag set %s cleared %s, want %s and %s", tt.name, r.KernelSet, r.KernelCleared, tt.at-day, tt.at)
		}
		// Served-time jumps are measured against the uniform step; allow the smear's tiny rate change.
		tol := time.Millisecond
		if (r.MaxBackward-tt.back).Abs() > tol || (r.MaxForward-tt.fwd).Abs() > tol {
			t.Errorf("%s: served time jumped back %v forward %v, want %v and %v", tt.name, r.MaxBackward, r.MaxForward, tt.back, tt.fwd)
		}
		if tt.flag == KernelInsert && !r.quietAtLeap {
			t.Errorf("%s: the inserted second is not quiet for the servo", tt.name)
		}
		for _, k := range tt.warn {
			if !r.rec.SawWarning(k) {
				t.Errorf("%s: no %v warning (got %v)", tt.name, k, r.Warnings)
			}
		}
		if len(r.Warnings) != len(tt.warn) {
			t.Errorf("%s: warnings %v, want %v", tt.name, r.Warnings, tt.warn)
		}
		if r.LIChanged || r.Smeared != (tt.mode == ModeSmear) {
			t.Errorf("%s: LI changed %v, smeared %v", tt.name, r.LIChanged, r.Smeared)
		}
		if j := r.JSON(); j.LI != int(tt.li) || j.KernelFlag != tt.flag.String() || (tt.li != 0) != (j.LIFirst != "") {
			t.Errorf("%s: JSON %+v", tt.name, j)
		}
	}
}

func TestArtifact(t *testing.T) {
	s := Schedule{Event: insert2016, Has: true}
	at := insert2016.At
	ms := time.Millisecond
	tests := []struct {
		name   string
		s      Schedule
		at     timebase.Instant
		offset time.Duration
		want   bool
	}{
		{"repeated second, any offset", s, at - timebase.Second/2, 300 * ms, true},
		{"2 s after, any offset", s, at + 2*timebase.Second, 40 * ms, true},
		{"late receiver, 1 s", s, at + 30*timebase.Second, -time.Second + 2*ms, true},
		{"early receiver, 1 s", s, at - 4*timebase.Instant(time.Minute), time.Second, true},
		{"1 s but an hour later", s, at + timebase.Instant(time.Hour), -time.Second, false},
		{"after the window", s, at + timebase.Instant(lateWindow), -time.Second, false},
		{"small offset after the quiet window", s, at + 10*timebase.Second, 3 * ms, false},
		{"0.9 s is not a leap", s, at + 10*timebase.Second, -900 * ms, false},
		{"no leap", Schedule{}, at, -time.Second, false},
	}
	for _, tt := range tests {
		if got := tt.s.Artifact(tt.at, tt.offset); got != tt.want {
			t.Errorf("%s: Artifact = %v", tt.name, got)
		}
	}
}
