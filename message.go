package paddock

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// MessageRole is the author of a message.
type MessageRole string

const (
	MessageUser      MessageRole = "user"
	MessageAssistant MessageRole = "assistant"
	MessageTool      MessageRole = "tool"
)

// Valid reports whether r is a known role.
func (r MessageRole) Valid() bool {
	return r == MessageUser || r == MessageAssistant || r == MessageTool
}

// Content part types.
const (
	PartText       = "text"
	PartImage      = "image"
	PartFile       = "file"
	PartToolCall   = "tool_call"
	PartToolResult = "tool_result"
	// PartThinking is a model's reasoning block, kept to be sent back
	// verbatim to providers that need it; surfaces may hide it.
	PartThinking = "thinking"
)

// ContentPart is one piece of a message. Which fields apply depends on
// Type; its JSON form has exactly the fields of its type:
//
//	{"type": "text", "text": "..."}
//	{"type": "image" | "file", "mime_type": "...", "data": "<base64>", "name": "..."}
//	{"type": "tool_call", "id": "...", "name": "...", "arguments": {...}}
//	{"type": "tool_result", "tool_call_id": "...", "result": "...", "is_error": false}
//	{"type": "thinking", "text": "...", "signature": "..."}
type ContentPart struct {
	Type string
	Text string // text, thinking

	ID        string          // tool_call
	Name      string          // tool_call; file name of a file
	Arguments json.RawMessage // tool_call: a JSON object, or a JSON string when the model sent invalid JSON

	ToolCallID string // tool_result
	Result     string // tool_result
	IsError    bool   // tool_result

	MIMEType string // image, file
	Data     string // image, file: base64

	// Signature is an opaque provider token sent back with the part.
	Signature string
}

// TextPart returns a text part.
func TextPart(text string) ContentPart { return ContentPart{Type: PartText, Text: text} }

// ToolArguments returns a model's raw tool arguments as stored in
// ContentPart.Arguments: the JSON object itself when s is one, else s as a
// JSON string, so the stored value is always valid JSON and nothing is lost.
func ToolArguments(s string) json.RawMessage {
	t := bytes.TrimSpace([]byte(s))
	if len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// ArgumentsText returns the tool arguments as the model sent them: the
// reverse of ToolArguments.
func (p ContentPart) ArgumentsText() string {
	t := bytes.TrimSpace(p.Arguments)
	if len(t) > 0 && t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) == nil {
			return s
		}
	}
	if len(t) == 0 {
		return "{}"
	}
	return string(t)
}

// MarshalJSON encodes the fields of the part's type.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	b.WriteString(strconv.Quote(p.Type))
	str := func(k, v string) {
		b.WriteString(`,"` + k + `":`)
		s, _ := json.Marshal(v)
		b.Write(s)
	}
	switch p.Type {
	case PartText:
		str("text", p.Text)
	case PartThinking:
		str("text", p.Text)
		if p.Signature != "" {
			str("signature", p.Signature)
		}
	case PartToolCall:
		str("id", p.ID)
		str("name", p.Name)
		args := bytes.TrimSpace(p.Arguments)
		if len(args) == 0 {
			args = []byte("{}")
		} else if !json.Valid(args) {
			args = ToolArguments(string(args))
		}
		b.WriteString(`,"arguments":`)
		b.Write(args)
		if p.Signature != "" {
			str("signature", p.Signature)
		}
	case PartToolResult:
		str("tool_call_id", p.ToolCallID)
		str("result", p.Result)
		b.WriteString(`,"is_error":` + strconv.FormatBool(p.IsError))
	case PartImage, PartFile:
		str("mime_type", p.MIMEType)
		str("data", p.Data)
		if p.Name != "" {
			str("name", p.Name)
		}
	default:
		if p.Text != "" {
			str("text", p.Text)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// contentPartJSON is the decoding form of ContentPart.
type contentPartJSON struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	ToolCallID string          `json:"tool_call_id"`
	Result     string          `json:"result"`
	IsError    bool            `json:"is_error"`
	MIMEType   string          `json:"mime_type"`
	Data       string          `json:"data"`
	Signature  string          `json:"signature"`
}

// UnmarshalJSON decodes any of the forms MarshalJSON writes. Arguments may
// be an object or a string holding one.
func (p *ContentPart) UnmarshalJSON(data []byte) error {
	var j contentPartJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*p = ContentPart{
		Type: j.Type, Text: j.Text, ID: j.ID, Name: j.Name,
		ToolCallID: j.ToolCallID, Result: j.Result, IsError: j.IsError,
		MIMEType: j.MIMEType, Data: j.Data, Signature: j.Signature,
	}
	if a := bytes.TrimSpace(j.Arguments); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
		if a[0] == '"' {
			var s string
			if err := json.Unmarshal(a, &s); err != nil {
				return err
			}
			p.Arguments = ToolArguments(s)
		} else {
			p.Arguments = json.RawMessage(bytes.Clone(a))
		}
	}
	return nil
}

