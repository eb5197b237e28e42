package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/anthropic"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newProvider(t *testing.T, srv *llmtest.ReplayServer, s *sleeps) *anthropic.Provider {
	t.Helper()
	if s == nil {
		s = &sleeps{}
	}
	p, err := anthropic.New(llm.Config{APIKey: "sk-ant-test", BaseURL: srv.URL, RetryDelay: time.Millisecond, Sleep: s.sleep})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func collect(evs *[]llm.Event) func(llm.Event) {
	return func(ev llm.Event) { *evs = append(*evs, ev) }
}

func body(t *testing.T, r llmtest.RecordedRequest) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body: %v\n%s", err, r.Body)
	}
	return m
}

// ephemeral is a cache breakpoint's cache_control.
var ephemeral = map[string]any{"type": "ephemeral"}

func user(text string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: text}}}
}

func TestStreamText(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	temp := 0.3
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model: "claude-sonnet-4-5", System: "Be brief.", Temperature: &temp, MaxTokens: 512,
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartText, Text: "Describe"},
			{Type: llm.PartImage, ImageMIME: "image/jpeg", ImageData: []byte{0xff, 0xd8, 0xff}},
		}}},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "Hello! How can I help you today?"}}},
		Usage:      llm.Usage{InputTokens: 25, OutputTokens: 15},
		StopReason: llm.StopEndTurn,
		Model:      "claude-sonnet-4-5-20250929",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	wantEvs := []llm.Event{
		{Type: llm.EventTextDelta, Text: "Hello"}, {Type: llm.EventTextDelta, Text: "! How can I"}, {Type: llm.EventTextDelta, Text: " help you today?"},
		{Type: llm.EventUsage, Usage: &want.Usage}, {Type: llm.EventDone, StopReason: llm.StopEndTurn},
	}
	if diff := cmp.Diff(wantEvs, evs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	r := srv.Requests()[0]
	if r.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != "sk-ant-test" || r.Header.Get("Anthropic-Version") == "" {
		t.Errorf("request %s %v", r.Path, r.Header)
	}
	wantBody := map[string]any{
		"model": "claude-sonnet-4-5", "max_tokens": 512.0, "stream": true, "temperature": 0.3,
		"system": []any{map[string]any{"type": "text", "text": "Be brief.", "cache_control": ephemeral}},
		"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "Describe"},
			map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}, "cache_control": ephemeral},
		}}},
	}
	if diff := cmp.Diff(wantBody, body(t, r)); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestStreamThinkingToolUse(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/thinking_tool_use.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model: "claude-sonnet-4-5", Reasoning: llm.ReasoningMedium, MaxTokens: 4000,
		Tools:    []llm.Tool{{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"],"additionalProperties":false}`)}},
		Messages: []llm.Message{user("Weather in SF?")},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
		{Type: llm.PartThinking, Text: "The user wants the weather in San Francisco.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
		{Type: llm.PartText, Text: "Okay, let me check the weather for San Francisco, CA:"},
		{Type: llm.PartToolCall, ToolCallID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", ToolName: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "fahrenheit"}`},
	}}
	if diff := cmp.Diff(wantMsg, resp.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if resp.StopReason != llm.StopToolUse || resp.Usage != (llm.Usage{InputTokens: 872, CachedInputTokens: 400, OutputTokens: 89}) {
		t.Errorf("stop %q usage %+v", resp.StopReason, resp.Usage)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
		if ev.ToolCall != nil && ev.ToolCall.Index != 0 {
			t.Errorf("tool call index %d, want 0 (the first call, whatever its block index)", ev.ToolCall.Index)
		}
	}
	wantTypes := []string{"text_delta", "tool_call_start", "tool_call_delta", "tool_call_delta", "tool_call_delta", "tool_call_delta", "tool_call_delta", "tool_call_end", "usage", "done"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	got := body(t, srv.Requests()[0])
	if diff := cmp.Diff(map[string]any{"type": "enabled", "budget_tokens": 8192.0}, got["thinking"]); diff != "" {
		t.Errorf("thinking (-want +got):\n%s", diff)
	}
	if got["max_tokens"] != 12192.0 || got["temperature"] != nil {
		t.Errorf("max_tokens %v temperature %v", got["max_tokens"], got["temperature"])
	}
	// Without a system prompt, the last tool is the first cache breakpoint.
	wantTools := []any{map[string]any{"name": "get_weather", "description": "Weather", "input_schema": map[string]any{
		"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []any{"location"}, "additionalProperties": false},
		"cache_control": ephemeral}}
	if diff := cmp.Diff(wantTools, got["tools"]); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
}

func TestHistoryMapping(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	history := []llm.Message{
		{Role: llm.RoleSystem, Parts: []llm.Part{{Type: llm.PartText, Text: "Summary of earlier turns."}}},
		user("Weather in SF?"),
		{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartThinking, Text: "think", Signature: "sig"},
			{Type: llm.PartToolCall, ToolCallID: "toolu_1", ToolName: "get_weather", Arguments: `{"location":"SF"}`},
			{Type: llm.PartToolCall, ToolCallID: "toolu_2", ToolName: "noop", Arguments: ``},
		}},
		{Role: llm.RoleTool, Parts: []llm.Part{
			{Type: llm.PartToolResult, ToolCallID: "toolu_1", Result: "15C"},
			{Type: llm.PartToolResult, ToolCallID: "toolu_2", Result: "bad", IsError: true},
		}},
	}
	if _, err := p.Stream(context.Background(), &llm.Request{Model: "claude-opus-4-5", System: "Sys.", Reasoning: llm.ReasoningLow, Messages: history}, nil); err != nil {
		t.Fatal(err)
	}
	got := body(t, srv.Requests()[0])
	// The last block of each of the last two user turns is a cache breakpoint.
	wantMsgs := []any{
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Weather in SF?", "cache_control": ephemeral}}},
		map[string]any{"role": "assistant", "content": []any{
			map[string]any{"type": "thinking", "thinking": "think", "signature": "sig"},
			map[string]any{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": map[string]any{"location": "SF"}},
			map[string]any{"type": "tool_use", "id": "toolu_2", "name": "noop", "input": map[string]any{}},
		}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": false, "content": []any{map[string]any{"type": "text", "text": "15C"}}},
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": []any{map[string]any{"type": "text", "text": "bad"}},
				"cache_control": ephemeral},
		}},
	}
	if diff := cmp.Diff(wantMsgs, got["messages"]); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{map[string]any{"type": "text", "text": "Sys.\n\nSummary of earlier turns.", "cache_control": ephemeral}}, got["system"]); diff != "" {
		t.Errorf("system (-want +got):\n%s", diff)
	}
	if got["max_tokens"] != 64000.0 || got["thinking"] == nil {
		t.Errorf("max_tokens %v thinking %v", got["max_tokens"], got["thinking"])
	}

	// Without the thinking block, a tool loop cannot think: thinking is left off.
	history[2].Parts = history[2].Parts[1:]
	if _, err := p.Stream(context.Background(), &llm.Request{Model: "claude-opus-4-5", Reasoning: llm.ReasoningLow, Messages: history}, nil); err != nil {
		t.Fatal(err)
	}
	if got := body(t, srv.Requests()[1]); got["thinking"] != nil {
		t.Errorf("thinking %v in a tool loop without thinking blocks", got["thinking"])
	}
}

// TestPromptCache follows two steps of an agent: the first writes the
// prompt to the cache, the second reads it and writes its new turns; the
// breakpoints move with the history, and the usage counts what was read
// and written, which the model table prices.
func TestPromptCache(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/cache_write.sse"), llmtest.File(t, 200, "testdata/cache_read.sse"))
	p := newProvider(t, srv, nil)
	req := &llm.Request{Model: "claude-sonnet-4-5", System: "You are a coding agent.",
		Tools:    []llm.Tool{{Name: "bash", Parameters: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)}},
		Messages: []llm.Message{user("What files are there?")}}
	resp, err := p.Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (llm.Usage{InputTokens: 2112, CacheWriteTokens: 2100, OutputTokens: 40}); resp.Usage != want {
		t.Errorf("first step usage %+v, want %+v", resp.Usage, want)
	}
	req.Messages = append(req.Messages, resp.Message, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{
		{Type: llm.PartToolResult, ToolCallID: resp.Message.ToolCalls()[0].ID, Result: "a.txt\nb.txt\n"}}})
	resp, err = p.Stream(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 2194, CachedInputTokens: 2100, CacheWriteTokens: 85, OutputTokens: 11}
	if resp.Usage != want {
		t.Errorf("second step usage %+v, want %+v", resp.Usage, want)
	}
	m, _ := llm.LookupModel(llm.Anthropic, "claude-sonnet-4-5")
	if got, wantCost := m.Cost(resp.Usage), (9*3+2100*0.30+85*3.75+11*15)/1e6; math.Abs(got-wantCost) > 1e-15 {
		t.Errorf("second step cost %v, want %v", got, wantCost)
	}

	// breakpoints lists where cache_control is: "system", "tool N" or
	// "message N block M".
	breakpoints := func(b map[string]any) []string {
		var at []string
		for i, x := range b["system"].([]any) {
			if x.(map[string]any)["cache_control"] != nil {
				at = append(at, fmt.Sprint("system ", i))
			}
		}
		for i, x := range b["tools"].([]any) {
			if x.(map[string]any)["cache_control"] != nil {
				at = append(at, fmt.Sprint("tool ", i))
			}
		}
		for i, m := range b["messages"].([]any) {
			for j, x := range m.(map[string]any)["content"].([]any) {
				if cc := x.(map[string]any)["cache_control"]; cc != nil {
					if diff := cmp.Diff(ephemeral, cc); diff != "" {
						t.Errorf("cache_control (-want +got):\n%s", diff)
					}
					at = append(at, fmt.Sprintf("message %d block %d", i, j))
				}
			}
		}
		return at
	}
	reqs := srv.Requests()
	if diff := cmp.Diff([]string{"system 0", "message 0 block 0"}, breakpoints(body(t, reqs[0]))); diff != "" {
		t.Errorf("first step breakpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"system 0", "message 0 block 0", "message 2 block 0"}, breakpoints(body(t, reqs[1]))); diff != "" {
		t.Errorf("second step breakpoints (-want +got):\n%s", diff)
	}
}

