package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/schedule"
)

// Scheduler starts runs of scheduled tasks: *schedule.Scheduler.
type Scheduler interface {
	Fire(ctx context.Context, sc *paddock.Schedule, trigger string, tick *time.Time) (*paddock.ScheduleRun, error)
}

type scheduleRequest struct {
	Name        *string `json:"name,omitempty"`
	Cron        *string `json:"cron,omitempty" description:"5 fields (minute hour day-of-month month day-of-week), or @every 1h30m, @hourly, @daily, @weekly, @monthly"`
	TimeZone    *string `json:"time_zone,omitempty" description:"IANA time zone of the expression; default UTC"`
	AgentID     *string `json:"agent_id,omitempty" description:"the agent's id or name"`
	Prompt      *string `json:"prompt,omitempty"`
	SessionMode *string `json:"session_mode,omitempty" enum:"new,fixed" description:"new: a session per run (default); fixed: every run in one session"`
	Enabled     *bool   `json:"enabled,omitempty" description:"default true"`
}

type scheduleResponse struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Cron        string     `json:"cron"`
	TimeZone    string     `json:"time_zone"`
	AgentID     string     `json:"agent_id"`
	Prompt      string     `json:"prompt"`
	SessionMode string     `json:"session_mode" enum:"new,fixed"`
	SessionID   string     `json:"session_id,omitempty"`
	Enabled     bool       `json:"enabled"`
	NextRunAt   *time.Time `json:"next_run_at"`
	LastRunAt   *time.Time `json:"last_run_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

type scheduleListResponse struct {
	Items []scheduleResponse `json:"items"`
	Total int                `json:"total"`
	Page  int                `json:"page"`
	Size  int                `json:"size"`
}

type scheduleRunResponse struct {
	ID           string     `json:"id"`
	ScheduleID   string     `json:"schedule_id"`
	Trigger      string     `json:"trigger" enum:"cron,manual"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	Status       string     `json:"status" enum:"running,completed,failed"`
	SessionID    string     `json:"session_id,omitempty"`
	RunID        string     `json:"run_id,omitempty"`
	Error        string     `json:"error,omitempty"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
}

type scheduleRunListResponse struct {
	Items []scheduleRunResponse `json:"items"`
	Total int                   `json:"total"`
	Page  int                   `json:"page"`
	Size  int                   `json:"size"`
}

type schedulePageParams struct {
	Page int `query:"page" minimum:"1" default:"1"`
	Size int `query:"size" minimum:"1" maximum:"200" default:"20"`
}

type scheduleRunsParams struct {
	ID   string `path:"id"`
	Page int    `query:"page" minimum:"1" default:"1"`
	Size int    `query:"size" minimum:"1" maximum:"200" default:"20"`
}

func toScheduleResponse(sc *paddock.Schedule) scheduleResponse {
	return scheduleResponse{ID: sc.ID, Name: sc.Name, Cron: sc.Cron, TimeZone: sc.TimeZone, AgentID: sc.AgentID, Prompt: sc.Prompt,
		SessionMode: sc.SessionMode, SessionID: sc.SessionID, Enabled: sc.Enabled, NextRunAt: sc.NextRunAt, LastRunAt: sc.LastRunAt,
		CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt}
}

func toScheduleRunResponse(r *paddock.ScheduleRun) scheduleRunResponse {
	return scheduleRunResponse{ID: r.ID, ScheduleID: r.ScheduleID, Trigger: r.Trigger, ScheduledFor: r.ScheduledFor, Status: r.Status,
		SessionID: r.SessionID, RunID: r.RunID, Error: r.Error, StartedAt: r.StartedAt, EndedAt: r.EndedAt}
}

// ownSchedule loads a schedule the caller owns (admins: any).
func (s *Server) ownSchedule(r *http.Request) (*paddock.Schedule, error) {
	id := r.PathValue("id")
	sc, err := s.Schedules.Schedule(r.Context(), id)
	if err == nil && !principal(r).User.IsAdmin() && sc.OwnerID != principal(r).User.ID {
		err = paddock.Errorf(paddock.ENotFound, "")
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.ENotFound, "scheduled task %q not found", id)
	}
	return sc, err
}

// applySchedule validates req over sc (a new schedule or a copy of the
// stored one) and computes its next run.
func (s *Server) applySchedule(r *http.Request, sc *paddock.Schedule, req scheduleRequest) error {
	if req.Name != nil {
		sc.Name = strings.TrimSpace(*req.Name)
	}
	if req.Cron != nil {
		sc.Cron = strings.TrimSpace(*req.Cron)
	}
	if req.TimeZone != nil {
		sc.TimeZone = strings.TrimSpace(*req.TimeZone)
	}
	if req.Prompt != nil {
		sc.Prompt = *req.Prompt
	}
	if req.SessionMode != nil {
		if sc.SessionMode != *req.SessionMode {
			sc.SessionID = "" // a fixed session starts again
		}
		sc.SessionMode = *req.SessionMode
	}
	if req.Enabled != nil {
		sc.Enabled = *req.Enabled
	}
	if req.AgentID != nil {
		a, err := s.assistant(r.Context(), r, strings.TrimSpace(*req.AgentID))
		if err != nil {
			return paddock.Errorf(paddock.EInvalid, "agent_id: %s", paddock.ErrorMessage(err))
		}
		if a.OwnerID != sc.OwnerID {
			return paddock.Errorf(paddock.EInvalid, "agent_id: agent %s belongs to another user", a.ID)
		}
		if sc.AgentID != a.ID && sc.SessionMode == paddock.ScheduleFixedSession {
			sc.SessionID = ""
		}
		sc.AgentID = a.ID
	}
	if err := validName("name", sc.Name, 128); err != nil {
		return err
	}
	switch {
	case sc.Cron == "":
		return paddock.Errorf(paddock.EInvalid, "cron is required")
	case strings.TrimSpace(sc.Prompt) == "":
		return paddock.Errorf(paddock.EInvalid, "prompt is required")
	case sc.AgentID == "":
		return paddock.Errorf(paddock.EInvalid, "agent_id is required")
	case sc.SessionMode != paddock.ScheduleNewSession && sc.SessionMode != paddock.ScheduleFixedSession:
		return paddock.Errorf(paddock.EInvalid, "session_mode must be \"new\" or \"fixed\", not %q", sc.SessionMode)
	}
	next, err := schedule.Next(sc.Cron, sc.TimeZone, s.now())
	if err != nil {
		return err
	}
	sc.NextRunAt = nil
	if sc.Enabled {
		sc.NextRunAt = &next
	}
	return nil
}

func (s *Server) handleScheduleList(w http.ResponseWriter, r *http.Request) error {
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	f := paddock.ScheduleFilter{Offset: (page - 1) * size, Limit: size}
	f.OwnerID = ownerScope(r)
	list, total, err := s.Schedules.Schedules(r.Context(), f)
	if err != nil {
		return err
	}
	out := scheduleListResponse{Items: make([]scheduleResponse, len(list)), Total: total, Page: page, Size: size}
	for i, sc := range list {
		out.Items[i] = toScheduleResponse(sc)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleScheduleCreate(w http.ResponseWriter, r *http.Request) error {
	var req scheduleRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	sc := &paddock.Schedule{OwnerID: principal(r).User.ID, SessionMode: paddock.ScheduleNewSession, Enabled: true}
	if err := s.applySchedule(r, sc, req); err != nil {
		return err
	}
	if err := s.Schedules.CreateSchedule(r.Context(), sc); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toScheduleResponse(sc))
}

func (s *Server) handleScheduleGet(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ownSchedule(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toScheduleResponse(sc))
}

func (s *Server) handleScheduleUpdate(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ownSchedule(r)
	if err != nil {
		return err
	}
	var req scheduleRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.applySchedule(r, sc, req); err != nil {
		return err
	}
	next := sc.NextRunAt
	sc, err = s.Schedules.UpdateSchedule(r.Context(), sc.ID, paddock.ScheduleUpdate{Name: &sc.Name, Cron: &sc.Cron, TimeZone: &sc.TimeZone,
		AgentID: &sc.AgentID, Prompt: &sc.Prompt, SessionMode: &sc.SessionMode, SessionID: &sc.SessionID, Enabled: &sc.Enabled, NextRunAt: &next})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toScheduleResponse(sc))
}

func (s *Server) handleScheduleDelete(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ownSchedule(r)
	if err != nil {
		return err
	}
	if err := s.Schedules.DeleteSchedule(r.Context(), sc.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleScheduleRun runs a task now, whether enabled or not; its cron
// ticks are unchanged.
func (s *Server) handleScheduleRun(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ownSchedule(r)
	if err != nil {
		return err
	}
	if err := s.Credits.Check(r.Context(), sc.OwnerID); err != nil {
		return err
	}
	run, err := s.Scheduler.Fire(r.Context(), sc, paddock.TriggerManual, nil)
	if run == nil {
		return err
	}
	// A run that could not start is recorded as failed: show it.
	return writeJSON(w, http.StatusCreated, toScheduleRunResponse(run))
}

func (s *Server) handleScheduleRuns(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.ownSchedule(r)
	if err != nil {
		return err
	}
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	runs, total, err := s.Schedules.ScheduleRuns(r.Context(), sc.ID, (page-1)*size, size)
	if err != nil {
		return err
	}
	out := scheduleRunListResponse{Items: make([]scheduleRunResponse, len(runs)), Total: total, Page: page, Size: size}
	for i, run := range runs {
		out.Items[i] = toScheduleRunResponse(run)
	}
	return writeJSON(w, http.StatusOK, out)
}
