#!/usr/bin/env bash
# fwd's main job on a fresh machine: install what it needs, build it, and
# replay the lab capture through the lab configuration, showing each stage's
# decision, the final connection table and the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
go build -o fwd ./cmd/fwd
./fwd check -c configs/lab.toml
echo
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ct=()
./fwd help replay | grep -q -- --ct-dump && ct=(--ct-dump "$out/conntrack.txt")
./fwd replay -c configs/lab.toml -r configs/lab-sample.pcap -w "$out/out.pcapng" --trace --stats "${ct[@]}"
if [ -s "$out/conntrack.txt" ]; then
  echo; echo "# connection table at the end of the capture (conntrack -L format)"
  cat "$out/conntrack.txt"
fi
