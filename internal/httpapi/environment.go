package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/paddockhq/paddock"
)

// Environments runs environments: the sandbox Manager.
type Environments interface {
	Create(ctx context.Context, env *paddock.Environment) error
	Delete(ctx context.Context, id string, force bool) error
	Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error)
	// ExecIn is Exec in an environment just read from the store (by
	// environmentAs), which it does not read again.
	ExecIn(ctx context.Context, env *paddock.Environment, req *paddock.ExecRequest) (*paddock.ExecResult, error)
	Logs(ctx context.Context, id string, tail int) ([]paddock.LogEntry, error)
	FollowLogs(ctx context.Context, id string, tail int) (<-chan paddock.LogEntry, error)
	WaitStarted(ctx context.Context, id string) (*paddock.Environment, error)
	Metrics(ctx context.Context, id string) (cpu, memory string, err error)
}

type environmentCreateRequest struct {
	Name         string               `json:"name" required:"true" maxLength:"128"`
	Image        string               `json:"image" required:"true"`
	Resources    *paddock.Resources   `json:"resources" required:"true"`
	Timeout      *int                 `json:"timeout,omitempty" minimum:"1" maximum:"2592000" description:"lifetime in seconds (default 3600, at most 30 days)"`
	Env          map[string]string    `json:"env,omitempty"`
	Command      []string             `json:"command,omitempty"`
	Labels       map[string]string    `json:"labels,omitempty"`
	NodeSelector map[string]string    `json:"node_selector,omitempty"`
	Tolerations  []paddock.Toleration `json:"tolerations,omitempty"`
	Isolation    *paddock.Isolation   `json:"isolation,omitempty"`
	OnTimeout    string               `json:"on_timeout,omitempty" enum:"delete,pause,hibernate" description:"what ends the lifetime: delete (default), pause or hibernate"`
}

type environmentMetrics struct {
	CPUUsage    string `json:"cpu_usage"`
	MemoryUsage string `json:"memory_usage"`
}

type environmentResponse struct {
	ID           string               `json:"id"`
	Name         string               `json:"name"`
	Status       string               `json:"status" enum:"pending,running,paused,terminating,terminated,failed"`
	Reason       string               `json:"reason,omitempty"`
	Image        string               `json:"image"`
	CreatedAt    time.Time            `json:"created_at"`
	StartedAt    *time.Time           `json:"started_at,omitempty"`
	ExpiresAt    *time.Time           `json:"expires_at,omitempty"`
	EndedAt      *time.Time           `json:"ended_at,omitempty"`
	Timeout      int                  `json:"timeout"`
	Resources    paddock.Resources    `json:"resources"`
	Metrics      *environmentMetrics  `json:"metrics,omitempty"`
	Endpoint     string               `json:"endpoint"`
	Namespace    string               `json:"namespace"`
	Env          map[string]string    `json:"env,omitempty"`
	Command      []string             `json:"command,omitempty"`
	Labels       map[string]string    `json:"labels,omitempty"`
	NodeSelector map[string]string    `json:"node_selector,omitempty"`
	Tolerations  []paddock.Toleration `json:"tolerations,omitempty"`
	Isolation    *paddock.Isolation   `json:"isolation,omitempty"`
	OnTimeout    string               `json:"on_timeout,omitempty"`
}

func toEnvironmentResponse(e *paddock.Environment) environmentResponse {
	r := environmentResponse{
		ID: e.ID, Name: e.Name, Status: string(e.Status), Reason: e.Reason, Image: e.Image,
		CreatedAt: e.CreatedAt, StartedAt: e.StartedAt, ExpiresAt: e.ExpiresAt, EndedAt: e.EndedAt,
		Timeout: e.Timeout, Resources: e.Resources, Endpoint: e.Endpoint, Namespace: e.Namespace,
		Env: e.Env, Command: e.Command, Labels: e.Labels, NodeSelector: e.NodeSelector, Tolerations: e.Tolerations,
		OnTimeout: e.OnTimeout,
	}
	if e.Isolation.RuntimeClass != "" || e.Isolation.NetworkPolicy != nil || e.Isolation.SecurityContext != nil {
		iso := e.Isolation
		r.Isolation = &iso
	}
	return r
}

