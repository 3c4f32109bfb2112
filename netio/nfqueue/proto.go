package nfqueue

import (
	"encoding/binary"
	"errors"

	"fwd/packet"
)

// Wire constants of nfnetlink_queue, from include/uapi/linux/netfilter/
// nfnetlink_queue.h, nfnetlink.h and netfilter.h. They are spelled out
// here (instead of taken from x/sys/unix) so the whole protocol this
// package speaks is in one place.
const (
	nfnlSubsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket       = 0 // NFQNL_MSG_PACKET: kernel -> user
	msgVerdict      = 1 // NFQNL_MSG_VERDICT
	msgConfig       = 2 // NFQNL_MSG_CONFIG
	msgVerdictBatch = 3 // NFQNL_MSG_VERDICT_BATCH

	// NFQA_* attributes of packet and verdict messages.
	attrPacketHdr  = 1  // struct nfqnl_msg_packet_hdr {__be32 id; __be16 hw_protocol; __u8 hook}
	attrVerdictHdr = 2  // struct nfqnl_msg_verdict_hdr {__be32 verdict; __be32 id}
	attrMark       = 3  // __be32
	attrTimestamp  = 4  // struct nfqnl_msg_packet_timestamp {__be64 sec; __be64 usec}
	attrInDev      = 5  // __be32 ifindex
	attrOutDev     = 6  // __be32 ifindex
	attrPhysInDev  = 7  // __be32 ifindex (bridge port)
	attrPhysOutDev = 8  // __be32 ifindex (bridge port)
	attrHWAddr     = 9  // struct nfqnl_msg_packet_hw {__be16 hw_addrlen; __u16 pad; __u8 hw_addr[8]}
	attrPayload    = 10 // the packet from the network header on
	attrCapLen     = 13 // __be32: the original length when the payload was cut
	attrSKBInfo    = 14 // __be32: NFQA_SKB_* bits

	// NFQA_CFG_* attributes of config messages.
	cfgCmd    = 1 // struct nfqnl_msg_config_cmd {__u8 command; __u8 pad; __be16 pf}
	cfgParams = 2 // struct nfqnl_msg_config_params {__be32 copy_range; __u8 copy_mode} (packed)
	cfgMaxLen = 3 // __be32
	cfgMask   = 4 // __be32
	cfgFlags  = 5 // __be32

	cmdBind     = 1 // NFQNL_CFG_CMD_BIND
	cmdUnbind   = 2 // NFQNL_CFG_CMD_UNBIND
	cmdPFBind   = 3 // NFQNL_CFG_CMD_PF_BIND (a no-op since Linux 3.8)
	cmdPFUnbind = 4 // NFQNL_CFG_CMD_PF_UNBIND (a no-op since Linux 3.8)

	copyPacket = 2 // NFQNL_COPY_PACKET

	flagFailOpen = 0x01 // NFQA_CFG_F_FAIL_OPEN
	flagGSO      = 0x04 // NFQA_CFG_F_GSO

	// NFQA_SKB_* bits of NFQA_SKB_INFO.
	skbCsumNotReady    = 0x1 // the L4 checksum holds only the pseudo-header sum (CHECKSUM_PARTIAL)
	skbGSO             = 0x2 // a GSO/GRO super-packet, larger than the MTU
	skbCsumNotVerified = 0x4 // nobody verified the L4 checksum yet

	// netlink framing (include/uapi/linux/netlink.h).
	nlmsgHdrLen  = 16
	nfgenHdrLen  = 4
	nlaHdrLen    = 4
	nlaTypeMask  = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nlmsgError   = 2      // NLMSG_ERROR
	nlmFRequest  = 0x1    // NLM_F_REQUEST
	nlmFAck      = 0x4    // NLM_F_ACK
	afUnspec     = 0
	afINET       = 2
	nfnetlinkV0  = 0
	maxPayload   = 0xffff // netlink attribute lengths are u16
	hwAddrMaxLen = 8
)

