package sandbox

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// ImageStore makes an image available on this node, pulling it if needed.
type ImageStore interface {
	// Ensure returns the image, pulling it if it is not here.
	Ensure(ctx context.Context, ref string) (*paddock.Image, error)
	// Image returns the image if it is here (ENotFound otherwise).
	Image(ctx context.Context, ref string) (*paddock.Image, error)
}

// Config configures the Manager.
type Config struct {
	DefaultRuntimeClass string            // ClassRunc (default) or ClassGVisor
	DefaultTimeout      time.Duration     // lifetime when an environment sets none; default 1h
	PidsLimit           int64             // per environment; default 1024
	MaxExecOutput       int               // bytes kept per stream; default 1 MiB
	NodeLabels          map[string]string // matched against node_selector
	StopGrace           time.Duration     // SIGTERM to SIGKILL on delete; default 10s
	LogDir              string            // environment logs, <LogDir>/<id>.jsonl
	ReapInterval        time.Duration     // reaper and health checks; default 5s
	// PauseStopsClock stops an environment's lifetime while it is paused:
	// what was left is kept and counts down again from resume. By default
	// the lifetime runs on while paused.
	PauseStopsClock bool
}

// supportedClasses are the runtime classes Validate accepts.
var supportedClasses = []string{ClassRunc, ClassGVisor}

// Manager owns the lifecycle of environments: it records every change in
// the EnvironmentService, runs environments on a Runtime, ends them when
// they expire or die, and after a restart reconciles the store with what
// the runtime still runs. Start and stop work runs in goroutines the
// Manager owns; Close waits for them.
type Manager struct {
	cfg    Config
	envs   paddock.EnvironmentService
	images ImageStore
	rt     Runtime
	log    *slog.Logger
	now    func() time.Time

	ctx    context.Context // cancelled by Close; parent of all background work
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	starting map[string]*startOp // environments being started
	stopping map[string]bool     // environments with a stop in flight
	locks    map[string]*envLock // see lockEnv
	denied   map[string]int64    // last denied count seen, see checkDenied

}

// startOp is one environment's start in progress.
type startOp struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a Manager. Call Run to reconcile and start the
// reaper, and Close to stop background work.
func NewManager(cfg Config, envs paddock.EnvironmentService, images ImageStore, rt Runtime, log *slog.Logger) *Manager {
	if cfg.DefaultRuntimeClass == "" {
		cfg.DefaultRuntimeClass = ClassRunc
	}
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = time.Hour
	}
	cfg.DefaultTimeout = min(cfg.DefaultTimeout, paddock.MaxTimeout*time.Second)
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = 1024
	}
	if cfg.MaxExecOutput == 0 {
		cfg.MaxExecOutput = 1 << 20
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 5 * time.Second
	}
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(os.TempDir(), "paddock-environment-logs")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg, envs: envs, images: images, rt: rt, log: log, now: time.Now,
		ctx: ctx, cancel: cancel,
		starting: map[string]*startOp{},
		stopping: map[string]bool{},
		denied:   map[string]int64{},
	}
}

// Close stops background work and waits for it. Environments keep
// running; the next Manager's Run picks them up.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

// Info reports the runtime's availability, for health checks.
func (m *Manager) Info(ctx context.Context) Info { return m.rt.Info(ctx) }

