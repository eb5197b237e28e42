package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

// countProcs is a shell snippet printing the command lines of every
// process, one a line (the image has no ps).
const listProcs = `for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline 2>/dev/null; echo; done`

// testBasics runs the exec contract against a running environment; it is
// shared by the runc and gVisor tests.
// sockModes prints the mode and owner of each file it is given, like
// stat -c '%a %u' (whose statx gVisor refuses on a host socket).
const sockModes = `python3 -c "import os, sys; [print(oct(os.stat(p).st_mode & 0o777)[2:], os.stat(p).st_uid) for p in sys.argv[1:]]"`

func testBasics(t *testing.T, rt *Runtime, id string) {
	t.Run("python", func(t *testing.T) {
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"python3", "-c", "print(1+1)"}})
		if res.Stdout != "2\n" || res.ExitCode != 0 || res.Duration <= 0 {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("env", func(t *testing.T) {
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"sh", "-c", "echo $MY_VAR $REQ_VAR $LANG"}, Env: map[string]string{"REQ_VAR": "req"}})
		if res.Stdout != "my-value req C.UTF-8\n" {
			t.Fatalf("got %q", res.Stdout)
		}
	})
	t.Run("dir", func(t *testing.T) {
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"pwd"}, Dir: "/tmp"})
		if res.Stdout != "/tmp\n" {
			t.Fatalf("got %q", res.Stdout)
		}
		res = run(t, rt, id, &paddock.ExecRequest{Command: []string{"pwd"}, Dir: "/nonexistent"})
		if res.ExitCode != 126 {
			t.Fatalf("bad dir: got %+v", res)
		}
	})
	t.Run("control sockets are the guest's", func(t *testing.T) {
		// Another user in the environment cannot pose as the guest.
		res := sh(t, rt, id, sockModes+" /.paddock/run/ctl.sock /.paddock/run/lane.sock; "+
			"for s in ctl lane; do setpriv --reuid=65534 --regid=65534 --clear-groups python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('/.paddock/run/$s.sock')\" 2>&1 | tail -1; done")
		l := lines(res.Stdout)
		if len(l) != 4 || l[0] != "600 0" || l[1] != "600 0" || !strings.Contains(l[2], "PermissionError") || !strings.Contains(l[3], "PermissionError") {
			t.Fatalf("got %q", res.Stdout)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"python3", "-c", "import sys; print(sys.stdin.read().upper())"}, Stdin: strings.NewReader("hello")})
		if res.Stdout != "HELLO\n" {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		for _, code := range []int{0, 1, 42} {
			res := sh(t, rt, id, fmt.Sprintf("echo out; echo err >&2; exit %d", code))
			if res.ExitCode != code || res.Stdout != "out\n" || res.Stderr != "err\n" {
				t.Fatalf("exit %d: got %+v", code, res)
			}
		}
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"no-such-command"}})
		if res.ExitCode != 127 || !strings.Contains(res.Stderr, "not found") {
			t.Fatalf("missing command: got %+v", res)
		}
	})
	t.Run("timeout kills the group", func(t *testing.T) {
		start := time.Now()
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"sh", "-c", "sleep 100 & sleep 100"}, Timeout: 500 * time.Millisecond})
		if !res.TimedOut || res.ExitCode != 137 || time.Since(start) > 10*time.Second {
			t.Fatalf("got %+v after %v", res, time.Since(start))
		}
		res = sh(t, rt, id, listProcs)
		if strings.Contains(res.Stdout, "sleep 100") {
			t.Fatalf("sleep survived the timeout:\n%s", res.Stdout)
		}
	})
	t.Run("truncation", func(t *testing.T) {
		var streamed strings.Builder
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a"}, MaxOutput: 1000, Stdout: &streamed})
		if !res.Truncated || len(res.Stdout) != 1000 || streamed.Len() != 100000 || res.ExitCode != 0 {
			t.Fatalf("got truncated=%v len=%d streamed=%d exit=%d", res.Truncated, len(res.Stdout), streamed.Len(), res.ExitCode)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := rt.Exec(context.Background(), id, &paddock.ExecRequest{Command: []string{"sh", "-c", fmt.Sprintf("sleep 0.2; echo %d", i)}})
				if err != nil {
					errs <- err
					return
				}
				if res.Stdout != fmt.Sprintf("%d\n", i) {
					errs <- fmt.Errorf("exec %d: got %q", i, res.Stdout)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := rt.Exec(ctx, id, &paddock.ExecRequest{Command: []string{"sleep", "77"}})
		if err == nil {
			t.Fatal("exec outlived its context")
		}
		waitFor(t, func() bool { return !strings.Contains(sh(t, rt, id, listProcs).Stdout, "sleep 77") })
	})
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testRestartAndStop closes rt, checks a new Runtime on the same state
// reaches the environment, then stops it and checks nothing is left.
func testRestartAndStop(t *testing.T, rt *Runtime, id string) {
	// A background process lives in the guest, through the restart.
	ctx := context.Background()
	if _, err := rt.StartProcess(ctx, id, "proc-survivor", &paddock.ExecRequest{Command: []string{"sh", "-c", "echo up; sleep 300"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		out, err := rt.ProcessOutput(ctx, id, "proc-survivor", 0, false)
		return err == nil && out.Next > 0
	})
	// The old runtime is closed here; create's cleanup then stops through
	// a closed Runtime, which must still work from the state on disk.
	rt.Close()
	rt2, err := New(rt.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	res := run(t, rt2, id, &paddock.ExecRequest{Command: []string{"python3", "-c", "print('again')"}})
	if res.Stdout != "again\n" {
		t.Fatalf("after restart: got %+v", res)
	}
	if alive, why, err := rt2.Alive(context.Background(), id); !alive || err != nil {
		t.Fatalf("alive: %v %q %v", alive, why, err)
	}
	out, err := rt2.ProcessOutput(ctx, id, "proc-survivor", 0, false)
	if err != nil || len(out.Chunks) != 1 || out.Chunks[0].Data != "up\n" || out.Process.Status != "running" {
		t.Fatalf("the background process after restart: %+v %v", out, err)
	}
	if _, err := rt2.KillProcess(ctx, id, "proc-survivor"); err != nil {
		t.Fatal(err)
	}
	out, err = rt2.ProcessOutput(ctx, id, "proc-survivor", out.Next, true)
	if err != nil || out.Process.Status != "killed" {
		t.Fatalf("killed after restart: %+v %v", out.Process, err)
	}
	if err := rt2.Stop(context.Background(), id, time.Second); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt2, id)
	if err := rt2.Stop(context.Background(), id, 0); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	ids, err := rt2.List(context.Background())
	if err != nil || slices.Contains(ids, id) {
		t.Fatalf("list after stop: %v %v", ids, err)
	}
}

func TestRunc(t *testing.T) {
	rt := newRuntime(t, "runc")
	spec := testSpec(t, "env-runc", sandbox.ClassRunc)
	spec.MemoryBytes = 128 << 20
	spec.StorageBytes = 64 << 20
	spec.PidsLimit = 128
	spec.LogPath = filepath.Join(stateDir(t), "env-runc.jsonl")
	spec.Env.Command = []string{"sh", "-c", "echo hello from the command; echo oops >&2"}
	create(t, rt, spec)
	id := spec.ID
	testBasics(t, rt, id)

	t.Run("logs", func(t *testing.T) {
		waitFor(t, func() bool {
			entries, _ := sandbox.ReadLog(spec.LogPath, 0)
			var got []string
			for _, e := range entries {
				got = append(got, e.Stream+":"+e.Message)
			}
			s := strings.Join(got, "\n")
			return strings.Contains(s, "stdout:hello from the command") && strings.Contains(s, "stderr:oops") && strings.Contains(s, "system:command exited with code 0")
		})
	})
	t.Run("user namespace", func(t *testing.T) {
		res := sh(t, rt, id, "id -u; cat /proc/self/uid_map")
		f := strings.Fields(res.Stdout)
		if len(f) != 4 || f[0] != "0" || f[1] != "0" || f[2] != "100000" || f[3] != "65536" {
			t.Fatalf("got %q", res.Stdout)
		}
	})
	t.Run("pid namespace", func(t *testing.T) {
		res := sh(t, rt, id, "ls -d /proc/[0-9]* | wc -l; tr '\\0' ' ' < /proc/1/cmdline")
		l := lines(res.Stdout)
		var n int
		fmt.Sscan(l[0], &n)
		if n > 6 || !strings.HasPrefix(l[1], "/.paddock/guest") {
			t.Fatalf("got %q", res.Stdout)
		}
	})
	t.Run("no mount", func(t *testing.T) {
		if res := sh(t, rt, id, "mount -t tmpfs x /mnt"); res.ExitCode == 0 {
			t.Fatalf("mount succeeded: %+v", res)
		}
	})
	t.Run("proc sys read-only", func(t *testing.T) {
		if res := sh(t, rt, id, "echo evil > /proc/sys/kernel/hostname"); res.ExitCode == 0 {
			t.Fatalf("write succeeded: %+v", res)
		}
		if res := sh(t, rt, id, "hostname"); res.Stdout != "test-env-runc\n" {
			t.Fatalf("hostname %q", res.Stdout)
		}
	})
	t.Run("rootfs", func(t *testing.T) {
		res := sh(t, rt, id, "ls /; ls /work 2>&1; cat /etc/os-release | head -1")
		if !strings.Contains(res.Stdout, "usr") || strings.Contains(res.Stdout, "go.mod") || !strings.Contains(res.Stdout, "bookworm") {
			t.Fatalf("got %q", res.Stdout)
		}
	})
	t.Run("pids limit", func(t *testing.T) {
		start := time.Now()
		res := run(t, rt, id, &paddock.ExecRequest{
			Command: []string{"python3", "-c", `
import os, signal, sys, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork failed after", n, e)
    sys.stdout.flush()
    os.killpg(0, signal.SIGKILL)  # clean up the children with us
`},
			Timeout: 20 * time.Second,
		})
		if !strings.Contains(res.Stdout, "fork failed after") || time.Since(start) > 15*time.Second {
			t.Fatalf("got %+v", res)
		}
		if n, err := readKey(cgroupFile(rt.cgroupPath(id), "pids", "pids.events"), "max"); cgroupV2() == false && (err != nil || n == 0) {
			t.Errorf("pids.events max = %d, %v", n, err)
		}
		// The children were in the exec's group and died with it.
		waitFor(t, func() bool {
			res, err := rt.Exec(context.Background(), id, &paddock.ExecRequest{Command: []string{"sh", "-c", "ls -d /proc/[0-9]* | wc -l"}})
			return err == nil && res.ExitCode == 0 && strings.TrimSpace(res.Stdout) < "9"
		})
	})
	t.Run("oom", func(t *testing.T) {
		res := run(t, rt, id, &paddock.ExecRequest{Command: []string{"python3", "-c", "b = bytearray(1 << 30); print(len(b))"}})
		if !res.OOMKilled || res.ExitCode != 137 {
			t.Fatalf("got %+v", res)
		}
		st, err := rt.Stats(context.Background(), id)
		if err != nil || st.OOMKills < 1 {
			t.Fatalf("stats %+v %v", st, err)
		}
	})
	t.Run("background oom", func(t *testing.T) {
		// A background process the memory limit kills is reported so; one
		// killed by a SIGKILL from inside afterwards is not.
		ctx := context.Background()
		if _, err := rt.StartProcess(ctx, id, "proc-hog", &paddock.ExecRequest{Command: []string{"python3", "-c", "b = bytearray(1 << 30)"}}); err != nil {
			t.Fatal(err)
		}
		var hog paddock.Process
		waitFor(t, func() bool {
			hog, _ = rt.Process(ctx, id, "proc-hog")
			return hog.Status != "running"
		})
		if !hog.OOMKilled || hog.ExitCode == nil || *hog.ExitCode != 137 {
			t.Errorf("memory hog: %+v", hog)
		}
		if _, err := rt.StartProcess(ctx, id, "proc-sleep", &paddock.ExecRequest{Command: []string{"sleep", "300"}}); err != nil {
			t.Fatal(err)
		}
		sh(t, rt, id, `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = sleep ] && kill -9 ${p#/proc/}; done; true`)
		var victim paddock.Process
		waitFor(t, func() bool {
			victim, _ = rt.Process(ctx, id, "proc-sleep")
			return victim.Status != "running"
		})
		if victim.OOMKilled || victim.Status != "exited" || victim.ExitCode == nil || *victim.ExitCode != 137 {
			t.Errorf("killed from inside: %+v", victim)
		}
	})
	t.Run("storage limit", func(t *testing.T) {
		res := sh(t, rt, id, "dd if=/dev/zero of=/big bs=1M count=200")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "No space left on device") {
			t.Fatalf("got %+v", res)
		}
		sh(t, rt, id, "rm -f /big")
	})
	t.Run("stats", func(t *testing.T) {
		go rt.Exec(context.Background(), id, &paddock.ExecRequest{Command: []string{"python3", "-c", "import time\nt=time.time()\nwhile time.time()-t < 1: pass"}})
		st, err := rt.Stats(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats: %+v", st)
		if st.MemoryBytes <= 0 {
			t.Fatalf("got %+v", st)
		}
		waitFor(t, func() bool {
			st, err := rt.Stats(context.Background(), id)
			return err == nil && st.CPUUsage > 100
		})
	})
	t.Run("restart and stop", func(t *testing.T) { testRestartAndStop(t, rt, id) })
}

func TestRuncReadOnlyUser(t *testing.T) {
	rt := newRuntime(t, "runc")
	spec := testSpec(t, "env-ro", sandbox.ClassRunc)
	uid := int64(1000)
	no := false
	spec.Env.Isolation.SecurityContext = &paddock.SecurityContext{RunAsUser: &uid, ReadOnlyRootFilesystem: true, AllowPrivilegeEscalation: &no}
	create(t, rt, spec)
	res := sh(t, rt, spec.ID, "id -u; id -g; touch /x 2>&1; touch /tmp/x && echo tmp-ok; grep NoNewPrivs /proc/self/status; "+sockModes+" /.paddock/run/ctl.sock")
	for _, want := range []string{"1000\n1000\n", "Read-only file system", "tmp-ok", "NoNewPrivs:\t1", "600 1000"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("missing %q in %q", want, res.Stdout)
		}
	}
}

func TestGVisor(t *testing.T) {
	rt := newRuntime(t, "runsc")
	spec := testSpec(t, "env-gvisor", sandbox.ClassGVisor)
	create(t, rt, spec)
	id := spec.ID
	t.Run("kernel", func(t *testing.T) {
		res := sh(t, rt, id, "uname -r")
		if res.Stdout != "4.4.0\n" {
			t.Fatalf("not gVisor: %q", res.Stdout)
		}
	})
	testBasics(t, rt, id)
	t.Run("restart and stop", func(t *testing.T) { testRestartAndStop(t, rt, id) })
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	rt := newRuntime(t, "runc")
	spec := testSpec(t, "env-bad", sandbox.ClassRunc)
	img := *spec.Image
	img.RootFS = "/nonexistent"
	spec.Image = &img
	if err := rt.Create(context.Background(), spec); err == nil {
		t.Fatal("create succeeded")
	}
	assertGone(t, rt, spec.ID)
	if _, err := rt.Exec(context.Background(), spec.ID, &paddock.ExecRequest{Command: []string{"true"}}); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Fatalf("exec on unknown: %v", err)
	}
}

var _ = os.Getpid

// runcWrapped returns a Runtime (no warm pool) whose runc is a shell script
// that runs prelude, then the real runc, whose path it also returns.
func runcWrapped(t *testing.T, prelude string) (*Runtime, string) {
	t.Helper()
	sandboxtest.RequireRoot(t, "runc", "mkfs.ext4")
	real, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "runc")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\n"+prelude+"exec "+real+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Config{StateDir: stateDir(t), GuestBinary: guestBinary, UIDShift: testShift, RuncPath: wrapper, WarmPool: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, real
}

