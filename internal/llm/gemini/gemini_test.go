package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/gemini"
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

func newProvider(t *testing.T, srv *llmtest.ReplayServer, s *sleeps) *gemini.Provider {
	t.Helper()
	if s == nil {
		s = &sleeps{}
	}
	p, err := gemini.New(llm.Config{APIKey: "AIza-test", BaseURL: srv.URL, RetryDelay: time.Millisecond, Sleep: s.sleep})
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

func user(text string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: text}}}
}

func TestStreamText(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	temp := 0.5
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model: "gemini-2.5-flash", System: "Be brief.", Temperature: &temp, MaxTokens: 256, Reasoning: llm.ReasoningLow,
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}}}`)},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartText, Text: "Describe"},
			{Type: llm.PartImage, ImageMIME: "image/png", ImageData: []byte("\x89PNG")},
		}}},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "Hello! How can I help you today?"}}},
		Usage:      llm.Usage{InputTokens: 11, OutputTokens: 40, CachedInputTokens: 4, ReasoningTokens: 30},
		StopReason: llm.StopEndTurn,
		Model:      "gemini-2.5-flash",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if len(evs) != 5 || evs[0].Text != "Hello" || evs[3].Type != llm.EventUsage || evs[4].Type != llm.EventDone {
		t.Errorf("events %+v", evs)
	}
	r := srv.Requests()[0]
	if r.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" || r.Header.Get("X-Goog-Api-Key") != "AIza-test" {
		t.Errorf("request %s %v", r.Path, r.Header)
	}
	wantBody := map[string]any{
		"contents": []any{map[string]any{"role": "user", "parts": []any{
			map[string]any{"text": "Describe"},
			map[string]any{"inlineData": map[string]any{"mimeType": "image/png", "data": "iVBORw=="}},
		}}},
		"systemInstruction": map[string]any{"parts": []any{map[string]any{"text": "Be brief."}}, "role": "user"},
		"generationConfig": map[string]any{
			"temperature": 0.5, "maxOutputTokens": 256.0,
			"responseMimeType":   "application/json",
			"responseJsonSchema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "integer"}}},
			"thinkingConfig":     map[string]any{"thinkingBudget": 1024.0},
		},
	}
	got := body(t, r)
	if sys, ok := got["systemInstruction"].(map[string]any); ok && sys["role"] == nil {
		delete(wantBody["systemInstruction"].(map[string]any), "role")
	}
	if diff := cmp.Diff(wantBody, got); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestStreamFunctionCalls(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/function_calls.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	tools := []llm.Tool{
		{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}}}`)},
		{Name: "get_time"},
	}
	req := &llm.Request{Model: "gemini-3-pro-preview", Tools: tools, Reasoning: llm.ReasoningHigh, Messages: []llm.Message{user("Weather and time in Paris?")}}
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), req, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Message.ToolCalls()
	if len(calls) != 2 || calls[0].Name != "get_weather" || calls[0].Arguments != `{"location":"Paris"}` || calls[1].Arguments != `{"tz":"Europe/Paris"}` || calls[1].Index != 1 {
		t.Fatalf("tool calls %+v", calls)
	}
	if !strings.HasPrefix(calls[0].ID, "gemini_") || calls[0].ID == calls[1].ID {
		t.Errorf("ids %q %q", calls[0].ID, calls[1].ID)
	}
	if resp.StopReason != llm.StopToolUse {
		t.Errorf("stop %q, want tool_use for STOP with function calls", resp.StopReason)
	}
	if resp.Message.Parts[0].Signature != "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DfVgqOpkQ8q4sVa6rKs=" {
		t.Errorf("signature %q", resp.Message.Parts[0].Signature)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	wantTypes := []string{"tool_call_start", "tool_call_delta", "tool_call_end", "tool_call_start", "tool_call_delta", "tool_call_end", "usage", "done"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	got := body(t, srv.Requests()[0])
	wantTools := []any{map[string]any{"functionDeclarations": []any{
		map[string]any{"name": "get_weather", "description": "Weather", "parametersJsonSchema": map[string]any{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}}},
		map[string]any{"name": "get_time"},
	}}}
	if diff := cmp.Diff(wantTools, got["tools"]); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"thinkingLevel": "HIGH"}, got["generationConfig"].(map[string]any)["thinkingConfig"]); diff != "" {
		t.Errorf("thinkingConfig (-want +got):\n%s", diff)
	}

	// The next turn sends the calls back with their signature, and the
	// results named after their calls.
	req.Messages = append(req.Messages, resp.Message, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{
		{Type: llm.PartToolResult, ToolCallID: calls[0].ID, Result: "18C"},
		{Type: llm.PartToolResult, ToolCallID: calls[1].ID, Result: "no tz db", IsError: true},
	}})
	if _, err := p.Stream(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	got = body(t, srv.Requests()[1])
	wantContents := []any{
		map[string]any{"role": "user", "parts": []any{map[string]any{"text": "Weather and time in Paris?"}}},
		map[string]any{"role": "model", "parts": []any{
			map[string]any{"functionCall": map[string]any{"name": "get_weather", "args": map[string]any{"location": "Paris"}}, "thoughtSignature": "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DfVgqOpkQ8q4sVa6rKs="},
			map[string]any{"functionCall": map[string]any{"name": "get_time", "args": map[string]any{"tz": "Europe/Paris"}}},
		}},
		map[string]any{"role": "user", "parts": []any{
			map[string]any{"functionResponse": map[string]any{"name": "get_weather", "response": map[string]any{"output": "18C"}}},
			map[string]any{"functionResponse": map[string]any{"name": "get_time", "response": map[string]any{"error": "no tz db"}}},
		}},
	}
	if diff := cmp.Diff(wantContents, got["contents"]); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
}

