package gpiocdev

// The request structures of include/uapi/linux/gpio.h, laid out exactly as the kernel's (sizes asserted in
// tests: gpio_v2_line_request is 592 bytes). Every __aligned_u64 falls on a multiple of 8 by construction, so
// the layout is the same on 32- and 64-bit targets.

const (
	linesMax    = 64 // GPIO_V2_LINES_MAX
	maxNameSize = 32 // GPIO_MAX_NAME_SIZE
	numAttrsMax = 10 // GPIO_V2_LINE_NUM_ATTRS_MAX

	flagInput         = 1 << 2  // GPIO_V2_LINE_FLAG_INPUT
	flagEdgeRising    = 1 << 4  // GPIO_V2_LINE_FLAG_EDGE_RISING
	flagEdgeFalling   = 1 << 5  // GPIO_V2_LINE_FLAG_EDGE_FALLING
	flagClockRealtime = 1 << 11 // GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME

	// GPIO_V2_GET_LINE_IOCTL = _IOWR(0xB4, 0x07, struct gpio_v2_line_request)
	getLineIoctl = 3<<30 | RequestSize<<16 | 0xB4<<8 | 0x07
	// GPIO_GET_CHIPINFO_IOCTL = _IOR(0xB4, 0x01, struct gpiochip_info)
	chipInfoIoctl = 2<<30 | chipInfoSize<<16 | 0xB4<<8 | 0x01
	chipInfoSize  = 68
)

// struct gpiochip_info: 68 bytes.
type chipInfo struct {
	Name  [maxNameSize]byte
	Label [maxNameSize]byte
	Lines uint32
}

// struct gpio_v2_line_attribute: 16 bytes.
type lineAttribute struct {
	ID      uint32
	Padding uint32
	Value   uint64 // union { flags; values; debounce_period_us }
}

// struct gpio_v2_line_config_attribute: 24 bytes.
type lineConfigAttribute struct {
	Attr lineAttribute
	Mask uint64
}

// struct gpio_v2_line_config: 272 bytes.
type lineConfig struct {
	Flags    uint64
	NumAttrs uint32
	Padding  [5]uint32
	Attrs    [numAttrsMax]lineConfigAttribute
}

// struct gpio_v2_line_request: 592 bytes.
type lineRequest struct {
	Offsets         [linesMax]uint32
	Consumer        [maxNameSize]byte
	Config          lineConfig
	NumLines        uint32
	EventBufferSize uint32
	Padding         [5]uint32
	Fd              int32
}

// newRequest builds the request for one input line with the given edges, optionally stamped with
// CLOCK_REALTIME.
func newRequest(offset uint32, mode EdgeMode, consumer string, realtime bool) lineRequest {
	var r lineRequest
	r.Offsets[0] = offset
	r.NumLines = 1
	copy(r.Consumer[:maxNameSize-1], consumer)
	r.Config.Flags = flagInput
	if mode == Rising || mode == Both {
		r.Config.Flags |= flagEdgeRising
	}
	if mode == Falling || mode == Both {
		r.Config.Flags |= flagEdgeFalling
	}
	if realtime {
		r.Config.Flags |= flagClockRealtime
	}
	// 0 lets the kernel pick (16 per line); a PPS makes at most two events a second.
	return r
}
