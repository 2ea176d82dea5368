// Package board describes the hardware gpsntp runs on, as pure data: which Raspberry Pi, which GPS HAT,
// and what follows from the pair — the config.txt lines that route a full UART to the 40-pin header, the
// serial device the receiver appears on, the GPIO chip and line that carry PPS, and gpsntpd's flags.
//
// A Profile is a (Board, HAT, PPS pin) triple. Parse builds one from names ("rpi4", "uputronics");
// Validate rejects combinations that cannot work, with a message that names the conflict. Nothing here
// touches the device: the image builder (package image) writes the lines into the boot partition, and
// gpsntpd receives the flags on its command line.
//
// # The UART on the 40-pin header (GPIO14 TXD, GPIO15 RXD)
//
//	board       SoC      header UART by default      what we set                 device on gokrazy
//	rpi3        BCM2837  mini UART (PL011 -> BT)     enable_uart=1 + disable-bt  /dev/ttyAMA0 (PL011)
//	rpizero2w   RP3A0    mini UART (PL011 -> BT)     enable_uart=1 + disable-bt  /dev/ttyAMA0 (PL011)
//	rpi4        BCM2711  mini UART (PL011 -> BT)     enable_uart=1 + disable-bt  /dev/ttyAMA0 (PL011)
//	rpi5        BCM2712  none (console is UART10 on  dtparam=uart0=on            /dev/ttyAMA0 (RP1 UART0)
//	                     the 3-pin debug connector)
//	qemu        virt     PL011 = the VM's console    (kernel.arm64, no firmware) /dev/hvc0 (virtio console)
//
// On the BT boards the mini UART's baud clock follows the VPU core clock, so we give the header the PL011
// by moving Bluetooth off it (dtoverlay=disable-bt). The Pi 5 has a separate Bluetooth UART; its header
// UART is RP1's UART0, off until dtparam=uart0=on (the parameter exists in kernel.rpi's
// bcm2712-rpi-5-b.dtb __overrides__), and it is ttyAMA0 because the DT alias serial0 names it
// (the debug UART is serial10, ttyAMA10).
//
// Why /dev/ttyAMA0 and not /dev/serial0: gokrazy has no udev. Its init (gokrazy.go, Boot) makes
// /dev/serial0 a symlink chosen from the DT aliases (uart0 == serial0 -> ttyAMA0, else ttyS0) and then
// creates /dev/ttyAMA0 -> /dev/ttyS0 as a "compatibility" symlink when ttyAMA0 does not exist yet. With the
// lines above, the PL011 is probed before init runs, devtmpfs holds a real /dev/ttyAMA0 node and the
// symlink attempt is a no-op; naming the node itself keeps us independent of the alias heuristics. The
// kernel command line must not carry console=serial0 (or ttyAMA0/ttyS0): the kernel would write its log
// into the receiver's RX line and the console's getty-like reader would steal its bytes.
//
// # PPS: GPIO character device, never the pps-gpio overlay
//
// gokrazy's kernel.rpi (6.12.47) has no pps-gpio driver, so gpsntpd timestamps the PPS line through the GPIO
// v2 character device (pps/gpiocdev). A dtoverlay=pps-gpio line would only reserve the pin in the DT; it is
// deliberately never emitted. Which /dev/gpiochipN owns the header differs: BCM2835-family pinctrl is
// gpiochip0 on every kernel; on the Pi 5 the header is RP1 ("pinctrl-rp1"), which was gpiochip4 before
// raspberrypi/linux#6144 (6.6.45) and gpiochip0 since, through a DT alias "gpiochip0" that kernel.rpi's
// bcm2712-rpi-5-b.dtb carries next to "gpiochip10" for the SoC's own banks. So for kernel.rpi 6.12.47 the
// Pi 5 header is gpiochip0. Later 6.12.96+rpt kernels were reported to number it differently again, so the
// Pi 5 profile names the chip by its label (-pps-gpio @pinctrl-rp1:18), which gpsntpd resolves at start
// with GPIO_GET_CHIPINFO_IOCTL; the older boards keep gpiochip0, which no kernel has moved.
package board

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Board is one Raspberry Pi model family as the image needs to know it.
type Board struct {
	Name  string   // canonical short name, e.g. "rpi4"
	Model string   // marketing name
	SoC   string   // e.g. "BCM2711"
	DTBs  []string // device trees (in kernel.rpi) the firmware picks for this board
	// Header40 is true when the board has (or has pads for) the 40-pin HAT header.
	Header40 bool
	// UARTLines are the config.txt lines that put a PL011-class UART on GPIO14/15.
	UARTLines []string
	// UARTDevice is the device node of that UART under gokrazy (no udev, so no by-id links).
	UARTDevice string
	// GPIOChip is the character device name of the chip that owns the header's GPIO0..27, and
	// GPIOChipLabel is that chip's label as the kernel reports it.
	GPIOChip      string
	GPIOChipLabel string
	// GPIOByLabel makes gpsntpd find the chip by its label at start (-pps-gpio @LABEL:LINE) rather than
	// trust the number, for boards whose chip numbering kernels have changed.
	GPIOByLabel bool
	// SerialConsoles are console= values that would land on the header UART.
	SerialConsoles []string
	// Kernel names the gokrazy kernel package family: "rpi" (kernel.rpi + Pi firmware) or "virt"
	// (kernel.arm64 for QEMU's virt machine, booted with -kernel; no firmware).
	Kernel string
	// Virtual marks an emulated board: it has no header, and its receiver arrives over virtio-serial.
	Virtual bool
}

