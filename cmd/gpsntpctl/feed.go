package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"

	"github.com/gpsntp/gpsntp/gps/serialdev"
	"github.com/gpsntp/gpsntp/gps/ubx"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

const feedUsage = `Usage: gpsntpctl feed [-pty [-link PATH] | -device PATH] [-baud N] [-log FILE [-loop]] [flags]

Plays a GPS receiver into a serial line, so the box (or gpsd, or gpsntpctl decode) can be tried without
one. The output is a new pseudo-terminal (-pty, the default: its path is printed, e.g. for
"gpsntpd -gps-device /dev/pts/3 -gps-baud 9600") or a real serial device (-device, e.g. a USB adapter
looped to the Pi's UART). The receiver is the simulator (NMEA RMC, GGA, GSA, GSV, ZDA for the current
time, at the line speed of -baud) or a recorded log (-log), replayed at line speed and paced so that
each second the log names takes a second. With -ublox it also answers like a u-blox receiver: MON-VER
for a poll and ACK-ACK for configuration messages, so gpsntpd's receiver configuration can be watched.
Runs until interrupted (Ctrl-C), or to the end of a -log played without -loop.

Flags:
`

// feedContext is the context feed runs in: it ends on SIGINT or SIGTERM. Tests replace it.
var feedContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

type feedOpts struct {
	pty       bool
	link      string
	device    string
	baud      int
	logFile   string
	loop      bool
	seed      uint64
	talker    string
	coldStart time.Duration
	ublox     string // PROTVER to answer with; "" off
}

func runFeed(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpsntpctl feed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, feedUsage)
		fs.PrintDefaults()
	}
	var o feedOpts
	fs.BoolVar(&o.pty, "pty", false, "write into a new pseudo-terminal and print its path (the default without -device)")
	fs.StringVar(&o.link, "link", "", "with -pty: also make a symlink at `PATH` to the pseudo-terminal (removed at exit)")
	fs.StringVar(&o.device, "device", "", "write into this serial `device` instead of a pseudo-terminal")
	fs.IntVar(&o.baud, "baud", 9600, "line speed: the pace of the bytes, and the rate a -device is set to")
	fs.StringVar(&o.logFile, "log", "", "replay this receiver log `file` instead of the simulator")
	fs.BoolVar(&o.loop, "loop", false, "with -log: start again at the end")
	fs.Uint64Var(&o.seed, "seed", 1, "simulator seed")
	fs.StringVar(&o.talker, "talker", "GN", "simulator talker: GN (multi-GNSS, NMEA 4.10) or GP (GPS only, NMEA 2.3)")
	fs.DurationVar(&o.coldStart, "cold-start", 5*time.Second, "simulator: how long the receiver reports no fix after start")
	fs.StringVar(&o.ublox, "ublox", "", "answer UBX like a u-blox receiver with this protocol `version` (e.g. 18.00 for an M8T, 27.12 for an F9)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gpsntpctl feed: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q (flags only)", fs.Arg(0))
	case o.device != "" && (o.pty || o.link != ""):
		return bad("-device excludes -pty and -link")
	case o.baud == 0 || serialdev.CheckBaud(o.baud) != nil:
		return bad("-baud %d: not a standard rate (1200..921600)", o.baud)
	case o.loop && o.logFile == "":
		return bad("-loop needs -log")
	case o.talker != "GN" && o.talker != "GP":
		return bad("-talker %q: want GN or GP", o.talker)
	case o.coldStart < 0:
		return bad("-cold-start %v: must not be negative", o.coldStart)
	}
	if o.ublox != "" {
		if _, ok := ubx.ParseProtocol(o.ublox); !ok {
			return bad("-ublox %q: want a protocol version such as 18.00", o.ublox)
		}
	}
	var src *os.File
	if o.logFile != "" {
		f, err := os.Open(o.logFile)
		if err != nil {
			fmt.Fprintf(stderr, "gpsntpctl feed: %v\n", err)
			return 1
		}
		defer f.Close()
		src = f
	}
	ctx, stop := feedContext()
	defer stop()
	if err := feed(ctx, o, src, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gpsntpctl feed: %v\n", err)
		return 1
	}
	return 0
}

// line is where the receiver's bytes go and where what the other side writes comes from.
type line struct {
	mu      sync.Mutex
	w       func([]byte) (int, error)
	r       io.Reader
	close   func() error
	dropped atomic.Uint64
}

