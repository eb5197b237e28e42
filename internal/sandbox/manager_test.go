package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/oci"
	"github.com/paddockhq/paddock/internal/sandbox/sandboxtest"
)

var guestBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paddock-sandbox-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 {
		if guestBinary, err = sandboxtest.BuildGuest(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestValidate(t *testing.T) {
	m := sandbox.NewManager(sandbox.Config{NodeLabels: map[string]string{"zone": "a"}}, sandboxtest.NewEnvironments(), sandboxtest.NewImages(), nil, nil)
	defer m.Close()
	zero, one := int64(0), int64(1000)
	for _, tt := range []struct {
		name string
		env  paddock.Environment
		want string // substring of the error; "" for none
	}{
		{"ok", paddock.Environment{Image: "python:3.11-slim", Resources: paddock.Resources{CPU: "500m", Memory: "512Mi", Storage: "1Gi"}}, ""},
		{"no image", paddock.Environment{}, "image is required"},
		{"kata", paddock.Environment{Image: "x", Isolation: paddock.Isolation{RuntimeClass: "kata"}}, `runtime_class "kata" is not supported; supported: runc, gvisor`},
		{"bad cpu", paddock.Environment{Image: "x", Resources: paddock.Resources{CPU: "lots"}}, "resources.cpu"},
		{"bad memory", paddock.Environment{Image: "x", Resources: paddock.Resources{Memory: "1MB"}}, "resources.memory"},
		{"tiny memory", paddock.Environment{Image: "x", Resources: paddock.Resources{Memory: "1Ki"}}, "at least 16Mi"},
		// Zero would mean no limit at all.
		{"zero cpu", paddock.Environment{Image: "x", Resources: paddock.Resources{CPU: "0"}}, `resources.cpu must be more than 0, not "0"`},
		{"zero memory", paddock.Environment{Image: "x", Resources: paddock.Resources{Memory: "0Mi"}}, `resources.memory must be more than 0, not "0Mi"`},
		{"zero storage", paddock.Environment{Image: "x", Resources: paddock.Resources{Storage: "0"}}, `resources.storage must be more than 0`},
		{"more CPUs than the node", paddock.Environment{Image: "x", Resources: paddock.Resources{CPU: "100000"}}, fmt.Sprintf(`resources.cpu "100000" is more than this node's %d CPUs`, runtime.NumCPU())},
		{"more memory than the node", paddock.Environment{Image: "x", Resources: paddock.Resources{Memory: "100Ti"}}, `resources.memory "100Ti" is more than this node's memory (`},
		{"negative timeout", paddock.Environment{Image: "x", Timeout: -1}, "timeout"},
		{"timeout over 30 days", paddock.Environment{Image: "x", Timeout: paddock.MaxTimeout + 1}, "timeout must be between 1 and 2592000 seconds"},
		{"timeout that would overflow", paddock.Environment{Image: "x", Timeout: 1<<63 - 1}, "timeout must be between 1 and 2592000 seconds"},
		{"bad env name", paddock.Environment{Image: "x", Env: map[string]string{"A=B": "x"}}, `invalid variable name "A=B"`},
		{"label key a selector cannot name", paddock.Environment{Image: "x", Labels: map[string]string{"a=b": "x"}}, `label key "a=b" is invalid`},
		{"empty label key", paddock.Environment{Image: "x", Labels: map[string]string{"": "x"}}, "empty key"},
		{"non-root as root", paddock.Environment{Image: "x", Isolation: paddock.Isolation{SecurityContext: &paddock.SecurityContext{RunAsNonRoot: true, RunAsUser: &zero}}}, "run_as_non_root"},
		{"non-root as 1000", paddock.Environment{Image: "x", Isolation: paddock.Isolation{SecurityContext: &paddock.SecurityContext{RunAsNonRoot: true, RunAsUser: &one}}}, ""},
		{"node selector is not an input error", paddock.Environment{Image: "x", NodeSelector: map[string]string{"zone": "b"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			err := m.Validate(&env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if env.Isolation.RuntimeClass != "runc" || env.Timeout != 3600 {
					t.Fatalf("defaults not filled: %q %d", env.Isolation.RuntimeClass, env.Timeout)
				}
				return
			}
			if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), tt.want) {
				t.Fatalf("got %v, want invalid %q", err, tt.want)
			}
		})
	}
}

// diskRuntime is a runtime with little disk free.
type diskRuntime struct{ sandbox.Runtime }

func (diskRuntime) DiskFree() (int64, error) { return 10 << 30, nil }

// TestValidateStorage: a writable layer larger than the free space of the
// runtime's disk could fill the host's disk: refused.
func TestValidateStorage(t *testing.T) {
	m := sandbox.NewManager(sandbox.Config{}, sandboxtest.NewEnvironments(), sandboxtest.NewImages(), diskRuntime{}, nil)
	defer m.Close()
	env := &paddock.Environment{Image: "x", Resources: paddock.Resources{Storage: "10Gi"}}
	if err := m.Validate(env); err != nil {
		t.Fatalf("10Gi of 10Gi free: %v", err)
	}
	env.Resources.Storage = "11Gi"
	if err := m.Validate(env); paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), `resources.storage "11Gi" is more than the free space of this node's disk (10.0 GiB)`) {
		t.Fatalf("11Gi: %v", err)
	}
}

