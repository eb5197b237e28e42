package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003ChatStream: seed 003's chat stream example with web search
// (SearXNG's JSON served locally), no sandbox; a thread continued with
// deeper thinking; web search asked for without a provider is a clear
// error event.
func TestSeed003ChatStream(t *testing.T) {
	t.Parallel()
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"query":"`+r.URL.Query().Get("q")+`","results":[{"url":"https://react.dev/learn","title":"Quick Start - React","content":"Components are functions."}]}`)
	}))
	defer searx.Close()
	model := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "web_search", Arguments: `{"query":"react component"}`}}},
		llmtest.Step{Text: "function Hello() { return <p>Hi</p>; }"},
		llmtest.Step{Text: "Thought about it: yes."},
		llmtest.Step{Text: "Still yes."},
	)
	withLLM(t, model)
	s := startServer(t, func(c *Config) { c.Search.Provider, c.Search.URL = "searxng", searx.URL })
	token := s.login(t, "admin", testAdminPassword)

	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/chat/stream", token: token, contentType: "application/json", body: `{
  "messages": [
    {"role": "user", "content": "Create a React component"}
  ],
  "thread_id": "optional-thread-id",
  "agent_name": "coder",
  "resources": [],
  "mcp_settings": {"servers": {}},
  "enable_web_search": true,
  "enable_deep_thinking": false,
  "locale": "en-US"
}`})
	var kinds []string
	var chunks, toolOut string
	for _, e := range namedEvents(t, r.body) {
		kinds = append(kinds, e.name+":"+e.data["type"].(string))
		if e.name == "message" {
			chunks += e.data["content"].(string)
		}
		if e.name == "tool" && e.data["type"] == "end" {
			toolOut = e.data["output"].(string)
			if e.data["name"] != "WebSearch" {
				t.Errorf("tool event %v", e.data)
			}
		}
	}
	if got := strings.Join(kinds, " "); got != "status:processing tool:start tool:end message:chunk status:complete" ||
		chunks != "function Hello() { return <p>Hi</p>; }" || !strings.Contains(toolOut, "https://react.dev/learn") {
		t.Errorf("chat stream %s; %q; %q", got, chunks, toolOut)
	}
	first := model.Requests()[0]
	if len(first.Tools) != 1 || first.Tools[0].Name != "web_search" || !strings.Contains(first.System, "en-US") {
		t.Errorf("model request: tools %v, system %q", first.Tools, first.System)
	}
	if envs := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments", token: token}).m(t); envs["total"].(float64) != 0 {
		t.Errorf("a chat made a sandbox: %v", envs)
	}

	// A thread continued, with deeper thinking, on a reasoning model.
	s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: token, body: map[string]any{"name": "thinker", "model": "openai/o3"}})
	for _, text := range []string{"Is it sound?", "Sure?"} {
		s.expect(t, 200, req{method: "POST", path: "/agent/chat/stream", token: token, body: map[string]any{
			"messages": []map[string]string{{"role": "user", "content": text}}, "thread_id": "t2", "agent_name": "thinker", "enable_deep_thinking": true}})
	}
	last := model.Requests()[3]
	if last.Reasoning != "medium" || len(last.Tools) != 0 || len(last.Messages) != 3 || last.Messages[0].Text() != "Is it sound?" {
		t.Errorf("thread request: reasoning %q, %d tools, %d messages", last.Reasoning, len(last.Tools), len(last.Messages))
	}

	// Bad bodies are 400 in the platform's shape; unsupported parts are named.
	for body, want := range map[string]string{
		`{"messages": []}`: "user message",
		`{"messages": [{"role": "user", "content": "x"}], "resources": [{"uri": "rag://docs"}]}`:         "resources",
		`{"messages": [{"role": "user", "content": "x"}], "mcp_settings": {"servers": {"fs": {}}}}`:      `no MCP server "fs"`,
		`{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "surprise": true}`: "surprise",
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/agent/chat/stream", token: token, body: body, contentType: "application/json"})
		if r.status != 400 || !strings.Contains(r.m(t)["detail"].(string), want) {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}

	// The agent configuration says what this server offers.
	cfg := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/config", token: token}).m(t)
	feats := cfg["features"].(map[string]any)
	if feats["web_search"] != true || feats["search_provider"] != "searxng" || feats["sandboxes"] != true || cfg["default_model"] != "openai/gpt-4o-mini" {
		t.Errorf("config %v", cfg)
	}
	var openai, mini, tmpl bool
	for _, p := range cfg["providers"].([]any) {
		openai = openai || p.(map[string]any)["name"] == "openai" && p.(map[string]any)["configured"] == true
	}
	for _, m := range cfg["models"].([]any) {
		mm := m.(map[string]any)
		// Cache writes cost what input does at OpenAI.
		mini = mini || mm["model"] == "openai/gpt-4o-mini" && mm["available"] == true &&
			mm["input_price"] == 0.15 && mm["cached_input_price"] == 0.075 && mm["cache_write_price"] == 0.15
	}
	for _, tp := range cfg["templates"].([]any) {
		tmpl = tmpl || tp.(map[string]any)["id"] == "agents-backend-sandbox"
	}
	if !openai || !mini || !tmpl {
		t.Errorf("config providers/models/templates: %v %v %v", openai, mini, tmpl)
	}

	// Without a search provider, asking for web search is an error event.
	s2 := startServer(t, nil)
	tok2 := s2.login(t, "admin", testAdminPassword)
	r = s2.expect(t, 200, req{method: "POST", path: "/api/v1/agent/chat/stream", token: tok2, body: map[string]any{
		"messages": []map[string]string{{"content": "news?"}}, "enable_web_search": true}})
	evs := namedEvents(t, r.body)
	if len(evs) != 1 || evs[0].name != "error" || !strings.Contains(evs[0].data["message"].(string), "PADDOCK_SEARCH_PROVIDER") {
		t.Errorf("no provider: %s", r.body)
	}
}
