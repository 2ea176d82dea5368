#!/usr/bin/env bash
# bench-servo.sh — what `make bench-servo` runs: gpsntp's PPS discipline against chrony's on the same
# simulated box (cmd/servobench, internal/servocmp). The same seeded oscillator and PPS captures drive our
# daemon loop in virtual time and a real chronyd in real time; both are scored over the same window, and
# the script prints one line per discipline and the ratios (chrony's figure over ours: above 1, ours is
# better).
#
# chronyd runs with -x: it never touches the host clock (its null clock driver keeps its corrections as a
# virtual clock, which is what is scored). It listens on nothing but its refclock sockets in a temporary
# directory, and is stopped at the end.
#
# Environment (defaults): SERVO_SCENARIO (cold-start; bad-pps also compares), SERVO_DURATION (600s; chrony
# runs in real time, so this is the wall-clock time of a run), SERVO_SEED (1), SERVO_ARGS (extra servobench
# flags, e.g. "-chrony-poll 2" or "-chrony-feed pps-lock"), SERVO_KEEP (a directory to keep chronyd's
# configuration, logs and per-sample errors in).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench-servo
# shellcheck source=benchlib.sh
. scripts/benchlib.sh

SCENARIO=${SERVO_SCENARIO:-cold-start}
DURATION=${SERVO_DURATION:-600s}
SEED=${SERVO_SEED:-1}
read -r -a EXTRA <<<"${SERVO_ARGS:-}"

command -v go >/dev/null || die "go not found on PATH"
CHRONYD=$(command -v chronyd || true)
[ -z "$CHRONYD" ] && [ -x /usr/sbin/chronyd ] && CHRONYD=/usr/sbin/chronyd
[ -n "$CHRONYD" ] || die "chronyd not found: install the Debian package chrony (make deps)"

go build -o bin/servobench ./cmd/servobench
args=(-scenario "$SCENARIO" -duration "$DURATION" -seed "$SEED" -chronyd "$CHRONYD")
if [ -n "${SERVO_KEEP:-}" ]; then
	args+=(-keep "$SERVO_KEEP")
fi
say "bench-servo: $SCENARIO seed $SEED for $DURATION (chronyd runs in real time: the run takes that long)"
bin/servobench "${args[@]}" "${EXTRA[@]}"
