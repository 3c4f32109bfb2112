#!/usr/bin/env bash
# Runs the benchmark suite and rewrites the generated part of BENCHMARKS.md:
# the whole-pipeline numbers (bench/) and each stage's own, with the
# machine, the date, the commit, and the previous run's numbers beside them.
# Usage: scripts/bench.sh [-benchtime 1s]
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${BENCHTIME:-1s}
mkdir -p bench/results
[ -f bench/results/latest.txt ] && cp bench/results/latest.txt bench/results/previous.txt
go test -run '^$' -bench . -benchtime "$bt" -benchmem \
  ./bench ./pipeline ./packet ./header ./conntrack ./rules ./nat ./ipfrag ./icmperr ./router \
  > bench/results/latest.txt 2>&1 || { cat bench/results/latest.txt; exit 1; }
go run ./bench/report -latest bench/results/latest.txt -previous bench/results/previous.txt \
  -commit "$(git rev-parse --short HEAD)" -machine "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3)" \
  -in BENCHMARKS.md -out BENCHMARKS.md
echo "BENCHMARKS.md updated"
