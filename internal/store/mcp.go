package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.MCPServerService = (*MCPServerService)(nil)

// MCPServerService stores MCP servers. It implements
// paddock.MCPServerService. Shared servers have a NULL owner_id.
type MCPServerService struct {
	db *DB
}

// NewMCPServerService returns an MCPServerService backed by db.
func NewMCPServerService(db *DB) *MCPServerService { return &MCPServerService{db: db} }

const mcpServerColumns = "id, owner_id, name, transport, url, headers, enabled_tools, enabled, created_at, updated_at"

func scanMCPServer(row interface{ Scan(...any) error }) (*paddock.MCPServer, error) {
	var s paddock.MCPServer
	var owner sql.NullInt64
	err := row.Scan(&s.ID, &owner, &s.Name, &s.Transport, &s.URL, jsonCol{&s.Headers}, jsonCol{&s.EnabledTools}, &s.Enabled,
		timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt})
	s.OwnerID = owner.Int64
	return &s, err
}

// ownerCond is the condition selecting owner's servers (0: the shared ones).
func ownerCond(ownerID int64) (string, []any) {
	if ownerID == 0 {
		return "owner_id IS NULL", nil
	}
	return "owner_id = ?", []any{ownerID}
}

// ownerArg is owner_id's value: NULL for a shared server.
func ownerArg(ownerID int64) any {
	if ownerID == 0 {
		return nil
	}
	return ownerID
}

// MCPServers returns the servers of owner (0: the shared ones), by name.
func (s *MCPServerService) MCPServers(ctx context.Context, ownerID int64) ([]*paddock.MCPServer, error) {
	cond, args := ownerCond(ownerID)
	rows, err := s.db.reader().query(ctx, "SELECT "+mcpServerColumns+" FROM mcp_servers WHERE "+cond+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("list MCP servers: %w", err)
	}
	defer rows.Close()
	out := []*paddock.MCPServer{}
	for rows.Next() {
		srv, err := scanMCPServer(rows)
		if err != nil {
			return nil, fmt.Errorf("list MCP servers: %w", err)
		}
		out = append(out, srv)
	}
	return out, rows.Err()
}

// CreateMCPServer stores srv, setting its ID, CreatedAt and UpdatedAt. A
// name taken by another server of the same owner is EConflict; an unknown
// owner ENotFound.
func (s *MCPServerService) CreateMCPServer(ctx context.Context, srv *paddock.MCPServer) error {
	if srv == nil || srv.Name == "" {
		return paddock.Errorf(paddock.EInvalid, "MCP server name is required")
	}
	if srv.Headers == nil {
		srv.Headers = map[string]string{}
	}
	headers, err := jsonArg(srv.Headers)
	if err != nil {
		return err
	}
	tools, err := jsonArg(srv.EnabledTools)
	if err != nil {
		return err
	}
	srv.CreatedAt = normTime(s.db.now())
	srv.UpdatedAt = srv.CreatedAt
	err = s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, `INSERT INTO mcp_servers (owner_id, name, transport, url, headers, enabled_tools, enabled, created_at, updated_at)
			VALUES (`+placeholders(9)+`) RETURNING id`, ownerArg(srv.OwnerID), srv.Name, srv.Transport, srv.URL, headers, tools, srv.Enabled,
			s.db.timeArg(srv.CreatedAt), s.db.timeArg(srv.UpdatedAt)).Scan(&srv.ID)
	})
	switch v, _ := constraintOf(err); {
	case v == uniqueViolation:
		return paddock.Errorf(paddock.EConflict, "an MCP server named %q exists", srv.Name)
	case v == foreignKeyViolation:
		return paddock.Errorf(paddock.ENotFound, "user %d not found", srv.OwnerID)
	case err != nil:
		return fmt.Errorf("create MCP server: %w", err)
	}
	return nil
}

// SetMCPServerEnabled enables or disables owner's server name.
func (s *MCPServerService) SetMCPServerEnabled(ctx context.Context, ownerID int64, name string, enabled bool) (*paddock.MCPServer, error) {
	cond, args := ownerCond(ownerID)
	var out *paddock.MCPServer
	err := s.db.write1(ctx, func(c conn) error {
		var err error
		out, err = scanMCPServer(c.queryRow(ctx, "UPDATE mcp_servers SET enabled = ?, updated_at = ? WHERE "+cond+" AND name = ? RETURNING "+mcpServerColumns,
			append(append([]any{enabled, s.db.timeArg(normTime(s.db.now()))}, args...), name)...))
		return err
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("MCP server %q not found", name), "enable MCP server")
	}
	return out, nil
}

// DeleteMCPServer deletes owner's server name.
func (s *MCPServerService) DeleteMCPServer(ctx context.Context, ownerID int64, name string) error {
	cond, args := ownerCond(ownerID)
	res, err := s.db.exec(ctx, "DELETE FROM mcp_servers WHERE "+cond+" AND name = ?", append(args, name)...)
	if err != nil {
		return fmt.Errorf("delete MCP server: %w", err)
	}
	return affectedOne(res, fmt.Sprintf("MCP server %q not found", name))
}
