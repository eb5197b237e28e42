package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
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

// followUp answers a model call with the tool calls calls makes of the
// process ids the background bash calls of step 4 (call_4_*) started.
func followUp(n int, calls func(ids []string) []llm.ToolCall) func(context.Context, *llm.Request, func(llm.Event)) (*llm.Response, error) {
	return func(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
		var ids []string
		for _, m := range req.Messages {
			for _, p := range m.Parts {
				if m.Role == llm.RoleTool && strings.HasPrefix(p.ToolCallID, "call_4_") {
					ids = append(ids, regexp.MustCompile(`proc-[a-z0-9]+`).FindString(p.Result))
				}
			}
		}
		return llmtest.Play(ctx, n, llmtest.Step{ToolCalls: calls(ids)}, req.Model, onEvent)
	}
}

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
		// In the background: a command that writes and keeps running, and
		// one that times out. (The calls of a step run at once; the wait
		// for the second gives the first the time to write.)
		llmtest.Step{ToolCalls: []llm.ToolCall{
			{Name: "bash", Arguments: `{"command":"echo tick1; echo tick2; echo tick3; sleep 0.2; echo err >&2; sleep 0.2; pwd; sleep 300","background":true}`},
			{Name: "bash", Arguments: `{"command":"sleep 30","background":true,"timeout":2}`},
		}},
		llmtest.Step{Func: followUp(5, func(ids []string) []llm.ToolCall {
			return []llm.ToolCall{
				{Name: "bash_output", Arguments: `{"process_id":"` + ids[1] + `","wait":20}`},
				{Name: "bash_output", Arguments: `{"process_id":"proc-nosuch"}`},
				{Name: "bash_output", Arguments: `{"process_id":"` + ids[0] + `","since":"soon"}`},
			}
		})},
		llmtest.Step{Func: followUp(6, func(ids []string) []llm.ToolCall {
			return []llm.ToolCall{{Name: "bash_output", Arguments: `{"process_id":"` + ids[0] + `"}`}}
		})},
		llmtest.Step{Func: followUp(7, func(ids []string) []llm.ToolCall {
			return []llm.ToolCall{{Name: "kill_process", Arguments: `{"process_id":"` + ids[0] + `"}`}}
		})},
		llmtest.Step{Func: followUp(8, func(ids []string) []llm.ToolCall {
			return []llm.ToolCall{{Name: "bash_output", Arguments: `{"process_id":"` + ids[0] + `","since":6}`}}
		})},
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
	check("call_4_0", "started in the background as process proc-", false)
	check("call_5_0", "timed out and was killed\n[no new output]\n[next since: 0]", false)
	check("call_5_1", `process "proc-nosuch" not found`, true)
	check("call_5_2", `argument "since" must be an integer`, true)
	check("call_6_0", "running\ntick1\ntick2\ntick3\nerr\n/workspace\n[next since: 33]", false)
	check("call_7_0", "killed", false)
	check("call_8_0", "killed\ntick2\ntick3\nerr\n/workspace\n[next since: 33]", false)

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
