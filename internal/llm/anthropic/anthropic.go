// Package anthropic is the llm.Provider for Anthropic's Messages API, built
// on the official SDK, github.com/anthropics/anthropic-sdk-go.
//
// Mapping: the system prompt (and any system messages) becomes the system
// parameter; tool results become tool_result blocks in a user message, with
// any images of that message after them; consecutive messages of one role are
// merged, as the API wants them alternating; images are base64 sources;
// tool calls stream as content blocks whose input_json_delta fragments are
// accumulated; usage comes from message_start and message_delta. Prompt
// caching: the system prompt (or, without one, the last tool) and the last
// block of each of the last two user turns are cache breakpoints.
//
// Reasoning sets an extended thinking budget (low 2,048, medium 8,192, high
// 24,576 tokens) on top of MaxTokens, and drops Temperature, which thinking
// does not allow. Thinking blocks come back as llm.PartThinking parts with
// their signatures; callers must send them back with the assistant message,
// as the API requires during tool use. When the history ends in a tool loop
// whose assistant turn has no thinking block (it was produced without
// thinking, or the caller dropped it), thinking is left off for that call
// rather than failing it.
//
// Anthropic has no JSON mode. A ResponseFormat is implemented with a tool
// whose input schema is the requested schema ({"type": "object"} for
// json_object): the model is forced to call it when it can be (no other
// tools, no thinking, both of which forbid forcing a tool), and told to by
// the system prompt otherwise. The tool's input streams as text deltas and
// the response has it as its text, with stop reason end_turn; the caller
// never sees the tool.
package anthropic

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

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

const name = llm.Anthropic

// DefaultMaxTokens is the max_tokens sent for a model that is not in the
// model table when the request does not set MaxTokens (the API requires one).
const DefaultMaxTokens = 8192

// responseTool names the tool that carries a ResponseFormat's JSON.
const responseTool = "json_response"

// redacted prefixes the Signature of a redacted_thinking block's data.
const redacted = "redacted:"

// Provider streams Anthropic messages. It is safe for concurrent use.
type Provider struct {
	cfg     llm.Config
	client  anthropic.Client
	encoded *llm.EncodeCache // each history message's content blocks
}

// encodeCacheSize bounds each generation of a Provider's EncodeCache.
const encodeCacheSize = 16 << 20

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider configured by cfg, which needs an APIKey. The
// process environment and the SDK's config files are not read.
func New(cfg llm.Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "anthropic: an API key is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // llm.Retry owns the policy
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	return &Provider{cfg: cfg, client: anthropic.NewClient(opts...), encoded: llm.NewEncodeCache(encodeCacheSize)}, nil
}

// Name returns "anthropic".
func (p *Provider) Name() string { return name }

// Stream implements llm.Provider.
func (p *Provider) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
	params, jsonOut, err := buildParams(req)
	if err != nil {
		return nil, err
	}
	body, err := p.body(req, params)
	if err != nil {
		return nil, err
	}
	return llm.Retry(ctx, p.cfg, name, onEvent, func(ctx context.Context, emit func(llm.Event)) (*llm.Response, error) {
		return p.attempt(ctx, req.Model, params, body, jsonOut, emit)
	})
}

