package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// counterScript counts in memory only. Every 100 ms it writes the count to
// /count, a file on the writable layer the host reads while the
// environment is paused; on SIGUSR1 it writes its pid, count and a secret
// drawn at start (so only in its memory) to /tmp/counter.
const counterScript = `
import os, signal, time
n = 0
secret = os.urandom(8).hex()
def dump(*_):
    with open('/tmp/counter.tmp', 'w') as f:
        f.write('%d %d %s' % (os.getpid(), n, secret))
    os.rename('/tmp/counter.tmp', '/tmp/counter')
signal.signal(signal.SIGUSR1, dump)
with open('/counter.pid', 'w') as f:
    f.write(str(os.getpid()))
last = 0
while True:
    n += 1
    if time.monotonic() - last >= 0.1:
        last = time.monotonic()
        with open('/count.tmp', 'w') as f:
            f.write(str(n))
        os.rename('/count.tmp', '/count')
    time.sleep(0.01)
`

// count reads the counter's last write to /count from the host side of
// the writable layer, which works while the environment is paused.
func count(t *testing.T, rt *Runtime, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rt.envDir(id), "disk", "upper", "count"))
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(string(b))
	return n
}

// counterState asks the counter for its pid, count and secret.
// resumeCounting resumes id and waits for its counter to move past from.
func resumeCounting(t *testing.T, rt *Runtime, id string, from int) {
	t.Helper()
	if err := rt.Resume(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return count(t, rt, id) > from })
}

func counterState(t *testing.T, rt *Runtime, id string) (pid, n int, secret string) {
	t.Helper()
	sh(t, rt, id, "rm -f /tmp/counter")
	sh(t, rt, id, "kill -USR1 $(cat /counter.pid)")
	var out string
	waitFor(t, func() bool {
		out = strings.TrimSpace(sh(t, rt, id, "cat /tmp/counter 2>/dev/null").Stdout)
		return out != ""
	})
	if _, err := fmt.Sscanf(out, "%d %d %s", &pid, &n, &secret); err != nil {
		t.Fatalf("counter state %q: %v", out, err)
	}
	return pid, n, secret
}

// assertStill checks the counter does not move for d while paused.
func assertStill(t *testing.T, rt *Runtime, id string, d time.Duration) int {
	t.Helper()
	n := count(t, rt, id)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		if c := count(t, rt, id); c != n {
			t.Fatalf("paused, but the counter moved from %d to %d", n, c)
		}
	}
	return n
}

// p50 pauses and resumes id n times and returns the median resume time.
func resumeP50(t *testing.T, rt *Runtime, id string, n int) time.Duration {
	t.Helper()
	ctx := context.Background()
	var d []time.Duration
	for range n {
		if err := rt.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := rt.Resume(ctx, id); err != nil {
			t.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// uniqueID makes an id no concurrent test process uses: runsc names its
// control socket after the id, host-wide.
func uniqueID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, os.Getpid()) }

func (r *Runtime) envState(id string) *envState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.envs[id]
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	if paddock.ErrorCode(err) != code || !strings.Contains(paddock.ErrorMessage(err), msg) {
		t.Fatalf("got %v, want %s %q", err, code, msg)
	}
}

