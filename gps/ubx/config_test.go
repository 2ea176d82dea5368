package ubx

import (
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

const t0 = timebase.Instant(1_763_769_600_000_000_000) // 2025-11-22T00:00:00Z

func ms(n int) timebase.Instant { return timebase.Instant(n) * timebase.Instant(time.Millisecond) }

func TestParseProtocol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"18.00", 1800, true}, {"27.12", 2712, true}, {"34.1", 3410, true}, {" 14.00 ", 1400, true}, {"15", 1500, true},
		{"", 0, false}, {"x.1", 0, false}, {"18.x", 0, false}, {"999.00", 0, false}} {
		got, ok := ParseProtocol(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseProtocol(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func names(p Plan) string {
	var n []string
	for _, s := range p.Steps {
		n = append(n, s.Name)
	}
	return strings.Join(n, "; ")
}

func TestPlan(t *testing.T) {
	legacyAll := "CFG-MSG NAV-TIMEUTC; CFG-MSG TIM-TP; CFG-MSG NAV-SAT; CFG-MSG NAV-TIMELS; CFG-NAV5 stationary; CFG-TP5 time pulse"
	valset := "CFG-VALSET CFG-MSGOUT UART1; CFG-VALSET CFG-MSGOUT USB; CFG-VALSET CFG-NAVSPG-DYNMODEL stationary; CFG-VALSET CFG-TP time pulse"
	tests := []struct {
		name    string
		r       gps.Receiver
		method  Method
		steps   string
		skipped int
		tp5ver  int // -1: no CFG-TP5
	}{
		{"u-blox 6 without PROTVER", gps.Receiver{Vendor: "u-blox", Hardware: "00040007"}, MethodLegacy,
			"CFG-MSG NAV-TIMEUTC; CFG-MSG TIM-TP; CFG-NAV5 stationary; CFG-TP5 time pulse", 2, 0},
		{"u-blox 7 (14.00)", gps.Receiver{Vendor: "u-blox", Protocol: "14.00"}, MethodLegacy,
			"CFG-MSG NAV-TIMEUTC; CFG-MSG TIM-TP; CFG-NAV5 stationary; CFG-TP5 time pulse", 2, 0},
		{"M8 15.00", gps.Receiver{Vendor: "u-blox", Protocol: "15.00"}, MethodLegacy,
			"CFG-MSG NAV-TIMEUTC; CFG-MSG TIM-TP; CFG-MSG NAV-SAT; CFG-NAV5 stationary; CFG-TP5 time pulse", 1, 0},
		{"M8T 18.00", gps.Receiver{Vendor: "u-blox", Model: "NEO-M8T", Protocol: "18.00"}, MethodLegacy, legacyAll, 0, 1},
		{"M8 23.01", gps.Receiver{Vendor: "u-blox", Protocol: "23.01"}, MethodLegacy, legacyAll, 0, 1},
		{"F9T 29.20", gps.Receiver{Vendor: "u-blox", Model: "ZED-F9T", Protocol: "29.20"}, MethodValset, valset, 0, -1},
		{"M10 34.10", gps.Receiver{Vendor: "u-blox", Protocol: "34.10"}, MethodValset, valset, 0, -1},
	}
	for _, tc := range tests {
		p, err := NewPlan(tc.r, DefaultTimePulse)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Method != tc.method || names(p) != tc.steps || len(p.Skipped) != tc.skipped {
			t.Errorf("%s: method %v steps %q skipped %v; want %v %q %d", tc.name, p.Method, names(p), p.Skipped, tc.method, tc.steps, tc.skipped)
		}
		for _, s := range p.Steps {
			if s.Class != ClassCFG || s.Frame[2] != s.Class || s.Frame[3] != s.ID {
				t.Errorf("%s: step %s waits for 0x%02X 0x%02X but sends 0x%02X 0x%02X", tc.name, s.Name, s.Class, s.ID, s.Frame[2], s.Frame[3])
			}
			if s.ID == IDCfgTP5 && int(s.Frame[6+1]) != tc.tp5ver {
				t.Errorf("%s: CFG-TP5 version %d, want %d", tc.name, s.Frame[7], tc.tp5ver)
			}
			if s.Optional != strings.Contains(s.Name, "USB") {
				t.Errorf("%s: step %s optional=%v", tc.name, s.Name, s.Optional)
			}
		}
	}
	if _, err := NewPlan(gps.Receiver{Vendor: "MediaTek"}, DefaultTimePulse); err == nil {
		t.Error("non-u-blox: want error")
	}
	if _, err := NewPlan(gps.Receiver{Vendor: "u-blox"}, TimePulse{PeriodUS: 1000, LengthUS: 1000}); err == nil {
		t.Error("pulse as long as its period: want error")
	}
}

// The VALSET steps carry exactly these keys and values (u-blox F9 interface description, CFG-MSGOUT,
// CFG-NAVSPG and CFG-TP groups; cross-checked against public key tables).
func TestValsetKeys(t *testing.T) {
	p, _ := NewPlan(gps.Receiver{Vendor: "u-blox", Protocol: "27.00"}, DefaultTimePulse)
	want := [][]KV{
		{{0x2091005C, 1}, {0x2091017E, 1}, {0x20910016, 5}, {0x20910061, 10}},
		{{0x2091005E, 1}, {0x20910180, 1}, {0x20910018, 5}, {0x20910063, 10}},
		{{0x20110021, 2}},
		{{0x20050023, 0}, {0x20050030, 1}, {0x40050002, 1000000}, {0x40050003, 1000000}, {0x40050004, 0}, {0x40050005, 100000},
			{0x10050007, 1}, {0x10050008, 1}, {0x10050009, 1}, {0x1005000A, 1}, {0x1005000B, 1}, {0x2005000C, 0}},
	}
	for i, s := range p.Steps {
		got := parseValset(t, s.Frame)
		if len(got) != len(want[i]) {
			t.Fatalf("%s: %d keys, want %d", s.Name, len(got), len(want[i]))
		}
		for j := range got {
			if got[j] != want[i][j] {
				t.Errorf("%s key %d: got 0x%08X=%d want 0x%08X=%d", s.Name, j, uint32(got[j].Key), got[j].Value, uint32(want[i][j].Key), want[i][j].Value)
			}
		}
	}
}

// parseValset reads a CFG-VALSET frame back, independently of CfgVALSET.
func parseValset(t *testing.T, f []byte) []KV {
	t.Helper()
	n := int(f[4]) | int(f[5])<<8
	p := f[6 : 6+n]
	if p[0] != 0 || p[1] != LayerRAM {
		t.Fatalf("valset version %d layers %d", p[0], p[1])
	}
	var out []KV
	for i := 4; i < len(p); {
		k := Key(uint32(p[i]) | uint32(p[i+1])<<8 | uint32(p[i+2])<<16 | uint32(p[i+3])<<24)
		i += 4
		var v uint64
		for j := 0; j < k.Size(); j++ {
			v |= uint64(p[i+j]) << (8 * j)
		}
		i += k.Size()
		out = append(out, KV{k, v})
	}
	return out
}

func ack(s Step, ok bool, at timebase.Instant) gps.Ack {
	return gps.Ack{Class: s.Class, ID: s.ID, OK: ok, Received: at}
}

func TestConfiguratorHappyPath(t *testing.T) {
	c := NewConfigurator(Options{})
	a := c.Start(t0)
	if string(a.Send) != string(PollMonVER()) || a.Wake != t0+ms(1500) || c.State() != StateIdentifying {
		t.Fatalf("Start: %x wake %v state %v", a.Send, a.Wake, c.State())
	}
	// An NMEA banner says u-blox but gives no version: keep waiting for MON-VER.
	if a = c.Receiver(gps.Receiver{Vendor: "u-blox"}, t0+ms(100)); a.Send != nil || c.State() != StateIdentifying {
		t.Fatalf("banner only: %+v %v", a, c.State())
	}
	a = c.Receiver(gps.Receiver{Vendor: "u-blox", Protocol: "18.00", Hardware: "00080000"}, t0+ms(200))
	plan := c.Plan()
	if c.State() != StateConfiguring || string(a.Send) != string(plan.Steps[0].Frame) || a.Wake != t0+ms(2200) {
		t.Fatalf("identified: state %v send %x wake %v", c.State(), a.Send, a.Wake)
	}
	now := t0 + ms(200)
	for i, s := range plan.Steps {
		// A foreign ACK and a stale one change nothing.
		if b := c.Ack(gps.Ack{Class: ClassNAV, ID: 1, OK: true, Received: now + 1}); b.Send != nil {
			t.Fatalf("foreign ack sent %x", b.Send)
		}
		if b := c.Ack(ack(s, true, now-1)); b.Send != nil {
			t.Fatalf("stale ack sent %x", b.Send)
		}
		now += ms(50)
		a = c.Ack(ack(s, true, now))
		if i+1 < len(plan.Steps) {
			if string(a.Send) != string(plan.Steps[i+1].Frame) {
				t.Fatalf("after ACK of %s: sent %x", s.Name, a.Send)
			}
		} else if !a.None() || c.State() != StateDone {
			t.Fatalf("after the last ACK: %+v %v", a, c.State())
		}
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	for _, r := range c.Results() {
		if !r.Acked || r.Attempts != 1 {
			t.Errorf("result %+v", r)
		}
	}
}

func TestConfiguratorNakTimeoutRetry(t *testing.T) {
	c := NewConfigurator(Options{AckTimeout: time.Second, Attempts: 2})
	c.Receiver(gps.Receiver{Vendor: "u-blox", Protocol: "29.00"}, t0)
	a := c.Start(t0) // identity known before Start: straight to configuring
	plan := c.Plan()
	if c.State() != StateConfiguring || string(a.Send) != string(plan.Steps[0].Frame) {
		t.Fatalf("Start with identity: %v %x", c.State(), a.Send)
	}
	// Step 0 (UART1): no answer; a tick before the deadline does nothing, at it the message is resent.
	if b := c.Tick(t0 + ms(999)); b.Send != nil || b.Wake != t0+ms(1000) {
		t.Fatalf("early tick: %+v", b)
	}
	if b := c.Tick(t0 + ms(1000)); string(b.Send) != string(plan.Steps[0].Frame) || b.Wake != t0+ms(2000) {
		t.Fatalf("retry: %+v", b)
	}
	// Second attempt times out too: error, and the next step goes out.
	a = c.Tick(t0 + ms(2000))
	if string(a.Send) != string(plan.Steps[1].Frame) {
		t.Fatalf("after giving up: %x", a.Send)
	}
	// Step 1 (USB, optional) is refused: no error.
	a = c.Ack(ack(plan.Steps[1], false, t0+ms(2100)))
	// Step 2 (DYNMODEL) refused: error naming it.
	a = c.Ack(ack(plan.Steps[2], false, t0+ms(2200)))
	// Step 3 acknowledged.
	a = c.Ack(ack(plan.Steps[3], true, t0+ms(2300)))
	if c.State() != StateDone || !a.None() {
		t.Fatalf("end: %v %+v", c.State(), a)
	}
	err := c.Err()
	if err == nil {
		t.Fatal("Err = nil, want timeout and NAK")
	}
	msg := err.Error()
	for _, want := range []string{"CFG-VALSET CFG-MSGOUT UART1: no ACK after 2 attempts", "CFG-VALSET CFG-NAVSPG-DYNMODEL stationary: rejected by the receiver (ACK-NAK)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Err %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "USB") {
		t.Errorf("optional USB step reported as error: %q", msg)
	}
	r := c.Results()
	if !r[0].TimedOut || r[0].Attempts != 2 || !r[1].Skipped || !r[2].Nak || !r[3].Acked {
		t.Errorf("results %+v", r)
	}
	// Finished: nothing more happens.
	if b := c.Tick(t0 + ms(99999)); !b.None() {
		t.Errorf("tick after done: %+v", b)
	}
	if b := c.Start(t0); !b.None() {
		t.Errorf("Start after done: %+v", b)
	}
}

func TestConfiguratorNotUblox(t *testing.T) {
	c := NewConfigurator(Options{IdentifyTimeout: time.Second, IdentifyPolls: 2})
	if a := c.Tick(t0); !a.None() {
		t.Fatalf("tick before Start: %+v", a)
	}
	c.Start(t0)
	if a := c.Tick(t0 + ms(1000)); string(a.Send) != string(PollMonVER()) {
		t.Fatalf("second poll: %x", a.Send)
	}
	if a := c.Tick(t0 + ms(2000)); !a.None() || c.State() != StateNotUblox || c.Err() != nil {
		t.Fatalf("give up: %+v %v %v", a, c.State(), c.Err())
	}
	// An MTK receiver's identity never starts anything.
	if a := c.Receiver(gps.Receiver{Vendor: "MediaTek", Hardware: "x"}, t0+ms(3000)); !a.None() {
		t.Errorf("after NotUblox: %+v", a)
	}
}

func TestConfiguratorBannerOnly(t *testing.T) {
	// A u-blox that printed its banner but never answers MON-VER is configured conservatively.
	c := NewConfigurator(Options{IdentifyTimeout: time.Second, IdentifyPolls: 1})
	c.Start(t0)
	c.Receiver(gps.Receiver{Vendor: "u-blox"}, t0+ms(10))
	a := c.Tick(t0 + ms(1000))
	if c.State() != StateConfiguring || c.Plan().Method != MethodLegacy || len(c.Plan().Skipped) != 2 || a.Send == nil {
		t.Fatalf("banner only: %v %+v", c.State(), c.Plan())
	}
}

// A clock stepped back by hours (the servo's first step on a box that booted with a wrong clock) must not
// stall configuration until the old deadline comes round: the overdue ACK is handled one timeout later.
func TestConfiguratorSurvivesClockStepBack(t *testing.T) {
	opt := Options{AckTimeout: time.Second, Attempts: 2, IdentifyTimeout: time.Second, IdentifyPolls: 2}
	c := NewConfigurator(opt)
	now := t0
	c.Start(now)
	c.Receiver(gps.Receiver{Vendor: "u-blox", Protocol: "18.00"}, now)
	if c.State() != StateConfiguring {
		t.Fatalf("state %v after identification", c.State())
	}
	first := c.Results()[0].Attempts
	now -= 3 * 3600 * timebase.Second
	a := c.Tick(now)
	if a.Wake == 0 || a.Wake > now+timebase.Instant(opt.AckTimeout) {
		t.Fatalf("after stepping back 3 h the configurator wakes at %v, more than one ACK timeout from %v", a.Wake, now)
	}
	a = c.Tick(now + timebase.Instant(opt.AckTimeout))
	if a.Send == nil || c.Results()[0].Attempts != first+1 {
		t.Errorf("overdue message not resent one timeout after the step back: %+v, attempts %d", a, c.Results()[0].Attempts)
	}
}
