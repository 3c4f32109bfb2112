package conntrack

import (
	"unsafe"

	"fwd/header"
	"fwd/packet"
)

// Direction of a packet relative to its connection.
const (
	Original = 0
	Reply    = 1
)

// TCPState is the middlebox view of a TCP connection, Linux's
// enum tcp_conntrack. The zero value is TCPNone.
type TCPState uint8

const (
	TCPNone TCPState = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
	numTCPStates
	tcpInvalid TCPState = numTCPStates     // sIV in the state table
	tcpIgnore  TCPState = numTCPStates + 1 // sIG in the state table
)

var tcpStateNames = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "INVALID"
}

// ParseTCPState maps a conntrack-tools state name to a TCPState.
func ParseTCPState(s string) (TCPState, bool) {
	for i, n := range tcpStateNames {
		if n == s {
			return TCPState(i), true
		}
	}
	return 0, false
}

// EndpointState is one endpoint's RFC 9293 (793) state as fwd derives it
// from what the endpoint sent and saw acknowledged. The zero value is
// EPClosed.
type EndpointState uint8

const (
	EPClosed EndpointState = iota
	EPListen
	EPSynSent
	EPSynRcvd
	EPEstablished
	EPFinWait1
	EPFinWait2
	EPClosing
	EPTimeWait
	EPCloseWait
	EPLastAck
)

var epNames = [...]string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"}

func (s EndpointState) String() string {
	if int(s) < len(epNames) {
		return epNames[s]
	}
	return "UNKNOWN"
}

// Per-direction TCP tracking flags (Linux's IP_CT_TCP_FLAG_*).
const (
	tfWindowScale        uint8 = 1 << iota // the SYN carried window scale
	tfSACKPerm                             // the SYN carried SACK permitted
	tfCloseInit                            // this side sent the first FIN
	tfBeLiberal                            // no window checks (picked up)
	tfDataUnacknowledged                   // data in flight
	tfMaxAckSet                            // td_maxack is valid
	tfExpChallengeAck                      // (last_flags) a challenge ACK may follow
	tfSimultaneousOpen                     // (last_flags) SYN_SENT2 was entered
)

// Endpoint flags for the RFC 793 view.
const (
	epSawSYN     uint8 = 1 << iota // this endpoint received the peer's SYN
	epCtlPending                   // ctlEnd (SYN or FIN) awaits an ACK
	epFinSent
	epSynTS // synTSFirst/Last are valid
)

// lfRefusedReply, in tcpConn.lastFlags: the last reply-direction packet in
// SYN_SENT was one the client refuses (bad ACK or timestamp echo); its ack
// is in lastAck. The client answers such a segment with a RST whose seq is
// that ack (RFC 9293 §3.10.7.3) and stays in SYN-SENT.
const lfRefusedReply = tfCloseInit

// tcpDir is what one direction of a TCP connection has shown
// (struct ip_ct_tcp_state), plus the endpoint view.
type tcpDir struct {
	end    uint32 // td_end: highest seq+len sent
	maxend uint32 // td_maxend: highest ack+win seen from the peer
	maxwin uint32 // td_maxwin: largest (scaled) window
	maxack uint32 // td_maxack: highest ack sent
	ctlEnd uint32 // end of the last SYN or FIN sent (endpoint view)
	scale  uint8
	flags  uint8
	ep     EndpointState
	epf    uint8
}

// tcpConn is the TCP part of a connection (struct ip_ct_tcp).
type tcpConn struct {
	seen       [2]tcpDir
	lastSeq    uint32
	lastAck    uint32
	lastEnd    uint32
	lastWin    uint16
	lastDir    uint8
	lastIndex  uint8
	lastWscale uint8
	lastFlags  uint8
	retrans    uint8
	state      TCPState
	// TSval of the first and the latest SYN of the original direction,
	// valid when seen[0].epf has epSynTS: in SYN_SENT a reply must echo
	// one of them (RFC 7323 §3.2; tcp_rcv_synsent_state_process).
	synTSFirst, synTSLast uint32
}

// Conn flags (internal).
const (
	cfConfirmed uint8 = 1 << iota
	cfLive            // in a slab slot and indexed
	cfPooled          // an unconfirmed entry from the pool
	cfUnassured       // on its shard's early-drop list
	cfSym             // one symmetric index entry serves both tuples
)

