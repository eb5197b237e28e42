package agent_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/mcptool"
	"github.com/paddockhq/paddock/internal/mcptool/mcptest"
	"github.com/paddockhq/paddock/internal/pubsub"
	"github.com/paddockhq/paddock/internal/store"
)

// fakeSandbox is an in-memory Sandbox and Environments: a flat file map
// and a log of executions. It understands the tools' helper scripts by
// their operation name ($0).
type fakeSandbox struct {
	mu      sync.Mutex
	envs    map[string]*paddock.Environment
	files   map[string]string
	bash    map[string]int // executions per bash command
	running map[string]bool
	killed  []string // bash commands stopped by ctx
	procs   map[string]*paddock.Process
}

func newFakeSandbox() *fakeSandbox {
	return &fakeSandbox{envs: map[string]*paddock.Environment{}, files: map[string]string{},
		bash: map[string]int{}, running: map[string]bool{}, procs: map[string]*paddock.Process{}}
}

// StartProcess starts a background process that runs until killed; its
// output is what it was asked to run.
func (f *fakeSandbox) StartProcess(ctx context.Context, id string, req *paddock.ExecRequest) (paddock.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &paddock.Process{ID: fmt.Sprintf("proc-%d", len(f.procs)+1), Command: req.Command, Status: "running"}
	f.procs[p.ID] = p
	return *p, nil
}

func (f *fakeSandbox) ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.procs[pid]
	if !ok {
		return paddock.ProcessOutput{}, paddock.Errorf(paddock.ENotFound, "process %q not found", pid)
	}
	text := "ran: " + p.Command[len(p.Command)-1] + "\n"
	out := paddock.ProcessOutput{Next: int64(len(text)), Process: *p}
	if since < out.Next {
		out.Chunks = []paddock.OutputChunk{{Offset: since, Stream: "stdout", Data: text[since:]}}
	}
	return out, nil
}

func (f *fakeSandbox) KillProcess(ctx context.Context, id, pid string) (paddock.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.procs[pid]
	if !ok {
		return paddock.Process{}, paddock.Errorf(paddock.ENotFound, "process %q not found", pid)
	}
	p.Status = "killed"
	return *p, nil
}

func (f *fakeSandbox) Create(ctx context.Context, env *paddock.Environment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *env
	c.Status = paddock.EnvironmentRunning
	f.envs[env.ID] = &c
	return nil
}

func (f *fakeSandbox) Environment(ctx context.Context, id string) (*paddock.Environment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.envs[id]
	if !ok {
		return nil, paddock.Errorf(paddock.ENotFound, "environment %s not found", id)
	}
	c := *e
	return &c, nil
}

func (f *fakeSandbox) Delete(ctx context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.envs[id]; ok {
		e.Status = paddock.EnvironmentTerminated
	}
	return nil
}

func (f *fakeSandbox) bashCount(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bash[cmd]
}

func (f *fakeSandbox) isRunning(cmd string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[cmd]
}

func (f *fakeSandbox) Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error) {
	if len(req.Command) < 4 || req.Command[0] != "sh" {
		return nil, fmt.Errorf("unexpected command %q", req.Command)
	}
	op, args := req.Command[3], req.Command[4:]
	f.mu.Lock()
	if e, ok := f.envs[id]; !ok || e.Status != paddock.EnvironmentRunning {
		f.mu.Unlock()
		return nil, paddock.Errorf(paddock.EConflict, "environment %s is not running", id)
	}
	res := &paddock.ExecResult{}
	switch op {
	case "paddock-init":
	case "paddock-bash":
		cmd := args[0]
		f.bash[cmd]++
		switch {
		case cmd == "sleep":
			f.running[cmd] = true
			f.mu.Unlock()
			<-ctx.Done()
			f.mu.Lock()
			f.running[cmd] = false
			f.killed = append(f.killed, cmd)
			f.mu.Unlock()
			return nil, ctx.Err()
		case cmd == "fail":
			res.ExitCode, res.Stderr = 1, "boom\n"
		case strings.HasPrefix(cmd, "cat "):
			res.Stdout = f.files[strings.TrimPrefix(cmd, "cat ")]
		default:
			res.Stdout = "ran: " + cmd + "\n"
		}
		if req.Stdout != nil {
			io.WriteString(req.Stdout, res.Stdout)
		}
	case "paddock-write":
		b, _ := io.ReadAll(req.Stdin)
		data, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			res.ExitCode, res.Stderr = 1, "base64: invalid input"
		}
		f.files[args[0]] = string(data)
	case "paddock-cat", "paddock-read":
		data, ok := f.files[args[0]]
		switch {
		case !ok:
			res.ExitCode, res.Stderr = 2, args[0]+": no such file\n"
		case op == "paddock-cat":
			res.Stdout = base64.StdEncoding.EncodeToString([]byte(data)) + "\n"
		default:
			lines := strings.SplitAfter(data, "\n")
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			from, _ := strconv.Atoi(args[1])
			n, _ := strconv.Atoi(args[2])
			from = min(from-1, len(lines))
			res.Stdout = strconv.Itoa(len(lines)) + "\n" + strings.Join(lines[from:min(from+n, len(lines))], "")
		}
	case "paddock-ls":
		var names []string
		for p := range f.files {
			names = append(names, p)
		}
		slices.Sort(names)
		res.Stdout = strings.Join(names, "\n") + "\n"
	case "paddock-grep":
		var out []string
		for p, data := range f.files {
			for i, l := range strings.Split(data, "\n") {
				if strings.Contains(l, args[0]) {
					out = append(out, fmt.Sprintf("%s:%d:%s", p, i+1, l))
				}
			}
		}
		slices.Sort(out)
		res.Stdout = strings.Join(out, "\n")
	default:
		res.ExitCode, res.Stderr = 127, "unknown op "+op
	}
	f.mu.Unlock()
	return res, nil
}

