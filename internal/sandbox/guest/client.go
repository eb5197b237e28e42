package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/paddockhq/paddock"
)

// Client is the host's end of one guest's connection.
type Client struct {
	sess        *yamux.Session
	cancelGrace time.Duration // see cancelGrace

	// spare is a stream opened ahead of the request that will use it.
	// Opening one costs a trip through both ends' send loops and, in the
	// guest, an accept and a goroutine start; on a spare stream a request
	// finds a guest goroutine already waiting for its header. The guest
	// waits for a stream's header for as long as the stream is open, so a
	// spare never goes stale while the session lives.
	spareMu sync.Mutex
	spare   *yamux.Stream
	opening bool // a spare is being opened

	lanes lanes // lanes the guest dialed, for execs (see lane.go)
}

// NewClient runs the host side of the protocol over conn, which the guest
// dialed. Log batches the guest sends are passed to onLog (from a single
// goroutine owned by the client, which ends when the connection does).
func NewClient(conn net.Conn, onLog func([]paddock.LogEntry)) (*Client, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.KeepAliveInterval = 10 * time.Second
	// Exec output can be large; a bigger window keeps throughput up.
	cfg.MaxStreamWindowSize = 1 << 20
	sess, err := yamux.Client(&coalescingConn{Conn: conn}, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start session: %w", err)
	}
	c := &Client{sess: sess, cancelGrace: cancelGrace}
	go c.acceptLoop(onLog)
	return c, nil
}

// openStream returns the spare stream, or a new one when there is none.
// Callers call refill once their request is sent (or, for exec, done).
func (c *Client) openStream() (*yamux.Stream, error) {
	c.spareMu.Lock()
	st := c.spare
	c.spare = nil
	c.spareMu.Unlock()
	if st != nil {
		return st, nil
	}
	return c.sess.OpenStream()
}

// refill opens the next spare stream, unless there is one already or one
// is being opened. Requests call it once they are sent, or done: it then
// overlaps with the guest's work on them, or with the caller's, instead
// of delaying the next request.
func (c *Client) refill() {
	c.spareMu.Lock()
	if c.spare != nil || c.opening {
		c.spareMu.Unlock()
		return
	}
	c.opening = true
	c.spareMu.Unlock()
	st, err := c.sess.OpenStream()
	c.spareMu.Lock()
	c.opening = false
	if err == nil {
		c.spare = st
	}
	c.spareMu.Unlock()
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.sess.CloseChan() }

// Close ends the connection and closes the waiting lanes. The guest will
// dial again.
func (c *Client) Close() error {
	c.lanes.close()
	return c.sess.Close()
}

// AddLane gives the client a lane the guest dialed to the host's lane
// socket, for a later exec. The client keeps a few and closes the rest,
// and closes it too once the client is closed.
func (c *Client) AddLane(conn *net.UnixConn) { c.lanes.add(conn) }

