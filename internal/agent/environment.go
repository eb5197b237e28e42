package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

const envIDChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// newEnvironmentID returns an id in the sandbox manager's format. The
// session records it before the environment is created, so a crash in
// between cannot leak an environment nobody knows about.
func newEnvironmentID() string {
	return "env-" + strings.ToLower(newID("x")[2:14])
}

// Reserver is implemented by a Sandbox that starts environments ahead of
// demand (sandbox.Manager). Reserve returns the id to create env under,
// which the caller may record first: the environment kept for it, or a
// new id.
type Reserver interface {
	Reserve(ctx context.Context, env *paddock.Environment) string
}

// reserveEnvironment returns the id env is to be created under: one of
// an environment the sandbox started ahead of demand (see Reserver), or
// a new one.
func (r *Runner) reserveEnvironment(ctx context.Context, env *paddock.Environment) string {
	if rs, ok := r.d.Sandbox.(Reserver); ok {
		return rs.Reserve(ctx, env)
	}
	return newEnvironmentID()
}

// ensureEnvironment returns the id of the session's running environment,
// creating it (and announcing it with environment.ready) on first use, or
// again when the previous one ended.
func (r *Runner) ensureEnvironment(ctx context.Context, st *runState) (string, error) {
	mu := &r.envLocks[stripe(st.session.ID)]
	mu.Lock()
	defer mu.Unlock()
	sess, err := r.d.Sessions.Session(ctx, st.session.ID)
	if err != nil {
		return "", err
	}
	ready := func(id string, err error) (string, error) {
		if err != nil {
			return "", err
		}
		return id, r.appendEvents(ctx, st.session.ID, paddock.NewEvent(paddock.EventEnvironmentReady, st.run.ID,
			paddock.EnvironmentEvent{EnvironmentID: id}))
	}
	id := sess.EnvironmentID
	if id != "" {
		env, err := r.d.Environments.Environment(ctx, id)
		switch {
		case paddock.ErrorCode(err) == paddock.ENotFound:
			return ready(id, r.startEnvironment(ctx, r.sessionEnvironment(st, id))) // recorded, never created
		case err != nil:
			return "", err
		case env.Status == paddock.EnvironmentRunning:
			return id, nil
		case env.Status == paddock.EnvironmentPending:
			return ready(id, r.waitEnvironment(ctx, id))
		case env.Status == paddock.EnvironmentPaused:
			return "", paddock.Errorf(paddock.EConflict, "the session's environment %s is paused: resume it to use tools", id)
		}
		// It ended: the session gets a new one.
	}
	id = r.reserveEnvironment(ctx, r.sessionEnvironment(st, ""))
	err = r.commit(ctx, sess.ID, func(tx paddock.SessionTx) error {
		_, err := tx.UpdateSession(ctx, paddock.SessionUpdate{EnvironmentID: &id})
		return err
	})
	if err != nil {
		return "", err
	}
	return ready(id, r.startEnvironment(ctx, r.sessionEnvironment(st, id)))
}

func (r *Runner) sessionEnvironment(st *runState, id string) *paddock.Environment {
	return r.agentEnvironment(st.agent, st.session.OwnerID, id, "session-"+st.session.ID,
		map[string]string{"paddock.session": st.session.ID, "paddock.agent": st.agent.ID})
}

// agentEnvironment is the environment spec of agent a: the agent's own
// spec over the runtime's defaults.
func (r *Runner) agentEnvironment(a *paddock.Agent, ownerID int64, id, name string, labels map[string]string) *paddock.Environment {
	env := &paddock.Environment{
		ID:        id,
		Name:      name,
		OwnerID:   ownerID,
		Image:     r.cfg.DefaultImage,
		Resources: r.cfg.Resources,
		Labels:    labels,
	}
	if spec := a.Environment; spec != nil {
		if spec.Image != "" {
			env.Image = spec.Image
		}
		if spec.Resources.CPU != "" {
			env.Resources.CPU = spec.Resources.CPU
		}
		if spec.Resources.Memory != "" {
			env.Resources.Memory = spec.Resources.Memory
		}
		if spec.Resources.Storage != "" {
			env.Resources.Storage = spec.Resources.Storage
		}
		env.Isolation = spec.Isolation
		env.Timeout = spec.Timeout
	}
	return env
}

// startEnvironment creates env and waits for it to be ready for tools.
func (r *Runner) startEnvironment(ctx context.Context, env *paddock.Environment) error {
	if err := r.d.Sandbox.Create(ctx, env); err != nil {
		return fmt.Errorf("create environment: %w", err)
	}
	return r.waitEnvironment(ctx, env.ID)
}

// waitEnvironment waits for environment id to run and prepares the
// working directory.
func (r *Runner) waitEnvironment(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.EnvironmentStart)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		env, err := r.d.Environments.Environment(ctx, id)
		if err != nil {
			return err
		}
		if env.Status == paddock.EnvironmentRunning {
			break
		}
		if env.Status != paddock.EnvironmentPending {
			reason := env.Reason
			if reason == "" {
				reason = string(env.Status)
			}
			return paddock.Errorf(paddock.EUnavailable, "environment %s did not start: %s", id, reason)
		}
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == context.DeadlineExceeded {
				return paddock.Errorf(paddock.EUnavailable, "environment %s did not start within %s", id, r.cfg.EnvironmentStart)
			}
			return context.Cause(ctx)
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
	res, err := r.d.Sandbox.Exec(ctx, id, &paddock.ExecRequest{Command: scriptCommand(opInit, r.cfg.Workdir), Timeout: time.Minute})
	if err != nil {
		return fmt.Errorf("prepare environment: %w", err)
	}
	if res.ExitCode != 0 {
		return paddock.Errorf(paddock.EUnavailable, "prepare environment %s: %s", id, strings.TrimSpace(res.Stderr))
	}
	return nil
}
