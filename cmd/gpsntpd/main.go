// Command gpsntpd is the gpsntp daemon: it reads the GPS receiver and PPS, disciplines the clock, and serves
// NTP and the status page. With -sim it runs the whole loop on any Linux machine against a simulated
// receiver, PPS and board clock, with the host clock as the truth; the host clock is never touched.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/daemon"
	"github.com/gpsntp/gpsntp/internal/sim"
	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/leap"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/ntpserve/udp"
	"github.com/gpsntp/gpsntp/pps"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	nmea       nmeaOptions
	sim        bool
	simSeed    uint64
	ntpListen  []string
	ntpSockets int
	ntpRate    float64
	ntpBurst   int
	ntpV6Pfx   int
	ntpAllow   []netip.Prefix
	ntpDeny    []netip.Prefix
	httpListen []string
	stateDir   string
	ppsBias    time.Duration
	ppsBiasSet bool
	stepThresh time.Duration
	leapFile   string
	ppsGPIO    string
	ppsDevice  string
	ppsEdge    string
	nts        ntsOptions
	gps        gpsOptions
	dac        dacOptions
	ota        otaOptions
	cpuProfile string
	board      string
	tempSensor string
}

// listFlag is a comma-separated list; an empty value is an empty list.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// prefixFlag is a comma-separated list of CIDR prefixes.
type prefixFlag struct{ v *[]netip.Prefix }

