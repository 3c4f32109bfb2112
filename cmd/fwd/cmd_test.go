package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"fwd/netio/capture"
)

// run runs the command line in process and returns stdout, stderr and the
// exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(args, &out, &errb)
	return out.String(), errb.String(), code
}

// golden compares got with testdata/NAME, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking the change):\n%s", path, diff(string(want), got))
	}
}

// diff shows the first lines that differ.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

func TestCheckGateway(t *testing.T) {
	out, errs, code := run(t, "check", "-c", "../../configs/gateway.toml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "check-gateway.golden", out)
}

func TestCheckReferenceConfigAsItStands(t *testing.T) {
	_, errs, code := run(t, "check", "-c", "../../../shared/examples/gateway.toml")
	if code != 0 {
		t.Fatalf("the reference configuration must be accepted as it stands: exit %d: %s", code, errs)
	}
}

func TestCheckLab(t *testing.T) {
	out, errs, code := run(t, "check", "-c", "../../configs/lab.toml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "check-lab.golden", out)
}

func TestCheckErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	src := `[[interface]]
name = "lan0"
addr = "192.168.1.1/33"
mtu = 1500

[[route]]
to = "0.0.0.0/0"
via = "203.0.113.1"
dev = "wan9"
`
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, "check", "-c", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":3:1: ", bad + ":9:1: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
}

func TestUsage(t *testing.T) {
	if _, _, code := run(t, "replay"); code != 2 {
		t.Errorf("replay without flags: exit %d, want 2", code)
	}
	if _, _, code := run(t, "nosuch"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	out, _, code := run(t, "help")
	if code != 0 || !strings.Contains(out, "replay") || !strings.Contains(out, "check") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// dumpCapture renders a pcapng as one line per packet: interface and a
// summary, so goldens are readable and diffs say what changed.
func dumpCapture(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 1; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if p.Layer(layers.LayerTypeIPv4) == nil {
			t.Errorf("output packet %d does not decode as IPv4: %v", i, p.ErrorLayer())
		}
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok {
			if !ipChecksumOK(data[:ip.IHL*4]) {
				t.Errorf("output packet %d: bad IP header checksum", i)
			}
		}
		fmt.Fprintf(&b, "%s %s\n", intf.Name, describe(data))
	}
	return b.String()
}

func ipChecksumOK(h []byte) bool {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

func TestReplayLabSample(t *testing.T) {
	outPath := filepath.Join(t.TempDir(), "out.pcapng")
	ctPath := filepath.Join(t.TempDir(), "ct.txt")
	args := []string{"replay", "-c", "../../configs/lab.toml", "-r", samplePath, "-w", outPath, "--stats", "--trace"}
	if ctDumper != nil {
		args = append(args, "--ct-dump", ctPath)
	}
	out, errs, code := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "replay-lab.golden", out)
	golden(t, "replay-lab-out.golden", dumpCapture(t, outPath))
	if ctDumper != nil {
		ct, err := os.ReadFile(ctPath)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "replay-lab-ct.golden", string(ct))
	}
}

// malformed is a corpus of broken datagrams, one (at least) per parse
// reason, each with the drop reason it must be counted under.
func malformed() []struct {
	name, reason string
	data         []byte
} {
	good := udpPkt(lanA, server, 1000, 2000, "payload!")
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	fixSum := func(b []byte) []byte {
		hl := int(b[0]&0xf) * 4
		if hl > len(b) {
			return b
		}
		b[10], b[11] = 0, 0
		var sum uint32
		for i := 0; i+1 < hl; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
		return b
	}
	tcp := tcpPkt(lanA, server, 1000, 80, "S", 1, 0, "")
	return []struct {
		name, reason string
		data         []byte
	}{
		{"runt", "truncated", good[:12]},
		{"version 5", "bad-version", mut(func(b []byte) []byte { b[0] = 0x55; return fixSum(b) })},
		{"IHL 4", "bad-ihl", mut(func(b []byte) []byte { b[0] = 0x44; return b })},
		{"total length below header", "bad-total-length", mut(func(b []byte) []byte { b[2], b[3] = 0, 19; return fixSum(b) })},
		{"total length beyond capture", "truncated", mut(func(b []byte) []byte { b[2], b[3] = 0x10, 0; return fixSum(b) })},
		{"header checksum", "bad-checksum", mut(func(b []byte) []byte { b[10] ^= 0x55; return b })},
		{"options run past header", "bad-options", func() []byte {
			b := make([]byte, 0, len(good)+4)
			b = append(b, good[:20]...)
			b = append(b, 0x07, 0x09, 0, 0) // record route claiming 9 bytes in 4
			b = append(b, good[20:]...)
			b[0] = 0x46
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
			return fixSum(b)
		}()},
		{"TCP data offset 3", "bad-data-offset", func() []byte {
			b := bytes.Clone(tcp)
			b[20+12] = 0x30
			return b
		}()},
		{"TCP header cut", "truncated", func() []byte {
			b := bytes.Clone(tcp[:30])
			binary.BigEndian.PutUint16(b[2:], 30)
			return fixSum(b)
		}()},
		{"UDP length beyond datagram", "bad-total-length", mut(func(b []byte) []byte { b[24], b[25] = 0x40, 0; return b })},
		{"ICMP cut", "truncated", func() []byte {
			b := echoPkt(lanA, server, 8, 1, 1, 64)[:24]
			binary.BigEndian.PutUint16(b[2:], 24)
			return fixSum(b)
		}()},
	}
}

func TestReplayMalformedCorpus(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.pcap")
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i, c := range malformed() {
		ts := time.Unix(1700000000, int64(i)*1e6)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(c.data), Length: len(c.data)}, c.data); err != nil {
			t.Fatal(err)
		}
		want["drop."+c.reason]++
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, "replay", "-c", "../../configs/lab.toml", "-r", in, "-w", filepath.Join(dir, "out.pcapng"), "--stats", "--iface", "lan0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		var name string
		var v int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &v); err == nil && strings.HasPrefix(name, "drop.") {
			got[name] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d\n%s", k, got[k], v, out)
		}
	}
	total := 0
	for _, v := range got {
		total += v
	}
	if total != len(malformed()) {
		t.Errorf("%d drops counted for %d malformed packets:\n%s", total, len(malformed()), out)
	}
}

