// Package serialdev is the receiver's serial-port edge: it opens the UART (or USB serial adapter, or
// pseudo-terminal) a GNSS receiver talks on, hands every read to the daemon with the time it returned,
// finds the line speed when none is given, reopens the port when the device goes away and comes back,
// and, for u-blox receivers, carries out the configuration that the pure gps/ubx package decides.
//
// Everything that decides lives elsewhere: frames are recognised by gps.Decoder, the baud rate is judged
// by gps.LineScore, the configuration conversation is gps/ubx's state machine. This package only does
// the syscalls around them, so it is small and its tests run against a pseudo-terminal.
//
// # Reads and receive times
//
// Each read is stamped with the injected clock (CLOCK_REALTIME in the daemon) right after read(2)
// returns, and delivered as one chunk; the decoder gives an epoch the receive time of the read that holds
// its first byte. The tty is raw (no line editing, no CR/LF translation, VMIN 1, VTIME 0), so a read
// returns as soon as the kernel has bytes: with a UART that is every FIFO drain, a few milliseconds after
// the byte arrived. Input already queued when the port is opened is discarded, because it would be
// stamped with the time of the read, not of its arrival. A USB adapter batches bytes for its latency
// timer (16 ms on FTDI by default); that is a property of the adapter, calibrated out with the PPS.
//
// # Baud rate detection
//
// With Baud 0 the port tries each rate of Config.Bauds (the last rate that worked first) for up to
// ProbeWindow, decoding what arrives with a fresh gps.Decoder and scoring it with gps.LineScore: at the
// wrong rate a UART delivers framing garbage in which a correct NMEA or UBX checksum essentially never
// occurs. The first rate whose sample is convincing (MinGood good frames, more good than bad) wins at once;
// rounds repeat until one does, since a receiver may still be starting. On a pseudo-terminal the rate is
// only nominal (every rate reads the same bytes), so the first rate tried wins there.
//
// # Reconnecting
//
// A read error (EIO when a USB adapter is unplugged or a pty's master closes) ends the connection; the
// port is closed and reopened by path after a backoff that doubles from MinBackoff to MaxBackoff and
// returns to MinBackoff once a connection has delivered data. Opening a path that is a symlink (udev's
// /dev/serial/by-id, /dev/gps0) follows it anew each time, so a device that comes back under another
// node is found. Connects, disconnects and failed opens are counted in Status.
//
// # Why go.bug.st/serial
//
// It sets termios portably (raw mode, 8N1, any standard rate, RTS/CTS off), takes TIOCEXCL so a second
// process cannot read the same port, and its Read can be interrupted by Close and given a timeout,
// which is what shutdown and the configuration timers need; it is pure Go (no cgo) for the arm64 image.
// Pseudo-terminals for tests and the feeder are made with golang.org/x/sys/unix directly (/dev/ptmx,
// TIOCSPTLCK, TIOCGPTN): three ioctls do not justify another module such as creack/pty.
package serialdev
