package capture

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func ipv4Datagram() []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{192, 168, 1, 10}, DstIP: []byte{198, 51, 100, 20}}
	u := &layers.UDP{SrcPort: 1, DstPort: 2}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, u, gopacket.Payload("x"))
	return bytes.Clone(buf.Bytes())
}

func TestStripLinkTypes(t *testing.T) {
	dg := ipv4Datagram()
	eth := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, dg...)
	vlan := append([]byte{0x01, 0, 0x5e, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x06, 0x08, 0x00}, dg...)
	qinq := append([]byte{2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 3, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 6, 0x08, 0x00}, dg...)
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	sll := append(append(make([]byte, 14), 0x08, 0x00), dg...)
	v6 := []byte{0x60, 0, 0, 0}
	tests := []struct {
		name      string
		link      layers.LinkType
		frame     []byte
		ipv4      bool
		broadcast bool
		mac       byte
	}{
		{"ethernet broadcast", layers.LinkTypeEthernet, eth, true, true, 1},
		{"802.1Q multicast", layers.LinkTypeEthernet, vlan, true, true, 2},
		{"QinQ unicast", layers.LinkTypeEthernet, qinq, true, false, 3},
		{"ARP", layers.LinkTypeEthernet, arp, false, true, 1},
		{"runt ethernet", layers.LinkTypeEthernet, eth[:10], false, false, 0},
		{"raw", layers.LinkTypeRaw, dg, true, false, 0},
		{"raw IPv6", layers.LinkTypeRaw, v6, false, false, 0},
		{"linux cooked", layers.LinkTypeLinuxSLL, sll, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec Record
			Strip(&rec, tt.link, tt.frame)
			if rec.IPv4 != tt.ipv4 || rec.Broadcast != tt.broadcast || rec.SrcMAC[5] != tt.mac {
				t.Fatalf("got ipv4=%v broadcast=%v mac=%x", rec.IPv4, rec.Broadcast, rec.SrcMAC)
			}
			if tt.ipv4 && !bytes.Equal(rec.Data, dg) {
				t.Fatalf("datagram not found: %x", rec.Data)
			}
		})
	}
}

// A pcapng written by Writer reads back with the interface names and
// timestamps, and its packets are raw IPv4.
func TestWriterRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, []string{"lan0", "wan0"})
	if err != nil {
		t.Fatal(err)
	}
	dg := ipv4Datagram()
	ts := time.Unix(1700000000, 123456789)
	if err := w.Write("wan0", ts, dg); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("lan0", ts.Add(time.Second), dg); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("eth9", ts, dg); err == nil {
		t.Fatal("writing on an unknown interface succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wan0", "lan0"} {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec.IfName != want || !rec.IPv4 || !bytes.Equal(rec.Data, dg) {
			t.Fatalf("got %q ipv4=%v", rec.IfName, rec.IPv4)
		}
	}
	if rec, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v %v", rec, err)
	}
}

func TestReadPcap(t *testing.T) {
	var b bytes.Buffer
	pw := pcapgo.NewWriter(&b)
	pw.WriteFileHeader(65535, layers.LinkTypeEthernet)
	dg := ipv4Datagram()
	frame := append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}, dg...)
	pw.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(5, 0), CaptureLength: len(frame), Length: len(frame)}, frame)
	// A record cut short at the end of the file ends the capture.
	trunc := b.Len()
	pw.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(6, 0), CaptureLength: len(frame), Length: len(frame)}, frame)
	data := b.Bytes()[:trunc+20]
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || !rec.IPv4 || rec.Index != 1 || rec.Timestamp.Unix() != 5 {
		t.Fatalf("%+v %v", rec, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("truncated record: %v, want EOF", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte("no"))); err == nil {
		t.Fatal("a 2-byte file opened as a capture")
	}
}
