package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// tinyModel is a model with a small context window, so that a few turns
// overflow it.
func tinyRunner(f *fixture, window int) {
	cfg := testConfig("w1")
	cfg.Catalog = llm.NewCatalog(llm.ModelInfo{Provider: llm.OpenAI, ID: "gpt-tiny", ContextWindow: window, MaxOutput: window / 4})
	f.runner = f.newRunner(cfg)
}

func TestCompaction(t *testing.T) {
	t.Parallel()
	turn := func(n string) string { return "turn " + n + ": " + strings.Repeat(n+" ", 550) } // ~1100 characters, ~280 tokens
	f := newFixture(t, &paddock.Agent{Model: "openai/gpt-tiny", Tools: []string{}},
		llmtest.Step{Text: "answer 1"},
		llmtest.Step{Text: "answer 2"},
		llmtest.Step{Text: "SUMMARY-1 of turns 1 and 2"}, // the history overflows: summarized
		llmtest.Step{Text: "answer 3"},
		llmtest.Step{Text: "SUMMARY-2 of turns 1 to 3"}, // extends the summary
		llmtest.Step{Text: "answer 4"},
	)
	tinyRunner(f, 1000) // budget 750 tokens: two turns fit, three do not
	f.start(f.runner)
	for _, n := range []string{"1", "2", "3", "4"} {
		if run := f.waitRun(f.post(turn(n)), 10*time.Second); run.Status != paddock.RunCompleted {
			t.Fatalf("run %s: %s %s", n, run.Status, run.Error)
		}
	}
	reqs := f.llm.Requests()
	if len(reqs) != 6 {
		t.Fatalf("%d model calls, want 6", len(reqs))
	}
	text := func(r *llm.Request) string {
		var b strings.Builder
		for _, m := range r.Messages {
			b.WriteString(m.Text())
			for _, p := range m.Parts {
				b.WriteString(p.Result)
			}
		}
		return b.String()
	}
	if got := text(reqs[1]); !strings.Contains(got, "turn 1") || strings.Contains(got, "SUMMARY") {
		t.Errorf("second call should hold the whole history: %.100q", got)
	}
	if reqs[2].System == f.agent.SystemPrompt || !strings.Contains(text(reqs[2]), "turn 1") || !strings.Contains(text(reqs[2]), "answer 2") {
		t.Errorf("first summary call: system %.60q, text %.100q", reqs[2].System, text(reqs[2]))
	}
	if got := text(reqs[3]); !strings.Contains(got, "SUMMARY-1") || strings.Contains(got, "turn 1") || !strings.Contains(got, "turn 3") || len(reqs[3].Messages) != 1 {
		t.Errorf("third turn's call should get the summary and its own turn: %d messages, %.200q", len(reqs[3].Messages), got)
	}
	if reqs[3].System != f.agent.SystemPrompt {
		t.Errorf("the agent's prompt is kept: %q", reqs[3].System)
	}
	if got := text(reqs[4]); !strings.Contains(got, "SUMMARY-1") || !strings.Contains(got, "turn 3") || strings.Contains(got, "turn 1:") {
		t.Errorf("second summary call should extend the first: %.300q", got)
	}
	if got := text(reqs[5]); !strings.Contains(got, "SUMMARY-2") || !strings.Contains(got, "turn 4") || strings.Contains(got, "turn 3:") {
		t.Errorf("fourth turn's call: %.200q", got)
	}
	// The stored history is whole; the compactions are events; every call's usage is recorded.
	if msgs := f.allMessages(); len(msgs) != 8 {
		t.Errorf("stored messages: %d, want 8", len(msgs))
	}
	n := 0
	for _, e := range f.allEvents() {
		if e.Type == paddock.EventContextCompacted {
			n++
		}
	}
	if n != 2 {
		t.Errorf("context.compacted events: %d, want 2", n)
	}
	if tot, err := f.usage.Usage(context.Background(), paddock.UsageFilter{SessionID: &f.session.ID}); err != nil || tot.Calls != 6 {
		t.Errorf("usage calls %d (%v), want 6", tot.Calls, err)
	}
}

func TestCompactionCutsHugeToolOutput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &paddock.Agent{Model: "openai/gpt-tiny", Tools: []string{"bash"}},
		llmtest.Step{ToolCalls: []llm.ToolCall{call("bash", `{"command":"cat /big"}`)}},
		llmtest.Step{Text: "it is big"},
		llmtest.Step{Text: "still here"},
	)
	tinyRunner(f, 4000)                                                // budget 3000 tokens, about 12,000 characters
	f.sandbox.files["/big"] = strings.Repeat("0123456789abcdef", 2000) // 32,000 characters
	f.start(f.runner)
	f.waitRun(f.post("show /big"), 10*time.Second)
	if run := f.waitRun(f.post("and now?"), 10*time.Second); run.Status != paddock.RunCompleted {
		t.Fatalf("run: %s %s", run.Status, run.Error)
	}
	reqs := f.llm.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model calls, want 3 (no summary)", len(reqs))
	}
	var result string
	for _, m := range reqs[2].Messages {
		for _, p := range m.Parts {
			if p.Type == llm.PartToolResult {
				result = p.Result
			}
		}
	}
	if !strings.Contains(result, "characters left out") || len(result) > 3000 || !strings.HasPrefix(result, "0123456789abcdef") {
		t.Errorf("tool result in the next call: %d characters: %.80q", len(result), result)
	}
	// The stored result is whole (up to the tool's own output cap).
	for _, m := range f.allMessages() {
		for _, p := range m.Content {
			if p.Type == paddock.PartToolResult && len(p.Result) < 30_000 {
				t.Errorf("stored result cut: %d characters", len(p.Result))
			}
		}
	}
}
