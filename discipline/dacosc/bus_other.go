//go:build !linux

package dacosc

import (
	"fmt"

	"periph.io/x/conn/v3/i2c"
)

// OpenBus needs Linux's i2c-dev.
func OpenBus(path string) (i2c.BusCloser, error) {
	return nil, fmt.Errorf("dacosc: OpenBus(%s): I2C needs Linux i2c-dev", path)
}
