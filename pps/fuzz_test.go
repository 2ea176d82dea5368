package pps

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// FuzzPairer drives a pairer two ways. Mode 0 builds a world from the input: a true board-clock offset, and
// per second a pulse (possibly missing, repeated, late by an interrupt outlier, with a quantization report),
// glitches, and a label (possibly missing, invalid, or a second off). Every sample must then be within
// capture noise of the truth, except by whole seconds after a confirmed label jump. Mode 1 feeds arbitrary
// edges and labels with arbitrary timestamps: no panic, counts consistent.
func FuzzPairer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0x12, 0x34, 0x56, 0x78, 0x02, 0x80, 0x00, 0x40, 0x08, 0x10, 0x01, 0x02, 0x20, 0x04, 0, 0x48, 0x18})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0x00, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08, 0x08})
	f.Add([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		if data[0]&1 == 1 {
			raw(t, data[1:])
			return
		}
		world(t, data[1:])
	})
}

func world(t *testing.T, data []byte) {
	trueOff := time.Duration(int32(binary.BigEndian.Uint32(data))) * 997 * time.Microsecond
	data = data[4:]
	p := NewPairer(0)
	seq := uint64(0)
	prevSlip, havePrev := 0, false // the slip of the last label that set the numbering anchor
	for s, op := range data {
		pulse := sec(s).Add(trueOff)
		qd := time.Duration(int(op)%41-20) * time.Nanosecond // the pulse left qd late
		latency := time.Duration(op) * 3 * time.Nanosecond   // capture noise
		if op&0x80 != 0 && op&0x40 != 0 {
			latency += 50 * time.Microsecond // interrupt outlier
		}
		if op&0x40 != 0 {
			p.QErr(QErr{Pulse: sec(s), PS: int32(-qd / time.Nanosecond * 1000), Received: pulse.Add(-600 * time.Millisecond)})
		}
		if op&0x01 == 0 {
			seq++
			e := timebase.Edge{Time: pulse.Add(qd + latency), Seq: seq, Rising: true}
			p.Edge(e)
			if op&0x80 != 0 {
				p.Edge(e) // repeated
			}
		}
		if op&0x02 != 0 {
			seq++
			// Glitches between 100 and 900 ms into the second, moving 37 ms a second: noise that never lines
			// up on a 1 s grid with a pulse or another glitch within MaxGap. (Glitches that do form a second
			// 1 Hz train are told apart from the pulses only by the numbering check; see Pair.)
			at := 100*time.Millisecond + time.Duration(s)*37*time.Millisecond%(800*time.Millisecond)
			p.Edge(timebase.Edge{Time: pulse.Add(at), Seq: seq, Rising: true})
		}
		if op&0x04 != 0 {
			continue // no label this second
		}
		l := timebase.TimeLabel{Second: sec(s), Valid: op&0x20 == 0, Received: pulse.Add(time.Duration(op)*3*time.Millisecond + 5*time.Millisecond)}
		slip := 0
		if op&0x08 != 0 {
			slip = -1
			if op&0x10 != 0 {
				slip = 1
			}
			l.Second = sec(s + slip)
		}
		smp, o := p.Pair(l)
		checked := o == OutcomePaired || o == OutcomeConfirming || o == OutcomeOutlier
		agreed := havePrev && prevSlip == slip
		if checked {
			prevSlip, havePrev = slip, true
		}
		if o != OutcomePaired {
			continue
		}
		err := smp.Offset - trueOff
		k := roundSeconds(err)
		resid := err - time.Duration(k)*time.Second
		// The sample must come from this second's pulse: its whole-second error is the label's own slip ...
		if k != int64(-slip) {
			t.Fatalf("second %d: sample %v off the truth %v by %v with a label slip of %d s", s, smp.Offset, trueOff, err, slip)
		}
		// ... and a slipped label yields a sample only when it agrees with the numbering of the last label
		// that passed (a receiver consistently wrong from the start is indistinguishable from one that is
		// right; a lone slip never passes, since a start needs two agreeing labels) or after a confirmed jump.
		if k != 0 && !agreed && p.Counts().LabelJumps == 0 {
			t.Fatalf("second %d: one slipped label became a sample %v (truth %v)", s, smp.Offset, trueOff)
		}
		// Spurious edges can land on the grid only within the interval tolerance of a pulse position.
		if resid > 10*time.Millisecond || resid < -10*time.Millisecond {
			t.Fatalf("second %d: sample %v off the truth %v by %v", s, smp.Offset, trueOff, err)
		}
	}
	checkCounts(t, p.Counts())
}

func raw(t *testing.T, data []byte) {
	p, err := New(Config{OnTime: Polarity(data[0] % 3), Bias: time.Duration(int8(data[1])) * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	data = data[2:]
	for len(data) >= 9 {
		v := timebase.Instant(binary.BigEndian.Uint64(data[1:]))
		switch data[0] % 5 {
		case 0, 1:
			p.Edge(timebase.Edge{Time: v, Seq: uint64(data[0] >> 3), Rising: data[0]&1 == 0})
		case 2:
			p.QErr(QErr{Pulse: v.Truncate(time.Second), PS: int32(v), Received: v - timebase.Instant(data[0])*timebase.Second/8})
		default:
			l := timebase.TimeLabel{Second: v.Truncate(time.Second), Valid: data[0]&0x80 == 0, Received: v + timebase.Instant(data[0])*timebase.Second/64}
			smp, o := p.Pair(l)
			if o == OutcomePaired && smp.Second != l.Second {
				t.Fatalf("sample for second %v from label %v", smp.Second, l.Second)
			}
		}
		data = data[9:]
	}
	checkCounts(t, p.Counts())
}

func checkCounts(t *testing.T, c Counts) {
	t.Helper()
	if c.Rejected != c.Repeats+c.Spurious+c.BadWidth {
		t.Fatalf("rejected %d != repeats+spurious+badwidth: %+v", c.Rejected, c)
	}
	if c.Paired+c.Unpaired+c.InvalidLabels+c.LabelSlips+c.PhaseSlips+c.Outliers+c.BadOffsets+c.Confirming != c.Labels {
		t.Fatalf("label outcomes do not add up: %+v", c)
	}
}
