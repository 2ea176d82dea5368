// Package servocmp measures gpsntp's PPS discipline against chrony's in the same simulated conditions:
// the same seeded board oscillator (initial frequency error, wander, temperature) and the same PPS
// captures (receiver jitter, sawtooth, interrupt latency and its outliers), fed to our daemon loop and to a
// real chronyd, scored the same way. cmd/servobench is its command line; `make bench-servo` runs it.
//
// # Why a real chronyd
//
// A model of chrony would compare us with our reading of chrony. The Debian chronyd is run instead, as a
// chrony user runs it with a PPS source, and only its logs are read.
//
// # chronyd -x keeps a virtual clock
//
// chronyd is only ever started with -x. Then it does not touch the host clock: its null clock driver
// (sys_null.c) keeps the corrections it would have applied as an offset register and a frequency, and its
// own (cooked) time is raw + correction. That is the clock scored here. Checked by experiment (scenario
// "ideal": board 1 ms and +5 ppm off, noiseless pulses): chrony's tracking.log reports a frequency of
// 5.000 ppm and the error recovered below goes from 1 ms to under 1 ns within 20 s. Two properties of the
// null driver matter: an offset correction takes effect at once (a kernel would slew it through the
// frequency over a few update intervals), and a step is refused ("Could not step system clock": with
// `makestep 1 3` chrony then leaves the 1.23 s of the cold start uncorrected for its first three
// updates), so no makestep is configured and chrony corrects the 1.23 s as an ordinary offset, at its
// first update, at once. So what is measured is chrony's control loop without the
// kernel's slew: corrections land without lag, but each update's estimation noise also lands in the clock
// at once; which way that moves chrony's figures against a real kernel is not measured here.
//
// # Feeding chrony the simulated box
//
// chrony's raw clock stands for the free-running board clock: a board reading b becomes the host-clock
// instant H(b) = t0 + (b − start), t0 and start whole seconds, so a reading's fraction of a second is
// kept. The simulated World runs in virtual time, never steered (steering changes only the board's
// timestamps, never the events or the oscillator's noise, so this is the oscillator our loop disciplines),
// and its captures are sent to chrony in real time, each at its raw time plus 1 ms, over chrony's refclock
// SOCK protocol (see SockSampleSize for the datagram). Two feeds (Feed):
//
//   - labelled: one SOCK refclock gets a full sample per genuine pulse, "at raw H(capture) the time was
//     H(label)", as gpsd sends PPS to chrony. Spurious edges are not sent, which flatters chrony.
//   - pps-lock: chrony pairs pulses itself, as with `refclock PPS /dev/pps0 lock NMEA`: a noselect NMEA
//     refclock gets each valid NMEA epoch stamped at its first chunk's arrival (its offset calibrated to
//     the median delay, as our daemon is given its PPS bias), and a PPS refclock locked to it gets every
//     captured edge, spurious ones included, as a bare pulse: SOCK's pulse flag makes chrony call the same
//     RCL_AddPulse its PPS driver calls, with the timestamp's fraction of a second.
//
// Missing pulses send nothing; a label slip goes out as the receiver sent it (scenario writes it into the
// NMEA bytes our daemon reads; here it is the label of the epoch and, with labelled, of the pulse).
//
// # Recovering chrony's error
//
// chrony's refclocks.log gives each sample's cooked offset, ref − cooked; knowing what was sent and the
// board's true error e at that second, chrony's true error is E = offset sent + e − cooked offset (see
// Recover for the derivation, and how log lines are matched to samples). It is known at each second chrony
// got a pulse: every second in cold-start, about 95 % of them in bad-pps.
//
// # Scoring
//
// Our side is scenario.RunSetup on the same setup and duration: exactly what `gpsntpctl simulate` prints.
// chrony's side is scored with the same definitions (Score): the window is scenario's steady state, from
// the first fix + 120 s to the end (fixed, the same for both, rather than "after each declares lock": the
// two disciplines declare lock by different rules, and a window that starts at a fixed time after the fix
// charges each for how long it takes to settle); lock_s is the start of the last run of |error| < 1 µs
// that lasts to the end (at least 60 s), from the first fix. Ratios are chrony's figure over ours.
//
// chrony runs in real time, so a run takes its simulated duration of wall-clock time, and its figures can
// vary slightly from run to run (its poll timer runs on the host clock, so which samples share a poll can
// move by a sample); ours are reproducible to the nanosecond.
//
// Only cmd/* and tests import this package (it imports internal/sim and internal/scenario). No outside
// dependency: the standard library and the chronyd binary.
package servocmp