func (p prefixFlag) String() string {
	if p.v == nil {
		return ""
	}
	parts := make([]string, len(*p.v))
	for i, x := range *p.v {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

func (p prefixFlag) Set(s string) error {
	*p.v = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(part)
		if err != nil {
			return err
		}
		*p.v = append(*p.v, pfx)
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{
		simSeed:    1,
		ntpListen:  []string{":123"},
		ntpRate:    8,
		ntpBurst:   16,
		httpListen: []string{":80"},
		stateDir:   "/perm/gpsntp",
		stepThresh: 128 * time.Millisecond,
		tempSensor: tempAuto,
	}
	fs := flag.NewFlagSet("gpsntpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by main; -h prints usage below
	fs.BoolVar(&o.sim, "sim", false, "run against a simulated receiver, PPS and board clock (never touches the host clock)")
	fs.Uint64Var(&o.simSeed, "sim-seed", o.simSeed, "seed of the simulation")
	fs.Var(listFlag{&o.ntpListen}, "ntp-listen", "comma-separated host:port list to serve NTP on (empty: none)")
	fs.IntVar(&o.ntpSockets, "ntp-sockets", 0, "sockets per NTP address (SO_REUSEPORT); 0: one per CPU")
	fs.Float64Var(&o.ntpRate, "ntp-rate", o.ntpRate, "sustained NTP requests/s allowed per client address; 0 disables rate limiting")
	fs.IntVar(&o.ntpBurst, "ntp-burst", o.ntpBurst, "NTP request burst allowed per client address")
	fs.IntVar(&o.ntpV6Pfx, "ntp-ipv6-prefix", 64, "prefix length by which IPv6 clients share a rate limit (128: per address)")
	fs.Var(prefixFlag{&o.ntpAllow}, "ntp-allow", "comma-separated CIDR prefixes allowed to query (empty: all)")
	fs.Var(prefixFlag{&o.ntpDeny}, "ntp-deny", "comma-separated CIDR prefixes denied")
	fs.Var(listFlag{&o.httpListen}, "http-listen", "comma-separated host:port list for the status page and API (empty: none)")
	fs.StringVar(&o.stateDir, "state-dir", o.stateDir, "directory for persistent state")
	fs.StringVar(&o.ppsGPIO, "pps-gpio", "", "capture PPS from a GPIO line, as CHIP:LINE (e.g. gpiochip0:18)")
	fs.StringVar(&o.ppsDevice, "pps-device", "", "capture PPS from an RFC 2783 device (e.g. /dev/pps0)")
	fs.StringVar(&o.ppsEdge, "pps-edge", "rising", "which PPS edge is on time: rising, falling, or both (rising on time, width checked)")
	fs.DurationVar(&o.ppsBias, "pps-bias", 0, "latency of PPS timestamps (receiver, cable, interrupt), subtracted from each pulse")
	fs.DurationVar(&o.stepThresh, "step-threshold", o.stepThresh, "step the clock instead of slewing past this offset (before first lock)")
	fs.StringVar(&o.tempSensor, "temp-sensor", o.tempSensor, "board temperature sensor for holdover temperature compensation: auto ("+thermalZone+" if present; the simulator's in -sim), off, or a thermal zone file of millidegrees")
	fs.StringVar(&o.leapFile, "leapfile", "", "a leap-seconds.list (IERS/NIST format) to use when newer than the built-in table and the state dir's copy")
	o.gps.register(fs)
	o.nmea.register(fs)
	o.dac.register(fs)
	o.ota.register(fs)
	o.nts.keListen = []string{":4460"}
	fs.Var(listFlag{&o.nts.keListen}, "nts-ke-listen", "comma-separated host:port list for NTS-KE (TLS 1.3); empty turns NTS off")
	fs.StringVar(&o.nts.certFile, "nts-cert", "", "PEM certificate chain for NTS-KE (default: self-signed, made in -state-dir)")
	fs.StringVar(&o.nts.keyFile, "nts-key", "", "PEM private key for -nts-cert")
	fs.Var(listFlag{&o.nts.names}, "nts-name", "extra DNS names for the self-signed certificate")
	fs.StringVar(&o.nts.ntpServer, "nts-ntp-server", "", "NTP server name or address to announce in NTS-KE (default: the KE address)")
	fs.StringVar(&o.nts.aeadsString, "nts-aeads", "15,17,30", "AEAD algorithms offered, in order of preference (15 AES-SIV-CMAC-256, 17 AES-SIV-CMAC-512, 30 AES-128-GCM-SIV)")
	fs.DurationVar(&o.nts.rotation, "nts-key-rotation", 24*time.Hour, "how long a master key seals new cookies")
	fs.DurationVar(&o.nts.lifetime, "nts-key-lifetime", 48*time.Hour, "how long cookies stay valid after their key stopped sealing")
	fs.IntVar(&o.nts.maxConns, "nts-ke-max-conns", 64, "concurrent NTS-KE connections")
	fs.IntVar(&o.nts.maxConnsPerClient, "nts-ke-max-conns-per-client", 0, "concurrent NTS-KE connections per client (IPv4 address or IPv6 /64); 0: 4, or -nts-ke-max-conns if smaller")
	fs.BoolVar(&o.nts.preferClassical, "nts-ke-classical", false, "take X25519 or P-256 even from NTS-KE clients that also offer a hybrid post-quantum key exchange (X25519MLKEM768): about half the key exchange's CPU per handshake, but a recorded handshake stays open to a future quantum computer")
	fs.Float64Var(&o.nts.rate, "nts-ke-rate", 0.2, "sustained NTS-KE connections per second per client")
	fs.IntVar(&o.nts.burst, "nts-ke-burst", 8, "NTS-KE connection burst per client")
	fs.StringVar(&o.board, "board", "", "the board and HAT profile this box runs on, shown on the status page (the image sets it)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file until shutdown (for performance work)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage: gpsntpd [flags]\n")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if *showVersion {
		fmt.Fprintln(stderr, "gpsntpd", version)
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "pps-bias" {
			o.ppsBiasSet = true
		}
	})
	for _, a := range o.ntpListen {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag -ntp-listen: %w", a, err)
		}
	}
	for _, a := range o.httpListen {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag -http-listen: %w", a, err)
		}
	}
	for _, a := range o.nts.keListen {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag -nts-ke-listen: %w", a, err)
		}
	}
	aeads, err := parseAEADs(o.nts.aeadsString)
	if err != nil {
		return nil, fmt.Errorf("invalid value %q for flag -nts-aeads: %w", o.nts.aeadsString, err)
	}
	o.nts.aeads = aeads
	if (o.nts.certFile == "") != (o.nts.keyFile == "") {
		return nil, errors.New("flags -nts-cert and -nts-key: give both or neither")
	}
	switch {
	case o.nts.rotation < time.Minute:
		return nil, fmt.Errorf("invalid value %v for flag -nts-key-rotation: at least 1m", o.nts.rotation)
	case o.nts.lifetime < o.nts.rotation:
		return nil, fmt.Errorf("invalid value %v for flag -nts-key-lifetime: at least -nts-key-rotation", o.nts.lifetime)
	case o.nts.maxConns < 1:
		return nil, fmt.Errorf("invalid value %d for flag -nts-ke-max-conns: at least 1", o.nts.maxConns)
	case o.nts.maxConnsPerClient < 0 || o.nts.maxConnsPerClient > o.nts.maxConns:
		return nil, fmt.Errorf("invalid value %d for flag -nts-ke-max-conns-per-client: 0 to -nts-ke-max-conns", o.nts.maxConnsPerClient)
	case o.nts.rate <= 0 || math.IsNaN(o.nts.rate) || math.IsInf(o.nts.rate, 0):
		return nil, fmt.Errorf("invalid value %v for flag -nts-ke-rate: a positive number", o.nts.rate)
	case o.nts.burst < 1:
		return nil, fmt.Errorf("invalid value %d for flag -nts-ke-burst: at least 1", o.nts.burst)
	}
	switch {
	case o.ntpSockets < 0 || o.ntpSockets > 1024:
		return nil, fmt.Errorf("invalid value %d for flag -ntp-sockets: must be 0..1024", o.ntpSockets)
	case o.ntpRate < 0 || math.IsNaN(o.ntpRate) || math.IsInf(o.ntpRate, 0):
		return nil, fmt.Errorf("invalid value %v for flag -ntp-rate: must be a finite number >= 0", o.ntpRate)
	case o.ntpBurst < 1:
		return nil, fmt.Errorf("invalid value %d for flag -ntp-burst: must be at least 1", o.ntpBurst)
	case o.stepThresh <= 0:
		return nil, fmt.Errorf("invalid value %v for flag -step-threshold: must be positive", o.stepThresh)
	case o.stateDir == "":
		return nil, errors.New("invalid value \"\" for flag -state-dir: a directory is required")
	case o.ntpV6Pfx < ntpserve.MinIPv6Prefix || o.ntpV6Pfx > 128:
		return nil, fmt.Errorf("invalid value %d for flag -ntp-ipv6-prefix: must be %d..128", o.ntpV6Pfx, ntpserve.MinIPv6Prefix)
	case o.ntpRate != 0 && (o.ntpRate < ntpserve.MinRate || o.ntpRate > ntpserve.MaxRate):
		return nil, fmt.Errorf("invalid value %v for flag -ntp-rate: must be 0 (off) or %g..%g", o.ntpRate, ntpserve.MinRate, ntpserve.MaxRate)
	case o.ntpBurst > ntpserve.MaxBurst:
		return nil, fmt.Errorf("invalid value %d for flag -ntp-burst: at most %d", o.ntpBurst, ntpserve.MaxBurst)
	}
	if o.sim && o.tempSensor != tempAuto && o.tempSensor != "off" && o.tempSensor != "" {
		return nil, errSimTempPath
	}
	if err := o.gps.validate(o.sim); err != nil {
		return nil, err
	}
	if err := o.dac.validate(o); err != nil {
		return nil, err
	}
	if err := o.nmea.validate(o); err != nil {
		return nil, err
	}
	if err := o.ota.validate(); err != nil {
		return nil, err
	}
	if err := o.serverConfig().Validate(); err != nil {
		return nil, fmt.Errorf("flags -ntp-allow/-ntp-deny: %w", err)
	}
	return o, nil
}

