package ubx

import "bytes"

// The other side of the configurator: what a u-blox receiver answers. gpsntpctl feed plays a receiver
// into a pty with it (so `gpsntpd -gps-device` can be tried against a simulated u-blox), and the serial
// edge's and the end-to-end tests use the same answers, so the emulation is written once.

// NextFrame returns the first complete frame in b (sync bytes to checksum; the checksum is not verified:
// a receiver answers what it understood) and the bytes after it. With no complete frame, ok is false and
// rest keeps what may still become one: from the first sync, or a trailing 0xB5; bytes before a sync are
// dropped either way.
func NextFrame(b []byte) (frame, rest []byte, ok bool) {
	i := bytes.Index(b, []byte{0xB5, 0x62})
	if i < 0 {
		if len(b) > 0 && b[len(b)-1] == 0xB5 {
			return nil, b[len(b)-1:], false
		}
		return nil, b[:0], false
	}
	b = b[i:]
	if len(b) < 8 {
		return nil, b, false
	}
	n := 8 + (int(b[4]) | int(b[5])<<8)
	if len(b) < n {
		return nil, b, false
	}
	return b[:n], b[n:], true
}

// MonVER is the MON-VER frame of a receiver speaking protocol protver: a NEO-M8T, or a ZED-F9T from
// protocol 27 on (the generation with CFG-VALSET).
func MonVER(protver string) []byte {
	field := func(s string, n int) []byte { b := make([]byte, n); copy(b, s); return b }
	model, hw := "NEO-M8T", "00080000"
	if v, _ := ParseProtocol(protver); v >= 2700 {
		model, hw = "ZED-F9T", "00190000"
	}
	var p []byte
	p = append(p, field("ROM CORE 3.01 (107888)", 30)...)
	p = append(p, field(hw, 10)...)
	for _, ext := range []string{"FWVER=TIM 1.10", "PROTVER=" + protver, "MOD=" + model} {
		p = append(p, field(ext, 30)...)
	}
	return frame(ClassMON, IDMonVER, p)
}

// Answer is what a receiver speaking protver answers to frame: its MON-VER to an empty MON-VER poll, an
// ACK-ACK (ACK-NAK when nak) to any CFG message, nothing (nil) otherwise.
func Answer(frame []byte, protver string, nak bool) []byte {
	if len(frame) < 8 {
		return nil
	}
	class, id, n := frame[2], frame[3], int(frame[4])|int(frame[5])<<8
	switch {
	case class == ClassMON && id == IDMonVER && n == 0:
		return MonVER(protver)
	case class == ClassCFG:
		ack := byte(0x01)
		if nak {
			ack = 0x00
		}
		f, _ := AppendFrame(nil, ClassACK, ack, []byte{class, id})
		return f
	}
	return nil
}
