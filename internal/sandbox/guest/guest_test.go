package guest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// startGuest runs a guest in this process (not as PID 1) connected to a
// Client over a socket pair; it reaps on SIGCHLD like PID 1 would.
func startGuest(t testing.TB, cfg Config) (*Client, *guest, *logSink) {
	t.Helper()
	g := newGuest(cfg, log.New(os.Stderr, "guest: ", 0))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sigs:
				g.reaper.reapAll()
			case <-stop:
				return
			}
		}
	}()
	hostConn, guestConn := net.Pipe()
	wg.Add(1)
	go func() { defer wg.Done(); g.serve(guestConn) }()
	sink := &logSink{}
	c, err := NewClient(hostConn, sink.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		close(stop)
		signal.Stop(sigs)
		wg.Wait()
	})
	return c, g, sink
}

type logSink struct {
	mu      sync.Mutex
	entries []paddock.LogEntry
}

func (s *logSink) add(e []paddock.LogEntry) {
	s.mu.Lock()
	s.entries = append(s.entries, e...)
	s.mu.Unlock()
}

func (s *logSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.entries {
		out = append(out, e.Stream+":"+e.Message)
	}
	return out
}

func run(t testing.TB, c *Client, req *ExecRequest, stdin string) (ExitStatus, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var in *strings.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	var es ExitStatus
	var err error
	if in != nil {
		es, err = c.Exec(context.Background(), req, in, &out, &errb)
	} else {
		es, err = c.Exec(context.Background(), req, nil, &out, &errb)
	}
	if err != nil {
		t.Fatalf("exec %v: %v", req.Command, err)
	}
	return es, out.String(), errb.String()
}

func TestGuestExec(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin", "A=base"}, Dir: "/"})
	es, out, _ := run(t, c, &ExecRequest{Command: []string{"sh", "-c", "echo $A $B; pwd; echo err >&2; exit 3"}, Env: map[string]string{"B": "req"}, Dir: "/tmp"}, "")
	if es.Code != 3 || out != "base req\n/tmp\n" {
		t.Errorf("got %+v %q", es, out)
	}
	es, out, _ = run(t, c, &ExecRequest{Command: []string{"cat"}}, "hello stdin")
	if es.Code != 0 || out != "hello stdin" {
		t.Errorf("stdin: got %+v %q", es, out)
	}
	es, _, errOut := run(t, c, &ExecRequest{Command: []string{"no-such-command"}}, "")
	if es.Code != 127 || !strings.Contains(errOut, "not found") {
		t.Errorf("missing command: got %+v %q", es, errOut)
	}
	// As a shell: 127 for what is not there, 126 for what cannot be run.
	es, _, errOut = run(t, c, &ExecRequest{Command: []string{"/etc/passwd"}}, "")
	if es.Code != 126 || !strings.Contains(errOut, "/etc/passwd: permission denied") {
		t.Errorf("a file that is not a program: got %+v %q", es, errOut)
	}
	for dir, want := range map[string]string{"/nonexistent": "working directory /nonexistent: no such directory", "/etc/passwd": "working directory /etc/passwd: not a directory"} {
		es, _, errOut = run(t, c, &ExecRequest{Command: []string{"true"}, Dir: dir}, "")
		if es.Code != 126 || !strings.Contains(errOut, want) {
			t.Errorf("dir %s: got %+v %q, want %q", dir, es, errOut, want)
		}
	}
	start := time.Now()
	es, _, _ = run(t, c, &ExecRequest{Command: []string{"sh", "-c", "sleep 30 & sleep 30"}, TimeoutMS: 200}, "")
	if !es.TimedOut || es.Signal != int(unix.SIGKILL) || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: got %+v after %v", es, time.Since(start))
	}
}

