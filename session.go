package paddock

import (
	"context"
	"time"
)

// SessionStatus says whether a session has work: pending while idle (ready
// for a message), running while any of its runs is queued or running, and
// failed when its last run failed and nothing is queued. A new message moves
// any session to running.
type SessionStatus string

const (
	SessionPending SessionStatus = "pending"
	SessionRunning SessionStatus = "running"
	SessionFailed  SessionStatus = "failed"
)

// Valid reports whether s is a known status.
func (s SessionStatus) Valid() bool {
	return s == SessionPending || s == SessionRunning || s == SessionFailed
}

// Session is a conversation with one agent. It owns at most one
// environment, created on the first tool call and reused after.
type Session struct {
	ID            string // "ses_..."
	AgentID       string
	OwnerID       int64
	Title         string
	Tags          []string
	Status        SessionStatus
	EnvironmentID string // "" until a tool needs one
	// ExternalKey names the session for surfaces whose clients choose
	// session names; unique per owner and agent when set.
	ExternalKey string
	// LastEventSeq is the Seq of the session's latest event when it was
	// read: a follower that starts after it sees only newer events.
	LastEventSeq int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SessionFilter selects sessions. Zero fields do not filter.
type SessionFilter struct {
	OwnerID     *int64
	AgentID     *string
	Status      *SessionStatus
	ExternalKey *string
	Offset      int
	Limit       int // 0 means no limit
}

// SessionUpdate holds the fields to change; nil fields are left alone.
type SessionUpdate struct {
	Title         *string
	Tags          *[]string
	Status        *SessionStatus
	EnvironmentID *string
}

// SessionService stores sessions. Unknown ids and keys are ENotFound; a
// taken ExternalKey is EConflict. Deleting a session deletes its messages,
// runs and events (not its environment: the agent runtime does that).
type SessionService interface {
	Session(ctx context.Context, id string) (*Session, error)
	SessionByKey(ctx context.Context, ownerID int64, agentID, key string) (*Session, error)
	Sessions(ctx context.Context, filter SessionFilter) ([]*Session, int, error)
	CreateSession(ctx context.Context, s *Session) error
	UpdateSession(ctx context.Context, id string, upd SessionUpdate) (*Session, error)
	DeleteSession(ctx context.Context, id string) error

	// Commit runs fn in one transaction holding the session's lock, then
	// appends the events fn emitted, numbered in order, in the same
	// transaction. It returns the appended events (with Seq and CreatedAt)
	// for publishing. When fn fails nothing is written and its error is
	// returned as is. An unknown session is ENotFound.
	Commit(ctx context.Context, sessionID string, fn func(tx SessionTx) error) ([]*Event, error)
}

// SessionTx is a unit of work on one session inside SessionService.Commit:
// the state changes of an operation and the events that describe them,
// committed together. Its methods must not be used after fn returns.
type SessionTx interface {
	// Session returns the locked session.
	Session(ctx context.Context) (*Session, error)
	UpdateSession(ctx context.Context, upd SessionUpdate) (*Session, error)

	// Message returns a message of the session.
	Message(ctx context.Context, id string) (*Message, error)
	// CreateMessage stores m in the session, setting its ID (when empty),
	// SessionID, Seq (the next in the session) and CreatedAt.
	CreateMessage(ctx context.Context, m *Message) error

	Run(ctx context.Context, id string) (*Run, error)
	// ActiveRuns returns the session's queued and running runs, oldest
	// first: the first is the one that runs (or will run) now.
	ActiveRuns(ctx context.Context) ([]*Run, error)
	RunByIdempotencyKey(ctx context.Context, key string) (*Run, error)
	// CreateRun stores r in the session, setting its ID (when empty),
	// SessionID, Status (queued when empty) and CreatedAt. A taken
	// idempotency key is EConflict.
	CreateRun(ctx context.Context, r *Run) error
	UpdateRun(ctx context.Context, id string, upd RunUpdate) (*Run, error)

	RecordUsage(ctx context.Context, u *UsageRecord) error

	// Emit queues events to append at the end of the transaction. Their
	// SessionID, Seq and CreatedAt are set then.
	Emit(events ...*Event)
}
