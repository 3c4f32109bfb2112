package nat_test

import (
	"testing"

	"fwd/conntrack"
	"fwd/header"
	"fwd/packet"
)

func TestSNATTCPBothDirections(t *testing.T) {
	l := newLab(t, masqConfig, nil)
	a, r := at(hostA, 40000), at(remote, 80)
	out := l.forward(lan0, tcpPkt(a, r, fSYN, 1000, 0, ""), wan0)
	s, d := fields(out)
	want(t, "SYN source", s, at(router, 40000))
	want(t, "SYN destination", d, r)
	back := l.forward(wan0, tcpPkt(r, at(router, 40000), fSYN|fACK, 5000, 1001, ""), lan0)
	s, d = fields(back)
	want(t, "SYN-ACK source", s, r)
	want(t, "SYN-ACK destination", d, a)
	l.forward(lan0, tcpPkt(a, r, fACK, 1001, 5001, "GET / HTTP/1.0\r\n\r\n"), wan0)
	e := l.entry(conntrack.Tuple{Src: hostA, Dst: remote, SrcPort: 40000, DstPort: 80, Proto: header.ProtoTCP})
	if e.Reply != (conntrack.Tuple{Src: remote, Dst: router, SrcPort: 80, DstPort: 40000, Proto: header.ProtoTCP}) {
		t.Errorf("reply tuple %+v", e.Reply)
	}
	if e.Status&packet.CTStatusSNAT == 0 || e.Status&packet.CTStatusDNAT != 0 {
		t.Errorf("status %b: want SNAT only", e.Status)
	}
}
