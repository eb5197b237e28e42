// Package guest is the agent that runs as PID 1 inside every environment,
// under runc, runsc and (later) Kubernetes alike. It reaps zombies, runs the
// environment's command and ships its output as the environment's log, and
// serves the host's requests: exec, interactive sessions (with or without
// a PTY), file operations and connections to ports inside the environment.
//
// The guest runs as the environment's user, inside the environment's
// mount namespace and root. File operations therefore see exactly what the
// environment's processes see: paths cannot lead out of the container's
// root (".." stops at "/", and symlinks resolve inside the container), the
// environment's user permissions apply (EACCES is reported as forbidden,
// not worked around), and new files belong to the environment's user. A
// container root is not host root either way: under runc it lives in a
// user namespace, under gVisor in the sandbox kernel.
//
// The guest dials the host: the host listens on a unix socket in a
// directory bind-mounted into the environment, and the guest reconnects
// with backoff whenever the connection drops, so environments outlive a
// Paddock restart. The same package holds the host's end (Client).
package guest

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// Config is what the host tells the guest at start, as a JSON file.
type Config struct {
	Socket  string   `json:"socket"`            // host's unix socket, as seen inside
	Env     []string `json:"env"`               // KEY=value: image env, then the environment's
	Dir     string   `json:"dir,omitempty"`     // default working directory
	Command []string `json:"command,omitempty"` // the environment's command, run once at start
	// Hold makes the guest wait for the host's start request before it
	// runs the command or serves an exec or attach: the host sends it once
	// the environment is ready (its network connected).
	Hold bool `json:"hold,omitempty"`
	// Lane is the host's lane socket, as seen inside (see lane.go); the
	// guest dials no lanes without it.
	Lane string `json:"lane,omitempty"`
}

// StartConfig is what a start request may set of a held guest's Config.
type StartConfig struct {
	Env     []string `json:"env"`
	Dir     string   `json:"dir,omitempty"`
	Command []string `json:"command,omitempty"`
}

// Main runs the guest. args are the command-line arguments after the
// subcommand name: "-config <path>". It returns the process exit code.
func Main(args []string) int {
	// The guest relays bytes and starts processes, which one thread
	// running Go does as well as several; more only add the wakeups of
	// idle threads looking for work to every exec (a third of the guest's
	// context switches per exec of true).
	runtime.GOMAXPROCS(1)
	fs := flag.NewFlagSet("guest", flag.ContinueOnError)
	cfgPath := fs.String("config", "/.paddock/run/guest.json", "guest config `file`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := log.New(os.Stderr, "paddock-guest: ", log.LstdFlags)
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		logger.Print(err)
		return 1
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		logger.Printf("parse %s: %v", *cfgPath, err)
		return 1
	}
	g := newGuest(cfg, logger)
	return g.run()
}

type guest struct {
	cfg    Config
	log    *log.Logger
	reaper *reaper
	logs   *logQueue
	done   chan struct{} // closed when the guest is shutting down

	released    chan struct{} // closed when the host starts the guest (see Config.Hold)
	releaseOnce sync.Once
	startMu     sync.Mutex    // serializes start requests
	stopping    chan struct{} // closed on SIGTERM

	mu       sync.Mutex
	sessions map[string]func() // attached sessions' kill functions, by session id

	procs procTable // background processes

	// devNull opens /dev/null once, for every child that reads nothing.
	devNull func() (int, error)
}

func newGuest(cfg Config, logger *log.Logger) *guest {
	g := &guest{
		cfg:      cfg,
		log:      logger,
		reaper:   newReaper(),
		logs:     newLogQueue(maxLogBuffer),
		done:     make(chan struct{}),
		released: make(chan struct{}),
		stopping: make(chan struct{}),

		sessions: make(map[string]func()),
		devNull: sync.OnceValues(func() (int, error) {
			fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
			}
			return fd, nil
		}),
	}
	if !cfg.Hold {
		g.release()
	}
	return g
}

// release lets the command run and requests be served.
func (g *guest) release() { g.releaseOnce.Do(func() { close(g.released) }) }