type fixture struct {
	tracer   trace.Tracer // of the runners made after it is set; nil: none
	t        *testing.T
	db       *store.DB
	sessions *store.SessionService
	messages *store.MessageService
	runs     *store.RunService
	events   *store.EventService
	usage    *store.UsageService
	bus      *pubsub.Bus
	sandbox  *fakeSandbox
	llm      *llmtest.Provider
	agent    *paddock.Agent
	session  *paddock.Session
	runner   *agent.Runner
	credits  func(ctx context.Context, ownerID int64) error
	search   agent.WebSearcher
	mcp      *mcptool.Client
}

func testConfig(owner string) agent.Config {
	return agent.Config{
		Owner: owner, Lease: 2 * time.Second, Heartbeat: 50 * time.Millisecond, Poll: 10 * time.Millisecond,
		DeltaFlush: 5 * time.Millisecond,
		Catalog:    llm.NewCatalog(llm.ModelInfo{Provider: llm.OpenAI, ID: "gpt-test", InputPrice: 1, OutputPrice: 2, CachedInputPrice: 0.5}),
	}
}

func newFixture(t *testing.T, a *paddock.Agent, steps ...llmtest.Step) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "paddock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{
		t: t, db: db,
		sessions: store.NewSessionService(db), messages: store.NewMessageService(db),
		runs: store.NewRunService(db), events: store.NewEventService(db), usage: store.NewUsageService(db),
		bus: pubsub.New(0), sandbox: newFakeSandbox(), llm: llmtest.New(steps...), mcp: mcptool.New(mcptool.Options{}),
	}
	t.Cleanup(func() { f.mcp.Close() })
	if a == nil {
		a = &paddock.Agent{}
	}
	a.OwnerID, a.Name = 7, "tester"
	if a.SystemPrompt == "" {
		a.SystemPrompt = "You are a test."
	}
	if a.Model == "" {
		a.Model = "openai/gpt-test"
	}
	if err := store.NewAgentService(db).CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	f.agent = a
	f.session = &paddock.Session{AgentID: a.ID, OwnerID: a.OwnerID}
	if err := f.sessions.CreateSession(ctx, f.session); err != nil {
		t.Fatal(err)
	}
	f.runner = f.newRunner(testConfig("w1"))
	return f
}

func (f *fixture) newRunner(cfg agent.Config) *agent.Runner {
	return agent.NewRunner(cfg, agent.Deps{
		Providers: llm.NewRegistry(f.llm), Agents: store.NewAgentService(f.db), Sessions: f.sessions,
		Messages: f.messages, Runs: f.runs, Events: f.events, Environments: f.sandbox, Sandbox: f.sandbox, Bus: f.bus,
		Usage: f.usage, Credits: f.credits, Search: f.search, MCP: f.mcp, MCPServers: f.mcpServers(),
		Resources: store.NewResourceService(f.db), Tracer: f.tracer,
	})
}

// mcpServers returns the fixture's MCP server store.
func (f *fixture) mcpServers() *store.MCPServerService {
	s, err := store.NewMCPServerService(f.db, make([]byte, 32))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// start runs r as a worker until the test ends or the returned func is
// called (which waits for it to stop).
func (f *fixture) start(r *agent.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	stop = func() { cancel(); <-done }
	f.t.Cleanup(stop)
	return stop
}

func (f *fixture) post(text string) *paddock.Message {
	f.t.Helper()
	m, err := f.runner.Post(context.Background(), f.session.ID,
		&paddock.Message{Content: []paddock.ContentPart{paddock.TextPart(text)}}, "", "")
	if err != nil {
		f.t.Fatalf("Post: %v", err)
	}
	return m
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRun waits for the run with trigger message m to end and returns it.
func (f *fixture) waitRun(m *paddock.Message, timeout time.Duration) *paddock.Run {
	f.t.Helper()
	var run *paddock.Run
	waitFor(f.t, timeout, "run "+m.RunID+" to end", func() bool {
		r, err := f.runs.Run(context.Background(), m.RunID)
		if err != nil {
			f.t.Fatal(err)
		}
		run = r
		return r.Status.Done()
	})
	return run
}

func (f *fixture) sessionStatus() paddock.SessionStatus {
	s, err := f.sessions.Session(context.Background(), f.session.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Status
}

func (f *fixture) allMessages() []*paddock.Message {
	ms, _, err := f.messages.Messages(context.Background(), paddock.MessageFilter{SessionID: f.session.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return ms
}

// allEvents returns the session's events, checking that they number 1..n.
func (f *fixture) allEvents() []*paddock.Event {
	f.t.Helper()
	evs, err := f.events.Events(context.Background(), f.session.ID, 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			f.t.Fatalf("event %d has seq %d: gap or duplicate", i, e.Seq)
		}
	}
	return evs
}

// types returns the event types, without deltas and tool output.
func types(evs []*paddock.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type != paddock.EventMessageDelta && e.Type != paddock.EventToolOutput {
			out = append(out, string(e.Type))
		}
	}
	return out
}

func roles(ms []*paddock.Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Role))
	}
	return strings.Join(out, ",")
}

