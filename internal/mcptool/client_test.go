package mcptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/paddockhq/paddock"
)

// newMCPServer returns an MCP server with the test tools. The slow tool
// runs until its call is cancelled or stop is closed.
func newMCPServer(opts *mcp.ServerOptions, stop <-chan struct{}) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "v1"}, opts)
	type addIn struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Adds a and b."}, func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, errors.New("division by zero")
	})
	raw := func(name, schema string, h mcp.ToolHandler) {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(schema)}, h)
	}
	raw("image", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: "a chart"},
			&mcp.ImageContent{MIMEType: "image/png", Data: make([]byte, 1234)},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///data.csv", MIMEType: "text/csv", Text: "x,y\n1,2"}},
		}}, nil
	})
	raw("structured", `{"type":"object","properties":{"q":{"type":"string"}}}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{StructuredContent: map[string]any{"sum": 3, "unit": "apples"}}, nil
	})
	raw("big", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", 1000)}}}, nil
	})
	raw("slow", `{"type":"object"}`, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
		case <-stop: // should the cancellation be lost, which the SDK's server rarely does
		}
		return nil, errors.New("cancelled")
	})
	raw("dotted.name", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	raw(strings.Repeat("long", 16), `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	return srv
}

// testServer serves an MCP server over HTTP and counts what it sees.
type testServer struct {
	URL       string
	transport string
	token     atomic.Value // string; if set, requests need "Authorization: Bearer " + token
	opts      *mcp.ServerOptions
	handler   atomic.Pointer[http.Handler]
	inits     atomic.Int32  // initialize requests: sessions started
	deletes   atomic.Int32  // DELETE requests: sessions ended by the client
	streams   atomic.Int32  // SSE GET streams open
	stop      chan struct{} // closed by release: slow calls return
	release   func()
}

