package guest

import (
	"encoding/binary"
	"net"
)

// yamux's frame header: version (0), type (0 for data), flags, stream id,
// length (of the data frame's body).
const yamuxHeaderSize = 12

// coalescingConn joins each yamux data frame's header with its body in
// one write. yamux's send loop writes the 12-byte header and the body in
// two calls: on a unix socket, two sends and, at the other end, often two
// wakeups of the receiving loop, on a machine where a wakeup is the
// dearest thing an exec pays for. coalescingConn holds a data header back
// and sends it with the next write. The send loop is a session's only
// writer, and a data header is always followed by its body; holding a
// header only ever delays it until the next write, which keeps the byte
// order.
type coalescingConn struct {
	net.Conn
	buf  []byte // the held header, then the frame being written
	held bool
}

// maxKeptBuffer bounds the buffer a coalescingConn keeps between writes.
const maxKeptBuffer = 64 << 10

func (c *coalescingConn) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		b := append(c.buf[:yamuxHeaderSize], p...) // a copy costs less than a send
		n, err := c.Conn.Write(b)
		if cap(b) <= maxKeptBuffer {
			c.buf = b
		} else {
			c.buf = nil
		}
		return max(n-yamuxHeaderSize, 0), err
	}
	if len(p) == yamuxHeaderSize && p[0] == 0 && p[1] == 0 && binary.BigEndian.Uint32(p[8:]) > 0 {
		c.buf = append(c.buf[:0], p...)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}
