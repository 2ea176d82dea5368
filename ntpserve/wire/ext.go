package wire

import (
	"encoding/binary"
	"errors"
)

// Extension field limits from RFC 7822.
const (
	// ExtHeaderLen is the length of an extension field's type and length words.
	ExtHeaderLen = 4
	// MinExtLen is the smallest legal extension field, header and padding included.
	MinExtLen = 16
	// MaxExtLen is the largest length the 16-bit length word can state that is a multiple of 4.
	MaxExtLen = 0xfffc
)

// Legacy MAC sizes: a 4-byte key id followed by a 16-byte (MD5, AES-CMAC) or 20-byte (SHA-1) digest.
const (
	MACLen16 = 4 + 16
	MACLen20 = 4 + 20
)

// Field is one extension field (RFC 7822 section 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Field Type           |            Length             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	.                                                               .
//	.                            Value                              .
//	.                                                               .
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Padding (as needed)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Length counts the whole field: the 4 header bytes, the value and the padding. Where the value ends and
// the padding begins is for each field type to say (NTS fields, for example, carry their own inner lengths),
// so Value holds both.
type Field struct {
	Type   uint16 // the field type (IANA "NTP Extension Field Types")
	Offset int    // offset of the field's first byte (its type word) in the packet
	Length int    // length of the whole field: Offset+Length is where the next field starts
	Value  []byte // the bytes after the 4-byte header: value and padding; aliases the packet
}

// MAC is a legacy message authentication code that ends a packet: a key identifier and a digest.
type MAC struct {
	Offset int    // offset of the key id in the packet
	KeyID  uint32 //
	Digest []byte // 16 or 20 bytes; aliases the packet
}

// ExtensionIter walks the extension fields of an NTPv4 packet without allocating. Use it like bufio.Scanner:
//
//	it := wire.Extensions(pkt)
//	for it.Next() {
//		f := it.Field()
//		...
//	}
//	if err := it.Err(); err != nil { ... }     // a malformed layout; Offset says where
//	if mac, ok := it.MAC(); ok { ... }         // a trailing legacy MAC, once Next has returned false
//
// The iterator stops at the first malformed field; fields already returned were well-formed.
type ExtensionIter struct {
	pkt []byte
	off int
	// The current field and the MAC are kept as offsets, and sliced out of pkt only when asked for: storing
	// a sub-slice of it.pkt back into *it would make the escape analysis move every packet to the heap.
	fieldType uint16
	fieldOff  int
	fieldLen  int
	macOff    int // -1: no MAC
	err       error
	done      bool
}

// Extensions returns an iterator over what follows the 48-byte header of pkt (the whole packet, header
// included, so that offsets are packet offsets). A pkt shorter than the header yields ErrShort.
func Extensions(pkt []byte) ExtensionIter {
	it := ExtensionIter{pkt: pkt, off: HeaderLen, macOff: -1}
	if len(pkt) < HeaderLen {
		it.err, it.done, it.off = ErrShort, true, 0
	}
	return it
}

// Next advances to the next extension field and reports whether there is one. It returns false at the end
// of the packet, at a trailing MAC, or on a malformed layout (then Err is non-nil).
func (it *ExtensionIter) Next() bool {
	if it.done {
		return false
	}
	rem := len(it.pkt) - it.off
	switch {
	case rem == 0:
		it.done = true
		return false
	case rem == MACLen16 || rem == MACLen20:
		// RFC 7822: a final 20 or 24 bytes are a MAC, never a field (a final field is at least 28 bytes).
		it.macOff, it.done = it.off, true
		it.off = len(it.pkt)
		return false
	case rem < ExtHeaderLen:
		return it.fail(ErrExtTruncated)
	}
	b := it.pkt[it.off:]
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length < MinExtLen || length%4 != 0 {
		return it.fail(ErrExtLength)
	}
	if length > rem {
		return it.fail(ErrExtOverrun)
	}
	it.fieldType, it.fieldOff, it.fieldLen = binary.BigEndian.Uint16(b[0:2]), it.off, length
	it.off += length
	return true
}

func (it *ExtensionIter) fail(err error) bool {
	it.err, it.done = err, true
	return false
}

// Field returns the field found by the last successful call to Next; the zero Field before one.
func (it *ExtensionIter) Field() Field {
	if it.fieldLen == 0 {
		return Field{}
	}
	end := it.fieldOff + it.fieldLen
	return Field{
		Type:   it.fieldType,
		Offset: it.fieldOff,
		Length: it.fieldLen,
		// A full slice expression, so that a caller appending to Value cannot overwrite the next field.
		Value: it.pkt[it.fieldOff+ExtHeaderLen : end : end],
	}
}

// Err returns the error that stopped the iteration, or nil if it stopped at the end of the packet or at a MAC.
func (it *ExtensionIter) Err() error { return it.err }

// Offset returns the packet offset where the iterator will look next; after an error, the offset of the
// field that was malformed.
func (it *ExtensionIter) Offset() int { return it.off }

// MAC returns the trailing legacy MAC, if iteration has ended at one.
func (it *ExtensionIter) MAC() (MAC, bool) {
	if it.macOff < 0 {
		return MAC{}, false
	}
	return MAC{
		Offset: it.macOff,
		KeyID:  binary.BigEndian.Uint32(it.pkt[it.macOff:]),
		Digest: it.pkt[it.macOff+4 : len(it.pkt) : len(it.pkt)],
	}, true
}

// ValidateTrailer checks that what follows the header of pkt is well-formed for the given protocol
// version: for NTPv4 (and later versions, which keep the RFC 7822 layout), any number of extension fields
// and an optional MAC; for NTPv1 to v3, which predate extension fields, nothing or a MAC. It returns nil or
// one of the sentinel errors, and does not allocate.
func ValidateTrailer(pkt []byte, version uint8) error {
	switch {
	case len(pkt) < HeaderLen:
		return ErrShort
	case len(pkt) == HeaderLen:
		return nil // the common case: nothing follows the header
	}
	if version < 4 {
		switch len(pkt) - HeaderLen {
		case 0, MACLen16, MACLen20:
			return nil
		}
		return ErrTrailer
	}
	it := Extensions(pkt)
	for it.Next() {
	}
	return it.Err()
}

// ErrExtTooLong: AppendField was given a value that does not fit the 16-bit length word.
var ErrExtTooLong = errors.New("ntp wire: extension field value too long")

// AppendField appends an extension field of the given type and value to dst, zero-padding it to a multiple
// of 4 bytes and to at least 16 bytes. It does not enforce the 28-byte minimum for a packet's last field
// without a MAC; a sender must choose its value lengths (or add a padding field) for that.
func AppendField(dst []byte, typ uint16, value []byte) ([]byte, error) {
	length := ExtHeaderLen + len(value)
	length = (length + 3) &^ 3
	if length < MinExtLen {
		length = MinExtLen
	}
	if length > MaxExtLen {
		return dst, ErrExtTooLong
	}
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	dst = append(dst, value...)
	for pad := length - ExtHeaderLen - len(value); pad > 0; pad-- {
		dst = append(dst, 0)
	}
	return dst, nil
}
