package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

func TestParseModel(t *testing.T) {
	tests := []struct{ in, provider, model string }{
		{"openai/gpt-4o-mini", "openai", "gpt-4o-mini"},
		{"anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"},
		{"google/gemini-2.5-flash", "google", "gemini-2.5-flash"},
		{"gemini/gemini-2.5-pro", "google", "gemini-2.5-pro"},
		{"OpenAI/meta-llama/Llama-3.1-8B", "openai", "meta-llama/Llama-3.1-8B"},
		{"gpt-5", "openai", "gpt-5"},
		{"o3", "openai", "o3"},
		{"o4-mini", "openai", "o4-mini"},
		{"claude-haiku-4-5", "anthropic", "claude-haiku-4-5"},
		{"gemini-3-pro-preview", "google", "gemini-3-pro-preview"},
		{"meta-llama/Llama-3.1-8B", "", "meta-llama/Llama-3.1-8B"},
		{"llama3.2", "", "llama3.2"},
		{"omni", "", "omni"},
	}
	for _, tt := range tests {
		p, m := llm.ParseModel(tt.in)
		if p != tt.provider || m != tt.model {
			t.Errorf("ParseModel(%q) = %q, %q; want %q, %q", tt.in, p, m, tt.provider, tt.model)
		}
	}
}

func TestLookupModel(t *testing.T) {
	for _, m := range llm.Models() {
		got, ok := llm.LookupModel(m.Provider, m.ID)
		if !ok || got != m || m.ContextWindow <= 0 || m.MaxOutput <= 0 || m.InputPrice <= 0 || m.OutputPrice <= 0 || m.DisplayName == "" {
			t.Errorf("model %+v", m)
		}
	}
	if len(llm.Models()) != 10 {
		t.Errorf("%d models, want the 10 of the seed", len(llm.Models()))
	}
	if m, ok := llm.LookupModel("openai", "gpt-4o-mini-2024-07-18"); !ok || m.ID != "gpt-4o-mini" {
		t.Errorf("dated snapshot: %+v %v", m, ok)
	}
	if m, ok := llm.LookupModel("anthropic", "claude-sonnet-4-5-20250929"); !ok || m.ID != "claude-sonnet-4-5" {
		t.Errorf("dated snapshot: %+v %v", m, ok)
	}
	if _, ok := llm.LookupModel("openai", "gpt-4"); ok {
		t.Error("gpt-4 found")
	}
	c := llm.NewCatalog(llm.ModelInfo{Provider: "openai", ID: "gpt-4o", InputPrice: 1, OutputPrice: 2}, llm.ModelInfo{Provider: "openai", ID: "llama3.2", ContextWindow: 8192})
	if m, _ := c.Lookup("openai", "gpt-4o"); m.InputPrice != 1 {
		t.Errorf("override: %+v", m)
	}
	if _, ok := c.Lookup("openai", "llama3.2"); !ok || len(c.Models()) != 11 {
		t.Error("added model missing")
	}
	if m, _ := llm.LookupModel("openai", "gpt-4o"); m.InputPrice != 2.5 {
		t.Errorf("override leaked into the defaults: %+v", m)
	}
	m, _ := llm.LookupModel("anthropic", "claude-sonnet-4-5")
	if got := m.Cost(llm.Usage{InputTokens: 1_000_000, OutputTokens: 100_000}); got != 4.5 {
		t.Errorf("Cost = %v, want 4.5", got)
	}
	// 1M input of which 600k read from the cache and 300k written to it:
	// 100k at 3, 600k at 0.30, 300k at 3.75, and 100k output at 15.
	u := llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 600_000, CacheWriteTokens: 300_000, OutputTokens: 100_000}
	if got, want := m.Cost(u), 0.3+0.18+1.125+1.5; math.Abs(got-want) > 1e-12 {
		t.Errorf("Cost with the cache = %v, want %v", got, want)
	}
	// A model without cache prices bills cached input as input.
	if got := (llm.ModelInfo{InputPrice: 2, OutputPrice: 4}).Cost(u); math.Abs(got-2.4) > 1e-12 {
		t.Errorf("Cost without cache prices = %v, want 2.4", got)
	}
	// Counts that do not add up never make the cost negative.
	if got := m.Cost(llm.Usage{InputTokens: 10, CachedInputTokens: 20}); got < 0 {
		t.Errorf("Cost = %v", got)
	}
	for _, m := range llm.Models() {
		if m.CachedInputPrice <= 0 || m.CachedInputPrice >= m.InputPrice || (m.Provider == llm.Anthropic) != (m.CacheWritePrice > m.InputPrice) {
			t.Errorf("cache prices of %s: %+v", m.ID, m)
		}
	}
}

type named string

