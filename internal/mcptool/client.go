package mcptool

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/paddockhq/paddock"
)

// Options configures a Client. Zero values take the defaults.
type Options struct {
	Version     string        // Paddock's version, sent as the client implementation version
	Timeout     time.Duration // per connect, list and call; default 60s
	IdleTimeout time.Duration // an unused session is closed after it; default 5 minutes
	ListTTL     time.Duration // a server's tool list is reused for this long; default 1 minute
	MaxResult   int           // bytes of a call's result text kept, default 100_000; longer results are cut and end with a line saying how much was cut
}

// Client keeps one MCP session per distinct Server configuration (name,
// transport, URL, headers, Private: a changed configuration is a new
// session), created on first use, reused while it works, and closed after
// IdleTimeout unused or when it fails. After a failure the next use
// reconnects; an operation that failed because the session was gone (the
// request never reached a live session) is retried once on a new one. A
// Client is safe for concurrent use; Close it to end its sessions.
type Client struct {
	opts    Options
	mcp     *mcp.Client
	public  *http.Transport // refuses non-public addresses
	private *http.Transport

	mu     sync.Mutex
	closed bool
	conns  map[string]*conn    // by Server.key
	lists  map[string]toolList // by Server.key

	stop chan struct{} // closed by Close: the reaper returns
	done chan struct{} // closed by the reaper when it returns
}

// conn is a session with a server, shared by concurrent users.
type conn struct {
	ready  chan struct{} // closed when connecting is over; cs or err is set then
	cs     *mcp.ClientSession
	cancel context.CancelFunc // ends the session's context
	err    error
	users  int       // operations using cs; guarded by Client.mu
	used   time.Time // when the last user was done; guarded by Client.mu
}

func (cn *conn) close() {
	if cn.cs != nil {
		_ = cn.cs.Close() // a failed DELETE leaves nothing for us to do
		cn.cancel()
	}
}

type toolList struct {
	tools []Tool // all the server's tools that have a model name
	at    time.Time
}

// New returns a Client. It starts a goroutine that closes idle sessions
// until Close.
func New(opts Options) *Client {
	opts.Version = cmp.Or(opts.Version, "dev")
	opts.Timeout = cmp.Or(max(opts.Timeout, 0), 60*time.Second)
	opts.IdleTimeout = cmp.Or(max(opts.IdleTimeout, 0), 5*time.Minute)
	opts.ListTTL = cmp.Or(max(opts.ListTTL, 0), time.Minute)
	opts.MaxResult = cmp.Or(max(opts.MaxResult, 0), 100_000)
	c := &Client{
		opts: opts,
		// No capabilities: Paddock offers servers no roots, sampling or
		// elicitation.
		mcp:     mcp.NewClient(&mcp.Implementation{Name: "paddock", Version: opts.Version}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}),
		public:  newTransport(false),
		private: newTransport(true),
		conns:   make(map[string]*conn),
		lists:   make(map[string]toolList),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.reap()
	return c
}

// Close closes all sessions and stops the idle reaper. Operations in flight
// fail; later ones fail at once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns, c.lists = nil, nil
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	for _, cn := range conns {
		<-cn.ready // bounded by Timeout
		cn.close()
	}
	c.public.CloseIdleConnections()
	c.private.CloseIdleConnections()
	return nil
}

