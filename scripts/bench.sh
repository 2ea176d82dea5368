#!/usr/bin/env bash
# bench.sh — what `make bench` runs: the same NTP load, from the project's own generator (bin/ntpload,
# loopback only, bounded), against chronyd and against gpsntpd, one after the other in the same run,
# each server pinned to one CPU and the generator to another. Prints answered/s, loss, p50 and p99 for
# each load and the ratio gpsntpd/chronyd.
#
# Loads: an open loop at each rate of BENCH_RATES (requests leave at that rate whatever the server
# does: loss shows saturation; p99 compares latency at equal load), then a closed loop with
# BENCH_WINDOW requests outstanding, which finds each server's saturation throughput. A third server,
# the floor (bin/ntpload -floor-server: gpsntpd's socket edge answering with the least work a reply needs),
# takes the closed loop too: it measures what the kernel's UDP path leaves on this machine, the most any
# server on these sockets could answer.
#
# chronyd runs with -x (never touches the clock) as a stratum-1 server on 127.0.0.1. Nothing here sets
# the clock or listens beyond loopback. Everything started is killed on exit.
#
# Environment (defaults): BENCH_DURATION (3s per load), BENCH_RATES (50000,100000,150000: a sweep below
# chronyd's saturation on a 2-core machine), BENCH_WINDOW (256), BENCH_SOCKETS (4 generator source
# ports), BENCH_SERVER_CPU (0), BENCH_GEN_CPU (1), BENCH_REPEAT (1: rounds of chronyd then gpsntpd; with
# more, the summary gives every round's ratio and their median, which a busy shared machine needs). With
# the defaults a run takes about 40 s per round.
#
# This measures what the machine lets it: another process on the server's CPU steals time from the
# server and shows up as loss and latency. Each load's CPU line says how the server's CPU was shared;
# a run marked DISTORTED should be repeated on a quiet machine.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench
# shellcheck source=benchlib.sh
. scripts/benchlib.sh

DURATION=${BENCH_DURATION:-3s}
RATES=${BENCH_RATES:-50000,100000,150000}
WINDOW=${BENCH_WINDOW:-256}
SOCKETS=${BENCH_SOCKETS:-4}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
REPEAT=${BENCH_REPEAT:-1}
case "$REPEAT" in
[1-9] | 10) ;;
*) die "BENCH_REPEAT=$REPEAT: use 1 to 10" ;;
esac

case "$DURATION" in
	[1-9]s | [1-2][0-9]s | 30s) ;;
	*) die "BENCH_DURATION=$DURATION: use whole seconds from 1s to 30s, so the run stays well under two minutes" ;;
esac
find_tools

pin_cpus

say "== build"
mkdir -p bin
go build -o bin/ntpload ./cmd/ntpload
HAVE_GPSNTPD=0
GPSNTPD_MISSING=""
if [ ! -f cmd/gpsntpd/main.go ]; then
	GPSNTPD_MISSING="cmd/gpsntpd does not exist yet"
elif ! go build -o bin/gpsntpd ./cmd/gpsntpd; then
	GPSNTPD_MISSING="cmd/gpsntpd does not build"
else
	HAVE_GPSNTPD=1
fi
[ -z "$GPSNTPD_MISSING" ] || say "bench: $GPSNTPD_MISSING: only chronyd will be measured, and bench will exit non-zero"

# cpu_ticks PID prints the process's user+system CPU time in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TICKS=$(getconf CLK_TCK)

# wait_up NAME PORT PID LOG: wait until the server answers NTP, or fail showing its log.
wait_up() {
	local name=$1 port=$2 pid=$3 log=$4
	if ! "${PIN_GEN[@]}" bin/ntpload -target "127.0.0.1:$port" -probe 15s; then
		kill -0 "$pid" 2>/dev/null || say "bench: $name exited"
		say "--- last lines of $name's output:"
		tail -n 20 "$log" || true
		die "$name did not answer on 127.0.0.1:$port"
	fi
}

