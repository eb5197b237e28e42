package httpapi

import (
	"context"
	"net/http"

	"github.com/paddockhq/paddock"
)

// Suspender pauses and resumes environments and extends their lifetime.
type Suspender interface {
	Pause(ctx context.Context, id, mode string) error
	Resume(ctx context.Context, id string) error
	Extend(ctx context.Context, id string, timeout int) (*paddock.Environment, error)
}

type pauseRequest struct {
	Mode string `json:"mode,omitempty" enum:"freeze,hibernate" description:"freeze (default) keeps processes and memory in place; hibernate (gVisor) saves them to disk and frees the memory"`
}

type environmentPatchRequest struct {
	Timeout *int `json:"timeout,omitempty" minimum:"1" maximum:"2592000" description:"new lifetime in seconds, counted from now (at most 30 days)"`
}

func (s *Server) handleEnvironmentPause(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req pauseRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	switch req.Mode {
	case "":
		req.Mode = "freeze"
	case "freeze", "hibernate":
	default:
		return paddock.Errorf(paddock.EInvalid, "field \"mode\" must be freeze or hibernate, not %q", req.Mode)
	}
	if err := s.Suspender.Pause(r.Context(), env.ID, req.Mode); err != nil {
		return err
	}
	return s.writeEnvironment(w, r, env.ID)
}

func (s *Server) handleEnvironmentResume(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	if err := s.Suspender.Resume(r.Context(), env.ID); err != nil {
		return err
	}
	return s.writeEnvironment(w, r, env.ID)
}

func (s *Server) handleEnvironmentPatch(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req environmentPatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Timeout == nil {
		return paddock.Errorf(paddock.EInvalid, "nothing to change: send {\"timeout\": seconds}")
	}
	if err := lifetimeField(*req.Timeout); err != nil {
		return err
	}
	if _, err := s.Suspender.Extend(r.Context(), env.ID, *req.Timeout); err != nil {
		return err
	}
	return s.writeEnvironment(w, r, env.ID)
}

func (s *Server) writeEnvironment(w http.ResponseWriter, r *http.Request, id string) error {
	env, err := s.EnvironmentStore.Environment(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toEnvironmentResponse(env))
}
