package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/search"
)

func userText(s string) []*paddock.Message {
	return []*paddock.Message{{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart(s)}}}
}

func TestExecuteStateless(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("bash", `{"command":"echo hi"}`)}, Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}},
		llmtest.Step{Deltas: []string{"It ", "said hi."}, Text: "It said hi.", Usage: llm.Usage{InputTokens: 200, OutputTokens: 20}},
	)
	var mu sync.Mutex
	var got []string
	res, err := f.runner.Execute(context.Background(), agent.ExecuteRequest{
		Agent: f.agent, OwnerID: f.agent.OwnerID, Messages: userText("say hi"),
		OnEvent: func(e *paddock.Event) { mu.Lock(); got = append(got, string(e.Type)); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Message.Text() != "It said hi." || len(res.Messages) != 3 || res.Steps != 2 || !strings.HasPrefix(res.ID, "exe_") {
		t.Fatalf("result %+v", res)
	}
	if res.Usage.InputTokens != 300 || res.Usage.OutputTokens != 30 || res.Usage.Cost != (300*1+30*2)/1e6 {
		t.Errorf("usage %+v", res.Usage)
	}
	want := "tool.started environment.ready tool.output tool.completed message.delta message.delta"
	if strings.Join(got, " ") != want {
		t.Errorf("events %v, want %s", got, want)
	}
	// The temporary environment is gone; nothing was stored in a session.
	f.sandbox.mu.Lock()
	for id, e := range f.sandbox.envs {
		if e.Status != paddock.EnvironmentTerminated || e.Labels["paddock.execution"] != res.ID {
			t.Errorf("environment %s: %s %v", id, e.Status, e.Labels)
		}
	}
	if len(f.sandbox.envs) != 1 {
		t.Errorf("environments: %d", len(f.sandbox.envs))
	}
	f.sandbox.mu.Unlock()
	if msgs := f.allMessages(); len(msgs) != 0 {
		t.Errorf("stored messages: %d", len(msgs))
	}
	tot, err := f.usage.Usage(context.Background(), paddock.UsageFilter{AgentID: &f.agent.ID, RunID: &res.ID})
	if err != nil || tot.Calls != 2 || tot.InputTokens != 300 || tot.OutputTokens != 30 {
		t.Errorf("usage records %+v %v", tot, err)
	}
	for i, r := range f.llm.Requests() {
		if r.CacheKey != f.agent.ID {
			t.Errorf("call %d: cache key %q, want the agent's id", i, r.CacheKey)
		}
	}
}

func TestExecuteCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, llmtest.Step{Delay: time.Minute, Text: "never"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.runner.Execute(ctx, agent.ExecuteRequest{Agent: f.agent, Messages: userText("hi")}); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the model call was not cancelled")
	}
}

func TestExecuteResponseFormat(t *testing.T) {
	t.Parallel()
	schema := mustFormat(t, `{"type":"json_schema","json_schema":{"name":"contact","schema":{"type":"object","required":["name","email"],"properties":{"name":{"type":"string"},"email":{"type":"string"}}}}}`)
	object := mustFormat(t, `{"type":"json_object"}`)
	for _, c := range []struct {
		name   string
		format *agent.Format
		steps  []string
		want   string
		err    string
	}{
		{"object", object, []string{"```json\n{\"a\": 1}\n```"}, `{"a":1}`, ""},
		{"object repaired", object, []string{"Sure! a=1", `{"a":1}`}, `{"a":1}`, ""},
		{"schema", schema, []string{`{"name":"Ann","email":"ann@example.com"}`}, `{"name":"Ann","email":"ann@example.com"}`, ""},
		{"schema repaired", schema, []string{`{"name":"Ann"}`, `{"name":"Ann","email":"a@x"}`}, `{"name":"Ann","email":"a@x"}`, ""},
		{"schema fails twice", schema, []string{`{"name":"Ann"}`, `{"name":1,"email":"x"}`}, "", "even after a correction"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var steps []llmtest.Step
			for _, s := range c.steps {
				steps = append(steps, llmtest.Step{Text: s})
			}
			f := newFixture(t, nil, steps...)
			res, err := f.runner.Execute(context.Background(), agent.ExecuteRequest{Agent: f.agent, Messages: userText("extract"), ResponseFormat: c.format})
			if c.err != "" {
				if paddock.ErrorCode(err) != paddock.EUnavailable || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Message.Text() != c.want {
				t.Errorf("answer %q, want %q", res.Message.Text(), c.want)
			}
			reqs := f.llm.Requests()
			if reqs[0].ResponseFormat == nil || reqs[0].ResponseFormat.Type != c.format.Type {
				t.Errorf("format not passed to the model: %+v", reqs[0].ResponseFormat)
			}
			if len(reqs) == 2 {
				last := reqs[1].Messages[len(reqs[1].Messages)-1]
				if !strings.Contains(last.Text(), "does not match the required response format") {
					t.Errorf("repair request: %q", last.Text())
				}
			}
		})
	}
}

func mustFormat(t *testing.T, s string) *agent.Format {
	t.Helper()
	f, err := agent.ParseFormat(json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, err string }{
		{`{"type":"text"}`, ""},
		{`null`, ""},
		{`{"type":"xml"}`, `not "xml"`},
		{`"json"`, "must be an object"},
		{`{"type":"json_schema"}`, "json_schema must be an object"},
		{`{"type":"json_schema","json_schema":{"schema":{"type":"nonsense"}}}`, "not a valid JSON Schema"},
		{`{"type":"json_schema","json_schema":{"schema":{"$ref":"http://example.com/x.json"}}}`, "not a valid JSON Schema"},
		// Messages name the field and the problem, without the server's
		// working directory or Go types.
		{`{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"nonsense"}}}`, `is not a valid JSON Schema: at '/type': value must be one of 'array'`},
		{`{"type":"json_schema","json_schema":{"schema":{"properties":{"a":{"minimum":"x"}}}}}`, `at '/properties/a/minimum': got string, want number`},
		{`{"type":"json_schema","json_schema":{"schema":{"$ref":"other.json"}}}`, `it refers to "other.json", which is not loaded`},
		{`{"type":"json_schema","json_schema":{"schema":{"$ref":"#/$defs/nope"}}}`, `"#/$defs/nope" not found`},
		{`{"type":"json_schema","json_schema":{"name":3,"schema":{}}}`, `responseFormat.json_schema.name must be a string, not number`},
		{`{"type":"json_schema","json_schema":{"strict":"yes","schema":{}}}`, `responseFormat.json_schema.strict must be a boolean, not string`},
		{`{"type":3}`, `responseFormat.type must be a string, not number`},
		{`"json"`, `responseFormat must be an object such as {"type": "json_object"}, not a string`},
		{`[1]`, `not an array`},
	} {
		_, err := agent.ParseFormat(json.RawMessage(c.in))
		if c.err == "" && err != nil || c.err != "" && (paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.in, err, c.err)
		}
		if msg := paddock.ErrorMessage(err); strings.Contains(msg, "file:") || strings.Contains(msg, "paddock.invalid") || strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") {
			t.Errorf("%s: the message shows internals: %s", c.in, msg)
		}
	}
}

func TestCreditsRefuseModelCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, llmtest.Step{Text: "never"})
	f.credits = func(ctx context.Context, ownerID int64) error {
		if ownerID != f.agent.OwnerID {
			t.Errorf("checked owner %d", ownerID)
		}
		return paddock.Errorf(paddock.EPaymentRequired, "insufficient credits")
	}
	f.runner = f.newRunner(testConfig("w1"))
	if _, err := f.runner.Execute(context.Background(), agent.ExecuteRequest{Agent: f.agent, OwnerID: f.agent.OwnerID, Messages: userText("hi")}); paddock.ErrorCode(err) != paddock.EPaymentRequired {
		t.Errorf("Execute: %v", err)
	}
	f.start(f.runner)
	run := f.waitRun(f.post("hi"), 10*time.Second)
	if run.Status != paddock.RunFailed || !strings.Contains(run.Error, "insufficient credits") {
		t.Errorf("run %s: %q", run.Status, run.Error)
	}
	if f.llm.Calls() != 0 {
		t.Errorf("the model was called %d times", f.llm.Calls())
	}
	if tot, _ := f.usage.Usage(context.Background(), paddock.UsageFilter{}); tot.Calls != 0 {
		t.Errorf("a refused call was recorded: %+v", tot)
	}
}

type fakeSearch struct{ queries []string }