func call(name, args string) llm.ToolCall { return llm.ToolCall{Name: name, Arguments: args} }

func TestRunWithToolsThenText(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("write_file", `{"path":"a.txt","content":"hello\nworld\n"}`)},
			Usage: llm.Usage{InputTokens: 1000, OutputTokens: 10}},
		llmtest.Step{Text: "Reading.", ToolCalls: []llm.ToolCall{
			call("read_file", `{"path":"a.txt"}`),
			call("edit_file", `{"path":"b.txt","old_text":"world","new_text":"there"}`),
		}},
		llmtest.Step{Deltas: []string{"All ", "done."}, Text: "All done.", Usage: llm.Usage{InputTokens: 2000, CachedInputTokens: 1500, OutputTokens: 20}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := pubsub.Follow(ctx, f.events, f.bus, f.session.ID, 0)
	f.sandbox.files["b.txt"] = "hello world"
	f.start(f.runner)
	m := f.post("write a file")
	run := f.waitRun(m, 10*time.Second)
	if run.Status != paddock.RunCompleted || run.Step != 3 {
		t.Fatalf("run %+v, want completed after 3 steps", run)
	}
	waitFor(t, 5*time.Second, "session pending", func() bool { return f.sessionStatus() == paddock.SessionPending })

	msgs := f.allMessages()
	if got, want := roles(msgs), "user,assistant,tool,assistant,tool,tool,assistant"; got != want {
		t.Fatalf("roles %s, want %s", got, want)
	}
	if got := msgs[len(msgs)-1].Text(); got != "All done." {
		t.Errorf("final text %q", got)
	}
	if f.sandbox.files["a.txt"] != "hello\nworld\n" || f.sandbox.files["b.txt"] != "hello there" {
		t.Errorf("files after the run: %q", f.sandbox.files)
	}
	if u := msgs[1].Usage; u == nil || u.InputTokens != 1000 || u.Provider != "openai" || u.Cost != (1000*1+10*2)/1e6 {
		t.Errorf("usage of first call %+v", u)
	}
	// Input read from the prompt cache costs the cached price.
	if u := msgs[len(msgs)-1].Usage; u == nil || u.InputTokens != 2000 || u.CachedInputTokens != 1500 || u.Cost != (500*1+1500*0.5+20*2)/1e6 {
		t.Errorf("usage of last call %+v", u)
	}
	owner := f.agent.OwnerID
	tot, err := f.usage.Usage(context.Background(), paddock.UsageFilter{OwnerID: &owner})
	if err != nil || tot.Calls != 3 || tot.InputTokens != 3000 || tot.CachedInputTokens != 1500 {
		t.Errorf("usage totals %+v, %v", tot, err)
	}

	// The model saw the read result in its third call.
	reqs := f.llm.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if reqs[0].System != "You are a test." || reqs[0].Model != "gpt-test" || len(reqs[0].Tools) != len(agent.Tools()) || reqs[0].CacheKey != f.session.ID {
		t.Errorf("first request: system %q model %q %d tools, cache key %q", reqs[0].System, reqs[0].Model, len(reqs[0].Tools), reqs[0].CacheKey)
	}
	last := reqs[2].Messages
	var results []string
	for _, lm := range last {
		if lm.Role == llm.RoleTool {
			results = append(results, lm.Parts[0].Result)
		}
	}
	if len(results) != 3 || results[1] != "hello\nworld\n" || results[2] != "edited b.txt" {
		t.Errorf("tool results in the last request: %q", results)
	}

	evs := f.allEvents()
	want := []string{"message.user", "session.status", "run.started",
		"message.assistant", "tool.started", "environment.ready", "tool.completed",
		"message.assistant", "tool.started", "tool.started", "tool.completed", "tool.completed",
		"message.assistant", "run.completed", "session.status"}
	got := types(evs)
	if len(got) == len(want) {
		slices.Sort(got[8:12]) // the two parallel calls interleave
		slices.Sort(want[8:12])
	}
	if !slices.Equal(got, want) {
		t.Errorf("event types:\n got %v\nwant %v", got, want)
	}
	var deltas string
	for _, e := range evs {
		if e.Type == paddock.EventMessageDelta {
			var d paddock.DeltaEvent
			json.Unmarshal(e.Data, &d)
			if d.Step == 3 {
				deltas += d.Delta
			}
		}
	}
	if deltas != "All done." {
		t.Errorf("deltas of step 3 add up to %q", deltas)
	}
	// The live stream saw the same events.
	for i := range evs {
		select {
		case e := <-live:
			if e.Seq != evs[i].Seq || e.Type != evs[i].Type {
				t.Fatalf("live event %d: %d %s, want %d %s", i, e.Seq, e.Type, evs[i].Seq, evs[i].Type)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("live event %d missing", i)
		}
	}
}

func TestToolErrorGoesToModel(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{
			call("bash", `{"command":"fail"}`),
			call("edit_file", `{"path":"missing.txt","old_text":"a","new_text":"b"}`),
			call("nosuch", `{}`),
			call("bash", `not json`),
		}},
		llmtest.Step{Text: "I see errors."},
	)
	f.sandbox.files["dup.txt"] = "x x"
	f.start(f.runner)
	run := f.waitRun(f.post("go"), 10*time.Second)
	if run.Status != paddock.RunCompleted {
		t.Fatalf("run %s (%s), want completed", run.Status, run.Error)
	}
	reqs := f.llm.Requests()
	var got []string
	for _, m := range reqs[1].Messages {
		if m.Role == llm.RoleTool {
			if !m.Parts[0].IsError {
				t.Errorf("result %q is not an error", m.Parts[0].Result)
			}
			got = append(got, m.Parts[0].Result)
		}
	}
	want := []string{"boom\n\n[exit code 1]", "missing.txt: no such file", `unknown tool "nosuch"`, "invalid arguments"}
	if len(got) != len(want) {
		t.Fatalf("results %q", got)
	}
	for i := range want {
		if !strings.Contains(got[i], strings.TrimSpace(want[i])) {
			t.Errorf("result %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
	// A stored invalid-JSON argument stays a string.
	msgs := f.allMessages()
	b, _ := json.Marshal(msgs[1].Content[3])
	if !strings.Contains(string(b), `"arguments":"not json"`) {
		t.Errorf("invalid arguments stored as %s", b)
	}
}

func TestEditFileAmbiguous(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("edit_file", `{"path":"dup.txt","old_text":"x","new_text":"y"}`)}},
		llmtest.Step{Text: "ok"},
	)
	f.sandbox.files["dup.txt"] = "x x"
	f.start(f.runner)
	f.waitRun(f.post("go"), 10*time.Second)
	res := f.llm.Requests()[1].Messages[2].Parts[0]
	if !res.IsError || res.Result != "old_text occurs 2 times in dup.txt; include more context" {
		t.Errorf("result %+v", res)
	}
}