func TestPromptBlocked(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/blocked.sse"))
	p := newProvider(t, srv, nil)
	resp, err := p.Stream(context.Background(), &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{user("bad")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StopReason != llm.StopContentFilter || len(resp.Message.Parts) != 0 {
		t.Errorf("response %+v", resp)
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
			code: paddock.EInvalid, message: "google: * GenerateContentRequest.contents[1].parts[0].function_response.name: Name cannot be empty."},
		{name: "invalid key", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_key.json")}, calls: 1,
			code: paddock.EUnavailable, message: "google: invalid API key (401)"},
		{name: "context length", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_context.json")}, calls: 1,
			code: paddock.EInvalid, ctxLength: true},
		{name: "429 with RetryInfo then success", replies: []llmtest.Reply{llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 200, "testdata/text.sse")},
			calls: 2, sleeps: []time.Duration{2 * time.Second}},
		{name: "429 after retries", replies: []llmtest.Reply{
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json"),
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json")},
			calls: 4, code: paddock.ERateLimited},
		{name: "500 then 503 then success", replies: []llmtest.Reply{
			llmtest.File(t, 500, "testdata/error_500.json"), llmtest.File(t, 503, "testdata/error_503.json"), llmtest.File(t, 200, "testdata/text.sse")}, calls: 3},
		{name: "503 after retries", replies: []llmtest.Reply{
			llmtest.File(t, 503, "testdata/error_503.json"), llmtest.File(t, 503, "testdata/error_503.json"),
			llmtest.File(t, 503, "testdata/error_503.json"), llmtest.File(t, 503, "testdata/error_503.json")},
			calls: 4, code: paddock.EUnavailable, message: "google: server error (503): The model is overloaded. Please try again later."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.NewReplayServer(t, tt.replies...)
			s := &sleeps{}
			p := newProvider(t, srv, s)
			resp, err := p.Stream(context.Background(), &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{user("hi")}}, nil)
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
				if len(s.d) != len(tt.sleeps) || s.d[0] < tt.sleeps[0] {
					t.Errorf("retry delays %v, want at least %v", s.d, tt.sleeps)
				}
			}
		})
	}
}

func TestNoRetryAfterEvents(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/partial.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	if _, err := p.Stream(context.Background(), &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{user("hi")}}, collect(&evs)); err == nil {
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
	_, err := p.Stream(ctx, &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{user("hi")}}, func(llm.Event) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stream returned %v after cancel", d)
	}
}