// Conn is one tracked connection. It holds no Go pointers, so slabs of
// them cost the garbage collector nothing to scan.
//
// A Conn's fields are guarded by its home shard's mutex (the shard of its
// original tuple); tuples, hashes and gen change only with both shards
// of the connection locked. home, idx and slab are fixed when the slab
// chunk is made and may be read without a lock. Packets carry a *Conn in
// pkt.CT between the conntrack stage and the end of their pipeline run. A
// freed slot is reused last (the free list is FIFO), so a packet in
// flight is very unlikely to see its Conn reused; Gen tells when it was.
type Conn struct {
	connData
	home uint8 // shard of the original tuple, owner of the slot
	slab bool  // false for an unconfirmed connection from the pool
	idx  uint32
}

// connData is the part of a Conn that moves from an unconfirmed
// connection into its slab slot at confirmation.
type connData struct {
	tuple   [2]Tuple
	status  packet.CTStatus
	flags   uint8
	rshard  uint8 // shard of the reply tuple
	hash    [2]uint32
	gen     uint32 // bumped each time the slot is freed
	prev    uint32 // early-drop list links (slot+1, 0 = none); next doubles as the free-list link
	next    uint32
	mark    uint32
	expires int64 // pipeline clock, ns
	start   int64 // when the first packet was seen; UDP stream_ts is start+2s
	packets [2]uint64
	bytes   [2]uint64
	tcp     tcpConn
}

// Original returns the original-direction tuple.
func (c *Conn) Original() Tuple { return c.tuple[Original] }

// ReplyTuple returns the reply-direction tuple (what replies look like,
// after any NAT).
func (c *Conn) ReplyTuple() Tuple { return c.tuple[Reply] }

// Tuples returns the connection's two tuples, original then reply, in
// place: reading them through the pointer saves copying 28 bytes per
// packet. The caller must not write them. A confirmed connection's tuples
// do not change while it lives.
func (c *Conn) Tuples() *[2]Tuple { return &c.tuple }

// Proto returns the IP protocol.
func (c *Conn) Proto() uint8 { return c.tuple[Original].Proto }

// Confirmed reports whether the connection is in the table.
func (c *Conn) Confirmed() bool { return c.slab }

// Gen returns the slot generation; it changes when the slot is freed.
func (c *Conn) Gen() uint32 { return c.gen }

// SetReplyTuple sets the reply tuple of an unconfirmed connection, as NAT
// does on the first packet (nf_nat_setup_info changes the reply tuple
// before __nf_conntrack_confirm). It returns false, changing nothing, on
// a confirmed connection. Only the goroutine holding the packet may call
// it.
func (c *Conn) SetReplyTuple(t Tuple) bool {
	if c.slab {
		return false
	}
	t.Proto = c.tuple[Original].Proto
	c.tuple[Reply] = t
	return true
}

// SetStatus ORs bits (e.g. packet.CTStatusSNAT/DNAT) into an unconfirmed
// connection's status; confirmed ones go through Table.SetStatus.
func (c *Conn) SetStatus(bits packet.CTStatus) bool {
	if c.slab {
		return false
	}
	c.status |= bits
	return true
}

// Entry is a copy of a connection at one moment, for listing and events.
type Entry struct {
	Orig, Reply Tuple
	State       TCPState         // TCP only
	Endpoint    [2]EndpointState // TCP only: original and reply endpoints
	Status      packet.CTStatus
	Mark        uint32
	Expires     int64 // pipeline clock, ns
	Start       int64
	Packets     [2]uint64
	Bytes       [2]uint64
}

// snapshot copies c. The caller holds c's home shard lock.
func (c *Conn) snapshot(e *Entry) {
	*e = Entry{Orig: c.tuple[0], Reply: c.tuple[1], Status: c.status, Mark: c.mark,
		Expires: c.expires, Start: c.start, Packets: c.packets, Bytes: c.bytes}
	if c.tuple[0].Proto == header.ProtoTCP {
		e.State = c.tcp.state
		e.Endpoint = [2]EndpointState{c.tcp.seen[0].ep, c.tcp.seen[1].ep}
	}
}

// Timeout returns the seconds left at now (conntrack -L's third field).
func (e *Entry) Timeout(now int64) int64 {
	d := e.Expires - now
	if d < 0 {
		return 0
	}
	return d / 1e9
}

// sizeofConn is the size of one slab entry.
const sizeofConn = unsafe.Sizeof(Conn{})
