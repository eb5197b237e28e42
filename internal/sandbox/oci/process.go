package oci

import (
	"context"
	"syscall"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

// Background processes live in the guest (see guest/procs.go); the host
// keeps nothing of them, so a restarted Paddock finds them as they are.

// StartProcess implements sandbox.Runtime.
func (r *Runtime) StartProcess(ctx context.Context, id, pid string, req *paddock.ExecRequest) (paddock.Process, error) {
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return paddock.Process{}, err
	}
	oom, _ := es.oom.read()
	p, err := c.StartProcess(ctx, pid, &guest.ExecRequest{
		Command:   req.Command,
		Env:       req.Env,
		Dir:       req.Dir,
		TimeoutMS: req.Timeout.Milliseconds(),
		NoStdin:   true,
	}, oom)
	if err != nil {
		return paddock.Process{}, guestError(ctx, id, "start background processes", err)
	}
	return es.process(p), nil
}

// Processes implements sandbox.Runtime.
func (r *Runtime) Processes(ctx context.Context, id string) ([]paddock.Process, error) {
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return nil, err
	}
	list, err := c.Processes(ctx)
	if err != nil {
		return nil, guestError(ctx, id, "list background processes", err)
	}
	out := make([]paddock.Process, len(list))
	for i, p := range list {
		out[i] = es.process(p)
	}
	return out, nil
}

// Process implements sandbox.Runtime.
func (r *Runtime) Process(ctx context.Context, id, pid string) (paddock.Process, error) {
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return paddock.Process{}, err
	}
	p, err := c.Process(ctx, pid)
	if err != nil {
		return paddock.Process{}, processError(ctx, id, pid, "get background processes", err)
	}
	return es.process(p), nil
}

// ProcessOutput implements sandbox.Runtime.
func (r *Runtime) ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error) {
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return paddock.ProcessOutput{}, err
	}
	out, err := c.ProcessOutput(ctx, pid, since, wait)
	if err != nil {
		return paddock.ProcessOutput{}, processError(ctx, id, pid, "read background processes' output", err)
	}
	return paddock.ProcessOutput{Chunks: out.Chunks, Next: out.Next, Dropped: out.Dropped, Process: es.process(out.Process)}, nil
}

// KillProcess implements sandbox.Runtime.
func (r *Runtime) KillProcess(ctx context.Context, id, pid string) (paddock.Process, error) {
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return paddock.Process{}, err
	}
	p, err := c.KillProcess(ctx, pid)
	if err != nil {
		return paddock.Process{}, processError(ctx, id, pid, "kill background processes", err)
	}
	return es.process(p), nil
}

// processError is guestError, with the environment named in a process's
// ENotFound.
func processError(ctx context.Context, id, pid, what string, err error) error {
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return paddock.Errorf(paddock.ENotFound, "process %q not found in environment %s", pid, id)
	}
	return guestError(ctx, id, what, err)
}

// process is p as the API shows it: a SIGKILL the process neither asked
// for by a kill nor got for its timeout was the OOM killer's if the
// environment's cgroup counted an OOM kill since the process started.
func (es *envState) process(p guest.Process) paddock.Process {
	if p.Status == "exited" && p.Signal == int(syscall.SIGKILL) && !p.TimedOut {
		if n, err := es.oom.read(); err == nil && n > p.OOMKills {
			p.OOMKilled = true
		}
	}
	return p.Process
}
