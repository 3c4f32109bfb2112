// Package packet holds the packet context that travels through the
// pipeline: the datagram buffer, the decoded summary (Parsed), interfaces,
// hook, marks, the conntrack reference and verdict, and the drop reason.
//
// Place in the flow: devices fill a Packet from a Pool; the parse stage
// calls Parsed.Decode; every later stage reads the summary instead of
// decoding again. Decode allocates nothing and returns no error: malformed
// input leaves Proto = Unknown and Reason set (tailscale's net/packet style).
// Buffers are pooled (Pool); a Packet is owned by one goroutine at a time.
package packet
