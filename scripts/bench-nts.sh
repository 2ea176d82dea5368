#!/usr/bin/env bash
# bench-nts.sh — NTS throughput: NTS-authenticated NTP requests/s and NTS-KE handshakes/s, against
# chronyd's NTS server and against gpsntpd in the same run, plus both servers' plain NTP through the same
# generator for the ratio, and the generator's own ceiling. Each server is pinned to one CPU
# (BENCH_SERVER_CPU) and the generator (bin/ntsload, loopback only, bounded) to another (BENCH_GEN_CPU),
# the same pinning as scripts/bench.sh.
#
# The generator runs one NTS-KE per worker, then keeps BENCH_WINDOW requests outstanding per worker with
# sendmmsg/recvmmsg (UDP GSO for the sends, as bench.sh's generator does, so that the generator's CPU is
# not the limit), spending one cookie per request and keeping the fresh cookie of each authenticated
# reply; a reply counts only when its authenticator verifies. Targets (issue 6): gpsntpd NTS >= 2x
# chronyd NTS, and >= 0.6x gpsntpd plain NTP. The NTS-KE load offers only an X25519 key share (as
# OpenSSL clients such as NTPsec's do), so both servers do the same key exchange: a Go client's default
# offer adds a post-quantum hybrid, which gpsntpd honours and chronyd 4.3 (GnuTLS 3.7) cannot.
#
# A third server, the floor (bin/ntpload -floor-server: plain NTP through gpsntpd's socket edge with the
# least work a reply needs), takes the plain load too: an NTS server does all of its work and more, so
# floor/chronyd-NTS is the most any NTS server on these sockets could reach against chronyd here.
#
# chronyd runs with -x (never touches the clock) as a stratum-1 NTS server on 127.0.0.1 with a throwaway
# self-signed certificate; gpsntpd runs -sim with its own. Nothing listens beyond loopback; everything
# started is killed on exit. The whole run takes about 40 s with the defaults.
#
# Environment (defaults): BENCH_DURATION (5s per NTP load), BENCH_KE_DURATION (3s), BENCH_WORKERS (4),
# BENCH_WINDOW (64 per worker), BENCH_KE_CONNS (4), BENCH_AEAD (15: the one chrony 4.3 serves),
# BENCH_SERVER_CPU (0), BENCH_GEN_CPU (1), BENCH_REPEAT (1: rounds of chronyd then gpsntpd; with more,
# the summary gives every round's ratio and their median, which a busy shared machine needs: other work
# on the CPUs moves single figures by tens of percent).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_NAME=bench-nts
# shellcheck source=benchlib.sh
. scripts/benchlib.sh

DURATION=${BENCH_DURATION:-5s}
KE_DURATION=${BENCH_KE_DURATION:-3s}
WORKERS=${BENCH_WORKERS:-4}
WINDOW=${BENCH_WINDOW:-64}
KE_CONNS=${BENCH_KE_CONNS:-4}
AEAD=${BENCH_AEAD:-15}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
REPEAT=${BENCH_REPEAT:-1}
case "$REPEAT" in
[1-9] | 10) ;;
*) die "BENCH_REPEAT=$REPEAT: use 1 to 10" ;;
esac

for d in "$DURATION" "$KE_DURATION"; do
	case "$d" in
	[1-9]s | 1[0-5]s) ;;
	*) die "duration $d: use whole seconds from 1s to 15s, so the run stays well under two minutes" ;;
	esac
done
find_tools

pin_cpus

say "== build"
mkdir -p bin
go build -o bin/ntsload ./cmd/ntsload
go build -o bin/gpsntpd ./cmd/gpsntpd
go build -o bin/ntpload ./cmd/ntpload

