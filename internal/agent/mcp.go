package agent

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/mcptool"
)

// MCP reaches MCP servers: *mcptool.Client.
type MCP interface {
	Tools(ctx context.Context, s mcptool.Server) ([]mcptool.Tool, error)
	Call(ctx context.Context, s mcptool.Server, remote string, args json.RawMessage) (text string, isError bool, err error)
}

// MCPServers finds registered MCP servers: paddock.MCPServerService.
type MCPServers interface {
	MCPServers(ctx context.Context, ownerID int64) ([]*paddock.MCPServer, error)
}

// mcpServers returns the MCP servers a run of owner's uses: those its
// agent names (the owner's own server of the name, else the shared one)
// and the run's own (by name, or inline with a URL). A named server that
// is gone or disabled is left out, and logged: the run goes on without
// its tools. Shared servers, which an admin added, may be on private
// networks; the others only when Config.MCPPrivate allows it.
func (r *Runner) mcpServers(ctx context.Context, ownerID int64, names []string, refs []paddock.MCPServerRef) ([]mcptool.Server, error) {
	if len(names) == 0 && len(refs) == 0 {
		return nil, nil
	}
	if r.d.MCP == nil || r.d.MCPServers == nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "MCP servers are not configured on this server")
	}
	names = slices.Clone(names) // the agent's, not to be appended to
	for _, ref := range refs {
		if ref.URL == "" {
			names = append(names, ref.Name)
		}
	}
	var registered map[string]*paddock.MCPServer
	if len(names) > 0 {
		var err error
		if registered, err = paddock.VisibleMCPServers(ctx, r.d.MCPServers, ownerID); err != nil {
			return nil, err
		}
	}
	var out []mcptool.Server
	seen := map[string]bool{}
	add := func(s mcptool.Server) {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	for _, name := range names {
		s := registered[name]
		if s == nil || !s.Enabled {
			r.log.WarnContext(ctx, "MCP server not found or disabled: its tools are left out", "server", name, "owner", ownerID)
			continue
		}
		add(mcptool.Server{Name: s.Name, Transport: s.Transport, URL: s.URL, Headers: s.Headers,
			EnabledTools: s.EnabledTools, Private: s.OwnerID == 0 || r.cfg.MCPPrivate})
	}
	for _, ref := range refs {
		if ref.URL != "" {
			add(mcptool.Server{Name: ref.Name, Transport: ref.Transport, URL: ref.URL, Headers: ref.Headers,
				EnabledTools: ref.EnabledTools, Private: r.cfg.MCPPrivate})
		}
	}
	return out, nil
}

// mcpToolDefs returns the tools of servers for the model. A server that
// cannot list its tools is left out of this call, and logged.
func (r *Runner) mcpToolDefs(ctx context.Context, servers []mcptool.Server) []llm.Tool {
	var tools []llm.Tool
	for _, s := range servers {
		if codingagent.Is(s.Transport) {
			remote, description, schema := codingagent.Tool(s.Transport)
			name, _ := mcptool.ToolName(s.Name, remote)
			tools = append(tools, llm.Tool{Name: name, Description: description, Parameters: schema})
			continue
		}
		list, err := r.d.MCP.Tools(ctx, s)
		if err != nil {
			r.log.WarnContext(ctx, "MCP server unavailable: its tools are left out of this model call", "server", s.Name, "err", err)
			continue
		}
		for _, t := range list {
			tools = append(tools, llm.Tool{Name: t.Name, Description: t.Description, Parameters: t.Schema})
		}
	}
	return tools
}

// callMCP runs a call of an MCP tool and returns its result text and
// whether it is an error.
func (r *Runner) callMCP(ctx context.Context, servers []mcptool.Server, call paddock.ContentPart) (string, bool) {
	name, remote, _ := mcptool.SplitToolName(call.Name)
	for _, s := range servers {
		if s.Name != name {
			continue
		}
		args := json.RawMessage(call.ArgumentsText())
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		ctx, cancel := context.WithTimeout(ctx, r.cfg.ToolTimeout)
		defer cancel()
		text, isErr, err := r.d.MCP.Call(ctx, s, remote, args)
		if err != nil {
			return paddock.ErrorMessage(err), true
		}
		return cutMiddle(text, r.cfg.MaxToolOutput), isErr
	}
	return "unknown tool " + `"` + call.Name + `"`, true
}
