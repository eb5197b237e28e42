package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/paddockhq/paddock"
)

// Paddock serves each environment as an MCP server (streamable HTTP,
// stateless, JSON responses) at /api/v1/environments/{id}/mcp and
// /api/v1/agent/sandboxes/{id}/mcp: its tools run commands and read,
// write and list files in that environment. The request has passed wrap
// (authentication, rate limit); the handler checks the caller's write
// permission on the environment before any MCP message is read, so an
// MCP client configured with the URL and an Authorization header is
// everything it needs.

// mcpRPC documents an MCP message: JSON-RPC 2.0.
type mcpRPC struct {
	JSONRPC   string         `json:"jsonrpc" enum:"2.0"`
	RequestID any            `json:"id,omitempty"`
	Method    string         `json:"method,omitempty" description:"initialize, tools/list, tools/call, ..."`
	Params    map[string]any `json:"params,omitempty"`
	Result    map[string]any `json:"result,omitempty"`
}

type mcpCommandInput struct {
	Command string            `json:"command" jsonschema:"a shell command line, run with sh -c"`
	Timeout *int              `json:"timeout,omitempty" jsonschema:"seconds, default 300; the command's process group is killed then"`
	Cwd     string            `json:"cwd,omitempty" jsonschema:"working directory; default the environment's"`
	Env     map[string]string `json:"env,omitempty" jsonschema:"extra environment variables"`
}

type mcpPathInput struct {
	Path string `json:"path" jsonschema:"path in the environment; relative paths start at its working directory"`
}

type mcpWriteInput struct {
	Path     string `json:"path" jsonschema:"path in the environment; parent directories are created"`
	Content  string `json:"content" jsonschema:"the file's content"`
	Encoding string `json:"encoding,omitempty" jsonschema:"utf-8 (default) or base64"`
}

type mcpFileOutput struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Content  string `json:"content,omitempty"`
	Encoding string `json:"encoding,omitempty" jsonschema:"utf-8, or base64 for content that is not UTF-8"`
}

type mcpListOutput struct {
	Files []paddock.FileInfo `json:"files"`
}

// handleEnvironmentMCP serves one MCP request for the environment in the
// path, which it hands to the tools in the request's context.
func (s *Server) handleEnvironmentMCP(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environmentAs(r, r.PathValue("id"), paddock.PermissionWrite, "environment")
	if err != nil {
		return err
	}
	ew := &mcpErrorWriter{ResponseWriter: w}
	ctx := context.WithValue(r.Context(), mcpEnvKey{}, mcpRequest{env: env, req: r.Context()})
	s.mcpEnv.ServeHTTP(ew, r.WithContext(ctx))
	return ew.err()
}

// mcpEnvKey is the context key of the mcpRequest a tool call serves.
type mcpEnvKey struct{}

// mcpRequest is what a tool call knows of its HTTP request: the
// environment it acts in, and when the request ended. The SDK runs tools
// in a context detached from the request; but a stateless server's
// result can only go back on that request, so when the client hangs up
// the tool is cancelled (a command is killed) rather than run on.
type mcpRequest struct {
	env *paddock.Environment
	req context.Context
}

// environmentMCPHandler returns the handler of every environment's MCP
// requests: one server, built once (building one costs about 1 ms, most
// of it the SDK's checks of the tools' schemas), whose tools act in the
// environment of the request's context.
func (s *Server) environmentMCPHandler() http.Handler {
	srv := s.environmentMCP()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless: true, JSONResponse: true,
		// Every request carries its own credential (a bearer token, never
		// a cookie), which a DNS-rebinding page cannot send.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        s.fileBodyLimit(),
	})
}

// mcpErrorWriter passes the MCP handler's answers through, except the
// plain-text errors of its transport (a wrong Content-Type or Accept, a
// malformed or unknown message, a body over the limit), which it holds
// so that they are answered in the API's error body like every other.
type mcpErrorWriter struct {
	http.ResponseWriter
	status int          // of a held error; 0 while passing through
	msg    bytes.Buffer // its text
}