// TestImageUsers checks what the image store is told is in use: the
// images of the environments not ended, as they name them.
func TestImageUsers(t *testing.T) {
	ctx := context.Background()
	envs := sandboxtest.NewEnvironments()
	m := sandbox.NewManager(sandbox.Config{}, envs, sandboxtest.NewImages(), nil, nil)
	defer m.Close()
	for _, e := range []*paddock.Environment{
		{ID: "env-running", Image: "python:3.11-slim", Status: paddock.EnvironmentRunning},
		{ID: "env-paused", Image: "docker.io/library/python:3.11-slim", Status: paddock.EnvironmentPaused},
		{ID: "env-pending", Image: "python:3.11-slim", Status: paddock.EnvironmentPending},
		{ID: "env-stopping", Image: "tools:1", Status: paddock.EnvironmentTerminating},
		{ID: "env-ended", Image: "python:3.11-slim", Status: paddock.EnvironmentTerminated},
		{ID: "env-failed", Image: "old:1", Status: paddock.EnvironmentFailed},
	} {
		if err := envs.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.ImageUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range got {
		slices.Sort(ids)
	}
	want := map[string][]string{
		"python:3.11-slim":                   {"env-pending", "env-running"},
		"docker.io/library/python:3.11-slim": {"env-paused"},
		"tools:1":                            {"env-stopping"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCreateUnschedulable(t *testing.T) {
	store := sandboxtest.NewEnvironments()
	m := sandbox.NewManager(sandbox.Config{NodeLabels: map[string]string{"zone": "a"}, LogDir: t.TempDir()}, store, sandboxtest.NewImages(), nil, nil)
	defer m.Close()
	env := &paddock.Environment{Image: "python:3.11-slim", NodeSelector: map[string]string{"zone": "b"}}
	if err := m.Create(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	got, err := store.Environment(context.Background(), env.ID)
	if err != nil || got.Status != paddock.EnvironmentFailed || !strings.Contains(got.Reason, "zone=b") || !strings.HasPrefix(got.ID, "env-") || len(got.ID) != 16 {
		t.Fatalf("got %+v %v", got, err)
	}
}

// fixture is a Manager on a real oci runtime.
type fixture struct {
	store  *sandboxtest.Environments
	images *sandboxtest.Images
	rtCfg  oci.Config
	rt     *oci.Runtime
	m      *sandbox.Manager
	cfg    sandbox.Config
	cancel context.CancelFunc
	done   chan struct{}
	// wrap, when set, is the runtime the Manager gets around rt.
	wrap func(sandbox.Runtime) sandbox.Runtime
}

func newFixture(t *testing.T, cfg sandbox.Config) *fixture {
	t.Helper()
	sandboxtest.RequireRoot(t, "runc", "mkfs.ext4")
	dir, err := os.MkdirTemp("", "paddock-manager-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	img := sandboxtest.PythonImage(t, 100000)
	f := &fixture{
		store:  sandboxtest.NewEnvironments(),
		images: sandboxtest.NewImages(img),
		rtCfg:  oci.Config{StateDir: filepath.Join(dir, "state"), GuestBinary: guestBinary},
	}
	cfg.LogDir = filepath.Join(dir, "logs")
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 100 * time.Millisecond
	}
	cfg.StopGrace = time.Second
	f.cfg = cfg
	f.start(t)
	t.Cleanup(func() {
		f.stopManager()
		// Leave nothing running, whatever the test did.
		rt, err := oci.New(f.rtCfg)
		if err == nil {
			ids, _ := rt.List(context.Background())
			for _, id := range ids {
				if err := rt.Stop(context.Background(), id, 0); err != nil {
					t.Errorf("cleanup %s: %v", id, err)
				}
			}
			rt.Close()
		}
		os.RemoveAll(dir)
	})
	return f
}

// start opens a runtime and a Manager on the fixture's state and runs it.
func (f *fixture) start(t *testing.T) {
	t.Helper()
	rt, err := oci.New(f.rtCfg)
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	var mrt sandbox.Runtime = rt
	if f.wrap != nil {
		mrt = f.wrap(rt)
	}
	f.m = sandbox.NewManager(f.cfg, f.store, f.images, mrt, nil)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() { defer close(f.done); f.m.Run(ctx) }()
}

// stopManager simulates Paddock going away: environments keep running.
func (f *fixture) stopManager() {
	if f.m == nil {
		return
	}
	f.cancel()
	<-f.done
	f.m.Close()
	f.rt.Close()
	f.m = nil
}

func (f *fixture) waitStatus(t *testing.T, id string, want paddock.EnvironmentStatus) *paddock.Environment {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		env, err := f.store.Environment(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if env.Status == want {
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("environment %s is %s (%s), want %s", id, env.Status, env.Reason, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) create(t *testing.T, env *paddock.Environment) *paddock.Environment {
	t.Helper()
	if env.Image == "" {
		env.Image = "python:3.11-slim"
	}
	if env.Resources.Memory == "" {
		env.Resources = paddock.Resources{CPU: "500m", Memory: "256Mi", Storage: "256Mi"}
	}
	if err := f.m.Create(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestManagerLifecycle(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	env := f.create(t, &paddock.Environment{Name: "life", Command: []string{"sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"}})
	if env.Status != paddock.EnvironmentPending || env.Namespace != "paddock-"+env.ID {
		t.Fatalf("created %+v", env)
	}
	got := f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	if got.StartedAt == nil || got.ExpiresAt == nil || got.ExpiresAt.Sub(*got.StartedAt) != time.Hour {
		t.Fatalf("times: %+v", got)
	}

	logs, err := f.m.FollowLogs(ctx, env.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.m.Exec(ctx, env.ID, &paddock.ExecRequest{Command: []string{"python3", "-c", "print(6*7)"}})
	if err != nil || res.Stdout != "42\n" {
		t.Fatalf("exec: %+v %v", res, err)
	}
	cpu, mem, err := f.m.Metrics(ctx, env.ID)
	if err != nil || !strings.HasSuffix(cpu, "m") && cpu != "1" || mem == "" {
		t.Fatalf("metrics %q %q %v", cpu, mem, err)
	}
	t.Logf("metrics: cpu=%s memory=%s", cpu, mem)

	var seen []string
	timeout := time.After(20 * time.Second)
	for !slices.Contains(seen, "line3") {
		select {
		case e, ok := <-logs:
			if !ok {
				t.Fatalf("log stream ended early: %q", seen)
			}
			seen = append(seen, e.Message)
		case <-timeout:
			t.Fatalf("no line3 in %q", seen)
		}
	}
	entries, err := f.m.Logs(ctx, env.ID, 2)
	if err != nil || len(entries) != 2 {
		t.Fatalf("logs tail: %+v %v", entries, err)
	}

	if err := f.m.Delete(ctx, env.ID, false); err != nil {
		t.Fatal(err)
	}
	got = f.waitStatus(t, env.ID, paddock.EnvironmentTerminated)
	if got.EndedAt == nil {
		t.Fatalf("no EndedAt: %+v", got)
	}
	// The follower ends with the environment.
	for range logs {
	}
	_, err = f.m.Exec(ctx, env.ID, &paddock.ExecRequest{Command: []string{"true"}})
	if paddock.ErrorCode(err) != paddock.EConflict || !strings.Contains(paddock.ErrorMessage(err), "terminated") {
		t.Fatalf("exec on terminated: %v", err)
	}
	if _, err := f.m.Exec(ctx, "env-nope", &paddock.ExecRequest{Command: []string{"true"}}); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Fatalf("exec on unknown: %v", err)
	}
	if ids, _ := f.rt.List(ctx); slices.Contains(ids, env.ID) {
		t.Fatalf("runtime still has %s", env.ID)
	}
}

func TestManagerPendingAndPullFailure(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	f.images.Delay = 500 * time.Millisecond
	env := f.create(t, &paddock.Environment{})
	_, err := f.m.Exec(ctx, env.ID, &paddock.ExecRequest{Command: []string{"true"}})
	if paddock.ErrorCode(err) != paddock.EConflict || paddock.ErrorMessage(err) != fmt.Sprintf("environment %s is pending", env.ID) {
		t.Fatalf("exec on pending: %v", err)
	}
	// Deleting while pending cancels the start.
	if err := f.m.Delete(ctx, env.ID, true); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, env.ID, paddock.EnvironmentTerminated)

	f.images.Delay = 0
	bad := f.create(t, &paddock.Environment{Image: "nope:latest"})
	got := f.waitStatus(t, bad.ID, paddock.EnvironmentFailed)
	if got.Reason != "pull nope:latest: image nope:latest not found" {
		t.Fatalf("reason %q", got.Reason)
	}
}

func TestManagerReaper(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	env := f.create(t, &paddock.Environment{Timeout: 1})
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	got := f.waitStatus(t, env.ID, paddock.EnvironmentTerminated)
	if !strings.Contains(got.Reason, "expired") {
		t.Fatalf("reason %q", got.Reason)
	}
}

func TestManagerHealth(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	env := f.create(t, &paddock.Environment{})
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	// Kill PID 1 behind the Manager's back.
	killContainer(t, f.rtCfg.StateDir, env.ID)
	got := f.waitStatus(t, env.ID, paddock.EnvironmentFailed)
	if !strings.HasPrefix(got.Reason, "exited") {
		t.Fatalf("reason %q", got.Reason)
	}
}

// addressRuntime is a runtime that gives each environment an address.
type addressRuntime struct{ sandbox.Runtime }

func (addressRuntime) Endpoint(ctx context.Context, id string) (string, error) {
	return "10.1.2.3", nil
}

// TestManagerEndpoint: a running environment's endpoint is the address
// the runtime gives it; one a Paddock that did not record it started gets
// it at the next start.
func TestManagerEndpoint(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	f.stopManager()
	f.wrap = func(rt sandbox.Runtime) sandbox.Runtime { return addressRuntime{rt} }
	f.start(t)
	env := f.create(t, &paddock.Environment{})
	if got := f.waitStatus(t, env.ID, paddock.EnvironmentRunning); got.Endpoint != "10.1.2.3" {
		t.Fatalf("endpoint %q", got.Endpoint)
	}
	f.stopManager()
	none := ""
	if _, err := f.store.UpdateEnvironment(context.Background(), env.ID, paddock.EnvironmentUpdate{Endpoint: &none}); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := f.store.Environment(context.Background(), env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Endpoint == "10.1.2.3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint after restart %q", got.Endpoint)
		}
	}
}

// deniedRuntime is a runtime whose DeniedCounts the test sets.
type deniedRuntime struct {
	sandbox.Runtime
	mu     sync.Mutex
	counts map[string]int64
}

func (d *deniedRuntime) set(counts map[string]int64) {
	d.mu.Lock()
	d.counts = counts
	d.mu.Unlock()
}

func (d *deniedRuntime) DeniedCounts(ctx context.Context) (map[string]int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts, nil
}

// TestManagerDeniedLog: a rise in an environment's count of refused
// network attempts becomes a system line in its log, once per rise, and
// only in its own log.
func TestManagerDeniedLog(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	f.stopManager()
	d := &deniedRuntime{}
	f.wrap = func(rt sandbox.Runtime) sandbox.Runtime { d.Runtime = rt; return d }
	f.start(t)
	a := f.create(t, &paddock.Environment{})
	b := f.create(t, &paddock.Environment{})
	f.waitStatus(t, a.ID, paddock.EnvironmentRunning)
	f.waitStatus(t, b.ID, paddock.EnvironmentRunning)
	systemLines := func(id string) []string {
		entries, err := f.m.Logs(context.Background(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if e.Stream == "system" && strings.Contains(e.Message, "network policy") {
				out = append(out, e.Message)
			}
		}
		return out
	}
	waitLines := func(id string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := systemLines(id); !slices.Equal(got, want); got = systemLines(id) {
			if time.Now().After(deadline) {
				t.Fatalf("log of %s: %q, want %q", id, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	d.set(map[string]int64{a.ID: 3, b.ID: 0})
	first := "network policy denied 3 connection or DNS attempts (3 in total)"
	waitLines(a.ID, first)
	d.set(map[string]int64{a.ID: 5, b.ID: 0})
	waitLines(a.ID, first, "network policy denied 2 connection or DNS attempts (5 in total)")
	time.Sleep(300 * time.Millisecond) // three more ticks: no rise, no line
	waitLines(a.ID, first, "network policy denied 2 connection or DNS attempts (5 in total)")
	waitLines(b.ID)
}

func killContainer(t *testing.T, stateDir, id string) {
	t.Helper()
	if out, err := exec.Command("runc", "--root", filepath.Join(stateDir, "runc"), "kill", id, "KILL").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v: %s", err, out)
	}
}

func TestManagerReconcile(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	keep := f.create(t, &paddock.Environment{Name: "keep"})
	dead := f.create(t, &paddock.Environment{Name: "dead"})
	f.waitStatus(t, keep.ID, paddock.EnvironmentRunning)
	f.waitStatus(t, dead.ID, paddock.EnvironmentRunning)

	// An orphan: runtime state no environment owns.
	img, _ := f.images.Ensure(ctx, "python:3.11-slim")
	orphan := &sandbox.Spec{ID: "env-orphan00000", Env: &paddock.Environment{ID: "env-orphan00000"}, Image: img, RuntimeClass: sandbox.ClassRunc, StorageBytes: 64 << 20}
	if err := f.rt.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}

	// "Crash": Paddock goes away, one container dies meanwhile.
	f.stopManager()
	killContainer(t, f.rtCfg.StateDir, dead.ID)
	f.start(t)

	got := f.waitStatus(t, dead.ID, paddock.EnvironmentFailed)
	if !strings.Contains(got.Reason, "while Paddock was down") {
		t.Fatalf("reason %q", got.Reason)
	}
	res, err := f.m.Exec(ctx, keep.ID, &paddock.ExecRequest{Command: []string{"echo", "still here"}})
	if err != nil || res.Stdout != "still here\n" {
		t.Fatalf("exec after restart: %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids, err := f.rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ids, orphan.ID) && !slices.Contains(ids, dead.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime still lists %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// claimRecorder is a runtime with a warm pool that records what it was
// asked for; nothing else of it is called.
type claimRecorder struct {
	sandbox.Runtime
	classes []string
}

func (c *claimRecorder) Claim(spec *sandbox.Spec) string {
	c.classes = append(c.classes, spec.RuntimeClass)
	return ""
}

// TestReserveDefaults checks that Reserve asks the pool for the shape
// Create will start (an agent session reserves its environment this way):
// an environment that names no runtime class gets the default one, as it
// does when created. It once asked for class "", which the pool could
// never start nor match.
func TestReserveDefaults(t *testing.T) {
	rt := &claimRecorder{}
	img := &paddock.Image{Name: "python:3.11-slim", RootFS: t.TempDir()}
	m := sandbox.NewManager(sandbox.Config{DefaultRuntimeClass: sandbox.ClassGVisor}, sandboxtest.NewEnvironments(), sandboxtest.NewImages(img), rt, nil)
	defer m.Close()
	if id := m.Reserve(context.Background(), &paddock.Environment{Image: img.Name}); id == "" {
		t.Fatal("no id")
	}
	if id := m.Reserve(context.Background(), &paddock.Environment{Image: img.Name, Resources: paddock.Resources{CPU: "lots"}}); id == "" {
		t.Fatal("no id for an environment Create will refuse")
	}
	if fmt.Sprint(rt.classes) != "[gvisor]" {
		t.Errorf("the pool was asked for classes %q, want [gvisor] (the default, and nothing for an invalid environment)", rt.classes)
	}
}