// Validate checks env's input and fills its defaults (runtime class,
// timeout). It reports only input errors, as EInvalid; a node selector
// this node does not satisfy is not one (Create records it as a failure).
func (m *Manager) Validate(env *paddock.Environment) error {
	if strings.TrimSpace(env.Image) == "" {
		return paddock.Errorf(paddock.EInvalid, "image is required")
	}
	if err := m.checkLimits(env); err != nil {
		return err
	}
	if env.Timeout < 0 || env.Timeout > paddock.MaxTimeout {
		return paddock.Errorf(paddock.EInvalid, "timeout must be between 1 and %d seconds (30 days), not %d", paddock.MaxTimeout, env.Timeout)
	}
	if env.Timeout == 0 {
		env.Timeout = int(m.cfg.DefaultTimeout / time.Second)
	}
	if env.Isolation.RuntimeClass == "" {
		env.Isolation.RuntimeClass = m.cfg.DefaultRuntimeClass
	}
	if !slices.Contains(supportedClasses, env.Isolation.RuntimeClass) {
		return paddock.Errorf(paddock.EInvalid, "runtime_class %q is not supported; supported: %s",
			env.Isolation.RuntimeClass, strings.Join(supportedClasses, ", "))
	}
	switch env.OnTimeout {
	case "":
		env.OnTimeout = paddock.OnTimeoutDelete
	case paddock.OnTimeoutDelete, paddock.OnTimeoutPause:
	case paddock.OnTimeoutHibernate:
		if env.Isolation.RuntimeClass != ClassGVisor {
			return paddock.Errorf(paddock.EInvalid, "on_timeout hibernate needs runtime_class gvisor")
		}
		if h, ok := m.rt.(Hibernator); ok {
			if err := h.Hibernation(); err != nil {
				return paddock.Errorf(paddock.EInvalid, "on_timeout: %s", paddock.ErrorMessage(err))
			}
		}
	default:
		return paddock.Errorf(paddock.EInvalid, "on_timeout %q is not valid; valid: delete, pause, hibernate", env.OnTimeout)
	}
	if sc := env.Isolation.SecurityContext; sc != nil {
		if sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			return paddock.Errorf(paddock.EInvalid, "security_context: run_as_non_root is set but run_as_user is 0 (root)")
		}
		for name, v := range map[string]*int64{"run_as_user": sc.RunAsUser, "run_as_group": sc.RunAsGroup} {
			if v != nil && (*v < 0 || *v > 65535) {
				return paddock.Errorf(paddock.EInvalid, "security_context: %s must be between 0 and 65535", name)
			}
		}
	}
	if len(env.Command) > 0 && env.Command[0] == "" {
		return paddock.Errorf(paddock.EInvalid, "command[0] must not be empty")
	}
	if err := paddock.CheckEnv(env.Env); err != nil {
		return err
	}
	return paddock.CheckLabels(env.Labels)
}

