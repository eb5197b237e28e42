package llmtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// NewOpenAIServer starts an OpenAI-compatible server, closed when t ends,
// that answers POST /v1/chat/completions (and /chat/completions) by calling
// p and writing its events as Chat Completions chunks (SSE when the request
// streams, one JSON completion otherwise). Point the openai adapter at
// server.URL + "/v1". Errors from p become OpenAI error bodies with the
// status of their paddock code.
func NewOpenAIServer(t testing.TB, p llm.Provider) *httptest.Server {
	h := &openAIHandler{p: p}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", h.serve)
	mux.HandleFunc("POST /chat/completions", h.serve)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

type openAIHandler struct {
	p  llm.Provider
	id atomic.Int64
}

// chatRequest is the subset of a Chat Completions request the server reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
	ReasoningEffort     string   `json:"reasoning_effort"`
	Stream              bool     `json:"stream"`
	StreamOptions       struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func (h *openAIHandler) serve(w http.ResponseWriter, r *http.Request) {
	var cr chatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&cr); err != nil {
		writeOpenAIError(w, paddock.Errorf(paddock.EInvalid, "invalid JSON body: %v", err))
		return
	}
	req, err := cr.toLLM()
	if err != nil {
		writeOpenAIError(w, err)
		return
	}
	id := fmt.Sprintf("chatcmpl-llmtest%d", h.id.Add(1))
	created := time.Now().Unix()
	chunk := func(choices []map[string]any, usage map[string]any) map[string]any {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": cr.Model, "choices": choices}
		if usage != nil {
			c["usage"] = usage
		}
		return c
	}
	if !cr.Stream {
		resp, err := h.p.Stream(r.Context(), req, nil)
		if err != nil {
			writeOpenAIError(w, err)
			return
		}
		msg := map[string]any{"role": "assistant", "content": resp.Message.Text()}
		var calls []map[string]any
		for _, tc := range resp.Message.ToolCalls() {
			calls = append(calls, map[string]any{"id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": tc.Arguments}})
		}
		if calls != nil {
			msg["tool_calls"] = calls
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": cr.Model,
			"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finishReason(resp.StopReason)}},
			"usage":   openAIUsage(resp.Usage),
		})
		return
	}

	// Headers and the role chunk go out with the first event, so that an
	// error before any event is an HTTP error, as with OpenAI.
	rc := http.NewResponseController(w)
	started := false
	var send func(v any)
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			send(chunk([]map[string]any{{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "finish_reason": nil}}, nil))
		}
	}
	send = func(v any) {
		start()
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	var usage *llm.Usage
	resp, err := h.p.Stream(r.Context(), req, func(ev llm.Event) {
		delta := map[string]any{}
		switch ev.Type {
		case llm.EventTextDelta:
			delta["content"] = ev.Text
		case llm.EventToolCallStart:
			delta["tool_calls"] = []map[string]any{{"index": ev.ToolCall.Index, "id": ev.ToolCall.ID, "type": "function", "function": map[string]any{"name": ev.ToolCall.Name, "arguments": ""}}}
		case llm.EventToolCallDelta:
			delta["tool_calls"] = []map[string]any{{"index": ev.ToolCall.Index, "function": map[string]any{"arguments": ev.ToolCall.Arguments}}}
		case llm.EventUsage:
			usage = ev.Usage
			return
		default:
			return
		}
		send(chunk([]map[string]any{{"index": 0, "delta": delta, "finish_reason": nil}}, nil))
	})
	if err != nil && !started {
		writeOpenAIError(w, err)
		return
	}
	if err != nil {
		// Headers are out: report the error in the stream, as OpenAI does.
		code, _ := openAIErrorCode(err)
		send(map[string]any{"error": map[string]any{"message": paddock.ErrorMessage(err), "type": code, "code": code}})
		return
	}
	send(chunk([]map[string]any{{"index": 0, "delta": map[string]any{}, "finish_reason": finishReason(resp.StopReason)}}, nil))
	if cr.StreamOptions.IncludeUsage {
		u := resp.Usage
		if usage != nil {
			u = *usage
		}
		send(chunk([]map[string]any{}, openAIUsage(u)))
	}
	start()
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func (cr *chatRequest) toLLM() (*llm.Request, error) {
	req := &llm.Request{Model: cr.Model, MaxTokens: cr.MaxCompletionTokens, Temperature: cr.Temperature, Reasoning: cr.ReasoningEffort}
	if req.MaxTokens == 0 {
		req.MaxTokens = cr.MaxTokens
	}
	for _, t := range cr.Tools {
		req.Tools = append(req.Tools, llm.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if rf := cr.ResponseFormat; rf != nil && rf.Type != "text" {
		req.ResponseFormat = &llm.ResponseFormat{Type: rf.Type, Name: rf.JSONSchema.Name, Schema: rf.JSONSchema.Schema, Strict: rf.JSONSchema.Strict}
	}
	for i, m := range cr.Messages {
		parts, err := contentParts(m.Content)
		if err != nil {
			return nil, paddock.Errorf(paddock.EInvalid, "messages[%d].content: %v", i, err)
		}
		switch m.Role {
		case "system", "developer":
			if len(req.Messages) == 0 && req.System == "" {
				req.System = llm.Message{Parts: parts}.Text()
				continue
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Parts: parts})
		case "user":
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: parts})
		case "assistant":
			for _, tc := range m.ToolCalls {
				parts = append(parts, llm.Part{Type: llm.PartToolCall, ToolCallID: tc.ID, ToolName: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Parts: parts})
		case "tool":
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{
				Type: llm.PartToolResult, ToolCallID: m.ToolCallID, Result: llm.Message{Parts: parts}.Text(),
			}}})
		default:
			return nil, paddock.Errorf(paddock.EInvalid, "messages[%d].role: unknown role %q", i, m.Role)
		}
	}
	return req, nil
}

