package main

import (
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003Generation: seed 003's prose and enhance-prompt. Each is one
// model call with an instruction for its option and the text; the answer
// comes as JSON or, asked for, as the chat stream's events; the call is
// recorded in the caller's usage. Bad requests name what is wrong.
func TestSeed003Generation(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{Text: "The cat sat on the mat.", Usage: llm.Usage{InputTokens: 40, OutputTokens: 8}},
		llmtest.Step{Deltas: []string{"It was ", "a sunny day."}, Text: "It was a sunny day.", Usage: llm.Usage{InputTokens: 30, OutputTokens: 6}},
		llmtest.Step{Text: "Write a 500-word news report on the 2026 city budget: its total, the three largest changes and who they affect.", Usage: llm.Usage{InputTokens: 50, OutputTokens: 25}},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "writer")

	// Seed 003's prose example.
	res := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/prose", token: user, contentType: "application/json", body: `{
  "prompt": "the cat sit on mat",
  "option": "fix",
  "command": ""
}`}).m(t)
	if res["result"] != "The cat sat on the mat." || res["usage"].(map[string]any)["input_tokens"].(float64) != 40 {
		t.Errorf("prose: %v", res)
	}
	first := model.Requests()[0]
	if !strings.Contains(first.System, "spelling, grammar") || len(first.Tools) != 0 || !strings.Contains(first.Messages[0].Text(), "the cat sit on mat") {
		t.Errorf("prose request: system %q, %d tools, %q", first.System, len(first.Tools), first.Messages[0].Text())
	}

	// Streamed, with a command.
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/prose", token: user, header: map[string]string{"Accept": "text/event-stream"},
		body: map[string]any{"prompt": "Morning.", "option": "zap", "command": "describe the weather"}})
	var kinds []string
	var text string
	for _, e := range namedEvents(t, r.body) {
		kinds = append(kinds, e.name+":"+e.data["type"].(string))
		if e.name == "message" {
			text += e.data["content"].(string)
		}
	}
	if strings.Join(kinds, " ") != "message:chunk message:chunk status:complete" || text != "It was a sunny day." {
		t.Errorf("streamed prose: %v %q\n%s", kinds, text, r.body)
	}
	if m := model.Requests()[1].Messages[0].Text(); !strings.HasPrefix(m, "Command: describe the weather") {
		t.Errorf("zap request: %q", m)
	}

	res = s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/enhance-prompt", token: user,
		body: map[string]any{"prompt": "city budget", "context": "a local newspaper", "report_style": "news"}}).m(t)
	if !strings.HasPrefix(res["result"].(string), "Write a 500-word news report") || !strings.Contains(model.Requests()[2].System, "news report") {
		t.Errorf("enhance-prompt: %v; system %q", res, model.Requests()[2].System)
	}
	if u := s.expect(t, 200, req{method: "GET", path: "/v1/usage", token: user}).m(t); u["calls"].(float64) != 3 || u["input_tokens"].(float64) != 120 {
		t.Errorf("usage %v", u)
	}

	for _, tc := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"prose", map[string]any{"option": "fix"}, `"prompt" is required`},
		{"prose", map[string]any{"prompt": "x", "option": "rhyme"}, "continue, improve, fix, shorter, longer, zap"},
		{"prose", map[string]any{"prompt": "x", "option": "zap"}, `"command" is required`},
		{"prose", map[string]any{"prompt": strings.Repeat("x", 100_001), "option": "fix"}, "at most 100000"},
		{"prose", map[string]any{"prompt": "x", "option": "fix", "model": "nosuch/model"}, `"model"`},
		{"enhance-prompt", map[string]any{"prompt": " "}, `"prompt" is required`},
		{"enhance-prompt", map[string]any{"prompt": "x", "report_style": "poem"}, "academic, popular_science"},
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/" + tc.path, token: user, body: tc.body})
		if r.status != 400 || !strings.Contains(r.m(t)["detail"].(string), tc.want) {
			t.Errorf("%s %v: %d %s, want 400 naming %s", tc.path, tc.body, r.status, r.body, tc.want)
		}
	}
	if model.Calls() != 3 {
		t.Errorf("model calls %d, want 3", model.Calls())
	}
}
