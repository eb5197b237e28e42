package paddock

import (
	"context"
	"time"
)

// RunStatus is where a run is: queued -> running -> completed, failed or
// cancelled.
type RunStatus string

const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool {
	switch s {
	case RunQueued, RunRunning, RunCompleted, RunFailed, RunCancelled:
		return true
	}
	return false
}

// Done reports whether the run has ended.
func (s RunStatus) Done() bool {
	return s == RunCompleted || s == RunFailed || s == RunCancelled
}

// Run is one turn of the agent loop, started by a user message. Runs of a
// session execute one at a time, in the order they were created. A run is
// durable: its steps are messages, persisted as they finish, and a worker
// holds it under a lease that another worker may take over once expired.
type Run struct {
	ID               string // "run_..."
	SessionID        string
	Seq              int64 // order of the run in its session, from 1
	Status           RunStatus
	Error            string // why it failed
	Step             int    // model calls completed
	TriggerMessageID string
	// IdempotencyKey, when set, is unique per session; RequestHash is the
	// hash of the request that created the run, to tell a retry (same
	// hash) from a reuse of the key (different hash).
	IdempotencyKey  string
	RequestHash     string
	LeaseOwner      string // the worker that holds the run, "" if none
	LeaseExpiresAt  *time.Time
	CancelRequested bool // set by Cancel; the worker holding the run ends it cancelled
	Options         RunOptions
	// TraceParent is the W3C traceparent of the request that posted the
	// run, "" if it was not traced: the run's span links to it.
	TraceParent string
	CreatedAt   time.Time
	StartedAt   *time.Time
	EndedAt     *time.Time
}

// RunOptions change how one run works, for surfaces whose requests carry
// such settings (seed 003's chat stream). The zero value runs the agent as
// configured.
type RunOptions struct {
	// Tools, when set, replaces the agent's tools for this run; it may
	// name "web_search".
	Tools     *[]string `json:"tools,omitempty"`
	Reasoning string    `json:"reasoning,omitempty"` // "", low, medium or high: the model's reasoning effort
	Locale    string    `json:"locale,omitempty"`    // the user's locale, e.g. en-US: answers use its language
	// MCPServers are MCP servers the run uses besides its agent's.
	MCPServers []MCPServerRef `json:"mcp_servers,omitempty"`
	// Resources are the ids of the knowledge-base resources the run's
	// search_resources tool searches.
	Resources []string `json:"resources,omitempty"`
}

// MCPServerRef is an MCP server a run uses: a registered one by Name (the
// user's own, else a shared one), or, with a URL, one given inline.
type MCPServerRef struct {
	Name         string            `json:"name"`
	Transport    string            `json:"transport,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	EnabledTools []string          `json:"enabled_tools,omitempty"`
}

// RunFilter selects runs. Zero fields do not filter.
type RunFilter struct {
	SessionID *string
	Statuses  []RunStatus
	Offset    int
	Limit     int // 0 means no limit
}

// RunUpdate holds the fields to change; nil fields are left alone. A time
// pointing at the zero time clears it.
type RunUpdate struct {
	Status          *RunStatus
	Error           *string
	Step            *int
	LeaseOwner      *string
	LeaseExpiresAt  *time.Time
	CancelRequested *bool
	StartedAt       *time.Time
	EndedAt         *time.Time
}

// RunService stores runs. Unknown ids and keys are ENotFound. Runs are
// created through SessionService.Commit, with the message that triggers
// them.
type RunService interface {
	Run(ctx context.Context, id string) (*Run, error)
	// Runs lists runs oldest first (by session, then Seq).
	Runs(ctx context.Context, filter RunFilter) ([]*Run, int, error)
	RunByIdempotencyKey(ctx context.Context, sessionID, key string) (*Run, error)
	UpdateRun(ctx context.Context, id string, upd RunUpdate) (*Run, error)

	// ClaimRun leases to owner, for lease, the oldest runnable run: a
	// queued or running run whose lease is free or expired and that is the
	// first active run of its session (so a session's runs execute one at a
	// time, in order). It changes nothing else: the claimer records the
	// start. With no runnable run it returns ENotFound. Concurrent claimers,
	// in this process or others, never get the same run.
	ClaimRun(ctx context.Context, owner string, lease time.Duration) (*Run, error)
	// RenewLease extends owner's lease on run id and returns the run, so
	// the holder sees CancelRequested. A lease owner no longer holds (the
	// run ended or another worker took it over) is EConflict.
	RenewLease(ctx context.Context, id, owner string, lease time.Duration) (*Run, error)
}