func TestMaxSteps(t *testing.T) {
	loop := llmtest.Step{ToolCalls: []llm.ToolCall{call("bash", `{"command":"again"}`)}}
	f := newFixture(t, &paddock.Agent{MaxSteps: 2}, loop, loop, loop)
	f.start(f.runner)
	run := f.waitRun(f.post("loop"), 10*time.Second)
	if run.Status != paddock.RunCompleted || run.Step != 2 {
		t.Fatalf("run %+v, want completed at step 2", run)
	}
	if n := f.llm.Calls(); n != 2 {
		t.Errorf("%d model calls, want 2", n)
	}
	if n := f.sandbox.bashCount("again"); n != 2 {
		t.Errorf("%d tool executions, want 2 (every call gets its result)", n)
	}
	evs := f.allEvents()
	var re paddock.RunEvent
	for _, e := range evs {
		if e.Type == paddock.EventRunCompleted {
			json.Unmarshal(e.Data, &re)
		}
	}
	if !strings.Contains(re.Note, "step limit") {
		t.Errorf("run.completed note %q", re.Note)
	}
}

func TestModelErrorFailsRun(t *testing.T) {
	f := newFixture(t, nil, llmtest.Step{Err: paddock.Errorf(paddock.EUnavailable, "provider down")})
	f.start(f.runner)
	run := f.waitRun(f.post("hi"), 10*time.Second)
	if run.Status != paddock.RunFailed || run.Error != "provider down" {
		t.Fatalf("run %s %q, want failed: provider down", run.Status, run.Error)
	}
	waitFor(t, 5*time.Second, "session failed", func() bool { return f.sessionStatus() == paddock.SessionFailed })
	// A new message makes it run again.
	f.llm.Append(llmtest.Step{Text: "back"})
	run = f.waitRun(f.post("again"), 10*time.Second)
	if run.Status != paddock.RunCompleted {
		t.Fatalf("second run %s", run.Status)
	}
	waitFor(t, 5*time.Second, "session pending", func() bool { return f.sessionStatus() == paddock.SessionPending })
	// The failed turn stays in the history.
	if msgs := f.llm.Requests()[1].Messages; len(msgs) != 2 {
		t.Errorf("second request has %d messages, want the two user messages", len(msgs))
	}
}

