#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each (default 10s): the targets are found, not
# listed, so a new parser's fuzz target runs in CI the day it lands.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
n=0
for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for t in $targets; do
    echo "fuzz $pkg $t ($fuzztime)"
    go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -n 3
    n=$((n+1))
  done
done
echo "fuzz: $n targets ran"
[ "$n" -gt 0 ]
