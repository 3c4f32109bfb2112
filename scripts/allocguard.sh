#!/usr/bin/env bash
# Fails when a hot-path benchmark allocates. Allocation counts are stable on
# a noisy machine, so they are gated; times are only printed.
# The benchmarks gated are those whose name matches GATE below.
set -euo pipefail
cd "$(dirname "$0")/.."
GATE='Benchmark(Decode|Runner|Established|Translate|Chain|Gateway|Reassemble)'
# Every benchmark once, so one that no longer runs (scripts/bench.sh
# needs them all) fails here rather than in the next measurement.
out=$(go test -short -run '^$' -bench . -benchtime 1x ./... 2>&1) || { echo "$out" | grep -Ev '^ok|no test files'; exit 1; }
out=$(go test -short -run '^$' -bench "$GATE" -benchtime 2000x -benchmem ./... 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E '^(Benchmark|ok|FAIL)' || true
bad=$(echo "$out" | awk '/^Benchmark/ && / allocs\/op/ { for (i=1;i<=NF;i++) if ($(i+1)=="allocs/op" && $i+0 > 0) print $1, $i, "allocs/op" }')
if [ -n "$bad" ]; then
  echo "allocguard: hot-path benchmarks allocate:"; echo "$bad"; exit 1
fi
echo "allocguard: hot-path benchmarks allocate nothing"
