package agent_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/pubsub"
	"github.com/paddockhq/paddock/internal/store"
)

// BenchmarkOneStepRun measures the platform's work for a one-step text run
// on SQLite with a model that answers at once: Post (which claims the
// run), the step's commit with the completion, up to the run.completed
// event on the bus.
func BenchmarkOneStepRun(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "paddock.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	a := &paddock.Agent{OwnerID: 7, Name: "bench", Model: "openai/gpt-test"}
	if err := store.NewAgentService(db).CreateAgent(ctx, a); err != nil {
		b.Fatal(err)
	}
	sessions := store.NewSessionService(db)
	sess := &paddock.Session{AgentID: a.ID, OwnerID: a.OwnerID}
	if err := sessions.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	bus := pubsub.New(0)
	model := llmtest.New()
	sb := newFakeSandbox()
	r := agent.NewRunner(testConfig("w1"), agent.Deps{
		Providers: llm.NewRegistry(model), Agents: store.NewAgentService(db), Sessions: sessions,
		Messages: store.NewMessageService(db), Runs: store.NewRunService(db), Events: store.NewEventService(db),
		Environments: sb, Sandbox: sb, Bus: bus,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	msg := &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("hi")}}
	var live <-chan *paddock.Event
	stop := func() {}
	defer func() { stop() }()
	n := 0
	for b.Loop() {
		// A fresh session every 50 runs, as in bench/agent.go: the cost of
		// a step should not be dominated by a long history.
		if n%50 == 0 {
			b.StopTimer()
			stop()
			sess = &paddock.Session{AgentID: a.ID, OwnerID: a.OwnerID}
			if err := sessions.CreateSession(ctx, sess); err != nil {
				b.Fatal(err)
			}
			live, stop = bus.Subscribe(ctx, sess.ID)
			b.StartTimer()
		}
		n++
		model.Append(llmtest.Step{Text: "ok"})
		m, err := r.Post(ctx, sess.ID, msg, "", "")
		if err != nil {
			b.Fatal(err)
		}
		for e := range live {
			if e.Type == paddock.EventRunCompleted && e.RunID == m.RunID {
				break
			}
		}
	}
}

// TestOneStepRunWrites checks the units of work of a one-step run: the
// Post claims the run and records its start (run.started), and the last
// step records the deltas, the answer and the completion together, so
// their events are numbered back to back, after the Post's.
func TestOneStepRunWrites(t *testing.T) {
	f := newFixture(t, nil, llmtest.Step{Deltas: []string{"o", "k"}, Text: "ok"})
	f.start(f.runner)
	m := f.post("hi")
	run := f.waitRun(m, 10*time.Second)
	if run.Status != paddock.RunCompleted || run.Step != 1 || run.StartedAt == nil {
		t.Fatalf("run %+v, want completed after 1 step", run)
	}
	waitFor(t, 5*time.Second, "session pending", func() bool { return f.sessionStatus() == paddock.SessionPending })
	var got []string
	for _, e := range f.allEvents() {
		got = append(got, string(e.Type))
	}
	want := []string{"message.user", "session.status", "run.started",
		"message.delta", "message.assistant", "run.completed", "session.status"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if got := roles(f.allMessages()); got != "user,assistant" {
		t.Errorf("messages %s", got)
	}
}

// TestCrashAfterClaim: a worker that claimed and started a run dies in
// its first model call; the run is resumed by another worker, from the
// same state, and completes once.
func TestCrashAfterClaim(t *testing.T) {
	w1ctx, crash := context.WithCancel(context.Background())
	defer crash()
	crashed := make(chan struct{})
	f := newFixture(t, nil,
		llmtest.Step{Func: func(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
			crash()
			<-ctx.Done()
			close(crashed)
			return nil, ctx.Err()
		}},
		llmtest.Step{Text: "done"},
	)
	w1 := f.newRunner(testConfig("w1"))
	w1done := make(chan struct{})
	go func() { defer close(w1done); w1.Run(w1ctx) }()
	m := f.post("go")
	<-crashed
	<-w1done
	run, err := f.runs.Run(context.Background(), m.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != paddock.RunRunning || run.Step != 0 {
		t.Fatalf("after the crash the run is %s at step %d, want running at 0", run.Status, run.Step)
	}
	f.start(f.newRunner(testConfig("w2")))
	run = f.waitRun(m, 10*time.Second)
	if run.Status != paddock.RunCompleted || run.LeaseOwner != "w2" || run.Step != 1 {
		t.Fatalf("run %s by %q at step %d, want completed by w2 at step 1", run.Status, run.LeaseOwner, run.Step)
	}
	if got := roles(f.allMessages()); got != "user,assistant" {
		t.Errorf("messages %s", got)
	}
	var started []paddock.RunEvent
	completed := 0
	for _, e := range f.allEvents() {
		switch e.Type {
		case paddock.EventRunStarted:
			var re paddock.RunEvent
			json.Unmarshal(e.Data, &re)
			started = append(started, re)
		case paddock.EventRunCompleted:
			completed++
		}
	}
	if len(started) != 2 || started[0].Resumed || !started[1].Resumed {
		t.Errorf("run.started events %+v, want a start then a resume", started)
	}
	if completed != 1 {
		t.Errorf("%d run.completed events, want 1", completed)
	}
}

// blockingStep is a model step that closes calling, waits for release and
// answers text.
func blockingStep(calling, release chan struct{}, text string) llmtest.Step {
	return llmtest.Step{Func: func(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
		close(calling)
		<-release
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: text}}}}, nil
	}}
}

