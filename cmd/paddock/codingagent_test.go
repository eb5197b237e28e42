package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// fakeCodex and fakeClaude stand in for the CLIs inside the environment
// (the real ones need OpenAI's and Anthropic's APIs): each records how it
// was started and prints what the real one prints, codex exec --json's
// events and claude --print --output-format json's result.
const fakeCodex = `#!/usr/bin/env python3
import json, os, sys
json.dump({"argv": sys.argv[1:], "key": os.environ.get("OPENAI_API_KEY"), "cwd": os.getcwd()}, open("/tmp/codex-call.json", "w"))
print("warning: not a real codex", file=sys.stderr)
for ev in [{"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"}, {"type": "turn.started"},
           {"type": "error", "message": "Reconnecting... 1/5 (stream disconnected before completion)"},
           {"type": "item.completed", "item": {"id": "item_0", "type": "command_execution", "command": "bash -lc pytest", "aggregated_output": "1 passed", "exit_code": 0, "status": "completed"}},
           {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": "Codex added the test."}},
           {"type": "turn.completed", "usage": {"input_tokens": 1200, "cached_input_tokens": 200, "output_tokens": 345}}]:
    print(json.dumps(ev), flush=True)
`

const fakeClaude = `#!/usr/bin/env python3
import json, os, sys
json.dump({"argv": sys.argv[1:], "token": os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"), "sandbox": os.environ.get("IS_SANDBOX")}, open("/tmp/claude-call.json", "w"))
print(json.dumps({"type": "result", "subtype": "success", "is_error": False, "duration_ms": 5120, "num_turns": 3,
                  "result": "Claude reviewed it.", "session_id": "8f1c", "total_cost_usd": 0.0123}))
`

