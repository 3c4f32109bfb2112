#!/usr/bin/env bash
# Throughput of fwd's NFQUEUE mode against the kernel alone, in one run.
#
# Topology (as e2e/nfqueue): a LAN namespace, a router namespace with
# kernel forwarding (lan0 192.168.1.1, wan0 203.0.113.2) and an internet
# namespace (203.0.113.1, server 198.51.100.20). Two setups of the router,
# measured one after the other with the same clients:
#
#   fwd     fwd run -c configs/nfqueue.toml (NFQUEUE, GSO, queues 0-1):
#           filtering, conntrack and masquerade in fwd
#   kernel  no fwd; an nftables table doing the same filtering, conntrack
#           and masquerade (the rules of configs/nfqueue.toml, by hand)
#
# Measures: iperf3 TCP LAN -> server (1 stream and 4 streams; upload: fwd
# leaves it unchanged at PREROUTING and translates it at POSTROUTING),
# server -> LAN (1 stream, iperf3 -R; download: fwd translates it at
# PREROUTING and has nothing to do at POSTROUTING), iperf3 UDP
# with 64-byte datagrams (packets/s received: the per-packet cost), and a
# short-connection rate (connect, 64-byte request, 64-byte answer, close,
# by a small Go client with 8 workers). Prints a markdown table with the
# ratio fwd/kernel.
#
# Usage: sudo scripts/bench-nfqueue.sh            (about 2 minutes)
#   SECONDS_PER_TEST=5  length of each measurement
#   ROUNDS=3            fwd and kernel alternate this many times; the
#                       table shows the median and the range
#   PROFILE=FILE        also write fwd's CPU profile (the whole fwd run) to
#                       FILE and print its top functions
# Not part of CI: it needs root, iperf3, and an otherwise quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
T=${SECONDS_PER_TEST:-5}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-}
[[ $(id -u) -eq 0 ]] || { echo "bench-nfqueue: needs root (network namespaces)" >&2; exit 1; }
for tool in ip nft iperf3 python3 go; do
  command -v $tool >/dev/null || { echo "bench-nfqueue: needs $tool (scripts/install.sh)" >&2; exit 1; }
done

R=fwdbench-r$$ L=fwdbench-l$$ I=fwdbench-i$$
work=$(mktemp -d /tmp/fwd-bench-nfq.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in $R $L $I; do ip netns del $n 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building fwd and the connection client"
go build -o "$work/fwd" ./cmd/fwd
mkdir -p "$work/connbench"
cat > "$work/connbench/go.mod" <<'EOF'
module connbench

go 1.22
EOF
cat > "$work/connbench/main.go" <<'EOF'
// connbench: "server ADDR" answers each connection's 64-byte request with
// 64 bytes and waits for the client to close (so TIME_WAIT stays on the
// client); "client ADDR SECONDS WORKERS LOCALADDR" makes connections
// from LOCALADDR in a loop and prints the rate.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	switch os.Args[1] {
	case "server":
		ln, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			panic(err)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				continue
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(buf)
				io.Copy(io.Discard, c)
			}()
		}
	case "client":
		secs, _ := strconv.Atoi(os.Args[3])
		workers, _ := strconv.Atoi(os.Args[4])
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(os.Args[5])}}
		var ok, fail atomic.Int64
		end := time.Now().Add(time.Duration(secs) * time.Second)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, resp := make([]byte, 64), make([]byte, 64)
				for time.Now().Before(end) {
					c, err := d.Dial("tcp", os.Args[2])
					if err != nil {
						fail.Add(1)
						continue
					}
					c.SetDeadline(time.Now().Add(2 * time.Second))
					_, err = c.Write(req)
					if err == nil {
						_, err = io.ReadFull(c, resp)
					}
					c.Close()
					if err != nil {
						fail.Add(1)
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		start := time.Now()
		wg.Wait()
		el := time.Since(start).Seconds()
		fmt.Printf("%.0f %d %d\n", float64(ok.Load())/el, ok.Load(), fail.Load())
	}
}
EOF
(cd "$work/connbench" && GOFLAGS= go build -o "$work/cb" .)

echo "== topology"
ip netns add $R; ip netns add $L; ip netns add $I
ip -n $R link add lan0 type veth peer name eth0 netns $L
ip -n $R link add wan0 type veth peer name eth0 netns $I
ip -n $R addr add 192.168.1.1/24 dev lan0
ip -n $R addr add 203.0.113.2/24 dev wan0
for d in lo lan0 wan0; do ip -n $R link set $d up; done
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip -n $R route add default via 203.0.113.1
ip -n $L addr add 192.168.1.10/24 dev eth0
ip -n $L link set lo up; ip -n $L link set eth0 up
ip -n $L route add default via 192.168.1.1
ip netns exec $L sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip -n $I addr add 203.0.113.1/24 dev eth0
ip -n $I addr add 198.51.100.20/32 dev lo
ip -n $I link set lo up; ip -n $I link set eth0 up

ip netns exec $I iperf3 -s -B 198.51.100.20 > "$work/iperf3-server.log" 2>&1 & pids+=($!)
ip netns exec $I "$work/cb" server 198.51.100.20:9000 & pids+=($!)
sleep 0.5