// checkLimits checks env's resource quantities: each given one is more
// than zero (zero would mean no limit at all), and no more than this node
// has: its CPUs, its memory, the free space of the disk the writable
// layers live on (a layer larger than that could fill the host's disk).
func (m *Manager) checkLimits(env *paddock.Environment) error {
	cpu, memory, storage, err := m.limits(env)
	if err != nil {
		return err
	}
	for _, q := range []struct {
		field, v string
		n        int64
	}{{"cpu", env.Resources.CPU, cpu}, {"memory", env.Resources.Memory, memory}, {"storage", env.Resources.Storage, storage}} {
		if strings.TrimSpace(q.v) != "" && q.n <= 0 {
			return paddock.Errorf(paddock.EInvalid, "resources.%s must be more than 0, not %q", q.field, q.v)
		}
	}
	if n := int64(runtime.NumCPU()); cpu > n*1000 {
		return paddock.Errorf(paddock.EInvalid, "resources.cpu %q is more than this node's %d CPUs", env.Resources.CPU, n)
	}
	if total, _ := memInfo(); total > 0 && memory > total {
		return paddock.Errorf(paddock.EInvalid, "resources.memory %q is more than this node's memory (%.1f GiB)", env.Resources.Memory, gib(total))
	}
	if df, ok := m.rt.(DiskFreer); ok && storage > 0 {
		if free, err := df.DiskFree(); err == nil && storage > free {
			return paddock.Errorf(paddock.EInvalid, "resources.storage %q is more than the free space of this node's disk (%.1f GiB)", env.Resources.Storage, gib(free))
		}
	}
	return nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

// Hibernator is implemented by runtimes that may be unable to hibernate
// environments: Hibernation says why, nil when they can.
type Hibernator interface {
	Hibernation() error
}

// DiskFreer is implemented by runtimes whose environments' writable
// layers take space on a host disk: DiskFree is what is free there.
type DiskFreer interface {
	DiskFree() (int64, error)
}

// limits parses env's resource quantities.
func (m *Manager) limits(env *paddock.Environment) (cpu, memory, storage int64, err error) {
	parse := func(field, v string, f func(string) (int64, error)) int64 {
		if err != nil || strings.TrimSpace(v) == "" {
			return 0
		}
		n, perr := f(v)
		if perr != nil {
			err = paddock.Errorf(paddock.EInvalid, "resources.%s: %v", field, perr)
		}
		return n
	}
	cpu = parse("cpu", env.Resources.CPU, ParseCPU)
	memory = parse("memory", env.Resources.Memory, ParseBytes)
	storage = parse("storage", env.Resources.Storage, ParseBytes)
	if err == nil && memory > 0 && memory < 16<<20 {
		err = paddock.Errorf(paddock.EInvalid, "resources.memory: at least 16Mi is needed to start an environment")
	}
	if err == nil && storage > 0 && storage < 16<<20 {
		err = paddock.Errorf(paddock.EInvalid, "resources.storage: at least 16Mi is needed")
	}
	return cpu, memory, storage, err
}

const idChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a new environment id.
func NewID() string {
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return "env-" + string(b)
}

// Create validates env, stores it as pending and starts it in the
// background; env is updated with its id and defaults. Watch the store
// for the outcome: running, or failed with a Reason.
func (m *Manager) Create(ctx context.Context, env *paddock.Environment) error {
	if err := m.Validate(env); err != nil {
		return err
	}
	var img *paddock.Image // known here, by claim
	claimed := false
	if env.ID == "" {
		env.ID, img, claimed = m.claim(ctx, env)
	}
	env.Status = paddock.EnvironmentPending
	env.Reason = ""
	env.Namespace = "paddock-" + env.ID
	env.Endpoint = "" // the address, once running (endpoint)
	env.CreatedAt = m.now().UTC()
	env.StartedAt, env.ExpiresAt, env.EndedAt = nil, nil, nil
	env.PausedRemaining = 0
	if err := m.envs.CreateEnvironment(ctx, env); err != nil {
		if claimed {
			m.rt.Stop(context.WithoutCancel(ctx), env.ID, 0)
		}
		return fmt.Errorf("create environment: %w", err)
	}
	if reason := m.unschedulable(env); reason != "" {
		m.fail(ctx, env.ID, reason)
		env.Status, env.Reason = paddock.EnvironmentFailed, reason
		return nil
	}
	m.goStart(env, img)
	return nil
}

// Reserve returns the id to create env under: that of an environment the
// runtime started ahead of demand for env, or a new one. A caller may
// record it before it calls Create (with env.ID set to it), so a crash in
// between leaks nothing; a reserved environment not created within
// minutes is stopped.
func (m *Manager) Reserve(ctx context.Context, env *paddock.Environment) string {
	// Validate fills in the defaults (the runtime class) that a started
	// environment has, so the shape asked for is the one Create will have.
	if m.Validate(env) != nil {
		return NewID() // Create says why
	}
	id, _, _ := m.claim(ctx, env)
	return id
}

// claim returns the id of an environment the runtime started ahead of
// demand for env (see Pool), or a new id, and env's image if it is here.
// Only an image already here is looked at: a pull belongs to the start,
// in the background.
func (m *Manager) claim(ctx context.Context, env *paddock.Environment) (id string, img *paddock.Image, claimed bool) {
	p, ok := m.rt.(Pool)
	if !ok || m.unschedulable(env) != "" {
		return NewID(), nil, false
	}
	img, err := m.images.Image(ctx, env.Image)
	if err != nil {
		return NewID(), nil, false
	}
	uid, _, err := ResolveUser(env, img)
	if err != nil || (env.Isolation.SecurityContext != nil && env.Isolation.SecurityContext.RunAsNonRoot && uid == 0) {
		return NewID(), img, false // start reports why
	}
	if id := p.Claim(m.spec(env, img)); id != "" {
		return id, img, true
	}
	return NewID(), img, false
}

// unschedulable explains why this node cannot run env, or returns "".
func (m *Manager) unschedulable(env *paddock.Environment) string {
	keys := make([]string, 0, len(env.NodeSelector))
	for k := range env.NodeSelector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := m.cfg.NodeLabels[k]; !ok || v != env.NodeSelector[k] {
			return fmt.Sprintf("unschedulable: node_selector %s=%s matches no node", k, env.NodeSelector[k])
		}
	}
	return ""
}

