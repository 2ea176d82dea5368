// Package sim simulates the hardware gpsntpd disciplines: the board's clock, a GNSS receiver talking
// NMEA 0183 over a UART, and the receiver's pulse-per-second output captured by a GPIO interrupt. The
// models are seeded and run in virtual time, so a test covers hours of wander, outages and holdover in
// milliseconds and gets the same bytes for the same seed; RunRealtime runs the same models against the
// host clock for `gpsntpd -sim`. Only cmd/* and tests import this package; it is not a core, and
// RunRealtime sleeps.
//
// # Time model
//
// Truth is true UTC on the POSIX timescale (uniform time across a configured leap second: see Leap seconds
// below): virtual time in tests, the host clock in real-time mode (read, never touched). The board clock
// reads
//
//	board(t) = t + phase(t),   dphase/dt = y(t) (the fractional frequency error), plus steps.
//
// It is a chain of linear segments {truth0, board0, rate}; a new segment starts at every oscillator update
// (Osc.UpdateInterval, 1 s by default), step and frequency change. The newest segment is published through
// an atomic pointer, so the NTP server reads the board clock from many goroutines without a lock; the last
// 4096 segments are kept, so that a test scoring the servo reads the true board error of the recent past
// exactly, not extrapolated across later steering. Integer
// nanoseconds carry the bulk of the reading and float64 only the frequency-error term over one short
// segment, with the sub-nanosecond remainder carried from segment to segment, so readings stay exact to the
// nanosecond over days (at 50 ppm a day is 4.3 s of phase; a float64 of nanoseconds since 1970 would have
// a resolution of 256 ns).
//
// # Oscillator
//
// The free-running frequency error is y = InitialPPM + w(t) + a·ΔT + b·ΔT², with ΔT the crystal's
// temperature change since Start:
//
//   - InitialPPM: a board crystal (the Pi's 19.2 MHz XO) is specified to ±20..±50 ppm including
//     tolerance, ageing and temperature; one unit is typically 1..30 ppm off nominal. The simulator
//     accepts ±500 ppm, the Linux kernel's correction range.
//   - Wander w: a random walk of frequency (random-walk FM, the slope of an XO's Allan deviation at long
//     τ): the frequency moves by WanderPPMPerSqrtS·√τ over τ. 3e-4 ppm/√s gives about 0.02 ppm in an hour
//     and 0.09 ppm in a day, on the order of what a stable-temperature XO does; most of a Pi's real
//     frequency variation comes from temperature.
//   - Temperature: an AT-cut crystal near room temperature is close to linear, of order 0.1 ppm/°C
//     (TempCoeffPPMPerC), with curvature away from its turnover point (TempCoeff2PPMPerC2). The Pi's
//     crystal sits next to the SoC, so CPU load moves it by several °C with a time constant of minutes
//     (TemperatureProfile.Steps), on top of the day's swing and drafts (SwingC, NoiseC). At 0.1 ppm/°C a
//     5 °C load change is 0.5 ppm, half a microsecond per second: the servo must track it.
//   - The temperature sensor (TempSensor, World.TempSensor) reads that crystal temperature as a Pi's SoC
//     sensor would: offset, late by a first-order lag, noisy and quantized. It has a random stream of its
//     own, so a run with a sensor has the same oscillator as one without.
//
// Steering multiplies rather than adds: a correction s scales the clock's increments, so the total error
// is (1+y)(1+s)−1, as with the kernel's frequency adjustment; the cross term is 0.1 ns/s at 10 ppm.
//
// # Receiver
//
// The receiver describes UTC second S after the pulse that marks S, as u-blox and MTK receivers do: its
// epoch starts LatencyMean (± LatencyJitter, gaussian) after S, when the navigation solution is done,
// and is written to the UART byte by byte. Each byte is 10 bit times on the line (start bit, 8 data bits,
// stop bit), so at 9600 baud a byte takes 1.04 ms and a 600-byte epoch of RMC, GGA, GSA, GSV and ZDA
// takes 625 ms: the end of an epoch is far from the second it names, which is why labels must be paired
// with pulses by the start of the epoch, and why the daemon must not time anything by the last byte. The
// board sees the bytes in reads of ChunkBytes (a UART FIFO and the tty layer hand data over in chunks),
// each returning when its last byte's stop bit has arrived. If an epoch cannot start before the next
// second has fully passed (too many sentences for the baud rate), it is dropped, as a receiver whose
// transmit buffer overflows drops messages.
//
// Sentences have correct checksums and CRLF. Talker GP is a GPS-only receiver with NMEA 2.3 fields
// (u-blox 6, MTK3339); talker GN a multi-GNSS receiver with NMEA 4.10 fields (u-blox 8): GN for RMC, GGA,
// ZDA, one GSA per constellation with its system ID, and GSV under each constellation's own talker (GP,
// GL, GA) with a signal ID. Satellites fly circular orbits with each constellation's real inclination,
// radius and period over a rotating Earth, seen from the configured position: azimuth and elevation move
// as real ones do, C/N0 follows elevation with noise and an obstructed sector at low elevation, and the
// fix uses tracked satellites above 10°. PDOP, HDOP and VDOP are computed from that geometry. A fix needs
// four used satellites; the reported position wanders by PositionNoiseM.
//
// Without a fix (cold start, or an OutageNoFix interval) the receiver keeps talking: RMC status V, GGA
// quality 0, GSA fix type 1, satellites listed without C/N0, and the time from its own clock (correct);
// in the first ColdStartNoTime it does not know the time and leaves time and date empty. An OutageSilent
// interval has no bytes and no pulses at all. Starting without a cold start, the first read holds the
// tail of the previous epoch, as a serial port opened mid-sentence does.
//
// # PPS
//
// The pulse marking S leaves the receiver at S + Bias + jitter + quantization. Bias is the uncompensated
// cable and receiver delay (tens of ns; 5 ns per metre of coax). Jitter is the receiver's timing-solution
// noise (σ about 20 ns for a navigation receiver). Quantization is the sawtooth: the receiver can only
// start its pulse on a tick of its own clock (u-blox 8: 48 MHz, so ±10.4 ns); as its clock drifts against
// UTC the error slides through the tick period by SawtoothSlipNsPerS each second, a sawtooth whose value a
// timing receiver reports for the next pulse (TIM-TP qErr) and which Event.Pulse.QuantErr exposes. When the
// slip is near zero or a multiple of the period, the error holds still for a long time (a "hanging
// bridge") and no averaging removes it. The board timestamps the edge after the GPIO interrupt latency
// (a few µs with a small spread on a Pi), occasionally much longer (OutlierProb, OutlierLatency: another
// interrupt or a cache miss got there first). Pulses can be missed (MissingProb) and the line can glitch
// (SpuriousProb: an extra edge at a random time in the second). Without a fix a u-blox emits no pulse by
// default; with NoFixPulses it keeps pulsing from its free-running clock: at an arbitrary phase before its
// first fix, and drifting away from UTC by NoFixDriftNsPerS after losing one.
//
// # Leap seconds
//
// Config.Leap puts one leap second into the world. Truth is then uniform time, a leap-free count of SI
// seconds that equals POSIX time before the event (leap.POSIXFromUniform): the oscillator counts it, pulses
// come every uniform second, and the receiver labels each with its POSIX UTC name, naming the inserted
// second 23:59:60, 23:59:59 again, or nothing at all (LeapConfig.Label), as receivers differ there. With
// Report it also sends, each epoch, UBX NAV-TIMELS (GPS-UTC, its source, the next leap and the seconds to it)
// and PUBX,04 (GPS-UTC, suffixed D while it is the firmware default); what it announces can be made wrong
// (AnnounceAt, AnnounceChange) and it can forget everything after a cold start (ForgetFrom), for the
// daemon's bad-input tests.
//
// The board clock applies a leap second as the Linux kernel does, not as truth does: armed through
// SetLeapAt (or the Steerable's SetLeap, which makes it a timebase.LeapClock, as adjtimex's STA_INS and
// STA_DEL), it steps back by one second when its own reading reaches the next 00:00:00 (insertion), or
// forward when it reaches 23:59:59 (deletion), once, then waits until the flag is cleared (TIME_WAIT). A
// board a few microseconds off applies the leap that far off truth's midnight, as a real one would. While
// armed, a reading first brings the clock up to date, so no reader sees a midnight the kernel would have
// acted on. A board clock that is never armed never steps: the daemon must arm it.
//
// # Determinism and ground truth
//
// Every model draws from its own PCG stream of the seed, so the same seed and config give the same event
// stream byte for byte, and changing one model's parameters does not reshuffle another's noise. Steering
// changes the board timestamps, not the events. Events carry ground truth for scoring (the second a chunk
// or pulse belongs to, the pulse's emission time, quantization and capture latency), and the board clock
// gives its true error at any truth instant (ErrorAt) and its true frequency error (FrequencyErrorPPM).
//
// Outside dependencies: none but the standard library (math/rand/v2's PCG for reproducible streams). The
// tests parse the NMEA output with github.com/adrianmo/go-nmea, an independent parser, so that the
// generator is not checked against itself.
package sim
