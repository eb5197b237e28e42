// Package openai is the llm.Provider for OpenAI's Chat Completions API and
// for OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LiteLLM), built on
// the official SDK, github.com/openai/openai-go/v3.
//
// Mapping: the system prompt and system messages become system messages;
// tool results become "tool" role messages (images in a tool message follow
// in a user message, as tool messages carry only text); images are sent as
// data URLs; tool calls stream by index and their arguments are accumulated;
// usage is requested with stream_options.include_usage (servers that ignore
// it still work, without a usage event); ResponseFormat maps to
// response_format json_object / json_schema; Reasoning maps to
// reasoning_effort for reasoning models (o-series, gpt-5, gpt-oss), which
// also get max_completion_tokens and no temperature; CacheKey maps to
// prompt_cache_key. Against a custom BaseURL, MaxTokens is sent as
// max_tokens, which every compatible server understands, and there is no
// prompt_cache_key.
package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// DefaultBaseURL is OpenAI's API endpoint.
const DefaultBaseURL = "https://api.openai.com/v1/"

const name = llm.OpenAI

// Provider streams chat completions. It is safe for concurrent use.
type Provider struct {
	cfg        llm.Config
	svc        openai.ChatCompletionService
	compatible bool             // a custom BaseURL: an OpenAI-compatible server
	encoded    *llm.EncodeCache // each history message's JSON
}

// encodeCacheSize bounds each generation of a Provider's EncodeCache.
const encodeCacheSize = 16 << 20

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider configured by cfg. It needs cfg.APIKey, or a
// cfg.BaseURL (local OpenAI-compatible servers often need no key). The
// process environment is not read.
func New(cfg llm.Config) (*Provider, error) {
	if cfg.APIKey == "" && cfg.BaseURL == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "openai: an API key or a base URL is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	opts := []option.RequestOption{
		option.WithEnvironmentProduction(),
		option.WithHTTPClient(hc),
		option.WithBaseURL(base),
		option.WithMaxRetries(0), // llm.Retry owns the policy
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return &Provider{
		cfg:        cfg,
		svc:        openai.NewChatCompletionService(opts...),
		compatible: strings.TrimRight(base, "/") != strings.TrimRight(DefaultBaseURL, "/"),
		encoded:    llm.NewEncodeCache(encodeCacheSize),
	}, nil
}

// Name returns "openai".
func (p *Provider) Name() string { return name }

// Stream implements llm.Provider.
func (p *Provider) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, err
	}
	body, err := p.body(req, params)
	if err != nil {
		return nil, err
	}
	return llm.Retry(ctx, p.cfg, name, onEvent, func(ctx context.Context, emit func(llm.Event)) (*llm.Response, error) {
		return p.attempt(ctx, req.Model, body, emit)
	})
}

// body is the request's JSON: the SDK encodes params, which hold all but
// the messages, and the messages, each encoded once by the SDK and then
// taken from p.encoded, are spliced in. Encoding a long history through
// the SDK's reflection on every call cost more than the rest of an agent
// step. "stream" comes first: NewStreaming sets it again, and finds it at
// once.
func (p *Provider) body(req *llm.Request, params openai.ChatCompletionNewParams) ([]byte, error) {
	params.Messages = []openai.ChatCompletionMessageParamUnion{}
	head, err := params.MarshalJSON()
	if err != nil {
		return nil, err
	}
	const empty = `{"messages":[]`
	rest, ok := bytes.CutPrefix(head, []byte(empty))
	if !ok { // TestBodyMatchesSDK fails first
		return nil, fmt.Errorf("openai: the SDK's request encoding changed: %.40q does not start with %s", head, empty)
	}
	const open = `{"stream":true,"messages":[`
	encs := make([][]byte, 0, len(req.Messages)+1)
	size := len(open) + len(req.Messages) + 1 + len(rest)
	add := func(m llm.Message) error {
		enc, err := p.encoded.Encode(m, encodeMessage)
		if err != nil || len(enc) == 0 {
			return err
		}
		encs = append(encs, enc)
		size += len(enc)
		return nil
	}
	if req.System != "" {
		if err := add(llm.Message{Role: llm.RoleSystem, Parts: []llm.Part{{Type: llm.PartText, Text: req.System}}}); err != nil {
			return nil, err
		}
	}
	for _, m := range req.Messages {
		if err := add(m); err != nil {
			return nil, err
		}
	}
	b := append(make([]byte, 0, size), open...)
	for i, enc := range encs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, enc...)
	}
	return append(append(b, ']'), rest...), nil
}

// encodeMessage is the JSON of the Chat Completions messages m becomes,
// separated by commas; empty if it becomes none.
func encodeMessage(m llm.Message) ([]byte, error) {
	msgs, err := messages([]llm.Message{m})
	if err != nil {
		return nil, err
	}
	return llm.JoinJSON(msgs)
}

