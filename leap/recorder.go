package leap

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Recorder watches what a run served across leap seconds, reading by reading, for tests and for the
// `leap` object of `gpsntpctl simulate`'s JSON summary. It judges nothing itself.
type Recorder struct {
	s                 Summary
	flag              KernelFlag
	prevTruth, prevSv timebase.Instant
	have              bool
	seen              map[WarningKind]bool
}

// Summary is what a run did around leap seconds. Instants are readings of the kernel (POSIX) clock.
type Summary struct {
	LIFirst, LILast timebase.Instant       // first and last reading served with LI 1 or 2 (zero: never)
	LI              timebase.LeapIndicator // the LI served as 1 or 2 (LeapNone: never)
	LIChanged       bool                   // LI went from insert to delete or back within the run: a bug
	KernelSet       timebase.Instant       // reading at which a kernel leap flag was first held
	KernelCleared   timebase.Instant       // reading at which it was next released
	KernelFlag      KernelFlag             // the flag held
	// Largest jumps of served time against the truth elapsed between two readings: an insertion shows a
	// backward jump of one second, a deletion a forward one; a smear shows neither.
	MaxBackward, MaxForward time.Duration
	Smeared                 bool     // some reading carried a smear offset
	Warnings                []string // each distinct warning kind once, first message seen
}

// Observe records one reading: truth is the run's leap-free time (the simulator's truth), posix the kernel
// clock's reading then, smear the offset a smearing server added to it (served = posix + smear), li the Leap
// Indicator served, kernel the flag the kernel held.
func (r *Recorder) Observe(truth, posix timebase.Instant, smear time.Duration, li timebase.LeapIndicator, kernel KernelFlag, warnings []Warning) {
	served := posix + timebase.Instant(smear)
	if li == timebase.LeapInsert || li == timebase.LeapDelete {
		if r.s.LIFirst == 0 {
			r.s.LIFirst, r.s.LI = posix, li
		} else if li != r.s.LI {
			r.s.LIChanged = true
		}
		r.s.LILast = posix
	}
	if kernel != r.flag {
		if kernel != KernelNone && r.s.KernelSet == 0 {
			r.s.KernelSet, r.s.KernelFlag = posix, kernel
		}
		if kernel == KernelNone && r.s.KernelSet != 0 && r.s.KernelCleared == 0 {
			r.s.KernelCleared = posix
		}
		r.flag = kernel
	}
	if r.have {
		jump := served.Sub(r.prevSv) - truth.Sub(r.prevTruth)
		r.s.MaxBackward = max(r.s.MaxBackward, -jump)
		r.s.MaxForward = max(r.s.MaxForward, jump)
	}
	r.prevTruth, r.prevSv, r.have = truth, served, true
	if smear != 0 {
		r.s.Smeared = true
	}
	for _, w := range warnings {
		if r.seen == nil {
			r.seen = map[WarningKind]bool{}
		}
		if !r.seen[w.Kind] {
			r.seen[w.Kind] = true
			r.s.Warnings = append(r.s.Warnings, w.String())
		}
	}
}

// Summary returns what was recorded so far.
func (r *Recorder) Summary() Summary {
	s := r.s
	s.Warnings = append([]string(nil), r.s.Warnings...)
	return s
}

// SawWarning reports whether a warning of kind k was observed.
func (r *Recorder) SawWarning(k WarningKind) bool { return r.seen[k] }

// JSON is the summary in the shape of gpsntpctl's JSON (RFC 3339 strings, seconds as numbers).
type JSON struct {
	LIFirst        string   `json:"li_first,omitempty"`
	LILast         string   `json:"li_last,omitempty"`
	LI             int      `json:"li"`
	KernelSet      string   `json:"kernel_flag_set,omitempty"`
	KernelCleared  string   `json:"kernel_flag_cleared,omitempty"`
	KernelFlag     string   `json:"kernel_flag"`
	MaxBackwardS   float64  `json:"max_backward_jump_s"`
	MaxForwardS    float64  `json:"max_forward_jump_s"`
	Smeared        bool     `json:"smeared"`
	Warnings       []string `json:"warnings,omitempty"`
	InconsistentLI bool     `json:"inconsistent_li,omitempty"`
}

// JSON converts the summary for output.
func (s Summary) JSON() JSON {
	str := func(i timebase.Instant) string {
		if i == 0 {
			return ""
		}
		return i.String()
	}
	return JSON{
		LIFirst: str(s.LIFirst), LILast: str(s.LILast), LI: int(s.LI),
		KernelSet: str(s.KernelSet), KernelCleared: str(s.KernelCleared), KernelFlag: s.KernelFlag.String(),
		MaxBackwardS: s.MaxBackward.Seconds(), MaxForwardS: s.MaxForward.Seconds(),
		Smeared: s.Smeared, Warnings: s.Warnings, InconsistentLI: s.LIChanged,
	}
}
