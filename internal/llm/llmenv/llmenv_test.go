package llmenv_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmenv"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{env: nil, want: []string{}},
		{env: map[string]string{"OPENAI_API_KEY": "sk"}, want: []string{"openai"}},
		{env: map[string]string{"OPENAI_BASE_URL": "http://localhost:11434/v1"}, want: []string{"openai"}},
		{env: map[string]string{"ANTHROPIC_API_KEY": "a", "GOOGLE_API_KEY": "g"}, want: []string{"anthropic", "google"}},
		{env: map[string]string{"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a"}, want: []string{"anthropic", "google", "openai"}},
	}
	for _, tt := range tests {
		r, err := llmenv.Configure(env(tt.env), llm.Config{MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, r.Names()); diff != "" {
			t.Errorf("FromEnv(%v) names (-want +got):\n%s", tt.env, diff)
		}
	}
}

func TestFromEnvNotConfigured(t *testing.T) {
	r, err := llmenv.FromEnv(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Provider("openai")
	if paddock.ErrorCode(err) != paddock.EUnavailable ||
		paddock.ErrorMessage(err) != `no LLM provider "openai" is configured: set OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server)` {
		t.Errorf("Provider: %v", err)
	}
	if _, err := r.Provider("gemini"); !strings.Contains(paddock.ErrorMessage(err), "GEMINI_API_KEY") {
		t.Errorf("Provider(gemini): %v", err)
	}
}

// TestOpenAIServerEndToEnd drives the real openai adapter, configured from
// the environment, against llmtest's OpenAI-compatible server.
func TestOpenAIServerEndToEnd(t *testing.T) {
	script := llmtest.New(
		llmtest.Step{Deltas: []string{"Let me ", "check."}, ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: `{"cmd":"ls"}`}}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}},
		llmtest.Step{Text: "Done.", Usage: llm.Usage{InputTokens: 20, OutputTokens: 2}},
	)
	srv := llmtest.NewOpenAIServer(t, script)
	r, err := llmenv.FromEnv(env(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1"}), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	req := &llm.Request{Model: "openai/my-model", System: "sys", Tools: []llm.Tool{{Name: "bash"}},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "list files"}}}}}
	var text strings.Builder
	resp, err := r.Stream(context.Background(), req, func(ev llm.Event) {
		if ev.Type == llm.EventTextDelta {
			text.WriteString(ev.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Message.ToolCalls()
	if text.String() != "Let me check." || resp.StopReason != llm.StopToolUse || len(calls) != 1 || calls[0].Arguments != `{"cmd":"ls"}` || resp.Usage.InputTokens != 10 {
		t.Fatalf("response %+v", resp)
	}
	req.Messages = append(req.Messages, resp.Message, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: calls[0].ID, Result: "a.txt"}}})
	resp, err = r.Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Text() != "Done." || resp.StopReason != llm.StopEndTurn {
		t.Fatalf("response %+v", resp)
	}
	got := script.Requests()
	if len(got) != 2 || got[0].Model != "my-model" || got[0].System != "sys" {
		t.Fatalf("requests %+v", got)
	}
	wantHistory := []llm.Message{
		{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "list files"}}},
		{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "Let me check."}, {Type: llm.PartToolCall, ToolCallID: calls[0].ID, ToolName: "bash", Arguments: `{"cmd":"ls"}`}}},
		{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: calls[0].ID, Result: "a.txt"}}},
	}
	if diff := cmp.Diff(wantHistory, got[1].Messages); diff != "" {
		t.Errorf("history seen by the model (-want +got):\n%s", diff)
	}
}
