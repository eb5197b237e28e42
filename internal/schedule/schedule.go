// Package schedule runs scheduled tasks: at each tick of a schedule's cron
// expression (in its time zone) it posts the schedule's prompt to its
// agent, in a new session or in the schedule's own, and records the run.
//
// Replicas sharing a database may all run a Scheduler: a tick is claimed
// by moving the schedule's next run time with a compare-and-set, so only
// one replica runs it. A tick missed while no Scheduler ran (Paddock was
// down) runs once when one starts again; further missed ticks are skipped,
// and the next run is the next tick after now.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/paddockhq/paddock"
)

// Runner posts the prompt of a run: *agent.Runner.
type Runner interface {
	Post(ctx context.Context, sessionID string, msg *paddock.Message, idempotencyKey, requestHash string) (*paddock.Message, error)
}

// Deps are a Scheduler's collaborators.
type Deps struct {
	Schedules paddock.ScheduleService
	Agents    paddock.AgentService
	Sessions  paddock.SessionService
	Runs      interface {
		Run(ctx context.Context, id string) (*paddock.Run, error)
	}
	Runner Runner
	Log    *slog.Logger
}

// Scheduler fires due schedules and records how their runs end.
type Scheduler struct {
	d    Deps
	tick time.Duration
	now  func() time.Time
}

// New returns a Scheduler that checks every tick (default 1s).
func New(d Deps, tick time.Duration) *Scheduler {
	if tick <= 0 {
		tick = time.Second
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Log = d.Log.With("component", "scheduler")
	return &Scheduler{d: d, tick: tick, now: time.Now}
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// MinInterval is the shortest interval of an "@every" expression, the
// finest grain of a 5-field one. The cron library runs any shorter
// interval, even zero or negative, every second.
const MinInterval = time.Minute

// Next returns the first tick of spec, in time zone tz ("" is UTC), after
// t. A malformed expression, an "@every" interval under MinInterval or an
// unknown zone is EInvalid.
func Next(spec, tz string, t time.Time) (time.Time, error) {
	loc, err := location(tz)
	if err != nil {
		return time.Time{}, err
	}
	if strings.Contains(spec, "TZ=") {
		return time.Time{}, paddock.Errorf(paddock.EInvalid, "cron: set the time zone in time_zone, not in the expression")
	}
	if v, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil && d < MinInterval {
			return time.Time{}, paddock.Errorf(paddock.EInvalid, "cron %q: the interval of @every must be at least %s, not %s", spec, strings.TrimSuffix(MinInterval.String(), "0s"), d)
		}
	}
	s, err := parser.Parse(strings.TrimSpace(spec))
	if err != nil {
		return time.Time{}, paddock.Errorf(paddock.EInvalid, "cron %q: %v (want 5 fields, minute hour day-of-month month day-of-week, or @every 1h, @hourly, @daily, @weekly, @monthly)", spec, err)
	}
	next := s.Next(t.In(loc))
	if next.IsZero() {
		return time.Time{}, paddock.Errorf(paddock.EInvalid, "cron %q never fires", spec)
	}
	return next.UTC(), nil
}

func location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "time_zone %q is not a known IANA time zone (e.g. Europe/Paris)", tz)
	}
	return loc, nil
}

// Run fires due schedules and settles ended runs every tick until ctx is
// done.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		s.fireDue(ctx)
		s.settle(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// fireDue claims and starts the ticks that are due.
func (s *Scheduler) fireDue(ctx context.Context) {
	now := s.now()
	due, err := s.d.Schedules.DueSchedules(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.d.Log.Error("read due schedules", "err", err)
		}
		return
	}
	for _, sc := range due {
		tick := *sc.NextRunAt
		next, err := Next(sc.Cron, sc.TimeZone, now)
		if err != nil { // valid when stored (before MinInterval, say): disable it rather than spin
			s.d.Log.Error("schedule has a bad expression; disabling it", "schedule_id", sc.ID, "err", err)
			off, none := false, (*time.Time)(nil)
			_, _ = s.d.Schedules.UpdateSchedule(ctx, sc.ID, paddock.ScheduleUpdate{Enabled: &off, NextRunAt: &none})
			continue
		}
		won, err := s.d.Schedules.AdvanceSchedule(ctx, sc.ID, tick, next)
		if err != nil || !won {
			continue // another replica has this tick, or the store failed (retried next tick)
		}
		if _, err := s.Fire(ctx, sc, paddock.TriggerCron, &tick); err != nil {
			s.d.Log.Warn("scheduled run failed to start", "schedule_id", sc.ID, "err", err)
		}
	}
}

