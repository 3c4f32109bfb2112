// Package decode is the first stage of the flow ("stage.parse"): it checks
// each datagram's IPv4 header and transport header and fills the packet's
// decoded summary that every later stage reads. It allocates nothing;
// malformed input is dropped under a named reason (RFC 791, RFC 1812 §5.2.2
// checks: version, header length, total length, header checksum).
package decode
