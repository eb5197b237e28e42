package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

var guestBinary string

func TestMain(m *testing.M) { os.Exit(sandboxtest.MainWithGuest(m, &guestBinary)) }

const testShift = 100000

// newRuntime returns a Runtime on a fresh state dir, closed at the end.
func newRuntime(t testing.TB, binaries ...string) *Runtime {
	t.Helper()
	sandboxtest.RequireRoot(t, append([]string{"mkfs.ext4"}, binaries...)...)
	rt, err := New(Config{StateDir: stateDir(t), GuestBinary: guestBinary, UIDShift: testShift})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// stateDir returns a state dir the user namespaces can traverse (t.TempDir
// is 0700), removed at the end of the test.
func stateDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "paddock-state-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Never RemoveAll through a live mount.
		if err := unmountAll(dir); err != nil {
			t.Errorf("unmount leftovers: %v", err)
			return
		}
		detachLoops(dir)
		os.RemoveAll(dir)
	})
	return dir
}

// testSpec returns a spec for class with generous limits.
func testSpec(t testing.TB, id, class string) *sandbox.Spec {
	img := sandboxtest.PythonImage(t, testShift)
	return &sandbox.Spec{
		ID: id,
		Env: &paddock.Environment{
			ID: id, Name: "test " + id, Image: img.Name,
			Env: map[string]string{"MY_VAR": "my-value"},
		},
		Image:        img,
		RuntimeClass: class,
		CPUMillis:    1000,
		MemoryBytes:  256 << 20,
		StorageBytes: 256 << 20,
		PidsLimit:    256,
	}
}

// create starts spec on rt and stops it at the end of the test.
func create(t testing.TB, rt *Runtime, spec *sandbox.Spec) {
	t.Helper()
	start := time.Now()
	if err := rt.Create(context.Background(), spec); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("created %s (%s) in %v", spec.ID, spec.RuntimeClass, time.Since(start))
	t.Cleanup(func() {
		if err := rt.Stop(context.Background(), spec.ID, 0); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func run(t testing.TB, rt *Runtime, id string, req *paddock.ExecRequest) *paddock.ExecResult {
	t.Helper()
	res, err := rt.Exec(context.Background(), id, req)
	if err != nil {
		t.Fatalf("exec %q: %v", req.Command, err)
	}
	return res
}

func sh(t testing.TB, rt *Runtime, id, script string) *paddock.ExecResult {
	t.Helper()
	return run(t, rt, id, &paddock.ExecRequest{Command: []string{"sh", "-c", script}})
}

// assertGone checks nothing of id is left on the host.
func assertGone(t *testing.T, rt *Runtime, id string) {
	t.Helper()
	dir := rt.envDir(id)
	if mps, _ := mountsUnder(rt.stateDir()); len(mps) > 0 {
		for _, mp := range mps {
			if within(mp, dir) {
				t.Errorf("still mounted: %s", mp)
			}
		}
	}
	if loops := loopsUnder(dir); len(loops) > 0 {
		t.Errorf("loop devices left: %v", loops)
	}
	if d := cgroupDirs(rt.cgroupPath(id)); len(d) > 0 {
		t.Errorf("cgroups left: %v", d)
	}
	for _, class := range []string{sandbox.ClassRunc, sandbox.ClassGVisor} {
		ids, err := rt.containers(context.Background(), class)
		if err != nil {
			t.Errorf("list %s: %v", class, err)
		}
		for _, c := range ids {
			if c == id {
				t.Errorf("%s still lists %s", class, id)
			}
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/paddock", id)); len(matches) > 0 {
		t.Errorf("cgroups left: %v", matches)
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