func TestCancelDuringModelCall(t *testing.T) {
	f := newFixture(t, nil, llmtest.Step{Delay: time.Minute, Text: "never"})
	f.start(f.runner)
	m := f.post("slow")
	waitFor(t, 5*time.Second, "model call", func() bool { return f.llm.Calls() == 1 })
	start := time.Now()
	run, err := f.runner.Cancel(context.Background(), f.session.ID)
	if err != nil || run.ID != m.RunID {
		t.Fatalf("Cancel = %v, %v", run, err)
	}
	run = f.waitRun(m, time.Second)
	if run.Status != paddock.RunCancelled {
		t.Fatalf("run %s, want cancelled", run.Status)
	}
	t.Logf("cancelled in %s", time.Since(start))
	waitFor(t, time.Second, "session pending", func() bool { return f.sessionStatus() == paddock.SessionPending })
	if _, err := f.runner.Cancel(context.Background(), f.session.ID); paddock.ErrorCode(err) != paddock.EConflict {
		t.Errorf("second Cancel: %v, want conflict", err)
	}
	if got := types(f.allEvents()); got[len(got)-2] != "run.cancelled" {
		t.Errorf("events %v", got)
	}
}

func TestCancelDuringTool(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("bash", `{"command":"sleep"}`)}},
		llmtest.Step{Text: "not reached"},
	)
	f.start(f.runner)
	m := f.post("sleep")
	waitFor(t, 5*time.Second, "tool running", func() bool { return f.sandbox.isRunning("sleep") })
	if _, err := f.runner.Cancel(context.Background(), f.session.ID); err != nil {
		t.Fatal(err)
	}
	if run := f.waitRun(m, time.Second); run.Status != paddock.RunCancelled {
		t.Fatalf("run %s, want cancelled", run.Status)
	}
	waitFor(t, time.Second, "tool killed", func() bool {
		f.sandbox.mu.Lock()
		defer f.sandbox.mu.Unlock()
		return slices.Contains(f.sandbox.killed, "sleep")
	})
	if n := f.llm.Calls(); n != 1 {
		t.Errorf("%d model calls after cancel, want 1", n)
	}
	// The next turn (the script's next step) gets an interrupted result
	// for the dangling call.
	if run := f.waitRun(f.post("next"), 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("next run %s", run.Status)
	}
	msgs := f.llm.Requests()[1].Messages
	if got := roles2(msgs); got != "user,assistant,tool,user" {
		t.Fatalf("context %s", got)
	}
	if p := msgs[2].Parts[0]; !p.IsError || !strings.Contains(p.Result, "interrupted") {
		t.Errorf("dangling call result %+v", p)
	}
}

func roles2(ms []llm.Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Role))
	}
	return strings.Join(out, ",")
}

func TestCancelQueuedRunNobodyHolds(t *testing.T) {
	f := newFixture(t, nil)
	m := f.post("no worker") // no worker runs
	run, err := f.runner.Cancel(context.Background(), f.session.ID)
	if err != nil || run.ID != m.RunID || run.Status != paddock.RunCancelled {
		t.Fatalf("Cancel = %+v, %v", run, err)
	}
	if st := f.sessionStatus(); st != paddock.SessionPending {
		t.Errorf("session %s, want pending", st)
	}
}

func TestQueuedMessageRunsAfterActive(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{Delay: 300 * time.Millisecond, ToolCalls: []llm.ToolCall{call("bash", `{"command":"one"}`)}},
		llmtest.Step{Text: "first done"},
		llmtest.Step{Text: "second done"},
	)
	f.start(f.runner)
	m1 := f.post("first")
	waitFor(t, 5*time.Second, "first model call", func() bool { return f.llm.Calls() == 1 })
	m2 := f.post("second")
	r2, _ := f.runs.Run(context.Background(), m2.RunID)
	if r2.Status != paddock.RunQueued {
		t.Errorf("second run %s while the first runs, want queued", r2.Status)
	}
	if run := f.waitRun(m1, 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("first run %s", run.Status)
	}
	if run := f.waitRun(m2, 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("second run %s", run.Status)
	}
	reqs := f.llm.Requests()
	// The first run never sees the second message; the second sees the
	// first turn whole, then its message.
	if got := roles2(reqs[1].Messages); got != "user,assistant,tool" {
		t.Errorf("first run's second call: %s", got)
	}
	if got := roles2(reqs[2].Messages); got != "user,assistant,tool,assistant,user" {
		t.Errorf("second run's call: %s", got)
	}
	if txt := reqs[2].Messages[4].Parts[0].Text; txt != "second" {
		t.Errorf("last message %q", txt)
	}
	waitFor(t, 5*time.Second, "session pending", func() bool { return f.sessionStatus() == paddock.SessionPending })
	var statuses []string
	for _, e := range f.allEvents() {
		if e.Type == paddock.EventSessionStatus {
			statuses = append(statuses, string(e.Data))
		}
	}
	if len(statuses) != 2 {
		t.Errorf("session.status events %v, want running then pending only", statuses)
	}
}

