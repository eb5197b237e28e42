package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
)

// AgentRunner runs sessions: the durable agent loop.
type AgentRunner interface {
	Post(ctx context.Context, sessionID string, msg *paddock.Message, idempotencyKey, requestHash string) (*paddock.Message, error)
	PostWith(ctx context.Context, sessionID string, msg *paddock.Message, idempotencyKey, requestHash string, opts paddock.RunOptions) (*paddock.Message, error)
	PostChecked(ctx context.Context, sessionID string, check agent.PostCheck, msg *paddock.Message, idempotencyKey, requestHash string) (*paddock.Message, error)
	Cancel(ctx context.Context, sessionID string) (*paddock.Run, error)
	DeleteSession(ctx context.Context, sessionID string) error
	Execute(ctx context.Context, req agent.ExecuteRequest) (*agent.ExecuteResult, error)
}

// EventFollower streams a session's events after a sequence number: the
// stored ones, then live ones, each once and in order.
type EventFollower func(ctx context.Context, sessionID string, afterSeq int64) <-chan *paddock.Event

type agentRequest struct {
	Name         string                    `json:"name" required:"true"`
	Description  string                    `json:"description,omitempty"`
	SystemPrompt string                    `json:"system_prompt,omitempty"`
	Tags         []string                  `json:"tags,omitempty"`
	Model        string                    `json:"model,omitempty" description:"provider/model, e.g. openai/gpt-4o-mini; default PADDOCK_DEFAULT_MODEL"`
	Tools        *[]string                 `json:"tools,omitempty" description:"enabled built-in tools: bash, read_file, write_file, edit_file, list_files, grep, and web_search (offered when search is configured); omit for all but web_search"`
	MCPServers   []string                  `json:"mcp_servers,omitempty" description:"MCP servers whose tools the agent gets, by name: your own or shared ones (/api/v1/agent/mcp/servers)"`
	Resources    []string                  `json:"resources,omitempty" description:"knowledge-base resources its runs search with search_resources: ids or URIs of your own or shared ones (/api/v1/agent/rag/resources)"`
	MaxSteps     int                       `json:"max_steps,omitempty"`
	Environment  *paddock.AgentEnvironment `json:"environment,omitempty"`
}

type agentPatchRequest struct {
	Name         *string                   `json:"name,omitempty"`
	Description  *string                   `json:"description,omitempty"`
	SystemPrompt *string                   `json:"system_prompt,omitempty"`
	Tags         *[]string                 `json:"tags,omitempty"`
	Model        *string                   `json:"model,omitempty"`
	Tools        *[]string                 `json:"tools,omitempty"`
	MCPServers   *[]string                 `json:"mcp_servers,omitempty"`
	Resources    *[]string                 `json:"resources,omitempty"`
	MaxSteps     *int                      `json:"max_steps,omitempty"`
	Environment  *paddock.AgentEnvironment `json:"environment,omitempty"`
}

type agentResponse struct {
	ID           string                    `json:"id"`
	Name         string                    `json:"name"`
	Description  string                    `json:"description"`
	SystemPrompt string                    `json:"system_prompt"`
	Tags         []string                  `json:"tags"`
	Model        string                    `json:"model,omitempty"`
	Tools        []string                  `json:"tools,omitempty"`
	MCPServers   []string                  `json:"mcp_servers"`
	Resources    []string                  `json:"resources" description:"ids of its knowledge-base resources"`
	MaxSteps     int                       `json:"max_steps,omitempty"`
	Environment  *paddock.AgentEnvironment `json:"environment,omitempty"`
	Status       string                    `json:"status" enum:"active,archived"`
	CreatedAt    time.Time                 `json:"created_at"`
	UpdatedAt    time.Time                 `json:"updated_at"`
	ArchivedAt   *time.Time                `json:"archived_at,omitempty"`
}

// orEmpty returns list, or an empty list for nil.
func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func toAgentResponse(a *paddock.Agent) agentResponse {
	status := "active"
	if a.Archived {
		status = "archived"
	}
	return agentResponse{ID: a.ID, Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt, Tags: orEmpty(a.Tags),
		Model: a.Model, Tools: a.Tools, MCPServers: orEmpty(a.MCPServers), Resources: orEmpty(a.Resources), MaxSteps: a.MaxSteps, Environment: a.Environment, Status: status,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, ArchivedAt: a.ArchivedAt}
}

