package guest

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// Lanes: connections that carry one request each, outside the session.
//
// A request on a session stream passes through goroutines of both ends'
// yamux sessions: each write is handed to the sender's send loop (and its
// result handed back), each read arrives through the receiver's receive
// loop. On a virtual machine where waking a thread costs tens of
// microseconds, those handoffs cost an exec of `true` a tenth of its time.
// A lane is a unix connection the guest dials to the host's lane socket
// (Config.Lane) ahead of need: the host writes a request on it and reads
// the reply from it in the requesting goroutine, and the guest reads and
// answers it in the goroutine that waited on the lane. The frames are a
// stream's, so the guest serves a lane as it serves a stream.
//
// The guest keeps one lane waiting: a lane's goroutine dials the next
// once it has served its request, or, if the request lasts, once it has
// run for laneOverlap, so that requests can overlap. (Dialing at once
// would put the dial, and the host's accept, beside every exec's start,
// where the two CPUs of a small machine have better to do.) The host keeps
// the lanes it is given (Client.AddLane) and falls back to a stream when
// it has none, as when requests overlap. A lane carries exactly one
// request, so a request's end needs no marking: each side closes it.

// laneConn is a lane with its reads buffered: a request's header and its
// first frames, or an exec's last output and its exit, usually arrive in
// one packet that one read then takes.
type laneConn struct {
	*net.UnixConn
	r *bufio.Reader
}

func newLaneConn(c *net.UnixConn) *laneConn {
	return &laneConn{UnixConn: c, r: bufio.NewReaderSize(c, 4<<10)}
}

func (c *laneConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// serveLanes keeps a lane waiting on the host once the guest is released,
// until it shuts down. It does nothing when the host has no lane socket.
func (g *guest) serveLanes() {
	if g.cfg.Lane == "" || !g.waitReleased() {
		return
	}
	g.lane()
}

// laneOverlap is how long a request runs before the next lane is dialed
// beside it.
const laneOverlap = 10 * time.Millisecond

// lane dials a lane and waits on it for a request, serves it, and dials
// the next (see laneOverlap). A lane that breaks before its request (the
// host restarting, or closing lanes it has enough of) is dialed again
// after a pause that grows while it keeps breaking.
func (g *guest) lane() {
	backoff := firstBackoff
	for {
		conn, ok := g.redial(g.cfg.Lane, &backoff)
		if !ok {
			return
		}
		lc := newLaneConn(conn)
		typ, p, _, err := readFrame(lc, nil)
		if err != nil {
			conn.Close()
			pause(&backoff)
			continue
		}
		backoff = firstBackoff
		next := time.AfterFunc(laneOverlap, g.lane)
		g.handleRequest(lc, typ, p)
		if !next.Stop() {
			return // the next lane is dialed already
		}
	}
}

// maxIdleLanes bounds the lanes a client keeps; the guest keeps one
// waiting, so more only come from a guest that redialed.
const maxIdleLanes = 2

// lanes is the host's pool of waiting lanes.
type lanes struct {
	mu     sync.Mutex
	idle   []*laneConn
	closed bool
}

// add keeps conn for a request, or closes it when the pool is full or
// closed.
func (l *lanes) add(conn *net.UnixConn) {
	l.mu.Lock()
	if l.closed || len(l.idle) >= maxIdleLanes {
		l.mu.Unlock()
		conn.Close()
		return
	}
	l.idle = append(l.idle, newLaneConn(conn))
	l.mu.Unlock()
}

// take returns a waiting lane, nil when there is none.
func (l *lanes) take() *laneConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.idle)
	if n == 0 {
		return nil
	}
	lc := l.idle[n-1]
	l.idle = l.idle[:n-1]
	return lc
}

// close closes the waiting lanes and refuses new ones; the guest dials
// its next lane when its waiting one breaks.
func (l *lanes) close() {
	l.mu.Lock()
	l.closed = true
	idle := l.idle
	l.idle = nil
	l.mu.Unlock()
	for _, lc := range idle {
		lc.Close()
	}
}