// HAT is a GPS receiver board on the 40-pin header (or wired to it).
type HAT struct {
	Name     string // canonical short name, e.g. "uputronics"
	Model    string
	Receiver string // chipset, informative
	// Baud is the receiver's factory line speed; 0 lets gpsntpd detect it.
	Baud int
	// PPSPin is the BCM GPIO number of the PPS output; 0 means the user must choose one.
	PPSPin int
	// PPSEdge is gpsntpd's -pps-edge value: the edge that is on time.
	PPSEdge string
	// ConfigLines are extra config.txt lines the HAT needs beyond the board's UART lines.
	ConfigLines []string
	// Needs40 is true when the HAT plugs onto the 40-pin header.
	Needs40 bool
	// NoPPS marks a receiver without a PPS line (the emulated one); gpsntpd then gets -nmea-time instead of
	// -pps-gpio and serves millisecond time from the sentences, with a root dispersion that says so.
	NoPPS bool
	// Device overrides the board's UART device ("" keeps it).
	Device string
}

// Profile is a board, a HAT and the PPS pin actually used.
type Profile struct {
	Board  Board
	HAT    HAT
	PPSPin int // BCM GPIO number
}

// Header pins with a fixed job. GPIO0/1 are the HAT ID EEPROM's I2C (ID_SD/ID_SC), which the firmware
// reads at boot; GPIO14/15 are the UART that carries the receiver's NMEA.
const (
	pinIDSD = 0
	pinIDSC = 1
	pinTXD  = 14
	pinRXD  = 15
	// The header exposes GPIO0..27 on every board here.
	maxHeaderGPIO = 27
)

var bcmConsoles = []string{"serial0", "ttyAMA0", "ttyS0", "serial1", "ttyAMA1", "ttyS1"}

var btUART = []string{"enable_uart=1", "dtoverlay=disable-bt"}

