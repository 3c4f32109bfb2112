package header

import "encoding/binary"

// ARP is a view over an ARP packet for Ethernet and IPv4 (RFC 826), the
// only kind fwd speaks:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Hardware type (1)         |    Protocol type (0x0800)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| HW len (6)    | Proto len (4) |  Operation (1 req, 2 reply)   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Sender hardware address (SHA)                 |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |  Sender protocol address (SPA)|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  SPA (cont.)                  |  Target hardware address (THA)|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Target protocol address (TPA)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Precondition for every accessor but Validate: Validate returned
// ReasonNone for this slice.
type ARP []byte

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24
	ARPSize  = 28

	// ARPFrameSize is the length of the frames the builders write: an
	// untagged Ethernet header and the ARP packet, without the padding to
	// the 60-byte Ethernet minimum (the device or the kernel pads).
	ARPFrameSize = EthernetMinSize + ARPSize
)

// ARP field values (RFC 826; IANA "Address Resolution Protocol Parameters").
const (
	ARPHardwareEthernet uint16 = 1
	ARPRequest          uint16 = 1
	ARPReply            uint16 = 2
)

// Validate checks the packet fits and is Ethernet/IPv4 ARP: hardware type
// 1, protocol type 0x0800, address lengths 6 and 4. The operation is not
// checked (callers answer requests and learn from both requests and
// replies, as Linux's arp_process does).
func (b ARP) Validate() Reason {
	if len(b) < ARPSize {
		return ReasonTruncated
	}
	if binary.BigEndian.Uint16(b[arpHType:]) != ARPHardwareEthernet ||
		binary.BigEndian.Uint16(b[arpPType:]) != EtherTypeIPv4 ||
		b[arpHLen] != 6 || b[arpPLen] != 4 {
		return ReasonBadARP
	}
	return ReasonNone
}

func (b ARP) HardwareType() uint16           { return binary.BigEndian.Uint16(b[arpHType:]) }
func (b ARP) ProtocolType() uint16           { return binary.BigEndian.Uint16(b[arpPType:]) }
func (b ARP) HardwareAddressLength() uint8   { return b[arpHLen] }
func (b ARP) ProtocolAddressLength() uint8   { return b[arpPLen] }
func (b ARP) Op() uint16                     { return binary.BigEndian.Uint16(b[arpOp:]) }
func (b ARP) SenderHardwareAddress() [6]byte { return [6]byte(b[arpSHA : arpSHA+6]) }
func (b ARP) SenderProtocolAddress() [4]byte { return [4]byte(b[arpSPA : arpSPA+4]) }
func (b ARP) TargetHardwareAddress() [6]byte { return [6]byte(b[arpTHA : arpTHA+6]) }
func (b ARP) TargetProtocolAddress() [4]byte { return [4]byte(b[arpTPA : arpTPA+4]) }

// IsGratuitous reports whether the packet announces its sender's own
// address: sender and target protocol addresses are equal (RFC 5227 §3,
// RFC 5944 §4.6), whether sent as a request or as a reply.
func (b ARP) IsGratuitous() bool {
	return b.SenderProtocolAddress() == b.TargetProtocolAddress()
}

// Encode writes an Ethernet/IPv4 ARP packet with operation op into b,
// which must hold ARPSize bytes.
func (b ARP) Encode(op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) {
	_ = b[ARPSize-1]
	binary.BigEndian.PutUint16(b[arpHType:], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], op)
	copy(b[arpSHA:arpSHA+6], sha[:])
	copy(b[arpSPA:arpSPA+4], spa[:])
	copy(b[arpTHA:arpTHA+6], tha[:])
	copy(b[arpTPA:arpTPA+4], tpa[:])
}

// BuildARPRequest writes into buf a broadcast Ethernet frame asking who has
// targetIP, from srcMAC/srcIP, and returns the frame length (ARPFrameSize),
// or 0 when buf is shorter than that. The target hardware address is zero
// (RFC 826 leaves it unspecified; Linux sends zero).
func BuildARPRequest(buf []byte, srcMAC [6]byte, srcIP, targetIP [4]byte) int {
	if len(buf) < ARPFrameSize {
		return 0
	}
	EncodeEthernet(buf, BroadcastMAC, srcMAC, EtherTypeARP)
	ARP(buf[EthernetMinSize:]).Encode(ARPRequest, srcMAC, srcIP, [6]byte{}, targetIP)
	return ARPFrameSize
}

// BuildARPReply writes into buf a unicast Ethernet frame to dstMAC telling
// dstIP that srcIP is at srcMAC, and returns the frame length
// (ARPFrameSize), or 0 when buf is shorter than that. To answer a request
// r, pass srcMAC = own MAC, srcIP = r.TargetProtocolAddress(), dstMAC =
// r.SenderHardwareAddress(), dstIP = r.SenderProtocolAddress().
func BuildARPReply(buf []byte, srcMAC [6]byte, srcIP [4]byte, dstMAC [6]byte, dstIP [4]byte) int {
	if len(buf) < ARPFrameSize {
		return 0
	}
	EncodeEthernet(buf, dstMAC, srcMAC, EtherTypeARP)
	ARP(buf[EthernetMinSize:]).Encode(ARPReply, srcMAC, srcIP, dstMAC, dstIP)
	return ARPFrameSize
}

// BuildGratuitousARP writes into buf a broadcast ARP announcement of ip at
// mac and returns the frame length (ARPFrameSize), or 0 when buf is too
// short. It is a request with sender and target protocol addresses both ip
// and a zero target hardware address, the form RFC 5227 §2.3 prescribes
// ("ARP Announcement") and Linux's arping -U sends.
func BuildGratuitousARP(buf []byte, mac [6]byte, ip [4]byte) int {
	return BuildARPRequest(buf, mac, ip, ip)
}
