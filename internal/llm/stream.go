package llm

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Accumulator builds a Response from the pieces of a provider's stream and
// emits the matching Events, so that every adapter produces the same event
// sequence. It is not safe for concurrent use; an adapter uses one per
// attempt.
type Accumulator struct {
	emit     func(Event)
	model    string
	text     strings.Builder
	thinking []Part
	calls    []*ToolCall
	byKey    map[int]*ToolCall // provider's index -> call
	open     map[*ToolCall]bool
	sigs     map[*ToolCall]string
	usage    Usage
	hasUsage bool
}

// NewAccumulator returns an Accumulator that passes events to emit. model is
// the requested model, reported if the stream never names one.
func NewAccumulator(model string, emit func(Event)) *Accumulator {
	return &Accumulator{
		emit:  emit,
		model: model,
		byKey: map[int]*ToolCall{},
		open:  map[*ToolCall]bool{},
		sigs:  map[*ToolCall]string{},
	}
}

// SetModel records the model the provider says answered.
func (a *Accumulator) SetModel(model string) {
	if model != "" {
		a.model = model
	}
}

// Text appends a text delta.
func (a *Accumulator) Text(s string) {
	if s == "" {
		return
	}
	a.text.WriteString(s)
	a.emit(Event{Type: EventTextDelta, Text: s})
}

// Thinking records a complete thinking block to return in the response
// message (it is not streamed).
func (a *Accumulator) Thinking(text, signature string) {
	a.thinking = append(a.thinking, Part{Type: PartThinking, Text: text, Signature: signature})
}

// StartToolCall opens a tool call. key is the provider's own index for it
// (OpenAI's tool call index, Anthropic's content block index); an empty id
// gets a generated one. Starting a key that is already open is a no-op, so
// adapters may call it on every chunk that names the call.
func (a *Accumulator) StartToolCall(key int, id, name string) {
	if c, ok := a.byKey[key]; ok && a.open[c] {
		if c.Name == "" && name != "" {
			c.Name = name
		}
		return
	}
	if id == "" {
		id = NewToolCallID()
	}
	c := &ToolCall{ID: id, Name: name, Index: len(a.calls)}
	a.calls = append(a.calls, c)
	a.byKey[key] = c
	a.open[c] = true
	a.emit(Event{Type: EventToolCallStart, ToolCall: &ToolCall{ID: c.ID, Name: c.Name, Index: c.Index}})
}

// ToolCallDelta appends a fragment of a tool call's JSON arguments.
func (a *Accumulator) ToolCallDelta(key int, fragment string) {
	c, ok := a.byKey[key]
	if !ok || !a.open[c] || fragment == "" {
		return
	}
	c.Arguments += fragment
	a.emit(Event{Type: EventToolCallDelta, ToolCall: &ToolCall{ID: c.ID, Name: c.Name, Index: c.Index, Arguments: fragment}})
}

// SetToolCallSignature attaches a provider signature to a tool call.
func (a *Accumulator) SetToolCallSignature(key int, signature string) {
	if c, ok := a.byKey[key]; ok {
		a.sigs[c] = signature
	}
}

// EndToolCall closes a tool call and emits it whole. Arguments that are
// empty become "{}".
func (a *Accumulator) EndToolCall(key int) {
	c, ok := a.byKey[key]
	if !ok || !a.open[c] {
		return
	}
	a.open[c] = false
	if strings.TrimSpace(c.Arguments) == "" {
		c.Arguments = "{}"
	}
	done := *c
	a.emit(Event{Type: EventToolCallEnd, ToolCall: &done})
}

// SetUsage records the call's usage; the last call wins.
func (a *Accumulator) SetUsage(u Usage) {
	a.usage = u
	a.hasUsage = true
}

// HasToolCalls reports whether a tool call has started.
func (a *Accumulator) HasToolCalls() bool { return len(a.calls) > 0 }

// Finish closes any open tool calls, emits the usage (if any was reported)
// and done events, and returns the response. A stop reason of end_turn with
// tool calls becomes tool_use: Gemini and some OpenAI-compatible servers
// report "stop" for a turn that called tools.
func (a *Accumulator) Finish(stop StopReason) *Response {
	for _, c := range a.calls {
		if a.open[c] {
			a.EndToolCall(a.keyOf(c))
		}
	}
	if stop == "" {
		stop = StopEndTurn
	}
	if stop == StopEndTurn && len(a.calls) > 0 {
		stop = StopToolUse
	}
	msg := Message{Role: RoleAssistant}
	msg.Parts = append(msg.Parts, a.thinking...)
	if a.text.Len() > 0 {
		msg.Parts = append(msg.Parts, Part{Type: PartText, Text: a.text.String()})
	}
	for _, c := range a.calls {
		msg.Parts = append(msg.Parts, Part{Type: PartToolCall, ToolCallID: c.ID, ToolName: c.Name, Arguments: c.Arguments, Signature: a.sigs[c]})
	}
	if a.hasUsage {
		u := a.usage
		a.emit(Event{Type: EventUsage, Usage: &u})
	}
	a.emit(Event{Type: EventDone, StopReason: stop})
	return &Response{Message: msg, Usage: a.usage, StopReason: stop, Model: a.model}
}

func (a *Accumulator) keyOf(c *ToolCall) int {
	for k, v := range a.byKey {
		if v == c {
			return k
		}
	}
	return -1
}

// NewToolCallID returns a fresh tool call id, for providers that do not
// give their calls one.
func NewToolCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// ArgumentsObject returns args as a JSON object for providers that take tool
// call arguments structured: "{}" when args is empty or not a JSON object
// (a model can produce broken JSON; the provider must still accept the
// history that contains it).
func ArgumentsObject(args string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &m); err != nil || m == nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(args)
}
