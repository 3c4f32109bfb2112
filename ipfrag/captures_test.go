package ipfrag

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"fwd/header"
	"fwd/packet"
)

// external is the shared capture directory beside the repository.
const external = "../../shared/testdata-external"

// frame is one capture record: its link-layer prefix and IPv4 datagram.
type frame struct {
	link []byte
	ip   []byte
	ts   time.Time
}

// readCapture reads a pcap in place (Ethernet, with or without VLAN tags,
// or raw IPv4). It fails, never skips, when the file is missing.
func readCapture(t *testing.T, rel string) []frame {
	t.Helper()
	f, err := os.Open(filepath.Join(external, rel))
	if err != nil {
		t.Fatalf("capture missing (shared/ must sit beside the repo): %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		first := layers.LayerTypeIPv4
		if r.LinkType() == layers.LinkTypeEthernet {
			first = layers.LayerTypeEthernet
		}
		p := gopacket.NewPacket(data, first, gopacket.Default)
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			t.Fatalf("%s: record without IPv4", rel)
		}
		start := bytes.Index(data, ip.Contents)
		out = append(out, frame{link: data[:start], ip: data[start : start+int(ip.Length)], ts: ci.Timestamp})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no records", rel)
	}
	return out
}

func readHex(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(external, rel))
	if err != nil {
		t.Fatalf("expected output missing: %v", err)
	}
	h, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// feed runs the fragments of a capture through a reassembler and returns
// the datagrams it completed, with the statuses and reasons of each call.
func feed(r *Reassembler, frames []frame) (whole [][]byte, st []Status, why []packet.DropReason) {
	for _, f := range frames {
		if !header.IPv4(f.ip).IsFragment() {
			continue
		}
		out := make([]byte, 65536)
		n, _, s, w := r.Add(f.ts.UnixNano(), f.ip, 0, out)
		st = append(st, s)
		why = append(why, w)
		if s == Done {
			whole = append(whole, out[:n])
		}
	}
	return
}

func TestSuricataBug6887(t *testing.T) {
	tests := []struct {
		name, pcap, want string
		link             int // link-layer bytes in the expected frame
	}{
		{"raw ipv4", "suricata-verify/defrag/bug-6887-defrag-ipv4-tcp-syn/frag-ip-tcp-syn.pcap",
			"suricata-verify/defrag/bug-6887-defrag-ipv4-tcp-syn/expected-reassembled-packet.hex", 0},
		{"ethernet vlan", "suricata-verify/defrag/bug-6887-defrag-eth-vlan-ipv4-tcp-syn/frag-eth-vlan-ip-tcp-syn.pcap",
			"suricata-verify/defrag/bug-6887-defrag-eth-vlan-ipv4-tcp-syn/expected-reassembled-packet.hex", 18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frames := readCapture(t, tc.pcap)
			want := readHex(t, tc.want)
			if len(frames) != 3 {
				t.Fatalf("%d records", len(frames))
			}
			for _, f := range frames {
				if len(f.ip)-20 != 8 {
					t.Fatalf("not an 8-byte fragment: %d", len(f.ip))
				}
			}
			if !bytes.Equal(frames[2].link, want[:tc.link]) {
				t.Fatalf("link header %x, expected frame starts %x", frames[2].link, want[:tc.link])
			}
			for _, pol := range []Policy{PolicyDrop, PolicyBSD, PolicyLinux} {
				whole, st, _ := feed(New(Config{Policy: pol}), frames)
				if len(whole) != 1 || st[0] != Held || st[1] != Held {
					t.Fatalf("%v: statuses %v", pol, st)
				}
				if !bytes.Equal(whole[0], want[tc.link:]) {
					t.Fatalf("%v: reassembled\n%x\nwant\n%x", pol, whole[0], want[tc.link:])
				}
			}
			// The TCP flags the rules see are whole: a SYN with its options.
			var p packet.Parsed
			whole, _, _ := feed(New(Config{}), frames)
			if p.Decode(whole[0]) != 44 || p.Proto != packet.TCP || p.TCPFlags != header.TCPFlagSYN ||
				p.SrcPort != 12345 || p.DstPort != 8080 || !p.TCPOpts.HasWScale || p.TCPOpts.WindowScale != 14 {
				t.Fatalf("parsed %+v", p)
			}
			// Reverse order gives the same bytes.
			rev := []frame{frames[2], frames[1], frames[0]}
			whole, _, _ = feed(New(Config{}), rev)
			if len(whole) != 1 || !bytes.Equal(whole[0], want[tc.link:]) {
				t.Fatal("reverse order differs")
			}
		})
	}
}