# tree_ticks PID prints the user+system CPU time, in clock ticks, of PID and its direct children
# (chronyd serves NTS-KE from a helper process it forks).
tree_ticks() {
	local p t=0 v
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
TICKS=$(getconf CLK_TCK)

# wait_ke NAME PORT PID LOG: wait until NTS-KE accepts TCP connections.
wait_ke() {
	local name=$1 port=$2 pid=$3 log=$4
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	say "--- last lines of $name's output:"
	tail -n 20 "$log" || true
	die "$name's NTS-KE did not listen on 127.0.0.1:$port"
}

# per_second FILE prints the rate in an ntsload JSON result.
per_second() { grep -o '"per_second":[0-9.e+-]*' "$1" | cut -d: -f2; }

# run_load NAME KIND PID ARGS...: one ntsload run, its JSON kept, and where the server CPU's time went.
run_load() {
	local name=$1 kind=$2 pid=$3
	shift 3
	local c0 c1 t0 t1 s0 s1
	t0=$(tree_ticks "$pid")
	c0=$(cpu_line "$SERVER_CPU")
	s0=$(date +%s%N)
	"${PIN_GEN[@]}" bin/ntsload -label "$name" -json "$@" >"$TMP/$name-$kind-$ROUND.json"
	s1=$(date +%s%N)
	c1=$(cpu_line "$SERVER_CPU")
	t1=$(tree_ticks "$pid")
	kill -0 "$pid" 2>/dev/null || die "$name died during the $kind run"
	bin/ntsload -compare "$TMP/$name-$kind-$ROUND.json" | sed 's/^/  /'
	# At saturation the server's own time plus softirq (delivering its replies over loopback) fill its
	# CPU; a large "others" means someone else's work shared the CPU and the figures understate the server.
	local rate
	rate=$(per_second "$TMP/$name-$kind-$ROUND.json")
	echo "$c0 $c1" | awk -v t="$((t1 - t0))" -v hz="$TICKS" -v ns="$((s1 - s0))" -v cpu="$SERVER_CPU" -v rate="$rate" -v eff="$TMP/$name-$kind-$ROUND.eff" '{
		h = NF / 2; busy = 0; total = 0
		for (i = 1; i <= 8; i++) { d = $(i + h) - $i; total += d; if (i != 4 && i != 5) busy += d }
		srv = t / hz / (ns / 1e9); sirq = ($(7 + h) - $7) / total; idle = ($(4 + h) - $4 + $(5 + h) - $5) / total
		other = busy / total - sirq - srv; if (other < 0) other = 0
		# Comparisons stay out of the printf arguments: there awk reads ">" as output redirection.
		note = ""
		if (other > 0.10) note = "  <- DISTORTED: other work shared the server CPU"
		else if (idle > 0.10) note = "  <- server not saturated: the generator is the limit"
		printf "    CPU %s: server %.0f %%, softirq %.0f %%, others %.0f %%, idle %.0f %%%s\n", cpu, 100 * srv, 100 * sirq, 100 * other, 100 * idle, note
		# Work per second of CPU time used by the server processes: steadier than the rate when other
		# work shares the CPU (it leaves out the softirq time spent delivering packets).
		if (srv > 0) { printf "    %.0f per server CPU-second\n", rate / srv; printf "%.0f\n", rate / srv > eff }
	}'
}

measure() {
	local name=$1 ke=$2 ntp=$3 ca=$4 pid=$5
	# A lost request holds its window slot until -timeout: short on loopback, so that a server that drops
	# some requests (chronyd's socket buffer overflows at saturation) is not also starved of load.
	run_load "$name" nts "$pid" -target "127.0.0.1:$ke" -ca "$ca" -aead "$AEAD" -workers "$WORKERS" -window "$WINDOW" -duration "$DURATION" -timeout 50ms
	run_load "$name" plain "$pid" -plain -target "127.0.0.1:$ntp" -workers "$WORKERS" -window "$WINDOW" -duration "$DURATION" -timeout 50ms
	run_load "$name" ke "$pid" -ke -ke-groups x25519 -target "127.0.0.1:$ke" -ca "$ca" -aead "$AEAD" -conns "$KE_CONNS" -duration "$KE_DURATION"
}

say "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these CPUs distorts the figures)"

say "== generator ceiling (CPU $GEN_CPU, no I/O: build a request and verify a reply)"
"${PIN_GEN[@]}" bin/ntsload -self -aead "$AEAD" -duration 2s -label generator -json >"$TMP/generator-self.json"
bin/ntsload -compare "$TMP/generator-self.json" | sed 's/^/    /'