// start releases the guest, first putting cfg in force. Everything that
// reads the config waits for the release, so no lock is needed; only one
// start request may change it.
func (g *guest) start(cfg *StartConfig) error {
	g.startMu.Lock()
	defer g.startMu.Unlock()
	select {
	case <-g.released:
		if cfg != nil {
			return errors.New("the guest has started already; its configuration cannot change")
		}
		return nil
	default:
	}
	if cfg != nil {
		g.cfg.Env, g.cfg.Dir, g.cfg.Command = cfg.Env, cfg.Dir, cfg.Command
	}
	g.release()
	return nil
}

// waitReleased waits for the host's start request; false means the guest
// is stopping instead.
func (g *guest) waitReleased() bool {
	select {
	case <-g.released:
		return true
	case <-g.stopping:
		return false
	}
}

func (g *guest) run() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	// Reap once at start: we may have inherited zombies.
	g.reaper.reapAll()

	// The command is known once the guest is released (see start).
	cmdDone := make(chan struct{})
	go g.runCommand(cmdDone)
	go g.connectLoop()
	go g.serveLanes()

	for sig := range sigs {
		if sig == unix.SIGCHLD {
			g.reaper.reapAll()
			continue
		}
		// SIGTERM: the host is stopping us. The runtime has signalled every
		// process already; give the command the grace period (the host
		// enforces it with SIGKILL) and flush what it logged.
		g.logs.push(systemEntry(fmt.Sprintf("received %v, stopping", sig)))
		close(g.stopping)
		go func() {
			<-cmdDone
			g.logs.flush(time.Second)
			close(g.done)
		}()
		break
	}
	for {
		select {
		case <-g.done:
			return 0
		case sig := <-sigs:
			if sig == unix.SIGCHLD {
				g.reaper.reapAll()
			}
		}
	}
}

// connectLoop keeps a session to the host up until the guest shuts down.
func (g *guest) connectLoop() {
	for {
		backoff := firstBackoff
		conn, ok := g.redial(g.cfg.Socket, &backoff)
		if !ok {
			return
		}
		g.serve(conn)
	}
}

// firstBackoff is the first pause between dials of a host socket that
// does not answer; it doubles up to maxBackoff.
const (
	firstBackoff = 5 * time.Millisecond
	maxBackoff   = 500 * time.Millisecond
)

// redial dials the host's unix socket at path until it answers, pausing
// between attempts (see pause); false means the guest is shutting down.
func (g *guest) redial(path string, backoff *time.Duration) (*net.UnixConn, bool) {
	for {
		select {
		case <-g.done:
			return nil, false
		default:
		}
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil {
			return conn, true
		}
		pause(backoff)
	}
}

// pause sleeps for *backoff and doubles it, up to maxBackoff.
func pause(backoff *time.Duration) {
	time.Sleep(*backoff)
	*backoff = min(*backoff*2, maxBackoff)
}

// serve runs one session until it breaks.
func (g *guest) serve(conn net.Conn) {
	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = io.Discard
	ycfg.EnableKeepAlive = true
	ycfg.KeepAliveInterval = 10 * time.Second
	sess, err := yamux.Server(&coalescingConn{Conn: conn}, ycfg)
	if err != nil {
		conn.Close()
		return
	}
	defer sess.Close()
	go g.shipLogs(sess)
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		go g.handleStream(st)
	}
}

func (g *guest) handleStream(st *yamux.Stream) {
	typ, p, _, err := readFrame(st, nil)
	if err != nil {
		st.Close()
		return
	}
	g.handleRequest(st, typ, p)
}