func contentParts(raw json.RawMessage) ([]llm.Part, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	var items []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	var parts []llm.Part
	for _, it := range items {
		switch it.Type {
		case "text":
			parts = append(parts, llm.Part{Type: llm.PartText, Text: it.Text})
		case "image_url":
			mime, data, ok := strings.Cut(strings.TrimPrefix(it.ImageURL.URL, "data:"), ";base64,")
			if !ok {
				return nil, fmt.Errorf("image_url: only base64 data URLs are supported")
			}
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return nil, fmt.Errorf("image_url: %v", err)
			}
			parts = append(parts, llm.Part{Type: llm.PartImage, ImageMIME: mime, ImageData: b})
		default:
			return nil, fmt.Errorf("unsupported content part type %q", it.Type)
		}
	}
	return parts, nil
}

func finishReason(s llm.StopReason) string {
	switch s {
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopMaxTokens:
		return "length"
	case llm.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

func openAIUsage(u llm.Usage) map[string]any {
	return map[string]any{
		"prompt_tokens":             u.InputTokens,
		"completion_tokens":         u.OutputTokens,
		"total_tokens":              u.InputTokens + u.OutputTokens,
		"prompt_tokens_details":     map[string]any{"cached_tokens": u.CachedInputTokens},
		"completion_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens},
	}
}

func openAIErrorCode(err error) (string, int) {
	if errors.Is(err, llm.ErrContextLength) {
		return "context_length_exceeded", http.StatusBadRequest
	}
	switch paddock.ErrorCode(err) {
	case paddock.EInvalid:
		return "invalid_request_error", http.StatusBadRequest
	case paddock.EUnauthorized:
		return "invalid_api_key", http.StatusUnauthorized
	case paddock.ERateLimited:
		return "rate_limit_exceeded", http.StatusTooManyRequests
	case paddock.EUnavailable:
		return "service_unavailable", http.StatusServiceUnavailable
	}
	return "server_error", http.StatusInternalServerError
}

func writeOpenAIError(w http.ResponseWriter, err error) {
	code, status := openAIErrorCode(err)
	msg := paddock.ErrorMessage(err)
	if _, ok := err.(*paddock.Error); !ok && paddock.ErrorCode(err) == paddock.EInternal {
		msg = err.Error() // a test double: show the scripted error
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": code, "param": nil, "code": code}})
}