// TestExecStdio: a command's standard streams are blocking pipes (it must
// not see EAGAIN), and one started without input reads /dev/null.
func TestExecStdio(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	// The flags of descriptors 0-2 of the sh that runs the loop.
	script := `for fd in 0 1 2; do grep '^flags:' /proc/$$/fdinfo/$fd; done; readlink /proc/$$/fd/0`
	nonblocking := func(out string) bool {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f, ok := strings.CutPrefix(line, "flags:"); ok {
				v, err := strconv.ParseUint(strings.TrimSpace(f), 8, 64)
				if err != nil || v&unix.O_NONBLOCK != 0 {
					return true
				}
			}
		}
		return false
	}
	es, out, _ := run(t, c, &ExecRequest{Command: []string{"sh", "-c", script}}, "")
	if es.Code != 0 || nonblocking(out) || !strings.HasSuffix(out, "/dev/null\n") {
		t.Errorf("without input: %+v %q, want blocking descriptors and stdin /dev/null", es, out)
	}
	es, out, _ = run(t, c, &ExecRequest{Command: []string{"sh", "-c", script}}, "input")
	if es.Code != 0 || nonblocking(out) || !strings.Contains(out, "pipe:") {
		t.Errorf("with input: %+v %q, want blocking descriptors and stdin a pipe", es, out)
	}
	// Input that comes late: the command waits for it.
	pr, pw := io.Pipe()
	go func() {
		time.Sleep(200 * time.Millisecond)
		pw.Write([]byte("late\n"))
		pw.Close()
	}()
	var stdout bytes.Buffer
	es, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"sh", "-c", "read x && echo got $x"}}, pr, &stdout, nil)
	if err != nil || es.Code != 0 || stdout.String() != "got late\n" {
		t.Errorf("late input: %+v %q %v", es, stdout.String(), err)
	}
}

// TestExecOutputGrace: output a background process writes soon after the
// command exits is part of the result; one that holds the pipes longer
// does not hold the result past the grace.
func TestExecOutputGrace(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	es, out, _ := run(t, c, &ExecRequest{Command: []string{"sh", "-c", "(sleep 0.1; echo late) & echo now"}}, "")
	if es.Code != 0 || out != "now\nlate\n" {
		t.Errorf("late output: %+v %q, want \"now\\nlate\\n\"", es, out)
	}
	start := time.Now()
	es, out, _ = run(t, c, &ExecRequest{Command: []string{"sh", "-c", "(sleep 3; echo never) & echo now"}}, "")
	if d := time.Since(start); es.Code != 0 || out != "now\n" || d < outputGrace || d > 2*time.Second {
		t.Errorf("held pipes: %+v %q after %v, want \"now\\n\" after about %v", es, out, d, outputGrace)
	}
}

func TestGuestCancel(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	testCancel(t, c, nil)
}

// testCancel checks that cancelling an exec kills its process group;
// running, if not nil, is called once the exec's command runs.
func testCancel(t *testing.T, c *Client, running func()) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pidFile := t.TempDir() + "/pid"
	var out syncBuffer
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, &ExecRequest{Command: []string{"sh", "-c", "sleep 30 & echo $! > " + pidFile + "; echo started; wait"}}, nil, &out, nil)
		errc <- err
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "started") })
	if running != nil {
		running()
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("got %v", err)
	}
	// The background sleep is in the group, so it dies too.
	waitFor(t, func() bool { return unix.Kill(pid, 0) == unix.ESRCH })
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGuestCommandLogs(t *testing.T) {
	_, g, sink := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}, Command: []string{"sh", "-c", "echo out1; echo err1 >&2; exit 2"}})
	done := make(chan struct{})
	go g.runCommand(done)
	<-done
	waitFor(t, func() bool {
		msgs := strings.Join(sink.messages(), "\n")
		return strings.Contains(msgs, "stdout:out1") && strings.Contains(msgs, "stderr:err1") && strings.Contains(msgs, "system:command exited with code 2")
	})
}

