package guest

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// Background processes: commands started by an exec that returns at once,
// which a client reconnects to later to read their output and their exit,
// or to kill them. The guest keeps them, their output included, so they
// live as long as the environment: through a lost connection to the host
// and Paddock's restarts alike.

const (
	// MaxProcessOutput is the output kept per background process: older
	// output is dropped.
	MaxProcessOutput = 256 << 10
	// MaxProcesses is how many background processes an environment keeps,
	// running or ended; the oldest ended one makes room.
	MaxProcesses = 32
)

// Process ops, in a procRequest.
const (
	procStart  = "start"
	procList   = "list"
	procGet    = "get"
	procOutput = "output"
	procKill   = "kill"
)

// procRequest is a request about background processes.
type procRequest struct {
	Op string `json:"op"`
	ID string `json:"id,omitempty"` // every op but list
	// Start: the command (its stdin is /dev/null), and OOMKills to keep
	// with it (see Process).
	Exec     *ExecRequest `json:"exec,omitempty"`
	OOMKills int64        `json:"oom_kills,omitempty"`
	// Output: from offset Since; with Wait, once there is output past it
	// or the process has ended.
	Since int64 `json:"since,omitempty"`
	Wait  bool  `json:"wait,omitempty"`
}

// Process is a background process, as the guest keeps it.
type Process struct {
	paddock.Process
	// Signal is the signal that ended the process, if one did.
	Signal int `json:"signal,omitempty"`
	// OOMKills is what the host gave at start: its count of the
	// environment's OOM kills then. The guest cannot see the count; the
	// host tells from it whether a SIGKILL was the kernel's OOM killer.
	OOMKills int64 `json:"oom_kills,omitempty"`
}

// ProcessOutput is an output request's answer: output from offset From
// to Next, in chunks of one stream each.
type ProcessOutput struct {
	Chunks  []paddock.OutputChunk
	Next    int64
	Dropped bool // output before From was dropped, and Since was before it
	Process Process
}

// outputReply is the frameOK payload of an output request; Next-From
// bytes of output follow, as frameStdout and frameStderr frames, then a
// frameDataEOF. Output travels raw, not in JSON, where a control
// character takes six bytes.
type outputReply struct {
	From    int64   `json:"from"`
	Next    int64   `json:"next"`
	Dropped bool    `json:"dropped,omitempty"`
	Process Process `json:"process"`
}

// procTable is the guest's background processes, oldest first.
type procTable struct {
	mu   sync.Mutex
	list []*proc
}

type proc struct {
	mu      sync.Mutex
	info    Process
	chunks  []outChunk           // oldest first
	next    int64                // offset of the next byte
	carry   [2]paddock.UTF8Carry // an unfinished character at the end of each stream
	changed chan struct{}        // closed and replaced at every change
	pid     int                  // its process group, while it runs
	killed  bool
}

// outChunk is a piece of a process's output, of one stream (0 stdout, 1
// stderr). Writes of one stream in a row go into one chunk, up to
// maxChunk, so that a process writing a byte at a time costs no more
// memory than one writing pages.
type outChunk struct {
	offset int64
	stream int
	data   []byte
}

const (
	maxChunk = 32 << 10
	// maxChunks bounds the chunks kept, for output that alternates
	// between the streams in small pieces: then less than
	// MaxProcessOutput is kept.
	maxChunks = 4096
)