func (w *mcpErrorWriter) WriteHeader(status int) {
	if status >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.status = status
		w.Header().Del("Content-Type")
		w.Header().Del("X-Content-Type-Options")
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *mcpErrorWriter) Write(b []byte) (int, error) {
	if w.status != 0 {
		if w.msg.Len() < 1024 {
			w.msg.Write(b[:min(len(b), 1024)])
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *mcpErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// mcpErrorCodes maps the statuses of the MCP transport's errors to codes.
var mcpErrorCodes = map[int]string{
	http.StatusBadRequest:            paddock.EInvalid,
	http.StatusForbidden:             paddock.EForbidden,
	http.StatusNotFound:              paddock.ENotFound,
	http.StatusConflict:              paddock.EConflict,
	http.StatusRequestEntityTooLarge: paddock.ETooLarge,
	http.StatusUnsupportedMediaType:  paddock.EUnsupported,
}

// err is the error the MCP handler answered, or nil.
func (w *mcpErrorWriter) err() error {
	if w.status == 0 {
		return nil
	}
	msg := strings.TrimSpace(w.msg.String())
	if code, ok := mcpErrorCodes[w.status]; ok {
		return paddock.Errorf(code, "%s", msg)
	}
	return fmt.Errorf("MCP handler: %d %s", w.status, msg)
}

// environmentMCP returns the MCP server whose tools act in the
// environment of their request's context.
func (s *Server) environmentMCP() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "paddock", Title: "Paddock environment", Version: s.cfg.Version},
		&mcp.ServerOptions{Instructions: "Tools that act in an isolated Paddock environment (a container): run shell commands, read, write and list files."})
	mcp.AddTool(srv, &mcp.Tool{Name: "run_command", Description: "Run a shell command (sh -c) in the environment and return its exit code, stdout and stderr."},
		mcpTool(s, func(ctx context.Context, env *paddock.Environment, in mcpCommandInput) (*mcp.CallToolResult, runCommandResponse, error) {
			if err := requireField("command", in.Command); err != nil {
				return nil, runCommandResponse{}, err
			}
			timeout, err := secondsField("timeout", in.Timeout, defaultCommandTimeout)
			if err != nil {
				return nil, runCommandResponse{}, err
			}
			if err := paddock.CheckEnv(in.Env); err != nil {
				return nil, runCommandResponse{}, err
			}
			res, err := s.Environments.ExecIn(ctx, env, &paddock.ExecRequest{
				Command: []string{"sh", "-c", in.Command}, Env: in.Env, Dir: in.Cwd, Timeout: time.Duration(timeout) * time.Second,
			})
			if err != nil {
				return nil, runCommandResponse{}, err
			}
			out := runCommandOf(env.ID, res)
			// The text the model reads: the output, then how it ended.
			var b strings.Builder
			b.WriteString(res.Stdout)
			if res.Stderr != "" {
				fmt.Fprintf(&b, "\n[stderr]\n%s", res.Stderr)
			}
			fmt.Fprintf(&b, "\n[exit code %d]", res.ExitCode)
			if res.TimedOut {
				b.WriteString(" [timed out]")
			}
			if res.OOMKilled {
				b.WriteString(" [killed: out of memory]")
			}
			if res.Truncated {
				b.WriteString(" [output truncated]")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}, IsError: res.ExitCode != 0}, out, nil
		}))
	mcp.AddTool(srv, &mcp.Tool{Name: "read_file", Description: fmt.Sprintf("Read a file of the environment (at most %d bytes); content that is not UTF-8 comes back as base64.", maxSandboxFileBytes)},
		mcpTool(s, func(ctx context.Context, env *paddock.Environment, in mcpPathInput) (*mcp.CallToolResult, mcpFileOutput, error) {
			if err := requireField("path", in.Path); err != nil {
				return nil, mcpFileOutput{}, err
			}
			info, b, err := s.readWhole(ctx, env.ID, in.Path, "read a part with run_command (head, tail, sed -n)")
			if err != nil {
				return nil, mcpFileOutput{}, err
			}
			out := mcpFileOutput{Path: info.Path, Size: int64(len(b)), Content: string(b), Encoding: "utf-8"}
			if !jsonText(b, maxSandboxFileBytes) {
				out.Content, out.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: out.Content}}}, out, nil
		}))
	mcp.AddTool(srv, &mcp.Tool{Name: "write_file", Description: "Write a file in the environment, creating its parent directories; it is replaced if it exists."},
		mcpTool(s, func(ctx context.Context, env *paddock.Environment, in mcpWriteInput) (*mcp.CallToolResult, mcpFileOutput, error) {
			if err := requireField("path", in.Path); err != nil {
				return nil, mcpFileOutput{}, err
			}
			content, err := fileContent(in.Content, in.Encoding)
			if err != nil {
				return nil, mcpFileOutput{}, err
			}
			n, err := s.Files.WriteFile(ctx, env.ID, in.Path, bytes.NewReader(content), 0o644)
			if err != nil {
				return nil, mcpFileOutput{}, err
			}
			info, err := s.Files.StatFile(ctx, env.ID, in.Path)
			if err != nil {
				return nil, mcpFileOutput{}, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("wrote %d bytes to %s", n, info.Path)}}},
				mcpFileOutput{Path: info.Path, Size: n}, nil
		}))
	mcp.AddTool(srv, &mcp.Tool{Name: "list_files", Description: "List a directory of the environment: name, type, size, mode and modification time of each entry."},
		mcpTool(s, func(ctx context.Context, env *paddock.Environment, in mcpPathInput) (*mcp.CallToolResult, mcpListOutput, error) {
			if err := requireField("path", in.Path); err != nil {
				return nil, mcpListOutput{}, err
			}
			files, err := s.Files.ListFiles(ctx, env.ID, in.Path)
			if err != nil {
				return nil, mcpListOutput{}, err
			}
			var b strings.Builder
			for _, f := range files {
				name := f.Name
				if f.Type == paddock.FileTypeDir {
					name += "/"
				}
				fmt.Fprintf(&b, "%s %10d %s %s\n", f.Mode, f.Size, f.ModTime.Format(time.DateTime), name)
			}
			if files == nil {
				files = []paddock.FileInfo{}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: b.String()}}}, mcpListOutput{Files: files}, nil
		}))
	return srv
}