type sessionRequest struct {
	Title string   `json:"title,omitempty" maxLength:"500"`
	Tags  []string `json:"tags,omitempty"`
}

type sessionResponse struct {
	ID            string    `json:"id"`
	AgentID       string    `json:"agent_id"`
	Title         string    `json:"title"`
	Tags          []string  `json:"tags"`
	Status        string    `json:"status" enum:"pending,running,failed"`
	EnvironmentID string    `json:"environment_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toSessionResponse(s *paddock.Session) sessionResponse {
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return sessionResponse{ID: s.ID, AgentID: s.AgentID, Title: s.Title, Tags: tags, Status: string(s.Status),
		EnvironmentID: s.EnvironmentID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type messageRequest struct {
	Message *struct {
		Role    string                `json:"role,omitempty" enum:"user"`
		Content []paddock.ContentPart `json:"content" required:"true"`
	} `json:"message" required:"true"`
}

type pageParams struct {
	Offset int `query:"offset" minimum:"0"`
	Limit  int `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type agentListResponse struct {
	Items []agentResponse `json:"items"`
	Total int             `json:"total"`
}

type sessionListResponse struct {
	Items []sessionResponse `json:"items"`
	Total int               `json:"total"`
}

type messageListResponse struct {
	Items []*paddock.Message `json:"items"`
	Total int                `json:"total"`
}

type eventsParams struct {
	AgentID   string `path:"id"`
	SessionID string `path:"sid"`
	Since     int64  `query:"since" description:"replay events after this sequence number (like Last-Event-ID)"`
	Format    string `query:"format" enum:"json" description:"json lists the events instead of streaming them"`
}

type eventListResponse struct {
	Items []*paddock.Event `json:"items"`
}

type sessionParams struct {
	AgentID   string `path:"id"`
	SessionID string `path:"sid"`
}

// pageSize reads the platform surface's pagination: page (from 1) and
// size (default 20, at most 200).
func pageSize(r *http.Request) (page, size int, err error) {
	if page, err = queryInt(r, "page", 1, 1, 1<<30); err != nil {
		return
	}
	size, err = queryInt(r, "size", 20, 1, 200)
	return
}

func page(r *http.Request) (offset, limit int, err error) {
	if offset, err = queryInt(r, "offset", 0, 0, 1<<30); err != nil {
		return
	}
	limit, err = queryInt(r, "limit", 100, 1, 1000)
	return
}

// agent loads an agent the caller owns (admins: any).
func (s *Server) agent(r *http.Request) (*paddock.Agent, error) {
	id := r.PathValue("id")
	a, err := s.Agents.Agent(r.Context(), id)
	if err == nil && !principal(r).User.IsAdmin() && a.OwnerID != principal(r).User.ID {
		err = paddock.Errorf(paddock.ENotFound, "")
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.ENotFound, "agent %q not found", id)
	}
	return a, err
}

// session loads a session of the agent in the path.
func (s *Server) session(r *http.Request) (*paddock.Agent, *paddock.Session, error) {
	a, err := s.agent(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue("sid")
	sess, err := s.Sessions.Session(r.Context(), sid)
	if err == nil && sess.AgentID != a.ID {
		err = paddock.Errorf(paddock.ENotFound, "")
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, nil, paddock.Errorf(paddock.ENotFound, "session %q of agent %s not found", sid, a.ID)
	}
	return a, sess, err
}

func (s *Server) handleAgentCreate(w http.ResponseWriter, r *http.Request) error {
	var req agentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a := &paddock.Agent{OwnerID: principal(r).User.ID, Name: req.Name, Description: req.Description, SystemPrompt: req.SystemPrompt,
		Tags: req.Tags, Model: req.Model, MCPServers: req.MCPServers, MaxSteps: req.MaxSteps, Environment: req.Environment}
	if err := s.checkMCPNames(r.Context(), a.OwnerID, "mcp_servers", a.MCPServers); err != nil {
		return err
	}
	var err error
	if a.Resources, err = s.usableResources(r.Context(), a.OwnerID, "resources", req.Resources); err != nil {
		return err
	}
	if req.Tools != nil {
		a.Tools = *req.Tools
		if a.Tools == nil {
			a.Tools = []string{}
		}
	}
	if err := validAgent(a); err != nil {
		return err
	}
	if err := s.Agents.CreateAgent(r.Context(), a); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toAgentResponse(a))
}

