package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/serialdev"
	"github.com/gpsntp/gpsntp/gps/ubx"
)

func nmeaSentence(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

// fakeReceiver is a u-blox NEO-M8T (protocol 18.00) on the master side of a pty: every second it writes
// RMC, GGA and GSA for the current UTC second at line speed, plus one sentence with a wrong checksum; it
// answers a MON-VER poll with its identity and configuration messages with ACK-ACK, and keeps the UBX
// frames it was sent.
type fakeReceiver struct {
	fd   int
	path string
	baud int

	mu       sync.Mutex
	received [][]byte
	wmu      sync.Mutex // one writer at a time: NMEA and UBX answers must not interleave mid-frame
}

func newFakeReceiver(t *testing.T, baud int) *fakeReceiver {
	t.Helper()
	master, path, err := serialdev.OpenPTY(baud)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	f := &fakeReceiver{fd: fd, path: path, baud: baud}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.talk(ctx) }()
	go func() { defer wg.Done(); f.listen(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); master.Close() })
	return f
}

// write sends p at line speed in 32-byte chunks; while nobody reads the pty, what does not fit is dropped.
func (f *fakeReceiver) write(ctx context.Context, p []byte) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	byteTime := 10 * time.Second / time.Duration(f.baud)
	for len(p) > 0 && ctx.Err() == nil {
		n := min(len(p), 32)
		time.Sleep(time.Duration(n) * byteTime)
		syscall.Write(f.fd, p[:n]) // EAGAIN: nobody reading yet
		p = p[n:]
	}
}

func (f *fakeReceiver) talk(ctx context.Context) {
	for ctx.Err() == nil {
		now := time.Now().UTC()
		next := now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		sec := next.Truncate(time.Second)
		hms, date := sec.Format("150405")+".00", sec.Format("020106")
		var b bytes.Buffer
		b.WriteString(nmeaSentence("GPRMC," + hms + ",A,4631.1820,N,00637.9380,E,0.02,," + date + ",,,A"))
		b.WriteString(nmeaSentence("GPGGA," + hms + ",4631.1820,N,00637.9380,E,1,08,0.9,495.0,M,48.3,M,,"))
		b.WriteString(nmeaSentence("GPGSA,A,3,02,05,07,13,15,18,20,29,,,,,1.6,0.9,1.3"))
		b.WriteString("$GPGSV,1,1,01,02,45,120,40*FF\r\n") // wrong checksum: counted, never used
		f.write(ctx, b.Bytes())
	}
}

func (f *fakeReceiver) listen(ctx context.Context) {
	buf := make([]byte, 1024)
	var pending []byte
	for ctx.Err() == nil {
		n, err := syscall.Read(f.fd, buf)
		if n <= 0 {
			if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EIO) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		pending = append(pending, buf[:n]...)
		for {
			fr, rest, ok := ubx.NextFrame(pending)
			pending = rest
			if !ok {
				break
			}
			f.mu.Lock()
			f.received = append(f.received, append([]byte(nil), fr...))
			f.mu.Unlock()
			reply := ubx.Answer(fr, "18.00", false)
			if reply != nil {
				go f.write(ctx, reply)
			}
		}
	}
}

func (f *fakeReceiver) frames() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.received...)
}