# measure NAME PORT PID [LOADS]: run every load (default: each of RATES, then closed) against the server
# and keep the JSON results.
measure() {
	local name=$1 port=$2 pid=$3 loads=${4:-"$(echo "$RATES" | tr ',' ' ') closed"} rate t0 t1 s0 s1 load
	for load in $loads; do
		local args=(-target "127.0.0.1:$port" -duration "$DURATION" -sockets "$SOCKETS" -label "$name" -json)
		if [ "$load" = closed ]; then
			args+=(-window "$WINDOW")
		else
			args+=(-rate "$load")
		fi
		t0=$(cpu_ticks "$pid")
		c0=$(cpu_line "$SERVER_CPU")
		s0=$(date +%s%N)
		"${PIN_GEN[@]}" bin/ntpload "${args[@]}" >"$TMP/$name-$load-$ROUND.json"
		s1=$(date +%s%N)
		c1=$(cpu_line "$SERVER_CPU")
		t1=$(cpu_ticks "$pid")
		kill -0 "$pid" 2>/dev/null || die "$name died during the $load run"
		# Where the server's CPU went during the run. At saturation the server's own time plus
		# softirq (delivering its replies over loopback) fill the CPU; if "others" is large, someone
		# else's work shared the CPU and the figures understate the server. The server's time includes
		# the softirq work done while it was running, so the shares can add up to more than 100 % and
		# "others" is a lower bound.
		echo "$c0 $c1" | awk -v n="$name" -v l="$load" -v t="$((t1 - t0))" -v hz="$TICKS" -v ns="$((s1 - s0))" '{
			h = NF / 2; busy = 0; total = 0
			for (i = 1; i <= 8; i++) { d = $(i + h) - $i; total += d; if (i != 4 && i != 5) busy += d } # 9, 10: guest, inside user
			srv = t / hz / (ns / 1e9); sirq = ($(7 + h) - $7) / total; idle = ($(4 + h) - $4 + $(5 + h) - $5) / total
			other = busy / total - sirq - srv; if (other < 0) other = 0
			# The note is chosen before printf: among printf arguments awk reads ">" as a redirect.
			note = ""
			if (other > 0.10) note = "  <- DISTORTED: other work shared the server CPU; run again when the machine is quiet"
			printf "  %s, load %s: CPU %s: server %.0f %%, softirq %.0f %%, others %.0f %%, idle %.0f %%%s\n",
				n, l, cpu, 100 * srv, 100 * sirq, 100 * other, 100 * idle, note
		}' cpu="$SERVER_CPU"
	done
}

say "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these CPUs distorts the figures)"

# Rounds alternate the two servers, so that other work on the machine falls on both alike.
for ROUND in $(seq 1 "$REPEAT"); do
	[ "$REPEAT" = 1 ] || say "== round $ROUND of $REPEAT"
	# --- chronyd
	CPORT=$(free_port)
	mkdir -p "$TMP/chrony"
	# chronyd started as root drops to its own user (_chrony on Debian), which must write the drift file.
	if [ "$(id -u)" = 0 ] && id _chrony >/dev/null 2>&1; then
		chown _chrony "$TMP/chrony"
	fi
	cat >"$TMP/chrony/chrony.conf" <<EOF
