package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/paddockhq/paddock"
)

// The agent stream of seed 000: a message to an agent of the caller
// (default "coder") in the session named by session_id, created on first
// use; the session's environment (the "sandbox") is created by the first
// tool call and reused by every later request with the same session_id.
// The answer streams as SSE with named events: status, message, tool,
// error.

// DefaultPlatformAgent is the agent of stream requests that name none. A
// user's first request creates it.
const DefaultPlatformAgent = "coder"

const coderPrompt = `You are a coding agent working in a Linux sandbox. Use the tools to create files,
run commands and check results before you answer; files you create persist for
later requests of the session. Be concise: say what you did and what came out.`

type platformMessage struct {
	Role    string          `json:"role,omitempty" enum:"user,assistant,system"`
	Content json.RawMessage `json:"content" required:"true" description:"a string, or an array of {\"type\":\"text\",\"text\":...} parts"`
}

type agentStreamRequest struct {
	Messages  []platformMessage `json:"messages" required:"true" description:"the new user message is the last user message; earlier turns come from the session"`
	SessionID string            `json:"session_id,omitempty" description:"names the session (and its sandbox); a new one when omitted"`
	AgentName string            `json:"agent_name,omitempty" description:"default coder"`
}

// toolNames are the names tool events show, in the style of the seed
// ("Bash").
var toolNames = map[string]string{
	"bash": "Bash", "read_file": "Read", "write_file": "Write", "edit_file": "Edit", "list_files": "LS", "grep": "Grep",
	"web_search": "WebSearch",
}

// lastUserText returns the text of the last user message of a seed 000
// body.
func lastUserText(msgs []platformMessage) (string, error) {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role != "" && m.Role != "user" {
			continue
		}
		c := bytes.TrimSpace(m.Content)
		var text string
		if err := json.Unmarshal(c, &text); err != nil {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(c, &parts); err != nil {
				return "", paddock.Errorf(paddock.EInvalid, "messages[%d].content must be a string or an array of text parts", i)
			}
			var b strings.Builder
			for _, p := range parts {
				if p.Type == "text" || p.Type == "" {
					b.WriteString(p.Text)
				}
			}
			text = b.String()
		}
		if strings.TrimSpace(text) == "" {
			return "", paddock.Errorf(paddock.EInvalid, "messages[%d].content is empty", i)
		}
		return text, nil
	}
	return "", paddock.Errorf(paddock.EInvalid, "messages must hold a user message")
}

// platformAgent returns the caller's agent named name, creating the
// default agent on first use.
func (s *Server) platformAgent(ctx context.Context, ownerID int64, name string) (*paddock.Agent, error) {
	for attempt := 0; ; attempt++ {
		if a, err := s.agentNamed(ctx, ownerID, name); a != nil || err != nil {
			return a, err
		}
		if name != DefaultPlatformAgent {
			return nil, paddock.Errorf(paddock.ENotFound, "agent %q not found", name)
		}
		a := &paddock.Agent{OwnerID: ownerID, Name: name, Description: "Writes and runs code in a sandbox", SystemPrompt: coderPrompt}
		err := s.Agents.CreateAgent(ctx, a)
		if err == nil {
			return a, nil
		}
		if paddock.ErrorCode(err) != paddock.EConflict || attempt > 0 {
			return nil, err
		}
		// Another request created it first: read it.
	}
}

// sessionByKey returns the owner's session named key, of whichever agent:
// ENotFound when there is none, EConflict when sessions of several agents
// share the key.
func (s *Server) sessionByKey(ctx context.Context, ownerID int64, key string) (*paddock.Session, error) {
	sessions, total, err := s.Sessions.Sessions(ctx, paddock.SessionFilter{OwnerID: &ownerID, ExternalKey: &key, Limit: 2})
	switch {
	case err != nil:
		return nil, err
	case total == 0:
		return nil, paddock.Errorf(paddock.ENotFound, "session %q not found", key)
	case total > 1:
		return nil, paddock.Errorf(paddock.EConflict, "%d sessions of different agents are named %q: use a session's id (ses_...)", total, key)
	}
	return sessions[0], nil
}

