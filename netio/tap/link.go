package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Link configuration goes through rtnetlink (RTM_NEWLINK/RTM_GETLINK), the
// same messages `ip link set` sends, using github.com/mdlayher/netlink and
// a hand-encoded struct ifinfomsg: the handful of attributes fwd sets (MTU,
// address, master, namespace, up) did not justify a second netlink library.

// ifinfomsg is struct ifinfomsg (include/uapi/linux/rtnetlink.h):
//
//	unsigned char ifi_family; unsigned char pad;
//	unsigned short ifi_type; int ifi_index;
//	unsigned ifi_flags; unsigned ifi_change;
type ifinfomsg struct {
	index         int32
	flags, change uint32
}

const ifinfomsgLen = 16

func (m ifinfomsg) marshal(attrs []byte) []byte {
	b := make([]byte, ifinfomsgLen, ifinfomsgLen+len(attrs))
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(m.index))
	binary.NativeEndian.PutUint32(b[8:], m.flags)
	binary.NativeEndian.PutUint32(b[12:], m.change)
	return append(b, attrs...)
}

// linkInfo is what fwd reads back about a link.
type linkInfo struct {
	Index int
	Name  string
	MTU   int
	MAC   [6]byte
	Up    bool
}

// rtnl is a route netlink connection in one network namespace (nsFD, or
// the calling thread's when nsFD < 0).
type rtnl struct {
	c *netlink.Conn
}

func dialRTNL(nsFD int) (*rtnl, error) {
	cfg := &netlink.Config{}
	if nsFD > 0 {
		cfg.NetNS = nsFD
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, cfg)
	if err != nil {
		return nil, fmt.Errorf("tap: rtnetlink: %w", err)
	}
	return &rtnl{c: c}, nil
}

func (r *rtnl) close() { r.c.Close() }

func (r *rtnl) execute(typ uint16, flags netlink.HeaderFlags, data []byte) ([]netlink.Message, error) {
	return r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags},
		Data:   data,
	})
}

// setLink sends RTM_NEWLINK for index with the given flag change and
// attributes (built by fn), like `ip link set`.
func (r *rtnl) setLink(index int, flags, change uint32, fn func(ae *netlink.AttributeEncoder)) error {
	ae := netlink.NewAttributeEncoder()
	if fn != nil {
		fn(ae)
	}
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = r.execute(unix.RTM_NEWLINK, netlink.Acknowledge,
		ifinfomsg{index: int32(index), flags: flags, change: change}.marshal(attrs))
	return err
}

// getLink returns the link named name (index 0) or with index.
func (r *rtnl) getLink(index int, name string) (linkInfo, error) {
	ae := netlink.NewAttributeEncoder()
	if index == 0 {
		ae.String(unix.IFLA_IFNAME, name)
	}
	attrs, err := ae.Encode()
	if err != nil {
		return linkInfo{}, err
	}
	msgs, err := r.execute(unix.RTM_GETLINK, 0, ifinfomsg{index: int32(index)}.marshal(attrs))
	if err != nil {
		return linkInfo{}, err
	}
	for _, m := range msgs {
		if len(m.Data) < ifinfomsgLen {
			continue
		}
		li := linkInfo{
			Index: int(int32(binary.NativeEndian.Uint32(m.Data[4:]))),
			Up:    binary.NativeEndian.Uint32(m.Data[8:])&unix.IFF_UP != 0,
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[ifinfomsgLen:])
		if err != nil {
			return linkInfo{}, err
		}
		for ad.Next() {
			switch ad.Type() {
			case unix.IFLA_IFNAME:
				li.Name = ad.String()
			case unix.IFLA_MTU:
				li.MTU = int(ad.Uint32())
			case unix.IFLA_ADDRESS:
				if b := ad.Bytes(); len(b) == 6 {
					li.MAC = [6]byte(b)
				}
			}
		}
		if err := ad.Err(); err != nil {
			return linkInfo{}, err
		}
		return li, nil
	}
	return linkInfo{}, errors.New("tap: no such link")
}

func (r *rtnl) setMTU(index, mtu int) error {
	return r.setLink(index, 0, 0, func(ae *netlink.AttributeEncoder) { ae.Uint32(unix.IFLA_MTU, uint32(mtu)) })
}

func (r *rtnl) setMAC(index int, mac [6]byte) error {
	return r.setLink(index, 0, 0, func(ae *netlink.AttributeEncoder) { ae.Bytes(unix.IFLA_ADDRESS, mac[:]) })
}

func (r *rtnl) setUp(index int, up bool) error {
	var f uint32
	if up {
		f = unix.IFF_UP
	}
	return r.setLink(index, f, unix.IFF_UP, nil)
}

// setMaster enslaves the link to a bridge (`ip link set dev X master BR`);
// master 0 releases it (`nomaster`).
func (r *rtnl) setMaster(index, master int) error {
	return r.setLink(index, 0, 0, func(ae *netlink.AttributeEncoder) { ae.Uint32(unix.IFLA_MASTER, uint32(master)) })
}

// setNetns moves the link into the namespace nsFD refers to (`ip link set
// dev X netns NS`, IFLA_NET_NS_FD). The kernel takes the link down on the
// way (dev_change_net_namespace closes it).
func (r *rtnl) setNetns(index, nsFD int) error {
	return r.setLink(index, 0, 0, func(ae *netlink.AttributeEncoder) { ae.Uint32(unix.IFLA_NET_NS_FD, uint32(nsFD)) })
}

// delLink removes a link (`ip link del`).
func (r *rtnl) delLink(index int) error {
	_, err := r.execute(unix.RTM_DELLINK, netlink.Acknowledge, ifinfomsg{index: int32(index)}.marshal(nil))
	return err
}

// ifIndexByName finds a link in the caller's namespace; ok is false when
// there is none.
func ifIndexByName(name string) (int, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, false
	}
	return ifc.Index, true
}
