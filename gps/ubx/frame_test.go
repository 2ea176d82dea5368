package ubx

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/gps"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// The expected frames are written out byte by byte with their checksums computed by hand, e.g. for the
// MON-VER poll over 0A 04 00 00: A = 0A, 0E, 0E, 0E; B = 0A, 18, 26, 34 -> CK 0E 34; and for CFG-MSG
// NAV-TIMEUTC over 06 01 03 00 01 21 01: A = 06 07 0A 0A 0B 2C 2D, B = 06 0D 17 21 2C 58 85 -> 2D 85.
func TestFrames(t *testing.T) {
	tp5v1 := "b562 0631 2000" + // header, length 32
		"00 01 0000" + // tpIdx 0, version 1, reserved
		"3200 0000" + // antCableDelay 50 ns, rfGroupDelay 0
		"40420f00 40420f00" + // period 1 000 000 us unlocked and locked
		"00000000 a0860100" + // length 0 unlocked (no pulse), 100 000 us locked
		"00000000 77000000" + // userConfigDelay 0; flags active|lockGnssFreq|lockedOtherSet|isLength|alignToTow|polarity, grid UTC
		"4ab6"
	// Version 0 differs in one byte, one less: CK_A is one less, and CK_B 31 less (that byte is in 31 running sums).
	tp5v0 := "b562 0631 2000 00 00 0000 3200 0000 40420f00 40420f00 00000000 a0860100 00000000 77000000 4997"
	nav5 := "b562 0624 2400 0100 02" + strings.Repeat("00", 33) + "512c"
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"MON-VER poll", PollMonVER(), "b562 0a04 0000 0e34"},
		{"CFG-MSG NAV-TIMEUTC 1", frame(ClassCFG, IDCfgMSG, CfgMSG(ClassNAV, IDNavTimeUTC, 1)), "b562 0601 0300 01 21 01 2d85"},
		{"CFG-MSG TIM-TP 1", frame(ClassCFG, IDCfgMSG, CfgMSG(ClassTIM, IDTimTP, 1)), "b562 0601 0300 0d 01 01 1969"},
		{"CFG-MSG NAV-SAT 5", frame(ClassCFG, IDCfgMSG, CfgMSG(ClassNAV, IDNavSAT, 5)), "b562 0601 0300 01 35 05 45b1"},
		{"CFG-MSG NAV-TIMELS 10", frame(ClassCFG, IDCfgMSG, CfgMSG(ClassNAV, IDNavTimeLS, 10)), "b562 0601 0300 01 26 0a 3b98"},
		{"CFG-NAV5 stationary", frame(ClassCFG, IDCfgNAV5, CfgNAV5Dyn(DynStationary)), nav5},
		{"CFG-TP5 v1", frame(ClassCFG, IDCfgTP5, CfgTP5(DefaultTimePulse, 1)), tp5v1},
		{"CFG-TP5 v0", frame(ClassCFG, IDCfgTP5, CfgTP5(DefaultTimePulse, 0)), tp5v0},
		{"CFG-VALSET DYNMODEL", mustValset(t, LayerRAM, KV{keyNavspgDynModel, DynStationary}),
			"b562 068a 0900 00 01 0000 21001120 02 ee4b"},
		{"CFG-VALSET sizes", mustValset(t, LayerRAM|LayerBBR, KV{keyTPEnaTP1, 1}, KV{0x30050001, 0xFFCE}, KV{keyTPLenLockTP1, 100000}),
			"b562 068a 1700 00 03 0000 07000510 01 01000530 cefF 05000540 a0860100 " + checksumOf(t, "068a 1700 00 03 0000 07000510 01 01000530 ceff 05000540 a0860100")},
	}
	for _, tc := range tests {
		want := unhex(t, tc.want)
		if string(tc.got) != string(want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, tc.got, want)
		}
		// Every frame must also decode as good UBX: the decoder counts it (unknown class/id or not).
		d := gps.NewDecoder(gps.Options{})
		d.Write(tc.got, 1)
		if c := d.Counts(); c.UBXBad != 0 || c.UBXOK+c.UBXUnknown+c.UBXMalformed != 1 {
			t.Errorf("%s: decoder counts %+v, want one good frame", tc.name, c)
		}
	}
}

// checksumOf computes the Fletcher checksum independently of Checksum, for frames too long to do by hand.
func checksumOf(t *testing.T, body string) string {
	b := unhex(t, body)
	var a, c int
	for _, x := range b {
		a = (a + int(x)) % 256
		c = (c + a) % 256
	}
	return hex.EncodeToString([]byte{byte(a), byte(c)})
}

func mustValset(t *testing.T, layers byte, kvs ...KV) []byte {
	t.Helper()
	p, err := CfgVALSET(layers, kvs)
	if err != nil {
		t.Fatal(err)
	}
	return frame(ClassCFG, IDCfgVALSET, p)
}

func TestValsetErrors(t *testing.T) {
	if _, err := CfgVALSET(LayerRAM, nil); err == nil {
		t.Error("no keys: want error")
	}
	if _, err := CfgVALSET(LayerRAM, []KV{{Key: 0x00050001, Value: 1}}); err == nil || !strings.Contains(err.Error(), "0x00050001") {
		t.Errorf("size code 0: err %v, want one naming the key", err)
	}
	if _, err := CfgVALSET(LayerRAM, []KV{{Key: keyNavspgDynModel, Value: 256}}); err == nil {
		t.Error("256 in a one-byte key: want error")
	}
	many := make([]KV, maxValsetKeys+1)
	for i := range many {
		many[i] = KV{Key: keyTPEnaTP1, Value: 1}
	}
	if _, err := CfgVALSET(LayerRAM, many); err == nil {
		t.Error("65 keys: want error")
	}
	if _, err := AppendFrame(nil, 1, 2, make([]byte, MaxPayload+1)); err == nil {
		t.Error("oversized payload: want error")
	}
}

func TestKeySize(t *testing.T) {
	for _, tc := range []struct {
		k    Key
		want int
	}{{keyTPEnaTP1, 1}, {keyNavspgDynModel, 1}, {0x30050001, 2}, {keyTPPeriodTP1, 4}, {0x50050001, 8}, {0x00000001, 0}, {0x70000001, 0}} {
		if got := tc.k.Size(); got != tc.want {
			t.Errorf("Key(0x%08X).Size() = %d, want %d", uint32(tc.k), got, tc.want)
		}
	}
}
