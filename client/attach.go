package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// AttachOptions says what an attach runs: Command (default: the
// environment's shell), on a pseudo-terminal of Cols x Rows when TTY.
type AttachOptions struct {
	Command    []string
	TTY        bool
	Cols, Rows int
}

// Attachment is an interactive process in an environment, over the attach
// WebSocket: write its input with Stdin, CloseStdin and Resize, and read
// its output with Wait.
type Attachment struct {
	conn *websocket.Conn
	ctx  context.Context
	mu   sync.Mutex // serializes writes
}

// attachMessage is a message of the attach WebSocket.
type attachMessage struct {
	Type     string `json:"type"`
	Data     string `json:"data,omitempty"`
	Cols     int    `json:"cols,omitempty"`
	Rows     int    `json:"rows,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
}

// Attach starts o's process in environment id. It lasts until the process
// exits or ctx ends; Close ends it early, killing the process.
func (c *Client) Attach(ctx context.Context, id string, o AttachOptions) (*Attachment, error) {
	u, err := url.Parse(c.BaseURL + "/api/v1/environments/" + url.PathEscape(id) + "/attach")
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	q := url.Values{"tty": {strconv.FormatBool(o.TTY)}}
	for _, a := range o.Command {
		q.Add("command", a)
	}
	if o.Cols > 0 && o.Rows > 0 {
		q.Set("cols", strconv.Itoa(o.Cols))
		q.Set("rows", strconv.Itoa(o.Rows))
	}
	u.RawQuery = q.Encode()
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.HTTP, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, decodeError(resp)
		}
		return nil, fmt.Errorf("attach to %s: %w", id, err)
	}
	conn.SetReadLimit(4 << 20)
	return &Attachment{conn: conn, ctx: ctx}, nil
}

func (a *Attachment) send(m attachMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conn.Write(a.ctx, websocket.MessageText, b)
}

// Stdin sends p to the process's standard input. The attach protocol
// carries text: bytes that are not UTF-8 arrive as U+FFFD.
func (a *Attachment) Stdin(p []byte) error {
	return a.send(attachMessage{Type: "stdin", Data: string(p)})
}

// CloseStdin ends the process's standard input.
func (a *Attachment) CloseStdin() error { return a.send(attachMessage{Type: "stdin_eof"}) }

// Resize sets the terminal's size.
func (a *Attachment) Resize(cols, rows int) error {
	return a.send(attachMessage{Type: "resize", Cols: cols, Rows: rows})
}

// Wait copies the process's output to stdout and stderr (on a terminal,
// everything is stdout) until it exits, and returns its exit code. Errors
// the server reports about messages go to onError.
func (a *Attachment) Wait(stdout, stderr io.Writer, onError func(string)) (int, error) {
	for {
		_, b, err := a.conn.Read(a.ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return -1, err
			}
			return -1, fmt.Errorf("attach: the connection ended before the process did: %w", err)
		}
		var m attachMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return -1, fmt.Errorf("attach: malformed message from the server: %w", err)
		}
		switch m.Type {
		case "stdout":
			_, err = io.WriteString(stdout, m.Data)
		case "stderr":
			_, err = io.WriteString(stderr, m.Data)
		case "exit":
			code := -1
			if m.ExitCode != nil {
				code = *m.ExitCode
			}
			a.conn.Close(websocket.StatusNormalClosure, "")
			return code, nil
		case "error":
			if onError != nil {
				onError(strings.TrimSpace(m.Data))
			}
		}
		if err != nil {
			return -1, err
		}
	}
}

// Close ends the attachment; a process still running is killed.
func (a *Attachment) Close() error { return a.conn.Close(websocket.StatusNormalClosure, "") }