func (l *line) write(p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(p) > 0 {
		n, err := l.w(p)
		if errors.Is(err, syscall.EAGAIN) {
			// Nobody is reading the pty and its buffer is full: drop, as a receiver does not wait for a
			// listener; whoever opens the port later gets current data, not a backlog.
			l.dropped.Add(uint64(len(p)))
			return nil
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func feed(ctx context.Context, o feedOpts, src *os.File, stdout, stderr io.Writer) error {
	var ln *line
	var path string
	if o.device != "" {
		port, err := serial.Open(o.device, &serial.Mode{BaudRate: o.baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
		if err != nil {
			return fmt.Errorf("open %s: %w", o.device, err)
		}
		ln = &line{w: port.Write, r: port, close: port.Close}
		path = o.device
	} else {
		l, p, err := openPTYLine(ctx, o.baud)
		if err != nil {
			return err
		}
		ln = l
		path = p
		if o.link != "" {
			abs, err := filepath.Abs(o.link)
			if err != nil {
				ln.close()
				return err
			}
			os.Remove(abs) // a stale link from an earlier run
			if err := os.Symlink(p, abs); err != nil {
				ln.close()
				return fmt.Errorf("link: %w", err)
			}
			defer os.Remove(abs)
			path = abs
		}
	}
	defer ln.close()
	what := "simulated receiver"
	if src != nil {
		what = "log " + src.Name()
	}
	fmt.Fprintf(stdout, "gpsntpctl feed: writing %s output to %s at %d baud; Ctrl-C to stop\n", what, path, o.baud)
	fmt.Fprintf(stdout, "  try: gpsntpd -gps-device %s -gps-baud %d\n", path, o.baud)
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}

	var wg sync.WaitGroup
	if o.ublox != "" {
		wg.Add(1)
		go func() { defer wg.Done(); answerUblox(ctx, ln, o.ublox) }()
	}
	var err error
	if src != nil {
		err = feedLog(ctx, ln, src, o)
	} else {
		err = feedSim(ctx, ln, o)
	}
	ln.close() // ends the responder's read
	wg.Wait()
	if d := ln.dropped.Load(); d > 0 {
		fmt.Fprintf(stderr, "gpsntpctl feed: %d bytes dropped while nobody read %s\n", d, path)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type wallClock struct{}

func (wallClock) Now() timebase.Instant { return timebase.FromTime(time.Now()) }

// feedSim runs the simulator in real time; it already paces bytes at the line speed.
func feedSim(ctx context.Context, ln *line, o feedOpts) error {
	cfg := sim.DefaultConfig()
	cfg.Seed = o.seed
	cfg.Start = wallClock{}.Now()
	cfg.Receiver.Baud = o.baud
	cfg.Receiver.Talker = o.talker
	cfg.Receiver.Constellations = nil
	cfg.Receiver.ColdStartNoFix = o.coldStart
	cfg.Receiver.ColdStartNoTime = min(cfg.Receiver.ColdStartNoTime, o.coldStart)
	w, err := sim.NewWorld(cfg)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	events := make(chan sim.Event, 64)
	errc := make(chan error, 1)
	go func() { errc <- sim.RunRealtime(ctx, w, wallClock{}, events) }()
	for {
		select {
		case <-ctx.Done():
			<-errc
			return nil
		case err := <-errc:
			return err
		case ev := <-events:
			if ev.Kind == sim.EventBytes {
				if err := ln.write(ev.Bytes); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
		}
	}
}

// feedLog replays a log at line speed, holding each second the log names back until a second has passed
// since the previous one: without that, a log of a 9600 baud receiver that used half the line would run
// at twice real time, and the daemon would see time jumps.
func feedLog(ctx context.Context, ln *line, src *os.File, o feedOpts) error {
	byteTime := 10 * time.Second / time.Duration(o.baud)
	for {
		br := bufio.NewReaderSize(src, 4096)
		header := true
		var pacer secondPacer
		lineClock := time.Now()
		for {
			chunk, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				err = nil
			}
			if header && len(chunk) > 0 && chunk[0] == '#' {
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read %s: %w", src.Name(), err)
				}
				if errors.Is(err, io.EOF) {
					break
				}
				continue // gpsd's log header
			}
			header = false
			if wait := pacer.wait(chunk, time.Now()); wait > 0 {
				if !sleep(ctx, wait) {
					return nil
				}
			}
			data := append([]byte(nil), chunk...)
			for len(data) > 0 {
				n := min(len(data), 32) // a UART FIFO's worth at a time
				lineClock = later(lineClock, time.Now()).Add(time.Duration(n) * byteTime)
				if !sleep(ctx, time.Until(lineClock)) {
					return nil
				}
				if werr := ln.write(data[:n]); werr != nil {
					return fmt.Errorf("write: %w", werr)
				}
				data = data[n:]
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", src.Name(), err)
			}
		}
		if !o.loop {
			return nil
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind %s: %w", src.Name(), err)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx ends; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// secondPacer maps the seconds a log names (RMC, GGA, GNS, ZDA time fields) onto wall time.
type secondPacer struct {
	anchored bool
	sec0     int // second of day named at the anchor
	wall0    time.Time
	last     int
}

// wait returns how long to hold a line back so that the second it names starts on time.
func (p *secondPacer) wait(line []byte, now time.Time) time.Duration {
	sec, ok := namedSecond(line)
	if !ok {
		return 0
	}
	if !p.anchored || sec < p.last || sec-p.last > 10 {
		// First time, midnight, or a gap in the log: start counting again from here.
		p.anchored, p.sec0, p.wall0, p.last = true, sec, now, sec
		return 0
	}
	p.last = sec
	return p.wall0.Add(time.Duration(sec-p.sec0) * time.Second).Sub(now)
}

// namedSecond reads the hhmmss field of an RMC, GGA, GNS or ZDA sentence as a second of the day.
func namedSecond(line []byte) (int, bool) {
	if len(line) < 14 || line[0] != '$' {
		return 0, false
	}
	typ := line[3:6]
	if !bytes.Equal(typ, []byte("RMC")) && !bytes.Equal(typ, []byte("GGA")) && !bytes.Equal(typ, []byte("GNS")) && !bytes.Equal(typ, []byte("ZDA")) {
		return 0, false
	}
	f := line[7:]
	if line[6] != ',' || len(f) < 6 {
		return 0, false
	}
	v := 0
	for _, c := range f[:6] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	h, m, s := v/10000, v/100%100, v%100
	if h > 23 || m > 59 || s > 60 {
		return 0, false
	}
	return h*3600 + m*60 + s, true
}

// answerUblox reads what the other side writes and answers UBX like a u-blox receiver would.
func answerUblox(ctx context.Context, ln *line, protver string) {
	buf := make([]byte, 1024)
	var pending []byte
	for ctx.Err() == nil {
		n, err := ln.r.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		for {
			fr, rest, ok := ubx.NextFrame(pending)
			pending = rest
			if !ok {
				break
			}
			if reply := ubx.Answer(fr, protver, false); reply != nil {
				ln.write(reply)
			}
		}
	}
}
