package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// process is `paddock serve` running as its own process, as users run it.
type process struct {
	cmd  *exec.Cmd
	url  string
	data string
}

// startProcess runs the static paddock binary on data and waits for it to
// print the URL it listens on.
func startProcess(t *testing.T, data, mirror string) *process {
	t.Helper()
	cmd := exec.Command(paddockBin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--registry-mirror", "docker.io="+mirror)
	cmd.Env = append(os.Environ(), "PADDOCK_ADMIN_PASSWORD="+testAdminPassword, "PADDOCK_LOG_REQUESTS=false", "PADDOCK_STOP_GRACE=1s",
		"PADDOCK_NETWORK_BRIDGE=pdkcli", "PADDOCK_NETWORK_TABLE=paddock_cli", "PADDOCK_NETWORK_SUBNET=10.149.0.0/16", "PADDOCK_DNS_UPSTREAMS=127.0.0.1:1")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, data: data}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("paddock did not start: %v\n%s", err, logs.String())
	}
	p.url = strings.TrimSpace(line[strings.LastIndex(line, " ")+1:])
	// Environments outlive Paddock by design; a test must not leave any.
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.deleteEnvironments(t)
		}
	})
	return p
}

// deleteEnvironments force-deletes every environment of the server.
func (p *process) deleteEnvironments(t *testing.T) {
	s := &testServer{url: p.url}
	tok := s.login(t, "admin", testAdminPassword)
	var list struct{ Environments []struct{ ID, Status string } }
	s.expect(t, 200, req{method: "GET", path: "/api/v1/environments?limit=1000", token: tok}).json(t, &list)
	for _, e := range list.Environments {
		if e.Status != "terminated" && e.Status != "failed" {
			s.do(t, req{method: "DELETE", path: "/api/v1/environments/" + e.ID + "?force=true", token: tok})
		}
	}
}

// removeNetworkAtCleanup removes the bridge and nftables tables that a
// separate paddock process made, which outlive it by design.
func removeNetworkAtCleanup(t *testing.T, bridge, table string) {
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", bridge).Run()
		exec.Command("nft", "delete", "table", "inet", table).Run()
		exec.Command("nft", "delete", "table", "bridge", table).Run()
	})
}

// cli runs a paddock command against p and returns its stdout and exit code.
func (p *process) cli(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	out, _, code := p.cliErr(t, stdin, args...)
	return out, code
}

// command is the paddock command args, as a client of p.
func (p *process) command(args ...string) *exec.Cmd {
	cmd := exec.Command(paddockBin, args...)
	cmd.Env = append(os.Environ(), "PADDOCK_CREDENTIALS="+filepath.Join(p.data, "..", "credentials.json"), "PADDOCK_URL="+p.url)
	return cmd
}

