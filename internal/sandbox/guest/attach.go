package guest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// Default terminal size when the host sends none.
const (
	defaultCols = 80
	defaultRows = 24
)

// attach runs an interactive process for the host: the reply (frameOK
// with the session id, or frameError when the process cannot start), then
// output frames and an exit frame, while stdin, stdin EOF and resize
// frames come in. When the stream breaks or a kill request names the
// session, the process's group (with a TTY, its whole terminal session)
// is killed.
func (g *guest) attach(st net.Conn, req *AttachRequest) {
	fw := &frameWriter{w: st}
	fail := func(code, format string, args ...any) {
		fw.writeJSON(frameError, &wireError{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	env := mergeEnv(g.cfg.Env, req.Env)
	argv := req.Command
	if len(argv) == 0 {
		// Interactive on a terminal; without one, a shell reading
		// commands from its input, without prompts or job control
		// warnings.
		argv = []string{defaultShell(env)}
		if req.TTY {
			argv = append(argv, "-i")
		}
	}
	if req.TTY && envValue(env, "TERM") == "" {
		env = append(env, "TERM=xterm-256color")
	}
	path, err := lookPath(argv[0], envValue(env, "PATH"))
	if err != nil {
		fail(paddock.EInvalid, "%s: %v", argv[0], err)
		return
	}
	dir := g.dir(req.Dir)
	if err := workDir(dir); err != nil {
		fail(paddock.EInvalid, "%v", err)
		return
	}

	var p *attachedProcess
	if req.TTY {
		p, err = g.startPTY(path, argv, env, dir, req.Cols, req.Rows)
	} else {
		p, err = g.startPipes(path, argv, env, dir)
	}
	if err != nil {
		code := paddock.EInternal
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES) {
			code = paddock.EInvalid
		}
		fail(code, "start %s: %v", argv[0], err)
		return
	}

	id := newSessionID()
	g.mu.Lock()
	g.sessions[id] = p.kill
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.sessions, id)
		g.mu.Unlock()
	}()
	if fw.writeJSON(frameOK, attachReply{Session: id, PID: p.pid}) != nil {
		p.kill()
	}

	// Host -> process. Stdin goes through its own goroutine so a process
	// that does not read cannot stop us noticing resizes and the host
	// going away; the channel's bound is the back-pressure.
	stdin := make(chan []byte, 8)
	go func() {
		defer p.closeStdin()
		for b := range stdin {
			if b == nil {
				if p.tty {
					// A terminal has no EOF of its own; Ctrl-D is what a
					// user would type.
					p.stdin.Write([]byte{4})
					continue
				}
				return
			}
			if _, err := p.stdin.Write(b); err != nil {
				// The process closed its stdin: drop input, like a pipe
				// with a reader that went away.
				for range stdin {
				}
				return
			}
		}
	}()
	go func() {
		defer close(stdin)
		var buf []byte
		for {
			typ, payload, nbuf, err := readFrame(st, buf)
			buf = nbuf
			if err != nil {
				// The host closed the session (or the connection broke,
				// which ends every stream). The host keeps reading until
				// the exit frame, so output writes do not block.
				p.kill()
				return
			}
			switch typ {
			case frameStdin:
				b := append([]byte(nil), payload...)
				select {
				case stdin <- b:
				case <-p.exited:
				}
			case frameStdinEOF:
				select {
				case stdin <- nil:
				case <-p.exited:
				}
			case frameResize:
				var ws windowSize
				if json.Unmarshal(payload, &ws) == nil {
					p.resize(ws.Cols, ws.Rows)
				}
			}
		}
	}()

	var pumps sync.WaitGroup
	pump := func(r *os.File, typ byte) {
		defer pumps.Done()
		buf := make([]byte, chunkSize)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if fw.write(typ, buf[:n]) != nil {
					io.Copy(io.Discard, r)
					return
				}
			}
			if err != nil {
				// EIO: every holder of the terminal has closed it.
				return
			}
		}
	}
	pumps.Add(len(p.outputs))
	for i, r := range p.outputs {
		go pump(r, []byte{frameStdout, frameStderr}[i])
	}

	ws := <-p.status
	p.mu.Lock()
	p.finished = true
	p.mu.Unlock()
	close(p.exited)

	// As for exec: background processes may hold the output open; give
	// them a moment, then stop waiting.
	pumpsDone := make(chan struct{})
	go func() { pumps.Wait(); close(pumpsDone) }()
	select {
	case <-pumpsDone:
	case <-time.After(250 * time.Millisecond):
		for _, r := range p.outputs {
			r.Close()
		}
		<-pumpsDone
	}
	p.closeOutputs()

	fw.writeJSON(frameExit, exitStatus(ws, false))
}

// kill serves a kill request for an attached session.
func (g *guest) kill(st net.Conn, req *killRequest) {
	g.mu.Lock()
	kill := g.sessions[req.Session]
	g.mu.Unlock()
	if kill == nil {
		// Already ended: nothing left to kill.
		(&frameWriter{w: st}).writeJSON(frameOK, struct{}{})
		return
	}
	kill()
	(&frameWriter{w: st}).writeJSON(frameOK, struct{}{})
}

// attachedProcess is the guest's end of one attached process.
type attachedProcess struct {
	pid     int
	tty     bool
	stdin   *os.File   // the PTY master, or the stdin pipe
	outputs []*os.File // the PTY master; or stdout and stderr pipes
	status  <-chan unix.WaitStatus
	exited  chan struct{} // closed once the process has been waited for

	mu       sync.Mutex
	finished bool // the pid may be reused: no more signals
	closed   bool
	resizes  int // counts resizes, so a recheck can tell it is stale
}