// TestCodingAgents: a user configures Codex (an OpenAI key) and Claude
// Code (signed in through Claude's OAuth, a local server answering as
// Anthropic's does); bad settings are refused with the field named; an
// agent that names both among its MCP servers gets their tools, which run
// the CLIs in the session's environment with the user's credentials (the
// Claude sign-in refreshed first, as it has expired) and answer with what
// the CLIs answered; before the CLIs are installed the tool says so.
func TestCodingAgents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var grants []map[string]string
	oauth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, `{"error":"invalid_request"}`, 400)
			return
		}
		mu.Lock()
		grants = append(grants, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case body["grant_type"] == "authorization_code" && body["code"] == "good-code" && body["code_verifier"] == "the-verifier" &&
			body["client_id"] == "9d1c250a-e61b-44d9-88ed-5944d1962f5e":
			// Expired at once: the first use refreshes it.
			fmt.Fprint(w, `{"token_type":"Bearer","access_token":"sk-ant-oat01-first","refresh_token":"sk-ant-ort01-first","expires_in":1,`+
				`"scope":"user:inference user:profile","organization":{"uuid":"o-1","name":"Ann's"},"account":{"uuid":"a-1","email_address":"ann@example.com"}}`)
		case body["grant_type"] == "refresh_token" && body["refresh_token"] == "sk-ant-ort01-first":
			fmt.Fprint(w, `{"token_type":"Bearer","access_token":"sk-ant-oat01-refreshed","expires_in":28800,"scope":"user:inference user:profile"}`)
		case body["code"] == "down":
			w.WriteHeader(503)
		default:
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid 'code' in request."}`)
		}
	}))
	t.Cleanup(oauth.Close)

	bash := func(cmd string) llm.ToolCall {
		return llm.ToolCall{Name: "bash", Arguments: args(map[string]string{"command": cmd})}
	}
	withLLM(t, llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "mcp__codex__run", Arguments: args(map[string]string{"prompt": "too early"})}}},
		llmtest.Step{ToolCalls: []llm.ToolCall{bash("cat > /usr/local/bin/codex <<'EOF'\n" + fakeCodex + "EOF\ncat > /usr/local/bin/claude <<'EOF'\n" + fakeClaude + "EOF\nchmod +x /usr/local/bin/codex /usr/local/bin/claude")}},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "mcp__codex__run", Arguments: args(map[string]string{"prompt": "-add a test", "working_directory": "/tmp"})}}},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "mcp__claude-code__run", Arguments: args(map[string]string{"prompt": "review it"})}}},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "mcp__codex__run", Arguments: args(map[string]int{"prompt": 5})}}},
		llmtest.Step{Text: "All done."},
	))
	s := startSandboxServer(t, func(c *Config) { c.Agents.ClaudeOAuthTokenURL = oauth.URL })
	admin := s.login(t, "admin", testAdminPassword)
	ann, bob := s.createUser(t, admin, "ann"), s.createUser(t, admin, "bob")
	const settings = "/api/v1/agent/user-settings/mcp/"
	const annKey = "sk-proj-ann-0123456789abcdef"

	for _, tt := range []struct {
		path   string
		body   any
		status int
		want   string
	}{
		{"codex", map[string]any{"model": "gpt-5-codex"}, 400, `"apikey" is required`},
		{"codex", map[string]any{"apikey": annKey, "model_reasoning_effort": "extreme"}, 400, `"model_reasoning_effort" must be one of minimal, low, medium, high`},
		{"codex", map[string]any{"apikey": annKey, "model": "gpt 5"}, 400, `"model" must be a model name`},
		{"codex", map[string]any{"apikey": annKey, "search": "yes"}, 400, "search"},
		{"codex", map[string]any{"apikey": "sk-a\nb"}, 400, `"apikey" must be a single token`},
		{"codex", "{", 400, "malformed JSON"},
		{"claude-code", map[string]any{}, 400, `"authorization_code" is required`},
		{"claude-code", map[string]any{"authorization_code": "no-verifier"}, 400, "code#verifier"},
		{"claude-code", map[string]any{"authorization_code": "stale-code#the-verifier"}, 400, "Claude's sign-in service refused the code: Invalid 'code' in request."},
		{"claude-code", map[string]any{"authorization_code": "down#the-verifier"}, 503, "try again later"},
	} {
		r := s.do(t, req{method: "POST", path: settings + tt.path, token: ann, body: tt.body})
		if msg := r.message(t); r.status != tt.status || !strings.Contains(msg, tt.want) {
			t.Errorf("POST %s %v: %d %q, want %d with %q", tt.path, tt.body, r.status, msg, tt.status, tt.want)
		}
	}
	s.expect(t, 404, req{method: "GET", path: settings + "codex", token: ann})
	s.expect(t, 404, req{method: "GET", path: settings + "claude-code", token: ann})

	// Configured: shown without secrets, to their owner only.
	codex := s.expect(t, 201, req{method: "POST", path: settings + "codex", token: ann, body: map[string]any{
		"apikey": annKey, "model": "gpt-5-codex", "model_reasoning_effort": "high", "search": true}})
	if m := codex.m(t); m["tool_type"] != "codex" || m["is_active"] != true || m["apikey"] != "sk-…cdef" || m["model"] != "gpt-5-codex" ||
		m["model_reasoning_effort"] != "high" || m["search"] != true || strings.Contains(string(codex.body), annKey) {
		t.Errorf("codex configured: %s", codex.body)
	}
	claude := s.expect(t, 201, req{method: "POST", path: settings + "claude-code", token: ann, body: map[string]any{"authorization_code": "good-code#the-verifier"}})
	if m := claude.m(t); m["tool_type"] != "claude-code" || m["account"] != "ann@example.com" || m["expires_at"] == nil || strings.Contains(string(claude.body), "sk-ant") {
		t.Errorf("claude-code configured: %s", claude.body)
	}
	s.expect(t, 404, req{method: "GET", path: settings + "codex", token: bob})
	list := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/user-settings/mcp", token: ann})
	var servers struct {
		Servers []struct {
			Name     string
			ToolType string `json:"tool_type"`
			Headers  []string
		}
	}
	list.json(t, &servers)
	if len(servers.Servers) != 2 || servers.Servers[0].ToolType != "claude-code" || servers.Servers[1].ToolType != "codex" ||
		len(servers.Servers[1].Headers) != 0 || strings.Contains(string(list.body), annKey) || strings.Contains(string(list.body), "sk-ant") {
		t.Errorf("ann's MCP settings: %s", list.body)
	}
	// Set again without the key: the key stays, the rest changes.
	if m := s.expect(t, 200, req{method: "POST", path: settings + "codex", token: ann, body: map[string]any{"model": "gpt-5-codex", "model_reasoning_effort": "high", "search": true}}).m(t); m["apikey"] != "sk-…cdef" {
		t.Errorf("codex set again: %v", m)
	}
	// Toggled off and on like any MCP setting.
	if m := s.expect(t, 200, req{method: "PATCH", path: settings + "codex/toggle", token: ann}).m(t); m["enabled"] != false || m["tool_type"] != "codex" {
		t.Errorf("toggled: %v", m)
	}
	if m := s.expect(t, 200, req{method: "GET", path: settings + "codex", token: ann}).m(t); m["is_active"] != false {
		t.Errorf("after the toggle: %v", m)
	}
	s.expect(t, 200, req{method: "PATCH", path: settings + "codex/toggle", token: ann})

	// An agent that names both: its run hands tasks to them.
	agent := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: ann, body: map[string]any{
		"name": "lead", "model": "openai/gpt-4o-mini", "mcp_servers": []string{"codex", "claude-code"}}}).m(t)["id"].(string)
	sid := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agent + "/sessions", token: ann, body: map[string]any{}}).m(t)["id"].(string)
	base := "/v1/agents/" + agent + "/sessions/" + sid
	s.expect(t, 201, req{method: "POST", path: base + "/messages", token: ann, body: map[string]any{
		"message": map[string]any{"content": []map[string]string{{"type": "text", "text": "get it done"}}}}})
	sess := s.waitIdle(t, base, ann, 3*time.Minute)
	var msgs struct {
		Items []struct {
			Role    string
			Content []struct {
				Type, Text string
				Result     string `json:"result"`
				IsError    bool   `json:"is_error"`
			}
		}
	}
	s.expect(t, 200, req{method: "GET", path: base + "/messages", token: ann}).json(t, &msgs)
	var results []string
	for _, m := range msgs.Items {
		for _, c := range m.Content {
			if c.Type == "tool_result" {
				results = append(results, fmt.Sprintf("%v %s", c.IsError, cmp.Or(c.Result, c.Text)))
			}
		}
	}
	want := []string{
		"true codex is not installed in this environment's image: add codex to the image (npm install -g @openai/codex)",
		"", // the bash tool's
		"false Codex added the test.",
		"false Claude reviewed it.",
		`true argument "prompt" must be a string`,
	}
	if len(results) != len(want) {
		t.Fatalf("tool results %q", results)
	}
	for i, w := range want {
		if w != "" && !strings.HasPrefix(results[i], w) {
			t.Errorf("tool result %d: %q, want %q", i, results[i], w)
		}
	}

	// How the CLIs were started, as they recorded it.
	env := sess["environment_id"].(string)
	var codexCall struct {
		Argv     []string
		Key, Cwd string
	}
	s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + env + "/files?path=/tmp/codex-call.json", token: ann}).json(t, &codexCall)
	wantArgv := []string{"exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-approvals-and-sandbox", "--cd", "/tmp",
		"--model", "gpt-5-codex", "--config", "model_reasoning_effort=high", "--config", "web_search=live", "--", "-add a test"}
	if !slices.Equal(codexCall.Argv, wantArgv) || codexCall.Key != annKey || codexCall.Cwd != "/tmp" {
		t.Errorf("codex started as %+v", codexCall)
	}
	var claudeCall struct {
		Argv           []string
		Token, Sandbox string
	}
	s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + env + "/files?path=/tmp/claude-call.json", token: ann}).json(t, &claudeCall)
	if !slices.Equal(claudeCall.Argv, []string{"--print", "--output-format", "json", "--permission-mode", "bypassPermissions", "--", "review it"}) ||
		claudeCall.Token != "sk-ant-oat01-refreshed" || claudeCall.Sandbox != "1" {
		t.Errorf("claude started as %+v", claudeCall)
	}
	// The refreshed sign-in was kept.
	if m := s.expect(t, 200, req{method: "GET", path: settings + "claude-code", token: ann}).m(t); m["expires_at"] == nil {
		t.Errorf("after the refresh: %v", m)
	} else if exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string)); time.Until(exp) < time.Hour {
		t.Errorf("the refreshed sign-in expires at %v", exp)
	}
	mu.Lock()
	if n := len(grants); n == 0 || grants[n-1]["grant_type"] != "refresh_token" {
		t.Errorf("grants %v", grants)
	}
	mu.Unlock()

	// Deleted like any MCP setting.
	s.expect(t, 204, req{method: "DELETE", path: settings + "codex", token: ann})
	s.expect(t, 404, req{method: "GET", path: settings + "codex", token: ann})
}
