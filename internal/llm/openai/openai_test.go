package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/llm/openai"
)

// sleeps records the retry delays instead of waiting them out.
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

func newProvider(t *testing.T, srv *llmtest.ReplayServer, s *sleeps) *openai.Provider {
	t.Helper()
	if s == nil {
		s = &sleeps{}
	}
	p, err := openai.New(llm.Config{APIKey: "sk-test", BaseURL: srv.URL + "/v1", RetryDelay: time.Millisecond, Sleep: s.sleep})
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

func TestStreamText(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	temp := 0.2
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model:     "gpt-4o-mini",
		System:    "You are terse.",
		MaxTokens: 100, Temperature: &temp,
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartText, Text: "What is in this image?"},
			{Type: llm.PartImage, ImageMIME: "image/png", ImageData: []byte("\x89PNG")},
		}}},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "Hello! How can I help you today?"}}},
		Usage:      llm.Usage{InputTokens: 25, OutputTokens: 9},
		StopReason: llm.StopEndTurn,
		Model:      "gpt-4o-mini-2024-07-18",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	var text strings.Builder
	for _, ev := range evs[:len(evs)-2] {
		if ev.Type != llm.EventTextDelta {
			t.Fatalf("event %+v, want text_delta", ev)
		}
		text.WriteString(ev.Text)
	}
	if text.String() != "Hello! How can I help you today?" || len(evs) != 11 {
		t.Errorf("deltas %q in %d events", text.String(), len(evs))
	}
	if diff := cmp.Diff([]llm.Event{{Type: llm.EventUsage, Usage: &want.Usage}, {Type: llm.EventDone, StopReason: llm.StopEndTurn}}, evs[len(evs)-2:]); diff != "" {
		t.Errorf("final events (-want +got):\n%s", diff)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/chat/completions" || reqs[0].Header.Get("Authorization") != "Bearer sk-test" {
		t.Fatalf("requests %+v", reqs)
	}
	got := body(t, reqs[0])
	wantBody := map[string]any{
		"model":          "gpt-4o-mini",
		"stream":         true,
		"stream_options": map[string]any{"include_usage": true},
		"max_tokens":     100.0, // a custom base URL: the field every compatible server knows
		"temperature":    0.2,
		"messages": []any{
			map[string]any{"role": "system", "content": "You are terse."},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "What is in this image?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw=="}},
			}},
		},
	}
	if diff := cmp.Diff(wantBody, got); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestStreamParallelToolCalls(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/tool_calls.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{
		Model: "gpt-4o",
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Current weather", Parameters: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)},
			{Name: "get_time"},
		},
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Name: "answer", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Weather and time in Paris?"}}},
			{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "Let me look."}, {Type: llm.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"location":"Lyon"}`}}},
			{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "call_1", Result: "boom", IsError: true}}},
		},
	}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
		{Type: llm.PartToolCall, ToolCallID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", ToolName: "get_weather", Arguments: `{"location": "Paris"}`},
		{Type: llm.PartToolCall, ToolCallID: "call_ABxCX0TPNZ3bgW6BnWmvOsiY", ToolName: "get_time", Arguments: `{"tz": "Europe/Paris"}`},
	}}
	if diff := cmp.Diff(wantMsg, resp.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if resp.StopReason != llm.StopToolUse || resp.Usage != (llm.Usage{InputTokens: 82, OutputTokens: 47, CachedInputTokens: 64}) {
		t.Errorf("stop %q usage %+v", resp.StopReason, resp.Usage)
	}
	var types []string
	var ends []llm.ToolCall
	for _, ev := range evs {
		types = append(types, ev.Type)
		if ev.Type == llm.EventToolCallEnd {
			ends = append(ends, *ev.ToolCall)
		}
	}
	wantTypes := []string{"tool_call_start", "tool_call_delta", "tool_call_delta", "tool_call_delta", "tool_call_delta",
		"tool_call_start", "tool_call_delta", "tool_call_delta", "tool_call_delta", "tool_call_end", "tool_call_end", "usage", "done"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	if len(ends) != 2 || ends[1].Index != 1 || ends[1].Arguments != `{"tz": "Europe/Paris"}` {
		t.Errorf("tool_call_end events %+v", ends)
	}

	got := body(t, srv.Requests()[0])
	wantTools := []any{
		map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Current weather",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []any{"location"}}}},
		map[string]any{"type": "function", "function": map[string]any{"name": "get_time", "parameters": map[string]any{"type": "object", "properties": map[string]any{}}}},
	}
	if diff := cmp.Diff(wantTools, got["tools"]); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	wantRF := map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "answer", "schema": map[string]any{"type": "object"}, "strict": true}}
	if diff := cmp.Diff(wantRF, got["response_format"]); diff != "" {
		t.Errorf("response_format (-want +got):\n%s", diff)
	}
	wantMsgs := []any{
		map[string]any{"role": "user", "content": "Weather and time in Paris?"},
		map[string]any{"role": "assistant", "content": "Let me look.", "tool_calls": []any{
			map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"location":"Lyon"}`}},
		}},
		map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "Error: boom"},
	}
	if diff := cmp.Diff(wantMsgs, got["messages"]); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestStreamCompatibleServerWithoutUsage(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/compat_no_usage.sse"))
	p, err := openai.New(llm.Config{BaseURL: srv.URL + "/v1"}) // Ollama needs no key
	if err != nil {
		t.Fatal(err)
	}
	var evs []llm.Event
	resp, err := p.Stream(context.Background(), &llm.Request{Model: "llama3.2", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Sky?"}}}}}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Text() != "The sky is blue." || resp.Usage != (llm.Usage{}) || resp.Model != "llama3.2" || resp.StopReason != llm.StopEndTurn {
		t.Errorf("response %+v", resp)
	}
	for _, ev := range evs {
		if ev.Type == llm.EventUsage {
			t.Errorf("usage event from a stream without usage: %+v", ev)
		}
	}
	if evs[len(evs)-1].Type != llm.EventDone {
		t.Errorf("last event %+v, want done", evs[len(evs)-1])
	}
	if h := srv.Requests()[0].Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization %q sent without a key", h)
	}
}