func (m *Manager) goStart(env *paddock.Environment, img *paddock.Image) {
	ctx, cancel := context.WithCancel(m.ctx)
	op := &startOp{cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.starting[env.ID] = op
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.starting, env.ID)
			m.mu.Unlock()
			cancel()
			close(op.done)
		}()
		m.start(ctx, env, img)
	}()
}

// start pulls the image (unless img, found here by Create, is it) and
// runs the environment. Failures are recorded as the environment's
// Reason.
func (m *Manager) start(ctx context.Context, env *paddock.Environment, img *paddock.Image) {
	log := m.log.With("env_id", env.ID)
	var err error
	if img == nil {
		img, err = m.images.Ensure(ctx, env.Image)
	}
	if err != nil {
		if ctx.Err() != nil {
			return // deleted or shutting down
		}
		log.Warn("pull image", "image", env.Image, "err", err)
		reason := paddock.ErrorMessage(err)
		if !strings.HasPrefix(reason, "pull ") { // the store's errors name the pull already
			reason = "pull " + env.Image + ": " + reason
		}
		m.fail(ctx, env.ID, reason)
		return
	}
	uid, _, err := ResolveUser(env, img)
	if err != nil {
		m.fail(ctx, env.ID, paddock.ErrorMessage(err))
		return
	}
	if sc := env.Isolation.SecurityContext; sc != nil && sc.RunAsNonRoot && uid == 0 {
		m.fail(ctx, env.ID, fmt.Sprintf("security_context: run_as_non_root is set but image %s runs as root; set run_as_user", env.Image))
		return
	}
	spec := m.spec(env, img)
	m.appendLog(env.ID, "system", "starting environment ("+spec.RuntimeClass+")")
	if err := m.rt.Create(ctx, spec); err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Error("start environment", "err", err)
		reason := "start failed: " + paddock.ErrorMessage(err)
		if paddock.ErrorCode(err) == paddock.EInternal {
			reason = "start failed: the runtime could not start the environment"
		}
		m.fail(ctx, env.ID, reason)
		return
	}
	now := m.now().UTC()
	expires := expiry(now, env.Timeout)
	running := paddock.EnvironmentRunning
	upd := paddock.EnvironmentUpdate{Status: &running, StartedAt: &now, ExpiresAt: &expires}
	if ep := m.endpoint(ctx, env.ID); ep != "" {
		upd.Endpoint = &ep
	}
	if _, err := m.envs.UpdateEnvironment(ctx, env.ID, upd); err != nil {
		// The environment runs but the store cannot say so; a running
		// environment nobody knows about is a leak, so stop it.
		log.Error("record running environment", "err", err)
		m.rt.Stop(context.WithoutCancel(ctx), env.ID, 0)
		return
	}
	m.appendLog(env.ID, "system", "environment running")
}

// expiry is when a lifetime of seconds from now ends. Lifetimes are
// capped at paddock.MaxTimeout here too, so that no stored value, however
// large, can overflow the Duration into an expiry in the past.
func expiry(now time.Time, seconds int) time.Time {
	return now.Add(time.Duration(min(max(seconds, 0), paddock.MaxTimeout)) * time.Second)
}

// spec builds the driver's Spec. env has passed Validate.
func (m *Manager) spec(env *paddock.Environment, img *paddock.Image) *Spec {
	cpu, memory, storage, _ := m.limits(env)
	return &Spec{
		ID: env.ID, Env: env, Image: img,
		RuntimeClass: env.Isolation.RuntimeClass,
		CPUMillis:    cpu, MemoryBytes: memory, StorageBytes: storage,
		PidsLimit: m.cfg.PidsLimit,
		LogPath:   m.logPath(env.ID),
	}
}

// fail records env id as failed with reason, unless it already ended.
func (m *Manager) fail(ctx context.Context, id, reason string) {
	ctx = context.WithoutCancel(ctx)
	if env, err := m.envs.Environment(ctx, id); err == nil && (env.Status.Done() || env.Status == paddock.EnvironmentTerminating) {
		return
	}
	failed := paddock.EnvironmentFailed
	now := m.now().UTC()
	if _, err := m.envs.UpdateEnvironment(ctx, id, paddock.EnvironmentUpdate{Status: &failed, Reason: &reason, EndedAt: &now}); err != nil {
		m.log.Error("record failed environment", "env_id", id, "err", err)
	}
	m.appendLog(id, "system", "environment failed: "+reason)
}

