package conntrack

import (
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
)

// Track classifies one packet: it finds or makes the packet's connection,
// runs the protocol tracker, and sets pkt.CT, CTState, CTStatus, CTReply
// and CTMark (nf_conntrack_in). INVALID packets go on without an entry:
// the rules decide. A new connection is not in the table until Confirm.
// The verdict is Drop (table-full) only when the table is full and nothing
// can be evicted; otherwise Continue.
func (t *Table) Track(pkt *packet.Packet) pipeline.Verdict {
	now := t.clock.Now()
	// Every path below sets pkt.CT and CTState.
	pkt.CTReply = false
	pkt.CTStatus = 0
	pkt.CTMark = 0
	p := &pkt.Parsed
	var tu Tuple
	if !packetTuple(p, &tu) {
		switch {
		case p.Proto == packet.TCP:
			return t.invalidPkt(pkt, "invalid tcp flag combination")
		case p.Proto == packet.ICMP && header.IsICMPError(p.ICMPType):
			return t.trackICMPError(pkt, now)
		case p.Proto == packet.ICMP:
			return t.invalidPkt(pkt, "untrackable icmp type")
		}
		// Malformed, or a fragment defrag did not reassemble.
		return t.invalidPkt(pkt, "untrackable")
	}
	h, hint := pkt.CTHash, (*Conn)(pkt.CTHint)
	if h == 0 {
		h, hint = hashTuple(&tu, t.seed), nil
	}
	pkt.CTHash, pkt.CTHint = 0, nil
	for attempt := 0; attempt < 3; attempt++ {
		c, dir, hs := t.lookupHashed(&tu, h, hint, now)
		hint = nil
		if c == nil {
			return t.trackNew(pkt, &tu, now)
		}
		res, why := t.update(c, dir, pkt, now)
		switch res {
		case resAccept, resIgnore, resKill:
			t.attach(pkt, c, dir)
			if res == resIgnore {
				hs.st.ignore++
			}
			if pkt.Trace {
				pkt.Note = why
			}
			if res == resKill {
				home, idx, gen := c.home, c.idx, c.gen
				hs.mu.Unlock()
				t.kill(home, idx, gen, now)
				return pipeline.Continue
			}
			hs.mu.Unlock()
			return pipeline.Continue
		case resInvalid:
			hs.mu.Unlock()
			return t.invalidPkt(pkt, why)
		case resRepeat:
			home, idx, gen := c.home, c.idx, c.gen
			hs.mu.Unlock()
			t.kill(home, idx, gen, now)
		}
	}
	t.errs.Add(1)
	return t.invalidPkt(pkt, "lookup loop")
}

// packetTuple returns the tuple a packet is looked up by. ok is false for
// the packets that are not simply looked up: ICMP errors (matched by the
// tuple they quote), TCP with an invalid flag combination, ICMP types
// conntrack does not track, and anything without a transport header.
//
// It fills *tu field by field rather than returning a Tuple: a struct
// returned by value is copied in 8-byte words just after being written
// in smaller pieces, and each such load waits for the stores (a
// store-forwarding stall, a tenth of the established path's time).
func packetTuple(p *packet.Parsed, tu *Tuple) bool {
	tu.Src, tu.Dst, tu.Proto = p.Src, p.Dst, p.IPProto
	tu.SrcPort, tu.DstPort = 0, 0
	switch p.Proto {
	case packet.TCP:
		if !tcpValidFlags(p.TCPFlags) {
			return false
		}
		tu.SrcPort, tu.DstPort = p.SrcPort, p.DstPort
	case packet.UDP:
		tu.SrcPort, tu.DstPort = p.SrcPort, p.DstPort
	case packet.OtherProto:
	case packet.ICMP:
		if !header.IsICMPQuery(p.ICMPType) {
			return false
		}
		tu.SrcPort = p.ICMPID
		tu.DstPort = uint16(p.ICMPType)<<8 | uint16(p.ICMPCode)
	default:
		return false
	}
	return true
}

// quotedTuple is the tuple of the packet an ICMP error quotes, as it
// was sent (conntrack looks up its reverse). ok is false when the quoted
// packet is itself an ICMP error (RFC 1122: never answered with one).
func quotedTuple(in *packet.Inner) (q Tuple, ok bool) {
	q = Tuple{Src: in.Src, Dst: in.Dst, Proto: in.Proto}
	switch in.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		q.SrcPort, q.DstPort = in.SrcPort, in.DstPort
	case header.ProtoICMP:
		if !header.IsICMPQuery(in.ICMPType) {
			return q, false
		}
		q.SrcPort = in.SrcPort
		q.DstPort = uint16(in.ICMPType) << 8
	}
	return q, true
}

// attach records c's verdict on the packet (resolve_normal_ct's ctinfo).
// c's lock is held.
func (t *Table) attach(pkt *packet.Packet, c *Conn, dir int) {
	pkt.CT = c
	pkt.CTStatus = c.status
	pkt.CTMark = c.mark
	switch {
	case dir == Reply:
		pkt.CTState = packet.CTEstablished
		pkt.CTReply = true
	case c.status&packet.CTStatusSeenReply != 0:
		pkt.CTState = packet.CTEstablished
	default:
		pkt.CTState = packet.CTNew
	}
}

func (t *Table) invalidPkt(pkt *packet.Packet, why string) pipeline.Verdict {
	t.invalid.Add(1)
	pkt.CT = nil
	pkt.CTState = packet.CTInvalid
	if pkt.Trace {
		pkt.Note = why
	}
	return pipeline.Continue
}

