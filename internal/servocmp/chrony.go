package servocmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChronyConfig is how chronyd is run and how its refclock is configured.
type ChronyConfig struct {
	// Path of chronyd; "" looks it up in PATH and /usr/sbin.
	Path string
	// Poll is the refclock's poll interval, log2 seconds: the median filter's output goes to chrony's
	// source statistics once per poll. chrony's default is 4 (16 s).
	Poll int
	// Filter is the median filter's length in samples; 0 keeps chrony's default (64).
	Filter int
	// Precision is the refclock's stated precision, seconds (the gpsd/chrony documentation's PPS example
	// says 1e-7).
	Precision float64
	// Extra lines for chrony.conf, for experiments (e.g. "maxupdateskew 100").
	Extra []string
	// Feed is how samples reach chrony (see Feed).
	Feed Feed
	// NMEAOffset is the NMEA refclock's calibrated delay (FeedPPSLock); Run sets it from the trace.
	NMEAOffset time.Duration
}

// DefaultChronyConfig is a chrony user's PPS source as the gpsd and chrony documentation show it:
// `refclock SOCK /run/chrony.pps0.sock refid PPS precision 1e-7`, chrony's default poll and filter.
func DefaultChronyConfig() ChronyConfig {
	return ChronyConfig{Poll: 4, Precision: 1e-7}
}

// Validate checks the values chrony would otherwise reject at start, or silently misread.
func (c ChronyConfig) Validate() error {
	if c.Poll < -6 || c.Poll > 12 {
		return fmt.Errorf("servocmp: chrony poll %d outside -6..12", c.Poll)
	}
	if c.Filter < 0 || c.Filter > 1024 {
		return fmt.Errorf("servocmp: chrony filter %d outside 0..1024", c.Filter)
	}
	if !(c.Precision > 0 && c.Precision < 1) {
		return fmt.Errorf("servocmp: chrony precision %v outside (0, 1) s", c.Precision)
	}
	if c.Feed != FeedLabelled && c.Feed != FeedPPSLock {
		return fmt.Errorf("servocmp: chrony feed %v unknown", c.Feed)
	}
	if c.NMEAOffset < 0 || c.NMEAOffset > time.Second {
		return fmt.Errorf("servocmp: NMEA offset %v outside [0, 1s]", c.NMEAOffset)
	}
	for _, l := range c.Extra {
		if strings.ContainsAny(l, "\n\r") {
			return fmt.Errorf("servocmp: chrony extra line %q has a line break", l)
		}
	}
	return nil
}

// RefID is the reference ID of the refclock whose samples are scored, in chrony's configuration and logs.
func (c ChronyConfig) RefID() string {
	if c.Feed == FeedPPSLock {
		return "PPS"
	}
	return "GPS"
}

// sockets are the refclock sockets' file names, by index (SockScored, SockNMEA).
func (c ChronyConfig) sockets() []string {
	if c.Feed == FeedPPSLock {
		return []string{"pps.sock", "nmea.sock"}
	}
	return []string{"gps.sock"}
}

