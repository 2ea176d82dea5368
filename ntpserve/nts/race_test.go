//go:build race

package nts

// raceEnabled skips allocation counts: under the race detector sync.Pool drops items on purpose.
const raceEnabled = true
