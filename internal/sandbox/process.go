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
// Paddock meanwhile. The environment must be running to reach them.

// StartProcess starts req in env in the background and returns at once.
// req.Timeout 0 lets it run as long as the environment.
func (m *Manager) StartProcess(ctx context.Context, env *paddock.Environment, req *paddock.ExecRequest) (paddock.Process, error) {
	if err := checkExec(env, req); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.StartProcess(ctx, env.ID, "proc-"+strings.ToLower(rand.Text()[:12]), req)
}

// Processes returns the background processes of an environment, newest
// first.
func (m *Manager) Processes(ctx context.Context, env *paddock.Environment) ([]paddock.Process, error) {
	if err := isRunning(env); err != nil {
		return nil, err
	}
	return m.rt.Processes(ctx, env.ID)
}

// Process returns one background process.
func (m *Manager) Process(ctx context.Context, env *paddock.Environment, pid string) (paddock.Process, error) {
	if err := isRunning(env); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.Process(ctx, env.ID, pid)
}

// ProcessOutput returns the output of a background process from offset
// since (what is still kept of it: Dropped says some was lost), from the
// next character if since falls inside one. With wait, it returns once
// there is output past since or the process has ended, or ctx is done.
func (m *Manager) ProcessOutput(ctx context.Context, env *paddock.Environment, pid string, since int64, wait bool) (ProcessOutput, error) {
	if since < 0 {
		return ProcessOutput{}, paddock.Errorf(paddock.EInvalid, "since must be an offset of 0 or more")
	}
	if err := isRunning(env); err != nil {
		return ProcessOutput{}, err
	}
	return m.rt.ProcessOutput(ctx, env.ID, pid, since, wait)
}

// KillProcess kills a running background process (its whole process
// group); an ended one is left as it is.
func (m *Manager) KillProcess(ctx context.Context, env *paddock.Environment, pid string) (paddock.Process, error) {
	if err := isRunning(env); err != nil {
		return paddock.Process{}, err
	}
	return m.rt.KillProcess(ctx, env.ID, pid)
}
