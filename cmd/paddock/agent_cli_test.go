package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// agentCLI runs the paddock binary against s as the admin and returns its
// stdout, stderr and exit code.
func agentCLI(t *testing.T, s *testServer, token, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(paddockBin, args...)
	cmd.Env = append(os.Environ(), "PADDOCK_URL="+s.url, "PADDOCK_TOKEN="+token, "PADDOCK_CREDENTIALS="+t.TempDir()+"/none.json")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestAgentCLI drives `paddock agent`, `paddock run` (streamed, with a
// real bash tool call in a runc environment, and --json) and `paddock
// chat` against a server whose model is scripted.
func TestAgentCLI(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		// paddock run (streamed): one tool call, then the answer.
		llmtest.Step{Text: "Let me compute.", ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "python3 -c 'print(6*7)'"})}}},
		llmtest.Step{Text: "The answer is 42.", Deltas: []string{"The answer ", "is 42."}},
		// paddock run --json.
		llmtest.Step{Text: "Just text."},
		// paddock chat, two lines.
		llmtest.Step{Text: "Hello, Ada!"},
		llmtest.Step{Text: "Goodbye, Ada."},
		// The next run fails: the script has no more steps.
	)
	withLLM(t, model)
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := agentCLI(t, s, tok, stdin, args...)
		if code != 0 {
			t.Fatalf("paddock %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	id := strings.TrimSpace(must("", "agent", "create", "calc", "--prompt", "You compute.", "--model", "openai/gpt-4o-mini", "--tools", "bash,write_file"))
	if !strings.HasPrefix(id, "agt_") {
		t.Fatalf("agent create printed %q", id)
	}
	other := strings.TrimSpace(must("", "agent", "create", "spare", "--tools", "none"))
	if out := must("", "agent", "ls"); !strings.Contains(out, id) || !strings.Contains(out, "calc") || !strings.Contains(out, "bash,write_file") || !strings.Contains(out, other) {
		t.Errorf("agent ls:\n%s", out)
	}
	var got struct {
		Name         string
		SystemPrompt string `json:"system_prompt"`
		Tools        []string
	}
	if err := json.Unmarshal([]byte(must("", "agent", "get", "calc")), &got); err != nil || got.Name != "calc" || got.SystemPrompt != "You compute." || len(got.Tools) != 2 {
		t.Errorf("agent get by name: %+v, %v", got, err)
	}
	if out := must("", "agent", "rm", other); strings.TrimSpace(out) != other {
		t.Errorf("agent rm printed %q", out)
	}
	if out := must("", "agent", "ls"); strings.Contains(out, other) {
		t.Errorf("agent ls shows the archived agent:\n%s", out)
	}

	// run, streamed: text, the tool call, its output indented, the answer.
	out := must("", "run", "calc", "What is 6*7?")
	t.Logf("paddock run calc:\n%s", out)
	for _, want := range []string{"Let me compute.\n", "→ bash: python3 -c 'print(6*7)'\n", "    42\n", "The answer is 42.\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "→ bash") > strings.Index(out, "The answer") {
		t.Errorf("run output out of order:\n%s", out)
	}

	// run --json: only the final assistant message.
	var final struct {
		Role    string
		Content []struct{ Type, Text string }
	}
	out = must("", "run", id, "Say something", "--json")
	if err := json.Unmarshal([]byte(out), &final); err != nil || final.Role != "assistant" || len(final.Content) != 1 || final.Content[0].Text != "Just text." {
		t.Errorf("run --json printed %q (%v)", out, err)
	}

	// chat: two lines, two answers, in order; EOF exits 0.
	out = must("Hi, I am Ada.\nBye.\n", "chat", "calc")
	if i, j := strings.Index(out, "Hello, Ada!\n"), strings.Index(out, "Goodbye, Ada.\n"); i < 0 || j < i || strings.Contains(out, "> ") {
		t.Errorf("chat output:\n%s", out)
	}
	if reqs := model.Requests(); len(reqs) != 5 {
		t.Errorf("the model got %d requests, want 5", len(reqs))
	}

	// A failed run exits 1 and says why.
	if out, errOut, code := agentCLI(t, s, tok, "", "run", "calc", "One more?"); code != 1 || !strings.Contains(errOut, "failed") {
		t.Errorf("failed run: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, errOut, code := agentCLI(t, s, tok, "", "run", "nobody", "hi"); code != 1 || !strings.Contains(errOut, `no agent "nobody"`) {
		t.Errorf("run of an unknown agent: exit %d, %s", code, errOut)
	}
}

// TestAgentChatInterrupt checks `paddock chat`'s Ctrl-C: during a run it
// cancels the run and the chat goes on; EOF at the prompt exits 0.
func TestAgentChatInterrupt(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{Delay: 5 * time.Minute, Text: "never"},
		llmtest.Step{Text: "Still here."},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	agentID := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: tok, body: map[string]any{"name": "slow", "tools": []string{}}}).m(t)["id"].(string)

	cmd := exec.Command(paddockBin, "chat", "slow")
	cmd.Env = append(os.Environ(), "PADDOCK_URL="+s.url, "PADDOCK_TOKEN="+tok, "PADDOCK_CREDENTIALS="+t.TempDir()+"/none.json")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	io.WriteString(stdin, "Take your time.\n")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; stdout %q, stderr %q", what, stdout.String(), stderr.String())
			}
		}
	}
	waitFor("the model call", func() bool { return model.Calls() == 1 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor("the cancellation", func() bool { return strings.Contains(stderr.String(), "[cancelled]") })
	var sessions struct{ Items []struct{ ID, Status string } }
	s.expect(t, 200, req{method: "GET", path: "/v1/agents/" + agentID + "/sessions", token: tok}).json(t, &sessions)
	if len(sessions.Items) != 1 || sessions.Items[0].Status != "pending" {
		t.Errorf("sessions after Ctrl-C: %+v", sessions.Items)
	}
	io.WriteString(stdin, "Are you there?\n")
	waitFor("the second answer", func() bool { return strings.Contains(stdout.String(), "Still here.\n") })
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("chat after EOF: %v; stderr %q", err, stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
