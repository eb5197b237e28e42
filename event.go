package paddock

import (
	"context"
	"encoding/json"
	"time"
)

// EventType names what an event reports.
type EventType string

// Event types. The payload of each, in Event.Data, is noted.
const (
	EventMessageUser      EventType = "message.user"      // Message
	EventMessageDelta     EventType = "message.delta"     // DeltaEvent
	EventMessageAssistant EventType = "message.assistant" // Message
	EventToolStarted      EventType = "tool.started"      // ToolEvent
	EventToolOutput       EventType = "tool.output"       // ToolEvent with Stream and Output
	EventToolCompleted    EventType = "tool.completed"    // ToolEvent with Result and IsError
	EventRunStarted       EventType = "run.started"       // RunEvent
	EventRunCompleted     EventType = "run.completed"     // RunEvent
	EventRunFailed        EventType = "run.failed"        // RunEvent with Error
	EventRunCancelled     EventType = "run.cancelled"     // RunEvent
	EventSessionStatus    EventType = "session.status"    // SessionStatusEvent
	EventEnvironmentReady EventType = "environment.ready" // EnvironmentEvent
	EventContextCompacted EventType = "context.compacted" // CompactionEvent
)

// Event is one entry of a session's append-only log: every message, token
// delta, tool start, output and end, run and status change. Seq numbers the
// events of a session 1, 2, 3... without gaps; an event is appended in the
// same transaction as the state change it describes, so the log is the
// single source for live streams and history.
type Event struct {
	Seq       int64           `json:"seq"`
	SessionID string          `json:"session_id"`
	RunID     string          `json:"run_id,omitempty"`
	Type      EventType       `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// NewEvent returns an event of type typ for run runID with data encoded as
// its payload. data must encode to JSON (the payload types here always
// do); if it does not, the payload is {}.
func NewEvent(typ EventType, runID string, data any) *Event {
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte("{}")
	}
	return &Event{Type: typ, RunID: runID, Data: b}
}

// DeltaEvent is the payload of message.delta: a piece of the assistant's
// text as the model streams it. Step numbers the model call within the run
// (from 1); a client seeing deltas of a step it already saw deltas for
// (the model call was interrupted by a crash and made again) discards what
// it had of that step. The message.assistant event carries the final text.
type DeltaEvent struct {
	Step  int    `json:"step"`
	Delta string `json:"delta"`
}

// ToolEvent is the payload of tool.started, tool.output and tool.completed.
type ToolEvent struct {
	ToolCallID string          `json:"tool_call_id"`
	Name       string          `json:"name"`
	Step       int             `json:"step"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`  // tool.started
	Stream     string          `json:"stream,omitempty"`     // tool.output: "stdout" or "stderr"
	Output     string          `json:"output,omitempty"`     // tool.output
	Result     *string         `json:"result,omitempty"`     // tool.completed
	IsError    bool            `json:"is_error,omitempty"`   // tool.completed
	MessageID  string          `json:"message_id,omitempty"` // tool.completed: the tool message
}

// RunEvent is the payload of the run.* events.
type RunEvent struct {
	RunID  string    `json:"run_id"`
	Status RunStatus `json:"status"`
	Step   int       `json:"step"`
	Error  string    `json:"error,omitempty"`
	// Note explains a completion that is not the model's own, such as the
	// step limit.
	Note string `json:"note,omitempty"`
	// Resumed marks a run.started of a run another worker had started:
	// it continues from its persisted steps.
	Resumed bool `json:"resumed,omitempty"`
}

// SessionStatusEvent is the payload of session.status.
type SessionStatusEvent struct {
	Status SessionStatus `json:"status"`
}

// EnvironmentEvent is the payload of environment.ready.
type EnvironmentEvent struct {
	EnvironmentID string `json:"environment_id"`
}

// CompactionEvent is the payload of context.compacted: the history no
// longer fit the model's context window, so the model got a summary of
// its older messages instead of them (the stored history is unchanged).
// Token counts are estimates.
type CompactionEvent struct {
	SummarizedMessages int `json:"summarized_messages"`
	KeptMessages       int `json:"kept_messages"`
	TokensBefore       int `json:"tokens_before"`
	TokensAfter        int `json:"tokens_after"`
}

// EventService stores events. AppendEvents appends events that describe no
// other state change (token deltas, tool output) in a transaction of their
// own, setting SessionID, Seq and CreatedAt; events that go with a state
// change are appended by SessionService.Commit. Events returns the events
// with Seq > afterSeq in order, at most limit (0 means all). An unknown
// session is ENotFound.
type EventService interface {
	AppendEvents(ctx context.Context, sessionID string, events []*Event) error
	Events(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]*Event, error)
}
