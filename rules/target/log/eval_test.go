package log_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"fwd/config"
	"fwd/header"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

// datagram builds and decodes an IPv4 datagram from src to dst carrying
// the transport header l4 as protocol proto.
func datagram(src, dst string, proto uint8, l4 []byte) *packet.Packet {
	b := make([]byte, header.IPv4MinSize+len(l4))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: proto,
		Src: netip.MustParseAddr(src).As4(), Dst: netip.MustParseAddr(dst).As4(),
	})
	copy(b[header.IPv4MinSize:], l4)
	p := packet.New(b)
	p.Parsed.Decode(p.Data)
	return p
}

// tcp is a TCP segment with flags from src:sport to dst:dport.
func tcp(src string, sport uint16, dst string, dport uint16, flags uint8) *packet.Packet {
	l4 := make([]byte, header.TCPMinSize)
	header.TCP(l4).Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Flags: flags, Window: 64240})
	return datagram(src, dst, header.ProtoTCP, l4)
}

// logged compiles src on a virtual clock with LOG lines going to a
// buffer.
func logged(t testing.TB, src string) (*rules.Ruleset, *pipeline.Virtual, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	clock := pipeline.NewVirtual(time.Unix(1700000000, 0))
	env := &pipeline.Env{Clock: clock}
	env.Shared(rules.LogWriterKey, func() (any, error) { return &buf, nil })
	rs, err := rules.CompileWith(cfg, nil, rules.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return rs, clock, &buf
}

// TestDo: log writes the kernel's line and the walk goes on: the next
// rule decides.
func TestDo(t *testing.T) {
	rs, _, buf := logged(t, `
[[interface]]
name = "lan0"
addr = "192.168.1.1/24"

[[filter.input.rule]]
proto = "tcp"
dport = 22
action = "log"
log_prefix = "ssh: "

[[filter.input.rule]]
proto = "tcp"
action = "drop"
`)
	c := rs.Builtin(rules.TableFilter, packet.Input)
	pkt := tcp("192.168.1.20", 40000, "192.168.1.1", 22, header.TCPFlagSYN)
	pkt.InIf = 0
	pkt.Mark = 0x2a
	var tr rules.Tracer
	v, r := rs.Eval(c, pkt, &tr)
	if v != rules.Drop || r == nil || r.Num != 2 {
		t.Fatalf("verdict %s by %v, want drop by rule 2", v, r)
	}
	if len(tr.Logged) != 1 || tr.Logged[0].Num != 1 {
		t.Errorf("trace: the log rule is not among the rules that fired: %v", tr.Logged)
	}
	want := "ssh: IN=lan0 OUT= MAC= SRC=192.168.1.20 DST=192.168.1.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 MARK=0x2a\n"
	if got := buf.String(); got != want {
		t.Errorf("LOG line:\n got %q\nwant %q", got, want)
	}
	if p, _ := rs.Counters(c.Rules[0]); p != 1 {
		t.Errorf("the log rule counted %d packets, want 1", p)
	}
}

// TestRate: lines beyond log_limit (after a burst of log_burst) are not
// written; log_limit = "none" writes every one.
func TestRate(t *testing.T) {
	const src = "[[filter.forward.rule]]\naction = \"log\"\nlog_limit = \"2/second\"\nlog_burst = 3\n\n[[filter.output.rule]]\naction = \"log\"\nlog_limit = \"none\"\n"
	rs, clock, buf := logged(t, src)
	fwd, out := rs.Builtin(rules.TableFilter, packet.Forward), rs.Builtin(rules.TableFilter, packet.Output)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	lines := func() int { n := strings.Count(buf.String(), "\n"); buf.Reset(); return n }
	for range 10 {
		if v, _ := rs.Eval(fwd, pkt, nil); v != rules.Accept {
			t.Fatalf("verdict %s: a rate-limited log changed the walk", v)
		}
	}
	if n := lines(); n != 3 {
		t.Errorf("10 packets at once: %d lines, want the burst of 3", n)
	}
	clock.Advance(time.Second)
	for range 10 {
		rs.Eval(fwd, pkt, nil)
	}
	if n := lines(); n != 2 {
		t.Errorf("a second later: %d lines, want 2", n)
	}
	for range 10 {
		rs.Eval(out, pkt, nil)
	}
	if n := lines(); n != 10 {
		t.Errorf("log_limit none: %d lines of 10", n)
	}
	if p, _ := rs.Counters(fwd.Rules[0]); p != 20 {
		t.Errorf("the rule counted %d packets, want all 20 (logged or not)", p)
	}
}

// TestNoAllocs: a packet over the rate allocates nothing (writing a line
// does).
func TestNoAllocs(t *testing.T) {
	rs, _, buf := logged(t, "[[filter.forward.rule]]\naction = \"log\"\nlog_limit = \"1/hour\"\nlog_burst = 1\n")
	c := rs.Builtin(rules.TableFilter, packet.Forward)
	pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
	rs.Eval(c, pkt, nil)
	if n := testing.AllocsPerRun(100, func() { rs.Eval(c, pkt, nil) }); n != 0 {
		t.Errorf("%v allocs per rate-limited evaluation, want 0", n)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("lines written: %q", buf.String())
	}
}

func BenchmarkEval(b *testing.B) {
	for _, bc := range []struct{ name, limit string }{{"limited", "1/hour"}, {"every", "none"}} {
		b.Run(bc.name, func(b *testing.B) {
			rs, _, buf := logged(b, "[[filter.forward.rule]]\naction = \"log\"\nlog_limit = \""+bc.limit+"\"\n")
			c := rs.Builtin(rules.TableFilter, packet.Forward)
			pkt := tcp("10.1.1.1", 40000, "192.0.2.7", 443, header.TCPFlagSYN)
			b.ReportAllocs()
			for b.Loop() {
				rs.Eval(c, pkt, nil)
				if buf.Len() > 1<<20 {
					buf.Reset()
				}
			}
		})
	}
}