func TestIdempotentPost(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	msg := &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("hi")}}
	m1, err := f.runner.Post(ctx, f.session.ID, msg, "key-1", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := f.runner.Post(ctx, f.session.ID, msg, "key-1", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	if m1.ID != m2.ID || m1.RunID != m2.RunID {
		t.Errorf("retry returned %s/%s, want %s/%s", m2.ID, m2.RunID, m1.ID, m1.RunID)
	}
	_, err = f.runner.Post(ctx, f.session.ID, msg, "key-1", "hash-b")
	if paddock.ErrorCode(err) != paddock.EConflict {
		t.Errorf("reuse with another body: %v, want conflict", err)
	}
	_, total, _ := f.runs.Runs(ctx, paddock.RunFilter{SessionID: &f.session.ID})
	if total != 1 {
		t.Errorf("%d runs, want 1", total)
	}
	if n := len(f.allMessages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if _, err := f.runner.Post(ctx, f.session.ID, &paddock.Message{Role: paddock.MessageAssistant,
		Content: []paddock.ContentPart{paddock.TextPart("x")}}, "", ""); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("assistant post: %v, want invalid", err)
	}
	if _, err := f.runner.Post(ctx, "ses_nope", msg, "", ""); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("unknown session: %v, want not found", err)
	}
}

func TestPostChecked(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	msg := &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("hi")}}
	var gotAgent, gotSession string
	m, err := f.runner.PostChecked(ctx, f.session.ID, func(a *paddock.Agent, s *paddock.Session) error {
		gotAgent, gotSession = a.ID, s.ID
		return nil
	}, msg, "", "")
	if err != nil || gotAgent != f.agent.ID || gotSession != f.session.ID {
		t.Fatalf("PostChecked = %v, %v; check saw agent %q, session %q", m, err, gotAgent, gotSession)
	}
	refused := paddock.Errorf(paddock.EConflict, "refused")
	if _, err := f.runner.PostChecked(ctx, f.session.ID, func(*paddock.Agent, *paddock.Session) error { return refused },
		msg, "", ""); err != refused {
		t.Errorf("refused post: %v, want the check's error", err)
	}
	if n := len(f.allMessages()); n != 1 {
		t.Errorf("%d messages, want 1: a refused post stores nothing", n)
	}
}

func TestCrashRecovery(t *testing.T) {
	w1ctx, crash := context.WithCancel(context.Background())
	defer crash()
	crashed := make(chan struct{})
	f := newFixture(t, nil,
		llmtest.Step{Text: "Two tools.", ToolCalls: []llm.ToolCall{
			call("bash", `{"command":"a"}`), call("bash", `{"command":"b"}`),
		}},
		// Worker 1 dies during its second model call, after both tool
		// results were stored.
		llmtest.Step{Func: func(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
			onEvent(llm.Event{Type: llm.EventTextDelta, Text: "partial"})
			time.Sleep(30 * time.Millisecond) // let the delta flush
			crash()
			<-ctx.Done()
			close(crashed)
			return nil, ctx.Err()
		}},
		llmtest.Step{Deltas: []string{"fin", "ished"}, Text: "finished"},
	)
	w1 := f.newRunner(testConfig("w1"))
	w1done := make(chan struct{})
	go func() { defer close(w1done); w1.Run(w1ctx) }()
	m := f.post("go")
	<-crashed
	<-w1done

	run, _ := f.runs.Run(context.Background(), m.RunID)
	if run.Status != paddock.RunRunning || run.LeaseOwner != "w1" {
		t.Fatalf("after the crash the run is %s held by %q, want running by w1", run.Status, run.LeaseOwner)
	}
	f.start(f.newRunner(testConfig("w2")))
	run = f.waitRun(m, 10*time.Second)
	if run.Status != paddock.RunCompleted || run.LeaseOwner != "w2" {
		t.Fatalf("run %s by %q, want completed by w2", run.Status, run.LeaseOwner)
	}
	for _, c := range []string{"a", "b"} {
		if n := f.sandbox.bashCount(c); n != 1 {
			t.Errorf("tool %q executed %d times, want once", c, n)
		}
	}
	if got := roles(f.allMessages()); got != "user,assistant,tool,tool,assistant" {
		t.Errorf("messages %s", got)
	}
	evs := f.allEvents() // checks 1..n
	completed := map[string]int{}
	var started []paddock.RunEvent
	for _, e := range evs {
		switch e.Type {
		case paddock.EventToolCompleted:
			var te paddock.ToolEvent
			json.Unmarshal(e.Data, &te)
			completed[te.ToolCallID]++
		case paddock.EventRunStarted:
			var re paddock.RunEvent
			json.Unmarshal(e.Data, &re)
			started = append(started, re)
		}
	}
	if len(completed) != 2 || completed["call_0_0"] != 1 || completed["call_0_1"] != 1 {
		t.Errorf("tool.completed per call %v, want one each", completed)
	}
	if len(started) != 2 || started[0].Resumed || !started[1].Resumed || started[1].Step != 1 {
		t.Errorf("run.started events %+v, want a start then a resume at step 1", started)
	}
	// The resumed model call saw both results.
	last := f.llm.Requests()[2]
	if got := roles2(last.Messages); got != "user,assistant,tool,tool" {
		t.Errorf("resumed context %s", got)
	}
}

