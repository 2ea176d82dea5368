// Package pps validates pulse-per-second edges and pairs each with the receiver's label for the second it
// began, yielding offset samples (board clock minus reference) for the discipline. It is pure: edges, labels
// and quantization reports go in with their board-clock timestamps, samples and typed outcomes come out.
//
// # Pairing
//
// Pairing is by arrival order on the board's own clock, not by rounding the edge to the nearest second: a
// receiver sends the sentences naming second S after the pulse that began S (u-blox, MTK and most others), so
// the pulse that began S is the latest verified edge captured before the label's first byte arrived, and no
// more than LabelWindow (1 s) before it. That holds whatever the board clock's offset, so the first sample
// after a cold start measures a clock that is seconds or years off just as well as one that is nanoseconds off.
//
// # Edge validation
//
//	board time ──┬─────────────┬───┬─────────┬────────────┬──────────────▶
//	             P0            g   P1        (P2 missing)  P3
//	             │◀── 1 s ± tol ──▶│◀──────── 2 s ± 2·tol ──▶│
//
// An edge is verified when an earlier edge (kept in a short history, accepted or not) lies a whole number of
// seconds before it, within IntervalTolerance per second of gap: P1 is verified by P0, P3 by P1 (and one
// missing pulse, P2, is counted). The glitch g fits no grid and is counted as spurious, as is any edge less
// than MinInterval (50 ms) after a verified pulse (ringing, bounce); neither is ever paired, so a glitch
// between a pulse and its label cannot steal the label. Because off-grid edges stay in the history, a pulse
// train that moved as a whole (a receiver aligning its free-running pulse to UTC) is re-learned within a
// couple of seconds. The first edge after a start, a Reset or a long silence has nothing to be verified by and
// is held unverified. Repeats (same sequence number or timestamp as the edge before) are dropped.
//
// When both edges of the pulse are captured (Config.OnTime names the on-time polarity), each trailing edge
// measures the pulse width; a width outside [MinWidth, MaxWidth] marks its pulse bad (a glitch pair, a noisy
// line). A width can veto only a pulse not yet paired: with a 100 ms pulse and labels arriving earlier than
// that, the check is a counter, not a gate, and edge verification above is the real protection.
//
// # Labels that disagree with the pulse
//
// Each sample keeps an anchor: the last pair (pulse board time, offset) that passed. The next pair must follow
// it: its offset may differ by no more than the board clock can drift in between (IntervalTolerance per
// second). A difference of whole seconds is a label slip (a receiver naming the wrong second, a label that
// belongs to another pulse); a smaller one is a phase slip (a glitch that happened to verify, a pulse that
// moved). Either is withheld and counted: a one-second slip never becomes a one-second offset. If JumpConfirm
// consecutive pairs agree with each other on the new numbering or phase, the receiver's time really jumped;
// it is accepted (counted as a jump, the sample flagged) and samples flow again, so that the servo's own step
// rules, not this package, decide whether the clock moves.
//
// After a start, a Reset or a gap longer than MaxAnchorAge there is no anchor: the first pair only proposes
// one (OutcomeConfirming) and the second must agree with it. With the unverified first edge, the first sample
// thus comes from the third pulse after a start or a step: two seconds spent so that neither a lone glitch nor
// a lone slipped label can ever reach the servo. When two verified pulse trains fall in a label's window (a
// periodic glitch), the one on the anchor's grid is taken; with no anchor yet, neither is. The one case this
// cannot tell apart is a receiver that is consistently wrong from its first label, or a glitch train that is
// consistently on a 1 s grid while the true pulse is missing: nothing in the data distinguishes those.
//
// # Outliers
//
// Accepted offsets pass a robust gate (see Gate): the next offset is predicted from the last one and the
// median rate of change of recent offsets (so a clock that is being slewed is not mistaken for a noisy
// one), and a residual beyond K·σ, with σ from the median absolute deviation of recent rates, is an outlier:
// counted, not fed to the servo. A few outliers in a row mean the world changed, not the sample: the gate
// re-learns from there.
//
// # Bias and quantization error
//
// Edge timestamps are late by the capture path's latency (interrupt and timestamping, cable, receiver), a
// constant Bias subtracted before the offset is formed.
//
// A receiver can start its pulse only on a tick of its own clock, so each pulse is off by up to half a tick
// (u-blox 8: 48 MHz, ±10.4 ns), a sawtooth over time. A timing receiver reports that error for the next pulse
// (u-blox UBX-TIM-TP qErr, picoseconds, sent in the second before the pulse it describes). Convention used
// here: qErr = ideal − actual, so the ideal pulse is at actual + qErr and the edge timestamp is corrected by
// adding qErr. u-blox's interface description says only "quantization error of time pulse"; the sign is the
// one measured in practice: Anders Wallin's F9T test (time-interval counter started by a reference and
// stopped by the u-blox pulse, i.e. measuring pulse − reference) finds the data smooth when qErr is added,
// and independent F9T/TIC tooling (clkpoc's PairQerr) adds qErr to the GNSS pulse's reference timestamp. A
// report is applied only to the pulse it names (its second, when TIM-TP gave one) and only to an edge
// captured within a second after the report arrived; anything else is counted and ignored, since a correction
// applied to the wrong pulse doubles the error it meant to remove.
package pps
