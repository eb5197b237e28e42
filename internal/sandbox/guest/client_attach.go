package guest

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Session is the host's end of an attached process.
type Session struct {
	c     *Client
	st    *yamux.Stream
	fw    *frameWriter
	id    string // the guest's name for the session, for kill requests
	stdin *sessionStdin

	stdoutR, stderrR *io.PipeReader
	stdoutW, stderrW *io.PipeWriter

	done   chan struct{} // closed when the exit (or the stream's end) is known
	status ExitStatus
	err    error

	closeOnce sync.Once
}

// Attach starts an interactive process. ctx bounds only the start: the
// session lives until the process exits or Close. A command that cannot
// start (not found, bad working directory) is a paddock.EInvalid error.
func (c *Client) Attach(ctx context.Context, req *AttachRequest) (*Session, error) {
	st, p, err := c.request(ctx, streamHeader{Kind: kindAttach, Attach: req})
	if err != nil {
		return nil, err
	}
	var reply attachReply
	if err := decodeJSON(p, &reply); err != nil {
		st.Close()
		return nil, err
	}
	s := &Session{c: c, st: st, fw: &frameWriter{w: st}, id: reply.Session, done: make(chan struct{})}
	s.stdin = &sessionStdin{fw: s.fw}
	s.stdoutR, s.stdoutW = io.Pipe()
	s.stderrR, s.stderrW = io.Pipe()
	go s.demux()
	return s, nil
}

// demux routes the guest's frames to the output pipes until the exit.
func (s *Session) demux() {
	defer close(s.done)
	defer s.st.Close()
	var buf []byte
	for {
		typ, p, nbuf, err := readFrame(s.st, buf)
		buf = nbuf
		if err != nil {
			s.err = s.c.readErr(err)
			s.stdoutW.CloseWithError(s.err)
			s.stderrW.CloseWithError(s.err)
			return
		}
		switch typ {
		case frameStdout:
			// A reader that closed its end is not an error: keep going
			// so the exit status still arrives.
			s.stdoutW.Write(p)
		case frameStderr:
			s.stderrW.Write(p)
		case frameExit:
			if err := decodeJSON(p, &s.status); err != nil {
				s.err = err
			}
			s.stdoutW.Close()
			s.stderrW.Close()
			return
		}
	}
}

// Stdin returns the process's input.
func (s *Session) Stdin() io.WriteCloser { return s.stdin }

// Stdout returns the process's output; with a TTY, all of it.
func (s *Session) Stdout() io.Reader { return s.stdoutR }

// Stderr returns the process's error output; empty with a TTY.
func (s *Session) Stderr() io.Reader { return s.stderrR }

// Resize sets the terminal's size.
func (s *Session) Resize(cols, rows uint16) error {
	return s.fw.writeJSON(frameResize, windowSize{Cols: cols, Rows: rows})
}

// Wait returns how the process ended.
func (s *Session) Wait() (ExitStatus, error) {
	<-s.done
	return s.status, s.err
}

// Close kills the process (its group; with a TTY, its whole terminal
// session) unless it has exited, and releases the session. Reads of
// Stdout and Stderr fail after it.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.stdoutR.Close()
		s.stderrR.Close()
		select {
		case <-s.done:
			return
		default:
		}
		// Closing the stream makes the guest kill the process, unless
		// the guest is stuck writing input the process does not read;
		// the kill request is on a fresh stream for that case.
		s.st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if st, _, err := s.c.request(ctx, streamHeader{Kind: kindKill, Kill: &killRequest{Session: s.id}}); err == nil {
			st.Close()
		}
	})
	return nil
}

// sessionStdin sends writes as stdin frames.
type sessionStdin struct {
	fw     *frameWriter
	mu     sync.Mutex
	closed bool
}

var errStdinClosed = errors.New("stdin is closed")

func (w *sessionStdin) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errStdinClosed
	}
	n := 0
	for len(p) > 0 {
		c := min(len(p), chunkSize)
		if err := w.fw.write(frameStdin, p[:c]); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

func (w *sessionStdin) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.fw.write(frameStdinEOF, nil)
}
