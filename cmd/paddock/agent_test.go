package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// testGetenv maps test names to the LLM environment their server reads.
var (
	testGetenv   atomic.Value // map[string]func(string) string
	testGetenvMu sync.Mutex
)

// withLLM makes the servers of test t use an OpenAI-compatible server that
// plays the scripted provider p.
func withLLM(t *testing.T, p *llmtest.Provider) {
	srv := llmtest.NewOpenAIServer(t, p)
	withEnv(t, map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.URL + "/v1"})
}

// withEnv makes the servers of test t see env as their environment.
func withEnv(t *testing.T, env map[string]string) {
	testGetenvMu.Lock()
	defer testGetenvMu.Unlock()
	m, _ := testGetenv.Load().(map[string]func(string) string)
	next := map[string]func(string) string{}
	for k, v := range m {
		next[k] = v
	}
	next[t.Name()] = func(k string) string { return env[k] }
	testGetenv.Store(next)
}

func args(v any) string { b, _ := json.Marshal(v); return string(b) }

// waitIdle waits until the session at path (/v1/agents/{id}/sessions/{sid})
// is idle (pending) again, and returns it; a failed session, or one still
// running after d, fails the test.
func (s *testServer) waitIdle(t testing.TB, path, token string, d time.Duration) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		sess := s.expect(t, 200, req{method: "GET", path: path, token: token}).m(t)
		if sess["status"] == "pending" {
			return sess
		}
		if sess["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("session %v", sess)
		}
	}
}

// sseEvent is one event of a session's stream.
type sseEvent struct {
	ID, Name string
	Data     map[string]any
}

// readSSE reads events from a session's stream until stop returns true.
func readSSE(t *testing.T, url, token, lastID string, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		r.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("SSE headers %v", resp.Header)
	}
	var out []sseEvent
	var ev sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.ID != "" {
				out = append(out, ev)
				if stop(ev) {
					return out
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			json.Unmarshal([]byte(line[6:]), &ev.Data)
		}
	}
	t.Fatalf("stream ended after %d events: %v", len(out), sc.Err())
	return nil
}

