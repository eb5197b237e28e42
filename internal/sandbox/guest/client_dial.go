package guest

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/yamux"
)

// Dial connects to port on the environment's loopback (127.0.0.1, then
// ::1). ctx and timeout bound the connect only. Closing the returned
// connection closes the guest's connection to the server; there is no
// half-close. A port nothing listens on is paddock.EUnavailable.
func (c *Client) Dial(ctx context.Context, port int, timeout time.Duration) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok && (timeout <= 0 || time.Until(dl) < timeout) {
		timeout = time.Until(dl)
	}
	st, _, err := c.request(ctx, streamHeader{Kind: kindDial, Dial: &dialRequest{Port: port, TimeoutMS: timeout.Milliseconds()}})
	if err != nil {
		return nil, err
	}
	return &portConn{Stream: st, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}, nil
}

// portConn is a yamux stream that reports the port it reaches.
type portConn struct {
	*yamux.Stream
	remote net.Addr
}

func (c *portConn) RemoteAddr() net.Addr { return c.remote }
