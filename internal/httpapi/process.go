package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/paddockhq/paddock"
)

// Processes runs commands in the background in environments: the sandbox
// Manager.
type Processes interface {
	StartProcess(ctx context.Context, id string, req *paddock.ExecRequest) (paddock.Process, error)
	Processes(ctx context.Context, id string) ([]paddock.Process, error)
	Process(ctx context.Context, id, pid string) (paddock.Process, error)
	ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error)
	KillProcess(ctx context.Context, id, pid string) (paddock.Process, error)
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
func (s *Server) startBackground(w http.ResponseWriter, r *http.Request, env *paddock.Environment, er *paddock.ExecRequest) error {
	p, err := s.Processes.StartProcess(r.Context(), env.ID, er)
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
	list, err := s.Processes.Processes(r.Context(), env.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, processList{Processes: list})
}

func (s *Server) handleProcessGet(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	p, err := s.Processes.Process(r.Context(), env.ID, r.PathValue("pid"))
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
	p, err := s.Processes.KillProcess(r.Context(), env.ID, r.PathValue("pid"))
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
	out, err := s.Processes.ProcessOutput(r.Context(), env.ID, pid, since, false)
	if err != nil {
		return err
	}
	if !follow && !wantsSSE(r) {
		if out.Chunks == nil {
			out.Chunks = []paddock.OutputChunk{}
		}
		return writeJSON(w, http.StatusOK, processOutput{Output: out.Chunks, Next: out.Next, Dropped: out.Dropped, Process: out.Process})
	}
	sse := startSSE(w)
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	type result struct {
		out paddock.ProcessOutput
		err error
	}
	for {
		for _, c := range out.Chunks {
			b, _ := json.Marshal(execChunk{Data: c.Data})
			if err := sse.write(strconv.FormatInt(c.Offset+int64(len(c.Data)), 10), c.Stream, b); err != nil {
				return nil
			}
		}
		if out.Process.Status != "running" {
			b, _ := json.Marshal(out.Process)
			return sse.event("", "exit", string(b))
		}
		if err := sse.flush(); err != nil {
			return nil
		}
		// The environment answers once there is more; meanwhile the
		// client gets its keep-alives.
		next := make(chan result, 1)
		go func(since int64) {
			o, err := s.Processes.ProcessOutput(r.Context(), env.ID, pid, since, true)
			next <- result{o, err}
		}(out.Next)
	wait:
		for {
			select {
			case res := <-next:
				if res.err != nil {
					if r.Context().Err() != nil {
						return nil
					}
					b, _ := json.Marshal(errorBody(surfaceEnvironments, paddock.ErrorCode(res.err), paddock.ErrorMessage(res.err)))
					return sse.event("", "error", string(b))
				}
				out = res.out
				break wait
			case <-beat.C:
				if err := sse.comment("keep-alive"); err != nil {
					return nil // the request's context ends the wait
				}
			}
		}
	}
}
