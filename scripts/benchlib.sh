# benchlib.sh: helpers shared by bench.sh and bench-nts.sh. Source it after setting BENCH_NAME; it makes a
# temporary directory ($TMP), kills every process recorded in PIDS on exit, and finds free loopback ports.
# Nothing here touches the clock or anything beyond this host.

say() { printf '%s\n' "$*"; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gpsntp-$BENCH_NAME.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a port in 20000-39999 that nothing on this host has bound, TCP or UDP.
free_port() {
	local p hex
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		hex=$(printf ':%04X ' "$p")
		if ! grep -q -- "$hex" /proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# cpu_line N prints CPU N's counters from /proc/stat (user nice system idle iowait irq softirq steal ...).
cpu_line() { awk -v c="cpu$1" '$1 == c { $1 = ""; print }' /proc/stat; }

# stop ends one process started by the script.
stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# find_tools checks what both benchmarks run and sets CHRONYD.
find_tools() {
	command -v go >/dev/null || die "go not found on PATH"
	CHRONYD=$(command -v chronyd || true)
	[ -z "$CHRONYD" ] && [ -x /usr/sbin/chronyd ] && CHRONYD=/usr/sbin/chronyd
	[ -n "$CHRONYD" ] || die "chronyd not found: install the Debian package chrony (make deps)"
	command -v taskset >/dev/null || die "taskset not found: install the Debian package util-linux"
}

# pin_cpus sets PIN_SERVER and PIN_GEN: server and generator on different CPUs (SERVER_CPU, GEN_CPU), the
# same for both servers; unpinned, with a warning, where the machine cannot do that.
pin_cpus() {
	PIN_SERVER=(taskset -c "$SERVER_CPU")
	PIN_GEN=(taskset -c "$GEN_CPU")
	if [ "$(nproc)" -lt 2 ] || ! taskset -c "$SERVER_CPU" true 2>/dev/null || ! taskset -c "$GEN_CPU" true 2>/dev/null; then
		say "$BENCH_NAME: warning: cannot pin to CPUs $SERVER_CPU and $GEN_CPU here; running unpinned (figures are not comparable with pinned runs)"
		PIN_SERVER=()
		PIN_GEN=()
	fi
}

# ratio A B prints A/B with two decimals, or n/a unless both are positive numbers.
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# spread_of "R1 R2 ...": the median, minimum and maximum of the rounds' ratios (n/a entries skipped), then
# every round's ratio.
spread_of() {
	echo "$1" | tr ' ' '\n' | grep -E '^[0-9]' | sort -n | awk -v all="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "median %.2f (min %.2f, max %.2f; rounds%s)\n", m, v[1], v[NR], all }'
}
