package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/paddockhq/paddock"
)

// Attacher starts interactive processes in environments.
type Attacher interface {
	Attach(ctx context.Context, id string, req paddock.AttachRequest) (paddock.ExecSession, error)
}

type attachParams struct {
	ID      string   `path:"id"`
	Command []string `query:"command" description:"program and arguments (repeat the parameter), or one shell command line; default: an interactive shell"`
	TTY     *bool    `query:"tty" default:"true" description:"run on a pseudo-terminal; false keeps stdout and stderr apart"`
	Cols    int      `query:"cols" description:"initial terminal width"`
	Rows    int      `query:"rows" description:"initial terminal height"`
	Ticket  string   `query:"ticket" description:"a ticket from POST .../attach-ticket, for browsers"`
}

type ticketResponse struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// attachMessage is one JSON message on the attach WebSocket (seed 004 plus
// resize): stdin and resize from the client; stdout, stderr and exit from
// the server.
type attachMessage struct {
	Type     string `json:"type"`
	Data     string `json:"data,omitempty"`
	Cols     int    `json:"cols,omitempty"` // wider than a window size, to say what is wrong with one out of range
	Rows     int    `json:"rows,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
}

// maxTermSize bounds a terminal's columns and rows (?cols=, ?rows=,
// resize messages).
const maxTermSize = 1000

func (s *Server) handleAttachTicket(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	t, exp := s.tickets.issue("attach", env.ID, principal(r).User.ID, s.now())
	return writeJSON(w, http.StatusCreated, ticketResponse{Ticket: t, ExpiresAt: exp.UTC()})
}

// attachCredential finds the caller's credential for a WebSocket: the
// Authorization header, a "bearer.<token>" subprotocol, or seed 004's
// ["Authorization", "Bearer <token>"] pair (which browsers refuse to send,
// but other clients do). It returns the subprotocol to echo, if any.
func attachCredential(r *http.Request) (token, protocol string) {
	if t := bearer(r); t != "" {
		return t, ""
	}
	var protos []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			protos = append(protos, strings.TrimSpace(p))
		}
	}
	for i, p := range protos {
		if strings.HasPrefix(strings.ToLower(p), "bearer.") {
			return p[len("bearer."):], p
		}
		if strings.EqualFold(p, "Authorization") && i+1 < len(protos) {
			if next := protos[i+1]; len(next) > 7 && strings.EqualFold(next[:7], "bearer ") {
				return strings.TrimSpace(next[7:]), p
			}
		}
	}
	return "", ""
}

// handleAttach serves GET /api/v1/environments/{id}/attach. It is a public
// route for the middleware because browsers cannot send the Authorization
// header on WebSockets: it authenticates itself.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request) error {
	// Before anything else: a request that cannot become a WebSocket
	// must not spend a ticket or start a process.
	if err := checkUpgrade(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	token, proto := attachCredential(r)
	var p *paddock.Principal
	switch {
	case token != "":
		var err error
		if p, err = s.Auth.Authenticate(r.Context(), token); err != nil {
			return err
		}
	case r.URL.Query().Get("ticket") != "":
		uid, err := s.tickets.redeem(r.URL.Query().Get("ticket"), "attach", id, s.now())
		if err != nil {
			return err
		}
		u, err := s.Users.User(r.Context(), uid)
		if err != nil {
			return paddock.Errorf(paddock.EUnauthorized, "the ticket's user no longer exists")
		}
		p = &paddock.Principal{User: u}
	default:
		return paddock.Errorf(paddock.EUnauthorized, "missing credentials: send Authorization: Bearer <token>, the subprotocol bearer.<token>, or ?ticket= from POST /api/v1/environments/%s/attach-ticket", id)
	}
	r = r.WithContext(paddock.NewContextWithPrincipal(r.Context(), p))
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tty, err := queryBool(r, "tty", true)
	if err != nil {
		return err
	}
	cols, err := queryInt(r, "cols", 0, 0, maxTermSize)
	if err != nil {
		return err
	}
	rows, err := queryInt(r, "rows", 0, 0, maxTermSize)
	if err != nil {
		return err
	}
	req := paddock.AttachRequest{TTY: tty, Cols: uint16(cols), Rows: uint16(rows)}
	switch cmd := q["command"]; {
	case len(cmd) == 0:
	case len(cmd) == 1:
		if strings.TrimSpace(cmd[0]) == "" {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"command\" is empty: give a command line, or leave it out for an interactive shell")
		}
		req.Command = []string{"/bin/sh", "-c", cmd[0]}
	default:
		if cmd[0] == "" {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"command\": the first one, the program, is empty")
		}
		req.Command = cmd
	}
	// The process belongs to the socket, not to the request's context,
	// which ends when the handler hands the connection over.
	sess, err := s.Attacher.Attach(context.WithoutCancel(r.Context()), env.ID, req)
	if err != nil {
		return err
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true} // authenticated by token, not by origin cookie
	if proto != "" {
		opts.Subprotocols = []string{proto}
	}
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		sess.Close()
		return nil // Accept has answered the client
	}
	s.pumpAttach(r.Context(), conn, sess)
	return nil
}

// checkUpgrade refuses (EInvalid) a request that is not a WebSocket
// opening handshake websocket.Accept would take, so that the answer is
// this surface's JSON error rather than Accept's plain text.
func checkUpgrade(r *http.Request) error {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return paddock.Errorf(paddock.EInvalid, "this route is a WebSocket: open it with a WebSocket client, which sends Connection: Upgrade and Upgrade: websocket")
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return paddock.Errorf(paddock.EInvalid, "header Sec-WebSocket-Version must be 13, not %q", v)
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return paddock.Errorf(paddock.EInvalid, "the WebSocket handshake needs one Sec-WebSocket-Key header, not %d", len(keys))
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return paddock.Errorf(paddock.EInvalid, "header Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

// headerHasToken reports whether the comma-separated header name holds
// token, in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// attachMessageError says what is wrong with a client's message that
// json.Unmarshal refused.
func attachMessageError(err error) string {
	const want = `want JSON like {"type":"stdin","data":"ls\n"} or {"type":"resize","cols":120,"rows":40}`
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		kind := "a string"
		if te.Type.Kind() == reflect.Int {
			kind = fmt.Sprintf("an integer between 1 and %d", maxTermSize) // cols, rows
		}
		return fmt.Sprintf("malformed message: field %q must be %s, not %s; %s", te.Field, kind, te.Value, want)
	}
	return "malformed message: " + want
}

// pumpAttach relays one session: stdin and resize from the socket, output
// to it; the process ending closes the socket with its exit code, and the
// socket closing kills the process.
func (s *Server) pumpAttach(ctx context.Context, conn *websocket.Conn, sess paddock.ExecSession) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer sess.Close()
	conn.SetReadLimit(1 << 20)
	var writeMu sync.Mutex
	send := func(m attachMessage) error {
		b, _ := json.Marshal(m)
		writeMu.Lock()
		defer writeMu.Unlock()
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	var outputs sync.WaitGroup
	pipe := func(stream string, r io.Reader) {
		defer outputs.Done()
		buf := make([]byte, 32<<10)
		var carry []byte // an incomplete UTF-8 sequence held for the next read
		for {
			n, err := r.Read(buf)
			if n > 0 {
				data := append(carry, buf[:n]...)
				cut := len(data)
				for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
					if utf8.RuneStart(data[i]) {
						if !utf8.FullRune(data[i:]) {
							cut = i
						}
						break
					}
				}
				carry = append([]byte(nil), data[cut:]...)
				if send(attachMessage{Type: stream, Data: string(data[:cut])}) != nil {
					cancel()
					return
				}
			}
			if err != nil {
				if len(carry) > 0 {
					_ = send(attachMessage{Type: stream, Data: string(carry)})
				}
				return
			}
		}
	}
	outputs.Add(2)
	go pipe("stdout", sess.Stdout())
	go pipe("stderr", sess.Stderr())

	go func() { // client -> process
		defer cancel()
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m attachMessage
			if err := json.Unmarshal(b, &m); err != nil {
				_ = send(attachMessage{Type: "error", Data: attachMessageError(err)})
				continue
			}
			switch m.Type {
			case "stdin":
				if _, err := io.WriteString(sess.Stdin(), m.Data); err != nil {
					return
				}
			case "stdin_eof":
				sess.Stdin().Close()
			case "resize":
				if m.Cols < 1 || m.Cols > maxTermSize || m.Rows < 1 || m.Rows > maxTermSize {
					_ = send(attachMessage{Type: "error", Data: fmt.Sprintf("resize: cols and rows must be between 1 and %d, not cols=%d rows=%d", maxTermSize, m.Cols, m.Rows)})
					continue
				}
				_ = sess.Resize(uint16(m.Cols), uint16(m.Rows))
			default:
				_ = send(attachMessage{Type: "error", Data: "unknown message type " + strconv.Quote(m.Type) + ": want stdin, stdin_eof or resize"})
			}
		}
	}()

	exited := make(chan int, 1)
	go func() {
		code, err := sess.Wait()
		if err != nil {
			code = -1
		}
		exited <- code
	}()
	select {
	case code := <-exited:
		outputs.Wait() // all output before the exit message
		_ = send(attachMessage{Type: "exit", ExitCode: &code})
		conn.Close(websocket.StatusNormalClosure, "exit "+strconv.Itoa(code))
	case <-ctx.Done():
		// The client went away: Close (deferred) kills the process.
		conn.Close(websocket.StatusNormalClosure, "closed")
	}
}
