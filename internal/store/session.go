package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

var _ paddock.SessionService = (*SessionService)(nil)

// SessionService stores sessions and commits units of work on them. It
// implements paddock.SessionService.
type SessionService struct {
	db *DB
}

// NewSessionService returns a SessionService backed by db.
func NewSessionService(db *DB) *SessionService { return &SessionService{db: db} }

const sessionColumns = "id, agent_id, owner_id, title, tags, status, environment_id, external_key, last_event_seq, created_at, updated_at"

func scanSession(row interface{ Scan(...any) error }) (*paddock.Session, error) {
	var s paddock.Session
	err := row.Scan(&s.ID, &s.AgentID, &s.OwnerID, &s.Title, jsonCol{&s.Tags}, &s.Status,
		&s.EnvironmentID, &s.ExternalKey, &s.LastEventSeq, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt})
	if err != nil {
		return nil, err
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	return &s, nil
}

func sessionNotFound(err error, id string) error {
	return notFound(err, fmt.Sprintf("session %q not found", id), fmt.Sprintf("session %q", id))
}

// Session returns the session with the given id, or ENotFound.
func (s *SessionService) Session(ctx context.Context, id string) (*paddock.Session, error) {
	ss, err := scanSession(s.db.reader().queryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
	if err != nil {
		return nil, sessionNotFound(err, id)
	}
	return ss, nil
}

// SessionByKey returns the owner's session of agentID with the given
// ExternalKey, or ENotFound.
func (s *SessionService) SessionByKey(ctx context.Context, ownerID int64, agentID, key string) (*paddock.Session, error) {
	if key == "" {
		return nil, paddock.Errorf(paddock.ENotFound, "session key is empty")
	}
	ss, err := scanSession(s.db.reader().queryRow(ctx,
		"SELECT "+sessionColumns+" FROM sessions WHERE owner_id = ? AND agent_id = ? AND external_key = ?", ownerID, agentID, key))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("session %q not found", key), fmt.Sprintf("session key %q", key))
	}
	return ss, nil
}

// Sessions returns the page of sessions selected by filter, newest first,
// and the number selected in all.
func (s *SessionService) Sessions(ctx context.Context, filter paddock.SessionFilter) ([]*paddock.Session, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if filter.OwnerID != nil {
		where, args = append(where, "owner_id = ?"), append(args, *filter.OwnerID)
	}
	if filter.AgentID != nil {
		where, args = append(where, "agent_id = ?"), append(args, *filter.AgentID)
	}
	if filter.Status != nil {
		where, args = append(where, "status = ?"), append(args, string(*filter.Status))
	}
	if filter.ExternalKey != nil {
		where, args = append(where, "external_key = ?"), append(args, *filter.ExternalKey)
	}
	sessions, total, err := listPage(ctx, s.db, "sessions", sessionColumns, where, args, "created_at DESC, id DESC", filter.Offset, filter.Limit, scanSession)
	if err != nil {
		return nil, 0, fmt.Errorf("list sessions: %w", err)
	}
	return sessions, total, nil
}

