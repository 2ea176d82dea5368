package ubx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gpsntp/gpsntp/gps"
)

// Method is the way a receiver is configured.
type Method uint8

const (
	MethodLegacy Method = iota // CFG-MSG, CFG-NAV5, CFG-TP5 (u-blox 6, 7, M8)
	MethodValset               // CFG-VALSET with configuration keys (F9, M9, M10)
)

func (m Method) String() string {
	if m == MethodValset {
		return "CFG-VALSET"
	}
	return "legacy CFG"
}

// Protocol versions (major*100 + minor) at which messages and methods appear.
const (
	protoNavSAT  = 1500 // NAV-SAT: u-blox M8, protocol 15
	protoTP5v1   = 1600 // CFG-TP5 version 1
	protoNavTLS  = 1800 // NAV-TIMELS: M8 protocol 18
	protoValset  = 2700 // CFG-VALSET: F9 (27.00) and later
	protoUnknown = -1
)

// Output rates, per navigation epoch (1 Hz). NAV-SAT is a few hundred bytes: every fifth epoch keeps a
// 9600 baud line with the default NMEA output below its capacity; leap-second news changes over months.
const (
	rateTimeUTC = 1
	rateTimTP   = 1
	rateNavSAT  = 5
	rateTimeLS  = 10
)

// Configuration keys (u-blox F9/M10 interface descriptions, CFG-MSGOUT, CFG-NAVSPG, CFG-TP groups).
// CFG-MSGOUT keys of one message are consecutive by port: I2C, UART1, UART2, USB, SPI.
const (
	keyMsgoutNavTimeUTCUART1 Key = 0x2091005C
	keyMsgoutNavTimeUTCUSB   Key = 0x2091005E
	keyMsgoutTimTPUART1      Key = 0x2091017E
	keyMsgoutTimTPUSB        Key = 0x20910180
	keyMsgoutNavSATUART1     Key = 0x20910016
	keyMsgoutNavSATUSB       Key = 0x20910018
	keyMsgoutNavTimeLSUART1  Key = 0x20910061
	keyMsgoutNavTimeLSUSB    Key = 0x20910063

	keyNavspgDynModel Key = 0x20110021

	keyTPPulseDef       Key = 0x20050023 // E1: 0 period, 1 frequency
	keyTPPulseLengthDef Key = 0x20050030 // E1: 0 ratio, 1 length
	keyTPPeriodTP1      Key = 0x40050002 // U4 us
	keyTPPeriodLockTP1  Key = 0x40050003 // U4 us
	keyTPLenTP1         Key = 0x40050004 // U4 us
	keyTPLenLockTP1     Key = 0x40050005 // U4 us
	keyTPEnaTP1         Key = 0x10050007 // L
	keyTPSyncGNSSTP1    Key = 0x10050008 // L
	keyTPUseLockedTP1   Key = 0x10050009 // L
	keyTPAlignToTowTP1  Key = 0x1005000A // L
	keyTPPolTP1         Key = 0x1005000B // L: 1 rising edge at the top of the second
	keyTPTimegridTP1    Key = 0x2005000C // E1: 0 UTC
)

// Step is one configuration message and the ACK it waits for.
type Step struct {
	Name      string // names the message in errors, e.g. "CFG-MSG NAV-TIMELS"
	Frame     []byte // the whole UBX frame to send
	Class, ID byte   // the message the receiver acknowledges (ACK payload)
	// Optional steps may be refused (ACK-NAK) without error: settings for a port the receiver may not
	// have (USB on an M10).
	Optional bool
}

// Plan is what a receiver is to be sent.
type Plan struct {
	Method   Method
	Protocol int // major*100 + minor; -1 when the receiver did not say
	Steps    []Step
	Skipped  []string // messages left out because the receiver's protocol cannot have them
}

// ParseProtocol reads a PROTVER string ("18.00", "27.12", "34.1") as major*100 + minor.
func ParseProtocol(s string) (int, bool) {
	s = strings.TrimSpace(s)
	major, minor, _ := strings.Cut(s, ".")
	ma, err := strconv.Atoi(major)
	if err != nil || ma < 0 || ma > 255 {
		return 0, false
	}
	mi := 0
	if minor != "" {
		if len(minor) > 2 {
			minor = minor[:2]
		}
		if len(minor) == 1 {
			minor += "0"
		}
		mi, err = strconv.Atoi(minor)
		if err != nil || mi < 0 {
			return 0, false
		}
	}
	return ma*100 + mi, true
}

// DefaultTimePulse is the pulse a time server wants: 1 Hz, 100 ms, none until locked, u-blox's default
// 50 ns cable delay.
var DefaultTimePulse = TimePulse{PeriodUS: 1_000_000, LengthUS: 100_000, UnlockedLength: 0, CableDelayNS: 50}