// Tools returns the server's tools, filtered by s.EnabledTools, without
// those whose names cannot be model tool names. The server's list, all its
// pages (following NextCursor), is reused for ListTTL. Failures are as for
// Call.
func (c *Client) Tools(ctx context.Context, s Server) ([]Tool, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	key := s.key()
	c.mu.Lock()
	l, ok := c.lists[key]
	c.mu.Unlock()
	if !ok || time.Since(l.at) >= c.opts.ListTTL {
		l = toolList{at: time.Now()}
		err := c.do(ctx, s, "list tools", func(ctx context.Context, cs *mcp.ClientSession) error {
			// All pages: the SDK follows NextCursor, and Timeout bounds a
			// server that pages forever. A retry starts over.
			l.tools = nil
			for t, err := range cs.Tools(ctx, nil) {
				if err != nil {
					return err
				}
				if name, ok := ToolName(s.Name, t.Name); ok {
					l.tools = append(l.tools, Tool{Name: name, Server: s.Name, Remote: t.Name, Description: t.Description, Schema: schema(t)})
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if !c.closed {
			c.lists[key] = l
		}
		c.mu.Unlock()
	}
	var out []Tool
	for _, t := range l.tools {
		if s.EnabledTools == nil || slices.Contains(s.EnabledTools, t.Remote) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Call calls the server's tool remote with args, a JSON object (empty or
// null for none), and returns its result as text for the model and whether
// the tool reported an error. Text content is joined with newlines, images
// and audio become lines like "[image image/png, 1234 bytes]", embedded
// resources give their text, and structured content, when there is no text,
// its JSON.
//
// A tool not in s.EnabledTools is EForbidden; args that are not an object
// EInvalid. A transport or protocol failure (server down, HTTP 401, timeout,
// a JSON-RPC error) is EUnavailable, with a message that names the server
// and says what failed; when ctx ends, the error also wraps ctx.Err(). The
// text is cut at MaxResult bytes.
func (c *Client) Call(ctx context.Context, s Server, remote string, args json.RawMessage) (text string, isError bool, err error) {
	if err := s.Validate(); err != nil {
		return "", false, err
	}
	if s.EnabledTools != nil && !slices.Contains(s.EnabledTools, remote) {
		return "", false, paddock.Errorf(paddock.EForbidden, "mcp server %q: tool %q is not enabled", s.Name, remote)
	}
	if args = bytes.TrimSpace(args); string(args) == "null" {
		args = nil
	}
	if len(args) > 0 && (args[0] != '{' || !json.Valid(args)) {
		return "", false, paddock.Errorf(paddock.EInvalid, "mcp server %q: tool %q: the arguments must be a JSON object", s.Name, remote)
	}
	var res *mcp.CallToolResult
	err = c.do(ctx, s, "call "+remote, func(ctx context.Context, cs *mcp.ClientSession) error {
		params := &mcp.CallToolParams{Name: remote} // the SDK edits params: a new one per attempt
		if args != nil {
			params.Arguments = args
		}
		var err error
		res, err = cs.CallTool(ctx, params)
		return err
	})
	if err != nil {
		return "", false, err
	}
	return resultText(res, c.opts.MaxResult), res.IsError, nil
}

// do runs f on the session for s, within Timeout, connecting first if need
// be. A session that fails is closed; if the request never reached a live
// session, f runs once more on a new one.
func (c *Client) do(ctx context.Context, s Server, op string, f func(context.Context, *mcp.ClientSession) error) error {
	if err := ctx.Err(); err != nil {
		return ended(s, op, err)
	}
	key := s.key()
	for retried := false; ; retried = true {
		cn, err := c.acquire(ctx, s, key)
		if err != nil {
			return err
		}
		octx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		octx, status := withStatus(octx)
		err = f(octx, cn.cs)
		cancel()
		c.release(cn)
		if err == nil {
			return nil
		}
		// The SDK reports a session the server no longer knows as
		// ErrSessionMissing, or as HTTP 404 with a JSON-RPC error body from
		// some servers; one that was already closed as ErrConnectionClosed.
		gone := errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing) || status.Load() == http.StatusNotFound
		if gone || rpcError(err) == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			c.discard(key, cn)
		}
		if !gone || retried {
			return c.failure(ctx, s, op, err, status)
		}
	}
}

// acquire returns the session for s, connecting if there is none, counted
// as in use until release.
func (c *Client) acquire(ctx context.Context, s Server, key string) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, paddock.Errorf(paddock.EUnavailable, "mcp server %q: the MCP client is closed", s.Name)
	}
	cn, ok := c.conns[key]
	if !ok {
		cn = &conn{ready: make(chan struct{})}
		c.conns[key] = cn
	}
	cn.users++
	c.mu.Unlock()
	if !ok {
		// Connect apart from ctx: users waiting on cn need not share the
		// fate of the first one's ctx.
		go c.connect(context.WithoutCancel(ctx), s, key, cn)
	}
	select {
	case <-cn.ready:
	case <-ctx.Done():
		c.release(cn)
		return nil, ended(s, "connect", ctx.Err())
	}
	if cn.err != nil {
		c.release(cn)
		return nil, cn.err
	}
	return cn, nil
}

func (c *Client) release(cn *conn) {
	c.mu.Lock()
	cn.users--
	cn.used = time.Now()
	c.mu.Unlock()
}

// discard closes cn and forgets it, if it is still the session for key.
func (c *Client) discard(key string, cn *conn) {
	c.mu.Lock()
	if c.conns[key] == cn {
		delete(c.conns, key)
	}
	c.mu.Unlock()
	cn.close()
}

// connect starts cn, a session with s, within Timeout, and closes
// cn.ready. The session's context outlives ctx.
func (c *Client) connect(ctx context.Context, s Server, key string, cn *conn) {
	defer close(cn.ready)
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	cctx, status := withStatus(cctx)
	u, _ := url.Parse(s.URL) // s is valid
	base := c.public
	if s.Private {
		base = c.private
	}
	hc := &http.Client{Transport: &roundTripper{base: base, origin: origin(u), headers: s.Headers, userAgent: "paddock/" + c.opts.Version}}
	var t mcp.Transport = &mcp.SSEClientTransport{Endpoint: s.URL, HTTPClient: hc}
	if s.Transport != TransportSSE {
		// No standalone GET stream: Paddock only lists and calls, so it
		// needs no server-initiated messages.
		t = &mcp.StreamableClientTransport{Endpoint: s.URL, HTTPClient: hc, DisableStandaloneSSE: true}
	}
	life, end := context.WithCancel(context.WithoutCancel(cctx))
	stop := context.AfterFunc(cctx, end)
	cs, err := c.mcp.Connect(cctx, sessionTransport{t, life}, nil)
	if !stop() && err == nil { // cctx ended as the handshake did: the session is cancelled
		_ = cs.Close()
		err = cctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		end()
		cn.err = c.failure(ctx, s, "connect", err, status)
		if c.conns[key] == cn {
			delete(c.conns, key)
		}
		return
	}
	cn.cs, cn.cancel = cs, end
}

// sessionTransport connects its Transport with the session's context: the
// SSE transport's event stream lives as long as that context, and must
// outlive the handshake's.
type sessionTransport struct {
	mcp.Transport
	ctx context.Context
}

func (t sessionTransport) Connect(context.Context) (mcp.Connection, error) {
	return t.Transport.Connect(t.ctx)
}

// failure returns the error to report for err, the failure of op on s.
// Its message is meant for users: it names the server and says what
// failed, without the server's URL (which may hold a key).
func (c *Client) failure(ctx context.Context, s Server, op string, err error, status *atomic.Int32) error {
	var addrErr *addressError
	var netErr *net.OpError
	var urlErr *url.Error
	why := err.Error()
	switch code := int(status.Load()); {
	case errors.As(err, &addrErr):
		return paddock.Errorf(paddock.EUnavailable, "mcp server %q: %v", s.Name, addrErr)
	case ctx.Err() != nil:
		return ended(s, op, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("timed out after %v", c.opts.Timeout)
	case code >= 400:
		why = fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
		if rpcErr := rpcError(err); rpcErr != nil {
			why += ": " + rpcErr.Message
		}
	case errors.As(err, &netErr):
		why = netErr.Error()
	case errors.As(err, &urlErr):
		why = urlErr.Err.Error()
	case rpcError(err) != nil:
		why = fmt.Sprintf("%s (JSON-RPC error %d)", rpcError(err).Message, rpcError(err).Code)
	}
	return paddock.Errorf(paddock.EUnavailable, "mcp server %q: %s: %s", s.Name, op, why)
}

// ended returns the error for op on s when the caller's context ended
// with err: an EUnavailable error, as the others, that also wraps err.
func ended(s Server, op string, err error) error {
	return endedError{paddock.Errorf(paddock.EUnavailable, "mcp server %q: %s: %v", s.Name, op, err), err}
}

type endedError struct {
	err   *paddock.Error
	cause error // context.Canceled or context.DeadlineExceeded
}

func (e endedError) Error() string   { return e.err.Error() }
func (e endedError) Unwrap() []error { return []error{e.err, e.cause} }

// rpcError returns the server's JSON-RPC error in err's chain, if any. The
// SDK marks requests that failed before reaching the server with a
// JSON-RPC error of code -32005, "rejected by transport": that is not one.
func rpcError(err error) *jsonrpc.Error {
	var e *jsonrpc.Error
	if errors.As(err, &e) && e.Code != -32005 {
		return e
	}
	return nil
}

// reap closes sessions unused for IdleTimeout and forgets expired tool
// lists, until Close.
func (c *Client) reap() {
	defer close(c.done)
	t := time.NewTicker(max(c.opts.IdleTimeout/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			var idle []*conn
			c.mu.Lock()
			for key, cn := range c.conns {
				if cn.cs != nil && cn.users == 0 && now.Sub(cn.used) >= c.opts.IdleTimeout {
					delete(c.conns, key)
					idle = append(idle, cn)
				}
			}
			for key, l := range c.lists {
				if now.Sub(l.at) >= c.opts.ListTTL {
					delete(c.lists, key)
				}
			}
			c.mu.Unlock()
			for _, cn := range idle {
				cn.close()
			}
		}
	}
}

// key identifies s's configuration: a change is a new session.
func (s Server) key() string {
	t := s.Transport
	if t == "" {
		t = TransportStreamableHTTP
	}
	b, _ := json.Marshal([]any{s.Name, t, s.URL, s.Headers, s.Private}) // maps marshal sorted
	return string(b)
}
