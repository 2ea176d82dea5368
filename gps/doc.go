// Package gps decodes what a GNSS receiver sends over its serial port — NMEA 0183 sentences and u-blox
// UBX frames, interleaved, with whatever else the line carries — into epochs: one record per navigation
// solution (normally one per second) holding the time label the PPS discipline pairs with a pulse, the
// fix, the satellites, DOPs, leap-second information and the receiver's identity.
//
// It is the pure core of the receiver path: bytes and their receive times go in (Write), completed epochs
// come out (Next), and the caller is told when to come back (Deadline, Flush). It reads no clock and opens
// nothing; the serial edge (gps/serialdev) owns the device.
//
// # Framing
//
// The byte stream is scanned for frame starts; everything between frames is counted as other bytes
// (other binary protocols such as Trimble TSIP, line noise, a log's comment lines):
//
//	NMEA:  '$' address ',' fields '*' HH CR LF      HH = XOR of the bytes between '$' and '*', in hex
//	UBX:   0xB5 0x62 class id len(2, LE) payload[len] CK_A CK_B    (8-bit Fletcher over class..payload)
//
// A sentence is accepted only whole: printable ASCII up to its terminator, at most 512 bytes, the
// checksum exactly before CR/LF and right. A sentence that runs into binary, into another '$', or into a
// tag block is malformed, and scanning resumes at the offending byte, so the next frame is not lost. A
// sentence without a checksum is counted and never used: for a time server, an unchecked line is not
// evidence. A UBX frame with a bad checksum, an unknown class or a length beyond what its class can have
// costs only its sync byte: scanning resumes right after it, so a real frame hidden inside a false one is
// still found. Incomplete frames wait in a buffer bounded by the largest frame, and a sentence that is
// still arriving is not re-checked from its start on every read, so byte-at-a-time reads stay linear.
//
// # NMEA parsing and why go-nmea
//
// Verified sentences that name a time or a fix (RMC, GGA, GNS, GLL, ZDA, GST, TXT, PUBX) go through
// github.com/adrianmo/go-nmea, the project's chosen NMEA library: its SentenceParser splits a sentence
// into talker, type and fields and dispatches on the type, and its field parser reads the fields. We do
// the framing and checksum ourselves, because the library works on whole strings and cannot resynchronise
// in a byte stream, and tell it to skip its own checksum check. For these types we register parsers of our
// own into it (nmea.go says why for each): its built-in ones read times with a regular expression and
// coordinates through fmt.Sprintf (15 allocations for an RMC, against 3 with ours), reject standard GGA fix
// qualities 7 and 8 and a whole RMC for an odd course field, lack GST and the u-blox PUBX,00 and PUBX,04
// (the GPS-UTC leap seconds), and panic on a TXT without counters. A panic inside the library is caught and
// counted as malformed. GSV and GSA, most of the bytes of a multi-GNSS receiver and nothing the time label
// depends on, are walked in place without the library and without allocating (satlist.go).
//
// Talkers are not restricted: GP, GN, GL, GA, GB, BD, GQ, QZ, GI and nonstandard ones such as IN (marine
// integrated navigation) parse alike; the talker only maps satellites to constellations (GN and unknown
// talkers by satellite number and NMEA 4.11 system ID). Types we do not use (VTG, GBS, proprietary
// sentences, AIS) are counted as unknown without being parsed.
//
// # Epochs
//
// Messages belong to one epoch until a message names a different time (UTC time of day, or a different
// UBX iTOW), a once-per-epoch message (RMC, GGA, ZDA, NAV-PVT, TIM-TP, ...) arrives a second time, or the
// line stays quiet for Options.EpochQuiet after the last byte. Messages that name no time (GSA, GSV, TXT,
// NAV-SAT, TIM-TP) join the open epoch. Two times name the same epoch when within 25 ms, which absorbs
// NMEA's centisecond rounding of a UBX nanosecond time. An exact copy of a once-per-epoch message in the
// same epoch (a multiplexer repeating a sentence) is ignored and counted as a duplicate. An epoch is also
// closed after 1024 messages, so a stream that never names a time still yields epochs in bounded memory.
//
// The epoch's receive time (Label.Received) is that of the read holding its first byte: reads carry one
// receive time each, so the serial edge should hand over bytes as they come (a UART's FIFO-sized reads).
// Completed epochs wait in a bounded queue for Next; Deadline says when Flush must be called to complete
// an epoch on a line that went quiet (the last one before a pause would otherwise wait for the next byte).
//
// The label's second is the second the receiver names: its hhmmss (or the UBX second), rounded to the
// nearest second when the time is within 25 ms of it (12:00:00.997 names 12:00:01), otherwise truncated
// (a 5 Hz receiver's 12:00:00.2 epoch names 12:00:00; the fraction is in Epoch.Time). A receiver naming
// 23:59:60 gets LeapSecond set and a label repeating 23:59:59, as the kernel's clock does.
//
// Dates come from RMC, ZDA, PUBX,04 or UBX. An epoch with only a time of day (receivers that send only GGA,
// or GNS) borrows the date of the last valid epoch when that is recent (Options.DateContext), choosing the
// day that puts the time nearest to where the receive clock says it should be; without one it has no date
// and is not valid.
//
// # Validity
//
// An epoch is valid only when the receiver says so and nothing contradicts it:
//   - claims for: RMC/GLL status A (FAA mode not N, E, M or S), GGA quality 1-5, GNS mode A/D/P/R/F,
//     PUBX,00 status G2/G3/D2/D3/RK/TT, UBX NAV-TIMEUTC with validTOW+validWKN+validUTC, NAV-TIMEGPS with
//     its three valid bits, NAV-PVT with validDate+validTime+fullyResolved+gnssFixOK (and confirmed date
//     and time when the receiver can confirm), NAV-STATUS gpsFixOk with week and time of week set;
//   - claims against: the same messages saying otherwise (RMC V, GGA 0 or 6-8, no-fix), GSA fix type 1;
//   - ZDA and PUBX,04 claim nothing: a receiver prints its stale RTC time there on a cold start, so they
//     count only alongside a claim, unless Options.TrustZDA is set for a ZDA-only timing receiver.
//
// It is also invalid when it has no date, when its messages disagree (two dates, or claims both ways),
// when it repeats the previous epoch's time, or when it follows neither the previous epoch nor the last
// good one: to follow, a time must move forward, by the time elapsed on the receive clock within
// Options.JumpTolerance (replays without receive times turn that part off). So a receiver that jumps
// loses one epoch and is then judged from its new time, and one that repeats a second once is right
// again at the next. Every reason is in Epoch.Warnings and counted in Counts.
//
// # Week rollover
//
// GPS broadcasts a 10-bit week number; receivers whose firmware resolves it against an old epoch report
// dates 1024 weeks (19.6 years) in the past (the 2019-04-06 rollover: 1999-08-22 instead of 2019-04-07).
// Receiver dates before Options.Floor are moved forward by 1024 weeks until they are not, the epoch warns
// WarnRollover and Counts.Rollovers counts it. Two-digit years are read in the century window
// [floor year - 50, floor year + 50). The floor defaults to DefaultFloor, a constant release date: a
// floor set too late would shift good dates, so it is never taken from a clock.
//
// # UBX messages
//
// NAV-TIMEUTC, NAV-TIMEGPS, NAV-PVT name the time; NAV-STATUS, NAV-SAT, NAV-DOP, NAV-POSLLH add fix, sky,
// DOPs and position; NAV-TIMELS, NAV-TIMEGPS (and PUBX,04) give GPS-UTC leap seconds and the next leap
// event; TIM-TP gives the time and quantization error (qErr) of the next pulse; TIM-SVIN the survey-in
// state; MON-VER the receiver's identity; ACK-ACK/NAK are queued for a configurator (NextAck). Payload
// layouts are drawn next to each decoder in ubx.go. UBX decoding allocates nothing.
package gps