// attempt makes one call with the request body from Provider.body. The
// SDK is given empty parameters: it would encode them, and the body
// replaces what it encodes.
func (p *Provider) attempt(ctx context.Context, model string, body []byte, emit func(llm.Event)) (*llm.Response, error) {
	var raw *http.Response
	stream := p.svc.NewStreaming(ctx, openai.ChatCompletionNewParams{}, option.WithRequestBody("application/json", body), option.WithResponseInto(&raw))
	defer stream.Close()

	acc := llm.NewAccumulator(model, emit)
	var stop llm.StopReason
	for stream.Next() {
		chunk := stream.Current()
		acc.SetModel(chunk.Model)
		if chunk.JSON.Usage.Valid() {
			acc.SetUsage(usage(chunk.Usage))
		}
		for _, choice := range chunk.Choices {
			if choice.Index != 0 {
				continue
			}
			d := choice.Delta
			acc.Text(d.Content)
			for _, tc := range d.ToolCalls {
				key := int(tc.Index)
				if tc.ID != "" || tc.Function.Name != "" {
					acc.StartToolCall(key, tc.ID, tc.Function.Name)
				}
				acc.ToolCallDelta(key, tc.Function.Arguments)
			}
			if choice.FinishReason != "" {
				stop = stopReason(choice.FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil {
		return nil, apiError(err, raw)
	}
	if stop == "" {
		// Every server sends a finish reason before [DONE]; without one the
		// connection was cut, and the response (tool call arguments above
		// all) may be truncated.
		return nil, fmt.Errorf("stream ended without a finish reason: %w", io.ErrUnexpectedEOF)
	}
	return acc.Finish(stop), nil
}

func usage(u openai.CompletionUsage) llm.Usage {
	return llm.Usage{
		InputTokens:       u.PromptTokens,
		OutputTokens:      u.CompletionTokens,
		CachedInputTokens: u.PromptTokensDetails.CachedTokens,
		ReasoningTokens:   u.CompletionTokensDetails.ReasoningTokens,
	}
}

func stopReason(s string) llm.StopReason {
	switch s {
	case "stop":
		return llm.StopEndTurn
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "length":
		return llm.StopMaxTokens
	case "content_filter":
		return llm.StopContentFilter
	}
	return llm.StopEndTurn
}

// apiError turns an SDK error into an *llm.APIError where it is one.
func apiError(err error, raw *http.Response) error {
	var ae *openai.Error
	if errors.As(err, &ae) {
		e := &llm.APIError{
			Provider:   name,
			StatusCode: ae.StatusCode,
			Type:       ae.Code,
			Message:    ae.Message,
			Err:        err,
		}
		if e.Type == "" {
			e.Type = ae.Type
		}
		if ae.Response != nil {
			e.RetryAfter = llm.ParseRetryAfter(ae.Response.Header, time.Now())
		}
		if e.Message == "" && ae.Response != nil {
			e.Message = readMessage(ae.Response)
		}
		e.ContextLength = ae.Code == "context_length_exceeded" ||
			(ae.StatusCode == http.StatusBadRequest && llm.IsContextLengthMessage(e.Message))
		return e
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		// An error event inside a 200 stream: {"error": {...}}.
		var body struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    any    `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(se.Event.Data, &body)
		e := &llm.APIError{Provider: name, Type: body.Error.Type, Message: body.Error.Message, Err: err}
		if code, ok := body.Error.Code.(string); ok && code != "" {
			e.Type = code
		}
		switch {
		case e.Type == "context_length_exceeded" || llm.IsContextLengthMessage(e.Message):
			e.StatusCode, e.ContextLength = http.StatusBadRequest, true
		case e.Type == "rate_limit_exceeded":
			e.StatusCode = http.StatusTooManyRequests
		case strings.Contains(e.Type, "invalid_request"):
			e.StatusCode = http.StatusBadRequest
		default:
			e.StatusCode = http.StatusInternalServerError
		}
		return e
	}
	// The SDK fails to decode error bodies that are not {"error": {...}}
	// (plain text from a proxy or a compatible server): fall back on the
	// HTTP response it saw.
	if raw != nil && raw.StatusCode >= 400 {
		msg := readMessage(raw)
		return &llm.APIError{
			Provider:      name,
			StatusCode:    raw.StatusCode,
			Message:       msg,
			RetryAfter:    llm.ParseRetryAfter(raw.Header, time.Now()),
			ContextLength: raw.StatusCode == http.StatusBadRequest && llm.IsContextLengthMessage(msg),
			Err:           err,
		}
	}
	return err
}

// readMessage reads a short error message from an error response body.
func readMessage(res *http.Response) string {
	if res.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  string          `json:"detail"`
	}
	if json.Unmarshal(b, &body) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(body.Error, &inner) == nil && inner.Message != "":
			return inner.Message
		case json.Unmarshal(body.Error, &s) == nil && s != "":
			return s
		case body.Message != "":
			return body.Message
		case body.Detail != "":
			return body.Detail
		}
	}
	return strings.TrimSpace(string(b))
}

// isReasoningModel reports whether model takes reasoning_effort and
// max_completion_tokens and rejects a temperature.
func isReasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndex(m, "/"); i >= 0 {
		m = m[i+1:]
	}
	if strings.HasPrefix(m, "gpt-5") && !strings.Contains(m, "chat") {
		return true
	}
	if strings.HasPrefix(m, "gpt-oss") {
		return true
	}
	return len(m) >= 2 && m[0] == 'o' && m[1] >= '1' && m[1] <= '9'
}

// params are the request's parameters but its messages (see body).
func (p *Provider) params(req *llm.Request) (openai.ChatCompletionNewParams, error) {
	reasoning := isReasoningModel(req.Model)
	params := openai.ChatCompletionNewParams{
		Model:         shared.ChatModel(req.Model),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: param.NewOpt(true)},
	}
	for _, t := range req.Tools {
		fn := shared.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fn.Description = param.NewOpt(t.Description)
		}
		fn.Parameters = shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		if len(t.Parameters) > 0 {
			var schema map[string]any
			if err := json.Unmarshal(t.Parameters, &schema); err != nil {
				return params, paddock.Errorf(paddock.EInvalid, "tool %s: parameters are not a JSON Schema object", t.Name)
			}
			fn.Parameters = schema
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(fn))
	}
	if req.MaxTokens > 0 {
		if p.compatible && !reasoning {
			params.MaxTokens = param.NewOpt(int64(req.MaxTokens))
		} else {
			params.MaxCompletionTokens = param.NewOpt(int64(req.MaxTokens))
		}
	}
	if req.Temperature != nil && !reasoning {
		params.Temperature = param.NewOpt(*req.Temperature)
	}
	if req.Reasoning != "" && reasoning {
		params.ReasoningEffort = shared.ReasoningEffort(req.Reasoning)
	}
	if req.CacheKey != "" && !p.compatible { // a compatible server may refuse a field it does not know
		params.PromptCacheKey = param.NewOpt(req.CacheKey)
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case llm.FormatJSONObject:
			params.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
		case llm.FormatJSONSchema:
			var schema map[string]any
			if err := json.Unmarshal(rf.Schema, &schema); err != nil {
				return params, paddock.Errorf(paddock.EInvalid, "response format: schema is not a JSON Schema object")
			}
			js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: rf.Name, Schema: schema}
			if js.Name == "" {
				js.Name = "response"
			}
			if rf.Strict {
				js.Strict = param.NewOpt(true)
			}
			params.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}
		case "", "text":
		default:
			return params, paddock.Errorf(paddock.EInvalid, "unknown response format %q", rf.Type)
		}
	}
	return params, nil
}

func messages(in []llm.Message) ([]openai.ChatCompletionMessageParamUnion, error) {
	var out []openai.ChatCompletionMessageParamUnion
	for _, m := range in {
		var (
			content []openai.ChatCompletionContentPartUnionParam
			text    strings.Builder
			calls   []openai.ChatCompletionMessageToolCallUnionParam
			results []openai.ChatCompletionMessageParamUnion
		)
		for _, part := range m.Parts {
			switch part.Type {
			case llm.PartText:
				content = append(content, openai.TextContentPart(part.Text))
				text.WriteString(part.Text)
			case llm.PartImage:
				url := "data:" + part.ImageMIME + ";base64," + base64.StdEncoding.EncodeToString(part.ImageData)
				content = append(content, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url}))
			case llm.PartToolCall:
				calls = append(calls, openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID:       part.ToolCallID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: part.ToolName, Arguments: string(llm.ArgumentsObject(part.Arguments))},
				}})
			case llm.PartToolResult:
				result := part.Result
				if part.IsError && !strings.HasPrefix(strings.ToLower(result), "error") {
					result = "Error: " + result
				}
				results = append(results, openai.ToolMessage(result, part.ToolCallID))
			case llm.PartThinking:
			default:
				return nil, paddock.Errorf(paddock.EInvalid, "unknown message part type %q", part.Type)
			}
		}
		out = append(out, results...)
		switch m.Role {
		case llm.RoleSystem:
			if text.Len() > 0 {
				out = append(out, openai.SystemMessage(text.String()))
			}
		case llm.RoleAssistant:
			if text.Len() == 0 && len(calls) == 0 {
				continue
			}
			a := openai.ChatCompletionAssistantMessageParam{ToolCalls: calls}
			if text.Len() > 0 {
				a.Content.OfString = param.NewOpt(text.String())
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case llm.RoleUser, llm.RoleTool:
			if len(content) == 0 {
				continue
			}
			if len(content) == 1 && content[0].OfText != nil {
				out = append(out, openai.UserMessage(content[0].OfText.Text))
			} else {
				out = append(out, openai.UserMessage(content))
			}
		default:
			return nil, paddock.Errorf(paddock.EInvalid, "unknown message role %q", m.Role)
		}
	}
	return out, nil
}

// String describes the provider for logs.
func (p *Provider) String() string {
	if p.compatible {
		return fmt.Sprintf("openai-compatible(%s)", p.cfg.BaseURL)
	}
	return "openai"
}