// TestReplayExternalCaptures replays every capture other projects publish
// for their own robustness and protocol tests: none may panic or hang, and
// every packet read must be accounted for (delivered or counted as a drop).
func TestReplayExternalCaptures(t *testing.T) {
	root := "../../../shared/testdata-external"
	var files []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the external captures must be beside the repository: %v", err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d captures under %s", len(files), root)
	}
	sort.Strings(files)
	statLine := regexp.MustCompile(`^(\S+) (\d+)$`)
	for _, f := range files {
		name := strings.TrimPrefix(f, root+"/")
		t.Run(name, func(t *testing.T) {
			recs, rerr := capture.ReadAll(f)
			done := make(chan struct{})
			var out, errs string
			var code int
			go func() {
				defer close(done)
				out, errs, code = run(t, "replay", "-c", "../../configs/gateway.toml", "-r", f, "-w", filepath.Join(t.TempDir(), "o.pcapng"), "--stats", "--iface", "wan0", "--advance", "1h")
			}()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("replay hung")
			}
			if rerr != nil {
				// A capture the reader cannot finish must be reported as an
				// error, not a crash.
				if code == 0 {
					t.Fatalf("capture reader failed (%v) but replay exited 0", rerr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var in, outN, drops uint64
			for _, line := range strings.Split(out, "\n") {
				m := statLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				var v uint64
				fmt.Sscan(m[2], &v)
				switch {
				case strings.HasSuffix(m[1], ".in"):
					in += v
				case strings.HasPrefix(m[1], "drop."):
					drops += v
				}
			}
			_ = outN
			if int(in) != len(recs) {
				t.Errorf("counted %d packets in, the capture has %d", in, len(recs))
			}
		})
	}
}