// proc serves a request about background processes.
func (g *guest) proc(st net.Conn, req *procRequest) {
	fw := &frameWriter{w: st}
	fail := func(code, format string, args ...any) {
		replyError(st, &wireError{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	switch req.Op {
	case procList:
		fw.writeJSON(frameOK, g.procs.snapshot())
		return
	case procStart, procGet, procKill, procOutput:
	default: // a newer host's
		replyError(st, &wireError{Code: codeUnsupported, Message: fmt.Sprintf("the guest agent does not support process op %q", req.Op)})
		return
	}
	if req.ID == "" {
		fail(paddock.EInvalid, "a process id is required")
		return
	}
	if req.Op == procStart {
		if req.Exec == nil {
			fail(paddock.EInvalid, "a command is required")
			return
		}
		p, err := g.startProc(req)
		if err != nil {
			fail(paddock.EConflict, "%v", err)
			return
		}
		fw.writeJSON(frameOK, p)
		return
	}
	p := g.procs.find(req.ID)
	if p == nil {
		fail(paddock.ENotFound, "process %q not found", req.ID)
		return
	}
	switch req.Op {
	case procGet:
		fw.writeJSON(frameOK, p.snapshot())
	case procKill:
		p.kill(false)
		fw.writeJSON(frameOK, p.snapshot())
	case procOutput:
		if req.Since < 0 {
			fail(paddock.EInvalid, "since must be an offset of 0 or more")
			return
		}
		var gone chan struct{}
		if req.Wait { // the host gives up by closing the stream
			gone = make(chan struct{})
			go func() {
				readFrame(st, nil)
				close(gone)
			}()
		}
		out, ok := p.output(req.Since, req.Wait, gone)
		if !ok {
			return
		}
		from := out.next
		if len(out.chunks) > 0 {
			from = out.chunks[0].offset
		}
		if fw.writeJSON(frameOK, outputReply{From: from, Next: out.next, Dropped: out.dropped, Process: out.info}) != nil {
			return
		}
		for _, c := range out.chunks {
			for d := c.data; len(d) > 0; {
				n := min(len(d), chunkSize)
				if fw.write([2]byte{frameStdout, frameStderr}[c.stream], d[:n]) != nil {
					return
				}
				d = d[n:]
			}
		}
		fw.write(frameDataEOF, nil)
	}
}

// startProc starts a background process. A command that cannot start is
// a process that ended at once, with a shell's exit code and the reason
// on its stderr, as an exec reports it.
func (g *guest) startProc(req *procRequest) (Process, error) {
	now := time.Now().UTC()
	p := &proc{
		info: Process{
			Process:  paddock.Process{ID: req.ID, Command: req.Exec.Command, Status: "running", StartedAt: now},
			OOMKills: req.OOMKills,
		},
		changed: make(chan struct{}),
	}
	if err := g.procs.add(p); err != nil {
		return Process{}, err
	}
	r := *req.Exec
	r.NoStdin = true
	sio, pid, exited, serr := g.spawn(&r)
	if serr != nil {
		p.mu.Lock()
		p.add(1, []byte("paddock: "+serr.msg+"\n"))
		p.mu.Unlock()
		p.finish(ExitStatus{Code: serr.code})
		return p.snapshot(), nil
	}
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	out := startPumps(sio.stdout, sio.stderr, func(i int, b []byte) error {
		p.write(i, b)
		return nil
	})
	go func() {
		timer, stop := deadline(r.TimeoutMS)
		defer stop()
		var ws unix.WaitStatus
		timedOut := false
		select {
		case ws = <-exited:
		case <-timer:
			timedOut = p.kill(true)
			ws = <-exited
		}
		p.mu.Lock()
		p.pid = 0 // reaped: its id may be reused
		p.mu.Unlock()
		out.wait()
		out.close()
		p.finish(exitStatus(ws, timedOut))
	}()
	return p.snapshot(), nil
}

// add puts p in the table, dropping the oldest ended process if the table
// is full; with MaxProcesses running, or p's id taken, it fails.
func (t *procTable) add(p *proc) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.ContainsFunc(t.list, func(q *proc) bool { return q.info.ID == p.info.ID }) { // ID never changes
		return fmt.Errorf("process id %q is taken", p.info.ID)
	}
	if len(t.list) >= MaxProcesses {
		i := slices.IndexFunc(t.list, func(q *proc) bool { return q.ended() })
		if i < 0 {
			return fmt.Errorf("%d background processes are running: kill one first", MaxProcesses)
		}
		t.list = slices.Delete(t.list, i, i+1)
	}
	t.list = append(t.list, p)
	return nil
}

func (t *procTable) find(id string) *proc {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.list {
		if p.info.ID == id {
			return p
		}
	}
	return nil
}

// snapshot returns the processes, newest first.
func (t *procTable) snapshot() []Process {
	t.mu.Lock()
	list := slices.Clone(t.list)
	t.mu.Unlock()
	out := make([]Process, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].snapshot())
	}
	return out
}