func (o *options) serverConfig() ntpserve.Config {
	return ntpserve.Config{Rate: o.ntpRate, Burst: o.ntpBurst, IPv6Prefix: o.ntpV6Pfx, Allow: o.ntpAllow, Deny: o.ntpDeny}
}

func checkHostPort(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "gpsntpd: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gpsntpd: -cpuprofile: %v\n", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "gpsntpd: -cpuprofile: %v\n", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "gpsntpd: %v\n", err)
		os.Exit(1)
	}
}

// hostClock is the host's CLOCK_REALTIME.
type hostClock struct{}

func (hostClock) Now() timebase.Instant                          { return timebase.FromTime(time.Now()) }
func (hostClock) FromKernel(k timebase.Instant) timebase.Instant { return k }

// nullSteer is the steering target when nothing may be steered (no kernel clock edge configured).
type nullSteer struct{}

func (nullSteer) Step(time.Duration) error                           { return nil }
func (nullSteer) SetFrequency(float64) error                         { return nil }
func (nullSteer) SetStatus(bool, time.Duration, time.Duration) error { return nil }

// measurePrecision returns log2 seconds of the clock's read precision: the smallest step between two
// readings, as ntpd and chrony measure it, so clients weigh our timestamps correctly.
func measurePrecision(c timebase.Clock) int8 {
	best := time.Duration(math.MaxInt64)
	for i := 0; i < 100; i++ {
		a := c.Now()
		b := c.Now()
		for b == a {
			b = c.Now()
		}
		if d := b.Sub(a); d < best {
			best = d
		}
	}
	p := int8(math.Ceil(math.Log2(best.Seconds())))
	if p < -30 {
		p = -30
	}
	return p
}

