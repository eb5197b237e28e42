package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

var _ paddock.RunService = (*RunService)(nil)

// RunService stores runs and hands them out to workers under leases. It
// implements paddock.RunService.
type RunService struct {
	db *DB
}

// NewRunService returns a RunService backed by db.
func NewRunService(db *DB) *RunService { return &RunService{db: db} }

const runColumns = "id, session_id, seq, status, error, step, trigger_message_id, idempotency_key, request_hash, " +
	"lease_owner, lease_expires_at, cancel_requested, created_at, started_at, ended_at, options, trace_parent"

func scanRun(row interface{ Scan(...any) error }) (*paddock.Run, error) {
	var r paddock.Run
	err := row.Scan(&r.ID, &r.SessionID, &r.Seq, &r.Status, &r.Error, &r.Step, &r.TriggerMessageID,
		&r.IdempotencyKey, &r.RequestHash, &r.LeaseOwner, nullTimeCol{&r.LeaseExpiresAt}, &r.CancelRequested,
		timeCol{&r.CreatedAt}, nullTimeCol{&r.StartedAt}, nullTimeCol{&r.EndedAt}, jsonCol{&r.Options}, &r.TraceParent)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func runNotFound(err error, id string) error {
	return notFound(err, fmt.Sprintf("run %q not found", id), fmt.Sprintf("run %q", id))
}

func queryRuns(ctx context.Context, c conn, q string, args ...any) ([]*paddock.Run, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	runs := []*paddock.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

func runByKey(ctx context.Context, c conn, sessionID, key string) (*paddock.Run, error) {
	if key == "" {
		return nil, paddock.Errorf(paddock.ENotFound, "idempotency key is empty")
	}
	r, err := scanRun(c.queryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE session_id = ? AND idempotency_key = ?", sessionID, key))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("no run with idempotency key %q", key), "run by idempotency key")
	}
	return r, nil
}

// createRun inserts r as the next run of its session, in one statement.
// The caller holds the session's lock (see DB.commit).
func createRun(ctx context.Context, db *DB, c conn, r *paddock.Run) error {
	if r.Status == "" {
		r.Status = paddock.RunQueued
	}
	if !r.Status.Valid() {
		return paddock.Errorf(paddock.EInvalid, "invalid run status %q", r.Status)
	}
	if r.ID == "" {
		r.ID = newID("run")
	}
	r.CreatedAt = normTime(db.now())
	r.LeaseExpiresAt, r.StartedAt, r.EndedAt = normTimePtr(r.LeaseExpiresAt), normTimePtr(r.StartedAt), normTimePtr(r.EndedAt)
	opts, err := jsonArg(r.Options)
	if err != nil {
		return err
	}
	err = c.queryRow(ctx, "INSERT INTO runs ("+runColumns+") VALUES (?, ?, "+
		"(SELECT COALESCE(MAX(seq), 0) + 1 FROM runs WHERE session_id = ?), "+placeholders(14)+") RETURNING seq",
		r.ID, r.SessionID, r.SessionID, string(r.Status), r.Error, r.Step, r.TriggerMessageID, r.IdempotencyKey, r.RequestHash,
		r.LeaseOwner, db.nullTimeArg(r.LeaseExpiresAt), r.CancelRequested,
		db.timeArg(r.CreatedAt), db.nullTimeArg(r.StartedAt), db.nullTimeArg(r.EndedAt), opts, r.TraceParent).Scan(&r.Seq)
	if err != nil {
		switch v, detail := constraintOf(err); {
		case v == uniqueViolation && strings.Contains(detail, "idempotency"):
			return paddock.Errorf(paddock.EConflict, "idempotency key %q is taken", r.IdempotencyKey)
		case v == uniqueViolation:
			return paddock.Errorf(paddock.EConflict, "run %q exists", r.ID)
		case v == foreignKeyViolation:
			return paddock.Errorf(paddock.ENotFound, "session %q not found", r.SessionID)
		}
		return fmt.Errorf("create run: %w", err)
	}
	return nil
}

// updateRun applies upd to run id, of session sessionID when that is not "".
func updateRun(ctx context.Context, db *DB, c conn, id, sessionID string, upd paddock.RunUpdate) (*paddock.Run, error) {
	var set []string
	var args []any
	if upd.Status != nil {
		if !upd.Status.Valid() {
			return nil, paddock.Errorf(paddock.EInvalid, "invalid run status %q", *upd.Status)
		}
		set, args = append(set, "status = ?"), append(args, string(*upd.Status))
	}
	if upd.Error != nil {
		set, args = append(set, "error = ?"), append(args, *upd.Error)
	}
	if upd.Step != nil {
		set, args = append(set, "step = ?"), append(args, *upd.Step)
	}
	if upd.LeaseOwner != nil {
		set, args = append(set, "lease_owner = ?"), append(args, *upd.LeaseOwner)
	}
	if upd.CancelRequested != nil {
		set, args = append(set, "cancel_requested = ?"), append(args, *upd.CancelRequested)
	}
	for _, f := range []struct {
		col string
		t   *time.Time
	}{{"lease_expires_at", upd.LeaseExpiresAt}, {"started_at", upd.StartedAt}, {"ended_at", upd.EndedAt}} {
		if f.t == nil {
			continue
		}
		set = append(set, f.col+" = ?")
		if f.t.IsZero() {
			args = append(args, nil)
		} else {
			args = append(args, db.timeArg(*f.t))
		}
	}
	where, wargs := " WHERE id = ?", []any{id}
	if sessionID != "" {
		where, wargs = where+" AND session_id = ?", append(wargs, sessionID)
	}
	if len(set) == 0 {
		r, err := scanRun(c.queryRow(ctx, "SELECT "+runColumns+" FROM runs"+where, wargs...))
		if err != nil {
			return nil, runNotFound(err, id)
		}
		return r, nil
	}
	r, err := scanRun(c.queryRow(ctx, "UPDATE runs SET "+strings.Join(set, ", ")+where+" RETURNING "+runColumns,
		append(args, wargs...)...))
	if err != nil {
		return nil, runNotFound(err, id)
	}
	return r, nil
}

// Run returns the run with the given id, or ENotFound.
func (s *RunService) Run(ctx context.Context, id string) (*paddock.Run, error) {
	r, err := scanRun(s.db.reader().queryRow(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", id))
	if err != nil {
		return nil, runNotFound(err, id)
	}
	return r, nil
}

// Runs returns the page of runs selected by filter, oldest first, and the
// number selected in all.
func (s *RunService) Runs(ctx context.Context, filter paddock.RunFilter) ([]*paddock.Run, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if filter.SessionID != nil {
		where, args = append(where, "session_id = ?"), append(args, *filter.SessionID)
	}
	if len(filter.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(filter.Statuses))+")")
		for _, st := range filter.Statuses {
			args = append(args, string(st))
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var runs []*paddock.Run
	var total int
	err := s.db.inReadTx(ctx, func(tx conn) error {
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM runs"+cond, args...).Scan(&total); err != nil {
			return err
		}
		page, pageArgs := s.db.pageClause(filter.Offset, filter.Limit)
		var err error
		runs, err = queryRuns(ctx, tx, "SELECT "+runColumns+" FROM runs"+cond+" ORDER BY session_id, seq"+page, append(args, pageArgs...)...)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	return runs, total, nil
}

// RunByIdempotencyKey returns the session's run created with key, or
// ENotFound.
func (s *RunService) RunByIdempotencyKey(ctx context.Context, sessionID, key string) (*paddock.Run, error) {
	return runByKey(ctx, s.db.reader(), sessionID, key)
}

// UpdateRun applies the non-nil fields of upd and returns the run. It
// appends no event: changes clients see go through SessionService.Commit.
func (s *RunService) UpdateRun(ctx context.Context, id string, upd paddock.RunUpdate) (*paddock.Run, error) {
	return writeValue(ctx, s.db, func(c conn) (*paddock.Run, error) {
		return updateRun(ctx, s.db, c, id, "", upd)
	})
}

// claimQuery selects the oldest runnable run: active, its lease free or
// expired, and first among the active runs of its session. Like every
// query for active runs, it names the statuses literally, as the
// runs_session_active index does (TestActiveRunQueriesUseIndex).
const claimQuery = `SELECT id FROM runs r
WHERE r.status IN ('queued', 'running')
	AND (r.lease_expires_at IS NULL OR r.lease_expires_at < ?)
	AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.session_id = r.session_id
		AND o.status IN ('queued', 'running') AND o.seq < r.seq)
ORDER BY r.created_at, r.id
LIMIT 1`

// RunnableRuns returns, oldest first, up to limit of the runs ClaimRun
// would claim now, without claiming them; none is an empty list. A worker
// then claims one inside a unit of work on its session (see the SessionTx
// of Commit), where it records the run's start too; another worker may
// have claimed it in between.
func (s *RunService) RunnableRuns(ctx context.Context, limit int) ([]*paddock.Run, error) {
	if limit <= 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "limit must be positive, got %d", limit)
	}
	return queryRuns(ctx, s.db.reader(), runnableQuery, s.db.timeArg(s.db.now()), limit)
}

// runnableQuery is claimQuery selecting whole runs, up to a limit.
var runnableQuery = strings.NewReplacer("SELECT id FROM", "SELECT "+qualify("r", runColumns)+" FROM",
	"LIMIT 1", "LIMIT ?").Replace(claimQuery)

// claimRunQuery leases a run if it is runnable, returning it.
const claimRunQuery = `UPDATE runs SET lease_owner = ?, lease_expires_at = ?
WHERE id = ? AND session_id = ? AND status IN ('queued', 'running')
	AND (lease_expires_at IS NULL OR lease_expires_at < ?)
	AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.session_id = runs.session_id
		AND o.status IN ('queued', 'running') AND o.seq < runs.seq)
RETURNING ` + runColumns

// claimRun leases run id of session sessionID to owner if it is runnable
// (as claimQuery defines it), or returns ENotFound.
func claimRun(ctx context.Context, db *DB, c conn, id, sessionID, owner string, lease time.Duration) (*paddock.Run, error) {
	if owner == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "lease owner is required")
	}
	if lease <= 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "lease must be positive")
	}
	now := db.now()
	r, err := scanRun(c.queryRow(ctx, claimRunQuery, owner, db.timeArg(now.Add(lease)), id, sessionID, db.timeArg(now)))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("run %q is not runnable", id), fmt.Sprintf("claim run %q", id))
	}
	return r, nil
}

