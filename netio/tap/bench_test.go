package tap

import (
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"fwd/header"
	"fwd/packet"

	"golang.org/x/sys/unix"
)

// benchDevice opens a TAP in a fresh namespace with an address and a
// permanent neighbour, removed when b ends.
func benchDevice(b *testing.B, vnet bool) (*Device, string) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for TAP devices and network namespaces")
	}
	t := &testing.T{}
	ns := "fwdb-" + uniq(t)
	if err := exec.Command("ip", "netns", "add", ns).Run(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	dev := "fwdb" + uniq(t)
	d, err := Open(Config{Name: dev, VnetHdr: vnet, Netns: ns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	for _, args := range [][]string{
		{"ip", "-n", ns, "addr", "add", "192.168.90.10/24", "dev", dev},
		{"ip", "-n", ns, "neigh", "add", "192.168.90.1", "lladdr", "02:00:00:00:00:01", "dev", dev, "nud", "permanent"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v %s", args, err, out)
		}
	}
	return d, ns
}

// BenchmarkTAPWrite64 writes batches of 64 minimum-size frames (to a MAC
// the kernel drops at once): the per-frame cost of the write path.
func BenchmarkTAPWrite64(b *testing.B) {
	for _, vnet := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "vnet"}[vnet]
		b.Run(name, func(b *testing.B) {
			d, _ := benchDevice(b, vnet)
			bufs := make([][]byte, 64)
			for i := range bufs {
				bufs[i] = make([]byte, testOff+60)
				header.EncodeEthernet(bufs[i][testOff:], [6]byte{0x02, 9, 9, 9, 9, 9}, [6]byte{0x02, 8, 8, 8, 8, 8}, header.EtherTypeIPv4)
			}
			b.ReportAllocs()
			b.ResetTimer()
			frames := 0
			for frames < b.N {
				n, err := d.Write(bufs[:min(64, b.N-frames)], testOff)
				if err != nil {
					b.Fatal(err)
				}
				frames += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkTAPRead64 reads 64-byte UDP datagrams a socket in the namespace
// sends through the TAP as fast as it can: the per-frame cost of the
// batched read path (sender and reader share the two cores).
func BenchmarkTAPRead64(b *testing.B) {
	d, ns := benchDevice(b, false)
	var stop atomic.Bool
	b.Cleanup(func() { stop.Store(true) })
	go inNetns(ns, func() error {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		msg := make([]byte, 64-42)
		to := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{192, 168, 90, 1}}
		for !stop.Load() {
			unix.Sendto(s, msg, 0, to)
		}
		return nil
	})
	bufs, sizes := makeBufs(128, packet.Headroom+2048)
	b.ReportAllocs()
	b.ResetTimer()
	frames := 0
	batches := 0
	for frames < b.N {
		n, err := d.Read(bufs, sizes, testOff)
		if err != nil {
			b.Fatal(err)
		}
		frames += n
		batches++
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(frames)/float64(batches), "frames/read")
}
