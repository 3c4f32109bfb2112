// Package header provides wire-format views over byte slices for Ethernet,
// ARP, IPv4, TCP, UDP and ICMPv4 (gVisor's pkg/tcpip/header style), builders
// for the packets fwd makes, and checksums: full (RFC 1071) and incremental
// (RFC 1624).
//
// Views do not copy and do not allocate. Validate (IsValid) runs once in the
// parse stage; after it accessors do not bounds-check. Setters named
// ...WithChecksumUpdate keep the checksums right by incremental update, as
// NAT needs.
package header
