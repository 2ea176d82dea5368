//go:build linux

package kpps

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Open opens a PPS device such as /dev/pps0.
func Open(path string) (Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("kpps: open %s: %w", path, err)
	}
	return &dev{fd: fd, path: path}, nil
}

type dev struct {
	fd   int
	path string
}

func (d *dev) ioctl(req uint, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), uintptr(req), uintptr(arg))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("%s: %w", d.path, errno)
		}
		return nil
	}
}

func (d *dev) GetCap() (int32, error) {
	var caps int32
	err := d.ioctl(unix.PPS_GETCAP, unsafe.Pointer(&caps))
	return caps, err
}

func (d *dev) GetParams() (Params, error) {
	var p unix.PPSKParams
	if err := d.ioctl(unix.PPS_GETPARAMS, unsafe.Pointer(&p)); err != nil {
		return Params{}, err
	}
	return Params{APIVersion: p.Api_version, Mode: p.Mode}, nil
}

func (d *dev) SetParams(p Params) error {
	k := unix.PPSKParams{Api_version: p.APIVersion, Mode: p.Mode}
	return d.ioctl(unix.PPS_SETPARAMS, unsafe.Pointer(&k))
}

func (d *dev) Fetch(timeout time.Duration) (Info, error) {
	var f unix.PPSFData
	f.Timeout.Sec = int64(timeout / time.Second)
	f.Timeout.Nsec = int32(timeout % time.Second)
	err := d.ioctl(unix.PPS_FETCH, unsafe.Pointer(&f))
	if errors.Is(err, unix.ETIMEDOUT) {
		return Info{}, ErrTimeout
	}
	if err != nil {
		return Info{}, err
	}
	return Info{
		AssertSeq: f.Info.Assert_sequence, ClearSeq: f.Info.Clear_sequence,
		Assert: Time{f.Info.Assert_tu.Sec, f.Info.Assert_tu.Nsec},
		Clear:  Time{f.Info.Clear_tu.Sec, f.Info.Clear_tu.Nsec},
		Mode:   f.Info.Current_mode,
	}, nil
}

func (d *dev) Close() error { return unix.Close(d.fd) }