func serve(t *testing.T, transport, token string, opts *mcp.ServerOptions) *testServer {
	t.Helper()
	ts := &testServer{transport: transport, opts: opts, stop: make(chan struct{})}
	ts.release = sync.OnceFunc(func() { close(ts.stop) })
	ts.token.Store(token)
	ts.forget()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := ts.token.Load().(string); token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"method":"initialize"`)) {
				ts.inits.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		case http.MethodDelete:
			ts.deletes.Add(1)
		case http.MethodGet:
			ts.streams.Add(1)
			defer ts.streams.Add(-1)
		}
		(*ts.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.release()
		hs.CloseClientConnections()
		hs.Close()
	})
	ts.URL = hs.URL
	return ts
}

// forget replaces the server's handler with a new one: the old sessions
// are unknown to it, as after a restart.
func (ts *testServer) forget() {
	var opts mcp.ServerOptions
	if ts.opts != nil {
		opts = *ts.opts
	}
	var h http.Handler
	if ts.transport == TransportSSE {
		// Like real SSE servers, and unlike the SDK's (which sometimes
		// answers server/discover over SSE), speak only the protocol
		// versions before 2026-07-28, which have initialize: it counts
		// sessions.
		opts.SupportedProtocolVersions = slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v >= "2026-07-28" })
		srv := newMCPServer(&opts, ts.stop)
		h = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	} else {
		srv := newMCPServer(&opts, ts.stop)
		h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	}
	ts.handler.Store(&h)
}

func (ts *testServer) server() Server {
	return Server{Name: "calc", Transport: ts.transport, URL: ts.URL, Private: true}
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c := New(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually fails t unless cond becomes true within 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var transports = []string{TransportStreamableHTTP, TransportSSE}

func TestTools(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := serve(t, tr, "", &mcp.ServerOptions{PageSize: 2}) // several pages
			c := newClient(t, Options{})
			ctx := t.Context()
			tools, err := c.Tools(ctx, ts.server())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools {
				names = append(names, tool.Name)
				if tool.Server != "calc" || "mcp__calc__"+tool.Remote != tool.Name {
					t.Errorf("tool %+v", tool)
				}
				var schema map[string]any
				if err := json.Unmarshal(tool.Schema, &schema); err != nil || schema["type"] != "object" || schema["properties"] == nil {
					t.Errorf("tool %s: schema %s", tool.Name, tool.Schema)
				}
			}
			want := []string{"mcp__calc__add", "mcp__calc__big", "mcp__calc__fail", "mcp__calc__image", "mcp__calc__slow", "mcp__calc__structured"}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("tool names (-want +got):\n%s", diff)
			}
			if tools[0].Description != "Adds a and b." || !strings.Contains(string(tools[0].Schema), `"a":{"type":"integer"}`) {
				t.Errorf("add: %q %s", tools[0].Description, tools[0].Schema)
			}

			s := ts.server()
			s.EnabledTools = []string{"add", "structured", "missing"}
			tools, err = c.Tools(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools) != 2 || tools[0].Remote != "add" || tools[1].Remote != "structured" {
				t.Errorf("enabled tools: %+v", tools)
			}
			s.EnabledTools = []string{}
			if tools, err := c.Tools(ctx, s); err != nil || len(tools) != 0 {
				t.Errorf("no enabled tools: %v, %v", tools, err)
			}
		})
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := serve(t, tr, "", nil)
			c := newClient(t, Options{MaxResult: 200})
			for _, call := range []struct {
				tool, args string
				want       string
				isError    bool
			}{
				{"add", `{"a":2,"b":3}`, "5", false},
				{"fail", `{}`, "division by zero", true},
				{"add", `{"a":"two"}`, `validating "arguments": validating root: validating /properties/a: type: two has type "string", want "integer"`, true},
				{"image", ``, "a chart\n[image image/png, 1234 bytes]\nx,y\n1,2", false},
				{"structured", `null`, `{"sum":3,"unit":"apples"}`, false},
				{"big", `{}`, strings.Repeat("x", 200) + "\n[output truncated: 800 of 1000 bytes cut]", false},
			} {
				text, isError, err := c.Call(t.Context(), ts.server(), call.tool, json.RawMessage(call.args))
				if err != nil {
					t.Fatalf("%s: %v", call.tool, err)
				}
				if text != call.want || isError != call.isError {
					t.Errorf("%s = %q, %v; want %q, %v", call.tool, text, isError, call.want, call.isError)
				}
			}
			if ts.inits.Load() != 1 {
				t.Errorf("%d sessions, want 1", ts.inits.Load())
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	ts := serve(t, TransportStreamableHTTP, "", nil)
	c := newClient(t, Options{Timeout: 200 * time.Millisecond})
	t.Cleanup(ts.release) // before c.Close, whose DELETE waits for the slow call
	ctx := t.Context()
	s := ts.server()
	for _, tc := range []struct {
		name       string
		s          Server
		tool, args string
		code, want string
	}{
		{"not an object", s, "add", `[1,2]`, paddock.EInvalid, "must be a JSON object"},
		{"bad json", s, "add", `{"a":`, paddock.EInvalid, "must be a JSON object"},
		{"not enabled", Server{Name: "calc", URL: ts.URL, Private: true, EnabledTools: []string{"fail"}}, "add", `{}`, paddock.EForbidden, `tool "add" is not enabled`},
		{"invalid server", Server{Name: "calc", Transport: "stdio", URL: ts.URL}, "add", `{}`, paddock.EInvalid, "stdio"},
		{"unknown tool", s, "nope", `{}`, paddock.EUnavailable, `mcp server "calc": call nope: `},
		{"timeout", s, "slow", `{}`, paddock.EUnavailable, `mcp server "calc": call slow: timed out after 200ms`},
		{"down", Server{Name: "calc", URL: "http://127.0.0.1:1/mcp", Private: true}, "add", `{}`, paddock.EUnavailable, `mcp server "calc": connect: dial tcp 127.0.0.1:1: connect: connection refused`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Call(ctx, tc.s, tc.tool, json.RawMessage(tc.args))
			if paddock.ErrorCode(err) != tc.code || !strings.Contains(paddock.ErrorMessage(err), tc.want) {
				t.Fatalf("Call = %v; want %s error saying %q", err, tc.code, tc.want)
			}
		})
	}
	// A timed-out or rejected call leaves the session usable.
	if text, _, err := c.Call(ctx, s, "add", json.RawMessage(`{"a":1,"b":1}`)); err != nil || text != "2" {
		t.Fatalf("Call after errors = %q, %v", text, err)
	}
	if ts.inits.Load() != 1 {
		t.Errorf("%d sessions, want 1", ts.inits.Load())
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.Call(cctx, s, "add", nil); !errors.Is(err, context.Canceled) || paddock.ErrorMessage(err) != `mcp server "calc": call add: context canceled` {
		t.Errorf("Call with a cancelled context = %v", err)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := serve(t, tr, "x", nil)
			c := newClient(t, Options{})
			s := ts.server()
			_, _, err := c.Call(t.Context(), s, "add", nil)
			if want := `mcp server "calc": connect: HTTP 401 Unauthorized`; paddock.ErrorMessage(err) != want {
				t.Errorf("Call without the header = %v; want %q", err, want)
			}
			s.Headers = map[string]string{"Authorization": "Bearer wrong"}
			if _, err := c.Tools(t.Context(), s); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("Tools with a wrong token = %v", err)
			}
			s.Headers = map[string]string{"Authorization": "Bearer x"}
			if text, _, err := c.Call(t.Context(), s, "add", json.RawMessage(`{"a":1,"b":2}`)); err != nil || text != "3" {
				t.Errorf("Call with the header = %q, %v", text, err)
			}
		})
	}
}

func TestSessionReuse(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := serve(t, tr, "", nil)
			c := newClient(t, Options{})
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					text, _, err := c.Call(t.Context(), ts.server(), "add", json.RawMessage(fmt.Sprintf(`{"a":%d,"b":1}`, i)))
					if err != nil || text != fmt.Sprint(i+1) {
						t.Errorf("Call %d = %q, %v", i, text, err)
					}
				})
			}
			wg.Wait()
			if _, err := c.Tools(t.Context(), ts.server()); err != nil {
				t.Fatal(err)
			}
			if n := ts.inits.Load(); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
			// A changed configuration is a new session.
			s := ts.server()
			s.Headers = map[string]string{"X-Team": "a"}
			if _, _, err := c.Call(t.Context(), s, "add", nil); err != nil {
				t.Fatal(err)
			}
			if n := ts.inits.Load(); n != 2 {
				t.Errorf("%d sessions after a configuration change, want 2", n)
			}
		})
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ts := serve(t, tr, "", nil)
			c := newClient(t, Options{})
			if _, _, err := c.Call(t.Context(), ts.server(), "add", nil); err != nil {
				t.Fatal(err)
			}
			ts.forget()
			text, _, err := c.Call(t.Context(), ts.server(), "add", json.RawMessage(`{"a":4,"b":4}`))
			if err != nil || text != "8" {
				t.Fatalf("Call after the server forgot the session = %q, %v", text, err)
			}
			if n := ts.inits.Load(); n != 2 {
				t.Errorf("%d sessions, want 2", n)
			}
		})
	}
}

func TestPrivateAddress(t *testing.T) {
	t.Parallel()
	ts := serve(t, TransportStreamableHTTP, "", nil)
	c := newClient(t, Options{})
	s := ts.server()
	s.Private = false
	_, err := c.Tools(t.Context(), s)
	if want := `mcp server "calc": address 127.0.0.1 is not on a public network`; paddock.ErrorMessage(err) != want {
		t.Errorf("Tools on 127.0.0.1 = %v; want %q", err, want)
	}
	// A name that resolves to a loopback address is refused too.
	s.URL = strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	if _, _, err := c.Call(t.Context(), s, "add", nil); err == nil || !strings.Contains(err.Error(), "is not on a public network") {
		t.Errorf("Call on localhost = %v", err)
	}
	if ts.inits.Load() != 0 {
		t.Errorf("the server saw %d sessions", ts.inits.Load())
	}
	s.Private = true
	if _, _, err := c.Call(t.Context(), s, "add", nil); err != nil {
		t.Errorf("Call on a private server: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := serve(t, TransportStreamableHTTP, "", nil)
	c := newClient(t, Options{IdleTimeout: 20 * time.Millisecond})
	if _, _, err := c.Call(t.Context(), ts.server(), "add", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle session to be closed", func() bool { return ts.deletes.Load() == 1 })
	if _, _, err := c.Call(t.Context(), ts.server(), "add", nil); err != nil {
		t.Fatal(err)
	}
	if n := ts.inits.Load(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

func TestClose(t *testing.T) {
	// Not parallel: it counts goroutines.
	streamable := serve(t, TransportStreamableHTTP, "", nil)
	sse := serve(t, TransportSSE, "", nil)
	before := runtime.NumGoroutine()
	c := New(Options{})
	for _, ts := range []*testServer{streamable, sse} {
		if _, _, err := c.Call(t.Context(), ts.server(), "add", nil); err != nil {
			t.Fatal(err)
		}
	}
	if sse.streams.Load() != 1 {
		t.Errorf("%d SSE streams open, want 1", sse.streams.Load())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if streamable.deletes.Load() != 1 {
		t.Errorf("the streamable server saw %d DELETEs, want 1", streamable.deletes.Load())
	}
	eventually(t, "the SSE stream to end", func() bool { return sse.streams.Load() == 0 })
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if _, _, err := c.Call(t.Context(), streamable.server(), "add", nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Call after Close = %v", err)
	}
}

func TestHeadersStayWithTheServer(t *testing.T) {
	t.Parallel()
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/mcp", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	c := newClient(t, Options{})
	s := Server{Name: "calc", URL: redirect.URL + "/mcp", Headers: map[string]string{"Authorization": "Bearer secret"}, Private: true}
	_, err := c.Tools(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), "refused: not the server's origin") {
		t.Errorf("Tools through a redirect to another host = %v", err)
	}
	if leaked.Load() != nil {
		t.Errorf("the other host got a request with Authorization %q", leaked.Load())
	}
}