// handleRequest serves the request whose first frame, of type typ, is p,
// on a stream or a lane, and closes st.
func (g *guest) handleRequest(st net.Conn, typ byte, p []byte) {
	defer st.Close()
	if typ != frameHeader {
		return
	}
	var h streamHeader
	if err := json.Unmarshal(p, &h); err != nil {
		replyError(st, &wireError{Code: paddock.EInvalid, Message: "malformed request header"})
		return
	}
	starts := h.Kind == kindExec || h.Kind == kindAttach || h.Kind == kindProc && h.Proc != nil && h.Proc.Op == procStart
	if starts && !g.waitReleased() {
		replyError(st, &wireError{Code: paddock.EUnavailable, Message: "the environment is stopping"})
		return
	}
	switch {
	case h.Kind == kindStart:
		if err := g.start(h.Start); err != nil {
			replyError(st, &wireError{Code: string(paddock.EInvalid), Message: err.Error()})
			return
		}
		fw := &frameWriter{w: st}
		fw.writeJSON(frameOK, struct{}{})
	case h.Kind == kindExec && h.Exec != nil:
		g.exec(st, h.Exec)
	case h.Kind == kindAttach && h.Attach != nil:
		g.attach(st, h.Attach)
	case h.Kind == kindKill && h.Kill != nil:
		g.kill(st, h.Kill)
	case h.Kind == kindFile && h.File != nil:
		g.file(st, h.File)
	case h.Kind == kindDial && h.Dial != nil:
		g.dial(st, h.Dial)
	case h.Kind == kindProc && h.Proc != nil:
		g.proc(st, h.Proc)
	default:
		// A newer host asking for something this guest cannot do.
		replyError(st, &wireError{Code: codeUnsupported, Message: fmt.Sprintf("the guest agent does not support %q requests", h.Kind)})
	}
}

// replyError sends a request's final error frame.
func replyError(w io.Writer, e *wireError) {
	fw := &frameWriter{w: w}
	fw.writeJSON(frameError, e)
}

// exec runs one command for the host and streams its output back. The
// command runs in its own process group, which is killed on timeout and
// when the host goes away mid-exec (the stream breaks).
func (g *guest) exec(st net.Conn, req *ExecRequest) {
	fw := &frameWriter{w: st}
	sio, pid, exited, serr := g.spawn(req)
	if serr != nil {
		fw.write(frameStderr, []byte("paddock: "+serr.msg+"\n"))
		fw.writeJSON(frameExit, ExitStatus{Code: serr.code})
		return
	}
	// stdinW is nil with NoStdin; an *os.File's methods accept a nil one.
	stdinW, stdoutR, stderrR := sio.stdin, sio.stdout, sio.stderr

	var mu sync.Mutex
	finished, timedOut := false, false
	killGroup := func(timeout bool) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		timedOut = timedOut || timeout
		unix.Kill(-pid, unix.SIGKILL)
	}

	// Host -> process: stdin, and cancellation when the stream breaks.
	go func() {
		var buf []byte
		for {
			typ, p, nbuf, err := readFrame(st, buf)
			buf = nbuf
			if err != nil {
				stdinW.Close()
				killGroup(false)
				return
			}
			switch typ {
			case frameStdin:
				stdinW.Write(p) // a process that closed stdin is not an error
			case frameStdinEOF:
				stdinW.Close()
			}
		}
	}()

	out := startPumps(stdoutR, stderrR, func(i int, b []byte) error {
		return fw.write([2]byte{frameStdout, frameStderr}[i], b)
	})

	timer, stop := deadline(req.TimeoutMS)
	defer stop()
	var ws unix.WaitStatus
	select {
	case ws = <-exited:
	case <-timer:
		killGroup(true)
		ws = <-exited
	}
	mu.Lock()
	finished = true
	mu.Unlock()
	stdinW.Close()

	out.wait()
	fw.writeJSON(frameExit, exitStatus(ws, timedOut))
	out.close() // after the exit frame, which need not wait for it
}

// pumps copy a process's stdout and stderr (streams 0 and 1) to a writer
// until both end.
type pumps struct {
	rs   [2]*os.File
	done chan struct{} // closed by the last pump to end
}

