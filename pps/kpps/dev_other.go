//go:build !linux

package kpps

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned off Linux: /dev/ppsN is the Linux PPS API.
var ErrUnsupported = errors.New("kpps: kernel PPS devices exist only on Linux")

// Open fails off Linux.
func Open(path string) (Device, error) {
	return nil, fmt.Errorf("kpps: open %s: %w", path, ErrUnsupported)
}