// cliErr is cli that also returns stderr.
func (p *process) cliErr(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := p.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 && testing.Verbose() {
		t.Logf("paddock %s: exit %d, stderr %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String(), stderr.String(), code
}

func (p *process) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, code := p.cli(t, "", args...)
	if code != 0 {
		t.Fatalf("paddock %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

// TestCLIAndRestart drives the CLI against a separate paddock process,
// kills that process with SIGKILL, restarts it on the same data directory,
// and checks that environments survived (exec works again) and that one
// whose container died meanwhile is marked failed with the reason.
func TestCLIAndRestart(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	mirror := testRegistry(t)
	base := t.TempDir()
	data := filepath.Join(base, "data")
	for _, d := range []string{base, filepath.Dir(base)} {
		os.Chmod(d, 0o711)
	}
	p := startProcess(t, data, mirror)

	if out, code := p.cli(t, testAdminPassword+"\n", "login", "--server", p.url, "--username", "admin", "--password-stdin"); code != 0 || !strings.Contains(out, "Logged in") {
		t.Fatalf("login: %d %q", code, out)
	}
	if _, code := p.cli(t, "wrong\n", "login", "--server", p.url, "--password-stdin"); code != 1 {
		t.Errorf("login with a wrong password: exit %d", code)
	}
	id := strings.TrimSpace(p.mustCLI(t, "env", "create", "cli-env", "--image", "python:3.11-slim", "--label", "via=cli", "--", "sh", "-c", "echo hello from the command; sleep infinity"))
	if !strings.HasPrefix(id, "env-") {
		t.Fatalf("env create printed %q", id)
	}
	victim := strings.TrimSpace(p.mustCLI(t, "env", "create", "victim", "--memory", "256Mi"))
	if out := p.mustCLI(t, "env", "exec", id, "--", "python3", "-c", "print(40+2)"); out != "42\n" {
		t.Errorf("exec printed %q", out)
	}
	if _, code := p.cli(t, "", "env", "exec", id, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec exit code %d, want 3", code)
	}
	// The output streams; a timeout says so and exits 128+SIGKILL.
	if out, errOut, code := p.cliErr(t, "", "env", "exec", "-timeout", "1", id, "--", "sh", "-c", "echo before; sleep 30"); code != 137 || out != "before\n" || !strings.Contains(errOut, "timed out after 1 s") {
		t.Errorf("exec with a timeout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Flags may come before the id as well as after it.
	if out := p.mustCLI(t, "env", "exec", "-timeout", "5", "-workdir", "/tmp", id, "--", "pwd"); out != "/tmp\n" {
		t.Errorf("exec with flags before the id printed %q", out)
	}
	// -i passes standard input; without it the command reads nothing.
	if out, code := p.cli(t, "piped text\n", "env", "exec", "-i", id, "--", "cat"); code != 0 || out != "piped text\n" {
		t.Errorf("exec -i: exit %d, printed %q", code, out)
	}
	if out := p.mustCLI(t, "env", "exec", id, "--", "cat"); out != "" {
		t.Errorf("exec without -i read %q", out)
	}
	if out, errOut, code := p.cliErr(t, "\xff\xfe", "env", "exec", "-i", id, "--", "cat"); code != 1 || out != "" || !strings.Contains(errOut, "not UTF-8 text") {
		t.Errorf("exec -i with binary input: exit %d, printed %q, %q", code, out, errOut)
	}
	if _, errOut, code := p.cliErr(t, strings.Repeat("x", 2<<20), "env", "exec", "-i", id, "--", "wc", "-c"); code != 1 || !strings.Contains(errOut, "paddock env cp") {
		t.Errorf("exec -i with 2 MiB of input (the server takes 1 MiB): exit %d, %q", code, errOut)
	}
	t.Run("pause, resume and timeout", func(t *testing.T) {
		if out := p.mustCLI(t, "env", "timeout", id, "7200"); !strings.HasPrefix(out, id+" running (expires ") {
			t.Errorf("env timeout printed %q", out)
		}
		if out := p.mustCLI(t, "env", "pause", id); !strings.HasPrefix(out, id+" paused") {
			t.Errorf("env pause printed %q", out)
		}
		if _, errOut, code := p.cliErr(t, "", "env", "exec", id, "--", "true"); code != 1 || !strings.Contains(errOut, "paused") {
			t.Errorf("exec in a paused environment: exit %d, %q", code, errOut)
		}
		if out := p.mustCLI(t, "env", "resume", id); !strings.HasPrefix(out, id+" running") {
			t.Errorf("env resume printed %q", out)
		}
		if out := p.mustCLI(t, "env", "exec", id, "--", "echo", "back"); out != "back\n" {
			t.Errorf("exec after resume: %q", out)
		}
		for _, args := range [][]string{{"env", "timeout"}, {"env", "timeout", id, "soon"}, {"env", "timeout", id, "0"}, {"env", "pause"}, {"env", "resume"}} {
			if _, _, code := p.cliErr(t, "", args...); code != 2 {
				t.Errorf("%v: exit %d, want 2 (usage)", args, code)
			}
		}
		if _, errOut, code := p.cliErr(t, "", "env", "timeout", id, "99999999"); code != 1 || !strings.Contains(errOut, "timeout") {
			t.Errorf("a lifetime over 30 days: exit %d, %q", code, errOut)
		}
	})
	t.Run("background", func(t *testing.T) {
		pid := strings.TrimSpace(p.mustCLI(t, "env", "exec", "-d", id, "--", "sh", "-c", "echo started; sleep 0.5; echo done; exit 6"))
		if !strings.HasPrefix(pid, "proc-") {
			t.Fatalf("exec -d printed %q", pid)
		}
		if out := p.mustCLI(t, "env", "ps", id); !strings.Contains(out, pid) || !strings.Contains(out, "echo started") {
			t.Errorf("env ps:\n%s", out)
		}
		for _, args := range [][]string{{"env", "output", "-f", id, pid}, {"env", "output", id, pid}} {
			if out, code := p.cli(t, "", args...); code != 6 || out != "started\ndone\n" {
				t.Errorf("%v: exit %d, printed %q", args, code, out)
			}
		}
		long := strings.TrimSpace(p.mustCLI(t, "env", "exec", "-d", id, "--", "sleep", "300"))
		if out := p.mustCLI(t, "env", "kill", id, long); strings.TrimSpace(out) != long {
			t.Errorf("env kill printed %q", out)
		}
		if _, errOut, code := p.cliErr(t, "", "env", "output", "-f", id, long); code != 137 || !strings.Contains(errOut, "killed") {
			t.Errorf("output of a killed process: exit %d, %q", code, errOut)
		}
		if _, errOut, code := p.cliErr(t, "", "env", "kill", id, "proc-nosuch"); code != 1 || !strings.Contains(errOut, "not found") {
			t.Errorf("kill of an unknown process: exit %d, %q", code, errOut)
		}
	})
	t.Run("attach", func(t *testing.T) { testCLIAttach(t, p, id) })
	t.Run("port-forward", func(t *testing.T) { testCLIPortForward(t, p, id) })
	if out := p.mustCLI(t, "env", "ls", "--label", "via=cli"); !strings.Contains(out, id) || strings.Contains(out, victim) || !strings.Contains(out, "running") {
		t.Errorf("env ls:\n%s", out)
	}
	if out := p.mustCLI(t, "env", "get", id); !strings.Contains(out, `"status": "running"`) {
		t.Errorf("env get:\n%s", out)
	}
	for _, args := range [][]string{{"image", "pull", "-h"}, {"image", "rm", "--force"}, {"image", "pull"}, {"image", "snapshot", id}, {"image", "snapshot", id, "-x"}, {"env", "get", "-h"}, {"agent", "get", "-h"}, {"agent", "rm", "-h"}} {
		if _, _, code := p.cliErr(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage, not a pull of a flag)", args, code)
		}
	}
	if out := p.mustCLI(t, "image", "snapshot", id, "cli-snap:1"); !strings.HasPrefix(out, "cli-snap:1 sha256:") {
		t.Errorf("image snapshot printed %q", out)
	}
	if out := p.mustCLI(t, "image", "ls"); !strings.Contains(out, "python:3.11-slim") || !strings.Contains(out, "snapshot") {
		t.Errorf("image ls:\n%s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.mustCLI(t, "env", "logs", "--tail", "5", id), "hello from the command") {
		if time.Now().After(deadline) {
			t.Fatal("the command's output never reached the log")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.mustCLI(t, "env", "exec", id, "--", "sh", "-c", "echo kept > /root/state")
	// A background process that outlives the server: it writes the time
	// before the SIGKILL, while no server runs, and after the restart.
	survivor := strings.TrimSpace(p.mustCLI(t, "env", "exec", "-d", id, "--", "sh", "-c", "while [ ! -e /tmp/go-on ]; do date +%s%N; sleep 0.05; done; echo after; exit 9"))
	deadline = time.Now().Add(30 * time.Second)
	for p.mustCLI(t, "env", "output", id, survivor) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the background process wrote nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// env cp, both ways, a directory and a file.
	local := filepath.Join(base, "proj")
	os.MkdirAll(filepath.Join(local, "pkg"), 0o755)
	os.WriteFile(filepath.Join(local, "main.py"), []byte("print('cp works')\n"), 0o644)
	os.WriteFile(filepath.Join(local, "pkg", "data.txt"), []byte("data\n"), 0o600)
	p.mustCLI(t, "env", "cp", local, id+":/work")
	if out := p.mustCLI(t, "env", "exec", id, "--", "sh", "-c", "cd /work/proj && python3 main.py && cat pkg/data.txt"); out != "cp works\ndata\n" {
		t.Errorf("after cp up: %q", out)
	}
	back := filepath.Join(base, "back")
	os.Mkdir(back, 0o755)
	p.mustCLI(t, "env", "cp", id+":/work/proj", back)
	if b, err := os.ReadFile(filepath.Join(back, "proj", "pkg", "data.txt")); err != nil || string(b) != "data\n" {
		t.Errorf("after cp down: %q, %v", b, err)
	}
	p.mustCLI(t, "env", "cp", id+":/root/state", filepath.Join(base, "state.txt"))
	if b, _ := os.ReadFile(filepath.Join(base, "state.txt")); string(b) != "kept\n" {
		t.Errorf("single file down: %q", b)
	}
	// "-": standard input up to a file; a file's content, or a directory
	// as a tar, down to standard output.
	if _, errOut, code := p.cliErr(t, "piped in\n", "env", "cp", "-", id+":/root/piped.txt"); code != 0 {
		t.Errorf("cp - up: exit %d %s", code, errOut)
	}
	if out := p.mustCLI(t, "env", "cp", id+":/root/piped.txt", "-"); out != "piped in\n" {
		t.Errorf("cp down to -: %q", out)
	}
	tr := tar.NewReader(strings.NewReader(p.mustCLI(t, "env", "cp", id+":/work/proj", "-")))
	var names []string
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		names = append(names, h.Name)
	}
	if !slices.Contains(names, "pkg/data.txt") {
		t.Errorf("cp of a directory to -: tar of %v", names)
	}
	if _, errOut, code := p.cliErr(t, "x", "env", "cp", "-", id+":/root/"); code != 1 || !strings.Contains(errOut, "needs a file path") {
		t.Errorf("cp - to a directory: exit %d %q", code, errOut)
	}

	// SIGKILL: no shutdown code runs.
	killedAt := time.Now()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	// While Paddock is down, the victim's container dies.
	kill := exec.Command("runc", "--root", filepath.Join(data, "sandbox", "runc"), "kill", "--all", victim, "KILL")
	if out, err := kill.CombinedOutput(); err != nil {
		t.Fatalf("kill the victim: %v: %s", err, out)
	}

	time.Sleep(300 * time.Millisecond) // down long enough for the survivor to write
	p2 := startProcess(t, data, mirror)
	p2.data = data
	restartedAt := time.Now()
	if out := p2.mustCLI(t, "env", "exec", id, "--", "cat", "/root/state"); out != "kept\n" {
		t.Errorf("after restart, exec printed %q", out)
	}
	p2.mustCLI(t, "env", "exec", id, "--", "touch", "/tmp/go-on")
	out, code := p2.cli(t, "", "env", "output", "-f", id, survivor)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	whileDown := 0
	for _, l := range lines {
		if ns, err := strconv.ParseInt(l, 10, 64); err == nil && ns > killedAt.UnixNano() && ns < restartedAt.UnixNano() {
			whileDown++
		}
	}
	if code != 9 || lines[len(lines)-1] != "after" || whileDown == 0 {
		t.Errorf("after restart, the background process: exit %d, %d lines written while the server was down, output:\n%s", code, whileDown, out)
	}
	if out := p2.mustCLI(t, "env", "ps", id); !strings.Contains(out, survivor) {
		t.Errorf("after restart, env ps:\n%s", out)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		out := p2.mustCLI(t, "env", "get", victim)
		if strings.Contains(out, `"status": "failed"`) && strings.Contains(out, `"reason"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead environment is not failed after restart:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p2.mustCLI(t, "env", "rm", id, "--force")
	removeNetworkAtCleanup(t, "pdkcli", "paddock_cli")
	if out := p2.mustCLI(t, "env", "get", id); !strings.Contains(out, `"status": "terminated"`) {
		t.Errorf("after rm:\n%s", out)
	}
	// ls leaves out what is terminated, unless asked.
	if out := p2.mustCLI(t, "env", "ls"); strings.Contains(out, id) {
		t.Errorf("env ls lists the terminated environment:\n%s", out)
	}
	if out := p2.mustCLI(t, "env", "ls", "-a"); !strings.Contains(out, id) || !strings.Contains(out, "terminated") {
		t.Errorf("env ls -a:\n%s", out)
	}
	// Nothing of the environments is left on the host.
	entries, _ := os.ReadDir(filepath.Join(data, "sandbox", "envs"))
	if len(entries) != 0 {
		t.Errorf("left in the state dir: %v", entries)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), data) {
		t.Errorf("mounts left under %s", data)
	}
}

// testCLIAttach drives env attach and exec -t: without a terminal (piped
// standard input, separate stdout and stderr) and on a real one (a PTY:
// raw mode, the window size at start and after a resize, the exit code).
func testCLIAttach(t *testing.T, p *process, id string) {
	// Standard input not a terminal: the shell reads commands from it.
	if out, errOut, code := p.cliErr(t, "echo from-stdin\nexit 4\n", "env", "attach", id); code != 4 || out != "from-stdin\n" || errOut != "" {
		t.Errorf("attach with piped input: exit %d, printed %q, stderr %q", code, out, errOut)
	}
	out, errOut, code := p.cliErr(t, "", "env", "attach", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || errOut != "err\n" {
		t.Errorf("attach with a command: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := p.cliErr(t, "", "env", "attach", "env-nosuch"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("attach to an unknown id: exit %d, %q", code, errOut)
	}

	// On a terminal.
	cmd := p.command("env", "exec", "-t", id, "--", "sh")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 91, Rows: 27})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := screen.String()
			mu.Unlock()
			if strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the terminal never showed %q; it shows:\n%s", want, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The remote shell computes the marker, so the echo of the typed line
	// cannot match it; stty shows the size the remote terminal has.
	io.WriteString(tty, "stty size; echo ready-$((40+2))\n")
	expect("27 91")
	expect("ready-42")
	if err := pty.Setsize(tty, &pty.Winsize{Cols: 120, Rows: 33}); err != nil { // the kernel sends SIGWINCH
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	io.WriteString(tty, "stty size; echo resized-$((1+1))\n")
	expect("resized-2")
	expect("33 120")
	io.WriteString(tty, "exit 5\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 5 {
			t.Errorf("exec -t exited with %v, want exit status 5", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("exec -t did not exit after the shell did")
	}
}

// testCLIPortForward serves HTTP inside the environment and reaches it
// through env port-forward's local listener.
func testCLIPortForward(t *testing.T, p *process, id string) {
	p.mustCLI(t, "env", "exec", id, "--", "python3", "-c", `
import subprocess
subprocess.Popen(["python3", "-m", "http.server", "8000"], start_new_session=True, cwd="/etc",
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
`)
	cmd := p.command("env", "port-forward", id, "8000", "--address", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("port-forward printed nothing: %v; stderr %s", err, stderr.String())
	}
	addr := strings.TrimPrefix(strings.Fields(line)[1], "http://")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/hostname")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && len(body) > 0 {
				break
			}
			err = fmt.Errorf("%s: %q", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET through port-forward: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // the server in the environment is starting
	}
	if _, errOut, code := p.cliErr(t, "", "env", "port-forward", id, "http"); code != 1 || !strings.Contains(errOut, "not a TCP port") {
		t.Errorf("port-forward to a bad port: exit %d, %q", code, errOut)
	}
}
