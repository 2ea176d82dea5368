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