# --- chronyd as an NTS server
mkdir -p "$TMP/chrony"
read -r CCERT CKEY < <(bin/ntsload -make-cert "$TMP/chrony")
# chronyd started as root drops to its own user (_chrony on Debian), which must read the key.
if [ "$(id -u)" = 0 ] && id _chrony >/dev/null 2>&1; then
	chown -R _chrony "$TMP/chrony"
fi
chmod 755 "$TMP"
mkdir -p "$TMP/gpsntpd"
CHRONY_FLAGS=(-x -d -f "$TMP/chrony/chrony.conf")
[ "$(id -u)" = 0 ] || CHRONY_FLAGS=(-U "${CHRONY_FLAGS[@]}")

# Rounds alternate the two servers, so that other work on the machine falls on both alike.
for ROUND in $(seq 1 "$REPEAT"); do
	[ "$REPEAT" = 1 ] || say "== round $ROUND of $REPEAT"

	# --- chronyd as an NTS server
	CKE=$(free_port)
	CNTP=$(free_port)
	cat >"$TMP/chrony/chrony.conf" <<EOF
local stratum 1
allow 127.0.0.0/8
port $CNTP
ntsport $CKE
ntsserverkey $CKEY
ntsservercert $CCERT
bindaddress 127.0.0.1
cmdport 0
pidfile $TMP/chrony/chronyd.pid
driftfile $TMP/chrony/drift
EOF
	say "== chronyd: NTS-KE 127.0.0.1:$CKE, NTP 127.0.0.1:$CNTP ($("$CHRONYD" -v 2>&1 | head -n1 | cut -d' ' -f1-4))"
	"${PIN_SERVER[@]}" "$CHRONYD" "${CHRONY_FLAGS[@]}" >"$TMP/chronyd.log" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	wait_ke chronyd "$CKE" "$CPID" "$TMP/chronyd.log"
	measure chronyd "$CKE" "$CNTP" "$CCERT" "$CPID"
	stop "$CPID"

	# --- gpsntpd
	GKE=$(free_port)
	GNTP=$(free_port)
	GHTTP=$(free_port)
	say "== gpsntpd: NTS-KE 127.0.0.1:$GKE, NTP 127.0.0.1:$GNTP"
	# No NTP rate limit and a KE rate limit out of the way: the bench measures capacity, not policy.
	"${PIN_SERVER[@]}" bin/gpsntpd -sim -ntp-listen "127.0.0.1:$GNTP" -http-listen "127.0.0.1:$GHTTP" \
		-nts-ke-listen "127.0.0.1:$GKE" -state-dir "$TMP/gpsntpd" -ntp-sockets 1 -ntp-rate 0 \
		-nts-ke-rate 1000000 -nts-ke-burst 1000000 -nts-ke-max-conns-per-client 64 >"$TMP/gpsntpd.log" 2>&1 &
	GPID=$!
	PIDS+=("$GPID")
	wait_ke gpsntpd "$GKE" "$GPID" "$TMP/gpsntpd.log"
	measure gpsntpd "$GKE" "$GNTP" "$TMP/gpsntpd/nts-cert.pem" "$GPID"
	stop "$GPID"

	# --- the floor: plain NTP through gpsntpd's socket edge with the least work a reply needs
	# (bin/ntpload -floor-server, see scripts/bench.sh). An NTS server does all of that and more, so
	# floor/chronyd-NTS bounds what any NTS server on these sockets could reach against chronyd here.
	FNTP=$(free_port)
	say "== floor server on 127.0.0.1:$FNTP"
	"${PIN_SERVER[@]}" bin/ntpload -floor-server "127.0.0.1:$FNTP" -floor-life 5m >"$TMP/floor.log" 2>&1 &
	FPID=$!
	PIDS+=("$FPID")
	"${PIN_GEN[@]}" bin/ntpload -target "127.0.0.1:$FNTP" -probe 15s >/dev/null || die "the floor server did not answer"
	run_load floor plain "$FPID" -plain -target "127.0.0.1:$FNTP" -workers "$WORKERS" -window "$WINDOW" -duration "$DURATION" -timeout 50ms
	stop "$FPID"
done