// testFreeze freezes a counting environment and checks nothing moves,
// nothing answers, and it goes on from where it stood.
func testFreeze(t *testing.T, rt *Runtime, id string) {
	ctx := context.Background()
	pid, _, secret := counterState(t, rt, id)
	start := time.Now()
	if err := rt.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
		t.Fatal(err)
	}
	t.Logf("freeze took %v", time.Since(start))
	wantCode(t, rt.Pause(ctx, id, sandbox.PauseFreeze), paddock.EConflict, "already paused")
	_, err := rt.Exec(ctx, id, &paddock.ExecRequest{Command: []string{"true"}})
	wantCode(t, err, paddock.EConflict, "is paused")
	if alive, why, err := rt.Alive(ctx, id); !alive || why != "paused" || err != nil {
		t.Fatalf("alive while frozen: %v %q %v", alive, why, err)
	}
	frozen := assertStill(t, rt, id, time.Second)
	start = time.Now()
	if err := rt.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Logf("resume took %v", time.Since(start))
	wantCode(t, rt.Resume(ctx, id), paddock.EConflict, "not paused")
	waitFor(t, func() bool { return count(t, rt, id) > frozen })
	pid2, n2, secret2 := counterState(t, rt, id)
	if pid2 != pid || secret2 != secret || n2 < frozen {
		t.Fatalf("after resume: pid %d count %d secret %s; before: pid %d count %d secret %s", pid2, n2, secret2, pid, frozen, secret)
	}
	p50 := resumeP50(t, rt, id, 10)
	// runsc resume is the runsc binary: compare with what merely starting
	// it costs on this host right now.
	start = time.Now()
	rt.output(ctx, sandbox.ClassGVisor, "--version")
	t.Logf("%s freeze: resume p50 over 10 cycles %v (runsc --version takes %v here)", rt.envState(id).rec.Class, p50, time.Since(start))
}

func TestPauseRunc(t *testing.T) {
	rt := newRuntime(t, "runc")
	spec := testSpec(t, uniqueID("env-pause-runc"), sandbox.ClassRunc)
	spec.Env.Command = []string{"python3", "-c", counterScript}
	create(t, rt, spec)
	id := spec.ID
	ctx := context.Background()
	waitFor(t, func() bool { return count(t, rt, id) > 0 })

	wantCode(t, rt.Pause(ctx, id, sandbox.PauseHibernate), paddock.EInvalid, "hibernate needs runtime_class gvisor")
	wantCode(t, rt.Pause(ctx, id, "nap"), paddock.EInvalid, "not valid")
	wantCode(t, rt.Pause(ctx, "env-nope", sandbox.PauseFreeze), paddock.ENotFound, "")
	testFreeze(t, rt, id)

	// Pause asks the guest first; one that does not answer, because
	// somebody ran `runc pause` behind Paddock's back, is asked about
	// from runc, and the pause it finds is recorded.
	t.Run("frozen outside", func(t *testing.T) {
		if _, err := rt.output(ctx, sandbox.ClassRunc, "pause", id); err != nil {
			t.Fatal(err)
		}
		wantCode(t, rt.Pause(ctx, id, sandbox.PauseFreeze), paddock.EConflict, "already paused")
		if alive, why, err := rt.Alive(ctx, id); !alive || why != "paused" || err != nil {
			t.Fatalf("alive: %v %q %v", alive, why, err)
		}
		frozen := count(t, rt, id)
		resumeCounting(t, rt, id, frozen)
	})

	t.Run("restart while frozen", func(t *testing.T) {
		if err := rt.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		rt.Close()
		rt2, err := New(rt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer rt2.Close()
		if alive, why, err := rt2.Alive(ctx, id); !alive || why != "paused" || err != nil {
			t.Fatalf("alive after restart: %v %q %v", alive, why, err)
		}
		frozen := count(t, rt2, id)
		resumeCounting(t, rt2, id, frozen)
		// A frozen environment stops: SIGTERM cannot reach frozen processes,
		// so Stop thaws first.
		if err := rt2.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		if err := rt2.Stop(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		assertGone(t, rt2, id)
	})
}

// runscProcs returns the pids and the summed resident memory of the runsc
// processes (sandbox, gofer) of environment id.
func runscProcs(t *testing.T, rt *Runtime, id string) (pids []int, rssKiB int64) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.Contains(args[0], "runsc") || !slices.Contains(args, id) && !strings.Contains(string(cmdline), rt.envDir(id)) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				rssKiB += n
			}
		}
		pids = append(pids, pid)
	}
	return pids, rssKiB
}

