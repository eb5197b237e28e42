package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/document"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// The assistants surface (seed 001) is a view of agents: an assistant is
// an agent (llmPrompt is its system prompt, llmProvider/llmModel its
// model), a session is a session. Stateless execution runs the agent loop
// in memory (agent.Runner.Execute); session execution posts to the
// session and follows its events until the run ends.

type assistantResponse struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	LLMProvider string   `json:"llmProvider" enum:"openai,anthropic,google"`
	LLMModel    string   `json:"llmModel"`
	LLMPrompt   string   `json:"llmPrompt"`
	Tools       []string `json:"tools"`
	Tags        []string `json:"tags"`
	CreatedAt   int64    `json:"created_at" description:"Unix seconds"`
	UpdatedAt   int64    `json:"updated_at" description:"Unix seconds"`
}

type assistantListResponse struct {
	Data  []assistantResponse `json:"data"`
	Total int                 `json:"total"`
}

type assistantRequest struct {
	Name        string    `json:"name" required:"true"`
	Description string    `json:"description,omitempty"`
	LLMProvider *string   `json:"llmProvider,omitempty" enum:"openai,anthropic,google"`
	LLMModel    *string   `json:"llmModel,omitempty" description:"a model id or name of the seed's table (GPT-4o, Claude Sonnet 4.5, Gemini 2.5 Flash...); other ids are passed to the provider"`
	LLMPrompt   string    `json:"llmPrompt,omitempty"`
	Tools       *[]string `json:"tools,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
}

type assistantPatchRequest struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	LLMProvider *string   `json:"llmProvider,omitempty" enum:"openai,anthropic,google"`
	LLMModel    *string   `json:"llmModel,omitempty"`
	LLMPrompt   *string   `json:"llmPrompt,omitempty"`
	Tools       *[]string `json:"tools,omitempty"`
	Tags        *[]string `json:"tags,omitempty"`
}

type attachment struct {
	FileName string `json:"fileName" required:"true"`
	MimeType string `json:"mimeType"`
	Data     string `json:"data" required:"true" description:"base64 (a data: URL is accepted too)"`
}

type executeRequest struct {
	UserInput      string          `json:"userInput" required:"true"`
	Attachments    []attachment    `json:"attachments,omitempty"`
	ResponseFormat json.RawMessage `json:"responseFormat,omitempty" description:"{\"type\":\"json_object\"} or {\"type\":\"json_schema\",\"json_schema\":{\"name\":...,\"schema\":{...}}}"`
}

type userInputRequest struct {
	SessionID   string       `json:"sessionId,omitempty" description:"omit to start a new session"`
	UserInput   string       `json:"userInput" required:"true"`
	Attachments []attachment `json:"attachments,omitempty"`
}

type textValue struct {
	Value string `json:"value"`
}

type fileRef struct {
	FileName string `json:"fileName,omitempty"`
	MimeType string `json:"mimeType"`
	Size     int    `json:"size"`
}

type toolCallRef struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type toolResultRef struct {
	ToolCallID string `json:"tool_call_id"`
	Result     string `json:"result"`
	IsError    bool   `json:"is_error"`
}

// assistantContent is one content part in seed 001's form: text as
// {"type":"text","text":{"value":...}}, the others alike.
type assistantContent struct {
	Type       string         `json:"type" enum:"text,image,file,tool_call,tool_result"`
	Text       *textValue     `json:"text,omitempty"`
	Image      *fileRef       `json:"image,omitempty"`
	File       *fileRef       `json:"file,omitempty"`
	ToolCall   *toolCallRef   `json:"tool_call,omitempty"`
	ToolResult *toolResultRef `json:"tool_result,omitempty"`
}

type assistantMessage struct {
	ID          string             `json:"id"`
	Role        string             `json:"role" enum:"user,assistant,tool"`
	Content     []assistantContent `json:"content"`
	CreatedAt   int64              `json:"created_at" description:"Unix seconds"`
	AssistantID string             `json:"assistant_id"`
	SessionID   string             `json:"session_id,omitempty"`
	Usage       *paddock.Usage     `json:"usage,omitempty"`
}

type assistantMessageList struct {
	Data    []assistantMessage `json:"data"`
	Total   int                `json:"total"`
	HasMore bool               `json:"has_more"`
}

type assistantSessionRequest struct {
	AssistantID string `json:"assistantId" required:"true"`
	Title       string `json:"title,omitempty" maxLength:"500"`
}

type assistantSession struct {
	ID          string `json:"id"`
	AssistantID string `json:"assistant_id"`
	Title       string `json:"title"`
	Status      string `json:"status" enum:"pending,running,failed"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

type assistantSessionList struct {
	Data  []assistantSession `json:"data"`
	Total int                `json:"total"`
}

type assistantRefParam struct {
	ID string `path:"id" description:"the assistant's id or its unique name"`
}

type assistantSessionParam struct {
	ID string `path:"id" description:"the session's id"`
}

type assistantMessagesParams struct {
	ID     string `path:"id" description:"the session's id"`
	Offset int    `query:"offset" minimum:"0"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type assistantSessionListParams struct {
	AssistantID string `query:"assistantId"`
	Offset      int    `query:"offset" minimum:"0"`
	Limit       int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// streamFrame is one data: frame of seed 001's event stream. Clients read
// token and done; the others are extensions they may ignore.
type streamFrame struct {
	Type      string            `json:"type" enum:"token,tool_call,tool_output,tool_result,environment,message,error,done"`
	Value     string            `json:"value,omitempty"`
	ID        string            `json:"id,omitempty"`
	Name      string            `json:"name,omitempty"`
	Arguments json.RawMessage   `json:"arguments,omitempty"`
	Stream    string            `json:"stream,omitempty"`
	Result    *string           `json:"result,omitempty"`
	IsError   bool              `json:"is_error,omitempty"`
	Message   *assistantMessage `json:"message,omitempty"`
}

func unix(t time.Time) int64 { return t.Unix() }

func toAssistant(a *paddock.Agent, defaultModel string) assistantResponse {
	provider, model := llm.ParseModel(a.Model)
	if a.Model == "" {
		provider, model = llm.ParseModel(defaultModel)
	}
	tools := a.Tools
	if tools == nil {
		tools = agent.Tools()
	}
	return assistantResponse{ID: a.ID, Name: a.Name, Description: a.Description, LLMProvider: provider, LLMModel: model,
		LLMPrompt: a.SystemPrompt, Tools: tools, Tags: orEmpty(a.Tags), CreatedAt: unix(a.CreatedAt), UpdatedAt: unix(a.UpdatedAt)}
}

// assistantModel resolves llmProvider and llmModel against the model
// catalog into "provider/model". current is the agent's model ("" for a
// new agent). A model of the catalog may be named by id or display name;
// other models pass through to the provider.
func (s *Server) assistantModel(current string, provider, model *string) (string, error) {
	curProvider, curModel := llm.ParseModel(current)
	if current == "" {
		curProvider, curModel = llm.ParseModel(s.cfg.DefaultModel)
	}
	p := curProvider
	if provider != nil {
		switch strings.ToLower(strings.TrimSpace(*provider)) {
		case llm.OpenAI:
			p = llm.OpenAI
		case llm.Anthropic:
			p = llm.Anthropic
		case llm.Google, "gemini":
			p = llm.Google
		default:
			return "", paddock.Errorf(paddock.EInvalid, "llmProvider %q is not supported: use openai, anthropic or google", *provider)
		}
	}
	if model == nil {
		if p != curProvider {
			return "", paddock.Errorf(paddock.EInvalid, "llmModel is required when llmProvider changes (models of %s: %s)", p, strings.Join(s.modelNames(p), ", "))
		}
		if current == "" {
			return "", nil // the configured default
		}
		return p + "/" + curModel, nil
	}
	m := strings.TrimSpace(*model)
	if m == "" {
		return "", paddock.Errorf(paddock.EInvalid, "llmModel must not be empty")
	}
	for _, info := range s.Catalog.Models() {
		if (provider == nil || info.Provider == p) && (strings.EqualFold(m, info.ID) || strings.EqualFold(m, info.DisplayName) ||
			strings.EqualFold(m, info.Provider+"/"+info.ID)) {
			return info.Provider + "/" + info.ID, nil
		}
	}
	if mp, id := llm.ParseModel(m); mp != "" {
		if provider != nil && mp != p {
			return "", paddock.Errorf(paddock.EInvalid, "llmModel %q is a %s model, not %s", m, mp, p)
		}
		return mp + "/" + id, nil
	}
	if p == "" {
		return "", paddock.Errorf(paddock.EInvalid, "cannot tell the provider of llmModel %q: set llmProvider", m)
	}
	return p + "/" + m, nil // unknown to the catalog: passed through
}

// validAgent checks an agent's settings before it is stored, so that one
// that could never run is refused now rather than at its first model or
// tool call: Agent.Validate, then what the root package cannot know (the
// providers, the built-in tools, the sandbox's quantities).
func validAgent(a *paddock.Agent) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := checkAgentModel(a.Model); err != nil {
		return err
	}
	if err := checkAgentTools(a.Tools); err != nil {
		return err
	}
	return checkAgentEnvironment(a.Environment)
}

// checkAgentPatch checks what upd changes that Agent.Validate, which the
// store applies to the patched agent, cannot know: the model, tools and
// environment (an agent stored before these checks may still be patched
// otherwise).
func checkAgentPatch(upd paddock.AgentUpdate) error {
	if upd.Model != nil {
		if err := checkAgentModel(*upd.Model); err != nil {
			return err
		}
	}
	if upd.Tools != nil {
		if err := checkAgentTools(*upd.Tools); err != nil {
			return err
		}
	}
	return checkAgentEnvironment(upd.Environment)
}

// checkAgentModel checks an agent's model: "" (the configured default), or
// a name whose provider is known, as the agent loop reads it
// (llm.ParseModel): "provider/model", or a model id the provider is
// inferred from (gpt-..., claude-..., gemini-...).
func checkAgentModel(model string) error {
	if model == "" {
		return nil
	}
	p, id := llm.ParseModel(model)
	if p == "" || strings.TrimSpace(id) == "" || strings.ContainsFunc(model, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		return paddock.Errorf(paddock.EInvalid, "field \"model\" must be provider/model with provider %s, %s or %s (or gemini), e.g. openai/gpt-4o-mini; not %q",
			llm.OpenAI, llm.Anthropic, llm.Google, model)
	}
	return nil
}

// agentToolNames are the tools an agent may name: the built-in ones and
// web_search (offered when a search provider is configured).
func agentToolNames() []string { return append(agent.Tools(), agent.ToolWebSearch) }

// checkAgentTools checks that an agent names only tools that exist: an
// unknown name would silently give the agent no such tool.
func checkAgentTools(tools []string) error {
	known := agentToolNames()
	for i, t := range tools {
		if !slices.Contains(known, t) {
			return paddock.Errorf(paddock.EInvalid, "field \"tools[%d]\": unknown tool %q; the tools are %s", i, t, strings.Join(known, ", "))
		}
	}
	return nil
}

// checkAgentEnvironment checks the resources of an agent's environment as
// the sandbox will parse them when the agent's first tool call creates it;
// empty ones take the runtime's defaults.
func checkAgentEnvironment(env *paddock.AgentEnvironment) error {
	if env == nil {
		return nil
	}
	for _, q := range []struct {
		name, v string
		parse   func(string) (int64, error)
	}{{"cpu", env.Resources.CPU, sandbox.ParseCPU}, {"memory", env.Resources.Memory, sandbox.ParseBytes}, {"storage", env.Resources.Storage, sandbox.ParseBytes}} {
		if strings.TrimSpace(q.v) == "" {
			continue
		}
		if _, err := q.parse(q.v); err != nil {
			return paddock.Errorf(paddock.EInvalid, "field \"environment.resources.%s\": %v", q.name, err)
		}
	}
	return nil
}

func (s *Server) modelNames(provider string) []string {
	var names []string
	for _, m := range s.Catalog.Models() {
		if m.Provider == provider {
			names = append(names, m.ID)
		}
	}
	return names
}

// assistant loads the assistant in the path, by id or by the caller's
// unique name.
func (s *Server) assistant(ctx context.Context, r *http.Request, ref string) (*paddock.Agent, error) {
	p := principal(r)
	a, err := s.Agents.Agent(ctx, ref)
	if err == nil && (p.User.IsAdmin() || a.OwnerID == p.User.ID) {
		return a, nil
	}
	if err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		return nil, err
	}
	a, err = s.agentNamed(ctx, p.User.ID, ref)
	if err == nil && a == nil {
		err = paddock.Errorf(paddock.ENotFound, "assistant %q not found", ref)
	}
	return a, err
}

// agentNamed returns the owner's (non-archived) agent named name, or nil.
func (s *Server) agentNamed(ctx context.Context, ownerID int64, name string) (*paddock.Agent, error) {
	agents, _, err := s.Agents.Agents(ctx, paddock.AgentFilter{OwnerID: &ownerID, Name: &name, Limit: 1})
	if err != nil || len(agents) == 0 {
		return nil, err
	}
	return agents[0], nil
}

func (s *Server) handleAssistantList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	f := paddock.AgentFilter{Offset: offset, Limit: limit}
	f.OwnerID = ownerScope(r)
	agents, total, err := s.Agents.Agents(r.Context(), f)
	if err != nil {
		return err
	}
	out := assistantListResponse{Data: make([]assistantResponse, len(agents)), Total: total}
	for i, a := range agents {
		out.Data[i] = toAssistant(a, s.cfg.DefaultModel)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAssistantCreate(w http.ResponseWriter, r *http.Request) error {
	var req assistantRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	model, err := s.assistantModel("", req.LLMProvider, req.LLMModel)
	if err != nil {
		return err
	}
	a := &paddock.Agent{OwnerID: principal(r).User.ID, Name: req.Name, Description: req.Description,
		SystemPrompt: req.LLMPrompt, Model: model, Tags: req.Tags}
	if req.Tools != nil {
		a.Tools = append([]string{}, *req.Tools...)
	}
	if err := validAgent(a); err != nil {
		return err
	}
	if err := s.Agents.CreateAgent(r.Context(), a); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toAssistant(a, s.cfg.DefaultModel))
}

func (s *Server) handleAssistantGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.assistant(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAssistant(a, s.cfg.DefaultModel))
}

func (s *Server) handleAssistantPatch(w http.ResponseWriter, r *http.Request) error {
	a, err := s.assistant(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	var req assistantPatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil && strings.TrimSpace(*req.Name) == "" {
		return paddock.Errorf(paddock.EInvalid, "name must not be empty")
	}
	upd := paddock.AgentUpdate{Name: req.Name, Description: req.Description, SystemPrompt: req.LLMPrompt, Tools: req.Tools, Tags: req.Tags}
	if req.LLMProvider != nil || req.LLMModel != nil {
		model, err := s.assistantModel(a.Model, req.LLMProvider, req.LLMModel)
		if err != nil {
			return err
		}
		upd.Model = &model
	}
	if err := checkAgentPatch(upd); err != nil {
		return err
	}
	if a, err = s.Agents.UpdateAgent(r.Context(), a.ID, upd); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAssistant(a, s.cfg.DefaultModel))
}

func (s *Server) handleAssistantDelete(w http.ResponseWriter, r *http.Request) error {
	a, err := s.assistant(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Agents.ArchiveAgent(r.Context(), a.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readAssistantBody reads a body that may carry attachments, up to the
// attachment limit plus the usual JSON limit, and returns it with its
// hash (for idempotency).
func (s *Server) readAssistantBody(w http.ResponseWriter, r *http.Request, v any) (string, error) {
	limit := s.cfg.MaxAttachmentBytes*4/3 + 4 + s.cfg.MaxBodyBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return "", s.jsonError(err)
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if err := s.decodeJSONLimit(w, r, v, limit); err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// userMessage builds the user message of userInput and its attachments:
// images as images, text files as files (read as text by the model), PDFs
// as files (read as their extracted text).
func (s *Server) userMessage(userInput string, atts []attachment) (*paddock.Message, error) {
	if strings.TrimSpace(userInput) == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "userInput is required")
	}
	parts := []paddock.ContentPart{paddock.TextPart(userInput)}
	var total int64
	for i, a := range atts {
		if strings.TrimSpace(a.FileName) == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "attachments[%d].fileName is required", i)
		}
		if a.Data == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "attachments[%d].data is required (base64)", i)
		}
		mimeType, data, err := decodeAttachment(a)
		if err != nil {
			return nil, paddock.Errorf(paddock.EInvalid, "attachments[%d].data is not valid base64: %v", i, err)
		}
		if total += int64(len(data)); total > s.cfg.MaxAttachmentBytes {
			return nil, paddock.Errorf(paddock.ETooLarge, "attachments exceed %d bytes in all (at %q)", s.cfg.MaxAttachmentBytes, a.FileName)
		}
		kind, mt, err := document.Classify(a.FileName, mimeType, data)
		if err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(data)
		switch kind {
		case document.Image:
			parts = append(parts, paddock.ContentPart{Type: paddock.PartImage, Name: a.FileName, MIMEType: mt, Data: enc})
		case document.PDF:
			if _, err := document.PDFText(data); err != nil {
				return nil, paddock.Errorf(paddock.EInvalid, "attachment %q: %s", a.FileName, paddock.ErrorMessage(err))
			}
			fallthrough
		default:
			parts = append(parts, paddock.ContentPart{Type: paddock.PartFile, Name: a.FileName, MIMEType: mt, Data: enc})
		}
	}
	return &paddock.Message{Role: paddock.MessageUser, Content: parts}, nil
}

// decodeAttachment decodes base64 data, standard or URL-safe, padded or
// not, or a data: URL (whose type is used when mimeType is empty).
func decodeAttachment(a attachment) (string, []byte, error) {
	data, mimeType := strings.TrimSpace(a.Data), a.MimeType
	if rest, ok := strings.CutPrefix(data, "data:"); ok {
		meta, payload, found := strings.Cut(rest, ",")
		if !found || !strings.HasSuffix(meta, ";base64") {
			return "", nil, fmt.Errorf("a data: URL must be base64-encoded")
		}
		if mimeType == "" {
			mimeType = strings.TrimSuffix(meta, ";base64")
		}
		data = payload
	}
	data = strings.TrimRight(data, "=")
	if strings.ContainsAny(data, "-_") {
		b, err := base64.RawURLEncoding.DecodeString(data)
		return mimeType, b, err
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	return mimeType, b, err
}

// seedMessageID is an id in seed 001's form: msg_<unix ms>_<random>.
func seedMessageID() string {
	return fmt.Sprintf("msg_%d_%s", time.Now().UnixMilli(), strings.ToLower(rand.Text()[:6]))
}

func toAssistantMessage(m *paddock.Message, assistantID string) assistantMessage {
	out := assistantMessage{ID: m.ID, Role: string(m.Role), Content: []assistantContent{}, CreatedAt: unix(m.CreatedAt),
		AssistantID: assistantID, SessionID: m.SessionID, Usage: m.Usage}
	for _, p := range m.Content {
		switch p.Type {
		case paddock.PartText:
			out.Content = append(out.Content, assistantContent{Type: "text", Text: &textValue{Value: p.Text}})
		case paddock.PartImage:
			out.Content = append(out.Content, assistantContent{Type: "image", Image: &fileRef{FileName: p.Name, MimeType: p.MIMEType, Size: base64.StdEncoding.DecodedLen(len(p.Data))}})
		case paddock.PartFile:
			out.Content = append(out.Content, assistantContent{Type: "file", File: &fileRef{FileName: p.Name, MimeType: p.MIMEType, Size: base64.StdEncoding.DecodedLen(len(p.Data))}})
		case paddock.PartToolCall:
			out.Content = append(out.Content, assistantContent{Type: "tool_call", ToolCall: &toolCallRef{ID: p.ID, Name: p.Name, Arguments: p.Arguments}})
		case paddock.PartToolResult:
			out.Content = append(out.Content, assistantContent{Type: "tool_result", ToolResult: &toolResultRef{ToolCallID: p.ToolCallID, Result: p.Result, IsError: p.IsError}})
		}
	}
	return out
}

// reply is the answer of an execution in seed 001's shape: one text part.
func reply(id, text, assistantID, sessionID string, created time.Time, usage *paddock.Usage) *assistantMessage {
	return &assistantMessage{ID: id, Role: "assistant", Content: []assistantContent{{Type: "text", Text: &textValue{Value: text}}},
		CreatedAt: unix(created), AssistantID: assistantID, SessionID: sessionID, Usage: usage}
}

// frames streams seed 001's frames: data-only SSE events, with keep-alive
// comments while nothing else is sent.
type frames struct {
	sse      *sseWriter
	lastStep int  // step of the last token
	wrote    bool // a token was sent
}

func (f *frames) send(fr streamFrame) error {
	b, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	return f.sse.event("", "", string(b))
}

// token sends a text delta of a step; text of a later step is separated
// from the earlier text by a blank line, as in the final reply.
func (f *frames) token(step int, text string) error {
	if text == "" {
		return nil
	}
	if f.wrote && step > f.lastStep {
		text = "\n\n" + text
	}
	f.lastStep, f.wrote = step, true
	return f.send(streamFrame{Type: "token", Value: text})
}

// event sends the frame of a run or execution event, if it has one.
func (f *frames) event(e *paddock.Event) error {
	switch e.Type {
	case paddock.EventMessageDelta:
		var d paddock.DeltaEvent
		if json.Unmarshal(e.Data, &d) == nil {
			return f.token(d.Step, d.Delta)
		}
	case paddock.EventToolStarted, paddock.EventToolOutput, paddock.EventToolCompleted:
		var t paddock.ToolEvent
		if json.Unmarshal(e.Data, &t) != nil {
			return nil
		}
		fr := streamFrame{ID: t.ToolCallID, Name: t.Name}
		switch e.Type {
		case paddock.EventToolStarted:
			fr.Type, fr.Arguments = "tool_call", t.Arguments
		case paddock.EventToolOutput:
			fr.Type, fr.Stream, fr.Value = "tool_output", t.Stream, t.Output
		default:
			fr.Type, fr.Result, fr.IsError = "tool_result", t.Result, t.IsError
		}
		return f.send(fr)
	case paddock.EventEnvironmentReady:
		var env paddock.EnvironmentEvent
		if json.Unmarshal(e.Data, &env) == nil {
			return f.send(streamFrame{Type: "environment", ID: env.EnvironmentID})
		}
	}
	return nil
}

// fail sends an error frame: {"type":"error","message":"..."}.
func (f *frames) fail(err error) error {
	b, _ := json.Marshal(map[string]string{"type": "error", "message": paddock.ErrorMessage(err), "code": assistantsErrors[codeOf(err)]})
	return f.sse.event("", "", string(b))
}

// end sends the final message and done, or the error.
func (f *frames) end(msg *assistantMessage, err error) {
	if err != nil {
		_ = f.fail(err)
		return
	}
	_ = f.send(streamFrame{Type: "message", Message: msg})
	_ = f.sse.event("", "", `{"type":"done"}`)
}

func codeOf(err error) string {
	code := paddock.ErrorCode(err)
	if _, ok := statusOf[code]; !ok {
		return paddock.EInternal
	}
	return code
}

func (s *Server) handleAssistantExecute(w http.ResponseWriter, r *http.Request) error {
	a, err := s.assistant(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if a.Archived {
		return paddock.Errorf(paddock.EConflict, "assistant %s is archived", a.ID)
	}
	var req executeRequest
	if _, err := s.readAssistantBody(w, r, &req); err != nil {
		return err
	}
	if err := s.Credits.Check(r.Context(), principal(r).User.ID); err != nil {
		return err
	}
	msg, err := s.userMessage(req.UserInput, req.Attachments)
	if err != nil {
		return err
	}
	format, err := agent.ParseFormat(req.ResponseFormat)
	if err != nil {
		return err
	}
	x := agent.ExecuteRequest{Agent: a, OwnerID: principal(r).User.ID, Messages: []*paddock.Message{msg}, ResponseFormat: format}
	id := seedMessageID()
	if !wantsSSE(r) {
		// A client that goes away cancels the execution: nobody would read it.
		res, err := s.Runner.Execute(r.Context(), x)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, reply(id, res.Message.Text(), a.ID, "", res.Message.CreatedAt, &res.Usage))
	}
	return s.streamFrames(w, r, func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error) {
		x.OnEvent = emit
		res, err := s.Runner.Execute(ctx, x)
		if err != nil {
			return nil, err
		}
		return reply(id, res.Message.Text(), a.ID, "", res.Message.CreatedAt, &res.Usage), nil
	})
}

// streamRenderer renders the events of a run or execution as one
// surface's SSE stream, and its end.
type streamRenderer interface {
	event(e *paddock.Event) error
	end(msg *assistantMessage, err error)
}

// streamWork answers with an event stream: work runs with the request's
// context and emits events; r renders them, then the end, from this
// goroutine only, with keep-alive comments every heartbeatEvery.
func (s *Server) streamWork(w http.ResponseWriter, r *http.Request, sse *sseWriter, rd streamRenderer, work func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error)) error {
	events := make(chan *paddock.Event, 256)
	type result struct {
		msg *assistantMessage
		err error
	}
	out := make(chan result, 1)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		msg, err := work(ctx, func(e *paddock.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
		out <- result{msg, err}
	}()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case e := <-events:
			if err := rd.event(e); err != nil {
				return nil // the client left
			}
		case <-beat.C:
			if err := sse.comment("keep-alive"); err != nil {
				return nil
			}
		case res := <-out:
			for drained := false; !drained; {
				select {
				case e := <-events:
					_ = rd.event(e)
				default:
					drained = true
				}
			}
			if res.err != nil && codeOf(res.err) == paddock.EInternal {
				s.log.ErrorContext(r.Context(), "stream failed", "request_id", requestID(r.Context()), "path", r.URL.Path, "err", res.err)
				res.err = paddock.Errorf(paddock.EInternal, "internal error (request id %s)", requestID(r.Context()))
			}
			rd.end(res.msg, res.err)
			return nil
		}
	}
}

// streamFrames answers with seed 001's event stream.
func (s *Server) streamFrames(w http.ResponseWriter, r *http.Request, work func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error)) error {
	f := &frames{sse: startSSE(w)}
	return s.streamWork(w, r, f.sse, f, work)
}

// sessionFor returns the session of a user-input request: the named one,
// which must belong to the caller and the assistant, or a new one. A name
// of the client's own choosing (not a Paddock "ses_" id) names the
// caller's session of the assistant by that key, created on its first
// message as seed 001 says.
func (s *Server) sessionFor(r *http.Request, a *paddock.Agent, id, firstInput string) (*paddock.Session, error) {
	if id != "" && !isSessionID(id) {
		if len(id) > 255 {
			return nil, paddock.Errorf(paddock.EInvalid, "sessionId is longer than 255 characters")
		}
		return s.keyedSession(r.Context(), a, principal(r).User.ID, id)
	}
	if id != "" {
		sess, err := s.ownSession(r, id)
		if err != nil {
			return nil, err
		}
		if sess.AgentID != a.ID {
			return nil, paddock.Errorf(paddock.ENotFound, "session %q not found for assistant %q", id, a.Name)
		}
		return sess, nil
	}
	title := strings.TrimSpace(firstInput)
	if utf8.RuneCountInString(title) > 60 {
		title = string([]rune(title)[:60]) + "…"
	}
	sess := &paddock.Session{AgentID: a.ID, OwnerID: principal(r).User.ID, Title: title, Status: paddock.SessionPending}
	if err := s.Sessions.CreateSession(r.Context(), sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// isSessionID reports whether id is of the form of Paddock's own session
// ids; any other name is a key a client chose.
func isSessionID(id string) bool { return strings.HasPrefix(id, "ses_") }

// ownSession loads a session the caller owns (admins: any) by its id, or
// one of the caller's own by the key a client chose for it (seed 001's
// sessionId, seed 000's session_id and thread_id).
func (s *Server) ownSession(r *http.Request, id string) (*paddock.Session, error) {
	var sess *paddock.Session
	var err error
	if isSessionID(id) {
		sess, err = s.Sessions.Session(r.Context(), id)
	} else {
		sess, err = s.sessionByKey(r.Context(), principal(r).User.ID, id)
	}
	if err == nil && !principal(r).User.IsAdmin() && sess.OwnerID != principal(r).User.ID {
		err = paddock.Errorf(paddock.ENotFound, "")
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.ENotFound, "session %q not found", id)
	}
	return sess, err
}

func (s *Server) handleAssistantUserInput(w http.ResponseWriter, r *http.Request) error {
	a, err := s.assistant(r.Context(), r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if a.Archived {
		return paddock.Errorf(paddock.EConflict, "assistant %s is archived", a.ID)
	}
	var req userInputRequest
	hash, err := s.readAssistantBody(w, r, &req)
	if err != nil {
		return err
	}
	if err := s.Credits.Check(r.Context(), principal(r).User.ID); err != nil {
		return err
	}
	msg, err := s.userMessage(req.UserInput, req.Attachments)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return paddock.Errorf(paddock.EInvalid, "Idempotency-Key is longer than 255 characters")
	}
	sess, err := s.sessionFor(r, a, req.SessionID, req.UserInput)
	if err != nil {
		return err
	}
	since := sess.LastEventSeq
	if key != "" {
		since = 0 // a retry may name a run that has ended: find its events
	}
	posted, err := s.Runner.Post(r.Context(), sess.ID, msg, key, hash)
	if err != nil {
		return err
	}
	w.Header().Set("X-Session-Id", sess.ID)
	// The run belongs to the session: a client that leaves stops only the
	// following, never the run.
	wait := func(ctx context.Context, onEvent func(*paddock.Event)) (*assistantMessage, error) {
		return s.awaitRun(ctx, a, sess.ID, posted.RunID, since, onEvent)
	}
	if !wantsSSE(r) {
		m, err := wait(r.Context(), nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, m)
	}
	return s.streamFrames(w, r, func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error) {
		return wait(ctx, emit)
	})
}

// awaitRun follows the session's events after since until run ends,
// passing the run's events to onEvent, and returns the run's reply: the
// text of its assistant messages, with their summed usage.
func (s *Server) awaitRun(ctx context.Context, a *paddock.Agent, sessionID, runID string, since int64, onEvent func(*paddock.Event)) (*assistantMessage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for e := range s.FollowEvents(ctx, sessionID, since) {
		if e.RunID != runID {
			continue
		}
		switch e.Type {
		case paddock.EventRunCompleted:
			return s.runReply(ctx, a, sessionID, runID)
		case paddock.EventRunFailed, paddock.EventRunCancelled:
			var re paddock.RunEvent
			_ = json.Unmarshal(e.Data, &re)
			if e.Type == paddock.EventRunCancelled {
				return nil, paddock.Errorf(paddock.EConflict, "the run was cancelled")
			}
			return nil, paddock.Errorf(paddock.EUnavailable, "the run failed: %s", re.Error)
		}
		if onEvent != nil {
			onEvent(e)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, paddock.Errorf(paddock.EUnavailable, "the session's event stream ended before the run did")
}

func (s *Server) runReply(ctx context.Context, a *paddock.Agent, sessionID, runID string) (*assistantMessage, error) {
	msgs, _, err := s.Messages.Messages(ctx, paddock.MessageFilter{SessionID: sessionID, RunID: &runID})
	if err != nil {
		return nil, err
	}
	var texts []string
	var last *paddock.Message
	usage := &paddock.Usage{}
	for _, m := range msgs {
		if m.Role != paddock.MessageAssistant {
			continue
		}
		last = m
		if t := strings.TrimSpace(m.Text()); t != "" {
			texts = append(texts, m.Text())
		}
		if m.Usage != nil {
			usage.Add(m.Usage)
		}
	}
	if last == nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "the run ended without an answer")
	}
	return reply(last.ID, strings.Join(texts, "\n\n"), a.ID, sessionID, last.CreatedAt, usage), nil
}

func toAssistantSession(sess *paddock.Session) assistantSession {
	return assistantSession{ID: sess.ID, AssistantID: sess.AgentID, Title: sess.Title, Status: string(sess.Status),
		CreatedAt: unix(sess.CreatedAt), UpdatedAt: unix(sess.UpdatedAt)}
}

func (s *Server) handleAssistantSessionCreate(w http.ResponseWriter, r *http.Request) error {
	var req assistantSessionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.AssistantID) == "" {
		return paddock.Errorf(paddock.EInvalid, "assistantId is required")
	}
	a, err := s.assistant(r.Context(), r, req.AssistantID)
	if err != nil {
		return err
	}
	if a.Archived {
		return paddock.Errorf(paddock.EConflict, "assistant %s is archived and takes no new sessions", a.ID)
	}
	if err := validText("title", req.Title, 500); err != nil {
		return err
	}
	sess := &paddock.Session{AgentID: a.ID, OwnerID: principal(r).User.ID, Title: req.Title, Status: paddock.SessionPending}
	if err := s.Sessions.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toAssistantSession(sess))
}

func (s *Server) handleAssistantSessionList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	f := paddock.SessionFilter{Offset: offset, Limit: limit}
	f.OwnerID = ownerScope(r)
	if ref := r.URL.Query().Get("assistantId"); ref != "" {
		a, err := s.assistant(r.Context(), r, ref)
		if err != nil {
			return err
		}
		f.AgentID = &a.ID
	}
	sessions, total, err := s.Sessions.Sessions(r.Context(), f)
	if err != nil {
		return err
	}
	out := assistantSessionList{Data: make([]assistantSession, len(sessions)), Total: total}
	for i, sess := range sessions {
		out.Data[i] = toAssistantSession(sess)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAssistantSessionGet(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.ownSession(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAssistantSession(sess))
}

func (s *Server) handleAssistantSessionDelete(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.ownSession(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Runner.DeleteSession(r.Context(), sess.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAssistantSessionMessages(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.ownSession(r, r.PathValue("id"))
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
	out := assistantMessageList{Data: make([]assistantMessage, len(msgs)), Total: total, HasMore: offset+len(msgs) < total}
	for i, m := range msgs {
		out.Data[i] = toAssistantMessage(m, sess.AgentID)
	}
	return writeJSON(w, http.StatusOK, out)
}

type usageParams struct {
	AgentID   string `query:"agent_id"`
	SessionID string `query:"session_id"`
	UserID    int64  `query:"user_id" description:"admins: one user's usage (default: everyone's)"`
	Since     string `query:"since" description:"RFC 3339 time or Unix seconds, inclusive"`
	Until     string `query:"until" description:"RFC 3339 time or Unix seconds, exclusive"`
}

type usageResponse struct {
	Calls             int64   `json:"calls"`
	InputTokens       int64   `json:"input_tokens" description:"every input token, cached or not"`
	CachedInputTokens int64   `json:"cached_input_tokens" description:"of input_tokens, read from the provider's prompt cache"`
	CacheWriteTokens  int64   `json:"cache_write_tokens" description:"of input_tokens, written to the provider's prompt cache"`
	OutputTokens      int64   `json:"output_tokens"`
	Cost              float64 `json:"cost" description:"USD"`
}

// usageFilter reads the usage filters of a request: the caller's own
// usage (admins: everyone's, or user_id's), by agent, session and time.
func usageFilter(r *http.Request) (paddock.UsageFilter, error) {
	q := r.URL.Query()
	var f paddock.UsageFilter
	id, err := userParam(r, "usage")
	if err != nil {
		return f, err
	}
	f.OwnerID = id
	if u := principal(r).User; !u.IsAdmin() {
		f.OwnerID = &u.ID
	}
	if v := q.Get("agent_id"); v != "" {
		f.AgentID = &v
	}
	if v := q.Get("session_id"); v != "" {
		f.SessionID = &v
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := q.Get(t.name)
		if v == "" {
			continue
		}
		tm, err := parseTime(v)
		if err != nil {
			return f, paddock.Errorf(paddock.EInvalid, "query parameter %q must be an RFC 3339 time or Unix seconds, not %q", t.name, v)
		}
		*t.dst = &tm
	}
	return f, nil
}

// handleUsage sums the model usage the caller may see.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) error {
	f, err := usageFilter(r)
	if err != nil {
		return err
	}
	tot, err := s.Usage.Usage(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, usageResponse(tot))
}

func parseTime(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}