func (f *fakeSearch) Search(ctx context.Context, q string, n int) ([]search.Result, error) {
	f.queries = append(f.queries, q)
	return []search.Result{{Title: "Go 1.26 released", URL: "https://go.dev/blog", Snippet: "It is out."}}, nil
}

func TestRunOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("web_search", `{"query":"go release"}`)}},
		llmtest.Step{Text: "Go 1.26 is out."},
	)
	if _, err := f.runner.PostWith(context.Background(), f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("news?")}},
		"", "", paddock.RunOptions{Tools: &[]string{"web_search"}}); paddock.ErrorCode(err) != paddock.EUnavailable {
		t.Errorf("web_search without a provider: %v", err)
	}
	fs := &fakeSearch{}
	f.search = fs
	f.runner = f.newRunner(testConfig("w1"))
	f.start(f.runner)
	for _, bad := range []paddock.RunOptions{{Tools: &[]string{"teleport"}}, {Reasoning: "extreme"}} {
		if _, err := f.runner.PostWith(context.Background(), f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("x")}}, "", "", bad); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	m, err := f.runner.PostWith(context.Background(), f.session.ID, &paddock.Message{Content: []paddock.ContentPart{paddock.TextPart("news?")}},
		"", "", paddock.RunOptions{Tools: &[]string{"web_search"}, Reasoning: "medium", Locale: "fr-FR"})
	if err != nil {
		t.Fatal(err)
	}
	if run := f.waitRun(m, 10*time.Second); run.Status != paddock.RunCompleted || run.Options.Reasoning != "medium" {
		t.Fatalf("run %s %q %+v", run.Status, run.Error, run.Options)
	}
	req := f.llm.Requests()[0]
	if len(req.Tools) != 1 || req.Tools[0].Name != "web_search" || req.Reasoning != "medium" || !strings.Contains(req.System, "fr-FR") {
		t.Errorf("request: tools %v, reasoning %q, system %q", req.Tools, req.Reasoning, req.System)
	}
	var result string
	for _, p := range f.llm.Requests()[1].Messages[2].Parts {
		result += p.Result
	}
	if len(fs.queries) != 1 || fs.queries[0] != "go release" || !strings.Contains(result, "1. Go 1.26 released\n   https://go.dev/blog") {
		t.Errorf("queries %v, result %q", fs.queries, result)
	}
	f.sandbox.mu.Lock()
	defer f.sandbox.mu.Unlock()
	if len(f.sandbox.envs) != 0 {
		t.Errorf("web search made an environment")
	}
}

// With a response format, the one delta is the checked answer, not what
// the model streamed before its correction.
func TestExecuteFormatDeltas(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, llmtest.Step{Text: "Sure! a=1"}, llmtest.Step{Text: "```json\n{\"a\": 1}\n```"})
	var deltas []string
	_, err := f.runner.Execute(context.Background(), agent.ExecuteRequest{Agent: f.agent, Messages: userText("x"),
		ResponseFormat: mustFormat(t, `{"type":"json_object"}`), OnEvent: func(e *paddock.Event) {
			if e.Type == paddock.EventMessageDelta {
				var d paddock.DeltaEvent
				_ = json.Unmarshal(e.Data, &d)
				deltas = append(deltas, d.Delta)
			}
		}})
	if err != nil || len(deltas) != 1 || deltas[0] != `{"a":1}` {
		t.Errorf("deltas %q, %v", deltas, err)
	}
}
