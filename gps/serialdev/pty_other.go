//go:build !linux

package serialdev

import (
	"errors"
	"os"
)

var errNoPTY = errors.New("serialdev: pseudo-terminals are supported on Linux only")

// OpenPTY creates a pseudo-terminal; on this system it is not supported.
func OpenPTY(baud int) (master *os.File, path string, err error) { return nil, "", errNoPTY }

// PTYBaud returns the line speed of a pty's slave side; on this system it is not supported.
func PTYBaud(master *os.File) (int, error) { return 0, errNoPTY }