func TestReasoningModel(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	temp := 0.5
	_, err := p.Stream(context.Background(), &llm.Request{Model: "o3", Reasoning: llm.ReasoningHigh, MaxTokens: 2000, Temperature: &temp,
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONObject},
		Messages:       []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := body(t, srv.Requests()[0])
	if got["reasoning_effort"] != "high" || got["max_completion_tokens"] != 2000.0 || got["temperature"] != nil || got["max_tokens"] != nil {
		t.Errorf("reasoning request %v", got)
	}
	if diff := cmp.Diff(map[string]any{"type": "json_object"}, got["response_format"]); diff != "" {
		t.Errorf("response_format (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	retryAfter := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	tests := []struct {
		name      string
		replies   []llmtest.Reply
		code      string
		message   string
		ctxLength bool
		calls     int
		sleeps    []time.Duration
	}{
		{name: "400", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_400.json")},
			code: paddock.EInvalid, message: "openai: Invalid type for 'messages[1].content': expected one of a string or array of objects, but got an integer instead.", calls: 1},
		{name: "401", replies: []llmtest.Reply{llmtest.File(t, 401, "testdata/error_401.json")},
			code: paddock.EUnavailable, message: "openai: invalid API key (401)", calls: 1},
		{name: "context length", replies: []llmtest.Reply{llmtest.File(t, 400, "testdata/error_context.json")},
			code: paddock.EInvalid, ctxLength: true, calls: 1,
			message: "openai: context length exceeded: This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages."},
		{name: "quota is not retried", replies: []llmtest.Reply{llmtest.File(t, 429, "testdata/error_429_quota.json")},
			code: paddock.EUnavailable, calls: 1},
		{name: "429 after retries", replies: []llmtest.Reply{
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json"),
			llmtest.File(t, 429, "testdata/error_429.json"), llmtest.File(t, 429, "testdata/error_429.json")},
			code: paddock.ERateLimited, calls: 4},
		{name: "500 after retries", replies: []llmtest.Reply{
			llmtest.File(t, 500, "testdata/error_500.json"), llmtest.File(t, 500, "testdata/error_500.json"),
			llmtest.File(t, 500, "testdata/error_500.json"), {Status: 502, Body: []byte("<html>Bad Gateway</html>"), Header: http.Header{"Content-Type": {"text/html"}}}},
			code: paddock.EUnavailable, message: "openai: server error (502): <html>Bad Gateway</html>", calls: 4},
		{name: "429 with Retry-After then success", replies: []llmtest.Reply{
			{Status: 429, Header: retryAfter("7"), Body: llmtest.File(t, 429, "testdata/error_429.json").Body},
			llmtest.File(t, 200, "testdata/text.sse")},
			calls: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "500 then success", replies: []llmtest.Reply{llmtest.File(t, 500, "testdata/error_500.json"), llmtest.File(t, 200, "testdata/text.sse")}, calls: 2},
		{name: "error event before any delta then success", replies: []llmtest.Reply{llmtest.File(t, 200, "testdata/stream_error.sse"), llmtest.File(t, 200, "testdata/text.sse")}, calls: 2},
		{name: "truncated stream then success", replies: []llmtest.Reply{llmtest.File(t, 200, "testdata/partial.sse"), llmtest.File(t, 200, "testdata/text.sse")},
			code: paddock.EUnavailable, calls: 1}, // partial.sse delivered a delta: never retried
		{name: "Retry-After too long", replies: []llmtest.Reply{{Status: 429, Header: retryAfter("3600"), Body: llmtest.File(t, 429, "testdata/error_429.json").Body}},
			code: paddock.ERateLimited, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.NewReplayServer(t, tt.replies...)
			s := &sleeps{}
			p := newProvider(t, srv, s)
			resp, err := p.Stream(context.Background(), &llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}}, nil)
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
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/truncated.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	p := newProvider(t, srv, nil)
	var evs []llm.Event
	_, err := p.Stream(context.Background(), &llm.Request{Model: "gpt-4o-mini"}, collect(&evs))
	if err == nil {
		t.Fatal("Stream succeeded on a truncated stream")
	}
	if len(srv.Requests()) != 1 {
		t.Errorf("%d requests: retried after a delta was delivered", len(srv.Requests()))
	}
	if len(evs) != 1 || evs[0].Text != "Hel" {
		t.Errorf("events %+v", evs)
	}
}

func TestCancelMidStream(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.Reply{Body: llmtest.File(t, 200, "testdata/partial.sse").Body, Hang: true})
	p := newProvider(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := p.Stream(ctx, &llm.Request{Model: "gpt-4o-mini"}, func(ev llm.Event) {
		if ev.Type == llm.EventTextDelta {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stream returned %v after cancel", d)
	}
}

func TestTimeout(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.Reply{Body: llmtest.File(t, 200, "testdata/partial.sse").Body, Hang: true})
	p, err := openai.New(llm.Config{APIKey: "k", BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Stream(context.Background(), &llm.Request{Model: "gpt-4o-mini"}, nil)
	if paddock.ErrorCode(err) != paddock.EUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stream: %v, want unavailable deadline exceeded", err)
	}
}

func TestNewNeedsKeyOrURL(t *testing.T) {
	if _, err := openai.New(llm.Config{}); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("New: %v", err)
	}
}

// TestPromptCacheKey: OpenAI gets the request's cache key as
// prompt_cache_key; a compatible server, which may refuse a field it does
// not know, does not.
func TestPromptCacheKey(t *testing.T) {
	srv := llmtest.NewReplayServer(t, llmtest.File(t, 200, "testdata/text.sse"), llmtest.File(t, 200, "testdata/text.sse"))
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The official endpoint, reached at the test server.
	official, err := openai.New(llm.Config{APIKey: "sk-test", HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "api.openai.com" {
			return nil, fmt.Errorf("request to %s", r.URL)
		}
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	req := &llm.Request{Model: "gpt-4o-mini", CacheKey: "ses_1", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}}
	for _, p := range []*openai.Provider{official, newProvider(t, srv, nil)} {
		if _, err := p.Stream(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.Requests()
	if got := body(t, reqs[0])["prompt_cache_key"]; got != "ses_1" {
		t.Errorf("OpenAI's prompt_cache_key %v, want ses_1", got)
	}
	if got, ok := body(t, reqs[1])["prompt_cache_key"]; ok {
		t.Errorf("a compatible server got prompt_cache_key %v", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
