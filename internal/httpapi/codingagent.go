package httpapi

import (
	"net/http"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
)

// A user's coding agents (seed 003's user MCP settings /codex and
// /claude-code): stored as the user's MCP server named after the tool,
// listed, toggled and deleted with the user's other MCP settings.

type codexRequest struct {
	APIKey          string `json:"apikey,omitempty" description:"your OpenAI API key; required the first time, kept when omitted later"`
	Model           string `json:"model,omitempty" description:"the model Codex uses, e.g. gpt-5-codex; omit for Codex's default"`
	ReasoningEffort string `json:"model_reasoning_effort,omitempty" enum:"minimal,low,medium,high"`
	Search          bool   `json:"search,omitempty" description:"let Codex search the web"`
}

type codexResponse struct {
	ToolType        string    `json:"tool_type" enum:"codex"`
	IsActive        bool      `json:"is_active" description:"agents that name codex among their MCP servers get its tool"`
	APIKey          string    `json:"apikey" description:"a hint of the key (its first and last characters)"`
	Model           string    `json:"model"`
	ReasoningEffort string    `json:"model_reasoning_effort"`
	Search          bool      `json:"search"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

type claudeCodeRequest struct {
	AuthorizationCode string `json:"authorization_code" required:"true" description:"the code Claude's sign-in page shows after you authorize Claude Code, as code#verifier"`
}

type claudeCodeResponse struct {
	ToolType  string     `json:"tool_type" enum:"claude-code"`
	IsActive  bool       `json:"is_active" description:"agents that name claude-code among their MCP servers get its tool"`
	Account   string     `json:"account,omitempty" description:"the Claude account signed in, when the provider said"`
	Scope     string     `json:"scope,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty" description:"when the access token expires; Paddock refreshes it when it is used after that"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func toCodexResponse(m *paddock.MCPServer) codexResponse {
	c := codingagent.CodexFrom(m.Headers)
	return codexResponse{ToolType: codingagent.Codex, IsActive: m.Enabled, APIKey: (&paddock.ProviderKey{Key: c.APIKey}).Hint(),
		Model: c.Model, ReasoningEffort: c.ReasoningEffort, Search: c.Search, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func toClaudeCodeResponse(m *paddock.MCPServer) claudeCodeResponse {
	t := codingagent.ClaudeFrom(m.Headers)
	out := claudeCodeResponse{ToolType: codingagent.ClaudeCode, IsActive: m.Enabled, Account: t.Account, Scope: t.Scope, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if !t.ExpiresAt.IsZero() {
		out.ExpiresAt = &t.ExpiresAt
	}
	return out
}

// codingAgent returns the caller's setting of tool, nil when there is
// none; a server of theirs of that name that is not the tool is a
// conflict.
func (s *Server) codingAgent(r *http.Request, tool string) (*paddock.MCPServer, error) {
	if err := s.mcpReady(); err != nil {
		return nil, err
	}
	list, err := s.MCPServers.MCPServers(r.Context(), principal(r).User.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if m.Name != tool {
			continue
		}
		if m.Transport != tool {
			return nil, paddock.Errorf(paddock.EConflict, "your MCP server %q is a custom one: delete it (DELETE /api/v1/agent/user-settings/mcp/%s) to configure %s", tool, tool, tool)
		}
		return m, nil
	}
	return nil, nil
}

// saveCodingAgent stores headers as the caller's setting of tool: a new
// one (201, active) or the existing one's (200, as active as it was).
func (s *Server) saveCodingAgent(r *http.Request, tool string, existing *paddock.MCPServer, headers map[string]string) (*paddock.MCPServer, int, error) {
	if existing != nil {
		m, err := s.MCPServers.SetMCPServerHeaders(r.Context(), existing.OwnerID, tool, headers)
		return m, http.StatusOK, err
	}
	m := &paddock.MCPServer{OwnerID: principal(r).User.ID, Name: tool, Transport: tool, Headers: headers, Enabled: true}
	return m, http.StatusCreated, s.MCPServers.CreateMCPServer(r.Context(), m)
}

func notConfigured(tool, how string) error {
	return paddock.Errorf(paddock.ENotFound, "%s is not configured: POST /api/v1/agent/user-settings/mcp/%s with %s", tool, tool, how)
}

func (s *Server) handleCodexGet(w http.ResponseWriter, r *http.Request) error {
	m, err := s.codingAgent(r, codingagent.Codex)
	if err != nil {
		return err
	}
	if m == nil {
		return notConfigured(codingagent.Codex, "your OpenAI API key")
	}
	return writeJSON(w, http.StatusOK, toCodexResponse(m))
}

func (s *Server) handleCodexSet(w http.ResponseWriter, r *http.Request) error {
	var req codexRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	m, err := s.codingAgent(r, codingagent.Codex)
	if err != nil {
		return err
	}
	c := codingagent.CodexSettings{APIKey: req.APIKey, Model: req.Model, ReasoningEffort: req.ReasoningEffort, Search: req.Search}
	if c.APIKey == "" && m != nil {
		c.APIKey = codingagent.CodexFrom(m.Headers).APIKey
	}
	if err := c.Validate(); err != nil {
		return err
	}
	m, status, err := s.saveCodingAgent(r, codingagent.Codex, m, c.Headers())
	if err != nil {
		return err
	}
	return writeJSON(w, status, toCodexResponse(m))
}

func (s *Server) handleClaudeCodeGet(w http.ResponseWriter, r *http.Request) error {
	m, err := s.codingAgent(r, codingagent.ClaudeCode)
	if err != nil {
		return err
	}
	if m == nil {
		return notConfigured(codingagent.ClaudeCode, `{"authorization_code": "code#verifier"} from Claude's sign-in page`)
	}
	return writeJSON(w, http.StatusOK, toClaudeCodeResponse(m))
}

func (s *Server) handleClaudeCodeSet(w http.ResponseWriter, r *http.Request) error {
	var req claudeCodeRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.AuthorizationCode == "" {
		return paddock.Errorf(paddock.EInvalid, `field "authorization_code" is required: the code Claude's sign-in page shows, as code#verifier`)
	}
	m, err := s.codingAgent(r, codingagent.ClaudeCode)
	if err != nil {
		return err
	}
	t, err := s.ClaudeOAuth.Exchange(r.Context(), req.AuthorizationCode)
	if err != nil {
		return err
	}
	m, status, err := s.saveCodingAgent(r, codingagent.ClaudeCode, m, t.Headers())
	if err != nil {
		return err
	}
	return writeJSON(w, status, toClaudeCodeResponse(m))
}
