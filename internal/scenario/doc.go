// Package scenario runs the real daemon loop (internal/daemon.Core: receiver decoder, PPS pairing, servo)
// against a simulated box (internal/sim) in virtual time, and scores what a client of the box would have
// received: the true error of the served clock, second by second, against the error bound the box published.
//
// A scenario is a named sim.Config and servo configuration plus a scoring window, so that
// `gpsntpctl simulate`, the tests and the benchmarks measure exactly the same thing for a seed. Everything is
// deterministic per (scenario, duration, seed): the figures are reproducible to the nanosecond.
//
// # What is measured
//
// Once per second of truth t the scorer reads the board clock's true error e(t) = board(t) − t (the served
// clock is the board clock). The daemon is configured with the PPS bias the simulated hardware has on average
// (cable and receiver delay plus the mean interrupt latency): a calibrated box, so that a constant calibration
// error is excluded from e, and what remains is what the discipline controls.
//
//   - lock_s: from the first valid fix the daemon decoded to the first second L from which |e| < 1 µs holds at
//     every second until the reference goes away (or the run ends): lock is "sustained", not touched once.
//     null when that never happens.
//   - rms_ns, p99_abs_ns, max_abs_ns: over the scenario's scored window. With the reference present (cold-start,
//     bad-pps) it is the steady state, from 120 s after the first fix to the end; in holdover-1h it is the
//     holdover hour.
//   - bound_violations: seconds at which the box claimed to be synchronized (LI ≠ 3) and |e| exceeded the root
//     dispersion it would have served at that instant (Snapshot.RootDispersionAt): the bound is a promise,
//     every second of the whole run is checked.
//   - bound_over_true_p50: the median over the scored window of bound / |e| (|e| floored at 1 ns): how tight the
//     promise is. 1 is a bound equal to the error; the holdover target is at most 3.
//
// # Scenarios
//
//	cold-start   the default Pi + u-blox 8 box starting ±20 ppm off (sign from the seed) and 1.23 s off, no fix
//	             for the first 30 s; pulse σ 20 ns, sawtooth ±10.4 ns, GPIO latency 5 µs ± 1 µs with 0.2 %
//	             outliers of ~50 µs.
//	holdover-1h  the same box trained for duration − 1 h (24 h by default), then the receiver goes silent for an
//	             hour while the crystal's temperature ramps by 1 °C/h (0.1 ppm/h at 0.1 ppm/°C), on top of the
//	             daily swing and the fluctuations. holdover-1h-noisy has the default 0.3 °C fluctuations;
//	             holdover-1h-temp and holdover-1h-noisy-temp add the board's SoC temperature sensor
//	             (sim.TempSensor, read every 2 s into daemon.Core.Temperature), from which the servo learns
//	             the crystal's tempco and steers the hour: the same world and seed, one input more.
//	bad-pps      cold-start with a bad line: 5 % of pulses missing, a spurious edge in 5 % of seconds, 1 % of
//	             captures delayed by ~50 µs, and twice a receiver that names the wrong second for one epoch (a
//	             one-second label slip, written into the NMEA byte stream: internal/sim has no such fault).
//	leap-2016, leap-delete, leap-gps-only, leap-file-only, leap-disagree
//	             a leap second 15 minutes into a 20-minute run (by default), through the real daemon loop with a
//	             leap table (built-in or a synthetic, hash-verified leap-seconds.list) and a receiver that
//	             announces it or not (UBX NAV-TIMELS and PUBX,04) and labels it 23:59:60, 23:59:59 again, or
//	             not at all; see leap.go for each. The simulated board clock applies the leap second as Linux
//	             does, at its own midnight, when the daemon has armed it.
//	dac-ocxo     a DAC-steered OCXO disciplined to the GPS PPS, with the DAC's gain calibrated first (dac_ocxo.go);
//	             dac-ocxo-holdover adds an hour without GPS while the oven warms 1 °C/h.
//
// # Leap seconds
//
// With a leap second in the world, truth is uniform (leap-free) time and the error is scored against UTC as
// POSIX time, 23:59:59 repeated: what a correct kernel clock reads (within two seconds of the leap, against
// the POSIX second on the board's side of its step, which it takes at its own midnight, nanoseconds off
// truth's). The summary then has a "leap" object from a leap.Recorder fed once per second: the served LI,
// the board's reading, the kernel flag the board holds, and the daemon's leap warnings. Served time is
// judged from the first second the box claims sync (before that the recorder is given UTC itself, so the
// cold-start step is not taken for a leap artefact); the LI and kernel-flag instants are board readings.
// Scenarios without a leap second have no "leap" object: their summary is unchanged.
//
// Only cmd/* and tests import this package (it imports internal/sim).
package scenario
