// Package wire encodes and decodes NTP packets (RFC 5905) and walks the extension fields that may follow
// the header (RFC 7822). It is the byte layer under the ntpserve policy core and, later, NTS.
//
// # Packet layout
//
// Every NTP packet starts with the same 48-byte header; what follows it depends on the version:
//
//	+--------------------------------+  offset 0
//	| header (48 bytes, see Header)  |
//	+--------------------------------+  offset 48
//	| extension field 1  (NTPv4 only)|  each: type, length, value, padding;
//	| extension field 2              |  length a multiple of 4, at least 16
//	| ...                            |
//	+--------------------------------+
//	| legacy MAC (optional)          |  key id (4) + digest (16 or 20) = 20 or 24 bytes
//	+--------------------------------+
//
// NTPv1 to v3 have no extension fields: after their header there is nothing or a MAC.
//
// # Telling a MAC from an extension field
//
// A legacy MAC has no type or length of its own, so a parser must decide by size what the remaining bytes
// are. RFC 7822 makes the decision unambiguous: a MAC is 20 or 24 bytes, and without a MAC the last
// extension field must be at least 28 bytes long. So when exactly 20 or 24 bytes remain, they are a MAC;
// otherwise they must start an extension field. We accept a last field shorter than 28 bytes (down to the
// general minimum of 16) when what remains is not 20 or 24 bytes, because that reading is still unambiguous
// and deployed clients send such packets; being strict there would only drop valid requests.
//
// # Errors and allocation
//
// Decoding runs once per received datagram on the server's hot path, including for hostile traffic, so
// nothing here allocates: the header decodes into a caller's struct, the extension iterator hands out
// sub-slices of the packet, and errors are package-level sentinels (ErrShort, ErrExtLength, ...) rather than
// wrapped values. The sentinels let the server count outcomes by kind; every error about malformed input
// also matches ErrMalformed with errors.Is. Callers that report an error to a person wrap it with context;
// per-packet paths only count it.
package wire
