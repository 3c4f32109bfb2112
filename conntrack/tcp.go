package conntrack

import (
	"fwd/header"
	"fwd/packet"
)

// TCP tracking follows Linux's nf_conntrack_proto_tcp.c: a state table
// driven by the flag class of each packet and its direction, over which
// sit Guido van Rooij's window checks ("Real Stateful TCP Packet Filtering
// in IP Filter") as tcp_in_window implements them.
//
// The middlebox states and the usual walk through them (o = original
// direction, r = reply direction):
//
//	          o:SYN            r:SYN+ACK          o:ACK
//	  NONE ----------> SYN_SENT ---------> SYN_RECV -------> ESTABLISHED
//	                    |    ^  r:SYN        | o:SYN+ACK      |   |
//	                    |    |               v                |   | FIN (either)
//	                    |    +---------- SYN_SENT2            |   v
//	                    |      (simultaneous open)            | FIN_WAIT --ACK--> CLOSE_WAIT
//	                    |                                     |   | FIN               | FIN
//	                    |                                     |   v                   v
//	                    |                                     | LAST_ACK <------------+
//	                    |                                     |   | ACK (FIN acked)
//	                    |                                     |   v
//	                    |   RST in window from any state      | TIME_WAIT --SYN--> SYN_SENT
//	                    +------------------------------------>+-> CLOSE ----SYN--> SYN_SENT
//	                                                              (re-open: old entry dies,
//	                                                               the SYN makes a new one)
//
// The tables below are the whole truth; the picture leaves out the
// ignored (sIG) and invalid (sIV) cells.

// Flag classes, get_conntrack_index's order.
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
	numTCPIndex
)

func tcpIndex(f uint8) int {
	switch {
	case f&header.TCPFlagRST != 0:
		return tcpRstSet
	case f&header.TCPFlagSYN != 0:
		if f&header.TCPFlagACK != 0 {
			return tcpSynAckSet
		}
		return tcpSynSet
	case f&header.TCPFlagFIN != 0:
		return tcpFinSet
	case f&header.TCPFlagACK != 0:
		return tcpAckSet
	}
	return tcpNoneSet
}

// tcpValidFlags reports whether the flags form a combination a real stack
// sends (tcp_error's tcp_valid_flags; PSH, ECE and CWR are always fine).
func tcpValidFlags(f uint8) bool {
	const (
		fin = header.TCPFlagFIN
		syn = header.TCPFlagSYN
		rst = header.TCPFlagRST
		ack = header.TCPFlagACK
		urg = header.TCPFlagURG
	)
	switch f &^ (header.TCPFlagPSH | header.TCPFlagECE | header.TCPFlagCWR) {
	case syn, syn | urg, syn | ack, rst, rst | ack, fin | ack, fin | ack | urg, ack, ack | urg:
		return true
	}
	return false
}

const (
	sNO = TCPNone
	sSS = TCPSynSent
	sSR = TCPSynRecv
	sES = TCPEstablished
	sFW = TCPFinWait
	sCW = TCPCloseWait
	sLA = TCPLastAck
	sTW = TCPTimeWait
	sCL = TCPClose
	sS2 = TCPSynSent2
	sIV = tcpInvalid
	sIG = tcpIgnore
)