// Delete ends an environment: terminating, then the runtime stops it
// (SIGTERM, StopGrace, SIGKILL; no grace when force), then terminated. If
// the runtime cannot stop it, the environment stays terminating and the
// Manager retries in the background. Deleting an ended environment is a
// no-op; unknown ids are ENotFound.
func (m *Manager) Delete(ctx context.Context, id string, force bool) error {
	// Waits for a pause or resume in flight, which would otherwise record
	// its outcome over "terminating".
	unlock := m.lockEnv(id)
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		unlock()
		return err
	}
	if env.Status.Done() {
		unlock()
		return nil
	}
	terminating := paddock.EnvironmentTerminating
	_, err = m.envs.UpdateEnvironment(ctx, id, paddock.EnvironmentUpdate{Status: &terminating})
	unlock()
	if err != nil {
		return fmt.Errorf("delete environment %s: %w", id, err)
	}
	m.mu.Lock()
	op := m.starting[id]
	m.mu.Unlock()
	if op != nil {
		op.cancel()
		<-op.done // Create cleans up after itself when cancelled
	}
	grace := m.cfg.StopGrace
	if force {
		grace = 0
	}
	// A client that goes away must not leave a half-stopped environment.
	m.stop(context.WithoutCancel(ctx), id, grace, "deleted")
	return nil
}

// stop stops id on the runtime and records it terminated with reason. On
// failure the environment stays terminating for the retry loop.
func (m *Manager) stop(ctx context.Context, id string, grace time.Duration, reason string) bool {
	m.mu.Lock()
	if m.stopping[id] {
		m.mu.Unlock()
		return false
	}
	m.stopping[id] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.stopping, id)
		delete(m.denied, id)
		m.mu.Unlock()
	}()
	if err := m.rt.Stop(ctx, id, grace); err != nil {
		m.log.Error("stop environment; will retry", "env_id", id, "err", err)
		return false
	}
	terminated := paddock.EnvironmentTerminated
	now := m.now().UTC()
	if _, err := m.envs.UpdateEnvironment(ctx, id, paddock.EnvironmentUpdate{Status: &terminated, Reason: &reason, EndedAt: &now}); err != nil {
		m.log.Error("record terminated environment", "env_id", id, "err", err)
		return false
	}
	m.appendLog(id, "system", "environment terminated: "+reason)
	return true
}

// running returns env id if it is running, else EConflict (ENotFound for
// unknown ids).
func (m *Manager) running(ctx context.Context, id string) (*paddock.Environment, error) {
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := isRunning(env); err != nil {
		return nil, err
	}
	return env, nil
}

// isRunning returns EConflict unless env is running.
func isRunning(env *paddock.Environment) error {
	if env.Status != paddock.EnvironmentRunning {
		return paddock.Errorf(paddock.EConflict, "environment %s is %s", env.ID, env.Status)
	}
	return nil
}

// Exec runs a command in a running environment. A pending, paused or
// ended environment is EConflict.
func (m *Manager) Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error) {
	if len(req.Command) == 0 || req.Command[0] == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "command is required")
	}
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.ExecIn(ctx, env, req)
}

// ExecIn is Exec in env as its caller has just read it from the store
// (the API does, to check the caller may), so that it is not read again.
func (m *Manager) ExecIn(ctx context.Context, env *paddock.Environment, req *paddock.ExecRequest) (*paddock.ExecResult, error) {
	if err := checkExec(env, req); err != nil {
		return nil, err
	}
	if req.MaxOutput <= 0 {
		r := *req
		r.MaxOutput = m.cfg.MaxExecOutput
		req = &r
	}
	res, err := m.rt.Exec(ctx, env.ID, req)
	if err != nil && ctx.Err() == nil && paddock.ErrorCode(err) == paddock.EInternal {
		// A delete, or the end of its lifetime, stopped the environment
		// under the command: a conflict, not a failure of the server.
		if cur, gerr := m.envs.Environment(ctx, env.ID); gerr == nil && cur.Status != paddock.EnvironmentRunning {
			return nil, paddock.Errorf(paddock.EConflict, "environment %s is %s: it ended while the command ran", env.ID, cur.Status)
		}
	}
	return res, err
}