// keyedSession returns the owner's session of agent a named key, creating
// it on first use.
func (s *Server) keyedSession(ctx context.Context, a *paddock.Agent, ownerID int64, key string) (*paddock.Session, error) {
	for attempt := 0; ; attempt++ {
		sess, err := s.Sessions.SessionByKey(ctx, ownerID, a.ID, key)
		if paddock.ErrorCode(err) != paddock.ENotFound {
			return sess, err
		}
		sess = &paddock.Session{AgentID: a.ID, OwnerID: ownerID, Title: key, ExternalKey: key, Status: paddock.SessionPending}
		err = s.Sessions.CreateSession(ctx, sess)
		if err == nil || paddock.ErrorCode(err) != paddock.EConflict || attempt > 0 {
			return sess, err
		}
	}
}

func (s *Server) handleAgentStream(w http.ResponseWriter, r *http.Request) error {
	var req agentStreamRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	text, err := lastUserText(req.Messages)
	if err != nil {
		return err
	}
	return s.streamTurn(w, r, turn{agent: req.AgentName, keyName: "session_id", key: req.SessionID, text: text})
}

// turn is a message to an agent of the caller in the session named by key
// (new when empty) under keyName (session_id or thread_id), with options
// for its run.
type turn struct {
	agent, keyName, key, text string
	opts                      paddock.RunOptions
}

// streamTurn posts a turn and streams its run as seed 000's events. An
// error of the post itself (such as web search asked for but not
// configured) is an error event.
func (s *Server) streamTurn(w http.ResponseWriter, r *http.Request, t turn) error {
	owner := principal(r).User.ID
	if err := s.Credits.Check(r.Context(), owner); err != nil {
		return err
	}
	a, err := s.platformAgent(r.Context(), owner, strings.TrimSpace(cmp.Or(t.agent, DefaultPlatformAgent)))
	if err != nil {
		return err
	}
	key := strings.TrimSpace(t.key)
	if key == "" {
		key = newSessionKey()
	}
	if len(key) > 255 {
		return paddock.Errorf(paddock.EInvalid, "%s is longer than 255 characters", t.keyName)
	}
	sess, err := s.keyedSession(r.Context(), a, owner, key)
	if err != nil {
		return err
	}
	since := sess.LastEventSeq
	msg := &paddock.Message{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart(t.text)}}
	posted, err := s.Runner.PostWith(r.Context(), sess.ID, msg, "", "", t.opts)
	sse := startSSE(w)
	st := &agentEvents{sse: sse, keyName: t.keyName, key: key}
	if err != nil {
		st.end(nil, err)
		return nil
	}
	_ = st.send("status", map[string]any{"type": "processing", t.keyName: key, "agent": a.Name})
	if sess.EnvironmentID != "" {
		if env, err := s.EnvironmentStore.Environment(r.Context(), sess.EnvironmentID); err == nil && env.Status == paddock.EnvironmentRunning {
			_ = st.send("status", map[string]any{"type": "sandbox_ready", "sandbox_id": env.ID, "reused": true})
		}
	}
	// The run belongs to the session: a client that leaves stops only the
	// stream.
	return s.streamWork(w, r, sse, st, func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error) {
		return s.awaitRun(ctx, a, sess.ID, posted.RunID, since, emit)
	})
}

// agentEvents renders run events as seed 000's named SSE events.
type agentEvents struct {
	sse     *sseWriter
	keyName string // session_id or thread_id
	key     string
}

func (a *agentEvents) send(name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return a.sse.event("", name, string(b))
}

