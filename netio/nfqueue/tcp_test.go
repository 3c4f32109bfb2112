package nfqueue_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"fwd/netio/nfqueue"
	"fwd/netio/steer"
)

// TestTCPThroughQueue moves a TCP stream over the namespace's loopback
// through the queue (OUTPUT hook), every packet answered in batches. With
// GSO the kernel hands over super-packets larger than the MTU (with a
// partial checksum); "rewrite" passes every packet back as a new payload,
// which makes the kernel treat it as CHECKSUM_NONE, so the worker must
// complete the checksum of ChecksumNotReady packets (here done as fwd
// would, with a full recomputation).
func TestTCPThroughQueue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gso     bool
		rewrite bool
		noFix   bool
	}{
		{name: "nogso"},
		{name: "gso", gso: true},
		{name: "gso-rewrite", gso: true, rewrite: true},
		{name: "nogso-rewrite", rewrite: true},
		// The kernel takes a rewritten packet as CHECKSUM_NONE: handing
		// back a partial checksum breaks even the handshake.
		{name: "gso-rewrite-partial-checksum", gso: true, rewrite: true, noFix: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, steer.Spec{})
			// An Ethernet MTU, so TCP makes real GSO super-packets
			// (gso_size 1448) as it would towards a NIC.
			l.ns.MustExec(t, "ip", "link", "set", "lo", "mtu", "1500")
			q := l.open(t, nfqueue.Options{GSO: tc.gso, MaxLen: 4096})
			var ln net.Listener
			var cl net.Conn
			if err := l.ns.Do(func() error {
				var err error
				ln, err = net.Listen("tcp4", labAddr+":8080")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			data := make([]byte, 8<<20)
			for i := range data {
				data[i] = byte(i*7 + i>>11)
			}
			want := sha256.Sum256(data)
			got := make(chan [32]byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- [32]byte{}
					return
				}
				defer c.Close()
				h := sha256.New()
				io.Copy(h, c)
				var s [32]byte
				copy(s[:], h.Sum(nil))
				got <- s
			}()
			stop := make(chan struct{})
			var big, notReady int
			workerDone := make(chan struct{})
			go func() {
				defer close(workerDone)
				msgs := make([]nfqueue.Msg, 64)
				for {
					q.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					n, err := q.ReadBatch(msgs)
					if err != nil {
						select {
						case <-stop:
							return
						default:
							continue
						}
					}
					for _, m := range msgs[:n] {
						if len(m.Payload) > 1500 {
							big++
						}
						var pay []byte
						if tc.rewrite {
							if m.ChecksumNotReady() && !tc.noFix {
								notReady++
								fixChecksum(m.Payload)
							}
							pay = m.Payload
						}
						q.Verdict(m.ID, nfqueue.Accept, nil, pay)
					}
					q.Flush()
				}
			}()
			start := time.Now()
			err := l.ns.Do(func() error {
				var err error
				cl, err = net.DialTimeout("tcp4", labAddr+":8080", 3*time.Second)
				return err
			})
			if tc.noFix {
				if err == nil {
					cl.Close()
					t.Fatal("connected although the SYN went back with a partial checksum")
				}
				close(stop)
				<-workerDone
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(cl, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			cl.Close()
			var sum [32]byte
			select {
			case sum = <-got:
			case <-time.After(30 * time.Second):
				t.Fatal("receiver did not finish: the stream stalled")
			}
			el := time.Since(start)
			close(stop)
			<-workerDone
			if sum != want {
				t.Fatal("data corrupted through the queue")
			}
			st := q.Stats()
			t.Logf("%.0f Mbit/s (VM clock), %d packets, %d > 1500 bytes, %d checksum-not-ready, %.1f packets/verdict message, errors %d",
				float64(len(data))*8/el.Seconds()/1e6, st.Received, big, notReady, float64(st.Verdicts)/float64(max(st.VerdictMsgs, 1)), st.Errors)
			if tc.gso && big == 0 {
				t.Errorf("GSO on but no packet larger than 1500 bytes")
			}
			if !tc.gso && big > 0 {
				t.Errorf("GSO off but %d packets larger than 1500 bytes", big)
			}
		})
	}
}

// fixChecksum completes the TCP checksum of an IPv4 packet whose checksum
// field holds only the pseudo-header sum (CHECKSUM_PARTIAL).
func fixChecksum(p []byte) {
	ihl := int(p[0]&0xf) * 4
	if p[9] != 6 || len(p) < ihl+20 {
		return
	}
	tcp := p[ihl:]
	tcp[16], tcp[17] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(p[12:20])
	sum += 6 + uint32(len(tcp))
	add(tcp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	tcp[16], tcp[17] = byte(c>>8), byte(c)
}
