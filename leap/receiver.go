package leap

import (
	"fmt"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Receiver is what the GNSS receiver says about leap seconds. The first fields mirror gps.Leap one for one
// (the daemon copies them; this package does not import gps, to keep the cores independent); UTC carries
// the navigation message's own parameters when raw subframes are decoded (DecodeSFRBX).
type Receiver struct {
	Known   bool   // Current is known
	Current int    // GPS-UTC in seconds, as the receiver applies it to its UTC output
	Default bool   // Current is the firmware's built-in value (NAV-TIMELS source 0, PUBX,04 "D"): not trusted
	Source  string // "NAV-TIMELS", "NAV-TIMEGPS" or "PUBX04"

	ChangeKnown bool             // the receiver reported (from the sky) whether a leap second is scheduled
	Change      int              // +1 insert, -1 delete, 0 none scheduled
	Event       timebase.Instant // POSIX instant at which the new offset applies, when EventKnown
	EventKnown  bool

	HasUTC bool      // UTC holds subframe 4 page 18 parameters
	UTC    UTCParams // from RXM-SFRBX
}

// Source names where a value came from.
type Source uint8

const (
	SourceNone     Source = iota
	SourceTable           // leap-seconds.list (built-in or newer file)
	SourceNavMsg          // the GPS navigation message's UTC parameters, decoded here from raw subframes
	SourceReceiver        // the receiver's own report (NAV-TIMELS, NAV-TIMEGPS, PUBX,04)
	SourceMemory          // an earlier trusted announcement the receiver no longer reports
)

var sourceNames = [...]string{"none", "table", "gps-navigation-message", "receiver", "remembered"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// MarshalText makes a Source print as its name in JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// WarningKind classifies a Warning, for counting and for tests; Message is for people.
type WarningKind uint8

const (
	WarnTableExpired    WarningKind = iota + 1 // the table has expired; leaps after it come from GPS only
	WarnNoLeapInfo                             // expired table and nothing trusted from the receiver: assuming no leap
	WarnReceiverDefault                        // the receiver's GPS-UTC is a firmware default
	WarnCurrentDisagree                        // the receiver's GPS-UTC disagrees with the chosen TAI-UTC
	WarnEventDisagree                          // the receiver announces a different leap than the table
	WarnSourcesDisagree                        // NAV-TIMELS and the navigation message disagree
	WarnAbsurd                                 // an announcement was rejected as impossible
	WarnForgotten                              // the receiver stopped reporting an announced leap; remembered
	WarnWithdrawn                              // the receiver now says no leap is scheduled; memory dropped
	WarnAfterAbolition                         // a leap second announced for after 2035
)

var warningNames = [...]string{"", "table-expired", "no-leap-info", "receiver-default", "current-disagree",
	"event-disagree", "sources-disagree", "absurd-announcement", "receiver-forgot", "receiver-withdrew", "after-abolition"}

func (k WarningKind) String() string {
	if int(k) < len(warningNames) && k != 0 {
		return warningNames[k]
	}
	return fmt.Sprintf("WarningKind(%d)", uint8(k))
}

// MarshalText makes a WarningKind print as its name in JSON.
func (k WarningKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Warning is one problem for the status page.
type Warning struct {
	Kind    WarningKind
	Message string
}

func (w Warning) String() string { return w.Kind.String() + ": " + w.Message }

// Decision is the leap second picture at one instant.
type Decision struct {
	// TAIMinusUTC now, and where it came from. Known is false only before 1972 with no receiver data.
	TAIMinusUTC int
	Known       bool
	Source      Source

	// Next is the announced leap second (Next.At > now), if any, and who announced it.
	Next       Event
	HasNext    bool
	NextSource Source

	TableExpiry  timebase.Instant
	TableExpired bool

	// ReceiverUTCAhead is how many seconds the receiver's UTC output is ahead of true UTC, from the GPS-UTC
	// it applies (default or not) and the chosen TAI-UTC. Non-zero means its time labels are wrong by that
	// many seconds; ReceiverChecked is false when the receiver did not say what it applies.
	ReceiverUTCAhead int
	ReceiverChecked  bool

	Warnings []Warning
}

// Has reports whether a warning of kind k was raised.
func (d *Decision) Has(k WarningKind) bool {
	for _, w := range d.Warnings {
		if w.Kind == k {
			return true
		}
	}
	return false
}

// Abolition is when leap seconds are expected to stop (CGPM 2022, Resolution 4: the tolerance on UT1-UTC is
// to be raised no later than 2035). Nothing here extrapolates leaps; an announcement after this date from a
// receiver is still followed but flagged.
var Abolition = timebase.Date(2036, 1, 1, 0, 0, 0, 0)

// graceAroundEvent is how long around a leap second a receiver may still report the old (or already the new)
// GPS-UTC without a disagreement warning: receivers switch on their own schedule within the minute.
const graceAroundEvent = time.Minute

// Tracker cross-checks the table with the receiver over time. It remembers a trusted receiver announcement
// so that a receiver that forgets it after a cold start (NAV-TIMELS source 0, no subframe 4 page 18 yet) does
// not cancel a leap second. It is a pure state machine: call Update with each new receiver report and now.
// The zero value is ready to use.
type Tracker struct {
	mem     Event // last trusted receiver announcement
	haveMem bool
	memSrc  Source
	// last GPS-UTC from a trusted receiver source, for TAI-UTC after the table expires
	cur     int
	haveCur bool
}

// Update decides the leap second picture at now from the table and the receiver's latest report.
//
// Precedence (also in the package doc):
//  1. Announcements are checked first. One that is not at 00:00:00 UTC on the first of a month, changes
//     TAI-UTC by more than one second, or is inconsistent with the current offset, is rejected with a
//     WarnAbsurd and takes no further part. A firmware-default GPS-UTC is never trusted.
//  2. A table that is not expired is authoritative up to its expiry: its TAI-UTC and its next leap win.
//     A receiver announcement for an instant before the table's expiry that the table does not list (or
//     lists differently) is a WarnEventDisagree and is ignored.
//  3. Beyond the table's expiry (an expired table, or an announcement after the expiry of a valid one),
//     the GPS broadcast is used: the navigation message's UTC parameters (subframe 4 page 18) first, then
//     the receiver's NAV-TIMELS report; if both are present and differ, WarnSourcesDisagree.
//  4. A trusted announcement is remembered until it happens. A receiver that stops reporting it keeps it
//     (WarnForgotten); one that reports from the sky that no leap is scheduled drops it (WarnWithdrawn).
//  5. With an expired table and nothing trusted from the receiver, no leap second is announced and
//     WarnNoLeapInfo is raised: served time stays right until an unknown leap, which the GPS time labels
//     would then reveal. Leaps are never assumed to continue.
func (t *Tracker) Update(table *Table, rx Receiver, now timebase.Instant) Decision {
	d := Decision{TableExpiry: table.Expiry(), TableExpired: table.Expired(now)}
	warn := func(k WarningKind, format string, a ...any) {
		d.Warnings = append(d.Warnings, Warning{k, fmt.Sprintf(format, a...)})
	}
	tableTAI, tableKnown := table.TAIMinusUTC(now)

	// Current GPS-UTC from the receiver, trusted or not.
	rxCur, rxCurTrusted, curSrc := 0, false, SourceReceiver
	if rx.Known {
		switch {
		case rx.Current < 0 || rx.Current > maxTAIMinusUTC-TAIMinusGPS:
			warn(WarnAbsurd, "receiver reports GPS-UTC %d s (%s): ignored", rx.Current, rx.Source)
			rx.Known = false
		case rx.Default:
			warn(WarnReceiverDefault, "receiver applies its firmware default GPS-UTC %d s (%s), not yet read from the sky: not trusted", rx.Current, rx.Source)
			rxCur = rx.Current
		default:
			rxCur, rxCurTrusted = rx.Current, true
		}
	}

	// Announcements from the navigation message and from NAV-TIMELS.
	var navEv, tlsEv Event
	var haveNav, haveTLS, navNone, tlsNone bool
	if rx.HasUTC {
		switch ev, ok, err := rx.UTC.Event(now); {
		case rx.UTC.DeltaTLS < 0 || rx.UTC.DeltaTLS > maxTAIMinusUTC-TAIMinusGPS:
			warn(WarnAbsurd, "navigation message GPS-UTC %d s: ignored", rx.UTC.DeltaTLS)
		case err != nil:
			warn(WarnAbsurd, "%v: ignored", err)
		case !ok:
			navNone = true
			if !rxCurTrusted {
				rxCur, rxCurTrusted, curSrc = rx.UTC.DeltaTLS, true, SourceNavMsg
			}
		case ev.At <= now:
			// The event has happened and the broadcast still names it: GPS-UTC is now dtLSF.
			navNone = true
			rxCur, rxCurTrusted, curSrc = rx.UTC.DeltaTLSF, true, SourceNavMsg
		default:
			navEv, haveNav = ev, true
			if !rxCurTrusted {
				rxCur, rxCurTrusted, curSrc = rx.UTC.DeltaTLS, true, SourceNavMsg
			}
		}
	}
	if rx.ChangeKnown {
		switch {
		case rx.Change == 0:
			tlsNone = true
		case rx.Change != 1 && rx.Change != -1:
			warn(WarnAbsurd, "receiver (%s) announces a leap of %+d s: ignored", rx.Source, rx.Change)
		case !rx.EventKnown:
			// The receiver knows a leap is coming but not when (no valid time yet): nothing to place.
		case !MonthStart(rx.Event):
			warn(WarnAbsurd, "receiver (%s) announces a leap second before %s, which is not the end of a month: ignored", rx.Source, rx.Event)
		case rx.Event <= now:
			tlsNone = true // a past event
		default:
			after := 0
			switch {
			case rxCurTrusted:
				after = rxCur + TAIMinusGPS + rx.Change
			case tableKnown:
				after = tableTAI + rx.Change
			}
			tlsEv, haveTLS = Event{At: rx.Event, Change: rx.Change, TAIMinusUTC: after}, true
		}
	}
	if haveNav && haveTLS && (navEv.At != tlsEv.At || navEv.Change != tlsEv.Change) {
		warn(WarnSourcesDisagree, "navigation message announces %v, receiver (%s) announces %v: using the navigation message", navEv, rx.Source, tlsEv)
	}
	if haveNav && !haveTLS && tlsNone {
		warn(WarnSourcesDisagree, "navigation message announces %v, receiver (%s) reports none: using the navigation message", navEv, rx.Source)
	}
	if haveTLS && !haveNav && navNone {
		warn(WarnSourcesDisagree, "receiver (%s) announces %v, navigation message none: using the navigation message", rx.Source, tlsEv)
		haveTLS = false
	}
	rxEv, haveRx, rxSrc := navEv, haveNav, SourceNavMsg
	if !haveNav && haveTLS {
		rxEv, haveRx, rxSrc = tlsEv, true, SourceReceiver
	}
	// An announcement must take TAI-UTC from the value in force to one second more or less. Within the
	// table's validity the value in force is the table's; after it, the last value known (from a trusted
	// receiver report, or the table's last), which may have moved by at most one unknown leap second.
	known, knownOK := tableTAI, tableKnown
	if d.TableExpired && t.haveCur {
		known, knownOK = t.cur+TAIMinusGPS, true
	}
	if d.TableExpired && knownOK && rxCurTrusted && abs(rxCur+TAIMinusGPS-known) > 1 {
		warn(WarnAbsurd, "receiver reports GPS-UTC %d s, TAI-UTC %d s, but %d s was last known: a jump of more than one second, ignored", rxCur, rxCur+TAIMinusGPS, known)
		rxCurTrusted = false
	}
	if haveRx && knownOK {
		before := rxEv.TAIMinusUTC - rxEv.Change
		if (!d.TableExpired && before != known) || (d.TableExpired && abs(before-known) > 1) {
			warn(WarnAbsurd, "%s announces %v but TAI-UTC is %d s now: ignored", rxSrc, rxEv, known)
			haveRx = false
		}
	}
	if haveRx && !d.TableExpired && rxEv.At < table.Expiry() {
		// Rule 2: the table covers that instant.
		if tev, ok := table.NextLeap(now); !ok || tev.At != rxEv.At || tev.Change != rxEv.Change {
			tableSays := "no leap second"
			if ok && tev.At <= table.Expiry() {
				tableSays = tev.String()
			}
			warn(WarnEventDisagree, "%s announces %v, but the leap table (valid until %s) has %s: using the table", rxSrc, rxEv, table.Expiry(), tableSays)
		}
	}

	// Memory (rule 4).
	if t.haveMem && t.mem.At <= now {
		t.haveMem = false // it happened
		t.cur, t.haveCur = t.mem.TAIMinusUTC-TAIMinusGPS, true
	}
	switch {
	case haveRx:
		t.mem, t.haveMem, t.memSrc = rxEv, true, rxSrc
	case t.haveMem && (navNone || tlsNone):
		warn(WarnWithdrawn, "receiver now reports no leap second scheduled; dropping the earlier announcement %v", t.mem)
		t.haveMem = false
	case t.haveMem && rx.ChangeKnown && rx.Change == t.mem.Change && !rx.EventKnown:
		// Still announced: the receiver reports the same change but this epoch named no instant for it
		// (its label was not valid). That is not forgetting, and no warning.
		rxEv, haveRx, rxSrc = t.mem, true, t.memSrc
	case t.haveMem:
		warn(WarnForgotten, "receiver no longer reports the leap second it announced (cold start?); keeping %v from the %s", t.mem, t.memSrc)
		rxEv, haveRx, rxSrc = t.mem, true, SourceMemory
	}
	if rxCurTrusted {
		t.cur, t.haveCur = rxCur, true
	}

	// Current TAI-UTC.
	switch {
	case tableKnown && !d.TableExpired:
		d.TAIMinusUTC, d.Known, d.Source = tableTAI, true, SourceTable
	case rxCurTrusted:
		d.TAIMinusUTC, d.Known, d.Source = rxCur+TAIMinusGPS, true, curSrc
	case t.haveCur:
		d.TAIMinusUTC, d.Known, d.Source = t.cur+TAIMinusGPS, true, SourceMemory
	case tableKnown:
		d.TAIMinusUTC, d.Known, d.Source = tableTAI, true, SourceTable
	}

	// Next leap (rules 2, 3, 5).
	tev, tok := table.NextLeap(now)
	tok = tok && tev.At <= table.Expiry()
	switch {
	case tok && (!haveRx || tev.At <= rxEv.At || rxEv.At < table.Expiry()):
		d.Next, d.HasNext, d.NextSource = tev, true, SourceTable
	case haveRx && (d.TableExpired || rxEv.At >= table.Expiry()):
		d.Next, d.HasNext, d.NextSource = rxEv, true, rxSrc
	}
	if d.TableExpired {
		if !haveRx && !rxCurTrusted && !navNone && !tlsNone {
			warn(WarnNoLeapInfo, "leap table expired at %s and the receiver gives no trusted leap information: assuming no leap second", table.Expiry())
		} else {
			warn(WarnTableExpired, "leap table expired at %s: leap seconds come from GPS only", table.Expiry())
		}
	}
	if d.HasNext && d.NextSource != SourceTable && d.Next.At >= Abolition {
		warn(WarnAfterAbolition, "%s announces %v, after the planned end of leap seconds (2035): following it", d.NextSource, d.Next)
	}

	// The receiver's applied GPS-UTC against the decision.
	if rx.Known && d.Known && !nearEvent(table, t, now) {
		ahead := d.TAIMinusUTC - TAIMinusGPS - rx.Current
		d.ReceiverUTCAhead, d.ReceiverChecked = ahead, true
		if ahead != 0 && rxCurTrusted {
			warn(WarnCurrentDisagree, "receiver (%s) applies GPS-UTC %d s, but TAI-UTC %d s (%s) means %d s: its UTC is %+d s off", rx.Source, rx.Current, d.TAIMinusUTC, d.Source, d.TAIMinusUTC-TAIMinusGPS, ahead)
		}
	}
	return d
}

// nearEvent reports whether now is within graceAroundEvent of a leap second the table lists or the tracker
// just passed, when receivers may legitimately still report the other offset.
func nearEvent(table *Table, t *Tracker, now timebase.Instant) bool {
	g := timebase.Instant(graceAroundEvent)
	if ev, ok := table.LastLeap(now); ok && now-ev.At < g {
		return true
	}
	if ev, ok := table.NextLeap(now); ok && ev.At-now < g {
		return true
	}
	return t.haveMem && t.mem.At-now < g
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