var boards = []Board{
	{
		Name: "rpi3", Model: "Raspberry Pi 3 Model B / B+", SoC: "BCM2837",
		DTBs:     []string{"bcm2710-rpi-3-b.dtb", "bcm2710-rpi-3-b-plus.dtb", "bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb"},
		Header40: true, UARTLines: btUART, UARTDevice: "/dev/ttyAMA0",
		GPIOChip: "gpiochip0", GPIOChipLabel: "pinctrl-bcm2835", SerialConsoles: bcmConsoles, Kernel: "rpi",
	},
	{
		Name: "rpi4", Model: "Raspberry Pi 4 Model B", SoC: "BCM2711",
		DTBs:     []string{"bcm2711-rpi-4-b.dtb"},
		Header40: true, UARTLines: btUART, UARTDevice: "/dev/ttyAMA0",
		GPIOChip: "gpiochip0", GPIOChipLabel: "pinctrl-bcm2711", SerialConsoles: bcmConsoles, Kernel: "rpi",
	},
	{
		Name: "rpi5", Model: "Raspberry Pi 5", SoC: "BCM2712",
		DTBs:     []string{"bcm2712-rpi-5-b.dtb", "bcm2712d0-rpi-5-b.dtb", "bcm2712-d-rpi-5-b.dtb"},
		Header40: true, UARTLines: []string{"dtparam=uart0=on"}, UARTDevice: "/dev/ttyAMA0",
		GPIOChip: "gpiochip0", GPIOChipLabel: "pinctrl-rp1", GPIOByLabel: true, SerialConsoles: []string{"serial0", "ttyAMA0"}, Kernel: "rpi",
	},
	{
		Name: "rpizero2w", Model: "Raspberry Pi Zero 2 W", SoC: "RP3A0 (BCM2710A1)",
		DTBs:     []string{"bcm2710-rpi-zero-2-w.dtb", "bcm2837-rpi-zero-2-w.dtb"},
		Header40: true, UARTLines: btUART, UARTDevice: "/dev/ttyAMA0",
		GPIOChip: "gpiochip0", GPIOChipLabel: "pinctrl-bcm2835", SerialConsoles: bcmConsoles, Kernel: "rpi",
	},
	{
		// QEMU's arm64 "virt" machine: the same gokrazy system with kernel.arm64. Its PL011 (ttyAMA0) is the
		// VM's console; the receiver is a virtio console port, /dev/hvc0 (the first hvc; no udev, so no
		// /dev/virtio-ports/<name> link). A plain virtserialport (/dev/vport1p1) is not a tty, and gpsntpd's
		// serial edge needs termios: it silently retried opening one on a booted VM.
		Name: "qemu", Model: "QEMU arm64 virt (cortex-a72)", SoC: "virt",
		UARTDevice: "/dev/hvc0", GPIOChip: "gpiochip0", GPIOChipLabel: "pl061",
		SerialConsoles: []string{"hvc0"}, Kernel: "virt", Virtual: true,
	},
}

var boardAliases = map[string]string{
	"rpi3b": "rpi3", "rpi3b+": "rpi3", "rpi3bplus": "rpi3", "pi3": "rpi3",
	"rpi4b": "rpi4", "pi4": "rpi4",
	"pi5":    "rpi5",
	"zero2w": "rpizero2w", "rpizero2": "rpizero2w", "pizero2w": "rpizero2w",
	"vm": "qemu", "virt": "qemu",
}

var hats = []HAT{
	{
		Name: "adafruit", Model: "Adafruit Ultimate GPS HAT", Receiver: "MediaTek MTK3339",
		Baud: 9600, PPSPin: 4, PPSEdge: "rising", Needs40: true,
	},
	{
		Name: "uputronics", Model: "Uputronics GPS HAT", Receiver: "u-blox M8",
		Baud: 9600, PPSPin: 18, PPSEdge: "rising", Needs40: true,
	},
	{
		// A u-blox module wired to GPIO14/15 with its timepulse on a pin of the user's choice; the line
		// speed is detected because modules ship at 9600 but are often reconfigured.
		Name: "ublox", Model: "generic u-blox receiver on the header UART", Receiver: "u-blox",
		Baud: 0, PPSPin: 0, PPSEdge: "rising", Needs40: true,
	},
	{
		// The emulated receiver: NMEA written by the host into a virtio-serial port, no PPS.
		Name: "virtio", Model: "NMEA over virtio-serial (emulated receiver)", Receiver: "host feed",
		Baud: 9600, PPSEdge: "rising", NoPPS: true,
	},
}

var hatAliases = map[string]string{
	"adafruit-ultimate": "adafruit", "mtk3339": "adafruit",
	"uputronics-gps": "uputronics",
	"u-blox":         "ublox", "generic-ublox": "ublox",
}

// Boards returns the known boards' canonical names, sorted.
func Boards() []string {
	names := make([]string, len(boards))
	for i, b := range boards {
		names[i] = b.Name
	}
	sort.Strings(names)
	return names
}

// HATs returns the known HATs' canonical names, sorted.
func HATs() []string {
	names := make([]string, len(hats))
	for i, h := range hats {
		names[i] = h.Name
	}
	sort.Strings(names)
	return names
}

