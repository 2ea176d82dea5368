package leap

import (
	"bytes"
	"testing"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

func BenchmarkParseBuiltin(b *testing.B) {
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(builtinList)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkControllerTick(b *testing.B) {
	c := NewController(Builtin(), ModeStep)
	rx := tls(18, 1, timebase.Date(2028, 1, 1, 0, 0, 0, 0))
	now := timebase.Date(2027, 12, 31, 12, 0, 0, 0)
	for b.Loop() {
		o := c.Tick(rx, now, true)
		if o.Leap != timebase.LeapInsert {
			b.Fatal(o.Leap)
		}
	}
}