// TestSeed002Flow walks seed 002's notebook over HTTP: health, agent,
// session, a message whose run calls write_file and bash in a real runc
// environment, messages with tool_call and tool_result parts, a second
// message in the same environment, SSE events in order with ids and an
// exact replay on Last-Event-ID, delete session, archive agent.
func TestSeed002Flow(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{Text: "I'll create the file.", ToolCalls: []llm.ToolCall{{Name: "write_file", Arguments: args(map[string]string{"path": "hello.py", "content": "print('Hello World')\n"})}}},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "python3 hello.py"})}}},
		llmtest.Step{Text: "Created hello.py; running it prints Hello World.", Deltas: []string{"Created hello.py; ", "running it prints ", "Hello World."}},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "python3 hello.py && ls"})}}},
		llmtest.Step{Text: "It printed Hello World again."},
	)
	withLLM(t, model)
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)

	if h := s.expect(t, 200, req{method: "GET", path: "/health"}).m(t); h["status"] != "healthy" {
		t.Fatalf("health %v", h)
	}
	agent := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: tok, body: map[string]any{
		"name": "Python Example Agent", "description": "A helpful assistant created via the Python API",
		"system_prompt": "You are a helpful assistant. Be concise and friendly.", "tags": []string{"example", "python"},
	}}).m(t)
	agentID := agent["id"].(string)
	session := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions", token: tok, body: map[string]any{
		"title": "Python API Test Session", "tags": []string{"test"}}}).m(t)
	sid := session["id"].(string)
	if session["status"] != "pending" {
		t.Errorf("new session %v", session)
	}
	base := "/v1/agents/" + agentID + "/sessions/" + sid

	post := func(text string) map[string]any {
		return s.expect(t, 201, req{method: "POST", path: base + "/messages", token: tok, body: map[string]any{
			"message": map[string]any{"role": "user", "content": []map[string]string{{"type": "text", "text": text}}}}}).m(t)
	}
	waitPending := func() map[string]any { return s.waitIdle(t, base, tok, 3*time.Minute) }
	msg := post("Create hello.py that prints Hello World")
	if msg["role"] != "user" || msg["id"] == nil {
		t.Errorf("posted message %v", msg)
	}
	sess := waitPending()
	envID, _ := sess["environment_id"].(string)
	if envID == "" {
		t.Fatalf("the session has no environment: %v", sess)
	}

	var list struct {
		Items []struct {
			Role    string
			Content []map[string]any
		}
		Total int
	}
	s.expect(t, 200, req{method: "GET", path: base + "/messages", token: tok}).json(t, &list)
	var calls, results []map[string]any
	for _, m := range list.Items {
		for _, p := range m.Content {
			switch p["type"] {
			case "tool_call":
				calls = append(calls, p)
			case "tool_result":
				results = append(results, p)
			}
		}
	}
	if list.Total != len(list.Items) || len(calls) != 2 || len(results) != 2 {
		t.Fatalf("messages: %d items (total %d), %d tool calls, %d results", len(list.Items), list.Total, len(calls), len(results))
	}
	if calls[0]["name"] != "write_file" || calls[1]["name"] != "bash" || results[1]["is_error"] != false || !strings.Contains(results[1]["result"].(string), "Hello World") {
		t.Errorf("tool calls %v, results %v", calls, results)
	}
	if last := list.Items[len(list.Items)-1]; last.Role != "assistant" || last.Content[0]["text"] != "Created hello.py; running it prints Hello World." {
		t.Errorf("final answer %v", last)
	}

	// The second message runs in the same environment and sees the file.
	post("Run hello.py")
	sess = waitPending()
	if sess["environment_id"] != envID {
		t.Errorf("the second run used environment %v, not %s", sess["environment_id"], envID)
	}
	s.expect(t, 200, req{method: "GET", path: base + "/messages?offset=0&limit=100", token: tok}).json(t, &list)
	found := false
	for _, m := range list.Items {
		for _, p := range m.Content {
			if r, _ := p["result"].(string); p["type"] == "tool_result" && strings.Contains(r, "Hello World") && strings.Contains(r, "hello.py") {
				found = true
			}
		}
	}
	if !found {
		t.Error("the second run did not see hello.py")
	}

	// Events: in order, with ids; a reconnect replays exactly what was missed.
	completed := 0
	streamed := readSSE(t, s.url+base+"/events", tok, "", func(e sseEvent) bool {
		if e.Name == "run.completed" {
			completed++
		}
		return completed == 2
	})
	for i, e := range streamed {
		if e.ID != strconv.Itoa(i+1) || e.Name != e.Data["type"] {
			t.Fatalf("streamed event %d: id %s, event %s, data %v", i, e.ID, e.Name, e.Data)
		}
	}
	var full struct{ Items []map[string]any }
	s.expect(t, 200, req{method: "GET", path: base + "/events?format=json", token: tok}).json(t, &full)
	types := map[string]bool{}
	for i, e := range full.Items {
		if int(e["seq"].(float64)) != i+1 {
			t.Fatalf("event %d has seq %v", i, e["seq"])
		}
		types[e["type"].(string)] = true
	}
	for _, want := range []string{"message.user", "message.delta", "message.assistant", "tool.started", "tool.completed", "run.started", "run.completed", "session.status", "environment.ready"} {
		if !types[want] {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	cut := len(full.Items) / 2
	lastSeq := strconv.Itoa(len(full.Items))
	replayed := readSSE(t, s.url+base+"/events", tok, strconv.Itoa(cut), func(e sseEvent) bool { return e.ID == lastSeq })
	if len(replayed) != len(full.Items)-cut || replayed[0].ID != strconv.Itoa(cut+1) {
		t.Errorf("replay after %d gave %d events from %s, want %d from %d", cut, len(replayed), replayed[0].ID, len(full.Items)-cut, cut+1)
	}

	// Delete the session: 204, its environment gone. Archive the agent: 204.
	s.expect(t, 204, req{method: "DELETE", path: base, token: tok})
	if e := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + envID, token: tok}).m(t); e["status"] != "terminated" {
		t.Errorf("the session's environment after delete: %v", e["status"])
	}
	s.expect(t, 404, req{method: "GET", path: base, token: tok})
	s.expect(t, 204, req{method: "DELETE", path: "/v1/agents/" + agentID, token: tok})
	s.expect(t, 409, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions", token: tok, body: map[string]any{}})
}