// ClaimRun implements paddock.RunService.ClaimRun. On PostgreSQL the
// candidate row is selected FOR UPDATE SKIP LOCKED, so concurrent claimers
// pass over each other's candidates instead of waiting; on SQLite the
// immediate transaction makes the select and the update one step.
func (s *RunService) ClaimRun(ctx context.Context, owner string, lease time.Duration) (*paddock.Run, error) {
	if owner == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "lease owner is required")
	}
	if lease <= 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "lease must be positive")
	}
	if s.db.dialect == DialectSQLite {
		// Look first on a reader: a worker polls, and most of its looks
		// find nothing; they should not queue for the only writer.
		var id string
		err := s.db.reader().queryRow(ctx, claimQuery, s.db.timeArg(s.db.now())).Scan(&id)
		if err != nil {
			return nil, notFound(err, "no runnable run", "claim run")
		}
	}
	var claimed *paddock.Run
	err := s.db.inTx(ctx, func(tx conn) error {
		now := s.db.now()
		q := claimQuery
		if s.db.dialect == DialectPostgres {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var id string
		if err := tx.queryRow(ctx, q, s.db.timeArg(now)).Scan(&id); err != nil {
			return notFound(err, "no runnable run", "claim run")
		}
		r, err := scanRun(tx.queryRow(ctx, "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? RETURNING "+runColumns,
			owner, s.db.timeArg(now.Add(lease)), id))
		if err != nil {
			return fmt.Errorf("claim run %q: %w", id, err)
		}
		claimed = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// RenewLease implements paddock.RunService.RenewLease.
func (s *RunService) RenewLease(ctx context.Context, id, owner string, lease time.Duration) (*paddock.Run, error) {
	r, err := writeValue(ctx, s.db, func(c conn) (*paddock.Run, error) {
		return scanRun(c.queryRow(ctx,
			"UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status IN ('queued', 'running') RETURNING "+runColumns,
			s.db.timeArg(s.db.now().Add(lease)), id, owner))
	})
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("renew lease of run %q: %w", id, err)
	}
	if _, err := s.Run(ctx, id); err != nil {
		return nil, err
	}
	return nil, paddock.Errorf(paddock.EConflict, "lease on run %q is lost", id)
}
