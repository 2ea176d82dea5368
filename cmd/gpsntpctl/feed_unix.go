//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/gps/serialdev"
)

// openPTYLine makes a pseudo-terminal whose master is written without blocking: while nobody reads the
// slave, what does not fit in the kernel's buffer is dropped (line.write counts it).
func openPTYLine(ctx context.Context, baud int) (*line, string, error) {
	master, path, err := serialdev.OpenPTY(baud)
	if err != nil {
		return nil, "", err
	}
	fd := int(master.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		master.Close()
		return nil, "", fmt.Errorf("pty: set non-blocking: %w", err)
	}
	return &line{
		w:     func(b []byte) (int, error) { return syscall.Write(fd, b) },
		r:     nonblockReader{ctx, fd},
		close: master.Close,
	}, path, nil
}

// nonblockReader reads a non-blocking fd, polling gently until data comes or ctx ends.
type nonblockReader struct {
	ctx context.Context
	fd  int
}

func (r nonblockReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(r.fd, p)
		if n > 0 {
			return n, nil
		}
		// EAGAIN: nothing yet; EIO: nobody has the slave open (yet). Both pass with time.
		if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EIO) {
			return 0, err
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}