// body is the request's JSON: the SDK encodes params, which hold all but
// the messages, and the messages' content blocks, each message's encoded
// once by the SDK and then taken from p.encoded, are spliced in, merged
// into alternating turns. Encoding a long history through the SDK's
// reflection on every call cost more than the rest of an agent step.
// "stream" comes first: NewStreaming sets it again, and finds it at once.
func (p *Provider) body(req *llm.Request, params anthropic.MessageNewParams) ([]byte, error) {
	params.Messages = []anthropic.MessageParam{}
	head, err := params.MarshalJSON()
	if err != nil {
		return nil, err
	}
	// head is {"max_tokens":N,"messages":[],...
	const empty = `,"messages":[]`
	i := bytes.Index(head, []byte(empty))
	if !bytes.HasPrefix(head, []byte(`{"max_tokens":`)) || i < 0 || bytes.IndexByte(head[:i], ',') >= 0 {
		return nil, fmt.Errorf("anthropic: the SDK's request encoding changed: %.40q does not start with max_tokens and messages", head)
	}
	type turn struct {
		role  anthropic.MessageParamRole
		enc   []byte
		cache bool // its last block is a cache breakpoint
	}
	turns := make([]turn, 0, len(req.Messages))
	size := len(head) + 64
	for _, m := range req.Messages {
		if m.Role == llm.RoleSystem {
			continue
		}
		enc, err := p.encoded.Encode(m, encodeBlocks)
		if err != nil {
			return nil, err
		}
		if len(enc) == 0 {
			continue
		}
		r := anthropic.MessageParamRoleUser
		if m.Role == llm.RoleAssistant {
			r = anthropic.MessageParamRoleAssistant
		}
		turns = append(turns, turn{role: r, enc: enc})
		size += len(enc) + 40
	}
	// The last block of each of the last two user turns is a cache
	// breakpoint: the one before the new turn reads what the previous call
	// wrote, however many blocks the assistant's turn added, and the last
	// one writes the history for the next call (see cacheBreakpoint).
	for k, marked := len(turns)-1, 0; k >= 0 && marked < 2; k-- {
		if turns[k].role == anthropic.MessageParamRoleUser && (k == len(turns)-1 || turns[k+1].role != turns[k].role) {
			turns[k].cache = true
			marked++
		}
	}
	b := append(make([]byte, 0, size), `{"stream":true,`...)
	b = append(append(b, head[1:i]...), `,"messages":[`...)
	var role anthropic.MessageParamRole
	for _, t := range turns {
		switch {
		case t.role == role:
			b = append(b, ',')
		case role == "":
			b = append(append(append(b, `{"role":"`...), t.role...), `","content":[`...)
		default:
			b = append(append(append(b, `]},{"role":"`...), t.role...), `","content":[`...)
		}
		role = t.role
		if t.cache { // enc's last block ends with its closing brace
			b = append(append(b, t.enc[:len(t.enc)-1]...), `,"cache_control":{"type":"ephemeral"}}`...)
		} else {
			b = append(b, t.enc...)
		}
	}
	if role != "" {
		b = append(b, "]}"...)
	}
	return append(append(b, ']'), head[i+len(empty):]...), nil
}

// encodeBlocks is the JSON of m's content blocks, separated by commas;
// empty if it has none.
func encodeBlocks(m llm.Message) ([]byte, error) {
	_, blocks, err := convert(m)
	if err != nil {
		return nil, err
	}
	return llm.JoinJSON(blocks)
}

// block is the state of one streamed content block.
type block struct {
	kind      string // text, tool_use, json (the response tool), thinking, redacted_thinking
	thinking  strings.Builder
	signature string
}

