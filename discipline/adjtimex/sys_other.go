//go:build !linux

package adjtimex

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned off Linux.
var ErrUnsupported = errors.New("adjtimex: the kernel clock interface is Linux's")

// New returns a clock whose every call fails off Linux.
func New() *Clock { return NewWith(unsupported{}) }

type unsupported struct{}

func (unsupported) Adjtimex(t *Timex) (int, error) {
	return 0, fmt.Errorf("adjtimex modes %#x: %w", t.Modes, ErrUnsupported)
}
