// Package nfqueue_e2e holds the end-to-end test of fwd's NFQUEUE mode: a
// real fwd binary (built from cmd/fwd by the test) runs configs/nfqueue.toml
// in a router namespace whose kernel forwards between a LAN namespace and
// an internet namespace, and real clients (ping, curl) and servers
// (python3 -m http.server) talk through it.
//
// Topology (the interface names and addresses are the config's):
//
//	LAN ns                router ns (fwd)                internet ns
//	eth0 192.168.1.10 --- lan0 192.168.1.1                 198.51.100.20 (lo)
//	                      wan0 203.0.113.2 ------------- eth0 203.0.113.1
//
// What it proves: masquerade (the server sees 203.0.113.2), the reject
// rule (port 23 refused by fwd's reset), DNAT (wan0:8080 to the LAN web
// server), the conntrack table (`fwd conntrack -L`), fail-open and
// fail-closed when fwd is killed, and that a clean stop removes the
// steering table. It needs root (network namespaces, nftables) and skips
// otherwise; CI runs it as root. No package code: tests only.
package nfqueue_e2e