func (p *Provider) attempt(ctx context.Context, model string, params anthropic.MessageNewParams, body []byte, jsonOut bool, emit func(llm.Event)) (*llm.Response, error) {
	stream := p.client.Messages.NewStreaming(ctx, params, option.WithRequestBody("application/json", body))
	defer stream.Close()

	acc := llm.NewAccumulator(model, emit)
	blocks := map[int64]*block{}
	var (
		usage   llm.Usage
		stop    llm.StopReason
		stopped bool
	)
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			acc.SetModel(string(ev.Message.Model))
			u := ev.Message.Usage
			usage = cacheUsage(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens)
			usage.OutputTokens = u.OutputTokens
		case "content_block_start":
			cb := ev.ContentBlock
			b := &block{kind: cb.Type}
			switch cb.Type {
			case "tool_use":
				if jsonOut && cb.Name == responseTool {
					b.kind = "json"
				} else {
					acc.StartToolCall(int(ev.Index), cb.ID, cb.Name)
				}
			case "thinking":
				b.thinking.WriteString(cb.Thinking)
				b.signature = cb.Signature
			case "redacted_thinking":
				b.signature = redacted + cb.Data
			case "text":
				acc.Text(cb.Text)
			}
			blocks[ev.Index] = b
		case "content_block_delta":
			b := blocks[ev.Index]
			if b == nil {
				continue
			}
			d := ev.Delta
			switch d.Type {
			case "text_delta":
				acc.Text(d.Text)
			case "input_json_delta":
				if b.kind == "json" {
					acc.Text(d.PartialJSON)
				} else {
					acc.ToolCallDelta(int(ev.Index), d.PartialJSON)
				}
			case "thinking_delta":
				b.thinking.WriteString(d.Thinking)
			case "signature_delta":
				b.signature += d.Signature
			}
		case "content_block_stop":
			b := blocks[ev.Index]
			if b == nil {
				continue
			}
			switch b.kind {
			case "tool_use":
				acc.EndToolCall(int(ev.Index))
			case "thinking", "redacted_thinking":
				acc.Thinking(b.thinking.String(), b.signature)
			}
		case "message_delta":
			stop = stopReason(ev.Delta.StopReason)
			if stop == llm.StopToolUse && jsonOut && !acc.HasToolCalls() {
				stop = llm.StopEndTurn // the response tool, not a real call
			}
			u := ev.Usage
			if in := cacheUsage(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens); u.JSON.InputTokens.Valid() && in.InputTokens > 0 {
				usage = in
			}
			usage.OutputTokens = u.OutputTokens
		case "message_stop":
			stopped = true
		}
	}
	if err := stream.Err(); err != nil {
		return nil, apiError(err)
	}
	if !stopped {
		return nil, errTruncated
	}
	acc.SetUsage(usage)
	return acc.Finish(stop), nil
}

// cacheUsage is the input of a call: Anthropic counts the input read from
// and written to the cache apart from the rest (input), and llm.Usage
// counts all of it as input.
func cacheUsage(input, read, written int64) llm.Usage {
	return llm.Usage{InputTokens: input + read + written, CachedInputTokens: read, CacheWriteTokens: written}
}

// errTruncated is a stream cut before message_stop; it wraps
// io.ErrUnexpectedEOF so that it is retried like a dropped connection.
var errTruncated = fmt.Errorf("stream ended before message_stop: %w", io.ErrUnexpectedEOF)

func stopReason(s anthropic.StopReason) llm.StopReason {
	switch s {
	case anthropic.StopReasonToolUse:
		return llm.StopToolUse
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return llm.StopMaxTokens
	case anthropic.StopReasonRefusal:
		return llm.StopContentFilter
	}
	return llm.StopEndTurn // end_turn, stop_sequence, pause_turn
}

// apiError turns an SDK error into an *llm.APIError where it is one.
func apiError(err error) error {
	var ae *anthropic.Error
	if !errors.As(err, &ae) {
		return err
	}
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(ae.RawJSON()), &body)
	e := &llm.APIError{
		Provider:   name,
		StatusCode: ae.StatusCode,
		Type:       body.Error.Type,
		Message:    body.Error.Message,
		Err:        err,
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(ae.RawJSON())
	}
	if ae.Response != nil {
		e.RetryAfter = llm.ParseRetryAfter(ae.Response.Header, time.Now())
	}
	if e.StatusCode == 0 || e.StatusCode == http.StatusOK {
		// An error event inside the stream: the status it stands for.
		switch e.Type {
		case "overloaded_error":
			e.StatusCode = 529
		case "rate_limit_error":
			e.StatusCode = http.StatusTooManyRequests
		case "invalid_request_error":
			e.StatusCode = http.StatusBadRequest
		case "authentication_error":
			e.StatusCode = http.StatusUnauthorized
		case "permission_error":
			e.StatusCode = http.StatusForbidden
		default:
			e.StatusCode = http.StatusInternalServerError
		}
	}
	e.ContextLength = (e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusRequestEntityTooLarge) &&
		llm.IsContextLengthMessage(e.Message)
	return e
}

