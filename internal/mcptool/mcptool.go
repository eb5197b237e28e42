// Package mcptool connects agents to MCP servers: it lists a server's tools
// for the model and calls them, over the streamable HTTP or SSE transport,
// through the official SDK.
package mcptool

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/paddockhq/paddock"
)

// Transports.
const (
	TransportStreamableHTTP = "streamable_http"
	TransportSSE            = "sse"
)

// Server is an MCP server as Paddock reaches it.
type Server struct {
	Name         string            // [a-z0-9_-], 1-32 chars, no "__"; the tools' prefix
	Transport    string            // TransportStreamableHTTP ("streamable_http", the default when empty) or TransportSSE ("sse")
	URL          string            // http or https
	Headers      map[string]string // sent with every request to the server's origin (e.g. Authorization)
	EnabledTools []string          // nil: all of the server's tools; else only these (remote names)
	// Private allows addresses on loopback, private, link-local and other
	// non-public networks (servers an admin registered; or all when the
	// operator allows it). Without it such addresses are refused at dial
	// time, after DNS resolution, so a name that resolves to 127.0.0.1 or
	// 169.254.169.254 is refused too.
	Private bool
}

// checkName checks a server's name: the prefix of its tools' names.
func checkName(name string) error {
	if n := len(name); n < 1 || n > 32 || strings.Contains(name, "__") || strings.ContainsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	}) {
		return paddock.Errorf(paddock.EInvalid, `mcp server name %q is invalid: use 1 to 32 of a-z, 0-9, "_" and "-", without "__"`, name)
	}
	return nil
}

// Validate checks s's name, transport, URL and headers. Failures are
// EInvalid, naming the field and what is wrong. An empty transport means
// streamable_http; stdio is refused with its own message, as Paddock does
// not run commands on its host.
func (s Server) Validate() error {
	if err := checkName(s.Name); err != nil {
		return err
	}
	switch s.Transport {
	case "", TransportStreamableHTTP, TransportSSE:
	case "stdio":
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: transport stdio is not supported: stdio servers would run a command on the Paddock host, which Paddock does not do; use an MCP server reachable over HTTP (streamable_http or sse)", s.Name)
	default:
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: transport %q is not supported: use streamable_http or sse", s.Name, s.Transport)
	}
	if s.URL == "" {
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: url is required", s.Name)
	}
	u, err := url.Parse(s.URL)
	switch {
	case err != nil:
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: url is not a valid URL", s.Name)
	case u.Scheme != "http" && u.Scheme != "https":
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: url must start with http:// or https://", s.Name)
	case u.Host == "":
		return paddock.Errorf(paddock.EInvalid, "mcp server %q: url has no host", s.Name)
	}
	for k, v := range s.Headers {
		if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) }) {
			return paddock.Errorf(paddock.EInvalid, "mcp server %q: headers: %q is not a valid header name", s.Name, k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return paddock.Errorf(paddock.EInvalid, "mcp server %q: headers: the value of %s contains a line break", s.Name, k)
		}
	}
	return nil
}

// Tool is one tool of a server as the model sees it.
type Tool struct {
	Name        string          // "mcp__" + server name + "__" + remote name; at most 64 chars, [A-Za-z0-9_-]
	Server      string          // the server's name
	Remote      string          // the tool's name on the server
	Description string          // the server's description of the tool
	Schema      json.RawMessage // the tool's input JSON Schema: an object schema, {"type":"object","properties":{}} when the server gives none
}

const toolPrefix = "mcp__"

// ToolName returns the model-facing name of a server's tool, and false when
// it cannot be one (too long or characters outside [A-Za-z0-9_-]).
func ToolName(server, remote string) (string, bool) {
	name := toolPrefix + server + "__" + remote
	if server == "" || remote == "" || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-')
	}) {
		return "", false
	}
	return name, true
}

// SplitToolName returns the server and remote name of a model-facing name,
// false if it is not an MCP tool name. Server names never contain "__", so
// the first "__" after the prefix ends the server name.
func SplitToolName(name string) (server, remote string, ok bool) {
	rest, ok := strings.CutPrefix(name, toolPrefix)
	if !ok {
		return "", "", false
	}
	server, remote, ok = strings.Cut(rest, "__")
	if !ok || server == "" || remote == "" {
		return "", "", false
	}
	return server, remote, true
}

// schema returns t's input schema as an object schema.
func schema(t *mcp.Tool) json.RawMessage {
	var m map[string]any
	if b, err := json.Marshal(t.InputSchema); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	if m == nil || (m["type"] != nil && m["type"] != "object") {
		m = map[string]any{}
	}
	m["type"] = "object"
	if _, ok := m["properties"]; !ok {
		m["properties"] = map[string]any{} // some model APIs require it
	}
	b, _ := json.Marshal(m)
	return b
}

// resultText renders a tool result as text for the model, keeping at most
// limit bytes.
func resultText(r *mcp.CallToolResult, limit int) string {
	var parts []string
	hasText := false
	for _, c := range r.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts, hasText = append(parts, c.Text), true
		case *mcp.ImageContent:
			parts = append(parts, describe(len(c.Data), "image", c.MIMEType))
		case *mcp.AudioContent:
			parts = append(parts, describe(len(c.Data), "audio", c.MIMEType))
		case *mcp.ResourceLink:
			parts = append(parts, describe(-1, "resource link", c.URI, c.MIMEType))
		case *mcp.EmbeddedResource:
			switch {
			case c.Resource == nil:
			case c.Resource.Text != "":
				parts, hasText = append(parts, c.Resource.Text), true
			default:
				parts = append(parts, describe(len(c.Resource.Blob), "resource", c.Resource.URI, c.Resource.MIMEType))
			}
		}
	}
	if !hasText && r.StructuredContent != nil {
		if b, err := json.Marshal(r.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return truncate(strings.Join(parts, "\n"), limit)
}

// describe returns a line such as "[image image/png, 1234 bytes]" from the
// non-empty words, and the size unless it is negative.
func describe(size int, words ...string) string {
	s := strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " ")
	if size >= 0 {
		s += fmt.Sprintf(", %d bytes", size)
	}
	return "[" + s + "]"
}

// truncate cuts s to at most limit bytes, on a rune boundary, and says how
// much was cut.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s\n[output truncated: %d of %d bytes cut]", s[:n], len(s)-n, len(s))
}
