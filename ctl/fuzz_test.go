package ctl

import (
	"bufio"
	"encoding/json"
	"net"
	"testing"
	"time"
)

// FuzzRequest feeds arbitrary bytes to the server as a client's request:
// it must answer with well-formed JSON lines or close, never panic or
// hang.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"ping"}` + "\n",
		`{"cmd":"echo","args":{"N":2}}` + "\n",
		`{"cmd":"echo","args":{"bogus":1}}` + "\n",
		`{"cmd":"nosuch"}` + "\n",
		`{"cmd":` + "\n",
		"\n",
		`[1,2,3]` + "\n",
		`{"cmd":"echo","args":"x"}`,
	} {
		f.Add([]byte(s))
	}
	s := NewServer(nil)
	s.Handle("echo", func(req *Request, st *Stream) error {
		var a struct{ N int }
		if err := req.Decode(&a); err != nil {
			return err
		}
		for i := 0; i < a.N%4; i++ {
			if err := st.Send(i); err != nil {
				return err
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, req []byte) {
		c, srv := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serve(srv)
		}()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			c.Write(req)
			c.Write([]byte("\n"))
		}()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var l map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("answer line is not JSON: %q", sc.Bytes())
			}
			if _, ok := l["done"]; ok {
				break
			}
			if _, ok := l["error"]; ok {
				break
			}
		}
		c.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not return")
		}
	})
}
