package serialdev

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// bauds maps line speeds to their termios codes.
var bauds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
	460800: unix.B460800, 921600: unix.B921600,
}

// OpenPTY creates a pseudo-terminal and returns its master side and the path of its slave side
// (/dev/pts/N). The slave behaves like a serial port: a feeder or a test writes receiver output into
// master, and gpsntpd opens the path as its GPS device; what gpsntpd writes (configuration frames) can be
// read from master. The slave is set raw (no echo, no line editing, no CR/LF translation) at the nominal
// baud before anyone opens it, so bytes written early are not mangled. The master is opened
// close-on-exec and blocking; closing it hangs up the slave (its reader gets EIO), as unplugging a USB
// adapter does.
func OpenPTY(baud int) (master *os.File, path string, err error) {
	code, ok := bauds[baud]
	if !ok {
		return nil, "", fmt.Errorf("serialdev: OpenPTY: baud %d is not a standard rate", baud)
	}
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("serialdev: open /dev/ptmx: %w", err)
	}
	fail := func(what string, err error) (*os.File, string, error) {
		unix.Close(fd)
		return nil, "", fmt.Errorf("serialdev: OpenPTY: %s: %w", what, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlock (TIOCSPTLCK)", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("pty number (TIOCGPTN)", err)
	}
	// Termios ioctls on a pty master act on its slave (the kernel's tty_mode_ioctl uses the link).
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fail("TCGETS", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CBAUD | unix.CSTOPB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | code
	t.Ispeed, t.Ospeed = uint32(baud), uint32(baud)
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fail("TCSETS", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), fmt.Sprintf("/dev/pts/%d", n), nil
}

// PTYBaud returns the line speed the slave side of a pty is currently set to, read through its master:
// what a program that opened the slave (gpsntpd detecting the rate) last chose. A pty does not slow bytes
// down, so tests and the feeder use it to act like a receiver that is only understood at its real rate.
func PTYBaud(master *os.File) (int, error) {
	t, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		return 0, fmt.Errorf("serialdev: PTYBaud: TCGETS: %w", err)
	}
	code := t.Cflag & unix.CBAUD
	for b, c := range bauds {
		if c == code {
			return b, nil
		}
	}
	if code == unix.BOTHER {
		return int(t.Ospeed), nil
	}
	return 0, fmt.Errorf("serialdev: PTYBaud: unknown speed code 0x%x", code)
}
