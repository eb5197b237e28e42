package sandbox

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
)

// Background processes: commands started by an exec that returns at once,
// which a client or an agent reconnects to later to read their output
// (kept in a bounded buffer) and their exit, or to kill them. They are
// execs like the others, whose caller is the Manager: they end with their
// environment, and with Paddock (the guest kills a command whose caller
// is gone).

const (
	// MaxProcessOutput is the output kept per background process: older
	// output is dropped.
	MaxProcessOutput = 256 << 10
	// maxProcesses is how many background processes an environment keeps,
	// running or ended; the oldest ended one makes room.
	maxProcesses = 32
)

type bgProcess struct {
	mu      sync.Mutex
	info    paddock.Process
	chunks  []paddock.OutputChunk
	next    int64                // offset of the next byte
	carry   [2]paddock.UTF8Carry // an unfinished character at the end of each stream
	changed chan struct{}        // closed and replaced at every change
	cancel  context.CancelFunc
	killed  bool
}

// processTable holds the background processes, by environment.
type processTable struct {
	mu    sync.Mutex
	byEnv map[string][]*bgProcess // oldest first
}

// StartProcess starts req in env in the background and returns at once.
// req.Timeout 0 lets it run as long as the environment.
func (m *Manager) StartProcess(env *paddock.Environment, req *paddock.ExecRequest) (paddock.Process, error) {
	if err := checkExec(env, req); err != nil {
		return paddock.Process{}, err
	}
	ctx, cancel := context.WithCancel(m.ctx)
	p := &bgProcess{
		info:    paddock.Process{ID: "proc-" + strings.ToLower(rand.Text()[:12]), Command: req.Command, Status: "running", StartedAt: m.now().UTC()},
		changed: make(chan struct{}),
		cancel:  cancel,
	}
	t := &m.procs
	t.mu.Lock()
	list := t.byEnv[env.ID]
	if len(list) >= maxProcesses {
		i := slices.IndexFunc(list, func(q *bgProcess) bool { return q.ended() })
		if i < 0 {
			t.mu.Unlock()
			cancel()
			return paddock.Process{}, paddock.Errorf(paddock.EConflict, "environment %s has %d background processes running: kill one first", env.ID, maxProcesses)
		}
		list = slices.Delete(list, i, i+1)
	}
	if t.byEnv == nil {
		t.byEnv = map[string][]*bgProcess{}
	}
	t.byEnv[env.ID] = append(list, p)
	t.mu.Unlock()

	r := *req
	r.Stdout, r.Stderr = procWriter{p, 0}, procWriter{p, 1}
	r.MaxOutput = 1 // the output is in the process's buffer, not the result
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		res, err := m.ExecIn(ctx, env, &r)
		p.finish(m.now().UTC(), res, err)
	}()
	return p.snapshot(), nil
}

func (p *bgProcess) ended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Status != "running"
}

func (p *bgProcess) snapshot() paddock.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// notify wakes the followers; p.mu is held.
func (p *bgProcess) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// finish records how the process ended.
func (p *bgProcess) finish(now time.Time, res *paddock.ExecResult, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.carry { // output that ended inside a character
		if b := p.carry[i].Rest(); len(b) > 0 {
			p.add(i, b)
		}
	}
	p.info.EndedAt = &now
	switch {
	case p.killed:
		p.info.Status = "killed"
	case err != nil:
		p.info.Status, p.info.Error = "failed", paddock.ErrorMessage(err)
	default:
		code := res.ExitCode
		p.info.Status, p.info.ExitCode, p.info.TimedOut, p.info.OOMKilled = "exited", &code, res.TimedOut, res.OOMKilled
	}
	p.notify()
}

// add appends output of stream i (0 stdout, 1 stderr), dropping the
// oldest beyond MaxProcessOutput; p.mu is held.
func (p *bgProcess) add(i int, b []byte) {
	p.chunks = append(p.chunks, paddock.OutputChunk{Offset: p.next, Stream: [2]string{"stdout", "stderr"}[i], Data: string(b)})
	p.next += int64(len(b))
	for len(p.chunks) > 1 && p.next-p.chunks[0].Offset > MaxProcessOutput {
		p.chunks[0] = paddock.OutputChunk{} // let the array drop its data
		p.chunks = p.chunks[1:]
	}
	p.notify()
}

// procWriter is one stream of a background process.
type procWriter struct {
	p *bgProcess
	i int
}

func (w procWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if whole := p.carry[w.i].Next(b); len(whole) > 0 {
		p.add(w.i, whole)
	}
	return len(b), nil
}

func (m *Manager) process(envID, pid string) (*bgProcess, error) {
	m.procs.mu.Lock()
	defer m.procs.mu.Unlock()
	for _, p := range m.procs.byEnv[envID] {
		if p.info.ID == pid { // ID never changes
			return p, nil
		}
	}
	return nil, paddock.Errorf(paddock.ENotFound, "process %q not found in environment %s", pid, envID)
}

// Processes returns the background processes of an environment, newest
// first.
func (m *Manager) Processes(envID string) []paddock.Process {
	m.procs.mu.Lock()
	list := slices.Clone(m.procs.byEnv[envID])
	m.procs.mu.Unlock()
	out := make([]paddock.Process, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].snapshot())
	}
	return out
}

// Process returns one background process.
func (m *Manager) Process(envID, pid string) (paddock.Process, error) {
	p, err := m.process(envID, pid)
	if err != nil {
		return paddock.Process{}, err
	}
	return p.snapshot(), nil
}

// ProcessOutput returns the output of a background process from offset
// since (what is still kept of it: dropped says some was lost), the
// offset after it, the process, and a channel closed at its next change,
// for a caller that follows it.
func (m *Manager) ProcessOutput(envID, pid string, since int64) (chunks []paddock.OutputChunk, next int64, dropped bool, info paddock.Process, changed <-chan struct{}, err error) {
	p, err := m.process(envID, pid)
	if err != nil {
		return nil, 0, false, paddock.Process{}, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if since < 0 {
		return nil, 0, false, paddock.Process{}, nil, paddock.Errorf(paddock.EInvalid, "since must be an offset of 0 or more")
	}
	for _, c := range p.chunks {
		end := c.Offset + int64(len(c.Data))
		if end <= since {
			continue
		}
		if c.Offset < since { // since falls inside the chunk: from the next character
			skip := since - c.Offset
			for skip < int64(len(c.Data)) && !utf8.RuneStart(c.Data[skip]) {
				skip++
			}
			c.Data, c.Offset = c.Data[skip:], c.Offset+skip
		}
		chunks = append(chunks, c)
	}
	first := p.next
	if len(p.chunks) > 0 {
		first = p.chunks[0].Offset
	}
	return chunks, max(p.next, since), since < first, p.info, p.changed, nil
}

// KillProcess kills a running background process (its whole process
// group); an ended one is left as it is.
func (m *Manager) KillProcess(envID, pid string) (paddock.Process, error) {
	p, err := m.process(envID, pid)
	if err != nil {
		return paddock.Process{}, err
	}
	p.mu.Lock()
	if p.info.Status == "running" {
		p.killed = true
		p.cancel()
	}
	p.mu.Unlock()
	return p.snapshot(), nil
}

// forgetProcesses drops an environment's background processes once it
// has ended.
func (m *Manager) forgetProcesses(envID string) {
	m.procs.mu.Lock()
	list := m.procs.byEnv[envID]
	delete(m.procs.byEnv, envID)
	m.procs.mu.Unlock()
	for _, p := range list {
		p.cancel()
	}
}