func run(ctx context.Context, o *options) error {
	if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	started := time.Now()
	host := hostClock{}

	var (
		served  timebase.ServedClock = host
		steer   timebase.Steerable   = nullSteer{}
		inputs  daemon.Inputs
		device  = ""
		ppsName = ""
		mode    = "hardware"
		simRun  func(context.Context) error
	)
	bias := o.ppsBias
	// Notes are logged once every socket is bound, so that a failure to start prints one line only.
	var notes []string
	var (
		ppsPolarity pps.Polarity
		hwRuns      []func(context.Context) error
		drift       discipline.Drift
		haveDrift   bool
		dac         *dacSetup // nil: no DAC-steered oscillator
		temps       *tempSource
		tempsCh     = make(chan daemon.TempReading, 4)
	)
	if o.sim {
		mode, device, ppsName = "sim", "simulator", "simulator"
		cfg := sim.DefaultConfig()
		cfg.Seed = o.simSeed
		cfg.Start = host.Now()
		w, err := sim.NewWorld(cfg)
		if err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		served = w.Board().ServedClock(host)
		steer = w.Board().Steerable(host.Now)
		if !o.ppsBiasSet {
			// The simulated capture path's mean latency is known: calibrate it out, as a user would with -pps-bias.
			bias = cfg.PPS.Bias + cfg.PPS.CaptureLatencyMean
		}
		bytesCh := make(chan daemon.Chunk, 64)
		edgesCh := make(chan timebase.Edge, 8)
		inputs = daemon.Inputs{Bytes: bytesCh, Edges: edgesCh}
		if o.tempSensor == tempAuto {
			sensor, err := w.TempSensor(sim.DefaultTempSensor())
			if err != nil {
				return fmt.Errorf("simulator: %w", err)
			}
			// The simulated board's truth is the host's time (RunRealtime): read the sensor there and stamp
			// the reading with the simulated board clock.
			temps = &tempSource{name: "simulator", every: tempEvery, out: tempsCh,
				read:  func() (float64, error) { return sensor.ReadAt(host.Now()), nil },
				stamp: func() timebase.Instant { return w.Board().At(host.Now()) }}
		}
		simRun = func(ctx context.Context) error {
			events := make(chan sim.Event, 64)
			errc := make(chan error, 1)
			go func() { errc <- sim.RunRealtime(ctx, w, host, events) }()
			for {
				select {
				case <-ctx.Done():
					return <-errc
				case ev := <-events:
					switch ev.Kind {
					case sim.EventBytes:
						bytesCh <- daemon.Chunk{Data: ev.Bytes, Received: ev.Received}
					case sim.EventEdge:
						edgesCh <- ev.Edge
					}
				}
			}
		}
	} else {
		if o.gps.device != "" {
			bytesCh := make(chan daemon.Chunk, 64)
			inputs.Bytes = bytesCh
			rx, err := newReceiver(o.gps, host, bytesCh)
			if err != nil {
				return fmt.Errorf("gps receiver: %w", err)
			}
			hwRuns = append(hwRuns, rx.Run)
			device = o.gps.device
		}
		src, pol, err := openPPS(o)
		if err != nil {
			return err
		}
		ppsPolarity = pol
		switch {
		case src == nil && o.nmea.on:
			steer = kernelClock()
			ppsName = "none (NMEA timing)"
			var note string
			drift, haveDrift, note = loadDrift(o.stateDir)
			if note != "" {
				notes = append(notes, note)
			}
			notes = append(notes, fmt.Sprintf("no PPS: the receiver's sentences time the seconds (delay %v, uncertainty %v): millisecond time, served with that root dispersion", o.nmea.delay, o.nmea.uncertainty))
		case src == nil:
			log.Printf("gpsntpd: no PPS source configured (-pps-gpio or -pps-device): not steering the clock; serving LI=3 stratum 16")
		default:
			defer src.stop()
			ppsName = src.name
			edgesCh := make(chan timebase.Edge, 8)
			inputs.Edges = edgesCh
			hwRuns = append(hwRuns, func(ctx context.Context) error { return src.run(ctx, edgesCh) })
			steer = kernelClock()
			var note string
			drift, haveDrift, note = loadDrift(o.stateDir)
			if note != "" {
				notes = append(notes, note)
			}
		}
		path, err := hardwareTempPath(o.tempSensor)
		if err != nil {
			return err
		}
		if path != "" {
			temps = &tempSource{name: path, every: tempEvery, out: tempsCh, read: fileTemp(path), stamp: host.Now}
			notes = append(notes, fmt.Sprintf("temperature sensor %s, read every %v, for holdover temperature compensation", path, tempEvery))
		}
		if o.dac.device != "" {
			if dac, err = openDAC(o.dac, hardwareDAC); err != nil {
				return err
			}
			defer dac.close()
			oscCh := make(chan timebase.Edge, 8)
			inputs.OscEdges = oscCh
			hwRuns = append(hwRuns, func(ctx context.Context) error { return dac.run(ctx, oscCh) })
			notes = append(notes, fmt.Sprintf("DAC-steered oscillator: %s, its 1PPS on %s", dac.name, dac.ppsName))
		}
	}

	srvCfg := o.serverConfig()
	var ntsSvc *ntsService
	if len(o.nts.keListen) > 0 {
		var err error
		ntsSvc, err = newNTSProcessor(o.stateDir, o.nts)
		if err != nil {
			return err
		}
		srvCfg.NTS = ntsSvc.proc
	}
	srv, err := ntpserve.NewServer(srvCfg, served)
	if err != nil {
		return err
	}

	leapChoice := chooseLeapTable(o, served.Now())
	notes = append(notes, fmt.Sprintf("leap-second table from %s, expires %s", leapChoice.Source, leapChoice.Table.Expiry().Time().Format("2006-01-02")))
	for _, r := range leapChoice.Rejected {
		notes = append(notes, fmt.Sprintf("leap-second file %s not used: %s", r.Name, r.Reason))
	}

	servoCfg := discipline.DefaultConfig()
	servoCfg.StepThreshold = o.stepThresh
	servoCfg.Precision = measurePrecision(served)
	if haveDrift {
		// The saved uncertainty widens with the file's age: an oscillator wanders while the box is off.
		age := served.Now().Sub(drift.Written)
		servoCfg.InitialPPM = drift.FrequencyPPM
		servoCfg.InitialErrorPPM = drift.ErrorPPM + 0.1*math.Max(0, age.Hours()/24)
	}
	var dacCfg daemon.DACConfig
	if dac != nil {
		dacCfg = dac.cfg
	}
	coreCfg := daemon.Config{
		PPS: pps.Config{OnTime: ppsPolarity}, PPSBias: bias,
		Servo: servoCfg, Leap: leapChoice.Table, Publish: srv.Publish, DAC: dacCfg,
	}
	if o.nmea.on {
		coreCfg.NMEA = &daemon.NMEATime{Delay: o.nmea.delay, Uncertainty: o.nmea.uncertainty}
		coreCfg.Servo = daemon.NMEAServoConfig(coreCfg.Servo)
		coreCfg.GPS.ByteTime = o.nmea.byteTime(o.gps.device, o.gps.baud)
	}
	core, err := daemon.NewCore(coreCfg, steer)
	if err != nil {
		return err
	}
	if temps != nil {
		inputs.Temps = tempsCh
	}

	var ntpSrv *udp.Server
	if len(o.ntpListen) > 0 {
		sockets := o.ntpSockets
		if sockets == 0 {
			sockets = runtime.NumCPU()
		}
		ntpSrv, err = udp.Listen(udp.Config{Addrs: o.ntpListen, SocketsPerAddr: sockets}, batchingServer{srv}, served)
		if err != nil {
			return err
		}
		defer ntpSrv.Close()
		// Each socket's loop keeps its P while requests keep coming (see ntpserve/udp's doc): with more Ps
		// than sockets, a flood on every socket still leaves one for the servo and the status page, and
		// the kernel, not Go's 10 ms preemption, shares the CPUs between the threads.
		if n := len(ntpSrv.LocalAddrs()) * sockets; runtime.GOMAXPROCS(0) <= n {
			runtime.GOMAXPROCS(n + 1)
		}
	}
	var listen []string
	var ntpAddrs []netip.AddrPort
	if ntpSrv != nil {
		ntpAddrs = ntpSrv.LocalAddrs()
		for _, a := range ntpAddrs {
			listen = append(listen, a.String())
		}
	}
	if ntsSvc != nil {
		if err := ntsSvc.startKE(o.stateDir, o.nts, ntpPortOf(ntpAddrs)); err != nil {
			return err
		}
		defer ntsSvc.close()
	}

	otaPoll := newOTAPoller(o.ota.url) // nil without -ota-status
	webHandler := startWeb(ctx, &statusProvider{
		version: version, mode: mode, device: device, ppsSource: ppsName, started: started, leap: leapChoice, nts: ntsSvc, board: o.board,
		listen: listen, clock: served, core: core, server: srv, dac: dac, ota: otaPoll, temps: temps,
	})

	var handler = webHandler
	if ntsSvc != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/nts", ntsSvc.apiNTS)
		mux.HandleFunc("GET /api/nts/cert.pem", ntsSvc.apiNTSCert)
		mux.Handle("/", handler)
		handler = mux
	}
	var httpServers []*http.Server
	for _, a := range o.httpListen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("listen tcp %s: %w", a, unwrapOpError(err))
		}
		hs := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
		}
		httpServers = append(httpServers, hs)
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("gpsntpd: http %s: %v", a, err)
			}
		}()
		log.Printf("gpsntpd: status page on http://%s/", ln.Addr())
	}

	for _, n := range notes {
		log.Printf("gpsntpd: %s", n)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4+len(hwRuns))
	for _, r := range hwRuns {
		go func() { errc <- r(ctx) }()
	}
	if !o.sim && (inputs.Edges != nil || o.nmea.on) {
		driftDone := make(chan struct{})
		go func() { keepDrift(ctx, o.stateDir, core, served); close(driftDone) }()
		defer func() { <-driftDone }()
	}
	if otaPoll != nil {
		otaDone := make(chan struct{})
		go func() { otaPoll.run(ctx); close(otaDone) }()
		defer func() { <-otaDone }()
	}
	if dac != nil {
		dacDone := make(chan struct{})
		go func() { dac.keepDACState(ctx, core, served); close(dacDone) }()
		defer func() { <-dacDone }()
	}
	if ntpSrv != nil {
		go func() { errc <- ntpSrv.Serve(ctx) }()
		log.Printf("gpsntpd: serving NTP on %s (%s mode)", strings.Join(listen, ","), mode)
	}
	if simRun != nil {
		go func() { errc <- simRun(ctx) }()
	}
	if temps != nil {
		go func() { errc <- temps.run(ctx) }()
	}
	if ntsSvc != nil {
		go ntsSvc.run(ctx)
		log.Printf("gpsntpd: serving NTS-KE on %s", strings.Join(ntsSvc.listen, ","))
	}
	go func() { errc <- daemon.Run(ctx, core, served, inputs) }()

	select {
	case <-ctx.Done():
	case err = <-errc:
		if err == nil && ctx.Err() == nil {
			err = errors.New("a component stopped unexpectedly")
		}
	}
	cancel()
	sdCtx, sdCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer sdCancel()
	for _, hs := range httpServers {
		_ = hs.Shutdown(sdCtx)
	}
	if ctx.Err() != nil && err == nil {
		log.Printf("gpsntpd: shutting down")
	}
	return err
}

