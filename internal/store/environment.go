package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/paddockhq/paddock"
)

var _ paddock.EnvironmentService = (*EnvironmentService)(nil)

// EnvironmentService stores environments. It implements
// paddock.EnvironmentService.
type EnvironmentService struct {
	db *DB
}

// NewEnvironmentService returns an EnvironmentService backed by db.
func NewEnvironmentService(db *DB) *EnvironmentService { return &EnvironmentService{db: db} }

const environmentColumns = "id, name, owner_id, status, reason, image, resources, timeout, " +
	"env, command, labels, node_selector, tolerations, isolation, endpoint, namespace, " +
	"created_at, started_at, expires_at, ended_at, on_timeout, paused_remaining"

func scanEnvironment(row interface{ Scan(...any) error }) (*paddock.Environment, error) {
	var e paddock.Environment
	err := row.Scan(&e.ID, &e.Name, &e.OwnerID, &e.Status, &e.Reason, &e.Image,
		jsonCol{&e.Resources}, &e.Timeout, jsonCol{&e.Env}, jsonCol{&e.Command},
		jsonCol{&e.Labels}, jsonCol{&e.NodeSelector}, jsonCol{&e.Tolerations}, jsonCol{&e.Isolation},
		&e.Endpoint, &e.Namespace,
		timeCol{&e.CreatedAt}, nullTimeCol{&e.StartedAt}, nullTimeCol{&e.ExpiresAt}, nullTimeCol{&e.EndedAt},
		&e.OnTimeout, &e.PausedRemaining)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Environment returns the environment with the given id, or ENotFound.
func (s *EnvironmentService) Environment(ctx context.Context, id string) (*paddock.Environment, error) {
	e, err := scanEnvironment(s.db.reader().queryRow(ctx,
		"SELECT "+environmentColumns+" FROM environments WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("environment %q not found", id), fmt.Sprintf("environment %q", id))
	}
	return e, nil
}

// Environments returns the page of environments selected by filter, newest
// first (by CreatedAt, then ID), and the number the filter selects in all.
// Status and Statuses both apply when both are set. A negative offset or
// limit is EInvalid.
func (s *EnvironmentService) Environments(ctx context.Context, filter paddock.EnvironmentFilter) ([]*paddock.Environment, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	envs := []*paddock.Environment{}
	if filter.IDs != nil && len(filter.IDs) == 0 {
		return envs, 0, nil
	}

	var where []string
	var args []any
	if filter.OwnerID != nil {
		where, args = append(where, "owner_id = ?"), append(args, *filter.OwnerID)
	}
	if filter.IDs != nil {
		where = append(where, "id IN ("+placeholders(len(filter.IDs))+")")
		for _, id := range filter.IDs {
			args = append(args, id)
		}
	}
	if filter.Status != nil {
		where, args = append(where, "status = ?"), append(args, string(*filter.Status))
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
	const order = " ORDER BY created_at DESC, id DESC"

	var total int
	err := s.db.inReadTx(ctx, func(tx conn) error {
		if len(filter.Labels) > 0 {
			// Labels are JSON: select in Go, then count and page.
			rows, err := tx.query(ctx, "SELECT "+environmentColumns+" FROM environments"+cond+order, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanEnvironment(rows)
				if err != nil {
					return err
				}
				if filter.Labels.Matches(e.Labels) {
					envs = append(envs, e)
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			total = len(envs)
			envs = envs[min(filter.Offset, len(envs)):]
			if filter.Limit > 0 && len(envs) > filter.Limit {
				envs = envs[:filter.Limit]
			}
			return nil
		}

		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM environments"+cond, args...).Scan(&total); err != nil {
			return err
		}
		page, pageArgs := s.db.pageClause(filter.Offset, filter.Limit)
		rows, err := tx.query(ctx, "SELECT "+environmentColumns+" FROM environments"+cond+order+page,
			append(args, pageArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEnvironment(rows)
			if err != nil {
				return err
			}
			envs = append(envs, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list environments: %w", err)
	}
	return envs, total, nil
}

// CreateEnvironment stores env. An empty ID is set to a new UUID, an empty
// Status to pending and a zero CreatedAt to now. An invalid status is
// EInvalid; a taken ID is EConflict.
func (s *EnvironmentService) CreateEnvironment(ctx context.Context, env *paddock.Environment) error {
	if env == nil {
		return paddock.Errorf(paddock.EInvalid, "environment is required")
	}
	if env.Status == "" {
		env.Status = paddock.EnvironmentPending
	}
	if !env.Status.Valid() {
		return paddock.Errorf(paddock.EInvalid, "invalid environment status %q", env.Status)
	}
	if env.ID == "" {
		env.ID = uuid.NewString()
	}
	if env.CreatedAt.IsZero() {
		env.CreatedAt = s.db.now()
	}
	env.CreatedAt = normTime(env.CreatedAt)
	env.StartedAt, env.ExpiresAt, env.EndedAt = normTimePtr(env.StartedAt), normTimePtr(env.ExpiresAt), normTimePtr(env.EndedAt)

	var js [7]string
	for i, v := range []any{env.Resources, env.Env, env.Command, env.Labels, env.NodeSelector, env.Tolerations, env.Isolation} {
		var err error
		if js[i], err = jsonArg(v); err != nil {
			return fmt.Errorf("create environment %q: %w", env.ID, err)
		}
	}
	_, err := s.db.exec(ctx, "INSERT INTO environments ("+environmentColumns+") VALUES ("+placeholders(22)+")",
		env.ID, env.Name, env.OwnerID, string(env.Status), env.Reason, env.Image,
		js[0], env.Timeout, js[1], js[2], js[3], js[4], js[5], js[6],
		env.Endpoint, env.Namespace, s.db.timeArg(env.CreatedAt),
		s.db.nullTimeArg(env.StartedAt), s.db.nullTimeArg(env.ExpiresAt), s.db.nullTimeArg(env.EndedAt),
		env.OnTimeout, env.PausedRemaining)
	if err != nil {
		if v, _ := constraintOf(err); v == uniqueViolation {
			return paddock.Errorf(paddock.EConflict, "environment %q exists", env.ID)
		}
		return fmt.Errorf("create environment %q: %w", env.ID, err)
	}
	return nil
}

// UpdateEnvironment applies the non-nil fields of upd and returns the
// updated environment. A time field pointing at the zero time clears it. An
// invalid status is EInvalid; an unknown id is ENotFound. An empty update
// changes nothing and returns the environment.
func (s *EnvironmentService) UpdateEnvironment(ctx context.Context, id string, upd paddock.EnvironmentUpdate) (*paddock.Environment, error) {
	var set []string
	var args []any
	if upd.Status != nil {
		if !upd.Status.Valid() {
			return nil, paddock.Errorf(paddock.EInvalid, "invalid environment status %q", *upd.Status)
		}
		set, args = append(set, "status = ?"), append(args, string(*upd.Status))
	}
	if upd.Reason != nil {
		set, args = append(set, "reason = ?"), append(args, *upd.Reason)
	}
	for _, f := range []struct {
		col string
		t   *time.Time
	}{{"started_at", upd.StartedAt}, {"expires_at", upd.ExpiresAt}, {"ended_at", upd.EndedAt}} {
		if f.t == nil {
			continue
		}
		set = append(set, f.col+" = ?")
		if f.t.IsZero() {
			args = append(args, nil)
		} else {
			args = append(args, s.db.timeArg(*f.t))
		}
	}
	if upd.Endpoint != nil {
		set, args = append(set, "endpoint = ?"), append(args, *upd.Endpoint)
	}
	if upd.Namespace != nil {
		set, args = append(set, "namespace = ?"), append(args, *upd.Namespace)
	}
	if upd.Timeout != nil {
		set, args = append(set, "timeout = ?"), append(args, *upd.Timeout)
	}
	if upd.OnTimeout != nil {
		set, args = append(set, "on_timeout = ?"), append(args, *upd.OnTimeout)
	}
	if upd.PausedRemaining != nil {
		set, args = append(set, "paused_remaining = ?"), append(args, *upd.PausedRemaining)
	}
	if upd.Isolation != nil {
		iso, err := jsonArg(upd.Isolation)
		if err != nil {
			return nil, fmt.Errorf("update environment %q: %w", id, err)
		}
		set, args = append(set, "isolation = ?"), append(args, iso)
	}
	if len(set) == 0 {
		return s.Environment(ctx, id)
	}
	args = append(args, id)
	e, err := writeValue(ctx, s.db, func(c conn) (*paddock.Environment, error) {
		return scanEnvironment(c.queryRow(ctx,
			"UPDATE environments SET "+strings.Join(set, ", ")+" WHERE id = ? RETURNING "+environmentColumns, args...))
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("environment %q not found", id), fmt.Sprintf("update environment %q", id))
	}
	return e, nil
}

// DeleteEnvironment deletes the environment's row. Unknown ids are
// ENotFound.
func (s *EnvironmentService) DeleteEnvironment(ctx context.Context, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM environments WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete environment %q: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("environment %q not found", id))
}
