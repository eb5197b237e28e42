package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/oci"
	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
	"github.com/paddockhq/paddock/internal/store"
)

// TestRealSandbox runs the built-in tools in a real runc environment. It
// needs root, runc and the cached Debian python image.
func TestRealSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	sandboxtest.RequireRoot(t, "runc", "mkfs.ext4")
	dir, err := os.MkdirTemp("", "paddock-agent-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	guest, err := sandboxtest.BuildGuest(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := sandboxtest.PythonImage(t, 100000)
	rtCfg := oci.Config{StateDir: filepath.Join(dir, "state"), GuestBinary: guest}
	rt, err := oci.New(rtCfg)
	if err != nil {
		t.Fatal(err)
	}
	envs := sandboxtest.NewEnvironments()
	m := sandbox.NewManager(sandbox.Config{LogDir: filepath.Join(dir, "logs"), ReapInterval: 100 * time.Millisecond, StopGrace: time.Second},
		envs, sandboxtest.NewImages(img), rt, nil)
	mctx, mcancel := context.WithCancel(context.Background())
	mdone := make(chan struct{})
	go func() { defer close(mdone); m.Run(mctx) }()
	t.Cleanup(func() {
		mcancel()
		<-mdone
		ids, _ := rt.List(context.Background())
		for _, id := range ids {
			rt.Stop(context.Background(), id, 0)
		}
		m.Close()
		rt.Close()
		os.RemoveAll(dir)
	})

	provider := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{
			{Name: "write_file", Arguments: `{"path":"src/it's \"quoted\".py","content":"print('hello from python')\n"}`},
		}},
		llmtest.Step{ToolCalls: []llm.ToolCall{
			{Name: "bash", Arguments: `{"command":"python3 \"src/it's \\\"quoted\\\".py\" && pwd && echo oops >&2"}`},
			{Name: "list_files", Arguments: `{"recursive":true}`},
		}},
		llmtest.Step{ToolCalls: []llm.ToolCall{
			{Name: "edit_file", Arguments: `{"path":"src/it's \"quoted\".py","old_text":"hello","new_text":"goodbye"}`},
			{Name: "bash", Arguments: `{"command":"sleep 30","timeout":1}`},
		}},
		llmtest.Step{ToolCalls: []llm.ToolCall{
			{Name: "read_file", Arguments: `{"path":"src/it's \"quoted\".py"}`},
			{Name: "grep", Arguments: `{"pattern":"good.ye","glob":"*.py"}`},
		}},
		llmtest.Step{Text: "done"},
	)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "paddock.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := &paddock.Agent{OwnerID: 1, Name: "real", Model: "openai/gpt-test",
		Environment: &paddock.AgentEnvironment{Resources: paddock.Resources{CPU: "500m", Memory: "256Mi", Storage: "256Mi"}}}
	if err := store.NewAgentService(db).CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	sessions := store.NewSessionService(db)
	s := &paddock.Session{AgentID: a.ID, OwnerID: 1}
	if err := sessions.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	runs := store.NewRunService(db)
	r := agent.NewRunner(agent.Config{Poll: 20 * time.Millisecond, ToolTimeout: 20 * time.Second}, agent.Deps{
		Providers: llm.NewRegistry(provider), Agents: store.NewAgentService(db), Sessions: sessions,
		Messages: store.NewMessageService(db), Runs: runs, Events: store.NewEventService(db),
		Environments: envs, Sandbox: m, Bus: nopBus{},
	})
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { defer close(wdone); r.Run(wctx) }()
	defer func() { wcancel(); <-wdone }()

	msg, err := r.Post(ctx, s.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("go")}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "run end", func() bool {
		run, err := runs.Run(ctx, msg.RunID)
		return err == nil && run.Status.Done()
	})
	if run, _ := runs.Run(ctx, msg.RunID); run.Status != paddock.RunCompleted {
		t.Fatalf("run %s: %s", run.Status, run.Error)
	}
	reqs := provider.Requests()
	results := map[string]llm.Part{}
	for _, lm := range reqs[len(reqs)-1].Messages {
		if lm.Role == llm.RoleTool {
			results[lm.Parts[0].ToolCallID] = lm.Parts[0]
		}
	}
	check := func(id, want string, isErr bool) {
		t.Helper()
		p := results[id]
		if !strings.Contains(p.Result, want) || p.IsError != isErr {
			t.Errorf("%s: result %q (error %v), want it to contain %q (error %v)", id, p.Result, p.IsError, want, isErr)
		}
	}
	check("call_0_0", "wrote 27 bytes", false)
	check("call_1_0", "hello from python\n/workspace\n[stderr]\noops", false)
	check("call_1_1", "src/\nsrc/it's \"quoted\".py", false)
	check("call_2_0", "edited", false)
	check("call_2_1", "timed out", true)
	check("call_3_0", "print('goodbye from python')", false)
	check("call_3_1", `it's "quoted".py:1:print('goodbye`, false)

	// Deleting the session deletes its environment.
	sess, _ := sessions.Session(ctx, s.ID)
	if err := r.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	env, err := envs.Environment(ctx, sess.EnvironmentID)
	if err != nil || !env.Status.Done() {
		t.Errorf("environment after session delete: %+v, %v", env, err)
	}
}

type nopBus struct{}

func (nopBus) Publish(string, ...*paddock.Event) {}
