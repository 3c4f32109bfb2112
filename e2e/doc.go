// Package e2e holds fwd's end-to-end tests: real Linux hosts in network
// namespaces talking through a real fwd.
//
// Each test builds its own lab (package lab) from configs/lab.toml or an
// edited copy, runs `fwd lab up` (the binary, built once by TestMain) on
// it, drives traffic with ping, traceroute, nmap and Go clients and
// servers made inside the hosts' namespaces (lab.Listen, lab.Dial), and
// checks what arrived, fwd's connection table and its counters through the
// control socket. Cleanup stops fwd and removes every namespace of the lab,
// whatever the test's outcome.
//
// The tests need root (network namespaces, TAP devices) and the programs
// in scripts/packages.txt (ip, ping, traceroute, nmap); without root they
// skip, saying so. CI runs them as root. Nothing here is linked into fwd.
package e2e
