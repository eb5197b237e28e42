package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/paddockhq/paddock"
)

// Processes runs commands in the background in environments: the sandbox
// Manager.
type Processes interface {
	StartProcess(env *paddock.Environment, req *paddock.ExecRequest) (paddock.Process, error)
	Processes(envID string) []paddock.Process
	Process(envID, pid string) (paddock.Process, error)
	ProcessOutput(envID, pid string, since int64) ([]paddock.OutputChunk, int64, bool, paddock.Process, <-chan struct{}, error)
	KillProcess(envID, pid string) (paddock.Process, error)
}

type processParams struct {
	ID  string `path:"id"`
	PID string `path:"pid"`
}

type processOutputParams struct {
	ID     string `path:"id"`
	PID    string `path:"pid"`
	Since  int64  `query:"since" minimum:"0" description:"byte offset to start from (the next of an earlier answer); default 0"`
	Follow bool   `query:"follow" description:"stream the output as Server-Sent Events until the process ends (also with Accept: text/event-stream)"`
}

type processList struct {
	Processes []paddock.Process `json:"processes"`
}

type processOutput struct {
	Output  []paddock.OutputChunk `json:"output"`
	Next    int64                 `json:"next" description:"the offset to ask for next (since=)"`
	Dropped bool                  `json:"dropped,omitempty" description:"output before the first chunk was dropped: each process keeps its last 256 KiB"`
	Process paddock.Process       `json:"process"`
}

// startBackground answers an exec with "background": true.
func (s *Server) startBackground(w http.ResponseWriter, env *paddock.Environment, er *paddock.ExecRequest) error {
	p, err := s.Processes.StartProcess(env, er)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, p)
}

func (s *Server) handleProcessList(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, processList{Processes: s.Processes.Processes(env.ID)})
}

func (s *Server) handleProcessGet(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	p, err := s.Processes.Process(env.ID, r.PathValue("pid"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleProcessKill(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	p, err := s.Processes.KillProcess(env.ID, r.PathValue("pid"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// handleProcessOutput replays a background process's output from since,
// as JSON, or follows it over Server-Sent Events: stdout and stderr
// events ({"data"}, the event id is the offset after them), then an exit
// event with the process once it has ended.
func (s *Server) handleProcessOutput(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	since := int64(0)
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"since\" must be a byte offset (0 or more), not %q", v)
		}
	}
	follow, err := queryBool(r, "follow", false)
	if err != nil {
		return err
	}
	pid := r.PathValue("pid")
	chunks, next, dropped, p, changed, err := s.Processes.ProcessOutput(env.ID, pid, since)
	if err != nil {
		return err
	}
	if !follow && !wantsSSE(r) {
		if chunks == nil {
			chunks = []paddock.OutputChunk{}
		}
		return writeJSON(w, http.StatusOK, processOutput{Output: chunks, Next: next, Dropped: dropped, Process: p})
	}
	sse := startSSE(w)
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		for _, c := range chunks {
			b, _ := json.Marshal(execChunk{Data: c.Data})
			if err := sse.write(strconv.FormatInt(c.Offset+int64(len(c.Data)), 10), c.Stream, b); err != nil {
				return nil
			}
		}
		chunks = nil
		if p.Status != "running" {
			b, _ := json.Marshal(p)
			return sse.event("", "exit", string(b))
		}
		if err := sse.flush(); err != nil {
			return nil
		}
		select {
		case <-changed:
		case <-beat.C:
			if err := sse.comment("keep-alive"); err != nil {
				return nil
			}
			continue
		case <-r.Context().Done():
			return nil
		}
		if chunks, next, _, p, changed, err = s.Processes.ProcessOutput(env.ID, pid, next); err != nil {
			b, _ := json.Marshal(errorBody(surfaceEnvironments, paddock.ErrorCode(err), paddock.ErrorMessage(err)))
			return sse.event("", "error", string(b))
		}
	}
}
