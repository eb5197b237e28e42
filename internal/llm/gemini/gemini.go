// Package gemini is the llm.Provider for Google's Gemini API
// (generativelanguage.googleapis.com), built on the official SDK,
// google.golang.org/genai, streaming with streamGenerateContent?alt=sse.
//
// Mapping: the system prompt and system messages become the system
// instruction; assistant messages have role "model"; tool calls are
// functionCall parts and tool results functionResponse parts
// ({"output": result} or {"error": result}) in a user turn, named after the
// call they answer (looked up by ToolCallID when the part has no ToolName);
// images are inline data; consecutive turns of one role are merged. Gemini
// sends each function call whole, so its tool_call_start, one
// tool_call_delta and tool_call_end arrive together. Gemini does not number
// its calls: the adapter gives them ids prefixed "gemini_" and leaves those
// out of what it sends back. Thought signatures (Gemini 3 requires them on
// function calls in later turns) are kept base64-encoded in Part.Signature.
//
// ResponseFormat sets responseMimeType application/json and, for
// json_schema, responseJsonSchema (the JSON Schema as given; the older
// responseSchema takes only an OpenAPI subset). Reasoning sets thinkingLevel
// LOW/HIGH for Gemini 3 models (medium leaves the model's dynamic default)
// and a thinkingBudget of 1,024/8,192/24,576 tokens for earlier ones.
// Usage: input is promptTokenCount plus toolUsePromptTokenCount, output is
// candidatesTokenCount plus thoughtsTokenCount.
package gemini

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// DefaultBaseURL is the Gemini API endpoint.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/"

const name = llm.Google

// idPrefix marks tool call ids the adapter made up.
const idPrefix = "gemini_"

// Provider streams Gemini responses. It is safe for concurrent use.
type Provider struct {
	cfg    llm.Config
	client *genai.Client
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider configured by cfg, which needs an APIKey. The
// process environment is not read.
func New(cfg llm.Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "google: an API key is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	// The SDK does not retry unless HTTPOptions.RetryOptions is set: llm.Retry
	// owns the policy.
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: base},
	})
	if err != nil {
		return nil, fmt.Errorf("google: new client: %w", err)
	}
	return &Provider{cfg: cfg, client: client}, nil
}

// Name returns "google".
func (p *Provider) Name() string { return name }

// Stream implements llm.Provider.
func (p *Provider) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
	contents, config, err := build(req)
	if err != nil {
		return nil, err
	}
	return llm.Retry(ctx, p.cfg, name, onEvent, func(ctx context.Context, emit func(llm.Event)) (*llm.Response, error) {
		return p.attempt(ctx, req.Model, contents, config, emit)
	})
}

func (p *Provider) attempt(ctx context.Context, model string, contents []*genai.Content, config *genai.GenerateContentConfig, emit func(llm.Event)) (*llm.Response, error) {
	// GenerateContentStream fills in defaults on the config it is given.
	cfg := *config
	acc := llm.NewAccumulator(model, emit)
	var stop llm.StopReason
	calls := 0
	for chunk, err := range p.client.Models.GenerateContentStream(ctx, model, contents, &cfg) {
		if err != nil {
			return nil, apiError(err)
		}
		acc.SetModel(chunk.ModelVersion)
		if u := chunk.UsageMetadata; u != nil {
			acc.SetUsage(llm.Usage{
				InputTokens:       int64(u.PromptTokenCount + u.ToolUsePromptTokenCount),
				OutputTokens:      int64(u.CandidatesTokenCount + u.ThoughtsTokenCount),
				CachedInputTokens: int64(u.CachedContentTokenCount),
				ReasoningTokens:   int64(u.ThoughtsTokenCount),
			})
		}
		if pf := chunk.PromptFeedback; pf != nil && pf.BlockReason != "" {
			stop = llm.StopContentFilter
		}
		if len(chunk.Candidates) == 0 {
			continue
		}
		c := chunk.Candidates[0]
		if c.Content != nil {
			for _, part := range c.Content.Parts {
				switch {
				case part.FunctionCall != nil:
					fc := part.FunctionCall
					id := fc.ID
					if id == "" {
						id = idPrefix + strings.TrimPrefix(llm.NewToolCallID(), "call_")
					}
					args := "{}"
					if fc.Args != nil {
						b, err := json.Marshal(fc.Args)
						if err != nil {
							return nil, fmt.Errorf("function call arguments: %w", err)
						}
						args = string(b)
					}
					acc.StartToolCall(calls, id, fc.Name)
					if len(part.ThoughtSignature) > 0 {
						acc.SetToolCallSignature(calls, base64.StdEncoding.EncodeToString(part.ThoughtSignature))
					}
					acc.ToolCallDelta(calls, args)
					acc.EndToolCall(calls)
					calls++
				case part.Thought:
					// Thought summaries are only sent when asked for; not streamed.
				case part.Text != "":
					acc.Text(part.Text)
				}
			}
		}
		if c.FinishReason != "" && c.FinishReason != genai.FinishReasonUnspecified {
			stop = stopReason(c.FinishReason)
		}
	}
	if stop == "" {
		return nil, fmt.Errorf("stream ended without a finish reason: %w", io.ErrUnexpectedEOF)
	}
	return acc.Finish(stop), nil
}