func TestWiresharkIPv4Frags(t *testing.T) {
	frames := readCapture(t, "suricata-verify/exception-policy-defrag-01/ipv4frags.pcap")
	whole, st, _ := feed(New(Config{}), frames)
	if len(st) != 2 || len(whole) != 1 {
		t.Fatalf("statuses %v, %d datagrams", st, len(whole))
	}
	var p packet.Parsed
	if n := p.Decode(whole[0]); n != 1428 || p.Proto != packet.ICMP || p.ICMPType != header.ICMPEcho {
		t.Fatalf("decoded %d %+v", n, p)
	}
	ip := header.IPv4(whole[0])
	if !header.ICMPv4(ip.Payload()).IsChecksumValid() {
		t.Fatal("echo checksum over the whole datagram does not verify")
	}
	// The reply in the same capture quotes the same data back.
	reply := frames[2].ip
	if !bytes.Equal(header.IPv4(reply).Payload()[8:], ip.Payload()[8:]) {
		t.Fatal("echo data differs from the reply's")
	}
}

func TestZeekFragments(t *testing.T) {
	t.Run("fragmented-1: small MF fragment, then one past the end", func(t *testing.T) {
		r := New(Config{})
		whole, st, why := feed(r, readCapture(t, "zeek/traces/ipv4/fragmented-1.pcap"))
		// 18-byte MF fragment: bad length. Last fragment at 48: held.
		// 304-byte offset-0 fragment beyond the last: inconsistent.
		if len(whole) != 0 || st[0] != Dropped || why[0] != packet.DropFragBadLength || st[1] != Held ||
			st[2] != Dropped || why[2] != packet.DropFragBadLength {
			t.Fatalf("%v %v", st, why)
		}
		if r.Queues() != 0 || r.Drops()[packet.DropFragBadLength] != 1 {
			t.Fatalf("queues %d, held drops %v", r.Queues(), r.Drops()[packet.DropFragBadLength])
		}
	})
	t.Run("fragmented-2: small MF fragment twice", func(t *testing.T) {
		r := New(Config{})
		frames := readCapture(t, "zeek/traces/ipv4/fragmented-2.pcap")
		whole, st, why := feed(r, frames)
		if len(whole) != 0 || why[0] != packet.DropFragBadLength || st[1] != Held || why[2] != packet.DropFragBadLength {
			t.Fatalf("%v %v", st, why)
		}
		// The last fragment waits and times out; no first fragment, so no
		// ICMP.
		r.Expire(frames[1].ts.Add(30 * time.Second).UnixNano())
		var ex [maxPending]Expired
		if r.Queues() != 0 || r.Drops()[packet.DropFragTimeout] != 1 || r.TakeExpired(ex[:]) != 0 {
			t.Fatal("expiry")
		}
	})
	t.Run("fragmented-3: DF and MF on every fragment", func(t *testing.T) {
		r := New(Config{Local: func(a [4]byte) bool { return true }})
		frames := readCapture(t, "zeek/traces/ipv4/fragmented-3.pcap")
		whole, st, _ := feed(r, frames)
		if len(whole) != 0 || len(st) != 5 {
			t.Fatalf("%v", st)
		}
		for _, s := range st {
			if s != Held {
				t.Fatalf("%v", st)
			}
		}
		r.Expire(frames[0].ts.Add(31 * time.Second).UnixNano())
		var ex [maxPending]Expired
		if r.Drops()[packet.DropFragTimeout] != 5 || r.TakeExpired(ex[:]) != 1 {
			t.Fatal("a local datagram with its first fragment must be answered once")
		}
		if q := header.IPv4(ex[0].Data[:ex[0].Len]); q.ID() != 19397 || ex[0].Len != 548 {
			t.Fatalf("quote id %d len %d", q.ID(), ex[0].Len)
		}
	})
	t.Run("fragmented-4: 24..72 overlaps 48..72", func(t *testing.T) {
		frames := readCapture(t, "zeek/traces/ipv4/fragmented-4.pcap")
		r := New(Config{})
		whole, st, why := feed(r, frames)
		if len(whole) != 0 || st[3] != Dropped || why[3] != packet.DropFragOverlap || r.Drops()[packet.DropFragOverlap] != 3 {
			t.Fatalf("drop policy: %v %v", st, why)
		}
		whole, _, _ = feed(New(Config{Policy: PolicyFirst}), frames)
		var p packet.Parsed
		if len(whole) != 1 || p.Decode(whole[0]) != 20+89 || p.Proto != packet.TCP || p.SrcPort != 7790 || p.DstPort != 80 {
			t.Fatalf("first policy: %d datagrams %+v", len(whole), p)
		}
	})
	t.Run("fragmented-syn: TCP header cut across fragments", func(t *testing.T) {
		whole, _, _ := feed(New(Config{}), readCapture(t, "zeek/traces/ipv4/fragmented-syn.pcap"))
		var p packet.Parsed
		if len(whole) != 1 || p.Decode(whole[0]) != 60 || p.ID != 1 || p.Proto != packet.TCP ||
			p.Seq != 1000 || p.Window != 8192 || p.TCPFlags != header.TCPFlagSYN || p.SrcPort != 12345 ||
			p.DstPort != 80 || p.TCPHdrLen != 40 || !p.TCPOpts.HasMSS {
			t.Fatalf("%+v", p)
		}
	})
}
