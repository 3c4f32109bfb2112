package ipfrag

import (
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"sync/atomic"
)

// Defrag is the reassembly stage ("stage.defrag", first at Prerouting
// after parse, as nf_defrag_ipv4 runs before raw): every fragment is held
// (Stolen: its bytes are copied, the packet goes back to the device) until
// its datagram is whole; the packet of the fragment that completes it is
// rewritten in place into the whole datagram and goes on, so every later
// stage sees whole datagrams.
type Defrag struct {
	r   *Reassembler
	env *pipeline.Env
}

// Name implements pipeline.Stage.
func (*Defrag) Name() string { return "defrag" }

// Reassembler returns the stage's reassembler.
func (d *Defrag) Reassembler() *Reassembler { return d.r }

// Selects implements pipeline.Selective: defrag has work for fragments
// only.
func (d *Defrag) Selects() pipeline.Selection { return pipeline.SelectFragments }

// Process implements pipeline.Stage.
func (d *Defrag) Process(pkt *packet.Packet) pipeline.Verdict {
	if pkt.Parsed.Proto != packet.Fragment {
		return pipeline.Continue
	}
	n, maxFrag, st, reason := d.r.Add(d.env.Clock.Now(), pkt.Data, pkt.InIf, pkt.Buffer()[packet.Headroom:])
	switch st {
	case Held:
		if pkt.Trace {
			pkt.Note = noteHeld
		}
		return pipeline.Stolen
	case Duplicate:
		if pkt.Trace {
			pkt.Note = noteDuplicate
		}
		return pipeline.Stolen
	case Done:
		pkt.SetData(n)
		pkt.MaxFrag = uint16(maxFrag)
		// The whole datagram gets the parse stage's checks now that its
		// transport header is complete.
		if pkt.Parsed.Decode(pkt.Data) == 0 {
			pkt.Drop = packet.DropFromHeader(pkt.Parsed.Reason)
			if pkt.Drop == packet.DropNone {
				pkt.Drop = packet.DropTruncated
			}
			return pipeline.Drop
		}
		if pkt.Trace {
			pkt.Note = noteReassembled
		}
		return pipeline.Continue
	}
	pkt.Drop = reason
	if pkt.Drop == packet.DropNone {
		pkt.Drop = packet.DropOther
	}
	return pipeline.Drop
}

// Tick expires the queues that timed out and answers those addressed to
// fwd whose first fragment had arrived with ICMP time exceeded code 1,
// through env.Rejecter (icmperr) so that RFC 1812's rules and the rate
// limit apply. Devices call it periodically through the runner
// (pipeline.Ticker); Process expires queues too, so memory is released
// even without ticks, but the ICMP messages wait for the next Tick.
func (d *Defrag) Tick(now int64, out pipeline.Injector) {
	d.r.Expire(now)
	var expired [maxPending]Expired // on the stack: runners tick concurrently
	for {
		n := d.r.TakeExpired(expired[:])
		if n == 0 {
			return
		}
		rj := d.env.Rejecter
		for i := 0; i < n && rj != nil; i++ {
			e := &expired[i]
			pkt := out.NewPacket()
			pkt.Load(e.Data[:e.Len])
			// The quote is cut short of its total length, so Decode
			// would call it truncated: fill what the rejecter reads.
			ip := header.IPv4(pkt.Data)
			pkt.Parsed.IPProto = ip.Protocol()
			pkt.Parsed.Src = ip.SourceAddress()
			pkt.Parsed.Dst = ip.DestinationAddress()
			pkt.Parsed.HdrLen = uint8(ip.HeaderLength())
			pkt.Parsed.FragOff = ip.FlagsFragmentOffset()
			pkt.Parsed.Proto = packet.Fragment
			pkt.InIf = e.InIf
			pkt.Drop = packet.DropFragTimeout
			pkt.RejectWith = packet.RejectReassemblyTimeout
			rj(pkt, out)
			if d.env.Pool != nil {
				d.env.Pool.Put(pkt)
			}
		}
	}
}

// MTU is the egress size stage ("stage.mtu", last at Postrouting). A
// datagram larger than the egress MTU with DF set — or, when fwd
// reassembled it in transit, whose largest fragment was — is dropped
// (frag-needed) and answered with ICMP destination unreachable code 4
// carrying the MTU (RFC 1191 §4; icmperr builds it from pkt.OutIf's MTU).
// A larger datagram without DF goes on whole: the egress cuts it with
// Fragment (see EgressSize), since packets made here would re-enter the
// pipeline at OUTPUT. Forwarded datagrams meet the same DF check earlier,
// in icmperr's stage.ttl at Forward (where Linux's ip_forward makes it),
// so the error quotes them before SNAT; this stage is what checks the
// datagrams fwd sends itself, and any that grew after Forward.
type MTU struct {
	mtu atomic.Pointer[[]int] // by interface index; swapped whole by a reload
	// kernel is set in NFQUEUE mode: the kernel checks the MTU (and sends
	// the frag-needed) after fwd's verdict, as TTL's stage leaves the TTL
	// to it. fwd's own check would be wrong there: with GSO the kernel
	// queues super-packets larger than the MTU that it segments itself.
	kernel bool
}

// Name implements pipeline.Stage.
func (*MTU) Name() string { return "mtu" }

// Process implements pipeline.Stage.
func (m *MTU) Process(pkt *packet.Packet) pipeline.Verdict {
	i := int(pkt.OutIf)
	mtus := *m.mtu.Load()
	if m.kernel || i < 0 || i >= len(mtus) || mtus[i] <= 0 {
		return pipeline.Continue
	}
	mtu := mtus[i]
	size := len(pkt.Data)
	if size <= mtu && int(pkt.MaxFrag) <= mtu {
		return pipeline.Continue
	}
	if header.IPv4(pkt.Data).DontFragment() {
		// RFC 1191 §4: "When a router is unable to forward a datagram
		// because it exceeds the MTU of the next-hop network and its
		// Don't Fragment bit is set, the router is required to return
		// an ICMP Destination Unreachable message to the source of the
		// datagram, with the Code indicating 'fragmentation needed and
		// DF set'." A datagram reassembled in transit counts by its
		// largest fragment (Linux's ip_exceeds_mtu with frag_max_size).
		big := size
		if pkt.MaxFrag != 0 {
			big = int(pkt.MaxFrag)
		}
		if big > mtu {
			pkt.Drop = packet.DropMTU
			pkt.RejectWith = packet.RejectFragNeeded
			if pkt.Trace {
				pkt.Note = noteFragNeeded
			}
			return pipeline.Reject
		}
		return pipeline.Continue
	}
	if pkt.Trace {
		pkt.Note = noteRefragment
	}
	return pipeline.Continue
}