func TestDeleteSession(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("bash", `{"command":"sleep"}`)}},
	)
	f.start(f.runner)
	f.post("x")
	waitFor(t, 5*time.Second, "tool running", func() bool { return f.sandbox.isRunning("sleep") })
	s, _ := f.sessions.Session(context.Background(), f.session.ID)
	if err := f.runner.DeleteSession(context.Background(), f.session.ID); err != nil {
		t.Fatal(err)
	}
	if env, _ := f.sandbox.Environment(context.Background(), s.EnvironmentID); env.Status != paddock.EnvironmentTerminated {
		t.Errorf("environment %s after delete", env.Status)
	}
	if _, err := f.sessions.Session(context.Background(), f.session.ID); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("session after delete: %v", err)
	}
}

// TestMCPTools: an agent naming an MCP server gets its tools as
// mcp__<server>__<tool>, with their descriptions and schemas; its calls go
// to the server (with the server's headers) and the results, errors
// included, back to the model. A user's own server on loopback is refused
// (only shared ones, which admins add, may be on private networks: a call
// says why) and a disabled one gives no tools: the run goes on without
// them.
func TestMCPTools(t *testing.T) {
	t.Parallel()
	srv := mcptest.Serve(t, "s3cret")
	f := newFixture(t, &paddock.Agent{MCPServers: []string{"calc", "mine", "off"}},
		llmtest.Step{ToolCalls: []llm.ToolCall{call("mcp__calc__add", `{"a":2,"b":3}`), call("mcp__calc__fail", `{}`), call("mcp__mine__add", `{}`)}},
		llmtest.Step{Text: "It is 5."},
	)
	ctx := context.Background()
	servers := f.mcpServers()
	for _, s := range []*paddock.MCPServer{
		{Name: "calc", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer s3cret"}, Enabled: true}, // shared
		{OwnerID: f.agent.OwnerID, Name: "mine", URL: srv.URL, Enabled: true},                                     // the owner's, on loopback
		{Name: "off", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer s3cret"}, Enabled: false}, // disabled
	} {
		for id := int64(0); id < s.OwnerID; { // the fixture's owner must be a user: ids count from 1
			u := &paddock.User{Username: fmt.Sprintf("user%d", id+1), Role: paddock.RoleUser}
			if err := store.NewUserService(f.db).CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			id = u.ID
		}
		s.Transport = mcptool.TransportStreamableHTTP
		if err := servers.CreateMCPServer(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.start(f.runner)
	run := f.waitRun(f.post("add 2 and 3"), 10*time.Second)
	if run.Status != paddock.RunCompleted {
		t.Fatalf("run %+v", run)
	}
	var offered []string
	for _, tool := range f.llm.Requests()[0].Tools {
		if strings.HasPrefix(tool.Name, "mcp__") {
			offered = append(offered, tool.Name)
			if tool.Name == "mcp__calc__add" && (tool.Description != "Adds a and b." || !strings.Contains(string(tool.Parameters), `"a"`)) {
				t.Errorf("add tool %+v", tool)
			}
		}
	}
	if got := strings.Join(offered, " "); got != "mcp__calc__add mcp__calc__fail" {
		t.Errorf("MCP tools offered: %s", got)
	}
	results := map[string]paddock.ContentPart{} // by tool name
	names := map[string]string{}                // tool call id -> name
	for _, m := range f.allMessages() {
		for _, p := range m.Content {
			switch p.Type {
			case paddock.PartToolCall:
				names[p.ID] = p.Name
			case paddock.PartToolResult:
				results[names[p.ToolCallID]] = p
			}
		}
	}
	if r := results["mcp__calc__add"]; r.Result != "5" || r.IsError {
		t.Errorf("add result %+v", r)
	}
	if r := results["mcp__calc__fail"]; !r.IsError || !strings.Contains(r.Result, "division by zero") {
		t.Errorf("fail result %+v", r)
	}
	if r := results["mcp__mine__add"]; !r.IsError || !strings.Contains(r.Result, "not on a public network") {
		t.Errorf("a call to the user's server on loopback: %+v", r)
	}
	if n := srv.Calls.Load(); n != 2 {
		t.Errorf("the server answered %d calls, want 2", n)
	}
}

func TestResourceSearch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &paddock.Agent{Tools: []string{}},
		llmtest.Step{ToolCalls: []llm.ToolCall{
			call(agent.ToolSearchResources, `{"query":"How are containers isolated?"}`),
			call(agent.ToolSearchResources, `{"query":"zebra"}`),
			call(agent.ToolSearchResources, `{}`),
		}},
		llmtest.Step{Text: "They use namespaces."},
	)
	ctx := context.Background()
	// The fixture's owner must be a user (ids count from 1); the others
	// are someone else.
	var other int64
	for id := int64(0); id < f.agent.OwnerID; {
		u := &paddock.User{Username: fmt.Sprintf("user%d", id+1), Role: paddock.RoleUser}
		if err := store.NewUserService(f.db).CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		id = u.ID
		if id != f.agent.OwnerID {
			other = id
		}
	}
	resources := store.NewResourceService(f.db)
	add := func(ownerID int64, title string, chunks ...string) *paddock.Resource {
		res := &paddock.Resource{OwnerID: ownerID, Title: title, MediaType: "text/plain", Size: 100}
		if err := resources.CreateResource(ctx, res, chunks); err != nil {
			t.Fatal(err)
		}
		return res
	}
	guide := add(f.agent.OwnerID, "Sandbox guide", "Paddock isolates each container with namespaces and cgroups.", "Billing is monthly.")
	shared := add(0, "Shared FAQ", "Containers start in about 100 ms.")
	theirs := add(other, "Someone else's notes", "Containers are isolated by secret magic.")
	add(f.agent.OwnerID, "Unused", "Container isolation, not named by the run.")

	if _, err := f.runner.PostWith(ctx, f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("hi")}}, "", "",
		paddock.RunOptions{Resources: []string{"nope"}}); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("a malformed resource id: %v", err)
	}
	f.start(f.runner)
	m, err := f.runner.PostWith(ctx, f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("How are containers isolated?")}}, "", "",
		paddock.RunOptions{Tools: &[]string{}, Resources: []string{guide.ID, shared.ID, theirs.ID, "res_gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if run := f.waitRun(m, 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("run %+v", run)
	}
	var def *llm.Tool
	for i, tool := range f.llm.Requests()[0].Tools {
		if tool.Name == agent.ToolSearchResources {
			def = &f.llm.Requests()[0].Tools[i]
		}
	}
	if def == nil || !strings.Contains(def.Description, "Sandbox guide") || !strings.Contains(def.Description, "Shared FAQ") ||
		strings.Contains(def.Description, "Someone else") || strings.Contains(def.Description, "Unused") {
		t.Fatalf("search_resources offered as %+v", def)
	}
	results := make([]paddock.ContentPart, 3) // in call order
	for _, m := range f.allMessages() {
		for _, p := range m.Content {
			if p.Type == paddock.PartToolResult {
				var i int
				if _, err := fmt.Sscanf(p.ToolCallID, "call_0_%d", &i); err != nil || i > 2 {
					t.Fatalf("result %+v", p)
				}
				results[i] = p
			}
		}
	}
	found := results[0].Result
	if results[0].IsError || !strings.HasPrefix(found, "[1] Sandbox guide (rag://resource/"+guide.ID+", passage 1)\nPaddock isolates each container") ||
		!strings.Contains(found, "Shared FAQ") || strings.Contains(found, "secret magic") || strings.Contains(found, "not named") ||
		strings.Contains(found, "Billing") {
		t.Errorf("search result:\n%s", found)
	}
	if r := results[1]; r.IsError || !strings.Contains(r.Result, `No passage of the documents matches "zebra"`) {
		t.Errorf("no match: %+v", r)
	}
	if r := results[2]; !r.IsError || !strings.Contains(r.Result, "query") {
		t.Errorf("no query: %+v", r)
	}
}