// chooseLeapTable offers the state dir's leap-seconds.list and the -leapfile to the leap package, which
// keeps the built-in table unless a candidate verifies, is unexpired, newer, and agrees with its history.
func chooseLeapTable(o *options, now timebase.Instant) leap.Choice {
	var cands []leap.Candidate
	add := func(name string, optional bool) {
		data, err := os.ReadFile(name)
		if err != nil {
			if optional && errors.Is(err, fs.ErrNotExist) {
				return
			}
			cands = append(cands, leap.Candidate{Name: name, Err: err})
			return
		}
		cands = append(cands, leap.Candidate{Name: name, Data: bytes.NewReader(data)})
	}
	add(filepath.Join(o.stateDir, "leap-seconds.list"), true)
	if o.leapFile != "" {
		add(o.leapFile, false)
	}
	return leap.Choose(leap.Builtin(), cands, now)
}

// unwrapOpError strips net.OpError's repetition of the operation and address, so the one-line error reads
// "listen tcp 127.0.0.1:80: address already in use".
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

// batchingServer hands the NTP server to the socket edge as a udp.Preparer, so that each batch's NTS
// cryptography is done before any of its transmit timestamps is read (ntpserve.Batch). ntpserve, a core
// package, cannot name the edge's interface; the composer joins them.
type batchingServer struct{ *ntpserve.Server }

func (b batchingServer) NewBatch(n int) udp.BatchHandler { return b.Server.NewBatch(n) }
