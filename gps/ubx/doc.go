// Package ubx configures a u-blox receiver for a time server: it builds the UBX configuration frames and
// runs the conversation with the receiver (identify it, send one message at a time, wait for its ACK) as
// a pure state machine. Events go in (the receiver's identity, ACK-ACK/ACK-NAK, the passing of time);
// bytes to write and the time to be woken come out. It reads no clock and touches no port: the serial
// edge (gps/serialdev) writes the frames, feeds the ACKs it decodes with gps.Decoder, and calls Tick when
// the returned wake-up time comes.
//
// Why a package of its own and not files in gps: the decoder reads what a receiver says; this package
// decides what to tell one. It shares only vocabulary with the decoder (gps.Receiver, gps.Ack), has its
// own tests and fuzz target, and a build that never configures a receiver (gpsntpctl decode) does not
// need it. It stays a core (the import rules apply to everything under gps/ except the edge).
//
// # Frames
//
//	0xB5 0x62 | class | id | length (U2, little-endian) | payload[length] | CK_A CK_B
//
// CK_A, CK_B is the 8-bit Fletcher checksum over class, id, length and payload:
// for each byte b { A += b; B += A } (mod 256).
//
// # What is configured, and how
//
// The goal is the same on every generation; the way differs:
//
//   - output of NAV-TIMEUTC (the time label), TIM-TP (the quantization error of the next pulse),
//     NAV-TIMELS (leap seconds) and NAV-SAT (the sky view) on the port we talk on;
//   - the stationary dynamic platform model (a fixed antenna: tighter position filtering, better time);
//   - the time pulse: 1 Hz, rising edge on the UTC second, 100 ms long, aligned to the top of the second,
//     and no pulse at all until the receiver has locked to GNSS time: an unlocked pulse sits at an
//     arbitrary phase, and a time server is better off with no pulse than with a wrong one (it is also
//     what the simulator models by default).
//
// Receivers before the F9 generation (u-blox 6, 7, M8; protocol versions below 27) take the legacy
// messages; F9, M9 and M10 (protocol 27 and later; M10 has no legacy CFG messages at all) take
// CFG-VALSET with configuration keys. The protocol version comes from MON-VER's "PROTVER" extension; a
// receiver that does not report one (u-blox 6) gets the legacy set without the messages it cannot know.
//
// CFG-MSG (0x06 0x01), short form: the rate applies to the port the message arrives on.
//
//	offset 0 msgClass U1 | 1 msgID U1 | 2 rate U1 (per navigation epoch; 0 off)
//
// CFG-NAV5 (0x06 0x24), 36 bytes; only the fields selected by mask are applied:
//
//	0 mask X2 (bit 0: dyn) | 2 dynModel U1 (2 = stationary) | 3 fixMode U1 | 4 fixedAlt I4 | ...
//	(everything after dynModel is ignored with mask = 0x0001 and sent as zero)
//
// CFG-TP5 (0x06 0x31), 32 bytes; version 0 up to protocol 15, 1 from protocol 16 (same layout):
//
//	0 tpIdx U1 | 1 version U1 | 2 reserved U1[2] | 4 antCableDelay I2 ns | 6 rfGroupDelay I2 ns (read-only)
//	8 freqPeriod U4 | 12 freqPeriodLock U4 | 16 pulseLenRatio U4 | 20 pulseLenRatioLock U4
//	24 userConfigDelay I4 ns | 28 flags X4
//	flags: bit 0 active, 1 lockGnssFreq, 2 lockedOtherSet, 3 isFreq, 4 isLength, 5 alignToTow,
//	6 polarity (1: rising edge at the top of the second), 7..10 gridUtcGnss (0 = UTC)
//
// With isFreq = 0 and isLength = 1 the periods and lengths are in microseconds; lockedOtherSet makes the
// receiver use freqPeriod/pulseLenRatio until it has locked and the *Lock fields after.
//
// CFG-VALSET (0x06 0x8A):
//
//	0 version U1 (0) | 1 layers X1 (bit 0 RAM, 1 BBR, 2 flash) | 2 reserved U1[2] | cfgData: key U4, value...
//
// A key's bits 28..30 give its value's size: 1 = one bit (sent as one byte), 2 = 1 byte, 3 = 2 bytes,
// 4 = 4 bytes, 5 = 8 bytes. Values are little-endian. Settings are written to RAM only: the receiver's
// saved configuration is the owner's, and the daemon configures the receiver again on every connection.
//
// # The conversation
//
// One message at a time, because ACK-ACK names only the class and id of what it acknowledges, and every
// CFG-MSG or CFG-VALSET has the same pair: with two in flight an ACK could not be matched. Each message is
// sent up to Attempts times, AckTimeout apart; an ACK-NAK, or no answer after the last attempt, is an
// error that names the message, and the remaining messages are still sent (a receiver that refuses one
// output message should still get its time pulse configured). A late ACK of an earlier attempt is
// indistinguishable from the ACK of the retry, which is harmless since both carry the same message.
// ACKs received before the current message was sent are stale and ignored.
package ubx
