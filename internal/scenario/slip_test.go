package scenario

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

func nmeaChecksumOK(line []byte) bool {
	star := bytes.IndexByte(line, '*')
	if line[0] != '$' || star < 0 || star+3 > len(line) {
		return false
	}
	var x byte
	for _, c := range line[1:star] {
		x ^= c
	}
	return fmt.Sprintf("%02X", x) == string(line[star+1:star+3])
}

// TestSlipperNamesTheNextSecond feeds the simulator's byte stream through the slipper in its own chunks and
// checks that the slipped epoch is well formed (valid checksums), names the next second, and that the decoder
// notices.
func TestSlipperNamesTheNextSecond(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.Receiver.ColdStartNoFix, cfg.Receiver.ColdStartNoTime = 0, 0
	cfg.Start = timebase.Date(2026, 11, 22, 0, 0, 0, 0)
	w, err := sim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	slipped := cfg.Start.Add(4 * time.Second)
	s := newSlipper([]timebase.Instant{slipped})
	dec := gps.NewDecoder(gps.Options{})
	var all []byte
	var labels []timebase.Instant
	for {
		ev := w.Next()
		if ev.Truth > cfg.Start.Add(8*time.Second) {
			break
		}
		if ev.Kind != sim.EventBytes {
			continue
		}
		p := s.rewrite(ev.Second, ev.Bytes)
		all = append(all, p...)
		dec.Write(p, ev.Received)
		for {
			ep, ok := dec.Next()
			if !ok {
				break
			}
			if ep.Label.Valid {
				labels = append(labels, ep.Label.Second)
			}
		}
	}
	for _, line := range bytes.Split(all, []byte("\r\n")) {
		if len(line) > 0 && line[0] == '$' && !nmeaChecksumOK(line) {
			t.Errorf("bad checksum after rewrite: %s", line)
		}
	}
	if !bytes.Contains(all, []byte("RMC,000005.00")) || bytes.Count(all, []byte("RMC,000005.00")) != 2 {
		t.Errorf("want two RMC sentences naming 00:00:05 (the slipped one and the real one); stream:\n%s", all)
	}
	count := map[timebase.Instant]int{}
	for _, l := range labels {
		count[l]++
	}
	// The decoder catches the slip itself (the named time jumps against the receive clock, then repeats): no
	// valid label names the slipped second's successor twice, and the jump is counted.
	if count[slipped] != 0 || count[slipped.Add(time.Second)] > 1 || dec.Counts().TimeJumps+dec.Counts().Repeats == 0 {
		t.Errorf("labels %v, decoder counts %+v: the slip at %v went unnoticed", labels, dec.Counts(), slipped)
	}
	if len(labels) < 5 {
		t.Fatalf("only %d valid epochs decoded", len(labels))
	}
}