// cacheBreakpoint marks the block that ends a prefix of the prompt for
// Anthropic's prompt cache (5 minutes). An agent sends its whole history
// with every step; with breakpoints after the system prompt and at the end
// of the history, each step reads the previous step's prefix from the cache
// at a tenth of the input price, and writes its own at 1.25 times. Prompts
// shorter than the model's minimum (1,024 tokens for Sonnet and Opus) are
// not cached, and cost what they did.
var cacheBreakpoint = anthropic.NewCacheControlEphemeralParam()

var thinkingBudget = map[string]int{llm.ReasoningLow: 2048, llm.ReasoningMedium: 8192, llm.ReasoningHigh: 24576}

func buildParams(req *llm.Request) (anthropic.MessageNewParams, bool, error) {
	params := anthropic.MessageNewParams{Model: anthropic.Model(req.Model)}
	system := []string{}
	if req.System != "" {
		system = append(system, req.System)
	}
	// The messages go in the body (see Provider.body); system messages
	// join the system parameter.
	for _, m := range req.Messages {
		if m.Role == llm.RoleSystem {
			if _, _, err := convert(m); err != nil {
				return params, false, err
			}
			system = append(system, systemText(m))
		}
	}

	for _, t := range req.Tools {
		schema, err := inputSchema(t.Parameters)
		if err != nil {
			return params, false, paddock.Errorf(paddock.EInvalid, "tool %s: parameters are not a JSON Schema object", t.Name)
		}
		tp := anthropic.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tp.Description = anthropic.String(t.Description)
		}
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &tp})
	}

	maxTokens := req.MaxTokens
	limit := 0
	if info, ok := llm.LookupModel(name, req.Model); ok {
		limit = info.MaxOutput
	}
	if maxTokens <= 0 {
		maxTokens = limit
		if maxTokens == 0 {
			maxTokens = DefaultMaxTokens
		}
	}
	budget := 0
	if b, ok := thinkingBudget[req.Reasoning]; ok && !inToolLoopWithoutThinking(req.Messages) {
		budget = b
		if req.MaxTokens > 0 {
			maxTokens += budget // MaxTokens is the visible answer; thinking comes on top
		}
		if limit > 0 && maxTokens > limit {
			maxTokens = limit
		}
		if budget >= maxTokens {
			budget = maxTokens / 2
		}
		if budget < 1024 {
			budget = 0 // below the API's minimum: no thinking
		}
	}
	params.MaxTokens = int64(maxTokens)
	if budget > 0 {
		params.Thinking = anthropic.ThinkingConfigParamOfEnabled(int64(budget))
	} else if req.Temperature != nil {
		params.Temperature = anthropic.Float(*req.Temperature)
	}

	jsonOut := false
	if rf := req.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != "text" {
		var schemaJSON json.RawMessage
		switch rf.Type {
		case llm.FormatJSONObject:
			schemaJSON = json.RawMessage(`{"type":"object"}`)
		case llm.FormatJSONSchema:
			schemaJSON = rf.Schema
		default:
			return params, false, paddock.Errorf(paddock.EInvalid, "unknown response format %q", rf.Type)
		}
		schema, err := inputSchema(schemaJSON)
		if err != nil {
			return params, false, paddock.Errorf(paddock.EInvalid, "response format: schema is not a JSON Schema object")
		}
		tp := anthropic.ToolParam{Name: responseTool, InputSchema: schema,
			Description: anthropic.String("Give your final answer by calling this tool; its input is the answer, as JSON.")}
		if rf.Strict {
			tp.Strict = anthropic.Bool(true)
		}
		forced := len(req.Tools) == 0 && budget == 0
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &tp})
		if forced {
			params.ToolChoice = anthropic.ToolChoiceParamOfTool(responseTool)
		} else {
			system = append(system, "When you have the final answer, respond only by calling the "+responseTool+" tool with the answer as its input.")
		}
		jsonOut = true
	}
	// The tools and the system prompt, which come first in the prompt and
	// seldom change, end with a cache breakpoint of their own.
	if len(system) > 0 {
		params.System = []anthropic.TextBlockParam{{Text: strings.Join(system, "\n\n"), CacheControl: cacheBreakpoint}}
	} else if n := len(params.Tools); n > 0 {
		params.Tools[n-1].OfTool.CacheControl = cacheBreakpoint
	}
	return params, jsonOut, nil
}

