package paddock

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// DefaultMaxSteps is the step limit of an agent that sets none: the number
// of model calls one run may make.
const DefaultMaxSteps = 20

// Agent is a configuration of the agent loop: a system prompt, a model, the
// built-in tools it may use and the environment its sessions get.
type Agent struct {
	ID           string // "agt_..."
	OwnerID      int64
	Name         string // unique per owner among non-archived agents
	Description  string
	SystemPrompt string
	Model        string   // "provider/model", e.g. "openai/gpt-4o-mini"; "" means the configured default
	Tools        []string // enabled built-in tools; nil means all, empty means none
	MCPServers   []string // names of the MCP servers whose tools it uses (its owner's own, else shared)
	Resources    []string // ids of the knowledge-base resources its runs search (search_resources)
	MaxSteps     int      // model calls per run; 0 means DefaultMaxSteps
	Environment  *AgentEnvironment
	Tags         []string
	Archived     bool
	ArchivedAt   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AgentEnvironment is the spec of the environment each session of an agent
// gets on its first tool call. Zero fields take the runtime's defaults.
type AgentEnvironment struct {
	Image     string    `json:"image,omitempty"`
	Resources Resources `json:"resources"`
	Isolation Isolation `json:"isolation"`
	Timeout   int       `json:"timeout,omitempty"` // lifetime in seconds
}

// Validate checks the agent's input: a name without control characters, a
// non-negative step limit and tool names without blanks. Failures are
// EInvalid.
func (a *Agent) Validate() error {
	if strings.TrimSpace(a.Name) == "" {
		return Errorf(EInvalid, "name is required")
	}
	if len(a.Name) > 256 {
		return Errorf(EInvalid, "name must be at most 256 characters")
	}
	if strings.ContainsFunc(a.Name, unicode.IsControl) {
		return Errorf(EInvalid, "name must not contain control characters")
	}
	if a.MaxSteps < 0 {
		return Errorf(EInvalid, "max_steps must not be negative")
	}
	for _, t := range a.Tools {
		if strings.TrimSpace(t) == "" {
			return Errorf(EInvalid, "tools must not contain empty names")
		}
	}
	if a.Environment != nil && a.Environment.Timeout < 0 {
		return Errorf(EInvalid, "environment.timeout must not be negative")
	}
	return nil
}

// Steps returns the agent's step limit, DefaultMaxSteps when unset.
func (a *Agent) Steps() int {
	if a.MaxSteps <= 0 {
		return DefaultMaxSteps
	}
	return a.MaxSteps
}

// AgentFilter selects agents. Zero fields do not filter.
type AgentFilter struct {
	OwnerID         *int64
	Name            *string
	IncludeArchived bool
	Offset          int
	Limit           int // 0 means no limit
}

// AgentUpdate holds the fields to change; nil fields are left alone. Tools
// pointing at a nil slice enables all tools again.
type AgentUpdate struct {
	Name         *string
	Description  *string
	SystemPrompt *string
	Model        *string
	Tools        *[]string
	MCPServers   *[]string
	Resources    *[]string
	MaxSteps     *int
	Environment  *AgentEnvironment
	Tags         *[]string
}

// AgentService stores agents. Unknown ids are ENotFound; a name taken by
// another non-archived agent of the same owner is EConflict. Archived agents
// are still found by id.
type AgentService interface {
	Agent(ctx context.Context, id string) (*Agent, error)
	Agents(ctx context.Context, filter AgentFilter) ([]*Agent, int, error)
	CreateAgent(ctx context.Context, a *Agent) error
	UpdateAgent(ctx context.Context, id string, upd AgentUpdate) (*Agent, error)
	ArchiveAgent(ctx context.Context, id string) error
}