func (s *Server) handleAgentList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	f := paddock.AgentFilter{Offset: offset, Limit: limit}
	f.OwnerID = ownerScope(r)
	f.IncludeArchived, err = queryBool(r, "include_archived", false)
	if err != nil {
		return err
	}
	agents, total, err := s.Agents.Agents(r.Context(), f)
	if err != nil {
		return err
	}
	out := agentListResponse{Items: make([]agentResponse, len(agents)), Total: total}
	for i, a := range agents {
		out.Items[i] = toAgentResponse(a)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAgentGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.agent(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAgentResponse(a))
}

func (s *Server) handleAgentPatch(w http.ResponseWriter, r *http.Request) error {
	a, err := s.agent(r)
	if err != nil {
		return err
	}
	var req agentPatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	upd := paddock.AgentUpdate{Name: req.Name, Description: req.Description, SystemPrompt: req.SystemPrompt, Model: req.Model,
		Tools: req.Tools, MCPServers: req.MCPServers, MaxSteps: req.MaxSteps, Environment: req.Environment, Tags: req.Tags}
	if req.MCPServers != nil {
		if err := s.checkMCPNames(r.Context(), a.OwnerID, "mcp_servers", *req.MCPServers); err != nil {
			return err
		}
	}
	if req.Resources != nil {
		ids, err := s.usableResources(r.Context(), a.OwnerID, "resources", *req.Resources)
		if err != nil {
			return err
		}
		upd.Resources = &ids
	}
	if req.Name != nil && strings.TrimSpace(*req.Name) == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"name\" must not be empty")
	}
	if req.MaxSteps != nil && *req.MaxSteps < 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"max_steps\" must not be negative")
	}
	if err := checkAgentPatch(upd); err != nil {
		return err
	}
	a, err = s.Agents.UpdateAgent(r.Context(), a.ID, upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAgentResponse(a))
}

