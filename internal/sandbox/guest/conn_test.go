package guest

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"
)

// writeRecorder is a net.Conn that records each write it is given.
type writeRecorder struct {
	net.Conn
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, slices.Clone(p))
	return len(p), nil
}

func yamuxHeader(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:], 3) // stream id
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

func TestCoalescingConn(t *testing.T) {
	t.Parallel()
	rec := &writeRecorder{}
	c := &coalescingConn{Conn: rec}
	write := func(p []byte) {
		t.Helper()
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
	}
	data := yamuxHeader(0, 5)
	write(data)
	if len(rec.writes) != 0 {
		t.Fatalf("a data frame's header was sent alone: %q", rec.writes)
	}
	write([]byte("hello"))
	window := yamuxHeader(1, 5) // a window update: its length is a delta, no body follows
	write(window)
	empty := yamuxHeader(0, 0) // a data frame without a body (a FIN)
	write(empty)
	want := [][]byte{append(slices.Clone(data), "hello"...), window, empty}
	if !slices.EqualFunc(rec.writes, want, slices.Equal) {
		t.Errorf("writes = %q, want %q", rec.writes, want)
	}
}