func stopReason(r genai.FinishReason) llm.StopReason {
	switch r {
	case genai.FinishReasonStop:
		return llm.StopEndTurn
	case genai.FinishReasonMaxTokens:
		return llm.StopMaxTokens
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety,
		genai.FinishReasonLanguage, genai.FinishReasonImageProhibitedContent:
		return llm.StopContentFilter
	}
	return llm.StopError // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, OTHER...
}

// apiError turns an SDK error into an *llm.APIError where it is one.
func apiError(err error) error {
	var ae genai.APIError
	if !errors.As(err, &ae) {
		return err
	}
	e := &llm.APIError{Provider: name, StatusCode: ae.Code, Type: ae.Status, Message: ae.Message, Err: err}
	if e.StatusCode == 0 {
		// An error inside the stream: {"error": {"code": 503, ...}} names its code.
		e.StatusCode = http.StatusInternalServerError
	}
	for _, d := range ae.Details {
		switch {
		case d["reason"] == "API_KEY_INVALID":
			e.StatusCode = http.StatusUnauthorized // Gemini says 400
		case d["@type"] == "type.googleapis.com/google.rpc.RetryInfo":
			if s, ok := d["retryDelay"].(string); ok {
				if delay, err := time.ParseDuration(s); err == nil {
					e.RetryAfter = delay
				}
			}
		}
	}
	e.ContextLength = e.StatusCode == http.StatusBadRequest && llm.IsContextLengthMessage(e.Message)
	return e
}

var thinkingBudget = map[string]int32{llm.ReasoningLow: 1024, llm.ReasoningMedium: 8192, llm.ReasoningHigh: 24576}

func build(req *llm.Request) ([]*genai.Content, *genai.GenerateContentConfig, error) {
	config := &genai.GenerateContentConfig{}
	system := []string{}
	if req.System != "" {
		system = append(system, req.System)
	}
	contents, sys, err := contents(req.Messages)
	if err != nil {
		return nil, nil, err
	}
	system = append(system, sys...)
	if len(system) > 0 {
		config.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: strings.Join(system, "\n\n")}}}
	}
	if len(req.Tools) > 0 {
		var decls []*genai.FunctionDeclaration
		for _, t := range req.Tools {
			d := &genai.FunctionDeclaration{Name: t.Name, Description: t.Description}
			if len(t.Parameters) > 0 {
				var schema map[string]any
				if err := json.Unmarshal(t.Parameters, &schema); err != nil || schema == nil {
					return nil, nil, paddock.Errorf(paddock.EInvalid, "tool %s: parameters are not a JSON Schema object", t.Name)
				}
				d.ParametersJsonSchema = schema
			}
			decls = append(decls, d)
		}
		config.Tools = []*genai.Tool{{FunctionDeclarations: decls}}
	}
	if req.MaxTokens > 0 {
		config.MaxOutputTokens = int32(req.MaxTokens)
	}
	if req.Temperature != nil {
		t := float32(*req.Temperature)
		config.Temperature = &t
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case llm.FormatJSONObject:
			config.ResponseMIMEType = "application/json"
		case llm.FormatJSONSchema:
			var schema map[string]any
			if err := json.Unmarshal(rf.Schema, &schema); err != nil || schema == nil {
				return nil, nil, paddock.Errorf(paddock.EInvalid, "response format: schema is not a JSON Schema object")
			}
			config.ResponseMIMEType = "application/json"
			config.ResponseJsonSchema = schema
		case "", "text":
		default:
			return nil, nil, paddock.Errorf(paddock.EInvalid, "unknown response format %q", rf.Type)
		}
	}
	if req.Reasoning != "" {
		if strings.HasPrefix(req.Model, "gemini-3") {
			switch req.Reasoning {
			case llm.ReasoningLow:
				config.ThinkingConfig = &genai.ThinkingConfig{ThinkingLevel: genai.ThinkingLevelLow}
			case llm.ReasoningHigh:
				config.ThinkingConfig = &genai.ThinkingConfig{ThinkingLevel: genai.ThinkingLevelHigh}
			}
		} else if b, ok := thinkingBudget[req.Reasoning]; ok {
			config.ThinkingConfig = &genai.ThinkingConfig{ThinkingBudget: &b}
		}
	}
	return contents, config, nil
}