func (s *Server) handleAgentDelete(w http.ResponseWriter, r *http.Request) error {
	a, err := s.agent(r)
	if err != nil {
		return err
	}
	if err := s.Agents.ArchiveAgent(r.Context(), a.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleSessionCreate(w http.ResponseWriter, r *http.Request) error {
	a, err := s.agent(r)
	if err != nil {
		return err
	}
	if a.Archived {
		return paddock.Errorf(paddock.EConflict, "agent %s is archived and takes no new sessions", a.ID)
	}
	var req sessionRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if err := validText("title", req.Title, 500); err != nil {
		return err
	}
	sess := &paddock.Session{AgentID: a.ID, OwnerID: principal(r).User.ID, Title: req.Title, Tags: req.Tags, Status: paddock.SessionPending}
	if err := s.Sessions.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toSessionResponse(sess))
}

func (s *Server) handleSessionList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.agent(r)
	if err != nil {
		return err
	}
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	f := paddock.SessionFilter{AgentID: &a.ID, Offset: offset, Limit: limit}
	f.OwnerID = ownerScope(r)
	sessions, total, err := s.Sessions.Sessions(r.Context(), f)
	if err != nil {
		return err
	}
	out := sessionListResponse{Items: make([]sessionResponse, len(sessions)), Total: total}
	for i, sess := range sessions {
		out.Items[i] = toSessionResponse(sess)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSessionGet(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.session(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSessionResponse(sess))
}

func (s *Server) handleSessionDelete(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.session(r)
	if err != nil {
		return err
	}
	if err := s.Runner.DeleteSession(r.Context(), sess.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleSessionCancel(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.session(r)
	if err != nil {
		return err
	}
	run, err := s.Runner.Cancel(r.Context(), sess.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"run_id": run.ID, "status": run.Status})
}

// handleMessageCreate stores a user message and starts (or queues) a run;
// it answers at once with the stored message. An Idempotency-Key makes
// retries safe: the same key and body return the first message and start
// nothing; the same key with another body is 409. The agent and session
// are checked as session does, in the unit of work of the post (reads
// there are cheaper than on their own).
func (s *Server) handleMessageCreate(w http.ResponseWriter, r *http.Request) error {
	id, sid := r.PathValue("id"), r.PathValue("sid")
	u := principal(r).User
	checked := false
	check := func(a *paddock.Agent, sess *paddock.Session) error {
		checked = true
		switch {
		case a.ID != id:
			return paddock.Errorf(paddock.ENotFound, "session %q of agent %s not found", sid, id)
		case !u.IsAdmin() && a.OwnerID != u.ID:
			return paddock.Errorf(paddock.ENotFound, "agent %q not found", id)
		case a.Archived:
			return paddock.Errorf(paddock.EConflict, "agent %s is archived", a.ID)
		}
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return s.jsonError(err)
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	var req messageRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Message == nil {
		return paddock.Errorf(paddock.EInvalid, "field \"message\" is required: {\"message\": {\"content\": [{\"type\": \"text\", \"text\": \"...\"}]}}")
	}
	if len(req.Message.Content) == 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"message.content\" must hold at least one part")
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return paddock.Errorf(paddock.EInvalid, "Idempotency-Key is longer than 255 characters")
	}
	sum := sha256.Sum256(body)
	msg, err := s.Runner.PostChecked(r.Context(), sid, check, &paddock.Message{Role: paddock.MessageRole(req.Message.Role), Content: req.Message.Content}, key, hex.EncodeToString(sum[:]))
	if paddock.ErrorCode(err) == paddock.ENotFound && !checked { // no such session
		return paddock.Errorf(paddock.ENotFound, "session %q of agent %s not found", sid, id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, msg)
}

func (s *Server) handleMessageList(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.session(r)
	if err != nil {
		return err
	}
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	msgs, total, err := s.Messages.Messages(r.Context(), paddock.MessageFilter{SessionID: sess.ID, Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []*paddock.Message{}
	}
	return writeJSON(w, http.StatusOK, messageListResponse{Items: msgs, Total: total})
}

// handleSessionEvents streams the session's events over SSE (id: = the
// event's sequence number; a reconnect with Last-Event-ID or ?since=
// replays the gap), or lists them with ?format=json or Accept:
// application/json.
func (s *Server) handleSessionEvents(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.session(r)
	if err != nil {
		return err
	}
	var since int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			return paddock.Errorf(paddock.EInvalid, "Last-Event-ID must be an event sequence number, not %q", v)
		}
	} else if v := r.URL.Query().Get("since"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"since\" must be an event sequence number, not %q", v)
		}
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	default:
		return paddock.Errorf(paddock.EInvalid, "query parameter \"format\" must be json (a list), or absent for the SSE stream; not %q", f)
	}
	if r.URL.Query().Get("format") == "json" || (strings.Contains(r.Header.Get("Accept"), "application/json") && !wantsSSE(r)) {
		events, err := s.Events.Events(r.Context(), sess.ID, since, 0)
		if err != nil {
			return err
		}
		if events == nil {
			events = []*paddock.Event{}
		}
		return writeJSON(w, http.StatusOK, eventListResponse{Items: events})
	}
	ch := s.FollowEvents(r.Context(), sess.ID, since)
	sse := startSSE(w)
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			// Write the events that are ready too, then flush once: the
			// events of one commit reach the client in one write, which
			// matters when a session has many subscribers.
			for n := 1; ev != nil; n++ {
				frame, err := s.frames.frame(ev)
				if err != nil {
					return err
				}
				if err := sse.writeFrame(frame); err != nil {
					return nil
				}
				ev = nil
				if n < sseBurst {
					select {
					case ev = <-ch: // nil once closed: flushed below, then returned
					default:
					}
				}
			}
			if err := sse.flush(); err != nil {
				return nil
			}
		case <-beat.C:
			if err := sse.comment("keep-alive"); err != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		}
	}
}
