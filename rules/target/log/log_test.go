package log

import (
	"encoding/hex"
	"strings"
	"testing"

	"fwd/config"
	"fwd/packet"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestLine checks the kernel LOG format (nf_log_syslog.c) field by field.
func TestLine(t *testing.T) {
	ifs := []config.Interface{{Name: "lan0", MAC: [6]byte{0x02, 0, 0, 0, 0, 1}}, {Name: "wan0"}}
	tests := []struct {
		name    string
		prefix  string
		hex     string
		in, out int16
		mac     [6]byte
		mark    uint32
		want    string
	}{
		{
			name: "tcp syn with DF, received with a MAC", prefix: "IPTABLES Dropped: ",
			// IPv4: len 52, id 18544, DF, ttl 126, tcp, 10.10.0.17 -> 10.20.0.53
			// TCP: 53543 -> 443, seq 1, SYN, window 8192, 32-byte header
			hex: "4500 0034 4870 4000 7e06 0000 0a0a 0011 0a14 0035" +
				"d127 01bb 0000 0001 0000 0000 8002 2000 0000 0000" +
				"0204 05b4 0103 0308 0101 0402",
			in: 0, out: packet.NoIf, mac: [6]byte{0x2c, 0x21, 0x72, 0xc6, 0x99, 0x08},
			want: "IPTABLES Dropped: IN=lan0 OUT= MAC=02:00:00:00:00:01:2c:21:72:c6:99:08:08:00 SRC=10.10.0.17 DST=10.20.0.53 LEN=52 TOS=0x00 PREC=0x00 TTL=126 ID=18544 DF PROTO=TCP SPT=53543 DPT=443 WINDOW=8192 RES=0x00 SYN URGP=0",
		},
		{
			name: "udp forwarded, tos and mark",
			// IPv4: tos 0xb8, len 40, id 7, ttl 63, udp 192.168.1.20 -> 198.51.100.20
			// UDP: 5353 -> 53, len 20
			hex: "45b8 0028 0007 0000 3f11 0000 c0a8 0114 c633 6414" + "14e9 0035 0014 0000" + "0000 0000 0000 0000 0000 0000",
			in:  0, out: 1, mark: 0x2a,
			want: "IN=lan0 OUT=wan0 MAC= SRC=192.168.1.20 DST=198.51.100.20 LEN=40 TOS=0x18 PREC=0xA0 TTL=63 ID=7 PROTO=UDP SPT=5353 DPT=53 LEN=20 MARK=0x2a",
		},
		{
			name: "icmp echo from the router itself",
			hex:  "4500 001c 0001 0000 4001 0000 cb00 7102 c633 6414" + "0800 0000 1234 0001",
			in:   packet.NoIf, out: 1,
			want: "IN= OUT=wan0 SRC=203.0.113.2 DST=198.51.100.20 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=4660 SEQ=1",
		},
		{
			name: "icmp port unreachable quoting udp",
			hex: "4500 0038 0002 0000 4001 0000 c633 6414 c0a8 0114" + "0303 0000 0000 0000" +
				"4500 0028 0007 0000 3f11 0000 c0a8 0114 c633 6414" + "14e9 0035 0014 0000",
			in: 1, out: 0,
			want: "IN=wan0 OUT=lan0 MAC= SRC=198.51.100.20 DST=192.168.1.20 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=2 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.168.1.20 DST=198.51.100.20 LEN=40 TOS=0x00 PREC=0x00 TTL=63 ID=7 PROTO=UDP SPT=5353 DPT=53 LEN=20 ]",
		},
		{
			name: "icmp frag needed quoting a tcp prefix",
			hex: "4500 0038 0003 0000 4001 0000 c633 6414 c0a8 0114" + "0304 0000 0000 0578" +
				"4500 05dc 0009 4000 3f06 0000 c0a8 0114 c633 6414" + "9c40 0050 0000 0001",
			in: 1, out: 0,
			want: "IN=wan0 OUT=lan0 MAC= SRC=198.51.100.20 DST=192.168.1.20 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=3 PROTO=ICMP TYPE=3 CODE=4 [SRC=192.168.1.20 DST=198.51.100.20 LEN=1500 TOS=0x00 PREC=0x00 TTL=63 ID=9 DF PROTO=TCP INCOMPLETE [8 bytes] ] MTU=1400",
		},
		{
			name: "non-first fragment",
			hex:  "4500 001c 0005 00b9 4011 0000 0a00 0001 0a00 0002" + "0000 0000 0000 0000",
			in:   0, out: 1,
			want: "IN=lan0 OUT=wan0 MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=5 FRAG:185 PROTO=UDP",
		},
		{
			name: "other protocol",
			hex:  "4500 0018 0006 0000 402f 0000 0a00 0001 0a00 0002" + "0000 0800",
			in:   0, out: 1,
			want: "IN=lan0 OUT=wan0 MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=24 TOS=0x00 PREC=0x00 TTL=64 ID=6 PROTO=47",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := packet.New(mustHex(tt.hex))
			pkt.InIf, pkt.OutIf, pkt.SrcMAC, pkt.Mark = tt.in, tt.out, tt.mac, tt.mark
			if got := Line(tt.prefix, pkt, ifs); got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestLineTruncated makes sure short or lying datagrams do not panic.
func TestLineTruncated(t *testing.T) {
	full := mustHex("4500 0034 4870 4000 7e06 0000 0a0a 0011 0a14 0035 d127 01bb 0000 0001 0000 0000 8002 2000 0000 0000")
	for n := 0; n <= len(full); n++ {
		pkt := packet.New(full[:n])
		pkt.InIf, pkt.OutIf = 0, packet.NoIf
		Line("", pkt, nil)
	}
}