// Ping checks the guest answers, within ctx: the session's own ping waits
// for its keepalive timeout (10 s) whatever the caller's deadline.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	type pong struct {
		rtt time.Duration
		err error
	}
	ch := make(chan pong, 1)
	go func() {
		rtt, err := c.sess.Ping()
		ch <- pong{rtt, err}
	}()
	select {
	case p := <-ch:
		return p.rtt, p.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Start releases a guest started with Config.Hold: it runs the
// environment's command and serves exec and attach from then on. A guest
// already released answers too. A non-nil cfg replaces the environment,
// directory and command the guest was started with (a guest started ahead
// of demand learns whose environment it is only now); a guest already
// released refuses it.
func (c *Client) Start(ctx context.Context, cfg *StartConfig) error {
	st, _, err := c.request(ctx, streamHeader{Kind: kindStart, Start: cfg})
	if err != nil {
		return fmt.Errorf("start guest: %w", err)
	}
	st.Close()
	return nil
}

func (c *Client) acceptLoop(onLog func([]paddock.LogEntry)) {
	for {
		st, err := c.sess.AcceptStream()
		if err != nil {
			return
		}
		// Only the log stream is opened by the guest; it lives as long as
		// the session, so handling it inline is fine.
		c.readLogs(st, onLog)
	}
}

func (c *Client) readLogs(st *yamux.Stream, onLog func([]paddock.LogEntry)) {
	defer st.Close()
	typ, p, buf, err := readFrame(st, nil)
	if err != nil || typ != frameHeader {
		return
	}
	var h streamHeader
	if json.Unmarshal(p, &h) != nil || h.Kind != "log" {
		return
	}
	for {
		typ, p, buf, err = readFrame(st, buf)
		if err != nil {
			return
		}
		if typ != frameLog {
			continue
		}
		var entries []paddock.LogEntry
		if json.Unmarshal(p, &entries) == nil && onLog != nil {
			onLog(entries)
		}
	}
}

// ErrProtocol reports a guest that broke the protocol.
var ErrProtocol = errors.New("guest protocol error")

// Exec runs req in the guest. Output is written to stdout and stderr as it
// arrives; stdin, when non-nil, is copied to the process. Cancelling ctx
// closes the stream, which makes the guest kill the process group; Exec
// then returns ctx's error, once the guest has reported the kill or, from
// a guest that does not (paused, or stuck), after cancelGrace.
func (c *Client) Exec(ctx context.Context, req *ExecRequest, stdin io.Reader, stdout, stderr io.Writer) (ExitStatus, error) {
	if stdin == nil && !req.NoStdin {
		r := *req
		r.NoStdin = true
		req = &r
	}
	hdr, err := json.Marshal(streamHeader{Kind: "exec", Exec: req})
	if err != nil {
		return ExitStatus{}, fmt.Errorf("send request: %w", err)
	}
	msg := appendFrame(nil, frameHeader, hdr)
	if stdin == nil {
		// One write for both: one packet, one wakeup of the guest.
		msg = appendFrame(msg, frameStdinEOF, nil)
	}

	if lc := c.lanes.take(); lc != nil {
		es, replied, err := c.exec(ctx, lc, lc.CloseWrite, func() { lc.Close() }, msg, stdin, stdout, stderr)
		lc.Close()
		if err == nil || replied || stdin != nil || ctx.Err() != nil {
			return es, err
		}
		// The lane broke before any reply. The guest answers every request
		// it reads, so it did not read this one and nothing ran: send it
		// on a stream. (Not with stdin, some of which the lane took.)
	}

	st, err := c.openStream()
	if err != nil {
		return ExitStatus{}, fmt.Errorf("open stream: %w", err)
	}
	// Closing sends a FIN and waits for the session's send loop to write
	// it; the result need not wait for that, nor for the next spare stream,
	// opened then too, while the guest is idle again and the caller answers
	// its own caller. The goroutine ends once both are written or the
	// session is closed.
	defer func() {
		go func() {
			st.Close()
			c.refill()
		}()
	}()
	es, _, err := c.exec(ctx, st, st.Close, func() { abortStream(st) }, msg, stdin, stdout, stderr)
	return es, err
}

// cancelGrace is how long an exec whose context ended waits for the guest
// to report the process it killed before it gives up on the reply
// (Client.cancelGrace, which tests shorten).
const cancelGrace = 5 * time.Second

// exec sends msg, an exec request, on st, a stream or a lane, copies stdin
// to the process and its output to stdout and stderr, and returns its exit
// status. Cancelling ctx half-closes st (closeWrite), which makes the guest
// kill the process group; exec then returns ctx's error, at the latest
// c.cancelGrace later, when abort breaks st. replied reports whether the
// guest sent anything.
func (c *Client) exec(ctx context.Context, st io.ReadWriter, closeWrite func() error, abort func(), msg []byte, stdin io.Reader, stdout, stderr io.Writer) (es ExitStatus, replied bool, err error) {
	done := make(chan struct{})
	defer close(done)
	stop := context.AfterFunc(ctx, func() {
		closeWrite()
		t := time.NewTimer(c.cancelGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			abort()
		}
	})
	defer stop()

	if _, err := st.Write(msg); err != nil {
		return ExitStatus{}, false, c.ctxErr(ctx, fmt.Errorf("send request: %w", err))
	}
	if stdin != nil {
		fw := &frameWriter{w: st}
		go func() {
			buf := make([]byte, chunkSize)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && fw.write(frameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					fw.write(frameStdinEOF, nil)
					return
				}
			}
		}()
	}

	var buf []byte
	for {
		typ, p, nbuf, err := readFrame(st, buf)
		buf = nbuf
		if err != nil {
			return ExitStatus{}, replied, c.ctxErr(ctx, fmt.Errorf("read output: %w", err))
		}
		replied = true
		switch typ {
		case frameStdout:
			if stdout != nil {
				stdout.Write(p)
			}
		case frameStderr:
			if stderr != nil {
				stderr.Write(p)
			}
		case frameExit:
			if err := json.Unmarshal(p, &es); err != nil {
				return ExitStatus{}, true, fmt.Errorf("%w: exit frame: %v", ErrProtocol, err)
			}
			// Closing the stream on cancel is a half-close: the guest kills
			// the group and still reports the exit, which the caller no
			// longer wants.
			if ctx.Err() != nil {
				return ExitStatus{}, true, ctx.Err()
			}
			// A stdin reader that never ends must not be waited for: Read may
			// block forever; closing the stream makes its next write fail.
			return es, true, nil
		default:
			return ExitStatus{}, true, fmt.Errorf("%w: unexpected frame %q", ErrProtocol, typ)
		}
	}
}