// mcpTool adapts h to the SDK: it gets the environment of the request's
// context, and its errors become tool errors whose text is the error's
// message, as the API would give it (an internal error is logged, and
// only named).
func mcpTool[In, Out any](s *Server, h func(ctx context.Context, env *paddock.Environment, in In) (*mcp.CallToolResult, Out, error)) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		mr, ok := ctx.Value(mcpEnvKey{}).(mcpRequest)
		if !ok {
			var zero Out
			return nil, zero, errors.New("internal error: no environment")
		}
		env := mr.env
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(mr.req, cancel)()
		res, out, err := h(ctx, env, in)
		if err != nil {
			if paddock.ErrorCode(err) == paddock.EInternal {
				s.log.ErrorContext(ctx, "MCP tool", "tool", req.Params.Name, "environment", env.ID, "err", err)
			}
			return nil, out, errors.New(paddock.ErrorMessage(err))
		}
		return res, out, nil
	}
}

// jsonText reports whether a whole file read (MCP read_file, POST
// /api/v1/sandbox/read-file) is sent as text: UTF-8 whose JSON string is
// no longer than the base64 of the largest file they read (limit). JSON
// escapes control characters, and Go's encoder also <, > and &, in six
// bytes each, and the MCP SDK makes several copies of a result: a 32 MiB
// file of NULs or of '<' took 20 to 30 s and gigabytes of memory as text.
// Past that bound, base64 (4/3 of the file) is what the text would cost
// at most.
func jsonText(b []byte, limit int) bool {
	if !utf8.Valid(b) {
		return false
	}
	n := len(b)
	for _, c := range b {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 5
		}
	}
	return n <= base64.StdEncoding.EncodedLen(limit)
}
