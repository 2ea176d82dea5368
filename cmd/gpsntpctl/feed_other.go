//go:build !unix

package main

import (
	"context"
	"errors"
)

// openPTYLine: pseudo-terminals exist on Unix only; use -device here.
func openPTYLine(ctx context.Context, baud int) (*line, string, error) {
	return nil, "", errors.New("pseudo-terminals are not supported on this system; use -device")
}
