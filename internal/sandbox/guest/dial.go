package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// defaultDialTimeout bounds a dial the host sets no timeout for.
const defaultDialTimeout = 10 * time.Second

// dial connects to a port on the environment's loopback and, once it has
// replied frameOK, pipes raw bytes between the stream and the connection.
// Loopback works whatever the environment's network policy, which is what
// lets Paddock's authenticated proxy reach servers in any environment.
//
// Either side ending ends both: the host closing the stream closes the
// connection, and the server closing the connection closes the stream.
// (A yamux stream has no half-close a net.Conn user could ask for.)
func (g *guest) dial(st net.Conn, req *dialRequest) {
	fw := &frameWriter{w: st}
	if req.Port < 1 || req.Port > 65535 {
		fw.writeJSON(frameError, &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("port %d is out of range 1-65535", req.Port)})
		return
	}
	timeout := defaultDialTimeout
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	conn, err := dialLoopback(req.Port, timeout)
	if err != nil {
		fw.writeJSON(frameError, dialError(req.Port, err))
		return
	}
	defer conn.Close()
	if fw.writeJSON(frameOK, struct{}{}) != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.Copy(conn, st)
		conn.Close()
		if err != nil {
			// The server is gone while the host still writes: keep
			// reading so the host's writes do not stall on the window.
			io.Copy(io.Discard, st)
		}
	}()
	io.Copy(st, conn)
	st.Close()
	<-done
}

// dialLoopback tries IPv4 loopback, then IPv6 when nothing listens on
// IPv4: servers bind either.
func dialLoopback(port int, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Deadline: time.Now().Add(timeout)}
	p := strconv.Itoa(port)
	conn, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", p))
	if err == nil || !errors.Is(err, unix.ECONNREFUSED) {
		return conn, err
	}
	if conn, err6 := d.Dial("tcp", net.JoinHostPort("::1", p)); err6 == nil {
		return conn, nil
	}
	// The IPv4 refusal tells the story better than whatever IPv6 said
	// (it may not even be configured).
	return nil, err
}

func dialError(port int, err error) *wireError {
	var ne net.Error
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return &wireError{Code: paddock.EUnavailable, Message: fmt.Sprintf("nothing listens on port %d", port)}
	case errors.As(err, &ne) && ne.Timeout():
		return &wireError{Code: paddock.EUnavailable, Message: fmt.Sprintf("port %d does not accept connections (timed out)", port)}
	}
	return &wireError{Code: paddock.EUnavailable, Message: fmt.Sprintf("cannot connect to port %d", port)}
}