type environmentCreateParams struct {
	Wait bool `query:"wait" description:"answer once the environment runs or failed, instead of at once with status pending"`
}

type environmentListParams struct {
	Status string `query:"status" description:"pending, running, paused, terminating, terminated or failed; several, comma separated, select any of them"`
	Label  string `query:"label" description:"label selector, e.g. project=x,tier!=db"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Offset int    `query:"offset" minimum:"0" default:"0"`
}

type environmentListResponse struct {
	Environments []environmentResponse `json:"environments"`
	Total        int                   `json:"total"`
	Limit        int                   `json:"limit"`
	Offset       int                   `json:"offset"`
}

type environmentDeleteParams struct {
	ID    string `path:"id"`
	Force bool   `query:"force" description:"skip the grace period: kill at once"`
}

type execRequest struct {
	Command    []string          `json:"command" required:"true" minItems:"1"`
	Timeout    *int              `json:"timeout,omitempty" minimum:"1" description:"seconds (default 30)"`
	Env        map[string]string `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	Stdin      string            `json:"stdin,omitempty"`
	Background bool              `json:"background,omitempty" description:"start the command and answer at once (202) with its process; timeout then defaults to none"`
}

type execResponse struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	OOMKilled  bool   `json:"oom_killed,omitempty"`
}

type logsParams struct {
	ID         string `path:"id"`
	Tail       int    `query:"tail" minimum:"0" description:"lines from the end (default: all)"`
	Timestamps *bool  `query:"timestamps" default:"true"`
	Follow     bool   `query:"follow" description:"stream new lines over SSE"`
}

type logEntry struct {
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Stream    string     `json:"stream"`
	Message   string     `json:"message"`
}

type logsResponse struct {
	Logs []logEntry `json:"logs"`
}

// maxExecTimeout bounds one exec; longer work belongs in the environment's
// command or a background process.
const maxExecTimeout = 24 * 60 * 60

// lifetimeField checks a lifetime in seconds sent as field "timeout": at
// least 1 and at most paddock.MaxTimeout.
func lifetimeField(v int) error {
	if v < 1 || v > paddock.MaxTimeout {
		return paddock.Errorf(paddock.EInvalid, "field \"timeout\" must be between 1 and %d seconds (30 days), not %d", paddock.MaxTimeout, v)
	}
	return nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, paddock.Errorf(paddock.EInvalid, "query parameter %q must be true or false, not %q", name, v)
	}
	return b, nil
}

// environment loads an environment the caller may act on with need. Another
// user's environment, or one a restricted API key does not list, is not
// found; a listed one with too low a permission is forbidden.
func (s *Server) environment(r *http.Request, need paddock.Permission) (*paddock.Environment, error) {
	return s.environmentAs(r, r.PathValue("id"), need, "environment")
}

// environmentAs loads environment id for the caller, who needs perm on it;
// noun names it in errors ("environment", or "sandbox" on the platform
// surface). One the caller may not see is not found.
func (s *Server) environmentAs(r *http.Request, id string, need paddock.Permission, noun string) (*paddock.Environment, error) {
	env, err := s.EnvironmentStore.Environment(r.Context(), id)
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.ENotFound, "%s %q not found", noun, id)
	} else if err != nil {
		return nil, err
	}
	p := principal(r)
	perm := p.EnvironmentPermission(env.ID, env.OwnerID)
	switch {
	case perm == "":
		return nil, paddock.Errorf(paddock.ENotFound, "%s %q not found", noun, id)
	case !perm.Allows(need):
		return nil, paddock.Errorf(paddock.EForbidden, "this API key has %s permission on %s %s; %s is needed", perm, noun, env.ID, need)
	}
	return env, nil
}