// contents converts the history, returning system messages' text apart.
func contents(in []llm.Message) ([]*genai.Content, []string, error) {
	var (
		out    []*genai.Content
		system []string
	)
	names := map[string]string{} // tool call id -> function name
	for _, m := range in {
		for _, p := range m.Parts {
			if p.Type == llm.PartToolCall {
				names[p.ToolCallID] = p.ToolName
			}
		}
	}
	add := func(role string, parts []*genai.Part) {
		if len(parts) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Parts = append(out[n-1].Parts, parts...)
			return
		}
		out = append(out, &genai.Content{Role: role, Parts: parts})
	}
	for _, m := range in {
		var parts []*genai.Part
		var text []string
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartText:
				if p.Text != "" {
					parts = append(parts, &genai.Part{Text: p.Text})
					text = append(text, p.Text)
				}
			case llm.PartImage:
				parts = append(parts, &genai.Part{InlineData: &genai.Blob{MIMEType: p.ImageMIME, Data: p.ImageData}})
			case llm.PartToolCall:
				var args map[string]any
				_ = json.Unmarshal(llm.ArgumentsObject(p.Arguments), &args)
				part := &genai.Part{FunctionCall: &genai.FunctionCall{ID: sentID(p.ToolCallID), Name: p.ToolName, Args: args}}
				if p.Signature != "" {
					if sig, err := base64.StdEncoding.DecodeString(p.Signature); err == nil {
						part.ThoughtSignature = sig
					}
				}
				parts = append(parts, part)
			case llm.PartToolResult:
				fname := p.ToolName
				if fname == "" {
					fname = names[p.ToolCallID]
				}
				if fname == "" {
					return nil, nil, paddock.Errorf(paddock.EInvalid, "tool result %q answers no tool call in the history", p.ToolCallID)
				}
				resp := map[string]any{"output": p.Result}
				if p.IsError {
					resp = map[string]any{"error": p.Result}
				}
				parts = append(parts, &genai.Part{FunctionResponse: &genai.FunctionResponse{ID: sentID(p.ToolCallID), Name: fname, Response: resp}})
			case llm.PartThinking:
			default:
				return nil, nil, paddock.Errorf(paddock.EInvalid, "unknown message part type %q", p.Type)
			}
		}
		switch m.Role {
		case llm.RoleSystem:
			system = append(system, strings.Join(text, "\n"))
		case llm.RoleAssistant:
			add("model", parts)
		case llm.RoleUser, llm.RoleTool:
			add("user", parts)
		default:
			return nil, nil, paddock.Errorf(paddock.EInvalid, "unknown message role %q", m.Role)
		}
	}
	return out, system, nil
}

// sentID returns the id to send for a tool call: none for ids the adapter
// made up, which Gemini never saw.
func sentID(id string) string {
	if strings.HasPrefix(id, idPrefix) {
		return ""
	}
	return id
}
