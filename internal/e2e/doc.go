// Package e2e holds end-to-end tests that run the real binaries: gpsntpd -sim on loopback, queried by real
// NTP clients from Debian's packages (chronyd as a one-shot client that never sets the clock, NTPsec's
// ntpdig inside a network namespace of the test's own), and the command-line contracts a user relies on.
//
// A missing peer skips its test with a clear message on a developer's machine, and fails under CI (CI set in
// the environment), because `make deps` installs every peer there and a skip would hide a broken install.
package e2e
