package router

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"fwd/config"
	"fwd/netio/fake"
	"fwd/packet"
	"fwd/pipeline"
)

// mqFake is a device of fake queues.
type mqFake struct{ qs []*fakeQueue }

type fakeQueue struct{ *fake.Device }

func (q fakeQueue) WriteVnet(bufs [][]byte, offset int) (int, error) { return q.Write(bufs, offset) }

func (m *mqFake) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return m.qs[0].Read(bufs, sizes, offset)
}
func (m *mqFake) Write(bufs [][]byte, offset int) (int, error) { return m.qs[0].Write(bufs, offset) }
func (m *mqFake) NumQueues() int                               { return len(m.qs) }
func (m *mqFake) QueueIO(i int) QueueIO                        { return m.qs[i] }

func newMQFake(n int) *mqFake {
	m := &mqFake{}
	for i := 0; i < n; i++ {
		m.qs = append(m.qs, &fakeQueue{fake.New()})
	}
	return m
}

// TestDataplaneMultiQueue: each queue of a multi-queue device has its own
// worker, and what queue k reads leaves by queue k of the egress device.
func TestDataplaneMultiQueue(t *testing.T) {
	cfg, err := config.Parse("dp.toml", []byte(dpConfig))
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Config: cfg, Clock: pipeline.WallClock{}, Pool: packet.NewPool(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pl, err := pipeline.Build(env, []pipeline.Slot{
		{Hook: packet.Prerouting, ID: "stage.parse"},
		{Hook: packet.Prerouting, ID: "stage.route"},
		{Hook: packet.Input, ID: "stage.local"},
		{Hook: packet.Output, ID: "stage.route"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lan, wan := newMQFake(2), newMQFake(2)
	d := NewDataplane(env, pl, []FrameDevice{lan, wan})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		for _, m := range []*mqFake{lan, wan} {
			for _, q := range m.qs {
				q.Close()
			}
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wanMAC := macOf("wan0")
	wan.qs[1].Put(dpARPFrame(t, layers.ARPReply, upstreamMAC, net.IPv4(203, 0, 113, 1), net.IPv4(203, 0, 113, 2), wanMAC, wanMAC))
	deadline := time.Now().Add(time.Second)
	for {
		if _, ok := d.ARP.Resolve(1, [4]byte{203, 0, 113, 1}, time.Now().UnixNano()); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ARP reply read by queue 1 was not learned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, k := range []int{1, 0} {
		lan.qs[k].Put(udpFrame(t, net.IPv4(192, 168, 1, 10), net.IPv4(198, 51, 100, 20), 100, true))
		for {
			f := wan.qs[k].Get(time.Second)
			if f == nil {
				t.Fatalf("nothing left by wan queue %d", k)
			}
			if layers.EthernetType(f[12])<<8|layers.EthernetType(f[13]) == layers.EthernetTypeIPv4 {
				break
			}
		}
	}
}
