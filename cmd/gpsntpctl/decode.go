package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/serialdev"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

const decodeUsage = `Usage: gpsntpctl decode [flags] [FILE|DEVICE|-]

Decodes a receiver's output (NMEA 0183 and u-blox UBX, mixed with anything else) from a recorded log
FILE, from standard input when FILE is "-" or absent, or live from a serial DEVICE (/dev/tty*, or any
character device) until interrupted (Ctrl-C), and prints one JSON object a line per epoch, then a
summary line with the decoder's counts.

A live device is read raw at -baud (detected among 4800..460800 when 0, the default for devices), each
read stamped with the system clock, and reopened if it goes away; the receiver is not reconfigured.

A recording has no receive times: bytes are replayed at -baud line speed, epochs split on the times
the receiver names, and only backward time steps and repeats are flagged (forward jumps need the real
receive clock of a live port). gpsd-style '#' comment lines at the top of a file are skipped.

Flags:
`

// decodeOpts are the decode subcommand's settings.
type decodeOpts struct {
	floor    timebase.Instant
	baud     int
	trustZDA bool
	sky      bool
	comments bool
}

func runDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpsntpctl decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, decodeUsage)
		fs.PrintDefaults()
	}
	floor := fs.String("floor", gps.DefaultFloor.Time().Format(time.DateOnly),
		"week-rollover floor `date` (YYYY-MM-DD): receiver dates 1024 weeks before it are corrected; set it before an old log's date to decode the log as it was")
	baud := fs.Int("baud", 115200, "line speed: a recording is replayed at it (it sets the synthetic receive times); a live device is read at it, 0 detecting it")
	trustZDA := fs.Bool("trust-zda", false, "let ZDA alone make an epoch valid (for receivers that send only ZDA)")
	sky := fs.Bool("sky", false, "include each epoch's satellites")
	comments := fs.Bool("keep-comments", false, "feed leading '#' comment lines to the decoder instead of skipping them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "gpsntpctl decode: one input expected, got %d: %s\n", fs.NArg(), strings.Join(fs.Args(), " "))
		return 2
	}
	fl, err := time.Parse(time.DateOnly, *floor)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl decode: -floor %q: want YYYY-MM-DD: %v\n", *floor, err)
		return 2
	}
	name := "-"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	live := name != "-" && isDevice(name)
	if live {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "baud" })
		if !set {
			*baud = 0 // a live port: detect the rate unless told
		}
		if err := serialdev.CheckBaud(*baud); err != nil {
			fmt.Fprintf(stderr, "gpsntpctl decode: -baud %d: %v\n", *baud, err)
			return 2
		}
	} else if *baud < 50 || *baud > 10_000_000 {
		fmt.Fprintf(stderr, "gpsntpctl decode: -baud %d: out of range 50..10000000 for a recording (0, detection, is for a live device)\n", *baud)
		return 2
	}
	opt := decodeOpts{floor: timebase.FromTime(fl), baud: *baud, trustZDA: *trustZDA, sky: *sky, comments: *comments}
	if live {
		ctx, stop := liveContext()
		defer stop()
		if err := decodeLive(ctx, name, stdout, stderr, opt); err != nil {
			fmt.Fprintf(stderr, "gpsntpctl decode: %s: %v\n", name, err)
			return 1
		}
		return 0
	}

	var in io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "gpsntpctl decode: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	if err := decodeStream(in, stdout, opt); err != nil {
		fmt.Fprintf(stderr, "gpsntpctl decode: %s: %v\n", name, err)
		return 1
	}
	return 0
}

