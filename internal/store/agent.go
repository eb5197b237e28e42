package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/paddockhq/paddock"
)

var _ paddock.AgentService = (*AgentService)(nil)

// AgentService stores agents. It implements paddock.AgentService.
type AgentService struct {
	db *DB
}

// NewAgentService returns an AgentService backed by db.
func NewAgentService(db *DB) *AgentService { return &AgentService{db: db} }

// newID returns prefix + "_" + 24 random lowercase base32 characters.
func newID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text()[:24])
}

const agentColumns = "id, owner_id, name, description, system_prompt, model, tools, max_steps, " +
	"environment, tags, archived_at, created_at, updated_at, mcp_servers, resources"

func scanAgent(row interface{ Scan(...any) error }) (*paddock.Agent, error) {
	var a paddock.Agent
	err := row.Scan(&a.ID, &a.OwnerID, &a.Name, &a.Description, &a.SystemPrompt, &a.Model,
		jsonCol{&a.Tools}, &a.MaxSteps, jsonCol{&a.Environment}, jsonCol{&a.Tags},
		nullTimeCol{&a.ArchivedAt}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, jsonCol{&a.MCPServers}, jsonCol{&a.Resources})
	if err != nil {
		return nil, err
	}
	a.Archived = a.ArchivedAt != nil
	if a.Tags == nil {
		a.Tags = []string{}
	}
	if a.MCPServers == nil {
		a.MCPServers = []string{}
	}
	if a.Resources == nil {
		a.Resources = []string{}
	}
	return &a, nil
}

// agentConflict translates a unique violation of the name index.
func agentConflict(err error, name string) error {
	if v, _ := constraintOf(err); v == uniqueViolation {
		return paddock.Errorf(paddock.EConflict, "an agent named %q exists", name)
	}
	return nil
}

