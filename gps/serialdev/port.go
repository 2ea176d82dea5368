package serialdev

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/ubx"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// DefaultBauds are the rates auto-detection tries, most common first: u-blox 6/7/M8 and MTK default to
// 9600, M10 to 38400, F9 to 38400 on UART1 and 115200 when reconfigured; old SiRF receivers use 4800.
var DefaultBauds = []int{9600, 38400, 115200, 4800, 19200, 57600, 230400, 460800}

// Defaults for Config.
const (
	DefaultProbeWindow = 1200 * time.Millisecond // a 1 Hz receiver sends at least one burst in it
	DefaultMinGood     = 2
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultReadSize    = 4096
	// idleReadTimeout bounds a read when no timer is pending, so a stuck port still notices ctx.
	idleReadTimeout = time.Second
)

// CheckBaud reports whether baud is a rate this edge can set: 0 (detect) or one of 1200, 2400, 4800,
// 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600.
func CheckBaud(baud int) error {
	switch baud {
	case 0, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600:
		return nil
	}
	return fmt.Errorf("serialdev: baud %d is not a standard rate (0 for detection, or 1200..921600)", baud)
}

// Config describes the port. Path and Clock are required.
type Config struct {
	Path  string
	Baud  int                     // 0: detect among Bauds
	Clock func() timebase.Instant // receive-time source, read right after each read returns
	// Configure runs the u-blox configuration (gps/ubx) on every connection: MON-VER is polled, and a
	// u-blox receiver is set up for a time server. Other receivers are left alone.
	Configure bool
	UBX       ubx.Options
	// Logf reports connection and configuration events (never per read); nil discards them.
	Logf func(format string, args ...any)

	Bauds       []int         // candidates for detection; nil means DefaultBauds
	ProbeWindow time.Duration // how long each candidate is listened to; 0 means DefaultProbeWindow
	MinGood     int           // good frames that make a rate convincing; 0 means DefaultMinGood
	MinBackoff  time.Duration // first wait before reopening; 0 means DefaultMinBackoff
	MaxBackoff  time.Duration // longest wait; 0 means DefaultMaxBackoff
	ReadSize    int           // read buffer; 0 means DefaultReadSize
}

// Status is what the edge knows about the port, for the status page.
type Status struct {
	Path         string
	State        string // "opening", "detecting", "connected", "waiting" (backoff), "stopped"
	Connected    bool
	Baud         int // current (or last) line speed; 0 before the first connection
	Connects     uint64
	Disconnects  uint64
	OpenFailures uint64
	Reads, Bytes uint64
	LastError    string // the last open or read error, "" if none
	LastRead     timebase.Instant

	// Configuration of the receiver on the current connection (Configure only).
	ConfigState  string // ubx.State: identifying, configuring, done, not-u-blox; "" when off
	ConfigMethod string // "legacy CFG" or "CFG-VALSET" once chosen
	ConfigError  string // the failed steps, each naming its message
}

// Port is the serial edge for one receiver. Run drives it; Status, Write and Baud may be called from
// other goroutines.
type Port struct {
	cfg Config

	mu     sync.Mutex
	st     Status
	cur    serial.Port // the open connection, nil between connections
	lastOK int         // last rate that carried receiver output
}

// New validates cfg and returns a Port; nothing is opened before Run.
func New(cfg Config) (*Port, error) {
	if cfg.Path == "" {
		return nil, errors.New("serialdev: New: no device path")
	}
	if cfg.Clock == nil {
		return nil, errors.New("serialdev: New: no clock")
	}
	if err := CheckBaud(cfg.Baud); err != nil {
		return nil, err
	}
	if cfg.Bauds == nil {
		cfg.Bauds = DefaultBauds
	}
	for _, b := range cfg.Bauds {
		if b == 0 || CheckBaud(b) != nil {
			return nil, fmt.Errorf("serialdev: New: candidate baud %d is not a standard rate", b)
		}
	}
	if len(cfg.Bauds) == 0 {
		return nil, errors.New("serialdev: New: no candidate bauds")
	}
	if cfg.ProbeWindow <= 0 {
		cfg.ProbeWindow = DefaultProbeWindow
	}
	if cfg.MinGood <= 0 {
		cfg.MinGood = DefaultMinGood
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.ReadSize <= 0 {
		cfg.ReadSize = DefaultReadSize
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Port{cfg: cfg, st: Status{Path: cfg.Path, State: "stopped", Baud: cfg.Baud}}, nil
}

// Status returns a copy of the port's status.
func (p *Port) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// ErrNotConnected is returned by Write between connections.
var ErrNotConnected = errors.New("serialdev: not connected")

// Write sends bytes to the receiver on the current connection (configuration messages).
func (p *Port) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0, ErrNotConnected
	}
	n, err := p.cur.Write(b)
	if err != nil {
		return n, fmt.Errorf("serialdev: write %s: %w", p.cfg.Path, err)
	}
	return n, nil
}

