package main

import (
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/mcptool/mcptest"
)

// TestSeed003MCP: seed 003's MCP routes. An admin adds a shared server
// (its tools are listed first, so a broken one is refused with the
// reason); users list it without its header values, and may not add or
// remove shared ones; a user's own server on loopback is refused. An agent
// names servers (unknown ones are a 400), and a chat stream's mcp_settings
// gives a run a server's tools, which the model calls.
func TestSeed003MCP(t *testing.T) {
	t.Parallel()
	calc := mcptest.Serve(t, "s3cret")
	model := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "mcp__calc__add", Arguments: `{"a":1,"b":2}`}}},
		llmtest.Step{Text: "1 + 2 = 3"},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "mcpuser")
	servers := "/api/v1/agent/mcp/servers"
	good := map[string]any{"name": "calc", "url": calc.URL, "headers": map[string]string{"Authorization": "Bearer s3cret"}}

	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"name": "Calc!", "url": calc.URL}, "name"},
		{map[string]any{"name": "calc", "command": "uvx", "args": []string{"mcp-server"}}, "stdio"},
		{map[string]any{"name": "calc", "url": "ftp://example.com"}, "http"},
		{map[string]any{"name": "calc", "url": calc.URL, "transport": "websocket"}, "transport"},
		{map[string]any{"name": "calc", "url": calc.URL}, "401"}, // no token
		{map[string]any{"name": "calc", "url": calc.URL, "headers": map[string]string{"Authorization": "Bearer s3cret"}, "enabled_tools": []string{"mul"}}, `no tool "mul"`},
	} {
		r := s.do(t, req{method: "POST", path: servers, token: admin, body: tc.body})
		if r.status != 400 || !strings.Contains(r.m(t)["detail"].(string), tc.want) {
			t.Errorf("POST %v: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.want)
		}
	}
	s.expect(t, 403, req{method: "POST", path: servers, token: user, body: good})
	created := s.expect(t, 201, req{method: "POST", path: servers, token: admin, body: good}).m(t)
	if created["scope"] != "shared" || strings.Join(toStrings(created["tools"]), ",") != "add,fail" || strings.Join(toStrings(created["headers"]), ",") != "Authorization" {
		t.Errorf("created %v", created)
	}
	s.expect(t, 409, req{method: "POST", path: servers, token: admin, body: good})
	list := s.expect(t, 200, req{method: "GET", path: servers, token: user})
	if strings.Contains(string(list.body), "s3cret") || len(list.m(t)["servers"].([]any)) != 1 {
		t.Errorf("list %s", list.body)
	}
	s.expect(t, 403, req{method: "DELETE", path: servers + "/calc", token: user})

	// A user's own server may not be on the host's networks.
	if r := s.do(t, req{method: "POST", path: "/api/v1/agent/user-settings/mcp/custom", token: user, body: good}); r.status != 400 || !strings.Contains(string(r.body), "not on a public network") {
		t.Errorf("a user's server on loopback: %d %s", r.status, r.body)
	}
	if l := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/user-settings/mcp", token: user}).m(t); len(l["servers"].([]any)) != 0 {
		t.Errorf("user's servers %v", l)
	}

	// Agents name servers that exist.
	if r := s.do(t, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{"name": "a", "mcp_servers": []string{"nope"}}}); r.status != 400 || !strings.Contains(string(r.body), "calc") {
		t.Errorf("an unknown server: %d %s", r.status, r.body)
	}
	if a := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{"name": "a", "mcp_servers": []string{"calc"}}}).m(t); strings.Join(toStrings(a["mcp_servers"]), ",") != "calc" {
		t.Errorf("agent %v", a)
	}
	if c := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/config", token: user}).m(t); c["features"].(map[string]any)["mcp"] != true {
		t.Errorf("config features %v", c["features"])
	}

	// A chat stream naming the server: the model gets its tools and calls one.
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/chat/stream", token: user, body: map[string]any{
		"messages": []map[string]string{{"role": "user", "content": "What is 1 + 2?"}}, "mcp_settings": map[string]any{"servers": map[string]any{"calc": map[string]any{}}}}})
	var out string
	for _, e := range namedEvents(t, r.body) {
		if e.name == "tool" && e.data["type"] == "end" {
			out, _ = e.data["output"].(string)
		}
	}
	if out != "3" || calc.Calls.Load() != 1 {
		t.Errorf("tool output %q, %d calls; stream:\n%s", out, calc.Calls.Load(), r.body)
	}
	var offered []string
	for _, tool := range model.Requests()[0].Tools {
		offered = append(offered, tool.Name)
	}
	if strings.Join(offered, ",") != "mcp__calc__add,mcp__calc__fail" {
		t.Errorf("tools offered %v", offered)
	}
	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}],"mcp_settings":{"servers":{"gh":{"transport":"stdio","command":"uvx","args":["mcp-github"]}}}}`: "stdio",
		`{"messages":[{"role":"user","content":"x"}],"mcp_settings":{"servers":{"Bad Name":{}}}}`:                                                    "name",
		`{"messages":[{"role":"user","content":"x"}],"mcp_settings":{"servers":{"x":{"url":"gopher://h"}}}}`:                                         "http",
	} {
		if r := s.do(t, req{method: "POST", path: "/api/v1/agent/chat/stream", token: user, body: body, contentType: "application/json"}); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("chat stream %s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}

	s.expect(t, 204, req{method: "DELETE", path: servers + "/calc", token: admin})
	s.expect(t, 404, req{method: "DELETE", path: servers + "/calc", token: admin})
}

// TestUserMCPSettings: with mcp_allow_private, a user adds a server of
// their own, sees it (and only theirs) in their settings, toggles it and
// removes it; another user cannot touch it.
func TestUserMCPSettings(t *testing.T) {
	t.Parallel()
	calc := mcptest.Serve(t, "")
	s := startServer(t, func(c *Config) { c.Agents.MCPAllowPrivate = true })
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "mcpown")
	other := s.createUser(t, admin, "mcpother")
	base := "/api/v1/agent/user-settings/mcp"
	body := map[string]any{"name": "calc", "url": calc.URL, "enabled_tools": []string{"add"}}
	if c := s.expect(t, 201, req{method: "POST", path: base + "/custom", token: user, body: body}).m(t); c["scope"] != "user" || strings.Join(toStrings(c["tools"]), ",") != "add" {
		t.Errorf("created %v", c)
	}
	s.expect(t, 201, req{method: "POST", path: base + "/custom", token: other, body: body}) // names are per user
	if l := s.expect(t, 200, req{method: "GET", path: base, token: user}).m(t); len(l["servers"].([]any)) != 1 {
		t.Errorf("settings %v", l)
	}
	toggle := func(token, body string) map[string]any {
		return s.expect(t, 200, req{method: "PATCH", path: base + "/calc/toggle", token: token, body: body, contentType: "application/json"}).m(t)
	}
	if got := toggle(user, ""); got["enabled"] != false {
		t.Errorf("toggled %v", got)
	}
	if got := toggle(user, `{"enabled": true}`); got["enabled"] != true {
		t.Errorf("enabled %v", got)
	}
	s.expect(t, 404, req{method: "PATCH", path: base + "/nope/toggle", token: user})
	s.expect(t, 204, req{method: "DELETE", path: base + "/calc", token: user})
	s.expect(t, 404, req{method: "DELETE", path: base + "/calc", token: user})
	if l := s.expect(t, 200, req{method: "GET", path: base, token: other}).m(t); len(l["servers"].([]any)) != 1 {
		t.Errorf("the other user's settings %v", l)
	}
}

// toStrings returns a JSON list of strings as a []string.
func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, len(list))
	for i, x := range list {
		out[i], _ = x.(string)
	}
	return out
}
