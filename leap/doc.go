// Package leap knows when UTC gains or loses a second, and what the appliance must do about it.
//
// # Time scales
//
// TAI counts SI seconds without interruption. UTC follows TAI with an integer offset, TAI-UTC, that changes
// by one second at a leap second (37 s since 2017-01-01). A leap second happens at the end of a UTC month,
// in practice June or December: an inserted one is 23:59:60, a deleted one removes 23:59:59. GPS time is TAI
// minus 19 s; receivers learn GPS-UTC (18 s since 2017) from the navigation message. POSIX time, which the
// kernel keeps and timebase.Instant uses, has no 23:59:60: on an insertion the kernel repeats 23:59:59 (the
// clock goes back by one second at 00:00:00); on a deletion it jumps from 23:59:58 to 00:00:00.
//
// # Sources
//
// A Table is the IERS leap-seconds.list (Parse verifies its SHA-1 and expiry). A copy is embedded
// (Builtin); Choose prefers a newer, valid, unexpired file from the state directory or the command line.
// The receiver says what it knows (Receiver: u-blox NAV-TIMELS, NAV-TIMEGPS, PUBX,04, and the navigation
// message's subframe 4 page 18 decoded by DecodeSFRBX). A Tracker cross-checks them over time and gives a
// Decision: TAI-UTC now, the next leap second and its source, and typed Warnings for the status page.
//
// # Which source wins
//
//  1. Impossible announcements are rejected first (WarnAbsurd): not at 00:00:00 UTC on the first of a month,
//     a change of more than one second, or one that does not start from the TAI-UTC in force. A firmware
//     default GPS-UTC (NAV-TIMELS source 0, PUBX,04 "D") is never trusted (WarnReceiverDefault).
//  2. A leap-seconds.list that has not expired is authoritative up to its expiry: it was published by the
//     IERS, which decides leap seconds months ahead. A receiver announcement for an instant before the
//     table's expiry that the table does not list is a warning (WarnEventDisagree) and is ignored.
//  3. After the table's expiry (an expired table, or an event later than a valid table's expiry) the GPS
//     broadcast is followed: the navigation message's UTC parameters first, the receiver's NAV-TIMELS
//     report second; if they differ, WarnSourcesDisagree.
//  4. A trusted announcement is remembered until it happens: a receiver that forgets it after a cold start
//     does not cancel it (WarnForgotten); a receiver that reports from the sky that none is scheduled does
//     (WarnWithdrawn).
//  5. With an expired table and nothing trusted from the receiver, no leap second is announced and
//     WarnNoLeapInfo is raised. Leap seconds are expected to end by 2035 (CGPM 2022); nothing here
//     extrapolates them, and a GPS announcement after 2035 is followed but flagged (WarnAfterAbolition).
//
// # Serving a leap second
//
// A Schedule turns the decision into the Leap Indicator to serve (1 or 2 during the UTC day that ends with the
// leap, 0 otherwise, 3 when the discipline is not synchronized), the kernel flag to hold (STA_INS or STA_DEL
// on that day only: Linux acts at the first midnight it sees with the flag set), and the time served across
// the leap. The default is no smearing: served time is the kernel's POSIX time. ModeSmear, off by default,
// serves a 24-hour noon-to-noon linear smear instead; smeared and unsmeared servers must never be mixed.
// Any month end is accepted (ntpd does; chrony announces only June and December).
//
// A Controller bundles a Tracker and a Schedule for the daemon: one Tick per wake-up gives the LI to publish,
// the kernel flag to hold (and whether to call the kernel), and the next wake-up. Schedule.Artifact tells the
// daemon which PPS samples to withhold from the servo around a leap second: the kernel's one-second step,
// or a receiver that applies the leap late, is not a clock error. A Recorder summarises a run for tests and
// for `gpsntpctl simulate`.
//
// The package is pure: it takes io.Readers and instants, and never reads a clock or opens a file.
package leap