func TestResponseFormat(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/json_tool.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model: "claude-haiku-4-5", Messages: []llm.Message{user("Extract the contact")},
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Name: "contact", Schema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name"]}`)},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Text() != `{"name": "Ada Lovelace", "email": "ada@example.com"}` || resp.StopReason != llm.StopEndTurn || len(resp.Message.ToolCalls()) != 0 {
		t.Errorf("response %+v", resp)
	}
	for _, ev := range evs {
		if ev.ToolCall != nil {
			t.Errorf("tool call event %+v for the response tool", ev)
		}
	}
	got := body(t, srv.Requests()[0])
	if diff := cmp.Diff(map[string]any{"type": "tool", "name": "json_response"}, got["tool_choice"]); diff != "" {
		t.Errorf("tool_choice (-want +got):\n%s", diff)
	}
	tools := got["tools"].([]any)
	schema := tools[0].(map[string]any)["input_schema"]
	wantSchema := map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}, "email": map[string]any{"type": "string"}}, "required": []any{"name"}}
	if diff := cmp.Diff(wantSchema, schema); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		replies   []llmtest.Reply
		code      string
		message   string
		ctxLength bool
		calls     int
		sleeps    []time.Duration
	}{
		{name: "400", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_400.json")}, calls: 1,
			code: paddock.EInvalid, message: "anthropic: messages.1.content.0.tool_use.input: Input should be a valid dictionary"},
		{name: "401", replies: []llmtest.Reply{llmtest.File(t, 401, "testdata/error_401.json")}, calls: 1,
			code: paddock.EUnavailable, message: "anthropic: invalid API key (401)"},
		{name: "context length", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_context.json")}, calls: 1,
			code: paddock.EInvalid, ctxLength: true, message: "anthropic: context length exceeded: prompt is too long: 208310 tokens > 200000 maximum"},
		{name: "429 with retry-after then success", replies: []llmtest.Reply{
			{Status: 429, Header: http.Header{"Retry-After": {"3"}}, Body: llmtest.File(t, 429, "testdata/error_429.json").Body},
			llmtest.File(t, 200, "testdata/text.sse")}, calls: 2, sleeps: []time.Duration{3 * time.Second}},
		{name: "429 after retries", replies: []llmtest.Reply{
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json"),
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json")},
			calls: 4, code: paddock.ERateLimited},
		{name: "500 then 529 then success", replies: []llmtest.Reply{
			llmtest.File(t, 500, "testdata/error_500.json"), llmtest.File(t, 529, "testdata/error_529.json"), llmtest.File(t, 200, "testdata/text.sse")}, calls: 3},
		{name: "overloaded event then success", replies: []llmtest.Reply{
			llmtest.File(t, 200, "testdata/overloaded_event.sse"), llmtest.File(t, 200, "testdata/text.sse")}, calls: 2},
		{name: "overloaded after retries", replies: []llmtest.Reply{
			llmtest.File(t, 529, "testdata/error_529.json"), llmtest.File(t, 529, "testdata/error_529.json"),
			llmtest.File(t, 529, "testdata/error_529.json"), llmtest.File(t, 200, "testdata/overloaded_event.sse")},
			calls: 4, code: paddock.EUnavailable, message: "anthropic: server error (529): Overloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.NewReplayServer(t, tt.replies...)
			s := &sleeps{}
			p := newProvider(t, srv, s)
			resp, err := p.Stream(context.Background(), &llm.Request{Model: "claude-haiku-4-5", Messages: []llm.Message{user("hi")}}, nil)
			if got := len(srv.Requests()); got != tt.calls {
				t.Errorf("%d requests, want %d", got, tt.calls)
			}
			if tt.code == "" {
				if err != nil || resp.Message.Text() == "" {
					t.Fatalf("Stream: %v, %+v", err, resp)
				}
			} else {
				if got := paddock.ErrorCode(err); got != tt.code {
					t.Fatalf("error %v: code %q, want %q", err, got, tt.code)
				}
				if tt.message != "" && paddock.ErrorMessage(err) != tt.message {
					t.Errorf("message %q, want %q", paddock.ErrorMessage(err), tt.message)
				}
				if errors.Is(err, llm.ErrContextLength) != tt.ctxLength {
					t.Errorf("errors.Is(%v, ErrContextLength) = %v", err, !tt.ctxLength)
				}
			}
			if tt.sleeps != nil {
				if diff := cmp.Diff(tt.sleeps, s.d); diff != "" {
					t.Errorf("retry delays (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestNoRetryAfterEvents(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/partial.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	if _, err := p.Stream(context.Background(), &llm.Request{Model: "claude-haiku-4-5"}, collect(&evs)); err == nil {
		t.Fatal("Stream succeeded on a truncated stream")
	}
	if len(srv.Requests()) != 1 || len(evs) != 1 {
		t.Errorf("%d requests, events %+v", len(srv.Requests()), evs)
	}
}

func TestCancelMidStream(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.Reply{Body: llmtest.File(t, 200, "testdata/partial.sse").Body, Hang: true})
	p := newProvider(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := p.Stream(ctx, &llm.Request{Model: "claude-haiku-4-5"}, func(ev llm.Event) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stream returned %v after cancel", d)
	}
}