// conf is chrony.conf for a run in dir: the SOCK refclocks, no NTP sources, no NTP or command port, logs of
// every refclock sample and every clock update.
//
//	labelled:  refclock SOCK DIR/gps.sock refid GPS poll 4 precision 1e-07
//	pps-lock:  refclock SOCK DIR/nmea.sock refid NMEA noselect offset 0.093 delay 0.2 precision 0.001
//	           refclock SOCK DIR/pps.sock refid PPS lock NMEA poll 4 precision 1e-07
func (c ChronyConfig) conf(dir string) string {
	var b strings.Builder
	socks := c.sockets()
	if c.Feed == FeedPPSLock {
		fmt.Fprintf(&b, "refclock SOCK %s refid NMEA noselect offset %g delay 0.2 precision 0.001\n", filepath.Join(dir, socks[SockNMEA]), c.NMEAOffset.Seconds())
		fmt.Fprintf(&b, "refclock SOCK %s refid PPS lock NMEA", filepath.Join(dir, socks[SockScored]))
	} else {
		fmt.Fprintf(&b, "refclock SOCK %s refid GPS", filepath.Join(dir, socks[SockScored]))
	}
	fmt.Fprintf(&b, " poll %d precision %g", c.Poll, c.Precision)
	if c.Filter > 0 {
		fmt.Fprintf(&b, " filter %d", c.Filter)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "logdir %s\nlog refclocks tracking\nlogbanner 0\n", dir)
	// No command port, no command socket (bindcmdaddress / disables the Unix one), no NTP port.
	fmt.Fprintf(&b, "cmdport 0\nbindcmdaddress /\nport 0\npidfile %s\n", filepath.Join(dir, "chronyd.pid"))
	for _, l := range c.Extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// FindChronyd returns the chronyd to run.
func FindChronyd(path string) (string, error) {
	if path != "" {
		return exec.LookPath(path)
	}
	for _, p := range []string{"chronyd", "/usr/sbin/chronyd", "/sbin/chronyd"} {
		if full, err := exec.LookPath(p); err == nil {
			return full, nil
		}
	}
	return "", fmt.Errorf("servocmp: chronyd not found in PATH or /usr/sbin: %w", exec.ErrNotFound)
}

// Chrony is a running chronyd with its SOCK refclocks (ChronyConfig.Feed). It is always started with -x: chrony then leaves
// the host clock alone and drives its null clock driver (sys_null.c), which keeps its offset and frequency
// corrections as a virtual clock: cooked = raw + correction, the correction accruing instantly on an
// offset update and linearly with the set frequency. -x is the only mode this package ever starts.
type Chrony struct {
	Dir   string
	cmd   *exec.Cmd
	conns []*net.UnixConn
	buf   []byte

	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// StartChrony writes chrony.conf into dir (which must exist and be empty of a previous run's logs),
// starts `chronyd -x -d -f dir/chrony.conf`, and connects to its refclock sockets once they exist.
func StartChrony(ctx context.Context, cfg ChronyConfig, dir string) (*Chrony, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := FindChronyd(cfg.Path)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(cfg.conf(dir)), 0o644); err != nil {
		return nil, fmt.Errorf("servocmp: write %s: %w", conf, err)
	}
	// -x: never touch the host clock. -d: stay in the foreground, log to stderr. As root, chronyd would
	// drop to its own user, which may not reach dir: stay root (the clock is not touched either way).
	args := []string{"-x", "-d", "-f", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	c := &Chrony{Dir: dir, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	dieWithParent(c.cmd)
	c.cmd.Stdout = &lockedWriter{mu: &c.mu, w: &c.stderr}
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("servocmp: start %s %v: %w", bin, args, err)
	}
	go func() {
		err := c.cmd.Wait()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	for _, name := range cfg.sockets() {
		conn, err := c.dial(ctx, filepath.Join(dir, name))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.conns = append(c.conns, conn)
	}
	return c, nil
}

// dial waits for chronyd to create a refclock socket, then connects to it.
func (c *Chrony) dial(ctx context.Context, sock string) (*net.UnixConn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("servocmp: chronyd exited before opening %s: %v\n%s", sock, c.exitErr(), c.Output())
		case <-ctx.Done():
			return nil, fmt.Errorf("servocmp: waiting for %s: %w", sock, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("servocmp: chronyd did not create %s within 10 s\n%s", sock, c.Output())
		}
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("servocmp: dial %s: %w", sock, err)
	}
	return conn, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		return len(p), nil // chronyd -d is quiet; a flood is dropped rather than kept
	}
	return l.w.Write(p)
}

// Send delivers one sample to one of chrony's refclock sockets (SockScored, SockNMEA).
func (c *Chrony) Send(sock int, s SockSample) error {
	if sock < 0 || sock >= len(c.conns) {
		return fmt.Errorf("servocmp: refclock socket %d of %d", sock, len(c.conns))
	}
	b, err := AppendSock(c.buf[:0], s)
	if err != nil {
		return err
	}
	c.buf = b
	if _, err := c.conns[sock].Write(b); err != nil {
		return fmt.Errorf("servocmp: send sample tv=%v to chronyd socket %d: %w", s.TV, sock, err)
	}
	return nil
}

// Exited reports whether chronyd has exited, and why.
func (c *Chrony) Exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.exitErr()
	default:
		return false, nil
	}
}

func (c *Chrony) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Output is what chronyd wrote to stdout and stderr so far.
func (c *Chrony) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// Stop terminates chronyd (SIGTERM, then SIGKILL after 5 s) and waits for it; chrony flushes its logs on
// SIGTERM.
func (c *Chrony) Stop() error {
	for _, conn := range c.conns {
		conn.Close()
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("servocmp: SIGTERM chronyd pid %d: %w", c.cmd.Process.Pid, err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("servocmp: chronyd pid %d ignored SIGTERM for 5 s; killed", c.cmd.Process.Pid)
	}
}

// Refclocks reads the run's refclocks.log.
func (c *Chrony) Refclocks() ([]RefclockRecord, error) {
	p := filepath.Join(c.Dir, "refclocks.log")
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("servocmp: open %s: %w", p, err)
	}
	defer f.Close()
	recs, err := ParseRefclocks(f)
	if err != nil {
		return nil, fmt.Errorf("servocmp: %s: %w", p, err)
	}
	return recs, nil
}