say "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
R=$REPEAT # the detailed comparison is of the last round; the spread over all rounds follows
say "== results (server on CPU $SERVER_CPU, generator on CPU $GEN_CPU, $WORKERS workers x $WINDOW outstanding, AEAD $AEAD)"
[ "$REPEAT" = 1 ] || say "   (round $R of $REPEAT; every round's ratio and the median are at the end)"
say "-- NTS requests/s, gpsntpd vs chronyd (target >= 2):"
bin/ntsload -compare "$TMP/gpsntpd-nts-$R.json,$TMP/chronyd-nts-$R.json"
say "-- gpsntpd NTS vs gpsntpd plain NTP (target >= 0.6):"
bin/ntsload -compare "$TMP/gpsntpd-nts-$R.json,$TMP/gpsntpd-plain-$R.json"
say "-- plain NTP, gpsntpd vs chronyd (same generator):"
bin/ntsload -compare "$TMP/gpsntpd-plain-$R.json,$TMP/chronyd-plain-$R.json"
say "-- NTS-KE handshakes/s, gpsntpd vs chronyd:"
bin/ntsload -compare "$TMP/gpsntpd-ke-$R.json,$TMP/chronyd-ke-$R.json"
# eff_ratio A B: the ratio of two per-server-CPU-second figures.
eff_ratio() { awk -v a="$(cat "$TMP/$1-$R.eff" 2>/dev/null)" -v b="$(cat "$TMP/$2-$R.eff" 2>/dev/null)" 'BEGIN { if (a > 0 && b > 0) printf "%.2f (%s / %s)", a / b, a, b; else printf "n/a" }'; }
say "-- the same ratios per server CPU-second (less sensitive to other work on the server CPU):"
say "   NTS gpsntpd/chronyd:        $(eff_ratio gpsntpd-nts chronyd-nts)"
say "   gpsntpd NTS/plain:          $(eff_ratio gpsntpd-nts gpsntpd-plain)"
say "   plain gpsntpd/chronyd:      $(eff_ratio gpsntpd-plain chronyd-plain)"
say "   NTS-KE gpsntpd/chronyd:     $(eff_ratio gpsntpd-ke chronyd-ke)"
say "-- the floor (plain NTP, the least work a reply needs, through gpsntpd's socket edge):"
bin/ntsload -compare "$TMP/floor-plain-$R.json,$TMP/chronyd-nts-$R.json"
say "   floor/chronyd NTS, per server CPU-second: $(eff_ratio floor-plain chronyd-nts) (no NTS server on these sockets can exceed it)"

# spread A B EXT: every round's ratio A/B (EXT json: answered/s; eff: per server CPU-second), then their
# median, minimum and maximum.
spread() {
	local a b r out=""
	for r in $(seq 1 "$REPEAT"); do
		if [ "$3" = json ]; then
			a=$(per_second "$TMP/$1-$r.json" 2>/dev/null || true)
			b=$(per_second "$TMP/$2-$r.json" 2>/dev/null || true)
		else
			a=$(cat "$TMP/$1-$r.eff" 2>/dev/null || true)
			b=$(cat "$TMP/$2-$r.eff" 2>/dev/null || true)
		fi
		out="$out $(ratio "$a" "$b")"
	done
	spread_of "$out"
}
if [ "$REPEAT" != 1 ]; then
	say "== spread over $REPEAT rounds; first answered/s, then per server CPU-second"
	say "   NTS gpsntpd/chronyd (target >= 2):      $(spread gpsntpd-nts chronyd-nts json)"
	say "                                           $(spread gpsntpd-nts chronyd-nts eff)"
	say "   gpsntpd NTS/plain (target >= 0.6):      $(spread gpsntpd-nts gpsntpd-plain json)"
	say "                                           $(spread gpsntpd-nts gpsntpd-plain eff)"
	say "   plain gpsntpd/chronyd (same generator): $(spread gpsntpd-plain chronyd-plain json)"
	say "                                           $(spread gpsntpd-plain chronyd-plain eff)"
	say "   NTS-KE gpsntpd/chronyd:                 $(spread gpsntpd-ke chronyd-ke json)"
	say "                                           $(spread gpsntpd-ke chronyd-ke eff)"
	say "   floor plain/chronyd NTS (the bound):    $(spread floor-plain chronyd-nts json)"
	say "                                           $(spread floor-plain chronyd-nts eff)"
	say "   gpsntpd plain/floor:                    $(spread gpsntpd-plain floor-plain json)"
fi
