package gps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// replayChunk is the largest read Replay hands the decoder at once.
const replayChunk = 64

// ReplayOptions say how to play a recorded stream.
type ReplayOptions struct {
	// Baud is the line speed the recording is replayed at (10 bits per byte); zero means 115200. Each
	// line's receive time is the time its last byte would have arrived.
	Baud int
	// SkipComments drops the '#' comment lines at the top of a recording (gpsd's log headers), which
	// are not receiver output.
	SkipComments bool
}

// ReplayStats says what Replay did.
type ReplayStats struct {
	Bytes        int64
	CommentBytes int64            // header comment bytes skipped
	End          timebase.Instant // synthetic receive time after the last byte
}

// Replay feeds a recorded byte stream (a receiver log) to d as if it arrived at line speed from start on,
// a line at a time, calls emit with every completed epoch, and finally flushes the last epoch.
//
// A recording has no receive times, so the synthetic clock only advances by the time the bytes take on
// the line; decoders used for replay should disable the forward time-jump check
// (Options.JumpTolerance < 0), which needs real receive times. Epochs still split on the times the
// receiver names.
func Replay(r io.Reader, d *Decoder, start timebase.Instant, opt ReplayOptions, emit func(Epoch)) (ReplayStats, error) {
	baud := opt.Baud
	if baud <= 0 {
		baud = 115200
	}
	byteTime := 10 * time.Second / time.Duration(baud)
	br := bufio.NewReaderSize(r, 4096)
	st := ReplayStats{End: start}
	header := opt.SkipComments
	drain := func() {
		for {
			e, ok := d.Next()
			if !ok {
				return
			}
			if emit != nil {
				emit(e)
			}
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if header && line[0] == '#' {
				st.CommentBytes += int64(len(line))
				for errors.Is(err, bufio.ErrBufferFull) { // an overlong comment line: drop the rest too
					line, err = br.ReadSlice('\n')
					st.CommentBytes += int64(len(line))
				}
			} else {
				if len(bytes.TrimSpace(line)) > 0 {
					header = false
				}
				// Feed in small reads, as a UART driver delivers them, so a long binary stretch
				// without newlines does not look like a quiet line to the epoch splitter.
				for len(line) > 0 {
					n := min(len(line), replayChunk)
					st.Bytes += int64(n)
					st.End += timebase.Instant(time.Duration(n) * byteTime)
					d.Write(line[:n], st.End)
					line = line[n:]
				}
				drain()
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			st.End += timebase.Instant(d.Options().EpochQuiet)
			d.Flush(st.End)
			drain()
			return st, nil
		default:
			d.Flush(st.End + timebase.Instant(d.Options().EpochQuiet))
			drain()
			return st, fmt.Errorf("gps.Replay: read: %w", err)
		}
	}
}
