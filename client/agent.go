package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Agent is an agent as the API shows it.
type Agent struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	SystemPrompt string            `json:"system_prompt"`
	Tags         []string          `json:"tags"`
	Model        string            `json:"model,omitempty"`
	Tools        []string          `json:"tools,omitempty"`
	MaxSteps     int               `json:"max_steps,omitempty"`
	Environment  *AgentEnvironment `json:"environment,omitempty"`
	Status       string            `json:"status"` // active or archived
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	ArchivedAt   *time.Time        `json:"archived_at,omitempty"`
}

// AgentEnvironment is the environment each session of an agent gets.
type AgentEnvironment struct {
	Image     string          `json:"image,omitempty"`
	Resources *Resources      `json:"resources,omitempty"`
	Isolation json.RawMessage `json:"isolation,omitempty"`
	Timeout   int             `json:"timeout,omitempty"`
}

// CreateAgent is the body of an agent creation. A nil Tools enables every
// built-in tool; an empty one enables none.
type CreateAgent struct {
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	SystemPrompt string            `json:"system_prompt,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Model        string            `json:"model,omitempty"`
	Tools        *[]string         `json:"tools,omitempty"`
	MaxSteps     int               `json:"max_steps,omitempty"`
	Environment  *AgentEnvironment `json:"environment,omitempty"`
}

// AgentList is one page of agents.
type AgentList struct {
	Items []Agent `json:"items"`
	Total int     `json:"total"`
}

// CreateAgent creates an agent.
func (c *Client) CreateAgent(ctx context.Context, in *CreateAgent) (*Agent, error) {
	var a Agent
	return &a, c.do(ctx, "POST", "/v1/agents", in, &a)
}

// Agents lists the caller's active agents (all agents for admins), limit
// at a time from offset; limit 0 takes the server's default (100).
func (c *Client) Agents(ctx context.Context, limit, offset int) (*AgentList, error) {
	var l AgentList
	return &l, c.do(ctx, "GET", "/v1/agents"+query("limit", itoa(limit), "offset", itoa(offset)), nil, &l)
}

// Agent returns one agent.
func (c *Client) Agent(ctx context.Context, id string) (*Agent, error) {
	var a Agent
	return &a, c.do(ctx, "GET", "/v1/agents/"+url.PathEscape(id), nil, &a)
}

// ArchiveAgent archives an agent: it takes no new sessions.
func (c *Client) ArchiveAgent(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/agents/"+url.PathEscape(id), nil, nil)
}

// Session is a conversation with an agent.
type Session struct {
	ID            string    `json:"id"`
	AgentID       string    `json:"agent_id"`
	Title         string    `json:"title"`
	Tags          []string  `json:"tags"`
	Status        string    `json:"status"` // pending, running or failed
	EnvironmentID string    `json:"environment_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// CreateSession is the body of a session creation.
type CreateSession struct {
	Title string   `json:"title,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

func sessionPath(agentID, sessionID string) string {
	return "/v1/agents/" + url.PathEscape(agentID) + "/sessions/" + url.PathEscape(sessionID)
}

// CreateSession starts a session with an agent; in may be nil.
func (c *Client) CreateSession(ctx context.Context, agentID string, in *CreateSession) (*Session, error) {
	if in == nil {
		in = &CreateSession{}
	}
	var s Session
	return &s, c.do(ctx, "POST", "/v1/agents/"+url.PathEscape(agentID)+"/sessions", in, &s)
}

// Session returns one session.
func (c *Client) Session(ctx context.Context, agentID, sessionID string) (*Session, error) {
	var s Session
	return &s, c.do(ctx, "GET", sessionPath(agentID, sessionID), nil, &s)
}

// ContentPart is one piece of a message: text, image, file, tool_call,
// tool_result or thinking; the fields of its type are set.
type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ID         string          `json:"id,omitempty"`
	Name       string          `json:"name,omitempty"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Result     string          `json:"result,omitempty"`
	IsError    bool            `json:"is_error,omitempty"`
	MIMEType   string          `json:"mime_type,omitempty"`
	Data       string          `json:"data,omitempty"`
}

// Message is a message of a session.
type Message struct {
	ID        string        `json:"id"`
	SessionID string        `json:"session_id"`
	RunID     string        `json:"run_id,omitempty"`
	Seq       int64         `json:"seq"`
	Role      string        `json:"role"`
	Content   []ContentPart `json:"content"`
	CreatedAt time.Time     `json:"created_at"`
}

// Text returns the message's text parts joined.
func (m *Message) Text() string {
	var s string
	for _, p := range m.Content {
		if p.Type == "text" {
			s += p.Text
		}
	}
	return s
}

// PostMessage posts a user message with text; the run it starts (or
// queues behind the active one) goes on in the background. A non-empty
// idempotencyKey makes retries safe: the same key and text return the
// first message and start nothing.
func (c *Client) PostMessage(ctx context.Context, agentID, sessionID, text, idempotencyKey string) (*Message, error) {
	in := map[string]any{"message": map[string]any{"role": "user", "content": []ContentPart{{Type: "text", Text: text}}}}
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	resp, err := c.send(ctx, "POST", sessionPath(agentID, sessionID)+"/messages", in, h)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m Message
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("post message: decode answer: %w", err)
	}
	return &m, nil
}

