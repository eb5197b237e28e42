package mcptool

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/paddockhq/paddock"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Server{Name: "calc", URL: "https://mcp.example.com/mcp"}
	for _, c := range []struct {
		name string
		edit func(*Server)
		want string // in the message; "" for valid
	}{
		{"valid", func(*Server) {}, ""},
		{"sse", func(s *Server) { s.Transport = TransportSSE }, ""},
		{"streamable", func(s *Server) { s.Transport = TransportStreamableHTTP }, ""},
		{"header", func(s *Server) { s.Headers = map[string]string{"Authorization": "Bearer x"} }, ""},
		{"empty name", func(s *Server) { s.Name = "" }, "name"},
		{"upper name", func(s *Server) { s.Name = "Calc" }, "name"},
		{"space name", func(s *Server) { s.Name = "my calc" }, "name"},
		{"long name", func(s *Server) { s.Name = strings.Repeat("a", 33) }, "name"},
		{"double underscore", func(s *Server) { s.Name = "my__calc" }, "name"},
		{"stdio", func(s *Server) { s.Transport = "stdio" }, "run a command on the Paddock host"},
		{"websocket", func(s *Server) { s.Transport = "websocket" }, `transport "websocket" is not supported`},
		{"empty url", func(s *Server) { s.URL = "" }, "url is required"},
		{"ftp url", func(s *Server) { s.URL = "ftp://example.com/mcp" }, "http:// or https://"},
		{"relative url", func(s *Server) { s.URL = "/mcp" }, "http:// or https://"},
		{"no host", func(s *Server) { s.URL = "https:///mcp" }, "no host"},
		{"bad url", func(s *Server) { s.URL = "https://exa mple.com:x" }, "not a valid URL"},
		{"bad header name", func(s *Server) { s.Headers = map[string]string{"X Key": "1"} }, "header name"},
		{"header line break", func(s *Server) { s.Headers = map[string]string{"X-Key": "1\r\nX-Other: 2"} }, "line break"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.edit(&s)
			err := s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), c.want) {
				t.Fatalf("Validate = %v, want an invalid error saying %q", err, c.want)
			}
		})
	}
}

func TestToolName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ server, remote string }{
		{"calc", "add"},
		{"gh", "create_issue"},
		{"my-srv", "Tool-Name_2"},
		{"x", "double__underscore"},
		{"s", strings.Repeat("a", 64-len("mcp__s__"))},
	} {
		name, ok := ToolName(c.server, c.remote)
		if !ok || len(name) > 64 {
			t.Fatalf("ToolName(%q, %q) = %q, %v", c.server, c.remote, name, ok)
		}
		server, remote, ok := SplitToolName(name)
		if !ok || server != c.server || remote != c.remote {
			t.Errorf("SplitToolName(%q) = %q, %q, %v; want %q, %q", name, server, remote, ok, c.server, c.remote)
		}
	}
	for _, c := range []struct{ server, remote string }{
		{"s", strings.Repeat("a", 64-len("mcp__s__")+1)}, // 65 chars
		{"calc", "dotted.name"},
		{"calc", "with space"},
		{"calc", "ünïcode"},
		{"calc", ""},
		{"", "add"},
	} {
		if name, ok := ToolName(c.server, c.remote); ok {
			t.Errorf("ToolName(%q, %q) = %q, true; want false", c.server, c.remote, name)
		}
	}
	for _, name := range []string{"bash", "mcp__", "mcp__calc", "mcp__calc__", "mcp____add", "mcp_calc__add"} {
		if s, r, ok := SplitToolName(name); ok {
			t.Errorf("SplitToolName(%q) = %q, %q, true; want false", name, s, r)
		}
	}
}

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"1.1.1.1", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fd00::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true},    // NAT64 of 8.8.8.8
		{"2002:a00:1::1", false},      // 6to4 of 10.0.0.1
	} {
		if got := isPublic(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("isPublic(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
}

func TestResultText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		res  *mcp.CallToolResult
		max  int
		want string
	}{
		{"text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}}, 100, "a\nb"},
		{"media", &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.ImageContent{MIMEType: "image/png", Data: make([]byte, 1234)},
			&mcp.AudioContent{MIMEType: "audio/wav", Data: make([]byte, 5)},
			&mcp.ResourceLink{URI: "file:///r.pdf", MIMEType: "application/pdf"},
			&mcp.ResourceLink{URI: "file:///r"},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///r.bin", Blob: []byte{1, 2}}},
		}}, 1000, "[image image/png, 1234 bytes]\n[audio audio/wav, 5 bytes]\n[resource link file:///r.pdf application/pdf]\n[resource link file:///r]\n[resource file:///r.bin, 2 bytes]"},
		{"embedded text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a.csv", Text: "x,y"}}}}, 100, "x,y"},
		{"structured only", &mcp.CallToolResult{StructuredContent: map[string]any{"sum": 3}}, 100, `{"sum":3}`},
		{"structured with text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "3"}}, StructuredContent: map[string]any{"sum": 3}}, 100, "3"},
		{"empty", &mcp.CallToolResult{}, 100, ""},
		{"cut", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "héllo"}}}, 2, "h\n[output truncated: 5 of 6 bytes cut]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := resultText(c.res, c.max); got != c.want {
				t.Errorf("resultText = %q, want %q", got, c.want)
			}
		})
	}
}