// checkExec refuses an exec that cannot run: no command, a variable no
// process can be given, an environment that is not running.
func checkExec(env *paddock.Environment, req *paddock.ExecRequest) error {
	if len(req.Command) == 0 || req.Command[0] == "" {
		return paddock.Errorf(paddock.EInvalid, "command is required")
	}
	if err := paddock.CheckEnv(req.Env); err != nil {
		return err
	}
	return isRunning(env)
}

// ImageUsers returns the images of the environments not ended yet, as
// they name them, with their ids: each runs (or will run) on the tree its
// image's name had when it started, which must stay. The image store asks
// before it removes a name or moves it to other content (image.Options
// InUse).
func (m *Manager) ImageUsers(ctx context.Context) (map[string][]string, error) {
	envs, _, err := m.envs.Environments(ctx, paddock.EnvironmentFilter{Statuses: []paddock.EnvironmentStatus{
		paddock.EnvironmentPending, paddock.EnvironmentRunning, paddock.EnvironmentPaused, paddock.EnvironmentTerminating,
	}})
	if err != nil {
		return nil, fmt.Errorf("images in use: %w", err)
	}
	users := map[string][]string{}
	for _, e := range envs {
		users[e.Image] = append(users[e.Image], e.ID)
	}
	return users, nil
}

// Metrics reports a running environment's CPU ("125m") and memory
// ("256Mi") use.
func (m *Manager) Metrics(ctx context.Context, id string) (cpu, memory string, err error) {
	if _, err := m.running(ctx, id); err != nil {
		return "", "", err
	}
	st, err := m.rt.Stats(ctx, id)
	if err != nil {
		return "", "", fmt.Errorf("metrics of %s: %w", id, err)
	}
	return FormatCPU(st.CPUUsage), FormatBytes(st.MemoryBytes), nil
}

func (m *Manager) logPath(id string) string { return filepath.Join(m.cfg.LogDir, id+".jsonl") }

func (m *Manager) appendLog(id, stream, msg string) {
	if err := os.MkdirAll(m.cfg.LogDir, 0o750); err != nil {
		m.log.Warn("create log dir", "err", err)
		return
	}
	if err := AppendLog(m.logPath(id), paddock.LogEntry{Timestamp: m.now().UTC(), Stream: stream, Message: msg}); err != nil {
		m.log.Warn("append environment log", "env_id", id, "err", err)
	}
}

// Logs returns the last tail lines of an environment's log (all when
// tail <= 0). Unknown ids are ENotFound.
func (m *Manager) Logs(ctx context.Context, id string, tail int) ([]paddock.LogEntry, error) {
	if _, err := m.envs.Environment(ctx, id); err != nil {
		return nil, err
	}
	entries, err := ReadLog(m.logPath(id), tail)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", id, err)
	}
	return entries, nil
}

