// Package archtest enforces the import rules of ARCHITECTURE.md: cores stay pure (no I/O, no wall clock),
// edges stay thin and independent, the daemon composes without naming concrete edges, and the simulator and
// load generator are reachable only from commands and tests. Its checks run as a test over `go list` and the
// cores' syntax trees; each failure names the package, what it reached, and the rule with its reason.
package archtest