// liveContext is the context a live decode runs in: it ends on SIGINT or SIGTERM. Tests replace it.
var liveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// decodeLive decodes a serial device until ctx ends, printing each epoch as it completes and the summary
// at the end. The decoder gets real receive times, so forward time jumps are checked too.
func decodeLive(ctx context.Context, path string, w, stderr io.Writer, opt decodeOpts) error {
	if err := serialdev.Check(path); err != nil {
		return err
	}
	now := func() timebase.Instant { return timebase.FromTime(time.Now()) }
	port, err := serialdev.New(serialdev.Config{
		Path: path, Baud: opt.baud, Clock: now,
		Logf: func(format string, args ...any) { fmt.Fprintf(stderr, "gpsntpctl decode: "+format+"\n", args...) },
	})
	if err != nil {
		return err
	}
	chunks := make(chan liveChunk, 64)
	runErr := make(chan error, 1)
	go func() {
		runErr <- port.Run(ctx, func(data []byte, recv timebase.Instant) {
			select {
			case chunks <- liveChunk{data, recv}:
			case <-ctx.Done():
			}
		})
	}()
	how := fmt.Sprintf("%d baud", opt.baud)
	if opt.baud == 0 {
		how = "a detected baud rate"
	}
	fmt.Fprintf(stderr, "gpsntpctl decode: reading %s at %s; Ctrl-C to stop\n", path, how)

	d := gps.NewDecoder(gps.Options{Floor: opt.floor, TrustZDA: opt.trustZDA})
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var prev gps.Receiver
	var encErr error
	drain := func() {
		for e, ok := d.Next(); ok; e, ok = d.Next() {
			if encErr == nil {
				encErr = enc.Encode(toJSON(&e, opt, &prev))
			}
		}
		if encErr == nil {
			encErr = bw.Flush()
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rearm := func() {
		timer.Stop()
		if dl, ok := d.Deadline(); ok {
			timer.Reset(max(dl.Sub(now()), 0))
		}
	}
loop:
	for encErr == nil {
		select {
		case <-ctx.Done():
			break loop
		case c := <-chunks:
			d.Write(c.data, c.recv)
			drain()
			rearm()
		case <-timer.C:
			d.Flush(now())
			drain()
			rearm()
		}
	}
	if err := <-runErr; err != nil && encErr == nil {
		encErr = err
	}
	// Interrupted: the epoch in progress is complete as far as it will ever be.
	d.Flush(now() + timebase.Instant(time.Hour))
	drain()
	var sum summaryJSON
	sum.Summary.Counts = d.Counts()
	c := sum.Summary.Counts
	sum.Summary.UBXFrames = c.UBXOK + c.UBXBad + c.UBXMalformed + c.UBXUnknown
	st := port.Status()
	sum.Summary.Device, sum.Summary.Baud, sum.Summary.Reconnects = path, st.Baud, st.Disconnects
	if encErr == nil {
		encErr = enc.Encode(sum)
	}
	if ferr := bw.Flush(); encErr == nil {
		encErr = ferr
	}
	if encErr != nil {
		return fmt.Errorf("writing output: %w", encErr)
	}
	return nil
}

type liveChunk struct {
	data []byte
	recv timebase.Instant
}

// isDevice reports whether name is a character device (a serial port) rather than a file.
func isDevice(name string) bool {
	if strings.HasPrefix(name, "/dev/tty") || strings.HasPrefix(name, "/dev/serial") || strings.HasPrefix(name, "/dev/gps") {
		return true
	}
	st, err := os.Stat(name)
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// epochJSON is one output line. Field names are snake_case and stable: scripts read them.
type epochJSON struct {
	Time           *string              `json:"time"`
	FixTime        string               `json:"fix_time,omitempty"`
	TimeOfDay      string               `json:"time_of_day,omitempty"`
	Valid          bool                 `json:"valid"`
	Fix            gps.Fix              `json:"fix"`
	SatsUsed       int                  `json:"sats_used"`
	SatsVisible    int                  `json:"sats_visible"`
	Source         string               `json:"source"`
	LeapSecond     bool                 `json:"leap_second,omitempty"`
	Leap           *leapJSON            `json:"leap,omitempty"`
	Warnings       []string             `json:"warnings,omitempty"`
	HDOP           float64              `json:"hdop,omitempty"`
	PDOP           float64              `json:"pdop,omitempty"`
	VDOP           float64              `json:"vdop,omitempty"`
	TDOP           float64              `json:"tdop,omitempty"`
	Lat            *float64             `json:"lat,omitempty"`
	Lon            *float64             `json:"lon,omitempty"`
	Alt            *float64             `json:"alt,omitempty"`
	Pulse          string               `json:"pulse,omitempty"`
	QErrPS         *int32               `json:"qerr_ps,omitempty"`
	Constellations map[string]constJSON `json:"constellations,omitempty"`
	Sky            []satJSON            `json:"sky,omitempty"`
	Receiver       *gps.Receiver        `json:"receiver,omitempty"`
	SurveyIn       *surveyJSON          `json:"survey_in,omitempty"`
	Messages       int                  `json:"messages"`
}

type leapJSON struct {
	Current int    `json:"current"`
	Default bool   `json:"default,omitempty"`
	Source  string `json:"source"`
	Change  *int   `json:"change,omitempty"`
	Event   string `json:"event,omitempty"`
}

type constJSON struct {
	Used    int     `json:"used"`
	Visible int     `json:"visible"`
	MeanCN0 float64 `json:"mean_cn0,omitempty"`
	MaxCN0  uint8   `json:"max_cn0,omitempty"`
}

type satJSON struct {
	Constellation gps.Constellation `json:"gnss"`
	PRN           uint16            `json:"prn"`
	Elevation     *int8             `json:"el,omitempty"`
	Azimuth       *int16            `json:"az,omitempty"`
	CN0           uint8             `json:"cn0"`
	Used          bool              `json:"used"`
}

type surveyJSON struct {
	Active       bool    `json:"active"`
	Done         bool    `json:"done"`
	DurationS    float64 `json:"duration_s"`
	Observations uint32  `json:"observations"`
	MeanAccM     float64 `json:"mean_acc_m"`
}

type summaryJSON struct {
	Summary struct {
		gps.Counts
		UBXFrames    uint64 `json:"ubx_frames"`
		CommentBytes int64  `json:"comment_bytes"`
		// Live devices only: the device, its line speed and how often it went away.
		Device     string `json:"device,omitempty"`
		Baud       int    `json:"baud,omitempty"`
		Reconnects uint64 `json:"reconnects,omitempty"`
	} `json:"summary"`
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// toJSON renders an epoch; prev is the receiver identity printed last, so it is printed only on change.
func toJSON(e *gps.Epoch, opt decodeOpts, prev *gps.Receiver) epochJSON {
	j := epochJSON{
		Valid:       e.Label.Valid,
		Fix:         e.Fix,
		SatsUsed:    e.SatsUsed,
		SatsVisible: e.SatsVisible,
		Source:      e.Label.Source,
		LeapSecond:  e.LeapSecond,
		Warnings:    e.Warnings.List(),
		HDOP:        e.HDOP, PDOP: e.PDOP, VDOP: e.VDOP, TDOP: e.TDOP,
		Messages: e.Messages,
	}
	switch {
	case e.Label.Second != 0:
		s := e.Label.Second.Time().Format(time.RFC3339)
		j.Time = &s
		if !e.OnSecond() {
			j.FixTime = e.Time.Time().Format(time.RFC3339Nano)
		}
	case e.HasTime:
		j.TimeOfDay = time.Time{}.Add(e.TimeOfDay).Format("15:04:05.000")
	}
	if l := e.Leap; l.Known {
		lj := &leapJSON{Current: l.Current, Default: l.Default, Source: l.Source}
		if l.ChangeKnown {
			c := l.Change
			lj.Change = &c
		}
		if l.EventKnown {
			lj.Event = l.Event.Time().Format(time.RFC3339)
		}
		j.Leap = lj
	}
	if p := e.Position; p.Valid {
		lat, lon := round(p.Lat, 7), round(p.Lon, 7)
		j.Lat, j.Lon = &lat, &lon
		if p.HasAlt {
			alt := round(p.Alt, 3)
			j.Alt = &alt
		}
	}
	if tp := e.TimePulse; tp.Valid {
		if tp.PulseKnown {
			j.Pulse = tp.Pulse.Time().Format(time.RFC3339Nano)
		}
		if tp.QErrValid {
			q := tp.QErrPS
			j.QErrPS = &q
		}
	}
	for c := gps.Constellation(1); c < gps.NumConstellations; c++ {
		s := e.Constellations[c]
		if s.Used == 0 && s.Visible == 0 {
			continue
		}
		if j.Constellations == nil {
			j.Constellations = map[string]constJSON{}
		}
		j.Constellations[c.String()] = constJSON{Used: s.Used, Visible: s.Visible, MeanCN0: round(s.MeanCN0, 1), MaxCN0: s.MaxCN0}
	}
	if opt.sky {
		for _, s := range e.Sky {
			sj := satJSON{Constellation: s.Constellation, PRN: s.PRN, CN0: s.CN0, Used: s.Used}
			if s.HasAngles {
				el, az := s.Elevation, s.Azimuth
				sj.Elevation, sj.Azimuth = &el, &az
			}
			j.Sky = append(j.Sky, sj)
		}
	}
	if e.Receiver != (gps.Receiver{}) && e.Receiver != *prev {
		r := e.Receiver
		j.Receiver = &r
		*prev = r
	}
	if s := e.SurveyIn; s.Valid {
		j.SurveyIn = &surveyJSON{Active: s.Active, Done: s.Done, DurationS: s.Duration.Seconds(), Observations: s.Observations, MeanAccM: round(s.MeanAcc, 3)}
	}
	return j
}

// decodeStream decodes a recording from r and writes JSON lines to w.
func decodeStream(r io.Reader, w io.Writer, opt decodeOpts) error {
	d := gps.NewDecoder(gps.Options{Floor: opt.floor, TrustZDA: opt.trustZDA, JumpTolerance: -1})
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var encErr error
	var prev gps.Receiver
	// The receive clock of a replay starts at the floor: any origin works, the decoder only uses
	// differences of receive times.
	st, err := gps.Replay(r, d, opt.floor, gps.ReplayOptions{Baud: opt.baud, SkipComments: !opt.comments}, func(e gps.Epoch) {
		if encErr == nil {
			encErr = enc.Encode(toJSON(&e, opt, &prev))
		}
	})
	var sum summaryJSON
	sum.Summary.Counts = d.Counts()
	c := sum.Summary.Counts
	sum.Summary.UBXFrames = c.UBXOK + c.UBXBad + c.UBXMalformed + c.UBXUnknown
	sum.Summary.CommentBytes = st.CommentBytes
	if encErr == nil {
		encErr = enc.Encode(sum)
	}
	if ferr := bw.Flush(); encErr == nil {
		encErr = ferr
	}
	if err != nil {
		return err
	}
	if encErr != nil {
		return fmt.Errorf("writing output: %w", encErr)
	}
	return nil
}
