//go:build !linux

package gpiocdev

import (
	"context"
	"errors"
	"fmt"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// ErrUnsupported is returned off Linux: the GPIO character device is a Linux interface.
var ErrUnsupported = errors.New("gpiocdev: the GPIO character device exists only on Linux")

// Line is a requested GPIO line; off Linux it cannot be opened.
type Line struct{}

// Open fails off Linux.
func Open(spec LineSpec, mode EdgeMode, consumer string) (*Line, error) {
	return nil, fmt.Errorf("gpiocdev: open %s: %w", spec, ErrUnsupported)
}

// Realtime reports false.
func (l *Line) Realtime() bool { return false }

// Counts returns zero counts.
func (l *Line) Counts() Counts { return Counts{} }

// Run fails off Linux.
func (l *Line) Run(ctx context.Context, out chan<- timebase.Edge) error { return ErrUnsupported }

// Close does nothing.
func (l *Line) Close() error { return nil }
