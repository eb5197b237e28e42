package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

var _ paddock.ScheduleService = (*ScheduleService)(nil)

// ScheduleService stores scheduled tasks and their runs. It implements
// paddock.ScheduleService.
type ScheduleService struct {
	db *DB
}

// NewScheduleService returns a ScheduleService backed by db.
func NewScheduleService(db *DB) *ScheduleService { return &ScheduleService{db: db} }

const scheduleColumns = "id, owner_id, name, cron, time_zone, agent_id, prompt, session_mode, session_id, " +
	"enabled, next_run_at, last_run_at, created_at, updated_at"

func scanSchedule(row interface{ Scan(...any) error }) (*paddock.Schedule, error) {
	var s paddock.Schedule
	err := row.Scan(&s.ID, &s.OwnerID, &s.Name, &s.Cron, &s.TimeZone, &s.AgentID, &s.Prompt, &s.SessionMode, &s.SessionID,
		&s.Enabled, nullTimeCol{&s.NextRunAt}, nullTimeCol{&s.LastRunAt}, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func scheduleNotFound(err error, id string) error {
	return notFound(err, fmt.Sprintf("scheduled task %q not found", id), fmt.Sprintf("schedule %q", id))
}

// Schedule returns the schedule with the given id, or ENotFound.
func (s *ScheduleService) Schedule(ctx context.Context, id string) (*paddock.Schedule, error) {
	sc, err := scanSchedule(s.db.reader().queryRow(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE id = ?", id))
	if err != nil {
		return nil, scheduleNotFound(err, id)
	}
	return sc, nil
}

// Schedules returns the page of schedules filter selects, newest first,
// and how many it selects in all.
func (s *ScheduleService) Schedules(ctx context.Context, filter paddock.ScheduleFilter) ([]*paddock.Schedule, int, error) {
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if filter.OwnerID != nil {
		where, args = append(where, "owner_id = ?"), append(args, *filter.OwnerID)
	}
	out, total, err := listPage(ctx, s.db, "schedules", scheduleColumns, where, args, "created_at DESC, id DESC", filter.Offset, filter.Limit, scanSchedule)
	if err != nil {
		return nil, 0, fmt.Errorf("list schedules: %w", err)
	}
	return out, total, nil
}

// CreateSchedule stores sc, setting its ID (when empty) and times.
func (s *ScheduleService) CreateSchedule(ctx context.Context, sc *paddock.Schedule) error {
	if sc.ID == "" {
		sc.ID = newID("sch")
	}
	sc.CreatedAt = normTime(s.db.now())
	sc.UpdatedAt = sc.CreatedAt
	_, err := s.db.exec(ctx, "INSERT INTO schedules ("+scheduleColumns+") VALUES ("+placeholders(14)+")",
		sc.ID, sc.OwnerID, sc.Name, sc.Cron, sc.TimeZone, sc.AgentID, sc.Prompt, sc.SessionMode, sc.SessionID,
		sc.Enabled, s.db.nullTimeArg(sc.NextRunAt), s.db.nullTimeArg(sc.LastRunAt), s.db.timeArg(sc.CreatedAt), s.db.timeArg(sc.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create schedule: %w", err)
	}
	return nil
}

// UpdateSchedule applies the non-nil fields of upd and returns the
// schedule.
func (s *ScheduleService) UpdateSchedule(ctx context.Context, id string, upd paddock.ScheduleUpdate) (*paddock.Schedule, error) {
	set := []string{"updated_at = ?"}
	args := []any{s.db.timeArg(s.db.now())}
	for _, f := range []struct {
		col string
		v   *string
	}{{"name", upd.Name}, {"cron", upd.Cron}, {"time_zone", upd.TimeZone}, {"agent_id", upd.AgentID},
		{"prompt", upd.Prompt}, {"session_mode", upd.SessionMode}, {"session_id", upd.SessionID}} {
		if f.v != nil {
			set, args = append(set, f.col+" = ?"), append(args, *f.v)
		}
	}
	if upd.Enabled != nil {
		set, args = append(set, "enabled = ?"), append(args, *upd.Enabled)
	}
	if upd.NextRunAt != nil {
		set, args = append(set, "next_run_at = ?"), append(args, s.db.nullTimeArg(*upd.NextRunAt))
	}
	sc, err := writeValue(ctx, s.db, func(c conn) (*paddock.Schedule, error) {
		return scanSchedule(c.queryRow(ctx,
			"UPDATE schedules SET "+strings.Join(set, ", ")+" WHERE id = ? RETURNING "+scheduleColumns, append(args, id)...))
	})
	if err != nil {
		return nil, scheduleNotFound(err, id)
	}
	return sc, nil
}

// DeleteSchedule deletes a schedule and its runs' records.
func (s *ScheduleService) DeleteSchedule(ctx context.Context, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM schedules WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete schedule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return paddock.Errorf(paddock.ENotFound, "scheduled task %q not found", id)
	}
	return nil
}

// DueSchedules returns the enabled schedules due at now, oldest tick first.
func (s *ScheduleService) DueSchedules(ctx context.Context, now time.Time) ([]*paddock.Schedule, error) {
	rows, err := s.db.reader().query(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE enabled = ? AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at",
		true, s.db.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("due schedules: %w", err)
	}
	defer rows.Close()
	var out []*paddock.Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// AdvanceSchedule moves NextRunAt from from to next if it is still from.
func (s *ScheduleService) AdvanceSchedule(ctx context.Context, id string, from, next time.Time) (bool, error) {
	res, err := s.db.exec(ctx, "UPDATE schedules SET next_run_at = ?, last_run_at = ? WHERE id = ? AND enabled = ? AND next_run_at = ?",
		s.db.timeArg(next), s.db.timeArg(from), id, true, s.db.timeArg(from))
	if err != nil {
		return false, fmt.Errorf("advance schedule: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const scheduleRunColumns = "id, schedule_id, trigger_kind, scheduled_for, status, session_id, run_id, error, started_at, ended_at"

func scanScheduleRun(row interface{ Scan(...any) error }) (*paddock.ScheduleRun, error) {
	var r paddock.ScheduleRun
	err := row.Scan(&r.ID, &r.ScheduleID, &r.Trigger, nullTimeCol{&r.ScheduledFor}, &r.Status, &r.SessionID, &r.RunID,
		&r.Error, timeCol{&r.StartedAt}, nullTimeCol{&r.EndedAt})
	return &r, err
}

// CreateScheduleRun stores r, setting its ID (when empty) and StartedAt.
func (s *ScheduleService) CreateScheduleRun(ctx context.Context, r *paddock.ScheduleRun) error {
	if r.ID == "" {
		r.ID = newID("srn")
	}
	r.StartedAt = normTime(s.db.now())
	_, err := s.db.exec(ctx, "INSERT INTO schedule_runs ("+scheduleRunColumns+") VALUES ("+placeholders(10)+")",
		r.ID, r.ScheduleID, r.Trigger, s.db.nullTimeArg(r.ScheduledFor), r.Status, r.SessionID, r.RunID, r.Error,
		s.db.timeArg(r.StartedAt), s.db.nullTimeArg(r.EndedAt))
	if err != nil {
		if v, _ := constraintOf(err); v == foreignKeyViolation {
			return paddock.Errorf(paddock.ENotFound, "scheduled task %q not found", r.ScheduleID)
		}
		return fmt.Errorf("create schedule run: %w", err)
	}
	return nil
}

// UpdateScheduleRun stores r's status, session, run, error and end.
func (s *ScheduleService) UpdateScheduleRun(ctx context.Context, r *paddock.ScheduleRun) error {
	_, err := s.db.exec(ctx, "UPDATE schedule_runs SET status = ?, session_id = ?, run_id = ?, error = ?, ended_at = ? WHERE id = ?",
		r.Status, r.SessionID, r.RunID, r.Error, s.db.nullTimeArg(r.EndedAt), r.ID)
	if err != nil {
		return fmt.Errorf("update schedule run: %w", err)
	}
	return nil
}

// ScheduleRuns returns a schedule's runs, newest first.
func (s *ScheduleService) ScheduleRuns(ctx context.Context, scheduleID string, offset, limit int) ([]*paddock.ScheduleRun, int, error) {
	if err := checkPage(offset, limit); err != nil {
		return nil, 0, err
	}
	out, total, err := listPage(ctx, s.db, "schedule_runs", scheduleRunColumns, []string{"schedule_id = ?"}, []any{scheduleID},
		"started_at DESC, id DESC", offset, limit, scanScheduleRun)
	if err != nil {
		return nil, 0, fmt.Errorf("list schedule runs: %w", err)
	}
	return out, total, nil
}

// OpenScheduleRuns returns the runs still running.
func (s *ScheduleService) OpenScheduleRuns(ctx context.Context) ([]*paddock.ScheduleRun, error) {
	out, _, err := listPage(ctx, s.db, "schedule_runs", scheduleRunColumns, []string{"status = ?"}, []any{paddock.ScheduleRunRunning},
		"started_at", 0, 0, scanScheduleRun)
	return out, err
}
