package router

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"

	"fwd/config"
	"fwd/header"
)

// DefaultMTU is an interface's MTU when the configuration gives none.
const DefaultMTU = 1500

// Iface is one of the router's interfaces in TAP mode: fwd's own end of a
// link, with the MAC address fwd sends from and the address (and connected
// subnet) it answers ARP and ICMP for.
type Iface struct {
	Index int          // position in config.Config.Interfaces; packet.Packet.InIf/OutIf
	Name  string       // the configured interface name
	MAC   [6]byte      // fwd's hardware address on the link
	Addr  netip.Prefix // the router's address and the connected subnet's length
	MTU   int

	ip         [4]byte // Addr.Addr()
	net, mask  uint32
	bcast      [4]byte // the subnet's directed broadcast address
	hasSubnetB bool    // the subnet has a broadcast address (prefix < 31)
}

// NewIface returns an interface; a zero mac is derived from the name
// (DeriveMAC) and a zero mtu is DefaultMTU.
func NewIface(index int, name string, mac [6]byte, addr netip.Prefix, mtu int) Iface {
	if mac == ([6]byte{}) {
		mac = DeriveMAC(name)
	}
	if mtu == 0 {
		mtu = DefaultMTU
	}
	ifc := Iface{Index: index, Name: name, MAC: mac, Addr: addr, MTU: mtu}
	if addr.IsValid() && addr.Addr().Is4() {
		ifc.ip = addr.Addr().As4()
		if b := addr.Bits(); b > 0 {
			ifc.mask = ^uint32(0) << (32 - b)
		}
		ifc.net = binary.BigEndian.Uint32(ifc.ip[:]) & ifc.mask
		binary.BigEndian.PutUint32(ifc.bcast[:], ifc.net|^ifc.mask)
		ifc.hasSubnetB = addr.Bits() < 31
	}
	return ifc
}

// Ifaces returns the router's interfaces as cfg configures them, indexed
// as cfg.Interfaces.
func Ifaces(cfg *config.Config) []Iface {
	if cfg == nil {
		return nil
	}
	out := make([]Iface, len(cfg.Interfaces))
	for i, c := range cfg.Interfaces {
		out[i] = NewIface(i, c.Name, c.MAC, c.Addr, c.MTU)
	}
	return out
}

// DeriveMAC returns a stable, locally administered unicast MAC address for
// an interface name (02:xx:xx:xx:xx:xx from an FNV-1a hash), so a
// configuration without `mac` keeps its addresses across restarts.
func DeriveMAC(name string) [6]byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	var m [6]byte
	m[0] = 0x02
	for i := 1; i < 6; i++ {
		m[i] = byte(s >> (8 * (i - 1)))
	}
	return m
}

// IP returns the router's address on the interface.
func (i *Iface) IP() [4]byte { return i.ip }

// OnLink reports whether a is in the interface's connected subnet.
func (i *Iface) OnLink(a [4]byte) bool {
	return binary.BigEndian.Uint32(a[:])&i.mask == i.net
}

// IsBroadcast reports whether a is the limited broadcast address or the
// subnet's directed broadcast address.
func (i *Iface) IsBroadcast(a [4]byte) bool {
	return a == [4]byte{255, 255, 255, 255} || (i.hasSubnetB && a == i.bcast)
}

func (i *Iface) String() string {
	return fmt.Sprintf("%s(%d) %s %s mtu %d", i.Name, i.Index, i.Addr, macString(i.MAC), i.MTU)
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Encap writes an untagged Ethernet header (dstMAC, srcMAC, ethertype) into
// b[:14] and returns 14, or 0 when b is shorter. The device loop calls it
// with the headroom in front of a datagram:
//
//	n := router.Encap(buf[packet.Headroom-14:], ifc.MAC, mac, header.EtherTypeIPv4)
func Encap(b []byte, srcMAC, dstMAC [6]byte, ethertype uint16) int {
	return header.EncodeEthernet(b, dstMAC, srcMAC, ethertype)
}