// startPumps starts copying stdout and stderr to write. A failing write
// stops the copy, but the pipe is still drained so that the process never
// blocks on it.
func startPumps(stdout, stderr *os.File, write func(stream int, b []byte) error) *pumps {
	p := &pumps{rs: [2]*os.File{stdout, stderr}, done: make(chan struct{})}
	// The last pump to end closes done: when the process exits, its
	// output has usually been read already, and nothing need be woken.
	var pumping atomic.Int32
	pumping.Store(2)
	pump := func(i int) {
		defer func() {
			if pumping.Add(-1) == 0 {
				close(p.done)
			}
		}()
		r := p.rs[i]
		buf := make([]byte, chunkSize)
		for {
			n, err := r.Read(buf)
			if n > 0 && write(i, buf[:n]) != nil {
				io.Copy(io.Discard, r)
				return
			}
			if err != nil {
				return
			}
		}
	}
	go pump(0)
	go pump(1)
	return p
}

// wait waits, once the process has exited, for the rest of its output.
// Background processes it started may still hold the pipes: wait gives
// them a moment, then closes the pipes (they keep running, as they would
// under a shell).
func (p *pumps) wait() {
	select {
	case <-p.done:
		return
	default:
	}
	t := time.NewTimer(outputGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.close()
		<-p.done
	}
}

// close closes the pipes.
func (p *pumps) close() {
	p.rs[0].Close()
	p.rs[1].Close()
}

// exitStatus is how a process that ended with ws ended.
func exitStatus(ws unix.WaitStatus, timedOut bool) ExitStatus {
	es := ExitStatus{TimedOut: timedOut}
	switch {
	case ws.Exited():
		es.Code = ws.ExitStatus()
	case ws.Signaled():
		es.Signal = int(ws.Signal())
		es.Code = 128 + es.Signal
	}
	return es
}

// outputGrace is how long an exec's result waits, once its process has
// exited, for the output pipes to close: background processes it started
// may hold them.
const outputGrace = 250 * time.Millisecond

// dir is a command's working directory: dir, else the environment's,
// else "/".
func (g *guest) dir(dir string) string {
	switch {
	case dir != "":
		return dir
	case g.cfg.Dir != "":
		return g.cfg.Dir
	}
	return "/"
}

// deadline is a channel that fires after ms milliseconds (never, for
// ms <= 0), and the function that stops it.
func deadline(ms int64) (<-chan time.Time, func() bool) {
	if ms <= 0 {
		return nil, func() bool { return false }
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	return t.C, t.Stop
}

// spawnError is a command that could not start: the exit code a shell
// would give (127 not found, 126 found but not runnable) and why.
type spawnError struct {
	code int
	msg  string
}

// spawn starts req's command, for an exec or a background process: with
// its variables over the guest's, found on its own PATH, in its directory
// (the environment's by default), in its own process group, reading a
// pipe, or /dev/null with NoStdin.
func (g *guest) spawn(req *ExecRequest) (*stdio, int, <-chan unix.WaitStatus, *spawnError) {
	fail := func(code int, format string, args ...any) (*stdio, int, <-chan unix.WaitStatus, *spawnError) {
		return nil, 0, nil, &spawnError{code, fmt.Sprintf(format, args...)}
	}
	if len(req.Command) == 0 {
		return fail(127, "empty command")
	}
	env := mergeEnv(g.cfg.Env, req.Env)
	path, err := lookPath(req.Command[0], envValue(env, "PATH"))
	if err != nil {
		code := 127
		if errors.Is(err, errNotExecutable) {
			code = 126
		}
		return fail(code, "%s: %v", req.Command[0], err)
	}
	dir := g.dir(req.Dir)
	if err := workDir(dir); err != nil {
		return fail(126, "%v", err)
	}
	stdin := -1
	if req.NoStdin {
		if stdin, err = g.devNull(); err != nil {
			return fail(126, "%v", err)
		}
	}
	sio, err := newStdio(stdin)
	if err != nil {
		return fail(126, "%v", err)
	}
	pid, exited, err := sio.start(g.reaper, path, req.Command, env, dir)
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return fail(code, "start %s: %v", req.Command[0], err)
	}
	return sio, pid, exited, nil
}

