package ubx

import (
	"encoding/binary"
	"fmt"
)

// Message classes and ids this package sends or waits for.
const (
	ClassNAV = 0x01
	ClassACK = 0x05
	ClassCFG = 0x06
	ClassMON = 0x0A
	ClassTIM = 0x0D

	IDNavTimeUTC = 0x21
	IDNavTimeLS  = 0x26
	IDNavSAT     = 0x35
	IDTimTP      = 0x01
	IDMonVER     = 0x04

	IDCfgMSG    = 0x01
	IDCfgNAV5   = 0x24
	IDCfgTP5    = 0x31
	IDCfgVALSET = 0x8A
)

// MaxPayload is the largest payload AppendFrame accepts: the length field is 16 bits.
const MaxPayload = 0xFFFF

// Checksum returns the 8-bit Fletcher checksum of b (class, id, length and payload of a frame).
func Checksum(b []byte) (ckA, ckB byte) {
	for _, c := range b {
		ckA += c
		ckB += ckA
	}
	return ckA, ckB
}

// AppendFrame appends the UBX frame for class, id and payload to dst.
func AppendFrame(dst []byte, class, id byte, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return dst, fmt.Errorf("ubx: AppendFrame(0x%02X 0x%02X): payload of %d bytes exceeds %d", class, id, len(payload), MaxPayload)
	}
	start := len(dst)
	dst = append(dst, 0xB5, 0x62, class, id, 0, 0)
	binary.LittleEndian.PutUint16(dst[start+4:], uint16(len(payload)))
	dst = append(dst, payload...)
	a, b := Checksum(dst[start+2:])
	return append(dst, a, b), nil
}

// frame builds a frame whose payload is known to fit.
func frame(class, id byte, payload []byte) []byte {
	f, err := AppendFrame(make([]byte, 0, 8+len(payload)), class, id, payload)
	if err != nil {
		panic(err) // unreachable: every payload this package builds is far below MaxPayload
	}
	return f
}

// PollMonVER is the poll for MON-VER (an empty MON-VER message): the receiver answers with its versions.
func PollMonVER() []byte { return frame(ClassMON, IDMonVER, nil) }

// CfgMSG is the short CFG-MSG payload: output rate of a message on the port the command arrives on.
func CfgMSG(class, id, rate byte) []byte { return []byte{class, id, rate} }

// Dynamic platform models of CFG-NAV5 and CFG-NAVSPG-DYNMODEL.
const (
	DynPortable   = 0
	DynStationary = 2
)

// CfgNAV5Dyn is a CFG-NAV5 payload that changes only the dynamic platform model.
func CfgNAV5Dyn(model byte) []byte {
	p := make([]byte, 36)
	binary.LittleEndian.PutUint16(p[0:], 0x0001) // mask: dyn
	p[2] = model
	return p
}

// TimePulse is the time pulse a time server wants; the same values drive CFG-TP5 and the CFG-TP keys.
type TimePulse struct {
	PeriodUS       uint32 // period when locked to GNSS time, microseconds
	LengthUS       uint32 // pulse length when locked, microseconds
	UnlockedLength uint32 // pulse length before lock; 0: no pulse until locked
	CableDelayNS   int16  // antenna cable delay compensated by the receiver (CFG-TP5 only)
}

// CFG-TP5 flag bits.
const (
	tp5Active         = 1 << 0
	tp5LockGnssFreq   = 1 << 1
	tp5LockedOtherSet = 1 << 2
	tp5IsFreq         = 1 << 3
	tp5IsLength       = 1 << 4
	tp5AlignToTow     = 1 << 5
	tp5Polarity       = 1 << 6
	// bits 7..10 gridUtcGnss: 0 = UTC
)

// CfgTP5 is the CFG-TP5 payload for TIMEPULSE (tpIdx 0) in the given message version.
func CfgTP5(tp TimePulse, version byte) []byte {
	p := make([]byte, 32)
	le := binary.LittleEndian
	p[0] = 0 // TIMEPULSE
	p[1] = version
	le.PutUint16(p[4:], uint16(tp.CableDelayNS))
	le.PutUint32(p[8:], tp.PeriodUS)
	le.PutUint32(p[12:], tp.PeriodUS)
	le.PutUint32(p[16:], tp.UnlockedLength)
	le.PutUint32(p[20:], tp.LengthUS)
	le.PutUint32(p[28:], tp5Active|tp5LockGnssFreq|tp5LockedOtherSet|tp5IsLength|tp5AlignToTow|tp5Polarity)
	return p
}

// Key is a configuration key of CFG-VALSET. Bits 28..30 give the size of its value.
type Key uint32

// Size returns the number of bytes the key's value takes in CFG-VALSET, 0 for an invalid size code.
func (k Key) Size() int {
	switch (k >> 28) & 7 {
	case 1, 2:
		return 1
	case 3:
		return 2
	case 4:
		return 4
	case 5:
		return 8
	}
	return 0
}

// KV is one key and its value.
type KV struct {
	Key   Key
	Value uint64
}

// Layers of CFG-VALSET.
const (
	LayerRAM   = 0x01
	LayerBBR   = 0x02
	LayerFlash = 0x04
)

// maxValsetKeys is the most keys one CFG-VALSET may carry.
const maxValsetKeys = 64

// CfgVALSET builds a version 0 CFG-VALSET payload.
func CfgVALSET(layers byte, kvs []KV) ([]byte, error) {
	if len(kvs) == 0 || len(kvs) > maxValsetKeys {
		return nil, fmt.Errorf("ubx: CfgVALSET: %d keys, want 1..%d", len(kvs), maxValsetKeys)
	}
	p := []byte{0, layers, 0, 0}
	for _, kv := range kvs {
		n := kv.Key.Size()
		if n == 0 {
			return nil, fmt.Errorf("ubx: CfgVALSET: key 0x%08X has no valid size code", uint32(kv.Key))
		}
		if n < 8 && kv.Value>>(8*n) != 0 {
			return nil, fmt.Errorf("ubx: CfgVALSET: value %d does not fit key 0x%08X (%d bytes)", kv.Value, uint32(kv.Key), n)
		}
		p = binary.LittleEndian.AppendUint32(p, uint32(kv.Key))
		for i := 0; i < n; i++ {
			p = append(p, byte(kv.Value>>(8*i)))
		}
	}
	return p, nil
}
