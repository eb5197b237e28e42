package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/mcptool"
)

// MCPTools lists the tools of an MCP server: *mcptool.Client.
type MCPTools interface {
	Tools(ctx context.Context, s mcptool.Server) ([]mcptool.Tool, error)
}

type mcpServerRequest struct {
	Name         string            `json:"name" required:"true" description:"a-z, 0-9, _ and -, at most 32 characters; its tools are offered to models as mcp__<name>__<tool>"`
	Transport    string            `json:"transport,omitempty" enum:"streamable_http,sse" description:"default streamable_http"`
	URL          string            `json:"url" required:"true" description:"http or https"`
	Headers      map[string]string `json:"headers,omitempty" description:"sent with every request (e.g. Authorization); never shown back"`
	EnabledTools []string          `json:"enabled_tools,omitempty" description:"the server's tools agents get; omit for all"`
	Command      string            `json:"command,omitempty" description:"not accepted (nor args, env): stdio servers would run on the Paddock host"`
	Args         []string          `json:"args,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
}

type mcpServerResponse struct {
	Name         string    `json:"name"`
	ToolType     string    `json:"tool_type" enum:"custom,codex,claude-code" description:"custom: an MCP server at a URL; codex, claude-code: a coding agent (see their routes)"`
	Scope        string    `json:"scope" enum:"shared,user" description:"shared: added by an admin for everyone; user: your own"`
	Transport    string    `json:"transport" enum:"streamable_http,sse,codex,claude-code"`
	URL          string    `json:"url"`
	Headers      []string  `json:"headers" description:"the names of the headers sent; their values are never shown"`
	EnabledTools []string  `json:"enabled_tools,omitempty"`
	Enabled      bool      `json:"enabled"`
	Tools        []string  `json:"tools,omitempty" description:"when added: the tools agents get, as the server listed them"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

type mcpServerList struct {
	Servers []mcpServerResponse `json:"servers"`
}

type mcpServerNameParam struct {
	Name string `path:"name"`
}

type mcpSettingParam struct {
	ToolType string `path:"tool_type" description:"codex, claude-code, or the name of one of your custom MCP servers"`
}

type mcpToggleRequest struct {
	Enabled *bool `json:"enabled,omitempty" description:"the new state; omit to flip it"`
}

func toMCPServerResponse(s *paddock.MCPServer, tools []string) mcpServerResponse {
	scope := "user"
	if s.OwnerID == 0 {
		scope = "shared"
	}
	toolType, headers := "custom", make([]string, 0, len(s.Headers))
	if codingagent.Is(s.Transport) {
		toolType = s.Transport // its headers are its settings, not headers
	} else {
		for h := range s.Headers {
			headers = append(headers, h)
		}
		sort.Strings(headers)
	}
	return mcpServerResponse{Name: s.Name, ToolType: toolType, Scope: scope, Transport: cmp.Or(s.Transport, mcptool.TransportStreamableHTTP), URL: s.URL,
		Headers: headers, EnabledTools: s.EnabledTools, Enabled: s.Enabled, Tools: tools, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// mcpReady refuses MCP routes on a server without MCP.
func (s *Server) mcpReady() error {
	if s.MCPServers == nil || s.MCP == nil {
		return paddock.Errorf(paddock.EUnavailable, "MCP servers are not configured on this server")
	}
	return nil
}

// createMCPServer checks req, lists the server's tools (so that a server
// that cannot be used is refused at once, with the reason) and stores it
// for owner (0: shared).
func (s *Server) createMCPServer(w http.ResponseWriter, r *http.Request, owner int64) error {
	if err := s.mcpReady(); err != nil {
		return err
	}
	var req mcpServerRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Command != "" || req.Args != nil || req.Env != nil {
		req.Transport = "stdio"
	}
	srv := mcptool.Server{Name: req.Name, Transport: cmp.Or(req.Transport, mcptool.TransportStreamableHTTP), URL: req.URL,
		Headers: req.Headers, EnabledTools: req.EnabledTools, Private: owner == 0 || s.cfg.MCPPrivate}
	if err := srv.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	all := srv
	all.EnabledTools = nil
	tools, err := s.MCP.Tools(ctx, all)
	if err != nil {
		return paddock.Errorf(paddock.EInvalid, "cannot list the tools of MCP server %q: %s", req.Name, paddock.ErrorMessage(err))
	}
	var offered, names []string
	for _, t := range tools {
		names = append(names, t.Remote)
		if srv.EnabledTools == nil || slices.Contains(srv.EnabledTools, t.Remote) {
			offered = append(offered, t.Remote)
		}
	}
	for _, t := range req.EnabledTools {
		if !slices.Contains(names, t) {
			return paddock.Errorf(paddock.EInvalid, "enabled_tools: MCP server %q has no tool %q; it has %s", req.Name, t, strings.Join(names, ", "))
		}
	}
	m := &paddock.MCPServer{OwnerID: owner, Name: srv.Name, Transport: srv.Transport, URL: srv.URL, Headers: srv.Headers,
		EnabledTools: srv.EnabledTools, Enabled: true}
	if err := s.MCPServers.CreateMCPServer(r.Context(), m); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toMCPServerResponse(m, offered))
}

// listMCPServers answers with the servers of the owners given, in order.
func (s *Server) listMCPServers(w http.ResponseWriter, r *http.Request, owners ...int64) error {
	if err := s.mcpReady(); err != nil {
		return err
	}
	out := mcpServerList{Servers: []mcpServerResponse{}}
	for _, owner := range owners {
		list, err := s.MCPServers.MCPServers(r.Context(), owner)
		if err != nil {
			return err
		}
		for _, m := range list {
			out.Servers = append(out.Servers, toMCPServerResponse(m, nil))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteMCPServer(w http.ResponseWriter, r *http.Request, owner int64, name string) error {
	if err := s.mcpReady(); err != nil {
		return err
	}
	if err := s.MCPServers.DeleteMCPServer(r.Context(), owner, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleMCPServerList lists the shared servers and the caller's own.
func (s *Server) handleMCPServerList(w http.ResponseWriter, r *http.Request) error {
	return s.listMCPServers(w, r, 0, principal(r).User.ID)
}

func (s *Server) handleMCPServerCreate(w http.ResponseWriter, r *http.Request) error {
	return s.createMCPServer(w, r, 0)
}

func (s *Server) handleMCPServerDelete(w http.ResponseWriter, r *http.Request) error {
	return s.deleteMCPServer(w, r, 0, r.PathValue("name"))
}

func (s *Server) handleUserMCPList(w http.ResponseWriter, r *http.Request) error {
	return s.listMCPServers(w, r, principal(r).User.ID)
}

func (s *Server) handleUserMCPCreate(w http.ResponseWriter, r *http.Request) error {
	return s.createMCPServer(w, r, principal(r).User.ID)
}

func (s *Server) handleUserMCPDelete(w http.ResponseWriter, r *http.Request) error {
	return s.deleteMCPServer(w, r, principal(r).User.ID, r.PathValue("tool_type"))
}

func (s *Server) handleUserMCPToggle(w http.ResponseWriter, r *http.Request) error {
	if err := s.mcpReady(); err != nil {
		return err
	}
	var req mcpToggleRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	m, err := s.MCPServers.SetMCPServerEnabled(r.Context(), principal(r).User.ID, r.PathValue("tool_type"), req.Enabled)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toMCPServerResponse(m, nil))
}

// checkMCPNames checks that the MCP servers field names for owner exist:
// the owner's own or shared ones.
func (s *Server) checkMCPNames(ctx context.Context, owner int64, field string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := s.mcpReady(); err != nil {
		return err
	}
	visible, err := paddock.VisibleMCPServers(ctx, s.MCPServers, owner)
	if err != nil {
		return err
	}
	known := slices.Sorted(maps.Keys(visible))
	for _, n := range names {
		if visible[n] == nil {
			if len(known) == 0 {
				return paddock.Errorf(paddock.EInvalid, "%s: there is no MCP server %q; add one at /api/v1/agent/user-settings/mcp/custom", field, n)
			}
			return paddock.Errorf(paddock.EInvalid, "%s: there is no MCP server %q; you may name %s", field, n, strings.Join(known, ", "))
		}
	}
	return nil
}

// mcpSettingsServer is one server of a chat stream's mcp_settings, as
// DeerFlow-style clients send it: a registered server by name (an empty
// object), or one given inline with its url. Other fields such clients
// send (add_to_agents) are ignored.
type mcpSettingsServer struct {
	Transport    string            `json:"transport"`
	URL          string            `json:"url"`
	Headers      map[string]string `json:"headers"`
	EnabledTools []string          `json:"enabled_tools"`
	Command      string            `json:"command"`
	Args         []string          `json:"args"`
}

// mcpRefs reads a chat stream's mcp_settings.servers into the run's MCP
// servers.
func mcpRefs(servers map[string]json.RawMessage) ([]paddock.MCPServerRef, error) {
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Strings(names)
	var refs []paddock.MCPServerRef
	for _, n := range names {
		var v mcpSettingsServer
		if raw := servers[n]; len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, paddock.Errorf(paddock.EInvalid, "mcp_settings.servers.%s: %v", n, err)
			}
		}
		ref := paddock.MCPServerRef{Name: n, Transport: v.Transport, URL: v.URL, Headers: v.Headers, EnabledTools: v.EnabledTools}
		if v.Command != "" || v.Args != nil {
			ref.Transport = "stdio"
		}
		if err := mcptool.CheckRef(ref); err != nil {
			return nil, paddock.Errorf(paddock.EInvalid, "mcp_settings.servers: %s", paddock.ErrorMessage(err))
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
