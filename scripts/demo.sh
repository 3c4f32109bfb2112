#!/usr/bin/env bash
# fwd's main job on a fresh machine: install what it needs, build it, and
# run it. As root: the namespace lab (fwd lab run): real LAN hosts, an
# upstream router and a server in network namespaces, fwd routing,
# filtering and NATing between them; a ping, curl, traceroute, the port
# forward and a rejected telnet go through it, then its connection table
# is shown and everything is taken down. Without root: the lab capture is
# replayed through the lab configuration instead, showing each stage's
# decision, the final connection table and the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
go build -o fwd ./cmd/fwd
./fwd check -c configs/lab.toml
echo
if [[ $(id -u) -eq 0 ]]; then
  # A socket of its own, so a fwd already running elsewhere does not clash.
  ./fwd lab run -c configs/lab.toml --socket "${TMPDIR:-/tmp}/fwd-lab-$$.sock"
  exit
fi
echo "# not root: replaying the lab capture instead of running the namespace lab"
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
