#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: the real peers (chrony, NTPsec's ntpdig), the
# namespace tools, Go modules and staticcheck. Idempotent; CI calls it through `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(chrony ntpsec-ntpdig iproute2 util-linux procps chromium prometheus squashfs-tools dosfstools mtools e2fsprogs fdisk qemu-system-arm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # Installing chrony must not start a daemon that would discipline the host clock.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $sudo rm -f /usr/sbin/policy-rc.d
fi
# NTPsec's ntpd is an NTS client for the interop tests. It conflicts with chrony as a Debian package, so it
# is unpacked into /opt/ntpsec instead of installed; the tests look for /opt/ntpsec/usr/sbin/ntpd.
if ! [ -x /opt/ntpsec/usr/sbin/ntpd ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download ntpsec >/dev/null 2>&1 || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get update -qq && apt-get download ntpsec; })
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo mkdir -p /opt/ntpsec
  $sudo dpkg-deb -x "$tmp"/ntpsec_*.deb /opt/ntpsec
  rm -rf "$tmp"
fi
go mod download
sc="$(go env GOPATH)/bin/staticcheck"
if ! [ -x "$sc" ]; then
  (cd /tmp && GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)
fi
echo "deps: ok"
