package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := NewServer(nil)
	path := filepath.Join(t.TempDir(), "fwd.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestCallAndErrors(t *testing.T) {
	s, path := startServer(t)
	s.Handle("echo", func(req *Request, st *Stream) error {
		var a struct{ N int }
		if err := req.Decode(&a); err != nil {
			return err
		}
		for i := 0; i < a.N; i++ {
			if err := st.Send(i); err != nil {
				return err
			}
		}
		return nil
	})
	s.Handle("fail", func(req *Request, st *Stream) error { return Errorf(CodeNotFound, "no such entry") })
	var got []int
	err := Call(path, "echo", map[string]int{"N": 3}, func(d json.RawMessage) error {
		var v int
		json.Unmarshal(d, &v)
		got = append(got, v)
		return nil
	})
	if err != nil || len(got) != 3 || got[2] != 2 {
		t.Fatalf("echo: %v %v", got, err)
	}
	var ce *Error
	if err := Call(path, "fail", nil, nil); !errors.As(err, &ce) || ce.Code != CodeNotFound {
		t.Fatalf("fail: %v", err)
	}
	if err := Call(path, "nosuch", nil, nil); !errors.As(err, &ce) || ce.Code != CodeNotFound {
		t.Fatalf("unknown: %v", err)
	}
	if err := Call(path, "echo", map[string]any{"bogus": 1}, nil); !errors.As(err, &ce) || ce.Code != CodeBadRequest {
		t.Fatalf("unknown argument: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
}

func TestOversizeRequestRefused(t *testing.T) {
	_, path := startServer(t)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write([]byte(`{"cmd":"ping","args":"` + strings.Repeat("x", MaxRequest+10) + "\"}\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	if !strings.Contains(string(buf[:n]), `"code":1`) {
		t.Fatalf("oversize request answered %q", buf[:n])
	}
}

// A client that asks for a stream and never reads does not keep the
// producer blocked: the server cuts it off, and other clients are served.
func TestStuckClientDoesNotStall(t *testing.T) {
	s, path := startServer(t)
	produced := make(chan int, 1)
	s.Handle("flood", func(req *Request, st *Stream) error {
		n := 0
		defer func() { produced <- n }()
		big := strings.Repeat("y", 64<<10)
		for {
			if err := st.Send(big); err != nil {
				return err
			}
			n++
		}
	})
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`{"cmd":"flood"}` + "\n"))
	start := time.Now()
	if err := Call(path, "ping", nil, nil); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("ping while a client is stuck: %v after %v", err, time.Since(start))
	}
	select {
	case <-produced:
	case <-time.After(3 * writeTimeout):
		t.Fatal("the stuck client's handler never gave up")
	}
}

func TestStreamEndsWhenClientCancels(t *testing.T) {
	s, path := startServer(t)
	done := make(chan struct{})
	s.Handle("events", func(req *Request, st *Stream) error {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-st.Ctx.Done():
				return nil
			case <-time.After(5 * time.Millisecond):
				if err := st.Send(i); err != nil {
					return nil
				}
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := CallContext(ctx, path, "events", nil, func(json.RawMessage) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("stream: n=%d err=%v", n, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running after the client left")
	}
}

func TestSecondServerRefused(t *testing.T) {
	_, path := startServer(t)
	s2 := NewServer(nil)
	if err := s2.Listen(path); err == nil {
		s2.Close()
		t.Fatal("a second server took over a live socket")
	}
}