// startBlockedRun starts worker "w1", which neither renews its leases nor
// polls (it claims only when woken), posts "go" through it and returns
// once the run's model call, a blockingStep, has closed calling.
func (f *fixture) startBlockedRun(calling chan struct{}) (w1 *agent.Runner, stop func(), m *paddock.Message) {
	f.t.Helper()
	cfg := testConfig("w1")
	cfg.Heartbeat = time.Hour
	cfg.Poll = time.Hour
	w1 = f.newRunner(cfg)
	stop = f.start(w1)
	m, err := w1.Post(context.Background(), f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("go")}}, "", "")
	if err != nil {
		f.t.Fatal(err)
	}
	<-calling
	return w1, stop, m
}

// TestLastStepLostLease: a worker whose lease was taken over during the
// last model call stores neither the answer nor the completion; the new
// holder does, once.
func TestLastStepLostLease(t *testing.T) {
	release := make(chan struct{})
	calling := make(chan struct{})
	f := newFixture(t, nil,
		blockingStep(calling, release, "stale"),
		llmtest.Step{Text: "fresh"},
	)
	_, stop1, m := f.startBlockedRun(calling)
	// The lease moves to w2 (as after an expiry), which answers first.
	owner := "w2"
	past := time.Now().Add(-time.Second)
	if _, err := f.runs.UpdateRun(context.Background(), m.RunID, paddock.RunUpdate{LeaseOwner: &owner, LeaseExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	f.start(f.newRunner(testConfig("w2")))
	run := f.waitRun(m, 10*time.Second)
	close(release)
	stop1()
	if run.Status != paddock.RunCompleted || run.LeaseOwner != "w2" {
		t.Fatalf("run %s by %q, want completed by w2", run.Status, run.LeaseOwner)
	}
	msgs := f.allMessages()
	if got := roles(msgs); got != "user,assistant" || msgs[1].Text() != "fresh" {
		t.Errorf("messages %s, last %q: want only w2's answer", got, msgs[len(msgs)-1].Text())
	}
	n := 0
	for _, e := range f.allEvents() {
		if e.Type == paddock.EventRunCompleted {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d run.completed events, want 1", n)
	}
}

// TestNoReclaimOfOwnRun: a worker whose lease on a run it executes
// expired (a stalled heartbeat) does not claim that run a second time: two
// executions with one owner would both pass every fence. It claims the
// next runnable run instead.
func TestNoReclaimOfOwnRun(t *testing.T) {
	release := make(chan struct{})
	calling := make(chan struct{})
	f := newFixture(t, nil,
		blockingStep(calling, release, "first"),
		llmtest.Step{Text: "other session"},
		llmtest.Step{Text: "second execution"},
	)
	ctx := context.Background()
	w1, _, m := f.startBlockedRun(calling)
	past := time.Now().Add(-time.Second)
	if _, err := f.runs.UpdateRun(ctx, m.RunID, paddock.RunUpdate{LeaseExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	// A run of another session, queued by a Runner with no Run loop, is
	// claimable after the expired one.
	other := &paddock.Session{AgentID: f.agent.ID, OwnerID: f.agent.OwnerID}
	if err := f.sessions.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	m2, err := f.runner.Post(ctx, other.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("other")}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	w1.Wake()
	if run := f.waitRun(m2, 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("other session's run %s", run.Status)
	}
	close(release)
	run := f.waitRun(m, 10*time.Second)
	if run.Status != paddock.RunCompleted || run.LeaseOwner != "w1" {
		t.Fatalf("run %s by %q, want completed by w1", run.Status, run.LeaseOwner)
	}
	if n := f.llm.Calls(); n != 2 {
		t.Errorf("%d model calls, want 2 (one per run)", n)
	}
	msgs := f.allMessages()
	if got := roles(msgs); got != "user,assistant" || msgs[1].Text() != "first" {
		t.Errorf("messages %s, last %q: want only the first execution's answer", got, msgs[len(msgs)-1].Text())
	}
}

// texts returns the text of each message of a model request.
func texts(msgs []llm.Message) []string {
	var out []string
	for _, m := range msgs {
		for _, p := range m.Parts {
			out = append(out, p.Text)
		}
	}
	return out
}

// TestContextAcrossRunsAndWorkers: a worker keeps a session's context
// between runs and reads only what is new, including the runs another
// worker executed; a message stored outside any run makes it read the
// context again, in full.
func TestContextAcrossRunsAndWorkers(t *testing.T) {
	f := newFixture(t, nil,
		llmtest.Step{Text: "a1"}, llmtest.Step{Text: "a2"}, llmtest.Step{Text: "a3"}, llmtest.Step{Text: "a4"},
	)
	ctx := context.Background()
	cfg := testConfig("w1")
	cfg.Poll = time.Hour // each worker claims only when its own Post wakes it
	w1 := f.newRunner(cfg)
	cfg.Owner = "w2"
	w2 := f.newRunner(cfg)
	f.start(w1)
	f.start(w2)
	post := func(w *agent.Runner, text string) {
		t.Helper()
		m, err := w.Post(ctx, f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart(text)}}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if run := f.waitRun(m, 10*time.Second); run.Status != paddock.RunCompleted {
			t.Fatalf("run of %q: %s", text, run.Status)
		}
	}
	post(w1, "u1")
	post(w2, "u2")
	post(w1, "u3") // w1 kept run 1's context; run 2 was w2's
	if err := f.messages.CreateMessage(ctx, &paddock.Message{SessionID: f.session.ID, Role: paddock.MessageUser,
		Content: []paddock.ContentPart{paddock.TextPart("loose")}}); err != nil {
		t.Fatal(err)
	}
	post(w1, "u4")
	reqs := f.llm.Requests()
	want := [][]string{
		{"u1"},
		{"u1", "a1", "u2"},
		{"u1", "a1", "u2", "a2", "u3"},
		{"loose", "u1", "a1", "u2", "a2", "u3", "a3", "u4"},
	}
	for i, w := range want {
		if got := texts(reqs[i].Messages); !slices.Equal(got, w) {
			t.Errorf("call %d saw %q, want %q", i+1, got, w)
		}
	}
}

// TestPostClaims: a Post claims the run it queues, in its own unit of
// work, when its worker has a free slot and no earlier run of the session
// is active; otherwise the run stays queued for a worker to claim, which
// the end of a run makes happen (no poll here).
func TestPostClaims(t *testing.T) {
	release := make(chan struct{})
	calling := make(chan struct{})
	f := newFixture(t, nil,
		blockingStep(calling, release, "a"),
		llmtest.Step{Text: "b"}, llmtest.Step{Text: "c"},
	)
	ctx := context.Background()
	cfg := testConfig("w1")
	cfg.Poll = time.Hour // runs start only when a Post or a run's end says so
	cfg.MaxConcurrent = 1
	w := f.newRunner(cfg)
	stop := f.start(w)
	post := func(sessionID, text string) *paddock.Run {
		t.Helper()
		m, err := w.Post(ctx, sessionID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart(text)}}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		run, err := f.runs.Run(ctx, m.RunID)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	waitForLoop(t, f, w)

	a := post(f.session.ID, "a")
	if a.Status != paddock.RunRunning || a.LeaseOwner != "w1" || a.LeaseExpiresAt == nil || a.StartedAt == nil {
		t.Fatalf("run a after its Post: %s, lease %q, want running, claimed by w1", a.Status, a.LeaseOwner)
	}
	<-calling
	b := post(f.session.ID, "b") // behind a
	other := &paddock.Session{AgentID: f.agent.ID, OwnerID: f.agent.OwnerID}
	if err := f.sessions.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	c := post(other.ID, "c") // no free slot
	for _, r := range []*paddock.Run{b, c} {
		if r.Status != paddock.RunQueued || r.LeaseOwner != "" {
			t.Errorf("run %s after its Post: %s, lease %q, want queued, free", r.ID, r.Status, r.LeaseOwner)
		}
	}
	close(release)
	for _, r := range []*paddock.Run{a, b, c} {
		f.waitRun(&paddock.Message{RunID: r.ID}, 10*time.Second)
	}
	for i, e := range f.allEvents()[:3] {
		if want := []paddock.EventType{paddock.EventMessageUser, paddock.EventSessionStatus, paddock.EventRunStarted}[i]; e.Type != want {
			t.Errorf("event %d: %s, want %s", e.Seq, e.Type, want)
		}
	}

	// A Runner whose Run loop has stopped claims nothing.
	stop()
	if d := post(f.session.ID, "d"); d.Status != paddock.RunQueued || d.LeaseOwner != "" {
		t.Errorf("run d posted with no Run loop: %s, lease %q, want queued, free", d.Status, d.LeaseOwner)
	}
}

// waitForLoop waits until w's Run loop claims what Post queues: a Post
// made before it starts leaves its run queued.
func waitForLoop(t *testing.T, f *fixture, w *agent.Runner) {
	t.Helper()
	waitFor(t, 5*time.Second, "the Run loop", func() bool { return w.Workers() > 0 })
}
