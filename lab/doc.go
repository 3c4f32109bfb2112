// Package lab builds and tears down the namespace lab: real Linux hosts
// on both sides of fwd, for `fwd lab` and the end-to-end tests (e2e/).
//
// Topology, for configs/lab.toml (each box a network namespace named
// NAME-ROLE, NAME unique per lab, "fwdlab-" and six hex digits by default):
//
//	lan-a 192.168.1.10 --+                                        +-- server 198.51.100.20
//	                     +-- br0 [lan] -- TAP lan0 [fwd] TAP wan0 -- br0 [upstream] 203.0.113.1
//	lan-b 192.168.1.11 --+                 .1.1         203.0.113.2      198.51.100.1 --+
//
// Plan lays the lab out from a configuration: the interface of the
// default route leads to the upstream router (the route's via, on a bridge
// in its own namespace, forwarding to the server's namespace over a veth);
// every other interface gets a LAN namespace with a bridge and two hosts
// (.10 and .11, one namespace each, veth into the bridge, fwd as default
// gateway). Build creates it with iproute2; fwd's own TAP devices are not
// part of it: fwd run creates them in its namespace and moves them onto
// the bridges (Configure sets each interface's device, netns and bridge
// keys, with device names unique per lab). Down removes every namespace
// of the lab, ending processes left running in them; Remove does so for
// every lab whose name starts with a prefix (leftovers of a killed run).
// No namespace has a route out of the machine.
//
// InNetns, Listen, ListenPacket and Dial make sockets inside a host's
// namespace from a locked OS thread (the socket keeps its namespace), so a
// Go server or client can stand in for a host program; Command runs a
// program there (`ip netns exec`).
//
// Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the ip command.
// Nothing here is on the packet path.
package lab