// update runs the protocol tracker on a known connection. c's lock is
// held. The state is decided before the tracker runs, as in Linux: the
// first reply is ESTABLISHED.
func (t *Table) update(c *Conn, dir int, pkt *packet.Packet, now int64) (trackResult, string) {
	p := &pkt.Parsed
	var res trackResult
	var why string
	switch p.Proto {
	case packet.TCP:
		res, why = t.tcpPacket(c, dir, p, now)
	case packet.UDP:
		t.udpPacket(c, now)
	case packet.ICMP:
		c.expires = now + t.timeout.icmp
	default:
		c.expires = now + t.timeout.generic
	}
	if res == resInvalid || res == resRepeat {
		return res, why
	}
	c.packets[dir]++
	c.bytes[dir] += uint64(p.Length)
	if dir == Reply && c.status&packet.CTStatusSeenReply == 0 && c.flags&cfConfirmed != 0 {
		c.status |= packet.CTStatusSeenReply
		t.emitLocked(EventUpdate, c, now)
	}
	return res, why
}

// udpPacket is nf_conntrack_udp_packet: the udp timeout until a reply is
// seen and for the first two seconds; after that a flow with replies is a
// stream: ASSURED and udp_stream.
func (t *Table) udpPacket(c *Conn, now int64) {
	if c.status&packet.CTStatusSeenReply == 0 {
		c.expires = now + t.timeout.udp
		return
	}
	if now > c.start+2e9 {
		c.expires = now + t.timeout.udpStream
		if c.status&packet.CTStatusAssured == 0 {
			t.setAssuredLocked(c, now)
		}
		return
	}
	c.expires = now + t.timeout.udp
}

// trackNew makes an unconfirmed connection for a packet no entry knows.
func (t *Table) trackNew(pkt *packet.Packet, tu *Tuple, now int64) pipeline.Verdict {
	p := &pkt.Parsed
	if p.Proto == packet.ICMP && !icmpIsRequest(p.ICMPType) {
		return t.invalidPkt(pkt, "icmp reply without request")
	}
	rt, ok := tu.Reverse()
	if !ok {
		return t.invalidPkt(pkt, "no reply tuple")
	}
	if t.count.Load() >= t.max {
		h := hashTuple(tu, t.seed)
		if !t.earlyDrop(uint8(h>>(64-shardBits)), now) {
			t.drop.Add(1)
			pkt.CT = nil
			pkt.Drop = packet.DropTableFull
			return pipeline.Drop
		}
	}
	c := t.newConn()
	c.tuple = [2]Tuple{*tu, rt}
	c.start = now
	switch p.Proto {
	case packet.TCP:
		if !t.tcpNew(c, p) {
			t.putConn(c)
			return t.invalidPkt(pkt, "invalid new tcp")
		}
	}
	res, why := t.update(c, Original, pkt, now)
	if res != resAccept && res != resIgnore {
		t.putConn(c)
		return t.invalidPkt(pkt, why)
	}
	pkt.CT = c
	pkt.CTState = packet.CTNew
	pkt.CTStatus = c.status
	if pkt.Trace {
		pkt.Note = "new"
	}
	return pipeline.Continue
}

// trackICMPError marks an ICMP error RELATED to the connection whose
// packet it quotes (nf_conntrack_inet_error), or INVALID. An error never
// makes an entry.
func (t *Table) trackICMPError(pkt *packet.Packet, now int64) pipeline.Verdict {
	p := &pkt.Parsed
	if !p.InnerOK || p.Inner.IsFragment {
		return t.invalidPkt(pkt, "icmp error without a usable quoted packet")
	}
	in := &p.Inner
	q, ok := quotedTuple(in)
	if !ok {
		return t.invalidPkt(pkt, "icmp error about an icmp error")
	}
	// The quoted packet went one way; the error comes back the other:
	// look up the inverted quoted tuple.
	inv, ok := q.Reverse()
	if !ok {
		return t.invalidPkt(pkt, "quoted icmp type has no reply")
	}
	c, dir, hs := t.lookup(&inv, now)
	if c == nil {
		return t.invalidPkt(pkt, "icmp error matches no connection")
	}
	// The error travels in direction dir; that tuple's destination must
	// be the outer destination, or a third party could make errors
	// RELATED to connections it is not on.
	if c.tuple[dir].Dst != p.Dst {
		hs.mu.Unlock()
		return t.invalidPkt(pkt, "outer daddr != inner")
	}
	if in.Proto == header.ProtoTCP && in.HasSeq && !t.cfg.BeLiberal {
		// pf checks that a quoted TCP segment is in the window of the
		// direction it was sent in: blind ICMP resets need to guess it.
		snd, rcv := &c.tcp.seen[1-dir], &c.tcp.seen[dir]
		if snd.maxwin != 0 && snd.flags&tfBeLiberal == 0 {
			w := rcv.maxwin
			if w == 0 {
				w = snd.maxwin
			}
			if after(in.Seq, snd.maxend) || before(in.Seq, snd.end-w) {
				hs.mu.Unlock()
				return t.invalidPkt(pkt, "quoted tcp seq out of window")
			}
		}
	}
	pkt.CT = c
	pkt.CTState = packet.CTRelated
	pkt.CTReply = dir == Reply
	pkt.CTStatus = c.status
	pkt.CTMark = c.mark
	hs.mu.Unlock()
	if pkt.Trace {
		pkt.Note = "related"
	}
	return pipeline.Continue
}