func validName(field, v string, max int) error {
	if strings.TrimSpace(v) == "" {
		return paddock.Errorf(paddock.EInvalid, "field %q is required", field)
	}
	if len(v) > max {
		return paddock.Errorf(paddock.EInvalid, "field %q is longer than %d characters", field, max)
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			return paddock.Errorf(paddock.EInvalid, "field %q contains a control character", field)
		}
	}
	return nil
}

func (s *Server) handleEnvironmentCreate(w http.ResponseWriter, r *http.Request) error {
	p := principal(r) // not a key limited to some environments: wrap refuses those here
	var req environmentCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name, 128); err != nil {
		return err
	}
	if err := validName("image", req.Image, 512); err != nil {
		return err
	}
	if req.Resources == nil {
		return paddock.Errorf(paddock.EInvalid, "field \"resources\" is required (cpu, memory and storage)")
	}
	for _, f := range []struct{ name, v string }{{"cpu", req.Resources.CPU}, {"memory", req.Resources.Memory}, {"storage", req.Resources.Storage}} {
		if strings.TrimSpace(f.v) == "" {
			return paddock.Errorf(paddock.EInvalid, "field \"resources.%s\" is required", f.name)
		}
	}
	env := &paddock.Environment{
		Name: req.Name, OwnerID: p.User.ID, Image: req.Image, Resources: *req.Resources,
		Env: req.Env, Command: req.Command, Labels: req.Labels, NodeSelector: req.NodeSelector, Tolerations: req.Tolerations,
	}
	if req.Timeout != nil {
		if err := lifetimeField(*req.Timeout); err != nil {
			return err
		}
		env.Timeout = *req.Timeout
	}
	if req.Isolation != nil {
		env.Isolation = *req.Isolation
	}
	switch req.OnTimeout {
	case "", paddock.OnTimeoutDelete, paddock.OnTimeoutPause, paddock.OnTimeoutHibernate:
		env.OnTimeout = req.OnTimeout
	default:
		return paddock.Errorf(paddock.EInvalid, "field \"on_timeout\" must be delete, pause or hibernate, not %q", req.OnTimeout)
	}
	if err := paddock.CheckEnv(req.Env); err != nil {
		return err
	}
	if err := paddock.CheckLabels(req.Labels); err != nil {
		return err
	}
	wait, err := queryBool(r, "wait", false)
	if err != nil {
		return err
	}
	if err := s.Environments.Create(r.Context(), env); err != nil {
		return err
	}
	if wait {
		started, err := s.Environments.WaitStarted(r.Context(), env.ID)
		if err != nil {
			return err
		}
		env = started
	}
	return writeJSON(w, http.StatusCreated, toEnvironmentResponse(env))
}