func (n named) Name() string { return string(n) }
func (n named) Stream(context.Context, *llm.Request, func(llm.Event)) (*llm.Response, error) {
	return &llm.Response{Model: string(n)}, nil
}

func TestRegistry(t *testing.T) {
	r := llm.NewRegistry(named("openai"), named("google"))
	if diff := cmp.Diff([]string{"google", "openai"}, r.Names()); diff != "" {
		t.Error(diff)
	}
	if p, err := r.Provider("gemini"); err != nil || p.Name() != "google" {
		t.Errorf("Provider(gemini) = %v, %v", p, err)
	}
	_, err := r.Provider("anthropic")
	if paddock.ErrorCode(err) != paddock.EUnavailable || paddock.ErrorMessage(err) != `no LLM provider "anthropic" is configured: set ANTHROPIC_API_KEY` {
		t.Errorf("Provider(anthropic): %v", err)
	}
	if _, err := r.Provider("mistral"); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("Provider(mistral): %v", err)
	}
	if _, _, err := r.Resolve("llama3.2"); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("Resolve(llama3.2): %v", err)
	}
	p, id, err := r.Resolve("openai/llama3.2")
	if err != nil || p.Name() != "openai" || id != "llama3.2" {
		t.Errorf("Resolve = %v, %q, %v", p, id, err)
	}
}

func TestAccumulator(t *testing.T) {
	var evs []llm.Event
	a := llm.NewAccumulator("m", func(ev llm.Event) { evs = append(evs, ev) })
	a.Text("Hi")
	a.StartToolCall(5, "c1", "bash")
	a.StartToolCall(5, "", "") // repeated start: no-op
	a.ToolCallDelta(5, `{"a":`)
	a.ToolCallDelta(5, `1}`)
	a.StartToolCall(7, "", "noop")
	a.ToolCallDelta(9, "ignored")
	a.SetUsage(llm.Usage{InputTokens: 1})
	resp := a.Finish(llm.StopEndTurn)
	if resp.StopReason != llm.StopToolUse {
		t.Errorf("stop %q, want tool_use", resp.StopReason)
	}
	calls := resp.Message.ToolCalls()
	if len(calls) != 2 || calls[0].Arguments != `{"a":1}` || calls[1].Arguments != "{}" || calls[1].Index != 1 || !strings.HasPrefix(calls[1].ID, "call_") {
		t.Errorf("calls %+v", calls)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	want := []string{"text_delta", "tool_call_start", "tool_call_delta", "tool_call_delta", "tool_call_start", "tool_call_end", "tool_call_end", "usage", "done"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{nil, 0},
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"150"}, "Retry-After": {"1"}}, 150 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(3 * time.Second).Format(http.TimeFormat)}}, 3 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0},
	}
	for _, tt := range tests {
		if got := llm.ParseRetryAfter(tt.h, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%v) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := llm.Config{RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
	for retry, limit := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		limit *= time.Millisecond
		for range 50 {
			if d := c.Backoff(retry); d < limit/2 || d > limit {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", retry, d, limit/2, limit)
			}
		}
	}
}

func apiErr(status int) error { return &llm.APIError{Provider: "p", StatusCode: status, Message: "m"} }

func TestRetry(t *testing.T) {
	ok := &llm.Response{StopReason: llm.StopEndTurn}
	tests := []struct {
		name     string
		errs     []error // per attempt; nil succeeds
		emit     bool    // attempts emit an event before failing
		calls    int
		code     string
		duration time.Duration // fake time spent (synctest)
	}{
		{name: "success", errs: []error{nil}, calls: 1},
		{name: "429 then success", errs: []error{apiErr(429), nil}, calls: 2, duration: 500 * time.Millisecond},
		{name: "retry after", errs: []error{&llm.APIError{StatusCode: 429, RetryAfter: 20 * time.Second}, nil}, calls: 2, duration: 20 * time.Second},
		{name: "connection refused then success", errs: []error{fmt.Errorf("dial: %w", &netErr{}), nil}, calls: 2},
		{name: "5xx exhausted", errs: []error{apiErr(500), apiErr(502), apiErr(503), apiErr(529)}, calls: 4, code: paddock.EUnavailable},
		{name: "400 not retried", errs: []error{apiErr(400)}, calls: 1, code: paddock.EInvalid},
		{name: "unexpected EOF", errs: []error{io.ErrUnexpectedEOF, nil}, calls: 2},
		{name: "no retry after events", errs: []error{apiErr(500), nil}, emit: true, calls: 1, code: paddock.EUnavailable},
		{name: "decode error not retried", errs: []error{errors.New("bad json")}, calls: 1, code: paddock.EUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				cfg := llm.Config{RetryDelay: time.Second, MaxRetryDelay: time.Minute}
				if tt.duration != 0 {
					cfg.RetryDelay = tt.duration // backoff in [d/2, d]
				}
				resp, err := llm.Retry(t.Context(), cfg, "p", func(llm.Event) {}, func(ctx context.Context, emit func(llm.Event)) (*llm.Response, error) {
					err := tt.errs[calls]
					calls++
					if tt.emit {
						emit(llm.Event{Type: llm.EventTextDelta, Text: "x"})
					}
					if err != nil {
						return nil, err
					}
					return ok, nil
				})
				if calls != tt.calls {
					t.Errorf("%d calls, want %d", calls, tt.calls)
				}
				if got := paddock.ErrorCode(err); got != tt.code {
					t.Errorf("error %v: code %q, want %q", err, got, tt.code)
				}
				if tt.code == "" && resp != ok {
					t.Errorf("response %v", resp)
				}
				if tt.duration != 0 {
					if d := time.Since(start); d < tt.duration/2 || d > tt.duration {
						t.Errorf("took %v, want about %v", d, tt.duration)
					}
				}
			})
		})
	}
}

