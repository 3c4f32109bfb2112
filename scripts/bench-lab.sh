#!/usr/bin/env bash
# Throughput of fwd in TAP mode (the namespace lab) against the Linux
# kernel routing the same lab, in one run.
#
# Both setups are `fwd lab up -c configs/lab.toml`: LAN hosts behind a
# bridge, an upstream router on a bridge, a server behind it. They differ
# only in who sits between the two bridges:
#
#   fwd     fwd's two TAP devices (IFF_VNET_HDR, offloads), routing,
#           filtering, conntrack and masquerade in fwd
#   kernel  fwd lab up --kernel: a router namespace with two veths, kernel
#           forwarding, and an nftables table doing the filtering,
#           conntrack and masquerade of configs/lab.toml (written by hand
#           below)
#
# Measures from lan-a to the server: TCP with 1 and 4 streams (iperf3);
# with labgen (bench/lab, sendmmsg/recvmmsg, so the sender and receiver
# cost little CPU; iperf3 3.12 sends one datagram per system call and has
# no UDP GSO): UDP with 1472-byte datagrams (Gbit/s of payload received),
# 64-byte datagrams (packets/s received), UDP GSO (UDP_SEGMENT 1400-byte
# segments in 64 KiB writes, received with UDP_GRO; Gbit/s), and short TCP
# connections through masquerade (connect, 64 bytes each way, close with
# SO_LINGER 0; 16 loops over 8 server ports; connections/s). Every sender
# sends as fast as it can. fwd and the kernel alternate ROUNDS times;
# prints a markdown table of medians (and ranges) with the ratio
# fwd/kernel.
#
# Usage: sudo scripts/bench-lab.sh             (about 3 minutes)
#   SECONDS_PER_TEST=5  length of each measurement
#   ROUNDS=2            rounds of fwd then kernel
#   PROFILE=FILE        also write fwd's CPU profile (first round) to FILE
#   OFFLOAD=1           fwd with an offload rule (action = "offload" for
#                       established connections, before the forward chain's
#                       established accept): the flowtable's fast path
# Not part of CI: it needs root, iperf3, and an otherwise quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
T=${SECONDS_PER_TEST:-5}
ROUNDS=${ROUNDS:-2}
PROFILE=${PROFILE:-}
[[ $(id -u) -eq 0 ]] || { echo "bench-lab: needs root (network namespaces)" >&2; exit 1; }
for tool in ip nft iperf3 python3 go; do
  command -v $tool >/dev/null || { echo "bench-lab: needs $tool (scripts/install.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/fwd-bench-lab.XXXXXX)
LAB=""
LABPID=""
stop_lab() {
  if [[ -n $LABPID ]]; then
    kill -TERM "$LABPID" 2>/dev/null || true
    wait "$LABPID" 2>/dev/null || true
    LABPID=""
  fi
  if [[ -n $LAB ]]; then
    "$work/fwd" lab down --name "$LAB" >/dev/null 2>&1 || true
    LAB=""
  fi
}
cleanup() { stop_lab; rm -rf "$work"; }
trap cleanup EXIT

CONFIG=configs/lab.toml
if [[ ${OFFLOAD:-0} == 1 ]]; then
  CONFIG=$work/lab-offload.toml
  python3 - configs/lab.toml "$CONFIG" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
s = open(src).read()
anchor = '[[filter.forward.rule]]\nct_state = ["established", "related"]'
assert anchor in s, "lab.toml: no established,related rule in the forward chain"
rule = '[[filter.forward.rule]]\nct_state = ["established"]\naction = "offload"\n\n'
open(dst, "w").write(s.replace(anchor, rule + anchor, 1))
PY
  echo "== fwd with the offload rule ($CONFIG)"
fi

echo "== building fwd and labgen"
go build -o "$work/fwd" ./cmd/fwd
go build -o "$work/labgen" ./bench/lab

# start_lab NAME ARGS...: fwd lab up in the background until it is up.
start_lab() {
  LAB=$1; shift
  "$work/fwd" lab up -c "$CONFIG" --name "$LAB" --socket "$work/fwd.sock" --log-level warn "$@" > "$work/lab.log" 2>&1 &
  LABPID=$!
  for _ in $(seq 100); do grep -q "^lab $LAB is up" "$work/lab.log" && break; sleep 0.1; done
  grep -q "^lab $LAB is up" "$work/lab.log" || { cat "$work/lab.log"; exit 1; }
  ip netns exec "$LAB-server" iperf3 -s -B 198.51.100.20 > "$work/iperf3-server.log" 2>&1 &
  ip netns exec "$LAB-server" "$work/labgen" tcp-serve -bind 198.51.100.20:9000 -ports 8 2> "$work/tcp-serve.log" &
  sleep 0.3
}

# The kernel's filtering and NAT: configs/lab.toml's rules, by hand.
kernel_rules() {
  cat <<'EOF'
table inet fwdbench_lab {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
    iifname "wan0" tcp dport 8080 dnat ip to 192.168.1.10:80
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr 192.168.1.0/24 masquerade
  }
  chain input { type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" icmp type echo-request accept
  }
  chain forward { type filter hook forward priority filter; policy drop;
    ct state invalid drop
    ct state established,related accept
    iifname "lan0" tcp dport 23 reject with tcp reset
    iifname "lan0" oifname "wan0" accept
    iifname "wan0" oifname "lan0" ip daddr 192.168.1.10 tcp dport 80 ct state new tcp flags & (syn|ack|fin|rst) == syn accept
    iifname "wan0" icmp type { echo-request, destination-unreachable, time-exceeded } accept
    limit rate 10/minute burst 5 packets log prefix "fwd-drop: "
  }
}
EOF
}