local stratum 1
allow 127.0.0.0/8
port $CPORT
bindaddress 127.0.0.1
cmdport 0
pidfile $TMP/chrony/chronyd.pid
driftfile $TMP/chrony/drift
EOF
	CHRONY_FLAGS=(-x -d -f "$TMP/chrony/chrony.conf")
	[ "$(id -u)" = 0 ] || CHRONY_FLAGS=(-U "${CHRONY_FLAGS[@]}") # -U: run as an ordinary user
	say "== chronyd on 127.0.0.1:$CPORT ($("$CHRONYD" -v 2>&1 | head -n1 | cut -d' ' -f1-4))"
	"${PIN_SERVER[@]}" "$CHRONYD" "${CHRONY_FLAGS[@]}" >"$TMP/chronyd.log" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	wait_up chronyd "$CPORT" "$CPID" "$TMP/chronyd.log"
	measure chronyd "$CPORT" "$CPID"
	stop "$CPID"

	# --- gpsntpd
	if [ "$HAVE_GPSNTPD" = 1 ]; then
		GPORT=$(free_port)
		HPORT=$(free_port)
		mkdir -p "$TMP/gpsntpd"
		say "== gpsntpd on 127.0.0.1:$GPORT"
		"${PIN_SERVER[@]}" bin/gpsntpd -sim -ntp-listen "127.0.0.1:$GPORT" -http-listen "127.0.0.1:$HPORT" \
			-state-dir "$TMP/gpsntpd" -ntp-sockets 1 -ntp-rate 0 >"$TMP/gpsntpd.log" 2>&1 &
		GPID=$!
		PIDS+=("$GPID")
		wait_up gpsntpd "$GPORT" "$GPID" "$TMP/gpsntpd.log"
		measure gpsntpd "$GPORT" "$GPID"
		stop "$GPID"
	fi

	# --- the floor: gpsntpd's own socket edge answering with the least work a reply needs (no daemon, no
	# policy; cmd/ntpload/floor.go), closed loop only. No server built on these sockets can beat it, so
	# floor/chronyd is the most any such server could reach here, and gpsntpd/floor how close gpsntpd is.
	FPORT=$(free_port)
	say "== floor server on 127.0.0.1:$FPORT"
	"${PIN_SERVER[@]}" bin/ntpload -floor-server "127.0.0.1:$FPORT" -floor-life 5m >"$TMP/floor.log" 2>&1 &
	FPID=$!
	PIDS+=("$FPID")
	wait_up floor "$FPORT" "$FPID" "$TMP/floor.log"
	measure floor "$FPORT" "$FPID" closed
	stop "$FPID"
done

say "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
R=$REPEAT # the detailed comparison is of the last round; the spread over all rounds follows
say "== results (server on CPU $SERVER_CPU, generator on CPU $GEN_CPU, $SOCKETS source ports)"
[ "$REPEAT" = 1 ] || say "   (round $R of $REPEAT; every round's ratio and the median are at the end)"
for load in $(echo "$RATES" | tr ',' ' ') closed; do
	if [ "$HAVE_GPSNTPD" = 1 ]; then
		bin/ntpload -compare "$TMP/gpsntpd-$load-$R.json,$TMP/chronyd-$load-$R.json"
	else
		bin/ntpload -compare "$TMP/chronyd-$load-$R.json"
	fi
	say ""
done
say "-- the floor (closed loop): gpsntpd's socket edge with the least work a reply needs"
bin/ntpload -compare "$TMP/floor-closed-$R.json,$TMP/chronyd-closed-$R.json"
say ""

if [ "$HAVE_GPSNTPD" != 1 ]; then
	die "gpsntpd was not measured: $GPSNTPD_MISSING"
fi

# field FILE NAME prints a number from an ntpload JSON result.
field() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | cut -d: -f2 | tr -d " "; }
# spread LOAD NAME: every round's ratio gpsntpd/chronyd of field NAME at LOAD, then their median, minimum
# and maximum.
spread() {
	local r out=""
	for r in $(seq 1 "$REPEAT"); do
		out="$out $(ratio "$(field "$TMP/gpsntpd-$1-$r.json" "$2" 2>/dev/null || true)" "$(field "$TMP/chronyd-$1-$r.json" "$2" 2>/dev/null || true)")"
	done
	spread_of "$out"
}
if [ "$REPEAT" != 1 ]; then
	say "== spread over $REPEAT rounds, gpsntpd/chronyd"
	for load in $(echo "$RATES" | tr ',' ' ') closed; do
		say "   load $load: answered/s $(spread "$load" answered_per_s)"
		say "   load $load: p99        $(spread "$load" p99_us) (below 1: gpsntpd faster)"
	done
fi
# The floor's spread: what the sockets allow against chronyd, and how much of it gpsntpd reaches.
floor_spread() {
	local r out=""
	for r in $(seq 1 "$REPEAT"); do
		out="$out $(ratio "$(field "$TMP/$1-closed-$r.json" answered_per_s 2>/dev/null || true)" "$(field "$TMP/$2-closed-$r.json" answered_per_s 2>/dev/null || true)")"
	done
	spread_of "$out"
}
say "== closed loop, answered/s against the floor"
say "   floor/chronyd:   $(floor_spread floor chronyd) (the most a server on these sockets reaches here)"
say "   gpsntpd/floor:   $(floor_spread gpsntpd floor)"
