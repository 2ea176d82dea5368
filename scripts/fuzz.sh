#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each (default 10s): the targets are found, not
# listed, so a new parser's fuzz target runs in CI the day it lands.
#
# A failure that records a crashing input (a new file under the package's testdata/fuzz) is a finding and
# fails at once, with the full output. A failure that records none is the fuzzing engine's own: Go 1.26's
# coordinator can report "context deadline exceeded" at the -fuzztime boundary without any finding
# (golang/go#75804, fixed in Go 1.27). Such a target is run again, up to twice, and fails if it keeps failing.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
n=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

corpus_state() { find "$1/testdata/fuzz" -type f 2>/dev/null | sort; }

run_target() { # pkg target dir
  local before after
  before=$(corpus_state "$3")
  if go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" >"$out" 2>&1; then
    tail -n 2 "$out"
    return 0
  fi
  after=$(corpus_state "$3")
  cat "$out"
  if [ "$before" != "$after" ]; then
    echo "fuzz: $1 $2 found a failing input (saved under $3/testdata/fuzz)"
    return 1
  fi
  return 2
}

for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  [ -n "$targets" ] || continue
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for t in $targets; do
    echo "fuzz $pkg $t ($fuzztime)"
    rc=0
    run_target "$pkg" "$t" "$dir" || rc=$?
    for retry in 1 2; do
      [ "$rc" -eq 2 ] || break
      echo "fuzz: $pkg $t failed without recording an input (retry $retry of 2)"
      rc=0
      run_target "$pkg" "$t" "$dir" || rc=$?
    done
    if [ "$rc" -ne 0 ]; then
      echo "fuzz: $pkg $t failed"
      exit 1
    fi
    n=$((n+1))
  done
done
echo "fuzz: $n targets ran"
[ "$n" -gt 0 ]
