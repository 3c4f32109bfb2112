package fake

import (
	"testing"
	"time"
)

func TestPutReadWriteGet(t *testing.T) {
	d := New()
	d.Put([]byte{1, 2, 3}, []byte{4})
	bufs := [][]byte{make([]byte, 16), make([]byte, 16), make([]byte, 16)}
	sizes := make([]int, 3)
	n, err := d.Read(bufs, sizes, 2)
	if err != nil || n != 2 || sizes[0] != 3 || bufs[0][2] != 1 || bufs[1][2] != 4 {
		t.Fatalf("read %d %v %v", n, sizes, err)
	}
	if _, err := d.Write([][]byte{{9, 9, 7}}, 2); err != nil {
		t.Fatal(err)
	}
	if f := d.Get(time.Second); len(f) != 1 || f[0] != 7 {
		t.Fatalf("got %v", f)
	}
	if f := d.Get(10 * time.Millisecond); f != nil {
		t.Fatalf("got %v from an empty device", f)
	}
	done := make(chan error)
	go func() { _, err := d.Read(bufs, sizes, 0); done <- err }()
	d.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("read after close: %v", err)
	}
}