func (p *Port) update(f func(*Status)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

// Run opens the port and delivers each read to emit until ctx ends, reconnecting after errors. emit
// owns the slice it is given and should not block for long: the next read waits for it. Run returns nil
// when ctx ends; it fails only on a misuse it cannot recover from.
func (p *Port) Run(ctx context.Context, emit func(data []byte, received timebase.Instant)) error {
	if emit == nil {
		return errors.New("serialdev: Run: emit is nil")
	}
	backoff := p.cfg.MinBackoff
	defer p.update(func(s *Status) { s.State, s.Connected = "stopped", false })
	for ctx.Err() == nil {
		got, err := p.session(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		if got {
			backoff = p.cfg.MinBackoff
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		p.update(func(s *Status) { s.State, s.LastError = "waiting", msg })
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
	return nil
}

// session is one connection: open, detect the rate, read until an error. It reports whether the
// connection delivered any data.
func (p *Port) session(ctx context.Context, emit func([]byte, timebase.Instant)) (got bool, err error) {
	p.update(func(s *Status) { s.State = "opening" })
	first := p.cfg.Baud
	if first == 0 {
		first = p.candidates()[0]
	}
	port, err := serial.Open(p.cfg.Path, &serial.Mode{BaudRate: first, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		p.update(func(s *Status) { s.OpenFailures++ })
		return false, fmt.Errorf("serialdev: open %s: %w", p.cfg.Path, err)
	}
	// Close the port when ctx ends, which also interrupts a blocked read.
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer func() {
		stop()
		p.mu.Lock()
		p.cur = nil
		p.st.Connected = false
		p.mu.Unlock()
		port.Close()
	}()
	if err := port.ResetInputBuffer(); err != nil {
		return false, fmt.Errorf("serialdev: flush %s: %w", p.cfg.Path, err)
	}
	baud := p.cfg.Baud
	if baud == 0 {
		p.update(func(s *Status) { s.State = "detecting" })
		baud, err = p.detect(ctx, port)
		if err != nil {
			return false, err
		}
		p.cfg.Logf("gps: %s: detected %d baud", p.cfg.Path, baud)
	}
	p.mu.Lock()
	p.cur = port
	p.lastOK = baud
	p.st.State, p.st.Connected, p.st.Baud, p.st.LastError = "connected", true, baud, ""
	p.st.Connects++
	p.st.ConfigState, p.st.ConfigMethod, p.st.ConfigError = "", "", ""
	p.mu.Unlock()
	p.cfg.Logf("gps: %s: connected at %d baud", p.cfg.Path, baud)

	got, err = p.read(ctx, port, emit)
	if ctx.Err() == nil {
		p.update(func(s *Status) { s.Disconnects++ })
		p.cfg.Logf("gps: %s: disconnected: %v", p.cfg.Path, err)
	}
	return got, err
}

// candidates lists the detection rates, the last rate that worked first.
func (p *Port) candidates() []int {
	p.mu.Lock()
	last := p.lastOK
	p.mu.Unlock()
	c := p.cfg.Bauds
	if last == 0 || !slices.Contains(c, last) {
		return c
	}
	out := []int{last}
	for _, b := range c {
		if b != last {
			out = append(out, b)
		}
	}
	return out
}

// detect listens at each candidate rate until a sample is convincing.
func (p *Port) detect(ctx context.Context, port serial.Port) (int, error) {
	buf := make([]byte, p.cfg.ReadSize)
	for ctx.Err() == nil {
		for _, b := range p.candidates() {
			if err := port.SetMode(&serial.Mode{BaudRate: b, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}); err != nil {
				return 0, fmt.Errorf("serialdev: set %s to %d baud: %w", p.cfg.Path, b, err)
			}
			// Bytes received at the previous rate are garbage at this one.
			if err := port.ResetInputBuffer(); err != nil {
				return 0, fmt.Errorf("serialdev: flush %s: %w", p.cfg.Path, err)
			}
			p.update(func(s *Status) { s.Baud = b })
			dec := gps.NewDecoder(gps.Options{})
			deadline := time.Now().Add(p.cfg.ProbeWindow)
			for {
				left := time.Until(deadline)
				if left <= 0 {
					break
				}
				if err := port.SetReadTimeout(left); err != nil {
					return 0, fmt.Errorf("serialdev: read timeout %s: %w", p.cfg.Path, err)
				}
				n, err := port.Read(buf)
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				if err != nil {
					return 0, fmt.Errorf("serialdev: read %s at %d baud: %w", p.cfg.Path, b, err)
				}
				if n > 0 {
					dec.Write(buf[:n], p.cfg.Clock())
					for _, ok := dec.Next(); ok; _, ok = dec.Next() {
					}
					if gps.ScoreCounts(dec.Counts()).Convincing(p.cfg.MinGood) {
						return b, nil
					}
				}
			}
		}
	}
	return 0, ctx.Err()
}

// read delivers reads until an error or ctx ends, running the receiver configuration alongside.
func (p *Port) read(ctx context.Context, port serial.Port, emit func([]byte, timebase.Instant)) (bool, error) {
	var conf *configSession
	if p.cfg.Configure {
		conf = newConfigSession(p.cfg.UBX)
		p.apply(conf, conf.start(p.cfg.Clock()))
	}
	buf := make([]byte, p.cfg.ReadSize)
	got := false
	for {
		timeout := idleReadTimeout
		if conf != nil && conf.wake != 0 {
			d := conf.wake.Sub(p.cfg.Clock())
			timeout = max(min(d, idleReadTimeout), time.Millisecond)
		}
		if err := port.SetReadTimeout(timeout); err != nil {
			return got, fmt.Errorf("serialdev: read timeout %s: %w", p.cfg.Path, err)
		}
		n, err := port.Read(buf)
		recv := p.cfg.Clock()
		if ctx.Err() != nil {
			return got, ctx.Err()
		}
		if n > 0 {
			got = true
			data := make([]byte, n)
			copy(data, buf[:n])
			p.update(func(s *Status) { s.Reads++; s.Bytes += uint64(n); s.LastRead = recv })
			emit(data, recv)
			if conf != nil {
				p.apply(conf, conf.bytes(data, recv))
			}
		}
		if err != nil {
			return got, fmt.Errorf("serialdev: read %s: %w", p.cfg.Path, err)
		}
		if conf != nil {
			p.apply(conf, conf.tick(p.cfg.Clock()))
			if conf.finished() {
				p.reportConfig(conf)
				conf = nil
			}
		}
	}
}

// apply carries out the configurator's actions: write its frames and remember its wake-up.
func (p *Port) apply(c *configSession, sends [][]byte) {
	for _, f := range sends {
		if _, err := p.Write(f); err != nil {
			c.writeErr = err
		}
	}
	p.update(func(s *Status) {
		s.ConfigState = c.cfg.State().String()
		if c.cfg.State() >= ubx.StateConfiguring {
			s.ConfigMethod = c.cfg.Plan().Method.String()
		}
	})
}

func (p *Port) reportConfig(c *configSession) {
	err := c.err()
	p.update(func(s *Status) {
		s.ConfigState = c.cfg.State().String()
		if err != nil {
			s.ConfigError = err.Error()
		}
	})
	switch {
	case c.cfg.State() == ubx.StateNotUblox:
		p.cfg.Logf("gps: %s: no u-blox identity (MON-VER) from the receiver; not configuring it", p.cfg.Path)
	case err != nil:
		p.cfg.Logf("gps: %s: configuring %s: %v", p.cfg.Path, c.describe(), err)
	default:
		p.cfg.Logf("gps: %s: configured %s with %s (%d messages acknowledged)", p.cfg.Path, c.describe(), c.cfg.Plan().Method, len(c.cfg.Plan().Steps))
	}
}

// Check opens and closes path as a serial port, for tools that should fail at once on a wrong path or
// missing permission instead of waiting for the device to appear.
func Check(path string) error {
	port, err := serial.Open(path, &serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return fmt.Errorf("serialdev: open %s: %w", path, err)
	}
	return port.Close()
}