func (p *attachedProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	unix.Kill(-p.pid, unix.SIGKILL)
	if p.tty {
		// An interactive shell puts each job in a process group of its
		// own; they all share the terminal's session.
		killSession(p.pid)
	}
}

// resizeRecheck is when, after a resize, the terminal's size is checked
// for readline having put the old one back; afterFunc schedules the
// checks (tests run them by hand).
var (
	resizeRecheck = []time.Duration{5 * time.Millisecond, 50 * time.Millisecond}
	afterFunc     = time.AfterFunc
)

// resize sets the terminal's size. Readline reads the size and writes it
// back each time it starts reading a line (set_winsize in rltty.c), so a
// resize that lands between its two ioctls is undone and the shell keeps
// the old size until the next resize. Under gVisor, whose ioctls are
// slower, a resize sent as a command finishes hits that window about one
// time in twenty. So the size is checked again shortly after, and set
// again if it went back to what it was; a size that a program inside set
// to something else is left alone.
func (p *attachedProcess) resize(cols, rows uint16) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	old, err := getWinsize(p.stdin)
	if err != nil || setWinsize(p.stdin, cols, rows) != nil {
		return
	}
	want := unix.Winsize{Col: cols, Row: rows}
	if old == want {
		return
	}
	p.resizes++
	gen := p.resizes
	for _, d := range resizeRecheck {
		afterFunc(d, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.closed || p.resizes != gen {
				return
			}
			if cur, err := getWinsize(p.stdin); err == nil && cur == old {
				setWinsize(p.stdin, cols, rows)
			}
		})
	}
}

func (p *attachedProcess) closeStdin() {
	if !p.tty {
		p.stdin.Close()
	}
}

func (p *attachedProcess) closeOutputs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, f := range p.outputs {
		f.Close()
	}
}

func (g *guest) startPipes(path string, argv, env []string, dir string) (*attachedProcess, error) {
	sio, err := newStdio(-1)
	if err != nil {
		return nil, err
	}
	pid, status, err := sio.start(g.reaper, path, argv, env, dir)
	if err != nil {
		return nil, err
	}
	return &attachedProcess{
		pid: pid, stdin: sio.stdin, outputs: []*os.File{sio.stdout, sio.stderr},
		status: status, exited: make(chan struct{}),
	}, nil
}

func (g *guest) startPTY(path string, argv, env []string, dir string, cols, rows uint16) (*attachedProcess, error) {
	master, tty, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("allocate a terminal: %w", err)
	}
	if err := setWinsize(master, cols, rows); err != nil {
		master.Close()
		tty.Close()
		return nil, fmt.Errorf("set terminal size: %w", err)
	}
	// A new session with the terminal as its controlling tty: the process
	// leads its own session and process group, and job control works.
	fd := int(tty.Fd())
	pid, status, err := g.reaper.start(path, argv, env, dir, [3]int{fd, fd, fd},
		&syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0})
	tty.Close()
	if err != nil {
		master.Close()
		return nil, err
	}
	return &attachedProcess{
		pid: pid, tty: true, stdin: master, outputs: []*os.File{master},
		status: status, exited: make(chan struct{}),
	}, nil
}

// openPTY allocates a pseudo-terminal. pty.Open leaves the master in
// blocking mode (its ioctls go through Fd), and a blocking read cannot be
// interrupted by Close; a non-blocking duplicate goes through the runtime
// poller instead, so Close ends a pending Read. pty.Open's ioctls can be
// interrupted like setWinsize's (it closes what it opened then), so an
// EINTR is tried again.
func openPTY() (master, tty *os.File, err error) {
	m, t, err := pty.Open()
	for i := 0; i < 10 && errors.Is(err, unix.EINTR); i++ {
		m, t, err = pty.Open()
	}
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), t, nil
}

// setWinsize sets the terminal's size.
func setWinsize(master *os.File, cols, rows uint16) error {
	if cols == 0 {
		cols = defaultCols
	}
	if rows == 0 {
		rows = defaultRows
	}
	return masterIoctl(master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
}

// getWinsize returns the terminal's size.
func getWinsize(master *os.File) (unix.Winsize, error) {
	var ws *unix.Winsize
	err := masterIoctl(master, func(fd int) (err error) {
		ws, err = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		return err
	})
	if err != nil {
		return unix.Winsize{}, err
	}
	return *ws, nil
}

// masterIoctl runs ioctl on the master's descriptor without Fd, which
// would make the master blocking again. An ioctl interrupted by a signal
// (the runtime's preemption signal; gVisor lets it interrupt these) is
// made again.
func masterIoctl(master *os.File, ioctl func(fd int) error) error {
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		for {
			if ierr = ioctl(int(fd)); ierr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return ierr
}

// killSession kills every process in session sid, found through /proc.
// Processes that change session (setsid, nohup'd daemons) escape, as they
// would on any terminal.
func killSession(sid int) {
	// Two rounds: a process may fork while the first is under way.
	for range 2 {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if s, ok := procSession(pid); ok && s == sid {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
}

// procSession reads a process's session id from /proc/<pid>/stat.
func procSession(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may contain anything; the
	// fields after the last ')' are: state ppid pgrp session ...
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return 0, false
	}
	sid, err := strconv.Atoi(f[3])
	return sid, err == nil
}

// defaultShell picks the interactive shell: $SHELL, else bash if the image
// has it, else sh.
func defaultShell(env []string) string {
	if sh := envValue(env, "SHELL"); sh != "" {
		return sh
	}
	if executable("/bin/bash") == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}

func newSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