func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ErrUnsupported reports a guest agent too old for a request: it was
// started by an earlier Paddock and does not know the request's kind.
var ErrUnsupported = errors.New("the guest agent does not support this request")

// ErrConnectionLost reports the connection to the guest broke mid-request.
var ErrConnectionLost = errors.New("connection to the guest lost")

// request opens a stream, sends h and returns the guest's first reply
// (frameOK's payload). ctx bounds only this exchange; the caller owns the
// stream after.
func (c *Client) request(ctx context.Context, h streamHeader) (*yamux.Stream, []byte, error) {
	st, err := c.openStream()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: open stream: %v", ErrConnectionLost, err)
	}
	stop := context.AfterFunc(ctx, func() { abortStream(st) })
	fw := &frameWriter{w: st}
	if err := fw.writeJSON(frameHeader, h); err != nil {
		stop()
		st.Close()
		return nil, nil, c.ctxErr(ctx, fmt.Errorf("%w: send request: %v", ErrConnectionLost, err))
	}
	c.refill()
	p, err := c.reply(st, nil, true)
	if !stop() {
		st.Close()
		return nil, nil, ctx.Err()
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, p, nil
}

// reply reads the guest's next reply on st: frameOK's payload (a copy),
// or frameError as an error. Frames of types this host does not know are
// skipped. first says no reply has come yet on st, so EOF means a guest
// that closed the stream without answering: one from before replies.
func (c *Client) reply(st *yamux.Stream, buf []byte, first bool) ([]byte, error) {
	for {
		typ, p, nbuf, err := readFrame(st, buf)
		buf = nbuf
		if err != nil {
			if first && err == io.EOF && !c.sess.IsClosed() {
				return nil, ErrUnsupported
			}
			return nil, c.readErr(err)
		}
		switch typ {
		case frameOK:
			return append([]byte(nil), p...), nil
		case frameError:
			return nil, decodeError(p)
		}
	}
}

// readErr classifies a failed read on a request's stream.
func (c *Client) readErr(err error) error {
	if errors.Is(err, errFrameTooLarge) {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return fmt.Errorf("%w: %v", ErrConnectionLost, err)
}

// decodeError turns a frameError payload into an error: a *paddock.Error
// for the codes whose messages are meant for callers, ErrUnsupported, or
// a plain error (logged, never shown) for internal failures.
func decodeError(p []byte) error {
	var we wireError
	if err := json.Unmarshal(p, &we); err != nil {
		return fmt.Errorf("%w: error frame: %v", ErrProtocol, err)
	}
	switch we.Code {
	case codeUnsupported:
		return fmt.Errorf("%w: %s", ErrUnsupported, we.Message)
	case paddock.EInvalid, paddock.ENotFound, paddock.EForbidden, paddock.EConflict,
		paddock.ETooLarge, paddock.EUnavailable:
		return &paddock.Error{Code: we.Code, Message: we.Message}
	}
	return fmt.Errorf("guest: %s", we.Message)
}

// abortStream makes pending and future reads and writes on st fail now
// and tells the guest the host is gone.
func abortStream(st *yamux.Stream) {
	st.SetDeadline(time.Now())
	st.Close()
}