func (a *agentEvents) event(e *paddock.Event) error {
	switch e.Type {
	case paddock.EventMessageDelta:
		var d paddock.DeltaEvent
		if json.Unmarshal(e.Data, &d) == nil && d.Delta != "" {
			return a.send("message", map[string]any{"type": "chunk", "content": d.Delta})
		}
	case paddock.EventEnvironmentReady:
		var env paddock.EnvironmentEvent
		if json.Unmarshal(e.Data, &env) == nil {
			return a.send("status", map[string]any{"type": "sandbox_ready", "sandbox_id": env.EnvironmentID})
		}
	case paddock.EventToolStarted, paddock.EventToolOutput, paddock.EventToolCompleted:
		var t paddock.ToolEvent
		if json.Unmarshal(e.Data, &t) != nil {
			return nil
		}
		out := map[string]any{"id": t.ToolCallID, "name": cmp.Or(toolNames[t.Name], t.Name), "tool": t.Name}
		switch e.Type {
		case paddock.EventToolStarted:
			out["type"], out["input"] = "start", t.Arguments
		case paddock.EventToolOutput:
			out["type"], out["stream"], out["output"] = "output", t.Stream, t.Output
		default:
			out["type"], out["is_error"] = "end", t.IsError
			if t.Result != nil {
				out["output"] = *t.Result
			}
		}
		return a.send("tool", out)
	}
	return nil
}

func (a *agentEvents) end(msg *assistantMessage, err error) {
	if err != nil {
		_ = a.send("error", map[string]any{"message": paddock.ErrorMessage(err), "code": platformErrors[codeOf(err)]})
		return
	}
	data := map[string]any{"type": "complete", "message_id": msg.ID}
	if a.keyName != "" {
		data[a.keyName] = a.key
	}
	if msg.Usage != nil {
		data["usage"] = msg.Usage
	}
	_ = a.send("status", data)
}

// newSessionKey names a session a request did not name.
func newSessionKey() string { return "s_" + strings.ToLower(rand.Text()[:20]) }

type chatStreamRequest struct {
	Messages    []platformMessage `json:"messages" required:"true"`
	ThreadID    string            `json:"thread_id,omitempty" description:"names the thread (a session); a new one when omitted"`
	AgentName   string            `json:"agent_name,omitempty" description:"default coder"`
	Resources   []json.RawMessage `json:"resources,omitempty" description:"knowledge-base resources the run's search_resources tool searches: {uri, title, description} objects (DeerFlow's form), URIs (rag://resource/res_...) or ids"`
	MCPSettings *struct {
		Servers map[string]json.RawMessage `json:"servers"`
	} `json:"mcp_settings,omitempty" description:"servers: the MCP servers whose tools the run gets, by name: {} for a registered one, or {transport, url, headers, enabled_tools} inline"`
	EnableWebSearch    bool   `json:"enable_web_search,omitempty" description:"offer the web_search tool (needs PADDOCK_SEARCH_PROVIDER)"`
	EnableDeepThinking bool   `json:"enable_deep_thinking,omitempty" description:"ask the model for more reasoning (OpenAI reasoning effort, Anthropic and Gemini thinking)"`
	Locale             string `json:"locale,omitempty" description:"e.g. en-US: answers use its language"`
}

// handleChatStream answers in a thread without a sandbox: the agent's
// sandbox tools are off for the run; it may get web search, the search of
// the resources it names and the tools of MCP servers.
func (s *Server) handleChatStream(w http.ResponseWriter, r *http.Request) error {
	var req chatStreamRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	text, err := lastUserText(req.Messages)
	if err != nil {
		return err
	}
	if len(req.Locale) > 35 {
		return paddock.Errorf(paddock.EInvalid, "locale must be a language tag such as en-US")
	}
	opts := paddock.RunOptions{Tools: &[]string{}, Locale: req.Locale}
	if opts.Resources, err = s.resourceRefs(r, "resources", req.Resources); err != nil {
		return err
	}
	if req.MCPSettings != nil && len(req.MCPSettings.Servers) > 0 {
		if err := s.mcpReady(); err != nil {
			return err
		}
		if opts.MCPServers, err = mcpRefs(req.MCPSettings.Servers); err != nil {
			return err
		}
		var names []string
		for _, ref := range opts.MCPServers {
			if ref.URL == "" {
				names = append(names, ref.Name)
			}
		}
		if err := s.checkMCPNames(r.Context(), principal(r).User.ID, "mcp_settings.servers", names); err != nil {
			return err
		}
	}
	if req.EnableWebSearch {
		opts.Tools = &[]string{"web_search"}
	}
	if req.EnableDeepThinking {
		opts.Reasoning = "medium"
	}
	return s.streamTurn(w, r, turn{agent: req.AgentName, keyName: "thread_id", key: req.ThreadID, text: text, opts: opts})
}