func TestPauseGVisor(t *testing.T) {
	rt := newRuntime(t, "runsc")
	spec := testSpec(t, uniqueID("env-pause-gvisor"), sandbox.ClassGVisor)
	spec.Env.Command = []string{"python3", "-c", counterScript}
	create(t, rt, spec)
	id := spec.ID
	ctx := context.Background()
	waitFor(t, func() bool { return count(t, rt, id) > 0 })
	testFreeze(t, rt, id)

	t.Run("a pause recorded but not made", func(t *testing.T) {
		// Paddock died between recording a pause and making it: the kernel
		// runs, and a resume it was not paused for would end the sandbox.
		es := rt.envState(id)
		if err := es.setRecord(func(rec *record) { rec.Paused, rec.PausedDirect = sandbox.PauseFreeze, true }); err != nil {
			t.Fatal(err)
		}
		n := count(t, rt, id)
		resumeCounting(t, rt, id, n)
		if alive, why, err := rt.Alive(ctx, id); !alive || why != "" || err != nil {
			t.Fatalf("alive: %v %q %v", alive, why, err)
		}
	})
	t.Run("without the control socket", func(t *testing.T) {
		// Another runsc, whose sandbox does not serve the call: runsc pause
		// and runsc resume.
		restore := runscControlAddr
		runscControlAddr = func(string) string { return "@paddock-test-nothing-here" }
		defer func() { runscControlAddr = restore }()
		if err := rt.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		st, err := rt.state(ctx, sandbox.ClassGVisor, id)
		if err != nil || st.Status != "paused" || rt.envState(id).record().PausedDirect {
			t.Fatalf("runsc state %+v %v, record %+v", st, err, rt.envState(id).record())
		}
		frozen := assertStill(t, rt, id, 500*time.Millisecond)
		resumeCounting(t, rt, id, frozen)
	})
	top := t
	t.Run("restart while frozen", func(t *testing.T) {
		// The kernel was paused over the control socket by a Runtime that
		// is gone: the new one finds no guest, so the pause was made.
		restore := pausedCheck
		pausedCheck = time.Second
		defer func() { pausedCheck = restore }()
		if err := rt.Pause(ctx, id, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		if !rt.envState(id).record().PausedDirect {
			t.Fatal("not paused over the control socket")
		}
		rt.Close()
		rt2, err := New(rt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		top.Cleanup(func() { rt2.Close() })
		rt = rt2 // for what follows
		if alive, why, err := rt.Alive(ctx, id); !alive || why != "paused" || err != nil {
			t.Fatalf("alive after restart: %v %q %v", alive, why, err)
		}
		frozen := assertStill(t, rt, id, 500*time.Millisecond)
		resumeCounting(t, rt, id, frozen)
	})

	t.Run("hibernate", func(t *testing.T) {
		sh(t, rt, id, "echo kept > /data.txt")
		// Memory only a restore can bring back: 64 MiB of random bytes
		// held by a process, checked by hash.
		// setsid: an exec's process group ends with its session, which
		// hibernate closes; a background process stays.
		go rt.Exec(ctx, id, &paddock.ExecRequest{Command: []string{"setsid", "python3", "-c", `
import hashlib, os, signal, time
b = os.urandom(64 << 20)
open('/tmp/hash', 'w').write(hashlib.sha256(b).hexdigest())
signal.signal(signal.SIGUSR2, lambda *_: open('/tmp/hash2', 'w').write(hashlib.sha256(b).hexdigest()))
with open('/blob.pid', 'w') as f:
    f.write(str(os.getpid()))
while True:
    time.sleep(1)
`}})
		waitFor(t, func() bool { return sh(t, rt, id, "cat /tmp/hash /blob.pid").ExitCode == 0 })
		hash := sh(t, rt, id, "cat /tmp/hash").Stdout
		pid, n, secret := counterState(t, rt, id)
		pids, rss := runscProcs(t, rt, id)
		t.Logf("before hibernate: runsc processes %v, RSS %d MiB", pids, rss>>10)
		if len(pids) == 0 {
			t.Fatal("found no runsc processes")
		}

		start := time.Now()
		if err := rt.Pause(ctx, id, sandbox.PauseHibernate); err != nil {
			t.Fatal(err)
		}
		t.Logf("hibernate took %v", time.Since(start))
		if pids, rss := runscProcs(t, rt, id); len(pids) > 0 {
			t.Fatalf("hibernated, but runsc processes %v (RSS %d KiB) remain", pids, rss)
		}
		var size int64
		filepath.WalkDir(rt.checkpointDir(id), func(p string, d os.DirEntry, err error) error {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				size += fi.Size()
			}
			return nil
		})
		t.Logf("after hibernate: no runsc processes; checkpoint image %d MiB on disk", size>>20)
		if size == 0 {
			t.Fatal("no checkpoint image")
		}
		_, err := rt.Exec(ctx, id, &paddock.ExecRequest{Command: []string{"true"}})
		wantCode(t, err, paddock.EConflict, "is paused")
		wantCode(t, rt.Pause(ctx, id, sandbox.PauseFreeze), paddock.EConflict, "already paused")

		// A new Runtime (Paddock restarted) knows it is hibernated.
		rt.Close()
		rt2, err := New(rt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer rt2.Close()
		if alive, why, err := rt2.Alive(ctx, id); !alive || why != "paused" || err != nil {
			t.Fatalf("alive while hibernated: %v %q %v", alive, why, err)
		}
		if ids, err := rt2.List(ctx); err != nil || !slices.Contains(ids, id) {
			t.Fatalf("list while hibernated: %v %v", ids, err)
		}

		start = time.Now()
		if err := rt2.Resume(ctx, id); err != nil {
			t.Fatal(err)
		}
		t.Logf("restore took %v (until the guest answers)", time.Since(start))
		if _, err := os.Stat(rt2.checkpointDir(id)); !os.IsNotExist(err) {
			t.Errorf("checkpoint image left after restore: %v", err)
		}
		pid2, n2, secret2 := counterState(t, rt2, id)
		if pid2 != pid || secret2 != secret || n2 < n {
			t.Fatalf("after restore: pid %d count %d secret %s; before: pid %d count %d secret %s", pid2, n2, secret2, pid, n, secret)
		}
		waitFor(t, func() bool { _, n3, _ := counterState(t, rt2, id); return n3 > n2 })
		res := sh(t, rt2, id, "cat /data.txt; kill -USR2 $(cat /blob.pid)")
		if res.Stdout != "kept\n" {
			t.Fatalf("file after restore: %+v", res)
		}
		waitFor(t, func() bool { return sh(t, rt2, id, "cat /tmp/hash2").Stdout == hash })
		_, rss2 := runscProcs(t, rt2, id)
		t.Logf("after restore: pid %d count %d (was %d), 64 MiB blob hash intact, runsc RSS %d MiB", pid2, n2, n, rss2>>10)

		// Stop of a hibernated environment removes the image and mounts.
		if err := rt2.Pause(ctx, id, sandbox.PauseHibernate); err != nil {
			t.Fatal(err)
		}
		if err := rt2.Stop(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		assertGone(t, rt2, id)
	})
	t.Run("stop while frozen", func(t *testing.T) {
		rt := newRuntime(t, "runsc")
		spec := testSpec(t, uniqueID("env-stop-frozen"), sandbox.ClassGVisor)
		create(t, rt, spec)
		if err := rt.Pause(ctx, spec.ID, sandbox.PauseFreeze); err != nil {
			t.Fatal(err)
		}
		if err := rt.Stop(ctx, spec.ID, time.Second); err != nil {
			t.Fatal(err)
		}
		assertGone(t, rt, spec.ID)
	})
}

// BenchmarkResume measures resuming a frozen runc environment, until its
// guest answers.
func BenchmarkResume(b *testing.B) {
	rt := newRuntime(b, "runc")
	spec := testSpec(b, uniqueID("env-bench-resume"), sandbox.ClassRunc)
	create(b, rt, spec)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		if err := rt.Pause(ctx, spec.ID, sandbox.PauseFreeze); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := rt.Resume(ctx, spec.ID); err != nil {
			b.Fatal(err)
		}
	}
}