// FollowLogs sends the last tail lines, then new lines as they are
// written, until ctx is done, the Manager closes, or the environment ends
// (after its last lines). The channel is closed at the end.
func (m *Manager) FollowLogs(ctx context.Context, id string, tail int) (<-chan paddock.LogEntry, error) {
	if _, err := m.envs.Environment(ctx, id); err != nil {
		return nil, err
	}
	path := m.logPath(id)
	initial, err := ReadLog(path, tail)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", id, err)
	}
	// Start following at the current end of the file.
	var offset int64
	var ino uint64
	if fi, err := os.Stat(path); err == nil {
		offset, ino = fi.Size(), inode(fi)
	}
	ch := make(chan paddock.LogEntry, 64)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(ch)
		send := func(e paddock.LogEntry) bool {
			select {
			case ch <- e:
				return true
			case <-ctx.Done():
			case <-m.ctx.Done():
			}
			return false
		}
		for _, e := range initial {
			if !send(e) {
				return
			}
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		ended := false
		for n := 0; ; n++ {
			if fi, err := os.Stat(path); err == nil && (inode(fi) != ino || fi.Size() < offset) {
				offset, ino = 0, inode(fi) // rotated
			}
			entries, next, err := readLogFrom(path, offset)
			if err == nil {
				offset = next
				for _, e := range entries {
					if !send(e) {
						return
					}
				}
			}
			if ended {
				return
			}
			if n%5 == 0 {
				env, err := m.envs.Environment(ctx, id)
				if err != nil || env.Status.Done() {
					ended = true // one more read for the last lines
					continue
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			case <-m.ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Run reconciles the store with the runtime, then reaps expired
// environments, fails dead ones and retries stuck deletes every
// ReapInterval until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.reconcile(ctx); err != nil {
		m.log.Error("reconcile environments", "err", err)
	}
	t := time.NewTicker(m.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.ctx.Done():
			return nil
		case <-t.C:
			m.tick(ctx)
		}
	}
}

var activeStatuses = []paddock.EnvironmentStatus{
	paddock.EnvironmentPending, paddock.EnvironmentRunning,
	paddock.EnvironmentPaused, paddock.EnvironmentTerminating,
}

// reconcile matches what the store believes with what the runtime runs,
// after a restart or a crash.
func (m *Manager) reconcile(ctx context.Context) error {
	envs, _, err := m.envs.Environments(ctx, paddock.EnvironmentFilter{Statuses: activeStatuses})
	if err != nil {
		return fmt.Errorf("list environments: %w", err)
	}
	ids, err := m.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("list runtime: %w", err)
	}
	owned := map[string]bool{}
	for _, env := range envs {
		owned[env.ID] = true
		m.mu.Lock()
		_, busy := m.starting[env.ID]
		m.mu.Unlock()
		if busy {
			continue // started by this Manager
		}
		// Re-read: a start by this Manager may have ended since the list.
		env, err := m.envs.Environment(ctx, env.ID)
		if err != nil {
			continue
		}
		switch env.Status {
		case paddock.EnvironmentTerminating:
			m.stop(ctx, env.ID, 0, "deleted")
		case paddock.EnvironmentPending:
			// Its start was cut short by the restart; what exists of it
			// cannot be trusted.
			if err := m.rt.Stop(ctx, env.ID, 0); err != nil {
				m.log.Error("stop interrupted environment", "env_id", env.ID, "err", err)
			}
			m.fail(ctx, env.ID, "interrupted: Paddock restarted while the environment was starting")
		default:
			alive, why, err := m.rt.Alive(ctx, env.ID)
			if err != nil {
				m.log.Error("check environment", "env_id", env.ID, "err", err)
				continue
			}
			if alive {
				m.log.Info("environment survived restart", "env_id", env.ID, "status", string(env.Status))
				m.reconcilePaused(ctx, env, why == "paused")
				if env.Endpoint == "" { // started by a Paddock that did not record it
					if ep := m.endpoint(ctx, env.ID); ep != "" {
						if _, err := m.envs.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{Endpoint: &ep}); err != nil {
							m.log.Error("record environment's address", "env_id", env.ID, "err", err)
						}
					}
				}
				continue
			}
			reason := "exited: the container exited while Paddock was down"
			switch why {
			case "oom":
				reason = "oom: the environment was killed by its memory limit while Paddock was down"
			case "missing":
				reason = "missing: the container disappeared while Paddock was down"
			}
			m.rt.Stop(ctx, env.ID, 0)
			m.fail(ctx, env.ID, reason)
		}
	}
	for _, id := range ids {
		if owned[id] {
			continue
		}
		m.mu.Lock()
		_, busy := m.starting[id]
		m.mu.Unlock()
		if busy {
			continue
		}
		// The list above is a snapshot: an environment created since may
		// already be running. Only state the store does not know is orphaned.
		if env, err := m.envs.Environment(ctx, id); err == nil && !env.Status.Done() {
			continue
		} else if err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
			m.log.Error("check orphaned sandbox", "env_id", id, "err", err)
			continue
		}
		m.log.Info("removing orphaned sandbox", "env_id", id)
		if err := m.rt.Stop(ctx, id, 0); err != nil {
			m.log.Error("remove orphaned sandbox", "env_id", id, "err", err)
		}
	}
	return nil
}

