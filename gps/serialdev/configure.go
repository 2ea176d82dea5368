package serialdev

import (
	"errors"
	"strings"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/ubx"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

// configSession drives a ubx.Configurator on one connection. It decodes the connection's bytes with a
// decoder of its own (a tap beside the daemon's), only to learn MON-VER and the ACKs: the daemon's core
// stays unaware of configuration, and the tap is dropped once the conversation is over.
type configSession struct {
	dec      *gps.Decoder
	cfg      *ubx.Configurator
	receiver gps.Receiver
	wake     timebase.Instant
	writeErr error
}

func newConfigSession(opt ubx.Options) *configSession {
	return &configSession{dec: gps.NewDecoder(gps.Options{}), cfg: ubx.NewConfigurator(opt)}
}

func (c *configSession) take(a ubx.Action, sends [][]byte) [][]byte {
	if a.Send != nil {
		sends = append(sends, a.Send)
	}
	c.wake = a.Wake
	return sends
}

func (c *configSession) start(now timebase.Instant) [][]byte {
	return c.take(c.cfg.Start(now), nil)
}

// bytes feeds one read: identity changes and ACKs go to the configurator, in that order.
func (c *configSession) bytes(p []byte, recv timebase.Instant) [][]byte {
	var sends [][]byte
	c.dec.Write(p, recv)
	for _, ok := c.dec.Next(); ok; _, ok = c.dec.Next() {
	}
	if r := c.dec.Receiver(); r != c.receiver {
		c.receiver = r
		sends = c.take(c.cfg.Receiver(r, recv), sends)
	}
	for a, ok := c.dec.NextAck(); ok; a, ok = c.dec.NextAck() {
		sends = c.take(c.cfg.Ack(a), sends)
	}
	return sends
}

func (c *configSession) tick(now timebase.Instant) [][]byte {
	if c.wake == 0 || now < c.wake {
		return nil
	}
	return c.take(c.cfg.Tick(now), nil)
}

func (c *configSession) finished() bool { return c.cfg.Finished() }

func (c *configSession) err() error {
	if c.writeErr != nil {
		return errors.Join(c.cfg.Err(), c.writeErr)
	}
	return c.cfg.Err()
}

// describe names the receiver for log lines: "u-blox NEO-M8T (protocol 18.00)".
func (c *configSession) describe() string {
	r := c.receiver
	s := strings.TrimSpace(r.Vendor + " " + r.Model)
	if r.Protocol != "" {
		s += " (protocol " + r.Protocol + ")"
	}
	return s
}
