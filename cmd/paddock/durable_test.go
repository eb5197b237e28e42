package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// stepModel is a model that answers from the conversation, not from a call
// counter, so a call repeated by another worker gets the same answer: it
// asks for one more bash call until the conversation holds three tool
// results, then answers in text. Its first call after the first tool
// result blocks (until the caller goes away) and is announced on blocked:
// the moment to kill the server, with a tool result persisted and the next
// tool not started.
type stepModel struct {
	blocked chan struct{}
	done    chan struct{} // unblocks everything at the end of the test
	once    sync.Once
}

func (m *stepModel) Name() string { return llm.OpenAI }

func (m *stepModel) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
	results := 0
	for _, msg := range req.Messages {
		for _, p := range msg.Parts {
			if p.Type == llm.PartToolResult {
				results++
			}
		}
	}
	if results == 1 {
		first := false
		m.once.Do(func() { first = true })
		if first {
			close(m.blocked)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-m.done:
				return nil, context.Canceled
			}
		}
	}
	step := llmtest.Step{Text: "All three done."}
	if results < 3 {
		step = llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "echo x >> /workspace/counter; sleep 3"})}}}
	}
	return llmtest.Play(ctx, results, step, req.Model, onEvent)
}

// startDurableProcess runs `paddock serve` on data with the model at
// modelURL and a short run lease, on a network of its own.
func startDurableProcess(t *testing.T, data, mirror, modelURL string) (*process, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(paddockBin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--registry-mirror", "docker.io="+mirror)
	cmd.Env = append(os.Environ(), "PADDOCK_ADMIN_PASSWORD="+testAdminPassword, "PADDOCK_LOG_REQUESTS=false", "PADDOCK_STOP_GRACE=1s",
		"PADDOCK_NETWORK_BRIDGE=pdkdur", "PADDOCK_NETWORK_TABLE=paddock_dur", "PADDOCK_NETWORK_SUBNET=10.148.0.0/16", "PADDOCK_DNS_UPSTREAMS=127.0.0.1:1",
		"PADDOCK_RATE_LIMIT_EXEC=10000", "PADDOCK_AGENT_LEASE=2s",
		"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+modelURL, "ANTHROPIC_API_KEY=", "GEMINI_API_KEY=")
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, data: data}
	removeNetworkAtCleanup(t, "pdkdur", "paddock_dur") // runs after the process has stopped
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.deleteEnvironments(t)
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("paddock did not start: %v\n%s", err, logs.String())
	}
	p.url = strings.TrimSpace(line[strings.LastIndex(line, " ")+1:])
	return p, logs
}

// TestDurableRunSurvivesKill is the crash test of the durable loop: a run
// of three slow bash calls, its server SIGKILLed after the first tool
// result is persisted and before the second tool starts, a new server
// process on the same data directory takes the run over when the lease
// expires, and in the end every tool ran exactly once and the session's
// events run 1..n without gaps or duplicates.
func TestDurableRunSurvivesKill(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	mirror := testRegistry(t)
	model := &stepModel{blocked: make(chan struct{}), done: make(chan struct{})}
	srv := llmtest.NewOpenAIServer(t, model)
	t.Cleanup(func() { close(model.done) }) // runs before the server closes
	base := t.TempDir()
	data := filepath.Join(base, "data")
	for _, d := range []string{base, filepath.Dir(base)} {
		os.Chmod(d, 0o711)
	}
	p, logs := startDurableProcess(t, data, mirror, srv.URL+"/v1")
	s := &testServer{url: p.url}
	tok := s.login(t, "admin", testAdminPassword)
	agentID := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: tok, body: map[string]any{"name": "durable", "tools": []string{"bash"}}}).m(t)["id"].(string)
	sid := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions", token: tok, body: map[string]any{}}).m(t)["id"].(string)
	path := "/v1/agents/" + agentID + "/sessions/" + sid
	s.expect(t, 201, req{method: "POST", path: path + "/messages", token: tok, body: map[string]any{
		"message": map[string]any{"content": []map[string]string{{"type": "text", "text": "Count to three, slowly."}}}}})

	counter := func(s *testServer, envID string) string {
		t.Helper()
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + envID + "/exec", token: tok,
			body: map[string]any{"command": []string{"sh", "-c", "wc -l < /workspace/counter"}}}).m(t)
		return strings.TrimSpace(r["stdout"].(string))
	}
	type event struct {
		Seq  int64
		Type string
		Data map[string]any
	}
	events := func(s *testServer) []event {
		var list struct{ Items []event }
		s.expect(t, 200, req{method: "GET", path: path + "/events?format=json", token: tok}).json(t, &list)
		return list.Items
	}
	count := func(evs []event, typ string) int {
		n := 0
		for _, e := range evs {
			if e.Type == typ {
				n++
			}
		}
		return n
	}

	select {
	case <-model.blocked:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the model was never asked for the second step\n%s", logs.String())
	}
	sess := s.expect(t, 200, req{method: "GET", path: path, token: tok}).m(t)
	envID, _ := sess["environment_id"].(string)
	if envID == "" || sess["status"] != "running" {
		t.Fatalf("session before the kill: %v", sess)
	}
	if n := counter(s, envID); n != "1" {
		t.Fatalf("counter before the kill: %q lines", n)
	}
	if evs := events(s); count(evs, "tool.completed") != 1 || count(evs, "tool.started") != 1 {
		t.Fatalf("before the kill: %d tool.started, %d tool.completed", count(evs, "tool.started"), count(evs, "tool.completed"))
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	p2, logs2 := startDurableProcess(t, data, mirror, srv.URL+"/v1")
	s2 := &testServer{url: p2.url}
	tok = s2.login(t, "admin", testAdminPassword)

	deadline := time.Now().Add(2 * time.Minute)
	for {
		sess = s2.expect(t, 200, req{method: "GET", path: path, token: tok}).m(t)
		if sess["status"] == "pending" {
			break
		}
		if sess["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("session after the restart: %v\n%s", sess, logs2.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if sess["environment_id"] != envID {
		t.Errorf("the resumed run used environment %v, not %s", sess["environment_id"], envID)
	}
	if n := counter(s2, envID); n != "3" {
		t.Errorf("counter after the run: %q lines, want 3 (each tool exactly once)", n)
	}

	evs := events(s2)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: gap or duplicate", i, e.Seq)
		}
	}
	resumed := false
	for _, e := range evs {
		if e.Type == "run.started" && e.Data["resumed"] == true {
			resumed = true
		}
	}
	if !resumed || count(evs, "tool.started") != 3 || count(evs, "tool.completed") != 3 || count(evs, "run.completed") != 1 || count(evs, "run.failed") != 0 {
		t.Errorf("events: resumed %v, %d tool.started, %d tool.completed, %d run.completed, %d run.failed", resumed,
			count(evs, "tool.started"), count(evs, "tool.completed"), count(evs, "run.completed"), count(evs, "run.failed"))
	}
	var msgs struct {
		Items []struct {
			Role    string
			Content []map[string]any
		}
	}
	s2.expect(t, 200, req{method: "GET", path: path + "/messages", token: tok}).json(t, &msgs)
	if last := msgs.Items[len(msgs.Items)-1]; last.Role != "assistant" || last.Content[0]["text"] != "All three done." {
		t.Errorf("final message %v", last)
	}
}