// runCommand runs the environment's command once, logging its output.
func (g *guest) runCommand(done chan struct{}) {
	defer close(done)
	if !g.waitReleased() || len(g.cfg.Command) == 0 {
		return
	}
	path, err := lookPath(g.cfg.Command[0], envValue(g.cfg.Env, "PATH"))
	if err != nil {
		g.logs.push(systemEntry(fmt.Sprintf("command %s: %v", g.cfg.Command[0], err)))
		return
	}
	dir := g.dir("")
	devnull, err := g.devNull()
	if err != nil {
		g.logs.push(systemEntry(err.Error()))
		return
	}
	sio, err := newStdio(devnull)
	if err != nil {
		g.logs.push(systemEntry(err.Error()))
		return
	}
	_, exited, err := sio.start(g.reaper, path, g.cfg.Command, g.cfg.Env, dir)
	if err != nil {
		g.logs.push(systemEntry(fmt.Sprintf("start command %s: %v", g.cfg.Command[0], err)))
		return
	}
	outR, errR := sio.stdout, sio.stderr
	g.logs.push(systemEntry("command started: " + strings.Join(g.cfg.Command, " ")))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.logLines(outR, "stdout") }()
	go func() { defer wg.Done(); g.logLines(errR, "stderr") }()
	ws := <-exited
	// Output still buffered in the pipes belongs to the log; background
	// children holding the pipes are given a moment, as for exec.
	waitTimeout(&wg, time.Second)
	outR.Close()
	errR.Close()
	wg.Wait()
	switch {
	case ws.Exited():
		g.logs.push(systemEntry(fmt.Sprintf("command exited with code %d", ws.ExitStatus())))
	case ws.Signaled():
		g.logs.push(systemEntry(fmt.Sprintf("command killed by signal %v", ws.Signal())))
	}
}

// maxLogLine splits longer lines so one line never exceeds a frame.
const maxLogLine = 16 << 10

func (g *guest) logLines(r *os.File, stream string) {
	buf := make([]byte, 0, maxLogLine)
	chunk := make([]byte, 8<<10)
	emit := func(line []byte) {
		g.logs.push(paddock.LogEntry{Timestamp: time.Now().UTC(), Stream: stream, Message: string(line)})
	}
	for {
		n, err := r.Read(chunk)
		data := chunk[:n]
		for len(data) > 0 {
			i := indexByte(data, '\n')
			if i < 0 {
				room := maxLogLine - len(buf)
				take := min(room, len(data))
				buf = append(buf, data[:take]...)
				data = data[take:]
				if len(buf) == maxLogLine {
					emit(buf)
					buf = buf[:0]
				}
				continue
			}
			buf = append(buf, data[:i]...)
			emit(buf)
			buf = buf[:0]
			data = data[i+1:]
		}
		if err != nil {
			if len(buf) > 0 {
				emit(buf)
			}
			return
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func systemEntry(msg string) paddock.LogEntry {
	return paddock.LogEntry{Timestamp: time.Now().UTC(), Stream: "system", Message: msg}
}

// mergeEnv returns base with extra's keys replaced or appended, in a
// deterministic order.
func mergeEnv(base []string, extra map[string]string) []string {
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := extra[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		out = append(out, k+"="+extra[k])
	}
	return out
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds name in path (the command's PATH, not the guest's).
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	if path == "" {
		path = defaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("command not found")
}

// errNotExecutable is lookPath's error for a file that is there but
// cannot be run (a directory, or no execute bit).
var errNotExecutable = errors.New("permission denied")

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return errors.New("no such file or directory")
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errNotExecutable
	}
	return nil
}

// workDir checks that a command can start in dir, with an error that
// says what is wrong with it.
func workDir(dir string) error {
	fi, err := os.Stat(dir)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("working directory %s: no such directory", dir)
	case errors.As(err, &pe):
		return fmt.Errorf("working directory %s: %v", dir, pe.Err)
	case err != nil:
		return fmt.Errorf("working directory %s: %v", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("working directory %s: not a directory", dir)
	}
	return nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// reaper starts processes and collects every child's exit, including
// orphans re-parented to PID 1. Processes it started get their status on
// a channel; everything else is reaped and forgotten.
type reaper struct {
	mu      sync.Mutex
	waiting map[int]*waiter
}

// waiter is a started process's waiter: whoever reaps the process sends
// its status on ch. pidfd, when the kernel has pidfds, is the process's
// descriptor in the runtime's poller (see pollWait).
type waiter struct {
	ch    chan unix.WaitStatus
	pidfd *os.File
}

func newReaper() *reaper {
	return &reaper{waiting: make(map[int]*waiter)}
}

// start forks and execs argv with fds as its descriptors 0, 1, 2, in its
// own process group unless sys says otherwise (a new session, for a PTY).
// The lock is held across fork and registration so reapAll cannot see the
// exit of a process before it is registered.
func (r *reaper) start(path string, argv, env []string, dir string, fds [3]int, sys *syscall.SysProcAttr) (int, <-chan unix.WaitStatus, error) {
	if sys == nil {
		sys = &syscall.SysProcAttr{Setpgid: true}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])},
		Sys:   sys,
	})
	if err != nil {
		return 0, nil, err
	}
	w := &waiter{ch: make(chan unix.WaitStatus, 1)}
	r.waiting[pid] = w
	// reapAll may have reaped the process already (it waits outside the
	// lock, and delivers under it, once start returns): pidfd_open then
	// fails, and wait finds no child, which is as it should be, since the
	// status is on its way. The pid cannot have been reused meanwhile
	// short of the pid space wrapping around within these microseconds.
	if fd, err := pidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		w.pidfd = os.NewFile(uintptr(fd), "pidfd")
		go r.pollWait(pid, w.pidfd)
	} else {
		go r.wait(pid)
	}
	return pid, w.ch, nil
}

