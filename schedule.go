package paddock

import (
	"context"
	"time"
)

// Session modes of a schedule.
const (
	ScheduleNewSession   = "new"   // each run in a new session
	ScheduleFixedSession = "fixed" // every run in the schedule's session
)

// Schedule is a scheduled task: a cron expression in a time zone and an
// action, a prompt posted to an agent.
type Schedule struct {
	ID          string // "sch_..."
	OwnerID     int64
	Name        string
	Cron        string // 5 fields, or @every 1h30m, @daily, @hourly, ...
	TimeZone    string // IANA name; "" is UTC
	AgentID     string
	Prompt      string
	SessionMode string // ScheduleNewSession or ScheduleFixedSession
	SessionID   string // the fixed session, created by the first run
	Enabled     bool
	NextRunAt   *time.Time // nil while disabled
	LastRunAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Schedule run statuses.
const (
	ScheduleRunRunning   = "running"
	ScheduleRunCompleted = "completed"
	ScheduleRunFailed    = "failed"
)

// Schedule run triggers.
const (
	TriggerCron   = "cron"   // its time came
	TriggerManual = "manual" // POST .../run
)

// ScheduleRun is one execution of a schedule.
type ScheduleRun struct {
	ID           string // "srn_..."
	ScheduleID   string
	Trigger      string
	ScheduledFor *time.Time // the tick it ran for (cron)
	Status       string
	SessionID    string
	RunID        string // the agent run
	Error        string
	StartedAt    time.Time
	EndedAt      *time.Time
}

// ScheduleFilter selects schedules. Zero fields do not filter.
type ScheduleFilter struct {
	OwnerID *int64
	Offset  int
	Limit   int // 0 means no limit
}

// ScheduleUpdate holds the fields to change; nil fields are left alone.
type ScheduleUpdate struct {
	Name        *string
	Cron        *string
	TimeZone    *string
	AgentID     *string
	Prompt      *string
	SessionMode *string
	SessionID   *string
	Enabled     *bool
	NextRunAt   **time.Time
}

// ScheduleService stores schedules and their runs. Unknown ids are
// ENotFound.
type ScheduleService interface {
	Schedule(ctx context.Context, id string) (*Schedule, error)
	Schedules(ctx context.Context, filter ScheduleFilter) ([]*Schedule, int, error)
	CreateSchedule(ctx context.Context, s *Schedule) error
	UpdateSchedule(ctx context.Context, id string, upd ScheduleUpdate) (*Schedule, error)
	DeleteSchedule(ctx context.Context, id string) error

	// DueSchedules returns the enabled schedules whose NextRunAt is not
	// after now.
	DueSchedules(ctx context.Context, now time.Time) ([]*Schedule, error)
	// AdvanceSchedule moves a schedule's NextRunAt from from to next and
	// sets LastRunAt to from, only if NextRunAt is still from: of
	// replicas racing for a tick, exactly one gets true.
	AdvanceSchedule(ctx context.Context, id string, from, next time.Time) (bool, error)

	CreateScheduleRun(ctx context.Context, r *ScheduleRun) error
	UpdateScheduleRun(ctx context.Context, r *ScheduleRun) error
	// ScheduleRuns returns a schedule's runs, newest first.
	ScheduleRuns(ctx context.Context, scheduleID string, offset, limit int) ([]*ScheduleRun, int, error)
	// OpenScheduleRuns returns the runs still running.
	OpenScheduleRuns(ctx context.Context) ([]*ScheduleRun, error)
}