// TestListDuringDelete: runc list fails as a whole when a container is
// deleted between its read of the state root and its stat of that
// container's state; List tries again rather than fail the reconcile.
func TestListDuringDelete(t *testing.T) {
	failed := filepath.Join(t.TempDir(), "failed")
	// The first list fails the way runc does when it loses that race.
	rt, _ := runcWrapped(t, "for a in \"$@\"; do\n  if [ \"$a\" = list ] && [ ! -e "+failed+" ]; then\n"+
		"    touch "+failed+"\n    echo 'level=error msg=\"stat /x/env-gone: no such file or directory\"' >&2\n    exit 1\n  fi\ndone\n")
	spec := testSpec(t, "env-listed", sandbox.ClassRunc)
	create(t, rt, spec)
	ids, err := rt.containers(context.Background(), sandbox.ClassRunc)
	if err != nil || !slices.Contains(ids, spec.ID) {
		t.Fatalf("containers: %v %v", ids, err)
	}
	if _, err := os.Stat(failed); err != nil {
		t.Fatal("the wrapper's list never failed: the test tests nothing")
	}
}

// TestAliveWithoutRuntimeCall: while the guest is connected, Alive answers
// without running runc (the reaper asks about every environment every
// tick); once the container is dead it asks runc, and says why.
func TestAliveWithoutRuntimeCall(t *testing.T) {
	calls := filepath.Join(t.TempDir(), "calls")
	rt, real := runcWrapped(t, "echo \"$@\" >> "+calls+"\n")
	spec := testSpec(t, "env-alive", sandbox.ClassRunc)
	create(t, rt, spec)
	count := func() int {
		b, _ := os.ReadFile(calls)
		return strings.Count(string(b), "\n")
	}
	before := count()
	for range 3 {
		if alive, why, err := rt.Alive(context.Background(), spec.ID); !alive || why != "" || err != nil {
			t.Fatalf("alive: %v %q %v", alive, why, err)
		}
	}
	if n := count() - before; n != 0 {
		t.Errorf("Alive of a connected environment ran runc %d times", n)
	}
	if out, err := exec.Command(real, "--root", filepath.Join(rt.cfg.StateDir, "runc"), "kill", spec.ID, "KILL").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v: %s", err, out)
	}
	waitFor(t, func() bool {
		alive, why, err := rt.Alive(context.Background(), spec.ID)
		return err == nil && !alive && why == "exited"
	})
	if count() == before {
		t.Error("Alive of a dead environment did not ask runc")
	}
}
