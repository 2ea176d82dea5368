// Package discipline turns offset samples (board clock minus the GPS/PPS reference) into steering commands
// for a timebase.Steerable, runs the sync state machine, and publishes the immutable Snapshot the NTP server
// serves from, with an error bound that stays honest when the reference goes away.
//
// # States
//
//	unsynced ──first sample──▶ locking ──LockSamples with |θ̂|+3σ < LockThreshold──▶ locked
//	    │ |offset| > StepThreshold (before the first lock only)        ▲      │ no sample for HoldoverAfter
//	    ▼                                                              │      ▼
//	stepping ──next sample──▶ locking                     sample ──────┴── holdover
//
// Before the first lock the snapshot says LI=3, stratum 16: no client takes time from a box that has not
// proven itself. After it the clock is never stepped, unless PanicSamples consecutive samples all lie beyond
// the step threshold (a confirmed jump of the reference); anything smaller is slewed through frequency, within
// ±MaxFrequencyPPM, so served time never jumps. After the first lock the error bound alone decides what is
// served: stratum 1 while it is under HoldoverStratum1Limit, HoldoverStratum (synchronized, second-rate) up to
// HoldoverUnsyncLimit, then LI=3 stratum 16.
//
// # The servo: a two-state Kalman filter and a planned slew
//
// The state is the board clock's phase θ and its free-running oscillator's fractional frequency y; the
// correction u the servo applies is a known input, so the filter predicts exactly what its own steering does
// (see kalman). Process noise is random-walk FM (Config.WanderPPMPerSqrtS) plus a little white FM; the
// measurement noise r (the PPS capture jitter) is re-estimated from the innovations, E[ν²] = P⁻θθ + r, with a
// 128-sample memory, so the same servo fits a kernel PPS at 1 µs and a timestamping counter at 20 ns. Each
// sample is gated: an innovation beyond GateSigmas·√(P⁻θθ + r) is an outlier (a late interrupt, a glitch that
// got through), counted and replaced by the prediction; GateReset of them in a row mean the reference or the
// oscillator really moved, and the filter re-learns from the sample, widening its frequency uncertainty to
// explain the run. After each estimate the servo cancels the estimated frequency error and plans to remove the
// estimated phase over SlewTime (4 s), then return to the bare frequency estimate; the slew's end is a timer
// returned by Tick, so a servo that stops receiving samples is left coasting on its frequency estimate, not
// slewing on. A correction is applied when the servo knows the instant: at once when Sample.Now says when the
// sample was handed over, else at the next Tick (the label, and so the sample, arrives up to a second after
// its pulse; a correction entering the prediction at an unknown instant makes the loop ring while the
// frequency is being learned). In today's daemon the epoch that yields a sample is completed by the decoder's
// quiet-line deadline inside Core.Tick, so the correction goes out in the same Tick either way.
//
// Why a Kalman filter rather than the PI loop (or chrony's PLL/FLL and regression): the filter's phase estimate
// is already the optimal average of the capture noise for the oscillator model, so the controller can act on
// it quickly without passing the noise to the clock, and the filter's covariance is exactly the uncertainty the
// error bound needs. A PI loop must trade one against the other with one time constant, and has no
// uncertainty to publish. For 1 µs of white capture noise the Riccati equation puts the floor of the phase
// estimate at about 230 ns RMS for the default Pi crystal model (1.5e-3 ppm/√s short-term wander from its
// temperature fluctuations), 155 ns for a crystal wandering only 3e-4 ppm/√s, and below 100 ns only with
// capture jitter under about 0.33 µs (0.30 µs: 92 ns) or a quieter oscillator: no causal servo gets under
// that floor. (Rechecked against the cold-start scenario's model: its crystal's temperature noise, 0.3 °C σ
// at 0.1 ppm/°C with a 15 min time constant, moves the frequency on the filter's time scale of half a minute
// like a random walk of intensity 2σ²/τ, (1.41e-3 ppm/√s)², which with the 3e-4 ppm/√s random walk makes
// 1.45e-3 ppm/√s; with r = (1 µs)² plus the pulse's 20 ns and the sawtooth's residue, the discrete Riccati
// iteration at one sample a second gives 229 ns after the update, 235 ns before it. The capture latency is
// Gaussian, so no non-linear estimator, a minimum filter say, beats the linear one. Seeds 1/2/3 measure
// 231/303/256 ns over the 18 minutes scored, about one time constant of the temperature noise, whose realized
// size varies from seed to seed.) The defaults come from a sweep over cold-start seeds 1-6 (RMS over the six): a wander prior of
// 0.5e-3, 1e-3, 1.5e-3, 3e-3 ppm/√s gave 352, 273, 261, 274 ns at a 4 s slew time, and slew times of 1, 2, 4,
// 8 s gave 253, 255, 261, 273 ns at 1.5e-3; 4 s keeps the frequency swings gentler for 3 % of RMS.
//
// # The error bound
//
// The bound h seconds after the last sample is |predicted phase| + spread(h) + drift(h) + lag(h) + precision:
//
//   - spread: BoundSigmas (5) standard deviations of the filter's phase prediction; in a long holdover, once
//     the record allows, HoldoverSigmas (3) times the RMS of the random part of the miss measured by holdover
//     trials (see wanderLearner): every 128 s the servo notes where it would have coasted and, 256 to 4096 s
//     later, how far off that would have been. The random part is the half difference of the misses of two
//     trials one horizon apart (Hadamard's idea: a drift steady over both windows cancels, the frequency
//     error at the start, the random walk and the short-term temperature noise stay), because the drift the
//     record saw is the drift term's to cover: measured into the spread as well, it was counted twice. The
//     trials also choose which frequency estimate to coast on (the filter's, or a longer least-squares slope
//     of the free-running phase), on the raw miss, drift and lag included.
//   - drift: a frequency that may ramp at DriftPPMPerHour (0.2 ppm/h: 2 °C/h at 0.1 ppm/°C) up to MaxDriftPPM
//     (2 ppm), or faster when the record has shown faster drift: a temperature ramp is steady, not random, and
//     no wander statistic covers it.
//   - lag: the estimate coasted on lags a drifting frequency (the filter's steady-state delay p00/p01 − ½ s,
//     30-40 s here; 2τ for a fit of memory τ), an error of drift rate × lag × h the drift-free spread leaves
//     out; the rate is the drift before the holdover, so 1.5 times the largest the record measured.
//
// With a temperature sensor (Servo.Temperature) and a fit that has earned trust, a holdover is steered by the
// learned frequency-temperature coefficient and the drift term is replaced by the fit's uncertainty, the
// sensor's lag and quantization and the fit's residual; the spread is then measured on the compensated
// prediction (see tempcomp.go).
//
// The snapshot's dispersion is linear in time while the bound is not (h² in holdover), so the servo publishes
// the steepest chord of the bound from the last sample over the next 16 s (see Snapshot): the root dispersion
// the server computes at any instant until the next snapshot is at or above the bound.
//
// # Figures
//
// From `gpsntpctl simulate` (internal/scenario: the real decoder, pairing and servo against internal/sim in
// virtual time; error = served board clock − truth, calibrated bias excluded), seeds 1/2/3, before (the
// foundation's PI servo, Kp 0.2, Ki 0.02) and after (this servo, defaults):
//
//	scenario      figure                  PI servo (before)         Kalman (after)
//	cold-start    lock after first fix    never/1101 s/never        23/22/43 s
//	(20 min)      steady-state RMS        465/503/426 ns            231/303/256 ns
//	              p99 |error|             1221/1298/1073 ns         616/685/564 ns
//	              max |error|             1389/1555/1276 ns         693/760/620 ns
//	              bound violations        0/0/0                     0/0/0
//	bad-pps       lock after first fix    never/never/never         18/21/48 s
//	(30 min)      steady-state RMS        525/539/496 ns            269/296/291 ns
//	              max |error|             1798/1890/1976 ns         599/693/814 ns
//	              bound violations        0/0/0                     0/0/0
//	holdover-1h   max |error| in the hour 47/889/1233 µs            207/192/223 µs
//	(24 h + 1 h)  bound/true, median      125/16.7/17.0             3.51/5.58/3.00
//	              bound violations        0/0/0                     0/0/0
//
// holdover-1h, bound/true at the median with the drift-free spread and the lag term (before them in
// brackets); the median bound fell from 152-171 µs to 140-161 µs. Seeds 1-20, used while developing them:
// ≤ 3 on 16 of 20 (14). Seeds 101-115, first run on an intermediate version: 2.39 (2.65), 1.80 (1.99),
// 3.72 (4.10), 2.96 (3.15), 2.29 (2.50), 2.29 (2.51), 1.49 (1.57), 3.01 (3.34), 6.08 (6.29), 3.56 (3.82),
// 2.95 (3.10), 3.37 (3.77), 2.27 (2.54), 1.84 (2.04), 2.11 (2.23): ≤ 3 on 10 of 15 (8). Seeds 201-215, run
// only on this version: 3.19 (3.52), 3.37 (3.64), 2.14 (2.34), 2.70 (2.86), 4.49 (4.71), 2.24 (2.43),
// 1.63 (1.72), 2.24 (2.45), 2.14 (2.39), 1.66 (1.87), 2.32 (2.59), 2.16 (2.43), 2.32 (2.50), 1.94 (2.10),
// 3.18 (3.31): ≤ 3 on 11 of 15 (11). No violations in any of the 50. In the noisier holdover-1h-noisy
// (0.3 °C fluctuations) seeds 1/2/3: 12.0/6.09/6.09 (12.2/6.27/4.14; seed 3 now coasts on another
// estimate, the candidate being chosen on the raw miss), no violations.
//
// ("never": |error| did not stay under 1 µs for the rest of the run.) The RMS is at the Riccati floor above; the
// 100 ns target needs better capture hardware, not a better servo. In holdover-1h the hour's error is mostly the
// 1 °C/h ramp itself (0.1 ppm/h: 180 µs in an hour), which no servo can foresee; the PI servo's small error for
// seed 1 is luck (its proportional term kept slewing at the last offset, which happened to cancel the ramp),
// its 16-125x looser bound is not. Why the median ratio cannot be under 3 for every seed: the ratio falls with
// h, so its median over the hour is its value at 30 minutes. There the bound is the drift term (0.2 ppm/h:
// 92 µs), three RMS of the random part (3 × ≈ 20 µs: the random walk 13 µs, the temperature noise 7 µs, the
// filter's frequency error at the start, ≈ 6 ppb, 11 µs), and the lag (1.5 µs): 153 µs. The true error is
// the ramp, 1 °C/h plus the day's swing at its steepest, 0.52 °C/h, at 0.1 ppm/°C: 0.15 ppm/h, 68 µs, plus the
// same random part, σ ≈ 20 µs. The ratio is ≤ 3 when that sum is ≥ 52 µs: when the random part does not
// oppose the ramp by more than 0.8 σ, 79 % of seeds (observed: 37 of 50). Only a bound that knew the ramp
// (a temperature sensor) or trusted less than 3 σ of the random part could do better.
//
// # Temperature compensation: figures
//
// holdover-1h-temp and holdover-1h-noisy-temp are the same worlds and seeds with the simulated SoC sensor
// (8 °C offset, 0.1 °C noise per reading, 1 m°C steps, 30 s behind the crystal) read every 2 s. Seeds
// 301-315 of holdover-1h, none used while developing, without → with the sensor (medians over the seeds):
// max |error| in the hour 290 → 52 µs (worst 356 → 112 µs), RMS 133 → 26 µs, median bound 149 → 93 µs,
// bound violations 0 → 0. The median bound/true ratio rises from 1.88 to 4.4 (≤ 3 on 14 → 1 of 15 seeds):
// the error fell by 5.6x, the bound by 1.6x, because what is left of the bound is three RMS of the random
// part (the random walk, the frequency error at the start: ≈ 50 µs at 30 minutes) that no sensor sees, plus
// 5σ of the coefficient over the temperature excursion; the bound is no longer mostly the blind ramp.
// holdover-1h-noisy, seeds 301-308: max |error| 303 → 30 µs, median bound 244 → 86 µs (the compensated
// record no longer counts the temperature noise as wander), ratio 2.78 → 5.8, no violations. The learned
// coefficient on holdover-1h-temp seeds 301-315 and 1 was 0.077-0.102 ppm/°C (true 0.1) with σ ≈ 0.0073:
// low by 0.9 σ on average (spread 0.85 σ, worst 3.1 σ), which the bound's 5 σ covers. The sensor's lag and
// noise do not explain that bias (both switched off in TestHoldoverTemperatureCompensated's model moved k̂
// by under 0.3 σ); its cause is not yet known.
package discipline