# The kernel setup: the same policy as configs/nfqueue.toml.
kernel_rules() {
  cat <<'EOF'
table inet fwdbench_kernel {
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

client_ip=100
# measure NAME: runs every client and appends "NAME key value" lines.
measure() {
  local name=$1
  ip netns exec $L ping -c 1 -W 2 198.51.100.20 >/dev/null || { echo "$name: no ping through" >&2; return 1; }
  ip netns exec $L iperf3 -c 198.51.100.20 -t "$T" -J > "$work/$name-tcp1.json"
  ip netns exec $L iperf3 -c 198.51.100.20 -t "$T" -R -J > "$work/$name-tcp1r.json"
  ip netns exec $L iperf3 -c 198.51.100.20 -t "$T" -P 4 -J > "$work/$name-tcp4.json"
  ip netns exec $L iperf3 -c 198.51.100.20 -t "$T" -u -b 0 -l 64 -J > "$work/$name-udp.json"
  # Each run from a fresh LAN address: the TIME_WAIT ports of the run
  # before would slow the next one's connect(2).
  client_ip=$((client_ip + 1))
  ip -n $L addr add 192.168.1.$client_ip/24 dev eth0
  read -r cps cok cfail < <(ip netns exec $L "$work/cb" client 198.51.100.20:9000 "$T" 8 192.168.1.$client_ip)
  python3 - "$work" "$name" "$cps" "$cfail" >> "$work/results" <<'EOF'
import json, sys
work, name, cps, cfail = sys.argv[1:]
def load(k): return json.load(open(f"{work}/{name}-{k}.json"))["end"]
tcp1 = load("tcp1")["sum_received"]["bits_per_second"] / 1e9
tcp1r = load("tcp1r")["sum_received"]["bits_per_second"] / 1e9
tcp4 = load("tcp4")["sum_received"]["bits_per_second"] / 1e9
udp = load("udp")["sum"]
# iperf3 3.12 puts the receiver's view in "sum" of the client's JSON
pps = (udp["packets"] - udp["lost_packets"]) / udp["seconds"]
print(name, "tcp1", f"{tcp1:.2f}")
print(name, "tcp1r", f"{tcp1r:.2f}")
print(name, "tcp4", f"{tcp4:.2f}")
print(name, "udp_pps", f"{pps:.0f}")
print(name, "udp_lost", f"{udp['lost_percent']:.1f}")
print(name, "cps", cps)
print(name, "cps_fail", cfail)
EOF
  grep "^$name " "$work/results" | tail -7
}

for round in $(seq "$ROUNDS"); do
  echo "== round $round: fwd in NFQUEUE mode (queues 0-1, GSO)"
  prof=()
  [[ -n $PROFILE && $round -eq 1 ]] && prof=(--cpuprofile "$PROFILE")
  ip netns exec $R "$work/fwd" run -c configs/nfqueue.toml --socket "$work/fwd.sock" ${prof[@]+"${prof[@]}"} > "$work/fwd.log" 2>&1 &
  FWD=$!; pids+=($FWD)
  for _ in $(seq 50); do grep -q "steering installed" "$work/fwd.log" && break; sleep 0.1; done
  grep -q "steering installed" "$work/fwd.log" || { cat "$work/fwd.log"; exit 1; }
  measure fwd
  ip netns exec $R "$work/fwd" conntrack -C --socket "$work/fwd.sock" 2>/dev/null | sed 's/^/fwd conntrack entries: /' || true
  kill -TERM $FWD; wait $FWD || true
  if grep -q "level=WARN\|level=ERROR" "$work/fwd.log"; then echo "fwd warnings:"; grep "level=WARN\|level=ERROR" "$work/fwd.log" | sort | uniq -c | head; fi
  ip netns exec $R nft list tables | grep -q fwd_steer && { echo "steering table left behind" >&2; exit 1; }

  echo "== round $round: kernel nftables only (same rules, conntrack and masquerade in the kernel)"
  kernel_rules | ip netns exec $R nft -f -
  measure kernel
  ip netns exec $R nft delete table inet fwdbench_kernel
done

echo
echo "## results ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${T}s each, $(uname -r))"
python3 - "$work/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    n, k, v = line.split()
    runs.setdefault((n, k), []).append(float(v))
r = {key: statistics.median(v) for key, v in runs.items()}
rows = [("tcp1", "TCP upload, 1 stream (Gbit/s)"), ("tcp1r", "TCP download, 1 stream (Gbit/s)"),
        ("tcp4", "TCP upload, 4 streams (Gbit/s)"),
        ("udp_pps", "UDP 64 B, received (packets/s)"), ("cps", "short TCP connections (/s)")]
print(f"median of {len(runs[('fwd', 'cps')])} rounds (range)\n")
print("| measurement | fwd (NFQUEUE) | kernel nftables | fwd/kernel |")
print("|---|---:|---:|---:|")
for k, label in rows:
    f, kn = r[("fwd", k)], r[("kernel", k)]
    fmt = (lambda x: f"{x:.2f}") if k.startswith("tcp") else (lambda x: f"{x:,.0f}".replace(",", " "))
    rng = lambda n: f" ({fmt(min(runs[(n, k)]))}–{fmt(max(runs[(n, k)]))})" if len(runs[(n, k)]) > 1 else ""
    print(f"| {label} | {fmt(f)}{rng('fwd')} | {fmt(kn)}{rng('kernel')} | {f/kn:.2f} |")
print(f"\nUDP loss: fwd {r[('fwd','udp_lost')]:.1f} %, kernel {r[('kernel','udp_lost')]:.1f} %; "
      f"failed connections: fwd {r[('fwd','cps_fail')]:.0f}, kernel {r[('kernel','cps_fail')]:.0f}")
EOF
if [[ -n $PROFILE ]]; then
  echo; echo "== fwd CPU profile (top)"
  go tool pprof -top -nodecount=30 "$work/fwd" "$PROFILE" 2>/dev/null | head -40
fi
