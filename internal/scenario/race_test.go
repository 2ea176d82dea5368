//go:build race

package scenario

// raceEnabled: the race detector slows the virtual-time runs about tenfold, and they are single-goroutine.
const raceEnabled = true