// pidfdOpen is unix.PidfdOpen; tests take the pidfds away.
var pidfdOpen = unix.PidfdOpen

// pollWait waits for the exit of pid, a process start started, in the
// runtime's poller: the process's pidfd becomes readable when it exits,
// at the same moment as the output pipes it held reach their end, so one
// wakeup of the guest serves both. (A thread blocked in wait4 is a second
// wakeup, and while it blocks, the runtime's monitor polls it every 20 µs
// and hands its P to another thread: on a virtual machine, dear.)
// Whichever of pollWait and reapAll reaps the process first delivers its
// status; deliver closes the pidfd, which ends a pollWait still waiting.
func (r *reaper) pollWait(pid int, pidfd *os.File) {
	defer pidfd.Close()
	sc, err := pidfd.SyscallConn()
	if err != nil {
		r.wait(pid)
		return
	}
	var ws unix.WaitStatus
	reaped := false
	err = sc.Read(func(uintptr) bool {
		for {
			p, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil: // reaped by reapAll, which delivered the status
				return true
			case p == 0: // still running: wait for the pidfd to be readable
				return false
			}
			reaped = true
			return true
		}
	})
	if err == nil && reaped {
		r.deliver(pid, ws)
	}
}

// wait waits for the exit of pid, a process start started, blocking a
// thread; start uses it when the kernel has no pidfds. Whichever of wait
// and reapAll reaps the process first delivers its status; wait4 then
// fails for the other with ECHILD.
func (r *reaper) wait(pid int) {
	var ws unix.WaitStatus
	_, err := unix.Wait4(pid, &ws, 0, nil)
	for err == unix.EINTR {
		_, err = unix.Wait4(pid, &ws, 0, nil)
	}
	if err == nil { // else reaped by reapAll, which delivered the status
		r.deliver(pid, ws)
	}
}

// deliver hands pid's status to whoever started it; the status of a
// process start did not start (an orphan) is dropped.
func (r *reaper) deliver(pid int, ws unix.WaitStatus) {
	r.mu.Lock()
	if w, ok := r.waiting[pid]; ok {
		w.ch <- ws
		delete(r.waiting, pid)
		if w.pidfd != nil {
			w.pidfd.Close() // ends pollWait, when reapAll was first
		}
	}
	r.mu.Unlock()
}

func (r *reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.deliver(pid, ws)
	}
}
