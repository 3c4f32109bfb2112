package router

import (
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

func init() { pipeline.Register(LocalStage{}) }

// LocalStage is local delivery, the last stage of INPUT: what reaches it
// is addressed to the router itself (or broadcast) and was allowed by the
// input chain. fwd runs no services, so:
//
//   - an ICMP echo request to one of the router's addresses is answered
//     (ping the gateway);
//   - a TCP segment gets a reset (RFC 9293 §3.10.7.1: a CLOSED port), a
//     UDP datagram an ICMP port unreachable (RFC 1122 §3.2.2.1), both sent
//     by icmperr for the Reject verdict;
//   - everything else is dropped under packet.DropLocal (broadcasts and
//     ICMP other than echo requests, RSTs, other protocols). ARP never gets
//     here: the TAP device loop hands it to ARP.Input.
//
// No ICMP error answers a datagram sent to a broadcast address, nor a
// datagram from an address that is not a unicast host (RFC 1122 §3.2.2,
// RFC 1812 §4.3.2.7).
//
// The echo reply is made in place: the stage has only the packet, so it
// rewrites the request into the reply in the same buffer
// (header.BuildEchoReply: addresses swapped, type 0, TTL 64, options
// dropped), clears the packet's connection and routing state, marks it
// Local and moves it to the Output hook. The runner then takes it through
// the OUTPUT stages that follow INPUT in pipeline.Order (conntrack sees the
// reply of the echo it tracked, the route stage picks the egress interface
// and next hop, the filter's output chain applies) and on to POSTROUTING,
// as Linux sends icmp_reply through ip_output. Routing it afresh rather
// than back out of InIf is what a host does, and is right when the pinger
// is behind a gateway. The stage returns Accept for it.
//
// Precondition: stage.parse ran (pkt.Parsed is valid).
type LocalStage struct {
	local  []([4]byte) // the router's own addresses
	kernel bool        // NFQUEUE mode: the host's kernel delivers
}

// Module implements pipeline.Module.
func (LocalStage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.local", New: func() pipeline.Module { return new(LocalStage) }}
}

// Provision collects the router's addresses from the configuration.
func (s *LocalStage) Provision(ctx *pipeline.Context) error {
	s.kernel = ctx.KernelRoutes
	for _, ifc := range Ifaces(ctx.Config) {
		if ifc.ip != ([4]byte{}) {
			s.local = append(s.local, ifc.ip)
		}
	}
	return nil
}

// Name implements pipeline.Stage.
func (s *LocalStage) Name() string { return "local" }

func (s *LocalStage) isLocal(a [4]byte) bool {
	for _, l := range s.local {
		if l == a {
			return true
		}
	}
	return false
}

// unicastSource reports whether a may be answered with an ICMP error or a
// reset: not unspecified, loopback, multicast, or limited broadcast.
func unicastSource(a [4]byte) bool {
	return a != [4]byte{} && a[0] != 127 && a[0] < 224
}

// Process implements pipeline.Stage.
func (s *LocalStage) Process(pkt *packet.Packet) pipeline.Verdict {
	if s.kernel {
		return pipeline.Continue // the host's own stack answers
	}
	p := &pkt.Parsed
	if !s.isLocal(p.Dst) || !unicastSource(p.Src) {
		// Broadcast, or not one of ours (a stray), or from a non-host.
		pkt.Drop = packet.DropLocal
		return pipeline.Drop
	}
	switch p.Proto {
	case packet.ICMP:
		if p.ICMPType == header.ICMPEcho && p.ICMPCode == 0 {
			return s.echo(pkt)
		}
	case packet.TCP:
		if p.TCPFlags&tcpFlagRST == 0 {
			pkt.Drop = packet.DropLocal
			pkt.RejectWith = packet.RejectTCPReset
			return pipeline.Reject
		}
	case packet.UDP:
		pkt.Drop = packet.DropLocal
		pkt.RejectWith = packet.RejectPortUnreach
		return pipeline.Reject
	}
	pkt.Drop = packet.DropLocal
	return pipeline.Drop
}

const tcpFlagRST = 0x04

// echo turns the echo request in pkt into its reply and sends it to OUTPUT.
func (s *LocalStage) echo(pkt *packet.Packet) pipeline.Verdict {
	icmp := header.ICMPv4(pkt.L4())
	if !icmp.IsChecksumValid() {
		pkt.Drop = packet.DropBadL4Checksum
		return pipeline.Drop
	}
	// In place: BuildEchoReply reads every request field before it writes,
	// and moves the ICMP message down over any IP options.
	n := header.BuildEchoReply(pkt.Data[:cap(pkt.Data)], pkt.IP())
	if n == 0 {
		pkt.Drop = packet.DropLocal
		return pipeline.Drop
	}
	pkt.Data = pkt.Data[:n]
	// The reply is a new datagram of fwd's own: no connection, mark or
	// route yet (Linux's icmp_reply builds a new skb). InIf stays: the
	// interface the exchange concerns.
	pkt.CT, pkt.CTState, pkt.CTStatus, pkt.CTReply, pkt.CTMark = nil, packet.CTNone, 0, false, 0
	pkt.Mark = 0
	pkt.OutIf, pkt.NextHop = packet.NoIf, [4]byte{}
	pkt.Drop, pkt.RejectWith, pkt.MaxFrag = packet.DropNone, packet.RejectNone, 0
	pkt.Parsed.Decode(pkt.Data)
	pkt.Local = true
	pkt.Hook = packet.Output
	if pkt.Trace {
		pkt.Note = "echo reply"
	}
	return pipeline.Accept
}
