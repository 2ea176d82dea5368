//go:build linux

package gpiocdev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Line is a requested GPIO line delivering edge events.
type Line struct {
	spec     LineSpec
	mode     EdgeMode
	f        *os.File
	realtime bool
	dec      *Decoder
}

// Open requests spec's line as an input with edge detection for mode, asking for CLOCK_REALTIME event
// timestamps and falling back to CLOCK_MONOTONIC with a mapping where the kernel refuses that.
func Open(spec LineSpec, mode EdgeMode, consumer string) (*Line, error) {
	if mode < Rising || mode > Both {
		return nil, fmt.Errorf("gpiocdev: open %s: edge mode %v", spec, mode)
	}
	if spec.Label != "" {
		chips, err := Chips()
		if err != nil {
			return nil, err
		}
		if spec, err = ResolveLabel(spec, chips); err != nil {
			return nil, err
		}
	}
	chip, err := unix.Open(spec.Chip, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("gpiocdev: open %s: %w", spec.Chip, err)
	}
	defer unix.Close(chip)
	realtime := true
	req := newRequest(spec.Offset, mode, consumer, true)
	err = getLine(chip, &req)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.11 do not know GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME.
		realtime = false
		req = newRequest(spec.Offset, mode, consumer, false)
		err = getLine(chip, &req)
	}
	if err != nil {
		return nil, fmt.Errorf("gpiocdev: GPIO_V2_GET_LINE_IOCTL %s: %w", spec, err)
	}
	fd := int(req.Fd)
	// Non-blocking, so that os.File parks the reader in the runtime poller and Close wakes it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gpiocdev: set non-blocking on %s: %w", spec, err)
	}
	l := &Line{spec: spec, mode: mode, f: os.NewFile(uintptr(fd), spec.String()), realtime: realtime}
	if realtime {
		l.dec = NewDecoder(nil)
	} else {
		l.dec = NewDecoder(NewMapper(sampleClocks))
	}
	return l, nil
}

func getLine(chip int, req *lineRequest) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(chip), uintptr(getLineIoctl), uintptr(unsafe.Pointer(req)))
	if errno != 0 {
		return errno
	}
	return nil
}

// sampleClocks reads CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC and pairs the realtime reading with
// the midpoint of the two monotonic ones.
func sampleClocks() (mono, real int64) {
	var a, r, b unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
	return (a.Nano() + b.Nano()) / 2, r.Nano()
}

// Realtime reports whether the kernel stamps events with CLOCK_REALTIME (false: mapped from monotonic).
func (l *Line) Realtime() bool { return l.realtime }

// Counts returns the capture's totals; safe from any goroutine.
func (l *Line) Counts() Counts { return l.dec.Counts() }

// Run sends edges on out until ctx is done or the line fails. It closes the line when it returns.
func (l *Line) Run(ctx context.Context, out chan<- timebase.Edge) error {
	stop := context.AfterFunc(ctx, func() { l.f.Close() })
	defer stop()
	err := l.dec.ReadEdges(ctx, l.f, out)
	l.f.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Close releases the line.
func (l *Line) Close() error { return l.f.Close() }

// Chips lists the GPIO character devices with their labels (GPIO_GET_CHIPINFO_IOCTL).
func Chips() ([]Chip, error) {
	paths, err := filepath.Glob("/dev/gpiochip*")
	if err != nil {
		return nil, err
	}
	var out []Chip
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("gpiocdev: open %s: %w", p, err)
		}
		var info chipInfo
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), chipInfoIoctl, uintptr(unsafe.Pointer(&info)))
		unix.Close(fd)
		if errno != 0 {
			return nil, fmt.Errorf("gpiocdev: GPIO_GET_CHIPINFO_IOCTL %s: %w", p, errno)
		}
		out = append(out, Chip{Path: p, Label: cString(info.Label[:]), Lines: info.Lines})
	}
	return out, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
