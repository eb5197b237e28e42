// Package llm is the contract between the agent runtime and large language
// model providers: a Provider interface, the provider-neutral request, message,
// event and response types, and the pieces every adapter shares (error
// classification, the retry policy, stream accumulation, the model table and
// the registry of configured providers).
//
// Adapters live in subpackages, one per provider API: openai (Chat
// Completions, also any OpenAI-compatible server), anthropic (Messages) and
// gemini (Gemini API). llmtest holds a scripted Provider and an
// OpenAI-compatible test server. llmenv builds a Registry from environment
// variables. The package imports only the standard library and the root
// package, the database/sql/driver shape.
package llm

import (
	"context"
	"encoding/json"
)

// Role is the author of a Message.
type Role string

// Message roles.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Part types.
const (
	PartText       = "text"
	PartImage      = "image"
	PartToolCall   = "tool_call"
	PartToolResult = "tool_result"
	// PartThinking is a reasoning block the model produced. Adapters return it
	// only when the provider needs it sent back verbatim on the next call
	// (Anthropic extended thinking during tool use); store it with the message
	// and pass it back unchanged. Providers that do not use it ignore it.
	PartThinking = "thinking"
)

// Part is one piece of a Message's content.
type Part struct {
	Type string // one of the Part* constants

	Text string // text, or the thinking text of a PartThinking

	ImageMIME string // image/png, image/jpeg, image/gif, image/webp
	ImageData []byte

	ToolCallID string // tool_call and tool_result
	ToolName   string // tool_call; optional on tool_result (adapters look it up by ID)
	Arguments  string // tool_call: raw JSON object
	Result     string // tool_result
	IsError    bool   // tool_result: the tool failed; Result says why

	// Signature is an opaque provider token attached to a part that must be
	// sent back unchanged with it: the signature of an Anthropic thinking
	// block, a Gemini thought signature on a tool call. Adapters set it on
	// response parts; callers only store and return it.
	Signature string
}

// Message is one turn of a conversation.
type Message struct {
	Role  Role
	Parts []Part
}

// Text returns the concatenated text parts of m.
func (m Message) Text() string {
	var s string
	for _, p := range m.Parts {
		if p.Type == PartText {
			s += p.Text
		}
	}
	return s
}

// ToolCalls returns the tool_call parts of m as ToolCalls, indexed in order.
func (m Message) ToolCalls() []ToolCall {
	var calls []ToolCall
	for _, p := range m.Parts {
		if p.Type == PartToolCall {
			calls = append(calls, ToolCall{ID: p.ToolCallID, Name: p.ToolName, Arguments: p.Arguments, Index: len(calls)})
		}
	}
	return calls
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // a JSON Schema object; nil means no parameters
}

// Response format types.
const (
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	Type   string          // FormatJSONObject or FormatJSONSchema
	Name   string          // schema name (json_schema); defaults to "response"
	Schema json.RawMessage // JSON Schema (json_schema)
	Strict bool            // ask the provider to enforce the schema exactly where it can
}

// Reasoning effort levels.
const (
	ReasoningLow    = "low"
	ReasoningMedium = "medium"
	ReasoningHigh   = "high"
)

// Request is one model call.
type Request struct {
	Model          string // the provider's model id, e.g. "gpt-4o-mini" (see ParseModel)
	System         string
	Messages       []Message
	Tools          []Tool
	MaxTokens      int      // 0: the model's default (Anthropic: the model's max output)
	Temperature    *float64 // nil: the provider's default
	ResponseFormat *ResponseFormat
	// Reasoning is "", or ReasoningLow/Medium/High: reasoning effort for
	// OpenAI reasoning models, a thinking budget for Anthropic and Gemini.
	Reasoning string
	// CacheKey names what the call continues (a session; an agent's
	// stateless executions), so that a provider routing calls by key sends
	// the ones that share a prefix to the same prompt cache: OpenAI's
	// prompt_cache_key. Empty: none. The others cache by prefix alone.
	CacheKey string
}

// Usage counts the tokens of one call. InputTokens includes the input read
// from and written to the provider's prompt cache, and OutputTokens
// includes reasoning tokens, for every provider, so the breakdowns never
// need to be added.
type Usage struct {
	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64 // read from the prompt cache
	CacheWriteTokens  int64 // written to it (Anthropic, which bills the write)
	ReasoningTokens   int64
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + v.InputTokens,
		OutputTokens:      u.OutputTokens + v.OutputTokens,
		CachedInputTokens: u.CachedInputTokens + v.CachedInputTokens,
		CacheWriteTokens:  u.CacheWriteTokens + v.CacheWriteTokens,
		ReasoningTokens:   u.ReasoningTokens + v.ReasoningTokens,
	}
}

// StopReason says why the model stopped.
type StopReason string

// Stop reasons, the common set every adapter maps to.
const (
	StopEndTurn       StopReason = "end_turn"
	StopToolUse       StopReason = "tool_use"
	StopMaxTokens     StopReason = "max_tokens"
	StopContentFilter StopReason = "content_filter"
	StopError         StopReason = "error"
)

// Event types, in the order they can occur: text deltas and tool calls
// interleave; one usage event (when the provider reported usage) and one done
// event end a successful stream.
const (
	EventTextDelta     = "text_delta"      // Text
	EventToolCallStart = "tool_call_start" // ToolCall with ID, Name, Index
	EventToolCallDelta = "tool_call_delta" // ToolCall with ID, Name, Index and the Arguments fragment
	EventToolCallEnd   = "tool_call_end"   // ToolCall complete, Arguments the whole JSON object
	EventUsage         = "usage"           // Usage
	EventDone          = "done"            // StopReason
)

// Event is one streamed piece of a response.
type Event struct {
	Type       string
	Text       string
	ToolCall   *ToolCall
	Usage      *Usage
	StopReason StopReason
}

// ToolCall is a call the model made. Index numbers the calls of one response
// from 0, whatever the provider's own numbering.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
	Index     int
}

// Response is the complete result of a call.
type Response struct {
	// Message is the assistant message: thinking parts (when present), one
	// text part (when there is text), then the tool_call parts.
	Message    Message
	Usage      Usage
	StopReason StopReason
	Model      string // the model that answered, as the provider reported it
}

// Provider is a configured model provider. Implementations are safe for
// concurrent use.
type Provider interface {
	// Name returns "openai", "anthropic" or "google".
	Name() string

	// Stream sends req and calls onEvent, from the calling goroutine, for
	// each event as it arrives; it returns the complete response. Cancelling
	// ctx aborts the call promptly with an error that wraps ctx.Err().
	// Failed calls are retried (see Config) only while no event has been
	// delivered. Errors carry a *paddock.Error code: EInvalid for a request
	// the provider rejected, ERateLimited, EUnavailable for bad credentials,
	// outages and timeouts; errors.Is(err, ErrContextLength) reports a
	// prompt over the model's context window.
	Stream(ctx context.Context, req *Request, onEvent func(Event)) (*Response, error)
}