// Netfilter hook numbers as NFQA_PACKET_HDR carries them for IPv4
// (enum nf_inet_hooks).
const (
	HookPrerouting  = 0 // NF_INET_PRE_ROUTING
	HookInput       = 1 // NF_INET_LOCAL_IN
	HookForward     = 2 // NF_INET_FORWARD
	HookOutput      = 3 // NF_INET_LOCAL_OUT
	HookPostrouting = 4 // NF_INET_POST_ROUTING
)

// Verdict is what the kernel does with a queued packet. The values are
// netfilter's NF_* verdicts. The zero value is Drop, so a forgotten verdict
// fails closed, as pipeline.Verdict does.
type Verdict uint32

const (
	Drop   Verdict = 0 // NF_DROP
	Accept Verdict = 1 // NF_ACCEPT: continue with the next rule/hook
	Repeat Verdict = 4 // NF_REPEAT: run the same hook again (the packet may be queued again)
)

func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Accept:
		return "accept"
	case Repeat:
		return "repeat"
	}
	return "unknown"
}

// Msg is one queued packet as ReadBatch returns it.
type Msg struct {
	// ID is the kernel's packet id; a verdict names it.
	ID uint32
	// HWProtocol is the link-layer protocol (0x0800 for IPv4).
	HWProtocol uint16
	// Hook is the netfilter hook number (HookPrerouting ... HookPostrouting).
	Hook uint8
	// Family is the nfgenmsg family: 2 (NFPROTO_IPV4) or 10 (NFPROTO_IPV6).
	Family uint8
	// Mark is skb->mark. Valid iff HasMark (the kernel omits a zero mark).
	Mark    uint32
	HasMark bool
	// InDev and OutDev are interface indexes; 0 when absent (no input
	// device at OUTPUT, no output device at PREROUTING/INPUT).
	InDev, OutDev uint32
	// HWAddr is the source link-layer address, HWAddrLen bytes of it;
	// present for packets received on Ethernet-like devices.
	HWAddr    [hwAddrMaxLen]byte
	HWAddrLen uint8
	// CapLen is the original length of a packet whose payload was cut to
	// the copy range; 0 when Payload is whole.
	CapLen uint32
	// SKBInfo holds NFQA_SKB_* bits; see GSO and ChecksumNotReady.
	SKBInfo uint32
	// Payload is the packet from its network header on. It aliases the
	// queue's receive buffer: valid until the next ReadBatch. It may be
	// rewritten in place and passed back to Verdict.
	Payload []byte
}

// PacketHook maps Hook to the pipeline's hook name (HookNone when the
// number is not an IPv4 hook).
func (m *Msg) PacketHook() packet.Hook {
	switch m.Hook {
	case HookPrerouting:
		return packet.Prerouting
	case HookInput:
		return packet.Input
	case HookForward:
		return packet.Forward
	case HookOutput:
		return packet.Output
	case HookPostrouting:
		return packet.Postrouting
	}
	return packet.HookNone
}

// Truncated reports whether Payload is shorter than the packet.
func (m *Msg) Truncated() bool { return m.CapLen != 0 }

// GSO reports whether the packet is a GSO/GRO super-packet (only with
// Options.GSO): larger than the MTU, segmented by the kernel after the
// verdict.
func (m *Msg) GSO() bool { return m.SKBInfo&skbGSO != 0 }

// ChecksumNotReady reports whether the transport checksum holds only the
// pseudo-header sum (CHECKSUM_PARTIAL: the NIC or the kernel fills it in
// later). Such packets come only with Options.GSO. Verifying their L4
// checksum fails; rewriting them is fine if the checksum is updated
// incrementally, but note that the kernel marks a rewritten payload
// CHECKSUM_NONE (nfqnl_mangle), so a rewritten packet must carry a full,
// correct checksum.
func (m *Msg) ChecksumNotReady() bool { return m.SKBInfo&skbCsumNotReady != 0 }

// Parse errors. They are sentinels: parsing allocates nothing.
var (
	errShortMsg   = errors.New("nfqueue: short netlink message")
	errBadAttr    = errors.New("nfqueue: malformed netlink attribute")
	errNoHdr      = errors.New("nfqueue: packet message without NFQA_PACKET_HDR")
	errNotPacket  = errors.New("nfqueue: not a packet message")
	errBadPayload = errors.New("nfqueue: payload longer than 65535")
)