// TestAgentValidation: agent settings that could never work, blank
// message text, an unknown events format and oversized session titles are
// refused when they are sent, with a message naming the field, on the
// agents and the assistants surfaces.
func TestAgentValidation(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "validator")
	env := func(res map[string]string) map[string]any { return map[string]any{"resources": res} }
	bad := []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"environment": env(map[string]string{"cpu": "abc"})}, `field "environment.resources.cpu": quantity "abc"`},
		{map[string]any{"environment": env(map[string]string{"memory": "-5Mi"})}, `field "environment.resources.memory"`},
		{map[string]any{"environment": env(map[string]string{"storage": "1Zi"})}, `field "environment.resources.storage"`},
		{map[string]any{"tools": []string{"bash", "nosuchtool"}}, `field "tools[1]": unknown tool "nosuchtool"; the tools are bash, read_file, write_file, edit_file, list_files, grep, bash_output, kill_process, web_search`},
		{map[string]any{"model": "bogus"}, `field "model" must be provider/model with provider openai, anthropic or google`},
		{map[string]any{"model": "nosuchprovider/x"}, `not "nosuchprovider/x"`},
		{map[string]any{"model": "openai/"}, `not "openai/"`},
		{map[string]any{"name": "a\x01b"}, "name must not contain control characters"},
	}
	for _, tc := range bad {
		body := map[string]any{"name": "a"}
		for k, v := range tc.body {
			body[k] = v
		}
		r := s.expect(t, 400, req{method: "POST", path: "/v1/agents", token: user, body: body})
		if !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("create %v: %s, want %q", tc.body, r.body, tc.msg)
		}
	}
	a := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{"name": "a", "model": "openai/gpt-4o-mini",
		"tools": []string{"bash", "web_search"}, "environment": env(map[string]string{"cpu": "500m", "memory": "256Mi", "storage": "1Gi"})}}).m(t)
	id := a["id"].(string)
	s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{"name": "inferred", "model": "gpt-4o"}})
	for _, tc := range bad {
		r := s.expect(t, 400, req{method: "PATCH", path: "/v1/agents/" + id, token: user, body: tc.body})
		if !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("patch %v: %s, want %q", tc.body, r.body, tc.msg)
		}
	}
	s.expect(t, 200, req{method: "PATCH", path: "/v1/agents/" + id, token: user, body: map[string]any{"description": "still fine", "model": "anthropic/claude-haiku-4-5"}})

	// Assistants name tools too.
	if msg := assistantError(t, s.do(t, req{method: "POST", path: "/api/assistants", token: user, body: map[string]any{"name": "b", "tools": []string{"nosuchtool"}}}),
		400, "VALIDATION_ERROR"); !strings.Contains(msg, `unknown tool "nosuchtool"`) {
		t.Errorf("assistant with an unknown tool: %q", msg)
	}
	assistantError(t, s.do(t, req{method: "PATCH", path: "/api/assistants/" + id, token: user, body: map[string]any{"tools": []string{"nope"}}}), 400, "VALIDATION_ERROR")

	// Session titles are bounded like slide titles.
	r := s.expect(t, 400, req{method: "POST", path: "/v1/agents/" + id + "/sessions", token: user, body: map[string]any{"title": strings.Repeat("t", 501)}})
	if !strings.Contains(r.message(t), `field "title" must be at most 500 characters`) {
		t.Errorf("long title: %s", r.body)
	}
	assistantError(t, s.do(t, req{method: "POST", path: "/api/sessions", token: user, body: map[string]any{"assistantId": id, "title": strings.Repeat("t", 501)}}), 400, "VALIDATION_ERROR")
	sid := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + id + "/sessions", token: user, body: map[string]any{"title": strings.Repeat("t", 500)}}).m(t)["id"].(string)

	// A text part needs text, as an image part needs data; nothing runs.
	base := "/v1/agents/" + id + "/sessions/" + sid
	for _, part := range []map[string]any{{"type": "text"}, {"type": "text", "text": " \n "}} {
		r := s.expect(t, 400, req{method: "POST", path: base + "/messages", token: user, body: map[string]any{"message": map[string]any{"content": []any{part}}}})
		if !strings.Contains(r.message(t), "content[0]: text part needs text") {
			t.Errorf("message %v: %s", part, r.body)
		}
	}
	if l := s.expect(t, 200, req{method: "GET", path: base + "/messages", token: user}).m(t); l["total"].(float64) != 0 {
		t.Errorf("messages after refused posts: %v", l)
	}

	// Events come as SSE or, with format=json, as a list; nothing else.
	r = s.expect(t, 400, req{method: "GET", path: base + "/events?format=xml", token: user})
	if !strings.Contains(r.message(t), `query parameter "format" must be json`) || r.header.Get("Content-Type") == "text/event-stream" {
		t.Errorf("format=xml: %s", r.body)
	}
	s.expect(t, 200, req{method: "GET", path: base + "/events?format=json", token: user})
}
