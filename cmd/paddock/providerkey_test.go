package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestProviderKeys: a user's own OpenAI key is used for the model calls of
// their agents (session runs and stateless executions), sent to the
// server's configured OpenAI address; another user's agents keep the
// server's key; the key is never shown back; removing it brings the
// server's key back; bad requests are refused with what is wrong.
func TestProviderKeys(t *testing.T) {
	t.Parallel()
	answer := func() llmtest.Step {
		return llmtest.Step{Text: "ok", Usage: llm.Usage{InputTokens: 3, OutputTokens: 1}}
	}
	upstream := llmtest.NewOpenAIServer(t, llmtest.New(answer(), answer(), answer(), answer()))
	target, _ := url.Parse(upstream.URL)
	var mu sync.Mutex
	var keys []string // the Authorization of each model call, in order
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Authorization"))
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	withEnv(t, map[string]string{"OPENAI_API_KEY": "sk-server-key", "OPENAI_BASE_URL": front.URL + "/v1"})
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	ann, bob := s.createUser(t, admin, "ann"), s.createUser(t, admin, "bob")
	const annKey = "sk-ann-0123456789abcdef"

	// Bad requests.
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{"PUT", "/v1/provider-keys/mistral", map[string]string{"api_key": "k"}, 400, `unknown provider "mistral"`},
		{"PUT", "/v1/provider-keys/openai", map[string]string{}, 400, `"api_key" is required`},
		{"PUT", "/v1/provider-keys/openai", map[string]any{"api_key": 42}, 400, "api_key"},
		{"PUT", "/v1/provider-keys/openai", map[string]string{"api_key": "sk-a\r\nX-Evil: 1"}, 400, "control character"},
		{"PUT", "/v1/provider-keys/openai", map[string]string{"api_key": strings.Repeat("k", 1025)}, 400, "longer than 1024"},
		{"PUT", "/v1/provider-keys/openai", "{", 400, ""},
		{"DELETE", "/v1/provider-keys/openai", nil, 404, "you have no openai key"},
		{"DELETE", "/v1/provider-keys/nope", nil, 400, "unknown provider"},
	} {
		r := s.do(t, req{method: tt.method, path: tt.path, token: ann, body: tt.body})
		if msg := r.message(t); r.status != tt.status || !strings.Contains(msg, tt.want) {
			t.Errorf("%s %s %v: %d %q, want %d with %q", tt.method, tt.path, tt.body, r.status, msg, tt.status, tt.want)
		}
	}
	s.expect(t, 401, req{method: "GET", path: "/v1/provider-keys"})

	// Set, shown only as a hint, to its owner only.
	set := s.expect(t, 200, req{method: "PUT", path: "/v1/provider-keys/openai", token: ann, body: map[string]string{"api_key": annKey}})
	if m := set.m(t); m["provider"] != "openai" || m["key_hint"] != "sk-…cdef" || strings.Contains(string(set.body), annKey) {
		t.Errorf("set: %s", set.body)
	}
	s.expect(t, 200, req{method: "PUT", path: "/v1/provider-keys/gemini", token: ann, body: map[string]string{"api_key": "AIza-ann-google-key"}})
	list := s.expect(t, 200, req{method: "GET", path: "/v1/provider-keys", token: ann})
	if strings.Contains(string(list.body), annKey) || strings.Count(string(list.body), `"provider"`) != 2 || !strings.Contains(string(list.body), `"provider":"google"`) {
		t.Errorf("ann's keys: %s", list.body)
	}
	if b := s.expect(t, 200, req{method: "GET", path: "/v1/provider-keys", token: bob}).body; string(b) != `{"items":[]}`+"\n" && string(b) != `{"items":[]}` {
		t.Errorf("bob sees %s", b)
	}

	// Models of a provider one has a key for are available to one.
	available := func(tok string) map[string]bool {
		var cfg struct {
			Providers []struct {
				Name       string
				Configured bool
			}
		}
		s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/config", token: tok}).json(t, &cfg)
		out := map[string]bool{}
		for _, p := range cfg.Providers {
			out[p.Name] = p.Configured
		}
		return out
	}
	if a, b := available(ann), available(bob); !a["openai"] || !a["google"] || a["anthropic"] || !b["openai"] || b["google"] {
		t.Errorf("configured providers: ann %v, bob %v", a, b)
	}

	// Whose key each model call carries.
	runs := 0
	run := func(tok string) {
		t.Helper()
		runs++
		agent := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: tok, body: map[string]any{
			"name": fmt.Sprintf("agent %d", runs), "model": "openai/gpt-4o-mini", "tools": []string{}}}).m(t)["id"].(string)
		sid := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agent + "/sessions", token: tok, body: map[string]any{}}).m(t)["id"].(string)
		base := "/v1/agents/" + agent + "/sessions/" + sid
		s.expect(t, 201, req{method: "POST", path: base + "/messages", token: tok, body: map[string]any{
			"message": map[string]any{"content": []map[string]string{{"type": "text", "text": "hi"}}}}})
		s.waitIdle(t, base, tok, time.Minute)
	}
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(keys) == 0 {
			return ""
		}
		return keys[len(keys)-1]
	}
	run(ann)
	if got := last(); got != "Bearer "+annKey {
		t.Errorf("ann's run called the model with %q", got)
	}
	run(bob)
	if got := last(); got != "Bearer sk-server-key" {
		t.Errorf("bob's run called the model with %q", got)
	}
	asst := s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: ann, body: map[string]any{"name": "a", "llmProvider": "openai", "llmModel": "gpt-4o-mini", "tools": []string{}}}).m(t)["id"].(string)
	s.expect(t, 200, req{method: "POST", path: "/api/assistants/" + asst + "/execute", token: ann, body: map[string]any{"userInput": "hi"}})
	if got := last(); got != "Bearer "+annKey {
		t.Errorf("ann's stateless execution called the model with %q", got)
	}

	// Removed: the server's key again.
	s.expect(t, 204, req{method: "DELETE", path: "/v1/provider-keys/openai", token: ann})
	run(ann)
	if got := last(); got != "Bearer sk-server-key" {
		t.Errorf("after removing her key, ann's run called the model with %q", got)
	}
}