// NewPlan chooses the messages for a u-blox receiver from its identity. It fails for a receiver that is
// not a u-blox.
func NewPlan(r gps.Receiver, tp TimePulse) (Plan, error) {
	if r.Vendor != "u-blox" {
		return Plan{}, fmt.Errorf("ubx: NewPlan: receiver vendor %q is not u-blox", r.Vendor)
	}
	if tp.PeriodUS == 0 || tp.LengthUS >= tp.PeriodUS || tp.UnlockedLength >= tp.PeriodUS {
		return Plan{}, fmt.Errorf("ubx: NewPlan: time pulse period %d us, length %d us, unlocked length %d us: lengths must be below the period", tp.PeriodUS, tp.LengthUS, tp.UnlockedLength)
	}
	proto, ok := ParseProtocol(r.Protocol)
	if !ok {
		proto = protoUnknown
	}
	p := Plan{Protocol: proto}
	if proto >= protoValset {
		p.Method = MethodValset
		p.Steps = valsetSteps(tp)
		return p, nil
	}
	p.Method = MethodLegacy
	msg := func(name string, class, id, rate byte) {
		p.Steps = append(p.Steps, Step{Name: "CFG-MSG " + name, Frame: frame(ClassCFG, IDCfgMSG, CfgMSG(class, id, rate)), Class: ClassCFG, ID: IDCfgMSG})
	}
	msg("NAV-TIMEUTC", ClassNAV, IDNavTimeUTC, rateTimeUTC)
	msg("TIM-TP", ClassTIM, IDTimTP, rateTimTP)
	if proto >= protoNavSAT {
		msg("NAV-SAT", ClassNAV, IDNavSAT, rateNavSAT)
	} else {
		p.Skipped = append(p.Skipped, "NAV-SAT (protocol 15+)")
	}
	if proto >= protoNavTLS {
		msg("NAV-TIMELS", ClassNAV, IDNavTimeLS, rateTimeLS)
	} else {
		p.Skipped = append(p.Skipped, "NAV-TIMELS (protocol 18+)")
	}
	p.Steps = append(p.Steps, Step{Name: "CFG-NAV5 stationary", Frame: frame(ClassCFG, IDCfgNAV5, CfgNAV5Dyn(DynStationary)), Class: ClassCFG, ID: IDCfgNAV5})
	var ver byte
	if proto >= protoTP5v1 {
		ver = 1
	}
	p.Steps = append(p.Steps, Step{Name: "CFG-TP5 time pulse", Frame: frame(ClassCFG, IDCfgTP5, CfgTP5(tp, ver)), Class: ClassCFG, ID: IDCfgTP5})
	return p, nil
}

func valsetSteps(tp TimePulse) []Step {
	step := func(name string, optional bool, kvs ...KV) Step {
		payload, err := CfgVALSET(LayerRAM, kvs)
		if err != nil {
			panic(err) // unreachable: the tables below are fixed and tested
		}
		return Step{Name: "CFG-VALSET " + name, Frame: frame(ClassCFG, IDCfgVALSET, payload), Class: ClassCFG, ID: IDCfgVALSET, Optional: optional}
	}
	return []Step{
		step("CFG-MSGOUT UART1", false,
			KV{keyMsgoutNavTimeUTCUART1, rateTimeUTC}, KV{keyMsgoutTimTPUART1, rateTimTP},
			KV{keyMsgoutNavSATUART1, rateNavSAT}, KV{keyMsgoutNavTimeLSUART1, rateTimeLS}),
		step("CFG-MSGOUT USB", true,
			KV{keyMsgoutNavTimeUTCUSB, rateTimeUTC}, KV{keyMsgoutTimTPUSB, rateTimTP},
			KV{keyMsgoutNavSATUSB, rateNavSAT}, KV{keyMsgoutNavTimeLSUSB, rateTimeLS}),
		step("CFG-NAVSPG-DYNMODEL stationary", false, KV{keyNavspgDynModel, DynStationary}),
		step("CFG-TP time pulse", false,
			KV{keyTPPulseDef, 0}, KV{keyTPPulseLengthDef, 1},
			KV{keyTPPeriodTP1, uint64(tp.PeriodUS)}, KV{keyTPPeriodLockTP1, uint64(tp.PeriodUS)},
			KV{keyTPLenTP1, uint64(tp.UnlockedLength)}, KV{keyTPLenLockTP1, uint64(tp.LengthUS)},
			KV{keyTPEnaTP1, 1}, KV{keyTPSyncGNSSTP1, 1}, KV{keyTPUseLockedTP1, 1},
			KV{keyTPAlignToTowTP1, 1}, KV{keyTPPolTP1, 1}, KV{keyTPTimegridTP1, 0}),
	}
}