func (s *Server) handleEnvironmentList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	f := paddock.EnvironmentFilter{Limit: limit, Offset: offset}
	if v := q.Get("status"); v != "" {
		for _, s := range strings.Split(v, ",") {
			st := paddock.EnvironmentStatus(strings.TrimSpace(s))
			if !st.Valid() {
				return paddock.Errorf(paddock.EInvalid, "query parameter \"status\" must be one of pending, running, paused, terminating, terminated, failed (or several, comma separated); not %q", s)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if f.Labels, err = paddock.ParseLabelSelector(q.Get("label")); err != nil {
		return err
	}
	f.OwnerID = ownerScope(r)
	p := principal(r)
	if p.APIKey.Restricted() {
		f.IDs = []string{}
		for _, perm := range p.APIKey.Permissions {
			if perm.Permission.Allows(paddock.PermissionRead) {
				f.IDs = append(f.IDs, perm.EnvironmentID)
			}
		}
	}
	envs, total, err := s.EnvironmentStore.Environments(r.Context(), f)
	if err != nil {
		return err
	}
	out := environmentListResponse{Environments: make([]environmentResponse, len(envs)), Total: total, Limit: limit, Offset: offset}
	for i, e := range envs {
		out.Environments[i] = toEnvironmentResponse(e)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleEnvironmentGet(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	resp := toEnvironmentResponse(env)
	if env.Status == paddock.EnvironmentRunning {
		cpu, mem, err := s.Environments.Metrics(r.Context(), env.ID)
		if err == nil {
			resp.Metrics = &environmentMetrics{CPUUsage: cpu, MemoryUsage: mem}
		} else if paddock.ErrorCode(err) != paddock.EConflict {
			s.log.WarnContext(r.Context(), "environment metrics", "env_id", env.ID, "err", err)
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleEnvironmentDelete(w http.ResponseWriter, r *http.Request) error {
	return s.deleteEnvironment(w, r, s.environment)
}

// deleteEnvironment deletes the environment lookup finds for the caller
// (?force= skips the grace period): an environment or a sandbox.
func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request, lookup func(*http.Request, paddock.Permission) (*paddock.Environment, error)) error {
	force, err := queryBool(r, "force", false)
	if err != nil {
		return err
	}
	env, err := lookup(r, paddock.PermissionAdmin)
	if err != nil {
		return err
	}
	if err := s.Environments.Delete(r.Context(), env.ID, force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleEnvironmentExec(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req execRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Command) == 0 || req.Command[0] == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"command\" is required: the program and its arguments, e.g. [\"python\", \"-c\", \"print(1)\"]")
	}
	timeout := 30
	if req.Background {
		timeout = 0 // as long as the environment
	}
	if req.Timeout != nil {
		if *req.Timeout < 1 || *req.Timeout > maxExecTimeout {
			return paddock.Errorf(paddock.EInvalid, "field \"timeout\" must be between 1 and %d seconds", maxExecTimeout)
		}
		timeout = *req.Timeout
	}
	if err := paddock.CheckEnv(req.Env); err != nil {
		return err
	}
	er := &paddock.ExecRequest{Command: req.Command, Env: req.Env, Dir: req.WorkingDir, Timeout: time.Duration(timeout) * time.Second}
	if req.Stdin != "" {
		er.Stdin = strings.NewReader(req.Stdin)
	}
	if req.Background {
		return s.startBackground(w, r, env, er)
	}
	if wantsSSE(r) {
		return s.streamExec(w, r, env, er)
	}
	res, err := s.Environments.ExecIn(r.Context(), env, er)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, execResponse{
		Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode, DurationMS: res.Duration.Milliseconds(),
		TimedOut: res.TimedOut, Truncated: res.Truncated, OOMKilled: res.OOMKilled,
	})
}

func toLogEntry(e paddock.LogEntry, timestamps bool) logEntry {
	out := logEntry{Stream: e.Stream, Message: e.Message}
	if timestamps {
		ts := e.Timestamp.UTC()
		out.Timestamp = &ts
	}
	return out
}

func (s *Server) handleEnvironmentLogs(w http.ResponseWriter, r *http.Request) error {
	tail, err := queryInt(r, "tail", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	timestamps, err := queryBool(r, "timestamps", true)
	if err != nil {
		return err
	}
	follow, err := queryBool(r, "follow", false)
	if err != nil {
		return err
	}
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	if !follow {
		entries, err := s.Environments.Logs(r.Context(), env.ID, tail)
		if err != nil {
			return err
		}
		out := logsResponse{Logs: make([]logEntry, len(entries))}
		for i, e := range entries {
			out.Logs[i] = toLogEntry(e, timestamps)
		}
		return writeJSON(w, http.StatusOK, out)
	}
	ch, err := s.Environments.FollowLogs(r.Context(), env.ID, tail)
	if err != nil {
		return err
	}
	sse := startSSE(w)
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return nil // the environment ended or the server is closing
			}
			b, err := json.Marshal(toLogEntry(e, timestamps))
			if err != nil {
				return err
			}
			if err := sse.event("", "", string(b)); err != nil {
				return nil // the client went away
			}
		case <-beat.C:
			if err := sse.comment("keep-alive"); err != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		}
	}
}