// TestBashBringsItsCompanions: an agent that names bash gets the tools
// that follow its background commands; one without bash does not.
func TestBashBringsItsCompanions(t *testing.T) {
	for _, tc := range []struct {
		tools []string
		want  string
	}{
		{[]string{"read_file", "bash"}, "bash read_file bash_output kill_process"},
		{[]string{"read_file"}, "read_file"},
		{[]string{"bash_output"}, "bash_output"},
	} {
		f := newFixture(t, &paddock.Agent{Tools: tc.tools}, llmtest.Step{Text: "ok"})
		f.start(f.runner)
		f.waitRun(f.post("go"), 10*time.Second)
		var names []string
		for _, tool := range f.llm.Requests()[0].Tools {
			names = append(names, tool.Name)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("tools %v: the model got %v, want %s", tc.tools, names, tc.want)
		}
	}
}

// TestRunSpanLinksAcrossWorkers: a run one server posts and another
// executes (here, posted while no worker runs, then claimed from the
// store) links its span to the request that posted it, which the run
// keeps.
func TestRunSpanLinksAcrossWorkers(t *testing.T) {
	f := newFixture(t, nil, llmtest.Step{Text: "ok"})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST .../messages")
	m, err := f.runner.Post(ctx, f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("go")}}, "", "")
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	f.tracer = tp.Tracer("test")
	f.start(f.newRunner(testConfig("w2")))
	if run := f.waitRun(m, 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("run %s (%s)", run.Status, run.Error)
	}
	var links []sdktrace.Link
	waitFor(t, 5*time.Second, "the run's span", func() bool {
		for _, sp := range rec.Ended() {
			if sp.Name() == "invoke_agent" {
				links = sp.Links()
				return true
			}
		}
		return false
	})
	if len(links) != 1 || links[0].SpanContext.SpanID() != request.SpanContext().SpanID() || links[0].SpanContext.TraceID() != request.SpanContext().TraceID() {
		t.Errorf("the run's span links to %+v, want the posting request's span %s", links, request.SpanContext().SpanID())
	}
}
