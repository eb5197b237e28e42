package main

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// pythonWith returns a Python interpreter that can import module (the
// Debian one first: a user's pyenv may lack Debian's packages), or skips;
// under CI, where make test has installed the modules, it fails instead.
func pythonWith(t *testing.T, module string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no python3 with %s: scripts/deps.sh installs it", module)
	}
	t.Skipf("no python3 with %s", module)
	return ""
}

// namedEvent is one event of a seed 000 stream.
type namedEvent struct {
	name string
	data map[string]any
}

func namedEvents(t *testing.T, body []byte) []namedEvent {
	t.Helper()
	var out []namedEvent
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		var ev namedEvent
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				if err := json.Unmarshal([]byte(v), &ev.data); err != nil {
					t.Fatalf("data %q: %v", v, err)
				}
			}
		}
		if ev.name != "" {
			out = append(out, ev)
		}
	}
	return out
}

// TestSeed000AgentStream runs seed 000's guide: a form login, then two
// requests with the same session_id, the second using the file the first
// created in the reused sandbox, then the guide's Python httpx client.
func TestSeed000AgentStream(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "write_file", Arguments: args(map[string]string{"path": "hello.py", "content": "print('Hello World')\n"})}}},
		llmtest.Step{Deltas: []string{"Created ", "hello.py."}, Text: "Created hello.py."},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "python3 hello.py"})}}},
		llmtest.Step{Text: "It printed Hello World."},
		llmtest.Step{Deltas: []string{"Hello", " from", " httpx"}, Text: "Hello from httpx"},
	)
	withLLM(t, model)
	s := startSandboxServer(t, nil)
	// 1. Get JWT Token: the form login, as the guide's curl -d sends it.
	login := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: "username=admin&password=" + url.QueryEscape(testAdminPassword),
		contentType: "application/x-www-form-urlencoded"}).m(t)
	token := login["access_token"].(string)

	// 2. Call the agent endpoint, twice with one session.
	stream := func(body string) []namedEvent {
		r := s.expect(t, 200, req{method: "POST", path: "/agent/agent/stream", token: token, body: body, contentType: "application/json"})
		if r.header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("content type %q", r.header.Get("Content-Type"))
		}
		return namedEvents(t, r.body)
	}
	first := stream(`{
    "messages": [{"role": "user", "content": "Create hello.py that prints Hello World"}],
    "session_id": "my-session"
  }`)
	second := stream(`{"session_id": "my-session", "messages": [{"content": "Run hello.py"}]}`)

	summary := func(evs []namedEvent) (names []string, chunks, sandbox, toolOut string) {
		for _, e := range evs {
			kind, _ := e.data["type"].(string)
			if n := e.name + ":" + kind; len(names) == 0 || names[len(names)-1] != n { // deltas come in batches
				names = append(names, n)
			}
			switch {
			case e.name == "message":
				chunks += e.data["content"].(string)
			case e.name == "status" && kind == "sandbox_ready":
				sandbox = e.data["sandbox_id"].(string)
			case e.name == "tool" && kind == "end":
				toolOut += e.data["output"].(string)
			}
		}
		return
	}
	names1, chunks1, sandbox1, _ := summary(first)
	if got := strings.Join(names1, " "); got != "status:processing tool:start status:sandbox_ready tool:end message:chunk status:complete" || chunks1 != "Created hello.py." || sandbox1 == "" {
		t.Errorf("first stream: %s; %q", got, chunks1)
	}
	if first[1].data["name"] != "Write" {
		t.Errorf("tool start %v", first[1].data)
	}
	names2, chunks2, sandbox2, out2 := summary(second)
	if sandbox2 != sandbox1 || !strings.Contains(out2, "Hello World") || chunks2 != "It printed Hello World." || names2[len(names2)-1] != "status:complete" {
		t.Errorf("second stream reused %q (first %q), tool output %q: %v", sandbox2, sandbox1, out2, names2)
	}
	if second[1].data["reused"] != true {
		t.Errorf("reuse not reported: %v", second[1].data)
	}
	// The session is a session: its history is on the agents surface.
	agents := s.expect(t, 200, req{method: "GET", path: "/v1/agents", token: token}).m(t)["items"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["name"] != "coder" {
		t.Errorf("agents %v", agents)
	}

	// Errors before the stream starts have the platform's shape.
	r := s.do(t, req{method: "POST", path: "/api/v1/agent/agent/stream", token: token, body: map[string]any{"messages": []any{}}})
	if r.status != 400 || !strings.Contains(string(r.body), `"detail"`) {
		t.Errorf("empty messages: %d %s", r.status, r.body)
	}
	if r := s.do(t, req{method: "POST", path: "/api/v1/agent/agent/stream", token: token, body: map[string]any{"messages": []any{map[string]string{"content": "x"}}, "agent_name": "nobody"}}); r.status != 404 {
		t.Errorf("unknown agent: %d %s", r.status, r.body)
	}

	// 3. The guide's Python client, unchanged but for host and token.
	py := pythonWith(t, "httpx")
	script := filepath.Join(t.TempDir(), "stream.py")
	if err := os.WriteFile(script, []byte(`import asyncio, sys
TOKEN = sys.argv[2]
import httpx
import json

async def stream_agent():
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST",
            "`+s.url+`/agent/agent/stream",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "messages": [{"role": "user", "content": "Create hello.py"}],
                "session_id": "test-session"
            }
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data = json.loads(line[5:].strip())
                    if data.get("type") == "chunk":
                        print(data["content"], end="")

asyncio.run(stream_agent())
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, s.url, token).CombinedOutput()
	if err != nil || string(out) != "Hello from httpx" {
		t.Errorf("python client: %v: %q", err, out)
	}
}