# udp NAME KEY RECVFLAGS SENDFLAGS: one labgen UDP measurement; appends
# "NAME KEY_pps P" and "NAME KEY_gbps G".
udp() {
  local name=$1 key=$2 rflags=$3 sflags=$4
  ip netns exec "$LAB-server" "$work/labgen" udp-recv -bind 198.51.100.20:9001 -t "$T" $rflags > "$work/$name-$key.out" 2>/dev/null &
  local rpid=$!
  sleep 0.2
  ip netns exec "$LAB-lan-a" "$work/labgen" udp-send -dst 198.51.100.20:9001 -t "$T" $sflags > /dev/null
  wait $rpid
  # datagrams N bytes B seconds S pps P gbps G
  local pps gbps
  read -r _ _ _ _ _ _ _ pps _ gbps < "$work/$name-$key.out"
  echo "$name ${key}_pps $pps" >> "$work/results"
  echo "$name ${key}_gbps $gbps" >> "$work/results"
}

# measure NAME: runs the clients from lan-a; appends "NAME key value" lines.
measure() {
  local name=$1 A="$LAB-lan-a"
  ip netns exec "$A" ping -c 1 -W 2 198.51.100.20 >/dev/null || { echo "$name: no ping through" >&2; return 1; }
  ip netns exec "$A" iperf3 -c 198.51.100.20 -t "$T" -J > "$work/$name-tcp1.json"
  ip netns exec "$A" iperf3 -c 198.51.100.20 -t "$T" -P 4 -J > "$work/$name-tcp4.json"
  python3 - "$work" "$name" >> "$work/results" <<'EOF'
import json, sys
work, name = sys.argv[1:]
def load(k): return json.load(open(f"{work}/{name}-{k}.json"))["end"]
print(name, "tcp1", f"{load('tcp1')['sum_received']['bits_per_second'] / 1e9:.2f}")
print(name, "tcp4", f"{load('tcp4')['sum_received']['bits_per_second'] / 1e9:.2f}")
EOF
  udp "$name" udp "" "-size 1472"
  udp "$name" udp64 "" "-size 64"
  udp "$name" gso "-gro" "-gso 1400"
  # conns N failed F seconds S cps C
  local cok cfail cps
  read -r _ cok _ cfail _ _ _ cps < <(ip netns exec "$A" "$work/labgen" tcp-conns -dst 198.51.100.20:9000 -ports 8 -workers 16 -linger0 -t "$T")
  echo "$name cps $cps" >> "$work/results"
  echo "$name cps_fail $cfail" >> "$work/results"
  grep "^$name " "$work/results" | tail -10
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round: fwd (TAP, the lab's configuration)"
  prof=()
  [[ -n $PROFILE && $round -eq 1 ]] && prof=(--cpuprofile "$PROFILE")
  start_lab "fwdlab-bench$$-f$round" ${prof[@]+"${prof[@]}"}
  measure fwd
  "$work/fwd" conntrack -C --socket "$work/fwd.sock" 2>/dev/null | sed 's/^/fwd conntrack entries: /' || true
  stop_lab
  if grep -q "level=WARN\|level=ERROR" "$work/lab.log"; then echo "fwd warnings:"; grep "level=WARN\|level=ERROR" "$work/lab.log" | sort | uniq -c | head; fi

  echo "== round $round: kernel (veths, forwarding, nftables with the same rules)"
  start_lab "fwdlab-bench$$-k$round" --kernel
  kernel_rules | ip netns exec "$LAB-router" nft -f -
  measure kernel
  stop_lab
done
if [[ -n $PROFILE ]]; then
  echo; echo "== fwd CPU profile (top)"
  go tool pprof -top -nodecount=30 "$work/fwd" "$PROFILE" 2>/dev/null | head -40
fi

echo
echo "## results ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${T}s each, $(uname -r))"
python3 - "$work/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    n, k, v = line.split()
    runs.setdefault((n, k), []).append(float(v))
r = {key: statistics.median(v) for key, v in runs.items()}
rows = [("tcp1", "TCP, 1 stream, iperf3 (Gbit/s)"), ("tcp4", "TCP, 4 streams, iperf3 (Gbit/s)"),
        ("udp_gbps", "UDP 1472 B, received (Gbit/s)"), ("udp64_pps", "UDP 64 B, received (packets/s)"),
        ("gso_gbps", "UDP GSO 1400 B segments, received with GRO (Gbit/s)"),
        ("cps", "short TCP connections through NAT (/s)")]
print(f"median of {len(runs[('fwd', 'tcp1')])} rounds (range)\n")
print("| measurement | fwd (TAP) | kernel | fwd/kernel |")
print("|---|---:|---:|---:|")
for k, label in rows:
    f, kn = r[("fwd", k)], r[("kernel", k)]
    fmt = (lambda x: f"{x:,.0f}".replace(",", " ")) if k.endswith("pps") or k == "cps" else (lambda x: f"{x:.2f}")
    rng = lambda n: f" ({fmt(min(runs[(n, k)]))}–{fmt(max(runs[(n, k)]))})" if len(runs[(n, k)]) > 1 else ""
    print(f"| {label} | {fmt(f)}{rng('fwd')} | {fmt(kn)}{rng('kernel')} | {f/kn:.2f} |")
print(f"\nfailed connections (median): fwd {r[('fwd','cps_fail')]:.0f}, kernel {r[('kernel','cps_fail')]:.0f}")
EOF
