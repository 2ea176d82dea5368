#!/usr/bin/env bash
# `make vm`: build the QEMU variant of the image (kernel.arm64, receiver on a virtio console port) and boot
# it in qemu-system-aarch64 under TCG, with the simulator's NMEA (gpsntpctl feed) as the receiver.
# Ports on 127.0.0.1: gokrazy UI 18080, gpsntpd status 18081, gpsntp-ota 18082, NTP udp 11123. Quit QEMU with Ctrl-A X.
# PASSWORD_FILE=F uses F's password for gokrazy's UI; otherwise one is generated and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out bin
go build -o bin/ ./cmd/gpsntpctl ./cmd/gpsntp-image
link=out/vm-nmea
rm -f "$link"
bin/gpsntpctl feed -pty -link "$link" >out/vm-feed.log 2>&1 &
feed=$!
trap 'kill "$feed" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
[ -e "$link" ] || { echo "vm.sh: gpsntpctl feed made no pseudo-terminal; see out/vm-feed.log" >&2; exit 1; }
pw=()
if [ -n "${PASSWORD_FILE:-}" ]; then pw=(-password-file "$PASSWORD_FILE"); fi
bin/gpsntp-image -board qemu -hat virtio -size 1258299392 -o out/gpsntp-vm.img "${pw[@]}" \
  -vm -vm-nmea-tty "$(readlink -f "$link")" "$@"