// Validate checks a part a client sent: a known type and the fields it
// needs. Failures are EInvalid.
func (p ContentPart) Validate() error {
	switch p.Type {
	case PartText:
		if strings.TrimSpace(p.Text) == "" {
			return Errorf(EInvalid, "text part needs text (it is empty or blank)")
		}
		return nil
	case PartImage, PartFile:
		if p.Data == "" {
			return Errorf(EInvalid, "%s part needs data (base64)", p.Type)
		}
		return nil
	case PartToolCall:
		if p.ID == "" || p.Name == "" {
			return Errorf(EInvalid, "tool_call part needs id and name")
		}
		return nil
	case PartToolResult:
		if p.ToolCallID == "" {
			return Errorf(EInvalid, "tool_result part needs tool_call_id")
		}
		return nil
	case PartThinking:
		return nil
	case "":
		return Errorf(EInvalid, "content part type is required")
	}
	return Errorf(EInvalid, "unknown content part type %q: want text, image, file, tool_call or tool_result", p.Type)
}

// Usage is what one model call cost.
type Usage struct {
	InputTokens int64 `json:"input_tokens"` // every input token, cached or not
	// CachedInputTokens of InputTokens were read from the provider's
	// prompt cache, and CacheWriteTokens were written to it; each has its
	// own price (llm.ModelInfo).
	CachedInputTokens int64   `json:"cached_input_tokens,omitempty"`
	CacheWriteTokens  int64   `json:"cache_write_tokens,omitempty"`
	OutputTokens      int64   `json:"output_tokens"`
	Cost              float64 `json:"cost"` // USD
	Model             string  `json:"model,omitempty"`
	Provider          string  `json:"provider,omitempty"`
}

// Add adds the tokens and cost of o to u, and takes o's model and
// provider: the sum of several calls names the last one's.
func (u *Usage) Add(o *Usage) {
	u.InputTokens += o.InputTokens
	u.CachedInputTokens += o.CachedInputTokens
	u.CacheWriteTokens += o.CacheWriteTokens
	u.OutputTokens += o.OutputTokens
	u.Cost += o.Cost
	u.Model, u.Provider = o.Model, o.Provider
}

// Record returns the usage record of u, for the call rec names (its
// owner, agent, session, run and message).
func (u *Usage) Record(rec UsageRecord) *UsageRecord {
	rec.Provider, rec.Model = u.Provider, u.Model
	rec.InputTokens, rec.CachedInputTokens, rec.CacheWriteTokens = u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens
	rec.OutputTokens, rec.Cost = u.OutputTokens, u.Cost
	return &rec
}

// Message is one turn of a session: a user's input, an assistant's answer
// (text and tool calls) or a tool's result. Its JSON form is the payload of
// the message.user and message.assistant events.
type Message struct {
	ID        string        `json:"id"` // "msg_..."
	SessionID string        `json:"session_id"`
	RunID     string        `json:"run_id,omitempty"` // the run it triggered (user) or came from
	Seq       int64         `json:"seq"`              // order within the session, from 1
	Role      MessageRole   `json:"role"`
	Content   []ContentPart `json:"content"`
	Usage     *Usage        `json:"usage,omitempty"` // assistant messages
	CreatedAt time.Time     `json:"created_at"`
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	var s string
	for _, p := range m.Content {
		if p.Type == PartText {
			s += p.Text
		}
	}
	return s
}

// ToolCalls returns the tool_call parts of m.
func (m *Message) ToolCalls() []ContentPart {
	var calls []ContentPart
	for _, p := range m.Content {
		if p.Type == PartToolCall {
			calls = append(calls, p)
		}
	}
	return calls
}

// Validate checks a message a client posts: a known role and valid parts,
// at least one. Failures are EInvalid.
func (m *Message) Validate() error {
	if !m.Role.Valid() {
		return Errorf(EInvalid, "invalid message role %q: want user, assistant or tool", m.Role)
	}
	if len(m.Content) == 0 {
		return Errorf(EInvalid, "message content is required")
	}
	for i, p := range m.Content {
		if err := p.Validate(); err != nil {
			return Errorf(ErrorCode(err), "content[%d]: %s", i, ErrorMessage(err))
		}
	}
	return nil
}

// MessageFilter selects the messages of a session. Zero fields do not
// filter.
type MessageFilter struct {
	SessionID string // required
	RunID     *string
	AfterSeq  int64 // only messages with a greater Seq
	Offset    int
	Limit     int // 0 means no limit
}

// MessageService stores messages. Messages are listed in Seq order; an
// unknown id is ENotFound. New messages are created through
// SessionService.Commit (with their events); CreateMessage is the same in a
// transaction of its own, without events.
type MessageService interface {
	Message(ctx context.Context, id string) (*Message, error)
	Messages(ctx context.Context, filter MessageFilter) ([]*Message, int, error)
	CreateMessage(ctx context.Context, m *Message) error
}