// MessageList is one page of a session's messages.
type MessageList struct {
	Items []Message `json:"items"`
	Total int       `json:"total"`
}

// Messages lists a session's messages in order, limit at a time from
// offset; limit 0 takes the server's default (100).
func (c *Client) Messages(ctx context.Context, agentID, sessionID string, limit, offset int) (*MessageList, error) {
	var l MessageList
	return &l, c.do(ctx, "GET", sessionPath(agentID, sessionID)+"/messages"+query("limit", itoa(limit), "offset", itoa(offset)), nil, &l)
}

// CancelSession cancels the session's active run; the answer names it.
func (c *Client) CancelSession(ctx context.Context, agentID, sessionID string) (runID, status string, err error) {
	var v struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	err = c.do(ctx, "POST", sessionPath(agentID, sessionID)+"/cancel", nil, &v)
	return v.RunID, v.Status, err
}

// SessionEvent is one entry of a session's event log. Data is the payload
// of its type (see the API reference): message.delta carries
// {"step", "delta"}, tool.* carry {"tool_call_id", "name", ...}, run.*
// carry {"run_id", "status", "error"}, message.* carry the message.
type SessionEvent struct {
	Seq       int64           `json:"seq"`
	SessionID string          `json:"session_id"`
	RunID     string          `json:"run_id,omitempty"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Events lists a session's events after sequence number afterSeq.
func (c *Client) Events(ctx context.Context, agentID, sessionID string, afterSeq int64) ([]SessionEvent, error) {
	var v struct {
		Items []SessionEvent `json:"items"`
	}
	q := query("format", "json", "since", strconv.FormatInt(afterSeq, 10))
	return v.Items, c.do(ctx, "GET", sessionPath(agentID, sessionID)+"/events"+q, nil, &v)
}

// FollowEvents streams a session's events after sequence number afterSeq
// over SSE, calling fn for each in order, until ctx is done or fn returns
// an error (which FollowEvents returns). A dropped connection is resumed
// with Last-Event-ID, so fn sees every event exactly once; error answers of
// the server (*Error) end the stream.
func (c *Client) FollowEvents(ctx context.Context, agentID, sessionID string, afterSeq int64, fn func(SessionEvent) error) error {
	path := sessionPath(agentID, sessionID) + "/events"
	last := afterSeq
	var fnErr error
	for backoff := 100 * time.Millisecond; ; {
		h := http.Header{"Accept": {"text/event-stream"}, "Last-Event-ID": {strconv.FormatInt(last, 10)}}
		resp, err := c.send(ctx, "GET", path, nil, h)
		if err == nil {
			err = readEvents(resp.Body, func(e Event) error {
				var ev SessionEvent
				if err := json.Unmarshal([]byte(e.Data), &ev); err != nil {
					return fmt.Errorf("event %s: %w", e.ID, err)
				}
				if ev.Seq <= last {
					return nil
				}
				last = ev.Seq
				if err := fn(ev); err != nil {
					fnErr = err
					return err
				}
				return nil
			})
			resp.Body.Close()
		}
		var apiErr *Error
		switch {
		case fnErr != nil:
			return fnErr
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &apiErr):
			return err
		case err == nil || errors.Is(err, io.ErrUnexpectedEOF):
			backoff = 100 * time.Millisecond // the stream ended: resume at once
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
