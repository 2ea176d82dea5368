//go:build !race

package ntpserve

const raceEnabled = false