// Agent returns the agent with the given id, archived or not, or ENotFound.
func (s *AgentService) Agent(ctx context.Context, id string) (*paddock.Agent, error) {
	a, err := scanAgent(s.db.reader().queryRow(ctx, "SELECT "+agentColumns+" FROM agents WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("agent %q not found", id), fmt.Sprintf("agent %q", id))
	}
	return a, nil
}

// Agents returns the page of agents selected by filter, newest first, and
// the number selected in all. Archived agents are left out unless
// IncludeArchived.
func (s *AgentService) Agents(ctx context.Context, filter paddock.AgentFilter) ([]*paddock.Agent, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if filter.OwnerID != nil {
		where, args = append(where, "owner_id = ?"), append(args, *filter.OwnerID)
	}
	if filter.Name != nil {
		where, args = append(where, "name = ?"), append(args, *filter.Name)
	}
	if !filter.IncludeArchived {
		where = append(where, "archived_at IS NULL")
	}
	agents, total, err := listPage(ctx, s.db, "agents", agentColumns, where, args, "created_at DESC, id DESC", filter.Offset, filter.Limit, scanAgent)
	if err != nil {
		return nil, 0, fmt.Errorf("list agents: %w", err)
	}
	return agents, total, nil
}

// CreateAgent validates and stores a, setting its ID (when empty),
// CreatedAt and UpdatedAt. Invalid input is EInvalid; a name taken by
// another non-archived agent of the owner, or a taken ID, is EConflict.
func (s *AgentService) CreateAgent(ctx context.Context, a *paddock.Agent) error {
	if a == nil {
		return paddock.Errorf(paddock.EInvalid, "agent is required")
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if a.ID == "" {
		a.ID = newID("agt")
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	if a.MCPServers == nil {
		a.MCPServers = []string{}
	}
	if a.Resources == nil {
		a.Resources = []string{}
	}
	a.CreatedAt = normTime(s.db.now())
	a.UpdatedAt = a.CreatedAt
	a.Archived, a.ArchivedAt = false, nil
	var js [5]string
	for i, v := range []any{a.Tools, a.Environment, a.Tags, a.MCPServers, a.Resources} {
		var err error
		if js[i], err = jsonArg(v); err != nil {
			return fmt.Errorf("create agent: %w", err)
		}
	}
	_, err := s.db.exec(ctx, "INSERT INTO agents ("+agentColumns+") VALUES ("+placeholders(15)+")",
		a.ID, a.OwnerID, a.Name, a.Description, a.SystemPrompt, a.Model, js[0], a.MaxSteps, js[1], js[2],
		nil, s.db.timeArg(a.CreatedAt), s.db.timeArg(a.UpdatedAt), js[3], js[4])
	if err != nil {
		if v, detail := constraintOf(err); v == uniqueViolation && (strings.Contains(detail, "name") || strings.Contains(detail, "agents_owner")) {
			return paddock.Errorf(paddock.EConflict, "an agent named %q exists", a.Name)
		} else if v == uniqueViolation {
			return paddock.Errorf(paddock.EConflict, "agent %q exists", a.ID)
		}
		return fmt.Errorf("create agent: %w", err)
	}
	return nil
}

// UpdateAgent applies the non-nil fields of upd and returns the agent.
// The result must still be valid (EInvalid); a new name taken by another
// agent of the owner is EConflict; an unknown id is ENotFound.
func (s *AgentService) UpdateAgent(ctx context.Context, id string, upd paddock.AgentUpdate) (*paddock.Agent, error) {
	var out *paddock.Agent
	err := s.db.inTx(ctx, func(tx conn) error {
		a, err := scanAgent(tx.queryRow(ctx, "SELECT "+agentColumns+" FROM agents WHERE id = ?", id))
		if err != nil {
			return notFound(err, fmt.Sprintf("agent %q not found", id), fmt.Sprintf("agent %q", id))
		}
		if upd.Name != nil {
			a.Name = *upd.Name
		}
		if upd.Description != nil {
			a.Description = *upd.Description
		}
		if upd.SystemPrompt != nil {
			a.SystemPrompt = *upd.SystemPrompt
		}
		if upd.Model != nil {
			a.Model = *upd.Model
		}
		if upd.Tools != nil {
			a.Tools = *upd.Tools
		}
		if upd.MCPServers != nil {
			a.MCPServers = *upd.MCPServers
			if a.MCPServers == nil {
				a.MCPServers = []string{}
			}
		}
		if upd.Resources != nil {
			a.Resources = *upd.Resources
			if a.Resources == nil {
				a.Resources = []string{}
			}
		}
		if upd.MaxSteps != nil {
			a.MaxSteps = *upd.MaxSteps
		}
		if upd.Environment != nil {
			env := *upd.Environment
			a.Environment = &env
		}
		if upd.Tags != nil {
			a.Tags = *upd.Tags
			if a.Tags == nil {
				a.Tags = []string{}
			}
		}
		if err := a.Validate(); err != nil {
			return err
		}
		a.UpdatedAt = normTime(s.db.now())
		var js [5]string
		for i, v := range []any{a.Tools, a.Environment, a.Tags, a.MCPServers, a.Resources} {
			if js[i], err = jsonArg(v); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, `UPDATE agents SET name = ?, description = ?, system_prompt = ?, model = ?,
			tools = ?, max_steps = ?, environment = ?, tags = ?, mcp_servers = ?, resources = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.Description, a.SystemPrompt, a.Model, js[0], a.MaxSteps, js[1], js[2], js[3], js[4],
			s.db.timeArg(a.UpdatedAt), id)
		if err != nil {
			if cerr := agentConflict(err, a.Name); cerr != nil {
				return cerr
			}
			return fmt.Errorf("update agent %q: %w", id, err)
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ArchiveAgent archives the agent: it is no longer listed by default and
// its name is free again. Archiving an archived agent is a no-op; an
// unknown id is ENotFound.
func (s *AgentService) ArchiveAgent(ctx context.Context, id string) error {
	now := s.db.timeArg(s.db.now())
	res, err := s.db.exec(ctx,
		"UPDATE agents SET archived_at = COALESCE(archived_at, ?), updated_at = ? WHERE id = ?", now, now, id)
	if err != nil {
		return fmt.Errorf("archive agent %q: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("agent %q not found", id))
}