// TestGuestHold checks a guest started with Hold runs neither its command
// nor an exec before the host's Start, and both after.
func TestGuestHold(t *testing.T) {
	marker := t.TempDir() + "/ran"
	c, g, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}, Hold: true, Command: []string{"sh", "-c", "echo > " + marker}})
	done := make(chan struct{})
	go g.runCommand(done)
	execDone := make(chan ExitStatus, 1)
	go func() {
		es, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"true"}}, nil, nil, nil)
		if err != nil {
			t.Error(err)
		}
		execDone <- es
	}()
	// Nothing can be seen to not happen at once: give it a moment.
	select {
	case <-execDone:
		t.Fatal("exec ran before Start")
	case <-done:
		t.Fatal("command ran before Start")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("command ran before Start")
	}
	for range 2 { // a second Start is harmless
		if err := c.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if es := <-execDone; es.Code != 0 {
		t.Errorf("exec after Start: %+v", es)
	}
	<-done
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("command did not run after Start: %v", err)
	}
}

// TestGuestStartConfig checks a start request's config replaces the one
// a held guest started with (its command and environment), and that a
// started guest refuses a new one.
func TestGuestStartConfig(t *testing.T) {
	dir := t.TempDir()
	c, g, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin", "WHO=pool"}, Hold: true, Command: []string{"sh", "-c", "echo $WHO > " + dir + "/old"}})
	done := make(chan struct{})
	go g.runCommand(done)
	cfg := &StartConfig{Env: []string{"PATH=/usr/bin:/bin", "WHO=owner"}, Dir: dir, Command: []string{"sh", "-c", "echo $WHO > new"}}
	if err := c.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	<-done
	if b, err := os.ReadFile(dir + "/new"); err != nil || string(b) != "owner\n" {
		t.Errorf("command after Start with a config wrote %q, %v; want owner", b, err)
	}
	if _, err := os.Stat(dir + "/old"); err == nil {
		t.Error("the held command ran instead of the start request's")
	}
	var out bytes.Buffer
	es, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"sh", "-c", "echo $WHO; pwd"}}, nil, &out, nil)
	if err != nil || es.Code != 0 || out.String() != "owner\n"+dir+"\n" {
		t.Errorf("exec after Start: %+v %v %q; want the start config's env and dir", es, err, out.String())
	}
	if err := c.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "started already") {
		t.Errorf("second Start with a config: %v, want an error", err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Errorf("second Start without a config: %v", err)
	}
}

// TestReaperRace: a started process's status reaches its caller whether
// its own waiter (on its pidfd, or without pidfds in wait4) or reapAll (on
// SIGCHLD, as PID 1) reaps it first.
func TestReaperRace(t *testing.T) {
	t.Run("pidfd", testReaperRace)
	t.Run("wait4", func(t *testing.T) {
		pidfdOpen = func(int, int) (int, error) { return -1, unix.ENOSYS }
		defer func() { pidfdOpen = unix.PidfdOpen }()
		testReaperRace(t)
		c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
		if es, out, _ := run(t, c, &ExecRequest{Command: []string{"sh", "-c", "echo ok; exit 5"}}, ""); es.Code != 5 || out != "ok\n" {
			t.Errorf("exec without pidfds: %+v %q", es, out)
		}
	})
}

func testReaperRace(t *testing.T) {
	r := newReaper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // reapAll as often as it can
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.reapAll()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	type started struct {
		code   int
		status <-chan unix.WaitStatus
	}
	var procs []started
	for i := range 40 {
		_, ch, err := r.start("/bin/sh", []string{"sh", "-c", fmt.Sprintf("exit %d", i)}, nil, "/", [3]int{-1, -1, -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, started{i, ch})
	}
	for _, p := range procs {
		select {
		case ws := <-p.status:
			if !ws.Exited() || ws.ExitStatus() != p.code {
				t.Errorf("process exiting %d: status %v", p.code, ws)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no status for the process exiting %d", p.code)
		}
	}
}