type netErr struct{}

func (*netErr) Error() string   { return "connection refused" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }

func TestRetryCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		_, err := llm.Retry(ctx, llm.Config{RetryDelay: time.Hour, MaxRetryDelay: time.Hour}, "p", nil, func(context.Context, func(llm.Event)) (*llm.Response, error) {
			return nil, apiErr(503)
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Retry: %v, want context.Canceled", err)
		}
	})
}

func TestRetryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		_, err := llm.Retry(t.Context(), llm.Config{Timeout: time.Minute}, "p", nil, func(ctx context.Context, _ func(llm.Event)) (*llm.Response, error) {
			calls++
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if paddock.ErrorCode(err) != paddock.EUnavailable || !errors.Is(err, context.DeadlineExceeded) || calls != 1 {
			t.Fatalf("Retry: %v after %d calls", err, calls)
		}
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err     *llm.APIError
		code    string
		message string
	}{
		{&llm.APIError{StatusCode: 401, Message: "bad key"}, paddock.EUnavailable, "openai: invalid API key (401)"},
		{&llm.APIError{StatusCode: 403, Message: "no access"}, paddock.EUnavailable, "openai: permission denied (403): no access"},
		{&llm.APIError{StatusCode: 429, Message: "slow down"}, paddock.ERateLimited, "openai: rate limited (429): slow down"},
		{&llm.APIError{StatusCode: 429, Type: "insufficient_quota", Message: "pay"}, paddock.EUnavailable, "openai: quota exceeded: pay"},
		{&llm.APIError{StatusCode: 400, Message: "bad field"}, paddock.EInvalid, "openai: bad field"},
		{&llm.APIError{StatusCode: 404, Message: "no such model"}, paddock.EInvalid, "openai: no such model"},
		{&llm.APIError{StatusCode: 503}, paddock.EUnavailable, "openai: server error (503)"},
	}
	for _, tt := range tests {
		err := llm.Classify("openai", tt.err)
		if paddock.ErrorCode(err) != tt.code || paddock.ErrorMessage(err) != tt.message {
			t.Errorf("Classify(%v) = %q %q, want %q %q", tt.err, paddock.ErrorCode(err), paddock.ErrorMessage(err), tt.code, tt.message)
		}
		var ae *llm.APIError
		if !errors.As(err, &ae) || ae != tt.err {
			t.Errorf("Classify(%v) lost the APIError", tt.err)
		}
		if llm.Classify("openai", err) != err {
			t.Error("Classify is not idempotent")
		}
	}
	err := llm.Classify("anthropic", &llm.APIError{StatusCode: 400, ContextLength: true, Message: "prompt is too long"})
	if !errors.Is(err, llm.ErrContextLength) || paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("context length: %v", err)
	}
	if err := llm.Classify("p", fmt.Errorf("x: %w", context.Canceled)); !errors.Is(err, context.Canceled) || paddock.ErrorCode(err) != paddock.EInternal {
		t.Errorf("canceled: %v", err)
	}
}

func FuzzArgumentsObject(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a":1}`, `{"a":`, "null", "[1]", `"s"`, " {\"x\": [1, {}]} "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := llm.ArgumentsObject(s)
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil || m == nil {
			t.Fatalf("ArgumentsObject(%q) = %s, not a JSON object", s, got)
		}
	})
}

func FuzzParseModel(f *testing.F) {
	for _, s := range []string{"openai/gpt-4o", "gpt-5", "o3", "x/y/z", "", "/", "gemini/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, m := llm.ParseModel(s)
		switch p {
		case "", llm.OpenAI, llm.Anthropic, llm.Google:
		default:
			t.Fatalf("ParseModel(%q) provider %q", s, p)
		}
		if !strings.Contains(s, m) {
			t.Fatalf("ParseModel(%q) model %q is not part of the input", s, m)
		}
	})
}
