package sandbox

import (
	"context"
	"crypto/rand"
	"strings"

	"github.com/paddockhq/paddock"
)

// Background processes: commands started by an exec that returns at once,
// which a client or an agent reconnects to later to read their output
// (the last 256 KiB) and their exit, or to kill them. The driver keeps
// them inside the environment (see Runtime), so they run, and their
// output is kept, for as long as the environment, whatever happens to
// Paddock meanwhile. The environment must be running to reach them: a
// pending, paused or ended one is EConflict.

// StartProcess starts req in environment id in the background and
// returns at once. req.Timeout 0 lets it run as long as the environment.
func (m *Manager) StartProcess(ctx context.Context, id string, req *paddock.ExecRequest) (paddock.Process, error) {
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return paddock.Process{}, err
	}
	if err := checkExec(env, req); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.StartProcess(ctx, id, "proc-"+strings.ToLower(rand.Text()[:12]), req)
}

// Processes returns the background processes of an environment, newest
// first.
func (m *Manager) Processes(ctx context.Context, id string) ([]paddock.Process, error) {
	if _, err := m.running(ctx, id); err != nil {
		return nil, err
	}
	return m.rt.Processes(ctx, id)
}

// Process returns one background process.
func (m *Manager) Process(ctx context.Context, id, pid string) (paddock.Process, error) {
	if _, err := m.running(ctx, id); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.Process(ctx, id, pid)
}

// ProcessOutput returns the output of a background process from offset
// since (what is still kept of it: Dropped says some was lost), from the
// next character if since falls inside one. With wait, it returns once
// there is output past since or the process has ended, or ctx is done.
// A wait is how a follower goes on, once per piece of output, so it asks
// the runtime alone, which refuses an environment that is paused or gone,
// not the store too.
func (m *Manager) ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error) {
	if since < 0 {
		return paddock.ProcessOutput{}, paddock.Errorf(paddock.EInvalid, "since must be an offset of 0 or more")
	}
	if !wait {
		if _, err := m.running(ctx, id); err != nil {
			return paddock.ProcessOutput{}, err
		}
	}
	return m.rt.ProcessOutput(ctx, id, pid, since, wait)
}

// KillProcess kills a running background process (its whole process
// group); an ended one is left as it is.
func (m *Manager) KillProcess(ctx context.Context, id, pid string) (paddock.Process, error) {
	if _, err := m.running(ctx, id); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.KillProcess(ctx, id, pid)
}