// LookupBoard finds a board by canonical name or alias (case-insensitive).
func LookupBoard(name string) (Board, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := boardAliases[n]; ok {
		n = a
	}
	for _, b := range boards {
		if b.Name == n {
			return b, nil
		}
	}
	return Board{}, fmt.Errorf("board: unknown board %q (known: %s)", name, strings.Join(Boards(), ", "))
}

// LookupHAT finds a HAT by canonical name or alias (case-insensitive).
func LookupHAT(name string) (HAT, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := hatAliases[n]; ok {
		n = a
	}
	for _, h := range hats {
		if h.Name == n {
			return h, nil
		}
	}
	return HAT{}, fmt.Errorf("board: unknown HAT %q (known: %s)", name, strings.Join(HATs(), ", "))
}

// Parse builds and validates the profile for a board and a HAT with the HAT's own PPS pin.
func Parse(boardName, hatName string) (Profile, error) {
	return ParsePin(boardName, hatName, 0)
}

// ParsePin is Parse with an explicit PPS pin (BCM GPIO number); 0 keeps the HAT's pin. A HAT with a
// fixed PPS pin (a PCB trace) accepts only that pin.
func ParsePin(boardName, hatName string, ppsPin int) (Profile, error) {
	b, err := LookupBoard(boardName)
	if err != nil {
		return Profile{}, err
	}
	h, err := LookupHAT(hatName)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{Board: b, HAT: h, PPSPin: h.PPSPin}
	if ppsPin != 0 {
		if h.PPSPin != 0 && ppsPin != h.PPSPin {
			return Profile{}, fmt.Errorf("board: the %s wires PPS to GPIO%d; -pps-pin %d cannot move it", h.Model, h.PPSPin, ppsPin)
		}
		p.PPSPin = ppsPin
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// Validate reports why a profile cannot work, or nil.
func (p Profile) Validate() error {
	var errs []error
	b, h := p.Board, p.HAT
	if b.Name == "" {
		errs = append(errs, errors.New("board: no board given"))
	}
	if h.Name == "" {
		errs = append(errs, errors.New("board: no HAT given"))
	}
	if h.Needs40 && !b.Header40 && b.Name != "" && !b.Virtual {
		errs = append(errs, fmt.Errorf("board: the %s needs the 40-pin header, which the %s does not have", h.Model, b.Model))
	}
	if b.Name != "" && (b.UARTDevice == "" || !strings.HasPrefix(b.UARTDevice, "/dev/")) {
		errs = append(errs, fmt.Errorf("board: %s has no UART device under /dev (got %q)", b.Name, b.UARTDevice))
	}
	if b.Name != "" && b.GPIOChip == "" {
		errs = append(errs, fmt.Errorf("board: %s names no GPIO chip for the header", b.Name))
	}
	if h.NoPPS != b.Virtual && h.Name != "" && b.Name != "" {
		if b.Virtual {
			errs = append(errs, fmt.Errorf("board: the %s has no 40-pin header for the %s; use -hat virtio", b.Model, h.Model))
		} else {
			errs = append(errs, fmt.Errorf("board: the %s is for the emulated board only, not the %s", h.Model, b.Model))
		}
	}
	switch pin := p.PPSPin; {
	case h.NoPPS:
		if pin != 0 {
			errs = append(errs, fmt.Errorf("board: the %s has no PPS line; GPIO%d cannot be used", h.Model, pin))
		}
	case pin == 0 && h.Name != "" && h.PPSPin == 0:
		errs = append(errs, fmt.Errorf("board: the %s has no fixed PPS pin: choose one (a header GPIO 2..27 other than 14/15)", h.Model))
	case pin == pinTXD || pin == pinRXD:
		errs = append(errs, fmt.Errorf("board: PPS on GPIO%d conflicts with the receiver's UART (GPIO14 TXD, GPIO15 RXD)", pin))
	case pin == pinIDSD || pin == pinIDSC:
		errs = append(errs, fmt.Errorf("board: PPS on GPIO%d conflicts with the HAT ID EEPROM bus (GPIO0 ID_SD, GPIO1 ID_SC)", pin))
	case pin < 0 || pin > maxHeaderGPIO:
		errs = append(errs, fmt.Errorf("board: PPS on GPIO%d is not on the 40-pin header (GPIO2..27)", pin))
	}
	if h.PPSPin != 0 && p.PPSPin != 0 && p.PPSPin != h.PPSPin {
		errs = append(errs, fmt.Errorf("board: the %s wires PPS to GPIO%d, not GPIO%d", h.Model, h.PPSPin, p.PPSPin))
	}
	switch h.PPSEdge {
	case "rising", "falling", "both":
	default:
		if h.Name != "" {
			errs = append(errs, fmt.Errorf("board: HAT %s has PPS edge %q; want rising, falling or both", h.Name, h.PPSEdge))
		}
	}
	if h.Baud != 0 && !standardBaud(h.Baud) {
		errs = append(errs, fmt.Errorf("board: HAT %s has baud %d, not a standard rate 4800..460800", h.Name, h.Baud))
	}
	for _, l := range p.ConfigLines() {
		if strings.HasPrefix(l, "dtoverlay=pps-gpio") {
			errs = append(errs, errors.New("board: dtoverlay=pps-gpio would claim the PPS line that gpsntpd reads through the GPIO character device"))
		}
		if strings.ContainsAny(l, "\n\r") || strings.TrimSpace(l) != l || l == "" {
			errs = append(errs, fmt.Errorf("board: config.txt line %q is not one trimmed line", l))
		}
	}
	return errors.Join(errs...)
}

func standardBaud(b int) bool {
	switch b {
	case 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800:
		return true
	}
	return false
}

// ConfigLines returns the config.txt lines for the profile, in order: the board's UART routing, then the
// HAT's extras. They go after the kernel package's own config.txt.
func (p Profile) ConfigLines() []string {
	out := make([]string, 0, len(p.Board.UARTLines)+len(p.HAT.ConfigLines))
	out = append(out, p.Board.UARTLines...)
	out = append(out, p.HAT.ConfigLines...)
	return out
}

// UARTDevice is the serial device gpsntpd reads the receiver from.
func (p Profile) UARTDevice() string {
	if p.HAT.Device != "" {
		return p.HAT.Device
	}
	return p.Board.UARTDevice
}

// PPSLine is the -pps-gpio value: "gpiochipN:LINE", or "@LABEL:LINE" where the board is found by label.
func (p Profile) PPSLine() string {
	if p.Board.GPIOByLabel {
		return "@" + p.Board.GPIOChipLabel + ":" + strconv.Itoa(p.PPSPin)
	}
	return p.Board.GPIOChip + ":" + strconv.Itoa(p.PPSPin)
}

// DaemonFlags are gpsntpd's hardware flags for the profile. A zero baud is passed as 0, which makes
// gpsntpd detect the line speed.
func (p Profile) DaemonFlags() []string {
	// -board puts the profile's name on the status page, so the owner sees what the image was built for.
	flags := []string{"-board", p.String(), "-gps-device", p.UARTDevice(), "-gps-baud", strconv.Itoa(p.HAT.Baud)}
	if p.HAT.NoPPS {
		// No pulse to capture: the sentences time the seconds, and the box says how well (see gpsntpd's
		// -nmea-time).
		return append(flags, "-nmea-time")
	}
	return append(flags, "-pps-gpio", p.PPSLine(), "-pps-edge", p.HAT.PPSEdge)
}

// CheckCmdline rejects a kernel command line that puts a console on the receiver's UART.
func (p Profile) CheckCmdline(cmdline string) error {
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "console=")
		if !ok {
			continue
		}
		dev, _, _ := strings.Cut(v, ",")
		for _, bad := range p.Board.SerialConsoles {
			if dev == bad {
				return fmt.Errorf("board: cmdline has %q: a console on %s would share the GPS receiver's UART (%s)", f, dev, p.UARTDevice())
			}
		}
	}
	return nil
}

// String names the profile as "board/hat@GPIOn".
func (p Profile) String() string {
	if p.HAT.NoPPS {
		return p.Board.Name + "/" + p.HAT.Name
	}
	return fmt.Sprintf("%s/%s@GPIO%d", p.Board.Name, p.HAT.Name, p.PPSPin)
}