// CreateSession stores ss, setting its ID (when empty), Status (pending
// when empty), CreatedAt and UpdatedAt. An unknown agent is ENotFound; a
// taken ExternalKey or ID is EConflict.
func (s *SessionService) CreateSession(ctx context.Context, ss *paddock.Session) error {
	if ss == nil {
		return paddock.Errorf(paddock.EInvalid, "session is required")
	}
	if ss.AgentID == "" {
		return paddock.Errorf(paddock.EInvalid, "agent_id is required")
	}
	if ss.Status == "" {
		ss.Status = paddock.SessionPending
	}
	if !ss.Status.Valid() {
		return paddock.Errorf(paddock.EInvalid, "invalid session status %q", ss.Status)
	}
	if ss.ID == "" {
		ss.ID = newID("ses")
	}
	if ss.Tags == nil {
		ss.Tags = []string{}
	}
	ss.CreatedAt = normTime(s.db.now())
	ss.UpdatedAt = ss.CreatedAt
	ss.LastEventSeq = 0
	tags, err := jsonArg(ss.Tags)
	if err != nil {
		return err
	}
	_, err = s.db.exec(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES ("+placeholders(11)+")",
		ss.ID, ss.AgentID, ss.OwnerID, ss.Title, tags, string(ss.Status), ss.EnvironmentID, ss.ExternalKey, int64(0),
		s.db.timeArg(ss.CreatedAt), s.db.timeArg(ss.UpdatedAt))
	if err != nil {
		switch v, detail := constraintOf(err); {
		case v == foreignKeyViolation:
			return paddock.Errorf(paddock.ENotFound, "agent %q not found", ss.AgentID)
		case v == uniqueViolation && strings.Contains(detail, "external_key"):
			return paddock.Errorf(paddock.EConflict, "a session with key %q exists", ss.ExternalKey)
		case v == uniqueViolation:
			return paddock.Errorf(paddock.EConflict, "session %q exists", ss.ID)
		}
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// UpdateSession applies the non-nil fields of upd and returns the session.
// An unknown id is ENotFound. It appends no event: status changes that
// clients should see go through Commit.
func (s *SessionService) UpdateSession(ctx context.Context, id string, upd paddock.SessionUpdate) (*paddock.Session, error) {
	return writeValue(ctx, s.db, func(c conn) (*paddock.Session, error) {
		return updateSession(ctx, s.db, c, id, upd)
	})
}

func updateSession(ctx context.Context, db *DB, c conn, id string, upd paddock.SessionUpdate) (*paddock.Session, error) {
	set, args, err := sessionSet(db, db.now(), upd)
	if err != nil {
		return nil, err
	}
	args = append(args, id)
	ss, err := scanSession(c.queryRow(ctx,
		"UPDATE sessions SET "+strings.Join(set, ", ")+" WHERE id = ? RETURNING "+sessionColumns, args...))
	if err != nil {
		return nil, sessionNotFound(err, id)
	}
	return ss, nil
}

// sessionSet returns the assignments and arguments of an update of a
// session at now.
func sessionSet(db *DB, now time.Time, upd paddock.SessionUpdate) ([]string, []any, error) {
	set := []string{"updated_at = ?"}
	args := []any{db.timeArg(now)}
	if upd.Title != nil {
		set, args = append(set, "title = ?"), append(args, *upd.Title)
	}
	if upd.Tags != nil {
		tags := *upd.Tags
		if tags == nil {
			tags = []string{}
		}
		js, err := jsonArg(tags)
		if err != nil {
			return nil, nil, err
		}
		set, args = append(set, "tags = ?"), append(args, js)
	}
	if upd.Status != nil {
		if !upd.Status.Valid() {
			return nil, nil, paddock.Errorf(paddock.EInvalid, "invalid session status %q", *upd.Status)
		}
		set, args = append(set, "status = ?"), append(args, string(*upd.Status))
	}
	if upd.EnvironmentID != nil {
		set, args = append(set, "environment_id = ?"), append(args, *upd.EnvironmentID)
	}
	return set, args, nil
}

// DeleteSession deletes the session with its messages, runs and events.
// An unknown id is ENotFound.
func (s *SessionService) DeleteSession(ctx context.Context, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM sessions WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete session %q: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("session %q not found", id))
}

// Commit implements paddock.SessionService.Commit. On PostgreSQL the
// session row is locked FOR UPDATE for the transaction; on SQLite the
// immediate transaction already excludes other writers.
func (s *SessionService) Commit(ctx context.Context, sessionID string, fn func(tx paddock.SessionTx) error) ([]*paddock.Event, error) {
	return s.db.commit(ctx, sessionID, fn)
}

// commit runs fn on the session, read and locked first. The session's row
// changes once, at the end: the changes fn made (see
// sessionTx.UpdateSession) with the count of the events appended.
func (db *DB) commit(ctx context.Context, sessionID string, fn func(tx paddock.SessionTx) error) ([]*paddock.Event, error) {
	var events []*paddock.Event
	err := db.inTx(ctx, func(c conn) error {
		lock := "SELECT " + sessionColumns + " FROM sessions WHERE id = ?"
		if db.dialect == DialectPostgres {
			lock += " FOR UPDATE"
		}
		sess, err := scanSession(c.queryRow(ctx, lock, sessionID))
		if err != nil {
			return sessionNotFound(err, sessionID)
		}
		tx := &sessionTx{db: db, c: c, sessionID: sessionID, sess: sess}
		if err := fn(tx); err != nil {
			return err
		}
		tx.done = true
		if err := tx.flush(ctx); err != nil {
			return err
		}
		events = tx.events
		return nil
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// sessionTx implements paddock.SessionTx on one transaction. It holds the
// session's lock, so its copy of the session's row is the row: it reads
// the session from there and writes the session's changes at the end.
type sessionTx struct {
	db        *DB
	c         conn
	sessionID string
	sess      *paddock.Session      // the session as fn sees it
	upd       paddock.SessionUpdate // the changes to write at the end
	updated   bool                  // whether upd holds any
	events    []*paddock.Event
	done      bool
}

func (t *sessionTx) Session(ctx context.Context) (*paddock.Session, error) {
	ss := *t.sess
	ss.Tags = slices.Clone(t.sess.Tags)
	return &ss, nil
}

// UpdateSession applies upd to the session now and writes it at the end
// of the transaction, with the event count: one update of the row.
func (t *sessionTx) UpdateSession(ctx context.Context, upd paddock.SessionUpdate) (*paddock.Session, error) {
	if upd.Status != nil && !upd.Status.Valid() {
		return nil, paddock.Errorf(paddock.EInvalid, "invalid session status %q", *upd.Status)
	}
	ss := t.sess
	if upd.Title != nil {
		ss.Title = *upd.Title
		t.upd.Title = &ss.Title
	}
	if upd.Tags != nil {
		ss.Tags = slices.Clone(*upd.Tags)
		if ss.Tags == nil {
			ss.Tags = []string{}
		}
		t.upd.Tags = &ss.Tags
	}
	if upd.Status != nil {
		ss.Status = *upd.Status
		t.upd.Status = &ss.Status
	}
	if upd.EnvironmentID != nil {
		ss.EnvironmentID = *upd.EnvironmentID
		t.upd.EnvironmentID = &ss.EnvironmentID
	}
	ss.UpdatedAt = normTime(t.db.now())
	t.updated = true
	return t.Session(ctx)
}

// flush writes the session's changes and appends the events, numbered
// after the session's last.
func (t *sessionTx) flush(ctx context.Context) error {
	if !t.updated && len(t.events) == 0 {
		return nil
	}
	var set []string
	var args []any
	if t.updated {
		var err error
		if set, args, err = sessionSet(t.db, t.sess.UpdatedAt, t.upd); err != nil {
			return err
		}
	}
	if len(t.events) > 0 {
		if err := numberEvents(t.db, t.sessionID, t.sess.LastEventSeq, t.events); err != nil {
			return err
		}
		set, args = append(set, "last_event_seq = ?"), append(args, t.sess.LastEventSeq+int64(len(t.events)))
	}
	if _, err := t.c.exec(ctx, "UPDATE sessions SET "+strings.Join(set, ", ")+" WHERE id = ?", append(args, t.sessionID)...); err != nil {
		return fmt.Errorf("update session %q: %w", t.sessionID, err)
	}
	return insertEvents(ctx, t.db, t.c, t.sessionID, t.events)
}

func (t *sessionTx) Message(ctx context.Context, id string) (*paddock.Message, error) {
	return message(ctx, t.c, id, t.sessionID)
}

func (t *sessionTx) CreateMessage(ctx context.Context, m *paddock.Message) error {
	if m == nil {
		return paddock.Errorf(paddock.EInvalid, "message is required")
	}
	m.SessionID = t.sessionID
	return createMessage(ctx, t.db, t.c, m)
}

func (t *sessionTx) Run(ctx context.Context, id string) (*paddock.Run, error) {
	r, err := scanRun(t.c.queryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ? AND session_id = ?", id, t.sessionID))
	if err != nil {
		return nil, runNotFound(err, id)
	}
	return r, nil
}

func (t *sessionTx) ActiveRuns(ctx context.Context) ([]*paddock.Run, error) {
	return queryRuns(ctx, t.c, activeRunsQuery, t.sessionID)
}

// activeRunsQuery selects a session's active runs. The statuses are
// literal, as in the runs_session_active index.
const activeRunsQuery = "SELECT " + runColumns + " FROM runs WHERE session_id = ? AND status IN ('queued', 'running') ORDER BY seq"

func (t *sessionTx) RunByIdempotencyKey(ctx context.Context, key string) (*paddock.Run, error) {
	return runByKey(ctx, t.c, t.sessionID, key)
}

func (t *sessionTx) CreateRun(ctx context.Context, r *paddock.Run) error {
	if r == nil {
		return paddock.Errorf(paddock.EInvalid, "run is required")
	}
	r.SessionID = t.sessionID
	return createRun(ctx, t.db, t.c, r)
}

func (t *sessionTx) UpdateRun(ctx context.Context, id string, upd paddock.RunUpdate) (*paddock.Run, error) {
	return updateRun(ctx, t.db, t.c, id, t.sessionID, upd)
}

// ClaimRun leases the session's run id to owner for lease if it is
// runnable: active, its lease free or expired, and the first active run of
// the session. Otherwise (another worker took it, it ended) it returns
// ENotFound. With RunService.RunnableRuns, a worker claims a run and
// records its start in one transaction.
func (t *sessionTx) ClaimRun(ctx context.Context, id, owner string, lease time.Duration) (*paddock.Run, error) {
	return claimRun(ctx, t.db, t.c, id, t.sessionID, owner, lease)
}

// Agent returns the session's agent, archived or not. With ClaimRun and
// ContextMessagesAfter, a worker reads what a run starts from in the unit
// of work that claims it: on SQLite, on the writer, whose page cache the
// writes it makes itself leave warm (a reader's is dropped on every
// write).
func (t *sessionTx) Agent(ctx context.Context) (*paddock.Agent, error) {
	a, err := scanAgent(t.c.queryRow(ctx, "SELECT "+agentColumns+" FROM agents WHERE id = ?", t.sess.AgentID))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("agent %q not found", t.sess.AgentID), fmt.Sprintf("agent %q", t.sess.AgentID))
	}
	return a, nil
}

// ContextMessagesAfter is MessageService.ContextMessagesAfter in the
// transaction.
func (t *sessionTx) ContextMessagesAfter(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
	if afterRunSeq < 0 {
		return nil, false, paddock.Errorf(paddock.EInvalid, "afterRunSeq must not be negative, got %d", afterRunSeq)
	}
	return contextMessages(ctx, t.c, t.sessionID, runSeq, afterRunSeq, afterSeq)
}

func (t *sessionTx) RecordUsage(ctx context.Context, u *paddock.UsageRecord) error {
	return recordUsage(ctx, t.db, t.c, u)
}

func (t *sessionTx) Emit(events ...*paddock.Event) {
	if t.done {
		panic("store: SessionTx.Emit after the transaction")
	}
	t.events = append(t.events, events...)
}
