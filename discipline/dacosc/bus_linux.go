package dacosc

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Linux i2c-dev (include/uapi/linux/i2c-dev.h, i2c.h): one I2C_RDWR ioctl carries a write and a read as one
// transaction with a repeated start.
//
//	struct i2c_msg { __u16 addr; __u16 flags; __u16 len; __u8 *buf; }            16 bytes on 64 bit, 12 on 32
//	struct i2c_rdwr_ioctl_data { struct i2c_msg *msgs; __u32 nmsgs; }
const (
	ioctlI2CRDWR  = 0x0707
	ioctlI2CFuncs = 0x0705
	i2cFuncI2C    = 0x00000001 // the adapter does plain I2C messages (I2C_RDWR)
	i2cMsgRead    = 0x0001
)

type i2cMsg struct {
	addr, flags, len uint16
	buf              uintptr
}

type i2cRDWR struct {
	msgs  uintptr
	nmsgs uint32
}

// bus is an open /dev/i2c-N.
type bus struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// OpenBus opens an i2c-dev bus, e.g. /dev/i2c-1.
func OpenBus(path string) (i2c.BusCloser, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("dacosc: OpenBus(%s): %w", path, err)
	}
	// I2C_FUNCS both proves the node is an i2c-dev adapter and says whether it can do I2C_RDWR (an
	// SMBus-only adapter cannot).
	var funcs uint // C unsigned long
	sc, err := f.SyscallConn()
	if err == nil {
		var errno unix.Errno
		err = sc.Control(func(fd uintptr) {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlI2CFuncs, uintptr(unsafe.Pointer(&funcs)))
		})
		if err == nil && errno != 0 {
			err = errno
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dacosc: OpenBus(%s): ioctl I2C_FUNCS (is it an i2c-dev node?): %w", path, err)
	}
	if funcs&i2cFuncI2C == 0 {
		f.Close()
		return nil, fmt.Errorf("dacosc: OpenBus(%s): the adapter does not do plain I2C transfers (functionality %#x)", path, funcs)
	}
	return &bus{f: f, path: path}, nil
}

func (b *bus) String() string { return b.path }

func (b *bus) Close() error { return b.f.Close() }

// Tx writes w then reads r from addr, as one transaction.
func (b *bus) Tx(addr uint16, w, r []byte) error {
	if len(w) > 0xffff || len(r) > 0xffff {
		return fmt.Errorf("dacosc: %s: Tx(%#x): message too long", b.path, addr)
	}
	var msgs [2]i2cMsg
	var pin runtime.Pinner
	defer pin.Unpin()
	n := 0
	if len(w) > 0 {
		pin.Pin(&w[0])
		msgs[n] = i2cMsg{addr: addr, len: uint16(len(w)), buf: uintptr(unsafe.Pointer(&w[0]))}
		n++
	}
	if len(r) > 0 {
		pin.Pin(&r[0])
		msgs[n] = i2cMsg{addr: addr, flags: i2cMsgRead, len: uint16(len(r)), buf: uintptr(unsafe.Pointer(&r[0]))}
		n++
	}
	if n == 0 {
		return nil
	}
	pin.Pin(&msgs[0])
	data := i2cRDWR{msgs: uintptr(unsafe.Pointer(&msgs[0])), nmsgs: uint32(n)}
	b.mu.Lock()
	defer b.mu.Unlock()
	sc, err := b.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("dacosc: %s: Tx(%#x): %w", b.path, addr, err)
	}
	var errno unix.Errno
	if err := sc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlI2CRDWR, uintptr(unsafe.Pointer(&data)))
	}); err != nil {
		return fmt.Errorf("dacosc: %s: Tx(%#x): %w", b.path, addr, err)
	}
	runtime.KeepAlive(&data)
	if errno != 0 {
		return fmt.Errorf("dacosc: %s: ioctl I2C_RDWR addr %#x (write %d, read %d bytes): %w", b.path, addr, len(w), len(r), errno)
	}
	return nil
}

// SetSpeed is not supported through i2c-dev: the bus speed is set by the device tree (dtparam i2c_arm_baudrate).
func (b *bus) SetSpeed(physic.Frequency) error {
	return fmt.Errorf("dacosc: %s: SetSpeed: set the bus speed in config.txt (dtparam=i2c_arm_baudrate)", b.path)
}

var _ i2c.Bus = (*bus)(nil)

// SCL and SDA are unknown through i2c-dev.
func (b *bus) SCL() gpio.PinIO { return gpio.INVALID }
func (b *bus) SDA() gpio.PinIO { return gpio.INVALID }
