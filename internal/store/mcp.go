package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.MCPServerService = (*MCPServerService)(nil)

// MCPServerService stores MCP servers. It implements
// paddock.MCPServerService. Shared servers have a NULL owner_id. Their
// headers, which carry credentials, are stored encrypted (AES-256-GCM).
type MCPServerService struct {
	db     *DB
	sealer sealer
}

// NewMCPServerService returns an MCPServerService backed by db that
// encrypts headers with key (32 bytes).
func NewMCPServerService(db *DB, key []byte) (*MCPServerService, error) {
	sl, err := newSealer(key)
	if err != nil {
		return nil, sealKeyError("MCP server headers", err)
	}
	return &MCPServerService{db: db, sealer: sl}, nil
}

const mcpServerColumns = "id, owner_id, name, transport, url, headers, enabled_tools, enabled, created_at, updated_at"

// headersAD is the associated data of sealed headers. The headers column
// holds a JSON string: the sealed JSON of the headers.
const headersAD = "paddock/mcp_servers.headers"

// seal returns the headers column's value for h.
func (s *MCPServerService) seal(h map[string]string) (string, error) {
	plain, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	box, err := s.sealer.seal(plain, headersAD)
	if err != nil {
		return "", err
	}
	return jsonArg(box)
}

// open returns the headers a headers column's value holds.
func (s *MCPServerService) open(name string, raw json.RawMessage) (map[string]string, error) {
	var box string
	if err := json.Unmarshal(raw, &box); err != nil {
		return nil, fmt.Errorf("MCP server %q: its headers are not sealed", name)
	}
	plain, err := s.sealer.open(box, headersAD)
	switch {
	case errors.Is(err, errWrongKey):
		return nil, fmt.Errorf("MCP server %q: its headers %v; add the server again", name, err)
	case err != nil:
		return nil, fmt.Errorf("MCP server %q: its headers are %v", name, err)
	}
	var h map[string]string
	if err := json.Unmarshal(plain, &h); err != nil {
		return nil, fmt.Errorf("MCP server %q: headers: %w", name, err)
	}
	return h, nil
}

func (s *MCPServerService) scan(row interface{ Scan(...any) error }) (*paddock.MCPServer, error) {
	var m paddock.MCPServer
	var owner sql.NullInt64
	var headers json.RawMessage
	err := row.Scan(&m.ID, &owner, &m.Name, &m.Transport, &m.URL, jsonCol{&headers}, jsonCol{&m.EnabledTools}, &m.Enabled,
		timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt})
	if err != nil {
		return nil, err
	}
	m.OwnerID = owner.Int64
	if m.Headers, err = s.open(m.Name, headers); err != nil {
		return nil, err
	}
	return &m, nil
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
		srv, err := s.scan(rows)
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
	headers, err := s.seal(srv.Headers)
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

// SetMCPServerEnabled enables or disables owner's server name; nil turns
// it the other way, in the same statement.
func (s *MCPServerService) SetMCPServerEnabled(ctx context.Context, ownerID int64, name string, enabled *bool) (*paddock.MCPServer, error) {
	if enabled != nil {
		return s.update(ctx, ownerID, name, "enable MCP server", "enabled = ?", *enabled)
	}
	return s.update(ctx, ownerID, name, "enable MCP server", "enabled = NOT enabled")
}

// update sets columns (set, with its arguments) and updated_at of owner's
// server name, and returns the server; op names the operation in errors.
func (s *MCPServerService) update(ctx context.Context, ownerID int64, name, op, set string, setArgs ...any) (*paddock.MCPServer, error) {
	cond, args := ownerCond(ownerID)
	args = append(append(append(setArgs, s.db.timeArg(normTime(s.db.now()))), args...), name)
	var out *paddock.MCPServer
	err := s.db.write1(ctx, func(c conn) error {
		var err error
		out, err = s.scan(c.queryRow(ctx, "UPDATE mcp_servers SET "+set+", updated_at = ? WHERE "+cond+" AND name = ? RETURNING "+mcpServerColumns, args...))
		return err
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("MCP server %q not found", name), op)
	}
	return out, nil
}

// SetMCPServerHeaders replaces the headers of owner's server name.
func (s *MCPServerService) SetMCPServerHeaders(ctx context.Context, ownerID int64, name string, headers map[string]string) (*paddock.MCPServer, error) {
	if headers == nil {
		headers = map[string]string{}
	}
	sealed, err := s.seal(headers)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, ownerID, name, "set MCP server headers", "headers = ?", sealed)
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