// tcpStates is tcp_conntracks[direction][flag class][old state] of
// current Linux (6.x).
var tcpStates = [2][numTCPIndex][numTCPStates]TCPState{
	{ // ORIGINAL
		/*          sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/* syn */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/* s+a */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* non */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // REPLY
		/*          sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
		/* syn */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/* s+a */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/* fin */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/* rst */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* non */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// maxAckWinConst is MAXACKWINCONST: the least window an ACK may lag by.
const maxAckWinConst = 66000

const maxWScale = 14

// Serial number arithmetic (RFC 1982), Linux's before/after.
func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

// segEnd is segment_seq_plus_len: the sequence number after the segment.
func segEnd(p *packet.Parsed) uint32 {
	e := p.Seq + uint32(p.PayloadN)
	if p.TCPFlags&header.TCPFlagSYN != 0 {
		e++
	}
	if p.TCPFlags&header.TCPFlagFIN != 0 {
		e++
	}
	return e
}

// tcpOptions records the SYN options of a direction (tcp_options).
func tcpOptions(p *packet.Parsed, d *tcpDir) {
	d.scale = 0
	d.flags &= tfBeLiberal
	o := &p.TCPOpts
	if o.SACKPermitted {
		d.flags |= tfSACKPerm
	}
	if o.HasWScale {
		d.scale = o.WindowScale
		if d.scale > maxWScale {
			d.scale = maxWScale
		}
		d.flags |= tfWindowScale
	}
}

// tcpSack returns the highest SACK right edge above ack (tcp_sack).
func tcpSack(p *packet.Parsed, ack uint32) uint32 {
	for i := 0; i < int(p.TCPOpts.NumSACK) && i < len(p.TCPOpts.SACK); i++ {
		if r := p.TCPOpts.SACK[i].Right; after(r, ack) {
			ack = r
		}
	}
	return ack
}

func tcpInitSender(sender, receiver *tcpDir, p *packet.Parsed, end, win uint32, dir int) {
	sender.end, sender.maxend = end, end
	sender.maxwin = win
	if win == 0 {
		sender.maxwin = 1
	}
	tcpOptions(p, sender)
	// RFC 7323: both sides must send the option for scaling to apply in
	// either direction.
	if dir == Reply && !(sender.flags&tfWindowScale != 0 && receiver.flags&tfWindowScale != 0) {
		sender.scale, receiver.scale = 0, 0
	}
}

type tcpAction uint8

const (
	tcpAccept tcpAction = iota
	tcpIgnoreAct
	tcpInvalidAct
)

// tcpInWindow is van Rooij's check, as tcp_in_window:
//
//	I.   seq <= sender.td_maxend                      (upper bound for data)
//	II.  seq+len >= sender.td_end - receiver.td_maxwin (lower bound for data)
//	III. sack <= receiver.td_end                      (cannot ack unseen data)
//	IV.  sack >= receiver.td_end - MAXACKWINDOW        (lower bound for acks)
//
// where sack is the highest SACK right edge, or the ack. I failing by no
// more than the receiver's window is ignored (the packet passes, td_end
// moves); III failing is invalid; II and IV failing are ignored
// (retransmissions of acked data are not INVALID).
func (t *Table) tcpInWindow(c *Conn, dir, index int, p *packet.Parsed) (tcpAction, string) {
	st := &c.tcp
	sender, receiver := &st.seen[dir], &st.seen[1-dir]
	seq := p.Seq
	ack := p.Ack
	sack := ack
	winRaw := p.Window
	win := uint32(winRaw)
	end := segEnd(p)
	syn := p.TCPFlags&header.TCPFlagSYN != 0
	hasAck := p.TCPFlags&header.TCPFlagACK != 0
	rst := p.TCPFlags&header.TCPFlagRST != 0

	if receiver.flags&tfSACKPerm != 0 {
		sack = tcpSack(p, sack)
	}

	if sender.maxwin == 0 {
		// First packet in this direction.
		if syn {
			tcpInitSender(sender, receiver, p, end, win, dir)
			if !hasAck {
				return tcpAccept, "" // simultaneous open
			}
		} else {
			// Mid-stream: the history is lost; use this packet.
			sender.end = end
			swin := win << sender.scale
			if swin == 0 {
				swin = 1
			}
			sender.maxwin = swin
			sender.maxend = end + swin
			if receiver.maxwin == 0 {
				receiver.end, receiver.maxend = sack, sack
			} else if sack == receiver.end+1 {
				receiver.end++ // a keepalive answer
			}
		}
	} else if syn && after(end, sender.end) && (st.state == TCPSynSent || st.state == TCPSynRecv) {
		// RFC 793: a reinitialised TCP uses higher sequence numbers;
		// take the new SYN(-ACK) as the start of this direction.
		tcpInitSender(sender, receiver, p, end, win, dir)
		if dir == Reply && !hasAck {
			return tcpAccept, ""
		}
	}

	if !hasAck || (rst && ack == 0) {
		// No ACK: pretend it acked what we saw. A RST+ACK with ack 0
		// comes from broken stacks.
		ack = receiver.end
		sack = ack
	}
	if rst && seq == 0 && st.state == TCPSynSent {
		seq = sender.end // RST answering a SYN
		end = seq
	}

	liberal := sender.flags&tfBeLiberal != 0 || t.cfg.BeLiberal
	bad := func(a tcpAction, why string) (tcpAction, string) {
		if liberal {
			return tcpAccept, ""
		}
		return a, why
	}

	if !before(seq, sender.maxend+1) {
		overshot := end - sender.maxend + 1
		ackOK := after(sack, receiver.end-maxAckWindow(sender)-1)
		inRecvWin := receiver.maxwin != 0 && after(end, sender.end-receiver.maxwin-1)
		if inRecvWin && ackOK && overshot <= receiver.maxwin && before(sack, receiver.end+1) {
			// More than the window allows, by less than a window: let it
			// through and move td_end so the peer's ACK for it is valid.
			sender.end = end
			sender.flags |= tfDataUnacknowledged
			return bad(tcpIgnoreAct, "bytes more than expected")
		}
		return bad(tcpInvalidAct, "SEQ is over upper bound (over the window of the receiver)")
	}
	if !before(sack, receiver.end+1) {
		return bad(tcpInvalidAct, "ACK is over upper bound (ACKed data not seen yet)")
	}
	if receiver.maxwin != 0 && !after(end, sender.end-receiver.maxwin-1) {
		return bad(tcpIgnoreAct, "SEQ is under lower bound (already ACKed data retransmitted)")
	}
	if !after(sack, receiver.end-maxAckWindow(sender)-1) {
		return bad(tcpIgnoreAct, "ignored ACK under lower bound (possible overly delayed)")
	}

	if !syn {
		win <<= sender.scale
	}
	// Update the sender.
	if swin := win + (sack - ack); sender.maxwin < swin {
		sender.maxwin = swin
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tfDataUnacknowledged
	}
	if hasAck {
		if sender.flags&tfMaxAckSet == 0 {
			sender.maxack = ack
			sender.flags |= tfMaxAckSet
		} else if after(ack, sender.maxack) {
			sender.maxack = ack
		}
	}
	// Update the receiver.
	if receiver.maxwin != 0 && after(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if after(sack+win, receiver.maxend-1) {
		receiver.maxend = sack + win
		if win == 0 {
			receiver.maxend++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tfDataUnacknowledged
	}
	// Retransmissions.
	if index == tcpAckSet {
		if int(st.lastDir) == dir && st.lastSeq == seq && st.lastAck == ack && st.lastEnd == end && st.lastWin == winRaw {
			if st.retrans < 255 {
				st.retrans++
			}
		} else {
			st.lastDir = uint8(dir)
			st.lastSeq, st.lastAck, st.lastEnd, st.lastWin = seq, ack, end, winRaw
			st.retrans = 0
		}
	}
	return tcpAccept, ""
}

func maxAckWindow(sender *tcpDir) uint32 {
	if sender.maxwin > maxAckWinConst {
		return sender.maxwin
	}
	return maxAckWinConst
}

// tcpNew sets up a connection from its first packet (tcp_new). It
// returns false when the packet may not create one.
func (t *Table) tcpNew(c *Conn, p *packet.Parsed) bool {
	ns := tcpStates[Original][tcpIndex(p.TCPFlags)][TCPNone]
	if ns >= numTCPStates {
		return false
	}
	st := &c.tcp
	*st = tcpConn{}
	d := &st.seen[0]
	d.end = segEnd(p)
	d.maxwin = uint32(p.Window)
	if d.maxwin == 0 {
		d.maxwin = 1
	}
	if ns == TCPSynSent {
		d.maxend = d.end
		tcpOptions(p, d)
		d.ep, d.epf, d.ctlEnd = EPSynSent, epCtlPending, d.end
		st.seen[1].ep = EPListen
	} else {
		if !t.cfg.TCPLoose {
			return false
		}
		// Picked up mid-stream: assume SACK and check liberally, the
		// window scale being unknown.
		d.maxend = d.end + d.maxwin
		d.flags = tfSACKPerm | tfBeLiberal
		st.seen[1].flags = tfSACKPerm | tfBeLiberal
		d.ep, st.seen[1].ep = EPEstablished, EPEstablished
		d.epf, st.seen[1].epf = epSawSYN, epSawSYN
	}
	st.lastIndex = tcpNoneSet
	return true
}

// trackResult is what a protocol tracker decided about a packet.
type trackResult uint8

const (
	resAccept  trackResult = iota
	resIgnore              // passes, state not changed (Linux's IGNORE)
	resInvalid             // INVALID: the packet goes on without the entry
	resRepeat              // the entry must die and the packet be looked up again (re-open)
	resKill                // passes, and the entry dies now (RST as the only answer)
)

// tcpPacket is nf_conntrack_tcp_packet. It runs with c's lock held (or on
// an unconfirmed c no one else sees), and sets c's state and timeout.
func (t *Table) tcpPacket(c *Conn, dir int, p *packet.Parsed, now int64) (trackResult, string) {
	st := &c.tcp
	oldState := st.state
	index := tcpIndex(p.TCPFlags)
	if oldState == TCPEstablished && index == tcpAckSet && !t.slowTCP && t.tcpEstablished(c, dir, p, now) {
		return resAccept, ""
	}
	newState := tcpStates[dir][index][oldState]
	seqn, ackn := p.Seq, p.Ack
	inWindow := false

	if oldState == TCPSynSent && c.status&packet.CTStatusSeenReply == 0 {
		if dir == Reply {
			if why := refusedInSynSent(st, p); why != "" {
				// The client will drop this segment (and may answer it
				// with a RST): it must not move the entry, nor kill it.
				st.lastFlags |= lfRefusedReply
				st.lastAck = ackn
				return resInvalid, why
			}
		} else if index == tcpRstSet && st.lastFlags&lfRefusedReply != 0 && seqn == st.lastAck {
			return resIgnore, "rst answering a segment the client refused"
		}
	}
	if index == tcpSynSet && dir == Original && oldState <= TCPSynSent && p.TCPOpts.HasTimestamp {
		d := &st.seen[0]
		if d.epf&epSynTS == 0 {
			d.epf |= epSynTS
			st.synTSFirst = p.TCPOpts.TSVal
		}
		st.synTSLast = p.TCPOpts.TSVal
	}

	switch newState {
	case TCPSynSent:
		if oldState < TCPTimeWait {
			break
		}
		// RFC 1122 allows a SYN to re-open from TIME_WAIT; an aborted
		// connection (last packet this way was a RST) may be re-opened
		// too. Kill the old entry and look up again.
		if (st.seen[dir].flags|st.seen[1-dir].flags)&tfCloseInit != 0 ||
			(int(st.lastDir) == dir && st.lastIndex == tcpRstSet) {
			return resRepeat, "re-open"
		}
		return t.tcpIgnore(c, dir, index, oldState, p, now)
	case tcpIgnore:
		return t.tcpIgnore(c, dir, index, oldState, p, now)
	case tcpInvalid:
		return resInvalid, "invalid state transition"
	case TCPTimeWait:
		// RFC 5961: a challenge ACK answering a spurious SYN does not
		// ack the last FIN.
		if oldState == TCPLastAck && index == tcpAckSet && int(st.lastDir) != dir &&
			st.lastIndex == tcpSynSet && st.lastFlags&tfExpChallengeAck != 0 {
			st.lastFlags &^= tfExpChallengeAck
			return resIgnore, "challenge-ack ignored"
		}
	case TCPSynSent2:
		st.lastFlags |= tfSimultaneousOpen
	case TCPSynRecv:
		if dir == Reply && index == tcpAckSet && st.lastFlags&tfSimultaneousOpen != 0 {
			newState = TCPEstablished
		}
	case TCPClose:
		if index != tcpRstSet {
			break
		}
		if tcpCanEarlyDrop(oldState) {
			inWindow = true // closing anyway: skip the checks
			break
		}
		if st.seen[1-dir].flags&tfMaxAckSet != 0 && st.lastIndex != tcpSynSet {
			established := oldState == TCPEstablished
			if seqn == 0 && !established {
				break
			}
			if before(seqn, st.seen[1-dir].maxack) && !t.cfg.IgnoreInvalidRST {
				return resInvalid, "invalid rst"
			}
			if !established || seqn == st.seen[1-dir].maxack {
				break
			}
			// A RST in a train (right after our data) is fine.
			if st.lastIndex == tcpAckSet && int(st.lastDir) == dir && seqn == st.lastEnd {
				break
			}
			// In window but not exact: keep the state, the peer may send
			// a challenge ACK (RFC 5961 §3).
			newState = oldState
		}
		if ((c.status&packet.CTStatusSeenReply != 0 && st.lastIndex == tcpSynSet) ||
			(c.status&packet.CTStatusAssured == 0 && st.lastIndex == tcpAckSet)) &&
			ackn == st.lastEnd {
			// RST answering a SYN or ACK we let through while ignoring.
			inWindow = true
			break
		}
		if oldState == TCPSynSent && st.lastIndex == tcpAckSet && st.lastDir == Reply && seqn == st.lastAck {
			inWindow = true // RST answering a challenge ACK
		}
	}

	if !inWindow {
		act, why := t.tcpInWindow(c, dir, index, p)
		switch act {
		case tcpIgnoreAct:
			return resIgnore, why
		case tcpInvalidAct:
			t.tcpHandleInvalid(c, dir, index, now)
			return resInvalid, why
		}
	}

	// In window from here.
	st.lastIndex = uint8(index)
	st.lastDir = uint8(dir)
	st.state = newState
	if newState != TCPEstablished {
		// Out of the fast path (Linux's flow_offload_teardown on FIN
		// or RST): the teardown passes the rules.
		t.unoffloadLocked(c)
	}
	if oldState != newState && newState == TCPFinWait {
		st.seen[dir].flags |= tfCloseInit
	}
	if s, r := &st.seen[dir], &st.seen[1-dir]; p.TCPFlags&(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST) != 0 ||
		r.epf&epCtlPending != 0 || s.ep == EPSynRcvd {
		t.tcpEndpoints(c, dir, p) // a plain segment with nothing awaiting its ACK changes no endpoint
	}

	to := &t.timeout.tcp
	var timeout int64
	switch {
	case st.retrans >= t.maxRetrans && to[newState] > to[toRetrans]:
		timeout = to[toRetrans]
	case index == tcpRstSet:
		timeout = to[TCPClose]
	case (st.seen[0].flags|st.seen[1].flags)&tfDataUnacknowledged != 0 && to[newState] > to[toUnack]:
		timeout = to[toUnack]
	case st.lastWin == 0 && to[newState] > to[toRetrans]:
		timeout = to[toRetrans]
	default:
		timeout = to[newState]
	}
	if newState != oldState {
		t.emitLocked(EventUpdate, c, now)
	}

	if c.status&packet.CTStatusSeenReply == 0 {
		if p.TCPFlags&header.TCPFlagRST != 0 {
			// The only answer was a RST: no connection, drop the entry.
			c.expires = now
			return resKill, "rst without reply"
		}
		if index == tcpSynSet && oldState == TCPSynSent {
			// A retransmitted SYN does not renew the timeout, so port
			// reuse cannot keep a stale entry alive.
			return resAccept, ""
		}
		if newState == TCPEstablished && timeout > to[toUnack] {
			timeout = to[toUnack] // picked up, never answered
		}
	} else if c.status&packet.CTStatusAssured == 0 &&
		(oldState == TCPSynRecv || oldState == TCPEstablished) && newState == TCPEstablished {
		// A valid ACK after SYN_RECV, or an answer to a picked-up
		// connection: the connection is ASSURED.
		t.setAssuredLocked(c, now)
	}
	c.expires = now + timeout
	return resAccept, ""
}

// refusedInSynSent says why a client in SYN-SENT would drop a segment
// from the server, or "" when it would take it. RFC 9293 §3.10.7.3: an
// ACK is acceptable only if it acknowledges the SYN exactly (ISS <
// SEG.ACK =< SND.NXT); a RST without an acceptable ACK is dropped. RFC
// 7323 §3.2 and Linux's tcp_rcv_synsent_state_process: a timestamp echo
// that is not one of our SYNs' TSvals marks a segment that is not for
// this connection (the forged RST of Suricata's bug 3286).
func refusedInSynSent(st *tcpConn, p *packet.Parsed) string {
	f := p.TCPFlags
	if f&(header.TCPFlagRST|header.TCPFlagFIN|header.TCPFlagSYN) == 0 {
		// Plain ACKs and data are the state table's business (ignored
		// in SYN_SENT, as Linux does).
		return ""
	}
	if f&header.TCPFlagACK != 0 && p.Ack != st.seen[Original].end && f&header.TCPFlagSYN == 0 {
		if f&header.TCPFlagRST != 0 {
			return "rst with an unacceptable ack in SYN_SENT"
		}
	}
	if f&header.TCPFlagRST != 0 && f&header.TCPFlagACK == 0 {
		return "rst without ack in SYN_SENT"
	}
	o := &p.TCPOpts
	if o.HasTimestamp && o.TSEcr != 0 && st.seen[Original].epf&epSynTS != 0 &&
		(before(o.TSEcr, st.synTSFirst) || after(o.TSEcr, st.synTSLast)) {
		return "timestamp echo matches no SYN in SYN_SENT"
	}
	return ""
}

// tcpIgnore handles the sIG cells: the packet passes, the state stays,
// and what it carried is remembered in case the other side shows we were
// out of sync.
func (t *Table) tcpIgnore(c *Conn, dir, index int, oldState TCPState, p *packet.Parsed, now int64) (trackResult, string) {
	st := &c.tcp
	if index == tcpSynAckSet && st.lastIndex == tcpSynSet && int(st.lastDir) != dir && p.Ack == st.lastEnd {
		// This SYN/ACK acks a SYN we ignored: the endpoints are in sync
		// and we are not. Resynchronise from the remembered SYN.
		ld := int(st.lastDir)
		s := &st.seen[ld]
		s.end, s.maxend = st.lastEnd, st.lastEnd
		s.maxwin = uint32(st.lastWin)
		if s.maxwin == 0 {
			s.maxwin = 1
		}
		s.scale = st.lastWscale
		st.lastFlags &^= tfExpChallengeAck
		s.flags = st.lastFlags &^ (tfSimultaneousOpen | tfExpChallengeAck | lfRefusedReply)
		s.ep, s.epf, s.ctlEnd = EPSynSent, epCtlPending, st.lastEnd
		r := &st.seen[dir]
		r.end, r.maxend, r.maxwin, r.maxack, r.scale = 0, 0, 0, 0, 0
		r.flags &= tfBeLiberal
		r.ep, r.epf = EPListen, 0
		st.state = TCPSynSent
		// Go on as SYN_SENT -> SYN_RECV with this SYN/ACK.
		res, why := t.tcpPacket(c, dir, p, now)
		if res != resAccept && st.state == TCPSynSent {
			st.state = oldState
		}
		return res, why
	}
	st.lastIndex = uint8(index)
	st.lastDir = uint8(dir)
	st.lastSeq = p.Seq
	st.lastEnd = segEnd(p)
	st.lastWin = p.Window
	if index == tcpSynSet && dir == Original {
		// A SYN in ORIGINAL: maybe the endpoints are in sync and we are
		// not. Remember its options; a SYN/ACK will tell. In LAST_ACK the
		// peer may answer with an RFC 5961 challenge ACK.
		var seen tcpDir
		tcpOptions(p, &seen)
		st.lastFlags, st.lastWscale = 0, 0
		if seen.flags&tfWindowScale != 0 {
			st.lastFlags |= tfWindowScale
			st.lastWscale = seen.scale
		}
		if seen.flags&tfSACKPerm != 0 {
			st.lastFlags |= tfSACKPerm
		}
		if oldState == TCPLastAck {
			st.lastFlags |= tfExpChallengeAck
		}
	}
	if oldState == TCPSynSent && index == tcpAckSet && dir == Reply {
		st.lastAck = p.Ack // a possible challenge ACK to our SYN
	}
	return resIgnore, "packet ignored"
}

// tcpHandleInvalid shortens the timeout of an ASSURED connection whose
// endpoints both sent FIN/RST that conntrack found out of window
// (nf_tcp_handle_invalid): such entries are usually dead.
func (t *Table) tcpHandleInvalid(c *Conn, dir, index int, now int64) {
	if c.status&packet.CTStatusAssured == 0 || (index != tcpRstSet && index != tcpFinSet) {
		return
	}
	st := &c.tcp
	if int(st.lastDir) != dir && (st.lastIndex == tcpFinSet || st.lastIndex == tcpRstSet) {
		left := c.expires - now
		if left < 120e9 {
			return
		}
		if un := t.timeout.tcp[toUnack]; left > un {
			c.expires = now + un
		}
		return
	}
	st.lastIndex = uint8(index)
	st.lastDir = uint8(dir)
}

func tcpCanEarlyDrop(s TCPState) bool {
	switch s {
	case TCPFinWait, TCPLastAck, TCPTimeWait, TCPClose, TCPCloseWait:
		return true
	}
	return false
}

// tcpEndpoints moves each endpoint's RFC 793 state on after an in-window
// packet from dir. An endpoint's state follows from what it sent (SYN,
// FIN, RST) and what it saw acknowledged; that the packet reaches the
// receiver is assumed.
func (t *Table) tcpEndpoints(c *Conn, dir int, p *packet.Parsed) {
	s, r := &c.tcp.seen[dir], &c.tcp.seen[1-dir]
	f := p.TCPFlags
	if f&header.TCPFlagRST != 0 {
		s.ep, r.ep = EPClosed, EPClosed
		s.epf &^= epCtlPending
		r.epf &^= epCtlPending
		return
	}
	end := segEnd(p)
	// What the sender sends.
	if f&header.TCPFlagSYN != 0 {
		r.epf |= epSawSYN
		s.ctlEnd = end
		s.epf |= epCtlPending
		switch {
		case f&header.TCPFlagACK != 0 || s.epf&epSawSYN != 0:
			if s.ep <= EPSynRcvd {
				s.ep = EPSynRcvd
			}
		case s.ep <= EPSynSent:
			s.ep = EPSynSent
			if r.ep == EPClosed {
				r.ep = EPListen
			}
		}
	}
	// What the receiver sees acknowledged.
	if f&header.TCPFlagACK != 0 && r.epf&epCtlPending != 0 && !before(p.Ack, r.ctlEnd) {
		r.epf &^= epCtlPending
		switch r.ep {
		case EPSynSent, EPSynRcvd:
			if r.epf&epSawSYN != 0 {
				r.ep = EPEstablished
			}
		case EPFinWait1:
			r.ep = EPFinWait2
		case EPClosing:
			r.ep = EPTimeWait
		case EPLastAck:
			r.ep = EPClosed
		}
	}
	if f&header.TCPFlagACK != 0 && s.ep == EPSynRcvd && s.epf&epCtlPending == 0 && s.epf&epSawSYN != 0 {
		s.ep = EPEstablished
	}
	if f&header.TCPFlagFIN != 0 {
		if s.epf&epFinSent == 0 {
			s.epf |= epFinSent | epCtlPending
			s.ctlEnd = end
			switch s.ep {
			case EPCloseWait:
				s.ep = EPLastAck
				if r.epf&epFinSent != 0 && r.epf&epCtlPending != 0 && before(p.Ack, r.ctlEnd) {
					// Sent before the peer's FIN arrived: simultaneous
					// close.
					s.ep = EPClosing
				}
			case EPSynRcvd, EPEstablished, EPSynSent:
				s.ep = EPFinWait1
			}
		}
		switch r.ep {
		case EPEstablished, EPSynRcvd:
			r.ep = EPCloseWait
		case EPFinWait1:
			r.ep = EPClosing
		case EPFinWait2:
			r.ep = EPTimeWait
		}
	}
}

// setAssuredLocked sets ASSURED and takes c off its shard's early-drop
// list.
func (t *Table) setAssuredLocked(c *Conn, now int64) {
	c.status |= packet.CTStatusAssured
	if c.flags&cfUnassured != 0 {
		t.shards[c.home].unlinkUnassuredLocked(c)
	}
	t.emitLocked(EventUpdate, c, now)
}

// tcpEstablished is tcpPacket for the segment nearly every packet of an
// established connection is: ACK (with or without PSH or data) on an
// ASSURED connection whose both directions are known, with no SACK block
// to weigh, and inside every window bound. It does what the general path
// does for such a segment, without the checks that cannot apply, and
// reports true; anything else it leaves untouched and reports false, for
// the general path. FuzzTCPFastPath holds the two paths to the same
// result.
func (t *Table) tcpEstablished(c *Conn, dir int, p *packet.Parsed, now int64) bool {
	st := &c.tcp
	sender, receiver := &st.seen[dir], &st.seen[1-dir]
	const known = packet.CTStatusSeenReply | packet.CTStatusAssured
	if c.status&known != known || sender.maxwin == 0 || receiver.maxwin == 0 ||
		p.TCPOpts.NumSACK != 0 && receiver.flags&tfSACKPerm != 0 {
		return false
	}
	seq, ack := p.Seq, p.Ack
	end := seq + uint32(p.PayloadN)
	if !before(seq, sender.maxend+1) || !before(ack, receiver.end+1) ||
		!after(end, sender.end-receiver.maxwin-1) || !after(ack, receiver.end-maxAckWindow(sender)-1) {
		return false
	}
	// tcpInWindow's updates with no SYN, an ACK, and sack == ack.
	win := uint32(p.Window) << sender.scale
	if sender.maxwin < win {
		sender.maxwin = win
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tfDataUnacknowledged
	}
	if sender.flags&tfMaxAckSet == 0 {
		sender.maxack = ack
		sender.flags |= tfMaxAckSet
	} else if after(ack, sender.maxack) {
		sender.maxack = ack
	}
	if after(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if after(ack+win, receiver.maxend-1) {
		receiver.maxend = ack + win
		if win == 0 {
			receiver.maxend++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tfDataUnacknowledged
	}
	if int(st.lastDir) == dir && st.lastSeq == seq && st.lastAck == ack && st.lastEnd == end && st.lastWin == p.Window {
		if st.retrans < 255 {
			st.retrans++
		}
	} else {
		st.lastSeq, st.lastAck, st.lastEnd, st.lastWin = seq, ack, end, p.Window
		st.retrans = 0
	}
	// tcpPacket's tail for ESTABLISHED to ESTABLISHED.
	st.lastIndex = tcpAckSet
	st.lastDir = uint8(dir)
	if receiver.epf&epCtlPending != 0 || sender.ep == EPSynRcvd {
		t.tcpEndpoints(c, dir, p)
	}
	to := &t.timeout.tcp
	timeout := to[TCPEstablished]
	switch {
	case st.retrans >= t.maxRetrans && timeout > to[toRetrans]:
		timeout = to[toRetrans]
	case (sender.flags|receiver.flags)&tfDataUnacknowledged != 0 && timeout > to[toUnack]:
		timeout = to[toUnack]
	case st.lastWin == 0 && timeout > to[toRetrans]:
		timeout = to[toRetrans]
	}
	c.expires = now + timeout
	return true
}