func (p *proc) ended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.Status != "running"
}

func (p *proc) snapshot() Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// notify wakes the waiting output requests; p.mu is held.
func (p *proc) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// kill kills the process's whole group, on a request or on its timeout,
// unless it has been reaped or killed already; it reports whether it did.
// A process killed on request ends "killed", one on its timeout "exited"
// with timed_out.
func (p *proc) kill(timeout bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid <= 0 || p.killed {
		return false
	}
	p.killed = !timeout
	unix.Kill(-p.pid, unix.SIGKILL)
	return true
}

// finish records how the process ended.
func (p *proc) finish(es ExitStatus) {
	now := time.Now().UTC()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.carry { // output that ended inside a character
		if b := p.carry[i].Rest(); len(b) > 0 {
			p.add(i, b)
		}
	}
	p.info.EndedAt = &now
	if p.killed {
		p.info.Status = "killed"
	} else {
		code := es.Code
		p.info.Status, p.info.ExitCode, p.info.TimedOut = "exited", &code, es.TimedOut
	}
	p.info.Signal = es.Signal
	p.notify()
}

// write takes output of stream i (0 stdout, 1 stderr).
func (p *proc) write(i int, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if whole := p.carry[i].Next(b); len(whole) > 0 {
		p.add(i, whole)
	}
}

// add appends output of stream i, dropping the oldest beyond
// MaxProcessOutput (or maxChunks); p.mu is held.
func (p *proc) add(i int, b []byte) {
	if n := len(p.chunks); n > 0 && p.chunks[n-1].stream == i && len(p.chunks[n-1].data)+len(b) <= maxChunk {
		p.chunks[n-1].data = append(p.chunks[n-1].data, b...)
	} else {
		p.chunks = append(p.chunks, outChunk{offset: p.next, stream: i, data: append([]byte(nil), b...)})
	}
	p.next += int64(len(b))
	for len(p.chunks) > 1 && (p.next-p.chunks[0].offset > MaxProcessOutput || len(p.chunks) > maxChunks) {
		p.chunks[0] = outChunk{} // let the array drop its data
		p.chunks = p.chunks[1:]
	}
	p.notify()
}

// outputSlice is a process's output from an offset: its chunks share
// the process's bytes, which never change once written (add only appends
// past them), so nothing is copied under the lock.
type outputSlice struct {
	chunks  []outChunk
	next    int64
	dropped bool
	info    Process
}

// output returns the output from offset since (what is still kept of it),
// starting at a character. With wait it first waits for output past since
// or the process's end; false means gone was closed first.
func (p *proc) output(since int64, wait bool, gone <-chan struct{}) (outputSlice, bool) {
	p.mu.Lock()
	for wait && p.next <= since && p.info.Status == "running" {
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-gone:
			return outputSlice{}, false
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	var out outputSlice
	for _, c := range p.chunks {
		if c.offset+int64(len(c.data)) <= since {
			continue
		}
		if c.offset < since { // since falls inside the chunk: from the next character
			skip := since - c.offset
			for skip < int64(len(c.data)) && !utf8.RuneStart(c.data[skip]) {
				skip++
			}
			c.data, c.offset = c.data[skip:], c.offset+skip
		}
		out.chunks = append(out.chunks, c)
	}
	first := p.next
	if len(p.chunks) > 0 {
		first = p.chunks[0].offset
	}
	out.next, out.dropped, out.info = max(p.next, since), since < first, p.info
	return out, true
}
