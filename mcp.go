package paddock

import (
	"context"
	"time"
)

// MCPServer is an MCP server whose tools agents may use: a shared one
// (OwnerID 0), added by an admin and seen by every user, or a user's own.
// An agent names the servers it uses (Agent.MCPServers); its tools are
// offered to the model as "mcp__<server>__<tool>".
type MCPServer struct {
	ID           int64
	OwnerID      int64  // 0: shared
	Name         string // unique among the shared servers and among each user's
	Transport    string // "streamable_http" or "sse"; or "codex" or "claude-code", a user's coding agent (internal/codingagent), named as its transport
	URL          string
	Headers      map[string]string // sent with every request; may hold credentials, never shown back (a coding agent's: its settings and credentials)
	EnabledTools []string          // the server's tools agents get; nil: all of them
	Enabled      bool              // a disabled server gives no tools
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// MCPServerService stores MCP servers. A taken name is EConflict; an
// unknown one ENotFound.
type MCPServerService interface {
	// MCPServers returns the servers of owner (0: the shared ones), by name.
	MCPServers(ctx context.Context, ownerID int64) ([]*MCPServer, error)
	// CreateMCPServer stores s, setting its ID, CreatedAt and UpdatedAt.
	CreateMCPServer(ctx context.Context, s *MCPServer) error
	// SetMCPServerEnabled enables or disables owner's server name; nil
	// turns it the other way.
	SetMCPServerEnabled(ctx context.Context, ownerID int64, name string, enabled *bool) (*MCPServer, error)
	// SetMCPServerHeaders replaces the headers of owner's server name.
	SetMCPServerHeaders(ctx context.Context, ownerID int64, name string, headers map[string]string) (*MCPServer, error)
	DeleteMCPServer(ctx context.Context, ownerID int64, name string) error
}

// VisibleMCPServers returns the servers owner may name, by name: the
// shared ones, each replaced by the owner's own of the same name.
func VisibleMCPServers(ctx context.Context, s interface {
	MCPServers(ctx context.Context, ownerID int64) ([]*MCPServer, error)
}, ownerID int64) (map[string]*MCPServer, error) {
	out := map[string]*MCPServer{}
	for _, owner := range []int64{0, ownerID} {
		list, err := s.MCPServers(ctx, owner)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			out[m.Name] = m
		}
	}
	return out, nil
}