// inToolLoopWithoutThinking reports whether msgs end with tool results
// answering an assistant turn that has no thinking block: the API rejects
// thinking for such a request.
func inToolLoopWithoutThinking(msgs []llm.Message) bool {
	if len(msgs) == 0 {
		return false
	}
	last := msgs[len(msgs)-1]
	hasResult := false
	for _, p := range last.Parts {
		hasResult = hasResult || p.Type == llm.PartToolResult
	}
	if !hasResult {
		return false
	}
	for i := len(msgs) - 2; i >= 0; i-- {
		if msgs[i].Role != llm.RoleAssistant {
			continue
		}
		for _, p := range msgs[i].Parts {
			if p.Type == llm.PartThinking {
				return false
			}
		}
		return true
	}
	return false
}

func inputSchema(raw json.RawMessage) (anthropic.ToolInputSchemaParam, error) {
	s := anthropic.ToolInputSchemaParam{Properties: map[string]any{}}
	if len(raw) == 0 {
		return s, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return s, errors.New("not a JSON object")
	}
	if props, ok := m["properties"]; ok {
		s.Properties = props
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				s.Required = append(s.Required, name)
			}
		}
	}
	delete(m, "type")
	delete(m, "properties")
	delete(m, "required")
	if len(m) > 0 {
		s.ExtraFields = m
	}
	return s, nil
}

// convert returns the role and content blocks of one message; a system
// message has none (see systemText). Consecutive messages of one role
// share a MessageParam, as the API wants them alternating.
func convert(m llm.Message) (anthropic.MessageParamRole, []anthropic.ContentBlockParamUnion, error) {
	var results, blocks []anthropic.ContentBlockParamUnion
	for _, p := range m.Parts {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(p.Text))
			}
		case llm.PartImage:
			blocks = append(blocks, anthropic.NewImageBlockBase64(p.ImageMIME, base64.StdEncoding.EncodeToString(p.ImageData)))
		case llm.PartToolCall:
			blocks = append(blocks, anthropic.NewToolUseBlock(p.ToolCallID, llm.ArgumentsObject(p.Arguments), p.ToolName))
		case llm.PartToolResult:
			results = append(results, anthropic.NewToolResultBlock(p.ToolCallID, p.Result, p.IsError))
		case llm.PartThinking:
			if data, ok := strings.CutPrefix(p.Signature, redacted); ok {
				blocks = append(blocks, anthropic.NewRedactedThinkingBlock(data))
			} else if p.Signature != "" {
				blocks = append(blocks, anthropic.NewThinkingBlock(p.Signature, p.Text))
			}
		default:
			return "", nil, paddock.Errorf(paddock.EInvalid, "unknown message part type %q", p.Type)
		}
	}
	switch m.Role {
	case llm.RoleSystem:
		return "", nil, nil
	case llm.RoleAssistant:
		return anthropic.MessageParamRoleAssistant, blocks, nil
	case llm.RoleUser, llm.RoleTool:
		// tool_result blocks must come first in their user message.
		return anthropic.MessageParamRoleUser, append(results, blocks...), nil
	}
	return "", nil, paddock.Errorf(paddock.EInvalid, "unknown message role %q", m.Role)
}

// systemText is the text a system message adds to the system parameter.
func systemText(m llm.Message) string {
	var text []string
	for _, p := range m.Parts {
		if p.Type == llm.PartText && p.Text != "" {
			text = append(text, p.Text)
		}
	}
	return strings.Join(text, "\n")
}