// msgKind says what one netlink message in a receive buffer is.
type msgKind uint8

const (
	kindOther  msgKind = iota // ignored (NLMSG_NOOP, NLMSG_DONE, other subsystems)
	kindPacket                // NFQNL_MSG_PACKET, parsed into a Msg
	kindError                 // NLMSG_ERROR with a non-zero code
	kindAck                   // NLMSG_ERROR with code 0
)

// nextMsg splits the first netlink message off b. It returns the whole
// message (header included) and the rest, or errShortMsg when b does not
// hold a well-formed header and body.
func nextMsg(b []byte) (msg, rest []byte, err error) {
	if len(b) < nlmsgHdrLen {
		return nil, nil, errShortMsg
	}
	l := int(binary.NativeEndian.Uint32(b[0:4]))
	if l < nlmsgHdrLen || l > len(b) {
		return nil, nil, errShortMsg
	}
	al := align4(l)
	if al > len(b) {
		al = len(b)
	}
	return b[:l], b[al:], nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// classify looks at one netlink message (from nextMsg) and, for a packet
// message, parses it into m. For an NLMSG_ERROR it returns the errno
// (positive) and the sequence number of the request that failed.
func classify(msg []byte, m *Msg) (kind msgKind, errno int32, seq uint32, err error) {
	typ := binary.NativeEndian.Uint16(msg[4:6])
	if typ == nlmsgError {
		if len(msg) < nlmsgHdrLen+4+nlmsgHdrLen {
			// CAP_ACK may omit the echoed header's body but not the header.
			if len(msg) < nlmsgHdrLen+4 {
				return kindOther, 0, 0, errShortMsg
			}
		}
		code := int32(binary.NativeEndian.Uint32(msg[nlmsgHdrLen : nlmsgHdrLen+4]))
		if len(msg) >= nlmsgHdrLen+4+nlmsgHdrLen {
			seq = binary.NativeEndian.Uint32(msg[nlmsgHdrLen+4+8 : nlmsgHdrLen+4+12])
		}
		if code == 0 {
			return kindAck, 0, seq, nil
		}
		return kindError, -code, seq, nil
	}
	if typ != nfnlSubsysQueue<<8|msgPacket {
		return kindOther, 0, 0, nil
	}
	if err := parsePacket(msg[nlmsgHdrLen:], m); err != nil {
		return kindOther, 0, 0, err
	}
	return kindPacket, 0, 0, nil
}

// parsePacket parses the body of an NFQNL_MSG_PACKET (nfgenmsg and
// attributes) into m. Payload aliases b. It allocates nothing. Unknown
// attributes are skipped, as the kernel adds new ones over time.
//
// This is libnetfilter_queue's nfq_nlmsg_parse + nfq_get_* in one pass.
func parsePacket(b []byte, m *Msg) error {
	*m = Msg{}
	if len(b) < nfgenHdrLen {
		return errShortMsg
	}
	m.Family = b[0]
	b = b[nfgenHdrLen:]
	gotHdr := false
	for len(b) > 0 {
		if len(b) < nlaHdrLen {
			return errBadAttr
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(b) {
			return errBadAttr
		}
		v := b[nlaHdrLen:l]
		switch typ {
		case attrPacketHdr:
			if len(v) < 7 {
				return errBadAttr
			}
			m.ID = binary.BigEndian.Uint32(v[0:4])
			m.HWProtocol = binary.BigEndian.Uint16(v[4:6])
			m.Hook = v[6]
			gotHdr = true
		case attrMark:
			if len(v) < 4 {
				return errBadAttr
			}
			m.Mark = binary.BigEndian.Uint32(v)
			m.HasMark = true
		case attrInDev:
			if len(v) < 4 {
				return errBadAttr
			}
			m.InDev = binary.BigEndian.Uint32(v)
		case attrOutDev:
			if len(v) < 4 {
				return errBadAttr
			}
			m.OutDev = binary.BigEndian.Uint32(v)
		case attrHWAddr:
			if len(v) < 4 {
				return errBadAttr
			}
			n := int(binary.BigEndian.Uint16(v[0:2]))
			if n > hwAddrMaxLen || 4+n > len(v) {
				return errBadAttr
			}
			copy(m.HWAddr[:], v[4:4+n])
			m.HWAddrLen = uint8(n)
		case attrCapLen:
			if len(v) < 4 {
				return errBadAttr
			}
			m.CapLen = binary.BigEndian.Uint32(v)
		case attrSKBInfo:
			if len(v) < 4 {
				return errBadAttr
			}
			m.SKBInfo = binary.BigEndian.Uint32(v)
		case attrPayload:
			if len(v) > maxPayload {
				return errBadPayload
			}
			m.Payload = v
		}
		al := align4(l)
		if al > len(b) {
			al = len(b)
		}
		b = b[al:]
	}
	if !gotHdr {
		return errNoHdr
	}
	return nil
}

// putHdr writes a netlink header and an nfgenmsg for queue at b[0:20]. The
// length is fixed up by finishMsg.
func putHdr(b []byte, typ uint16, flags uint16, seq uint32, family uint8, queue uint16) {
	binary.NativeEndian.PutUint32(b[0:4], 0)
	binary.NativeEndian.PutUint16(b[4:6], nfnlSubsysQueue<<8|typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	binary.NativeEndian.PutUint32(b[12:16], 0) // port id 0: the kernel fills in ours
	b[16] = family
	b[17] = nfnetlinkV0
	binary.BigEndian.PutUint16(b[18:20], queue)
}

// appendMsgHdr appends a netlink + nfgenmsg header and returns the buffer
// and the offset of the message start.
func appendMsgHdr(b []byte, typ, flags uint16, seq uint32, family uint8, queue uint16) ([]byte, int) {
	start := len(b)
	b = append(b, make20[:]...)
	putHdr(b[start:], typ, flags, seq, family, queue)
	return b, start
}

var make20 [nlmsgHdrLen + nfgenHdrLen]byte

// appendAttr appends one attribute with value v, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	var h [nlaHdrLen]byte
	binary.NativeEndian.PutUint16(h[0:2], uint16(nlaHdrLen+len(v)))
	binary.NativeEndian.PutUint16(h[2:4], typ)
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendAttrU32 appends a big-endian u32 attribute.
func appendAttrU32(b []byte, typ uint16, v uint32) []byte {
	var x [4]byte
	binary.BigEndian.PutUint32(x[:], v)
	return appendAttr(b, typ, x[:])
}

// appendVerdictHdr appends NFQA_VERDICT_HDR.
func appendVerdictHdr(b []byte, v Verdict, id uint32) []byte {
	var x [8]byte
	binary.BigEndian.PutUint32(x[0:4], uint32(v))
	binary.BigEndian.PutUint32(x[4:8], id)
	return appendAttr(b, attrVerdictHdr, x[:])
}

// finishMsg writes the length of the message that starts at start.
func finishMsg(b []byte, start int) {
	binary.NativeEndian.PutUint32(b[start:start+4], uint32(len(b)-start))
}

// appendVerdict appends one NFQNL_MSG_VERDICT (or, with batch, an
// NFQNL_MSG_VERDICT_BATCH, which applies to every queued packet with an id
// up to and including id) to b. mark is sent when hasMark; payload when
// non-nil (not with batch: the kernel ignores it there).
func appendVerdict(b []byte, queue uint16, batch bool, id uint32, v Verdict, hasMark bool, mark uint32, payload []byte) []byte {
	typ := uint16(msgVerdict)
	if batch {
		typ = msgVerdictBatch
	}
	b, start := appendMsgHdr(b, typ, nlmFRequest, 0, afUnspec, queue)
	b = appendVerdictHdr(b, v, id)
	if hasMark {
		b = appendAttrU32(b, attrMark, mark)
	}
	if payload != nil && !batch {
		b = appendAttr(b, attrPayload, payload)
	}
	finishMsg(b, start)
	return b
}

// verdictSize is the encoded size of a verdict message.
func verdictSize(hasMark bool, payloadLen int, withPayload bool) int {
	n := nlmsgHdrLen + nfgenHdrLen + nlaHdrLen + 8
	if hasMark {
		n += nlaHdrLen + 4
	}
	if withPayload {
		n += nlaHdrLen + align4(payloadLen)
	}
	return n
}
