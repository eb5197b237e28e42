package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/paddockhq/paddock"
)

// Client is the host's end of one guest's connection.
type Client struct {
	sess *yamux.Session
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
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start session: %w", err)
	}
	c := &Client{sess: sess}
	go c.acceptLoop(onLog)
	return c, nil
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.sess.CloseChan() }

// Close ends the connection. The guest will dial again.
func (c *Client) Close() error { return c.sess.Close() }

// Ping checks the guest answers.
func (c *Client) Ping() (time.Duration, error) { return c.sess.Ping() }

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
// then returns ctx's error.
func (c *Client) Exec(ctx context.Context, req *ExecRequest, stdin io.Reader, stdout, stderr io.Writer) (ExitStatus, error) {
	st, err := c.sess.OpenStream()
	if err != nil {
		return ExitStatus{}, fmt.Errorf("open stream: %w", err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()

	fw := &frameWriter{w: st}
	if err := fw.writeJSON(frameHeader, streamHeader{Kind: "exec", Exec: req}); err != nil {
		return ExitStatus{}, c.ctxErr(ctx, fmt.Errorf("send request: %w", err))
	}
	if stdin == nil {
		if err := fw.write(frameStdinEOF, nil); err != nil {
			return ExitStatus{}, c.ctxErr(ctx, fmt.Errorf("send stdin: %w", err))
		}
	} else {
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
			return ExitStatus{}, c.ctxErr(ctx, fmt.Errorf("read output: %w", err))
		}
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
			var es ExitStatus
			if err := json.Unmarshal(p, &es); err != nil {
				return ExitStatus{}, fmt.Errorf("%w: exit frame: %v", ErrProtocol, err)
			}
			// Closing the stream on cancel is a half-close in yamux: the guest
			// kills the group and still reports the exit, which the caller
			// no longer wants.
			if ctx.Err() != nil {
				return ExitStatus{}, ctx.Err()
			}
			// A stdin reader that never ends must not be waited for: Read may
			// block forever; closing the stream makes its next write fail.
			return es, nil
		default:
			return ExitStatus{}, fmt.Errorf("%w: unexpected frame %q", ErrProtocol, typ)
		}
	}
}

func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