// Fire starts a run of sc now and records it; a run that cannot start is
// recorded as failed and returned with the error.
func (s *Scheduler) Fire(ctx context.Context, sc *paddock.Schedule, trigger string, tick *time.Time) (*paddock.ScheduleRun, error) {
	run := &paddock.ScheduleRun{ScheduleID: sc.ID, Trigger: trigger, ScheduledFor: tick, Status: paddock.ScheduleRunRunning}
	if err := s.d.Schedules.CreateScheduleRun(ctx, run); err != nil {
		return nil, err
	}
	err := s.start(ctx, sc, run)
	if err != nil {
		now := s.now()
		run.Status, run.Error, run.EndedAt = paddock.ScheduleRunFailed, paddock.ErrorMessage(err), &now
	}
	if uerr := s.d.Schedules.UpdateScheduleRun(ctx, run); uerr != nil && err == nil {
		err = uerr
	}
	return run, err
}

func (s *Scheduler) start(ctx context.Context, sc *paddock.Schedule, run *paddock.ScheduleRun) error {
	a, err := s.d.Agents.Agent(ctx, sc.AgentID)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if a.Archived {
		return paddock.Errorf(paddock.EConflict, "agent %s is archived", a.ID)
	}
	sessionID := sc.SessionID
	if sc.SessionMode != paddock.ScheduleFixedSession || sessionID == "" {
		sess := &paddock.Session{AgentID: a.ID, OwnerID: sc.OwnerID, Status: paddock.SessionPending,
			Title: fmt.Sprintf("%s %s", sc.Name, s.now().UTC().Format(time.RFC3339)), Tags: []string{"scheduled"}}
		if sc.SessionMode == paddock.ScheduleFixedSession {
			sess.Title = sc.Name
		}
		if err := s.d.Sessions.CreateSession(ctx, sess); err != nil {
			return err
		}
		sessionID = sess.ID
		if sc.SessionMode == paddock.ScheduleFixedSession {
			if _, err := s.d.Schedules.UpdateSchedule(ctx, sc.ID, paddock.ScheduleUpdate{SessionID: &sessionID}); err != nil {
				return err
			}
			sc.SessionID = sessionID
		}
	}
	run.SessionID = sessionID
	msg, err := s.d.Runner.Post(ctx, sessionID, &paddock.Message{Role: paddock.MessageUser,
		Content: []paddock.ContentPart{paddock.TextPart(sc.Prompt)}}, "schedule-"+run.ID, run.ID)
	if err != nil {
		return err
	}
	run.RunID = msg.RunID
	return nil
}

// settle records the end of runs whose agent run ended.
func (s *Scheduler) settle(ctx context.Context) {
	open, err := s.d.Schedules.OpenScheduleRuns(ctx)
	if err != nil {
		return
	}
	for _, sr := range open {
		if sr.RunID == "" {
			continue
		}
		r, err := s.d.Runs.Run(ctx, sr.RunID)
		switch {
		case paddock.ErrorCode(err) == paddock.ENotFound: // its session was deleted
			sr.Status, sr.Error = paddock.ScheduleRunFailed, "the session of the run was deleted"
		case err != nil || !r.Status.Done():
			continue
		case r.Status == paddock.RunCompleted:
			sr.Status = paddock.ScheduleRunCompleted
		default:
			sr.Status, sr.Error = paddock.ScheduleRunFailed, "the run "+string(r.Status)
			if r.Error != "" {
				sr.Error += ": " + r.Error
			}
		}
		now := s.now()
		sr.EndedAt = &now
		if err := s.d.Schedules.UpdateScheduleRun(ctx, sr); err != nil {
			s.d.Log.Warn("record scheduled run end", "schedule_run_id", sr.ID, "err", err)
		}
	}
}