// tick runs one round of reaping, health checks and stop retries.
func (m *Manager) tick(ctx context.Context) {
	envs, _, err := m.envs.Environments(ctx, paddock.EnvironmentFilter{Statuses: []paddock.EnvironmentStatus{
		paddock.EnvironmentRunning, paddock.EnvironmentPaused, paddock.EnvironmentTerminating,
	}})
	if err != nil {
		m.log.Error("list environments", "err", err)
		return
	}
	now := m.now()
	var denied map[string]int64 // one read for all environments, if any is alive
	deniedRead := false
	for _, env := range envs {
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		_, busy := m.starting[env.ID]
		stopping := m.stopping[env.ID]
		m.mu.Unlock()
		if busy || stopping {
			continue
		}
		unlock, ok := m.tryLockEnv(env.ID)
		if !ok {
			continue // a pause, resume or delete is in flight
		}
		if env.Status != paddock.EnvironmentTerminating && env.ExpiresAt != nil && !now.Before(*env.ExpiresAt) {
			m.goExpire(env, unlock) // delete, pause or hibernate: see expire
			continue
		}
		unlock()
		switch {
		case env.Status == paddock.EnvironmentTerminating:
			m.goStop(env.ID, 0, "deleted")
		default:
			alive, why, err := m.rt.Alive(ctx, env.ID)
			if err != nil {
				continue
			}
			if alive {
				if !deniedRead {
					denied, deniedRead = m.deniedCounts(ctx), true
				}
				m.checkDenied(env.ID, denied)
				continue
			}
			reason := "exited: the environment's init process exited"
			switch why {
			case "oom":
				reason = "oom: the environment's init process was killed by its memory limit"
			case "missing":
				reason = "missing: the container disappeared"
			}
			m.log.Warn("environment died", "env_id", env.ID, "reason", reason)
			m.fail(ctx, env.ID, reason)
			m.goStop(env.ID, 0, "")
		}
	}
}

// goStop stops id in an owned goroutine. reason "" only cleans up the
// runtime (the environment already ended in the store).
func (m *Manager) goStop(id string, grace time.Duration, reason string) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// Close cancels a stop midway; the environment then stays
		// terminating and the next Manager's Run finishes the job.
		ctx := m.ctx
		if reason == "" {
			if err := m.rt.Stop(ctx, id, grace); err != nil {
				m.log.Error("clean up dead environment", "env_id", id, "err", err)
			}
			return
		}
		m.stop(ctx, id, grace, reason)
	}()
}

// Endpointer is implemented by runtimes that give environments a network
// address: Endpoint is a running environment's, "" when it has none.
type Endpointer interface {
	Endpoint(ctx context.Context, id string) (string, error)
}

// endpoint returns the runtime's Endpoint for id, "" when it has none.
func (m *Manager) endpoint(ctx context.Context, id string) string {
	e, ok := m.rt.(Endpointer)
	if !ok {
		return ""
	}
	ep, err := e.Endpoint(ctx, id)
	if err != nil {
		m.log.Warn("read environment address", "env_id", id, "err", err)
	}
	return ep
}

// DeniedCounter is implemented by runtimes that enforce network policies:
// DeniedCounts is how many attempts of each environment to reach something
// its policy refused.
type DeniedCounter interface {
	DeniedCounts(ctx context.Context) (map[string]int64, error)
}

// deniedCounts returns the runtime's DeniedCounts, nil when it has none.
func (m *Manager) deniedCounts(ctx context.Context) map[string]int64 {
	dc, ok := m.rt.(DeniedCounter)
	if !ok {
		return nil
	}
	counts, err := dc.DeniedCounts(ctx)
	if err != nil {
		m.log.Warn("read network policy counters", "err", err)
		return nil
	}
	return counts
}

// checkDenied writes a system log line to a running environment when its
// count of refused network attempts (in counts, from deniedCounts) rose
// since the last tick, so users see why a connection hangs or a name does
// not resolve.
func (m *Manager) checkDenied(id string, counts map[string]int64) {
	n, ok := counts[id]
	if !ok {
		return // no network, or it went away; the next tick tells
	}
	m.mu.Lock()
	last := m.denied[id]
	m.denied[id] = n
	m.mu.Unlock()
	if n > last {
		m.appendLog(id, "system", fmt.Sprintf("network policy denied %d connection or DNS attempts (%d in total)", n-last, n))
	}
}
