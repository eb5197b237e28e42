// Package oci is the sandbox driver that runs environments with runc, or
// with runsc (gVisor) for the "gvisor" runtime class, directly: no daemon
// and no per-environment shim. Each environment gets a writable layer on
// its own ext4 image (so storage is a hard limit that never fills the host
// disk), an overlay on the shared read-only image tree, a user namespace
// under runc, cgroup limits, seccomp and Docker's default hardening. The
// guest agent runs as PID 1 and dials back to a unix socket the driver
// listens on, so exec, logs and restarts need no process per environment
// on the host.
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

// Config configures the driver.
type Config struct {
	StateDir      string   // per-environment state, e.g. <data>/sandbox
	RuncPath      string   // default "runc"
	RunscPath     string   // default "runsc"
	RunscPlatform string   // default "ptrace"
	UIDShift      int64    // container ids 0-65535 are host ids UIDShift+; default 100000
	GuestBinary   string   // static binary mounted at /.paddock/guest and run as PID 1
	GuestArgs     []string // arguments before "-config"; default ["guest"]
	// DefaultStorage sizes the writable layer when a Spec has none.
	DefaultStorage int64 // default 1 GiB
	// DiskPool is how many formatted writable layers are kept ready for
	// each of the last few sizes asked for, so Create need not run mkfs;
	// default 2, negative for none.
	DiskPool int
	// WarmPool is how many environments are kept started ahead of demand
	// for each of the last few shapes asked for (see warm.go); default 1,
	// negative for none.
	WarmPool int
	// MaxOutput is the default per-stream exec output kept in a result.
	MaxOutput int // default 1 MiB
	// StartTimeout bounds how long Create waits for the guest to answer.
	StartTimeout time.Duration // default 30s
	// Network, when set, connects each environment's network namespace
	// and enforces its network policy (see network.go).
	Network Network
	// RunscDebugDir, when set, makes runsc write debug logs and straces
	// there: for diagnosing sandbox crashes only, it is slow.
	RunscDebugDir string
	Logger        *slog.Logger
}

// Network plugs networking into environments (see internal/sandbox/network).
type Network interface {
	// Prepare reserves spec's address and puts its policy in force while
	// the environment has no interface yet, so it needs no namespace and
	// runs alongside the container's creation. ownNetns asks Prepare to
	// create a namespace and return its path, for runsc, which takes over
	// the interfaces it finds when the sandbox starts.
	Prepare(ctx context.Context, spec *sandbox.Spec, ownNetns bool) (string, error)
	// Connect gives a prepared environment its interface, in the network
	// namespace at netns ("" for the one Prepare made).
	Connect(ctx context.Context, id, netns string) error
	// ResolvConf is mounted as every environment's /etc/resolv.conf.
	ResolvConf() []byte
	// Teardown removes what Setup made; unknown ids are not an error.
	Teardown(ctx context.Context, id string) error
	// List returns the ids Setup made something for.
	List(ctx context.Context) ([]string, error)
	// DeniedCounts reports, by environment, how many attempts the policy
	// refused.
	DeniedCounts(ctx context.Context) (map[string]int64, error)
	// Address is an environment's address, which the host reaches it at.
	Address(id string) (netip.Addr, error)
}

// Runtime is the oci driver. It is safe for concurrent use.
type Runtime struct {
	cfg Config
	log *slog.Logger

	disks *diskPool // nil when Config.DiskPool < 0
	warm  *warmPool // nil when Config.WarmPool < 0

	stopFill context.CancelFunc // ends fillWarm
	fillDone chan struct{}

	mu     sync.Mutex
	envs   map[string]*envState
	ops    map[string]*opLock // see lockOp in pause.go
	closed bool
	wg     sync.WaitGroup // accept loops
}

var _ sandbox.Runtime = (*Runtime)(nil)

// record is what the driver persists per environment, so a new Runtime
// (after a restart) can find, reconnect and clean up what an old one made.
type record struct {
	ID        string    `json:"id"`
	Class     string    `json:"class"`
	LogPath   string    `json:"log_path"`
	MaxOutput int       `json:"max_output,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Paused is how the environment is paused, "" when it is not: a
	// hibernated environment has no container left, so only this says it
	// is not dead (see pause.go).
	Paused sandbox.PauseMode `json:"paused,omitempty"`
	// GuestUID is the host uid the guest runs as: only it may dial the
	// control and lane sockets. Absent in records of older versions,
	// whose sockets anyone in the environment may dial.
	GuestUID *int64 `json:"guest_uid,omitempty"`
	// PausedDirect says a frozen gVisor sandbox's kernel was paused over
	// its control socket (runsc_control.go), so runsc reports it running.
	PausedDirect bool `json:"paused_direct,omitempty"`
}

// envState is the live host side of one environment.
type envState struct {
	rec record // rec.Paused is guarded by mu
	dir string
	ln  *net.UnixListener
	lln *net.UnixListener // lanes (guest.Config.Lane)
	oom *oomCounter       // the cgroup's OOM kills, read around every exec

	mu       sync.Mutex
	client   *guest.Client
	changed  chan struct{} // closed and replaced whenever client changes
	lastCPU  int64
	lastTime time.Time
	// pausedHere: this Runtime paused the gVisor kernel over the control
	// socket (rec.PausedDirect may come from one that died before it did).
	pausedHere bool
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// New returns a driver on cfg.StateDir and re-attaches to environments a
// previous Runtime left running there.
func New(cfg Config) (*Runtime, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("oci: StateDir is required")
	}
	if cfg.GuestBinary == "" {
		return nil, errors.New("oci: GuestBinary is required")
	}
	if cfg.RuncPath == "" {
		cfg.RuncPath = "runc"
	}
	if cfg.RunscPath == "" {
		cfg.RunscPath = "runsc"
	}
	if cfg.RunscPlatform == "" {
		cfg.RunscPlatform = "ptrace"
	}
	if cfg.UIDShift == 0 {
		cfg.UIDShift = 100000
	}
	if cfg.GuestArgs == nil {
		cfg.GuestArgs = []string{"guest"}
	}
	if cfg.DefaultStorage == 0 {
		cfg.DefaultStorage = 1 << 30
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = 1 << 20
	}
	if cfg.DiskPool == 0 {
		cfg.DiskPool = 2
	}
	if cfg.WarmPool == 0 {
		cfg.WarmPool = 1
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("oci: state dir: %w", err)
	}
	cfg.StateDir = abs
	for _, d := range []string{cfg.StateDir, filepath.Join(cfg.StateDir, "runc"), filepath.Join(cfg.StateDir, "runsc")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("oci: create state dir: %w", err)
		}
	}
	if err := searchable(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, envs: make(map[string]*envState)}
	if cfg.DiskPool > 0 {
		if r.disks, err = newDiskPool(filepath.Join(cfg.StateDir, "disks"), cfg.DiskPool, cfg.Logger); err != nil {
			return nil, fmt.Errorf("oci: %w", err)
		}
	}
	entries, err := os.ReadDir(r.envsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("oci: read state: %w", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(r.envsDir(), e.Name(), "state.json"))
		if err != nil {
			continue // half-made; List reports it and Stop cleans it
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil || rec.ID != e.Name() {
			continue
		}
		if err := r.attach(rec); err != nil {
			r.log.Warn("reattach environment", "env_id", rec.ID, "err", err)
		}
	}
	if cfg.WarmPool > 0 {
		r.warm = newWarmPool(cfg.WarmPool)
		ctx, cancel := context.WithCancel(context.Background())
		r.stopFill, r.fillDone = cancel, make(chan struct{})
		go func() {
			defer close(r.fillDone)
			r.fillWarm(ctx)
		}()
	}
	return r, nil
}

// searchable checks every directory down to dir lets other users through:
// runc mounts the rootfs from inside the user namespace, as an unprivileged
// host uid.
func searchable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("state dir %s: %s must be searchable by other users (chmod o+x) so the environments' user namespaces can reach their rootfs", dir, d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (r *Runtime) envsDir() string         { return filepath.Join(r.cfg.StateDir, "envs") }
func (r *Runtime) envDir(id string) string { return filepath.Join(r.envsDir(), id) }
func (r *Runtime) cgroupPath(id string) string {
	return "/paddock/" + id
}

// attach starts listening on the environment's control and lane sockets.
// Stale socket files from a previous Runtime are replaced; the guest
// redials.
func (r *Runtime) attach(rec record) error {
	dir := r.envDir(rec.ID)
	ln, err := listenGuest(filepath.Join(dir, "run", "ctl.sock"), rec.GuestUID)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	lln, err := listenGuest(filepath.Join(dir, "run", "lane.sock"), rec.GuestUID)
	if err != nil {
		ln.Close()
		return fmt.Errorf("lane socket: %w", err)
	}
	es := &envState{rec: rec, dir: dir, ln: ln, lln: lln, oom: newOOMCounter(r.cgroupPath(rec.ID)), changed: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		lln.Close()
		return errors.New("runtime closed")
	}
	if old := r.envs[rec.ID]; old != nil {
		old.close()
	}
	r.envs[rec.ID] = es
	r.wg.Add(2)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		r.acceptLoop(es)
	}()
	go func() {
		defer r.wg.Done()
		acceptLanes(es)
	}()
	return nil
}

// listenGuest listens on a unix socket the guest dials, replacing a stale
// socket file. Only owner may dial it: the guest's uid on the host, which
// is the environment's user (root, or run_as_user). A process of the
// environment's running as another user (a server's worker dropped to
// nobody) cannot pose as the guest and answer execs. Without an owner
// (an environment made before owners were recorded), anyone may.
func listenGuest(path string, owner *int64) (*net.UnixListener, error) {
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // the guest keeps redialing this path
	mode := fs.FileMode(0o666)
	if owner != nil {
		mode = 0o600
		err = os.Chown(path, int(*owner), -1)
	}
	if err == nil {
		err = os.Chmod(path, mode)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// acceptLanes hands the lanes the guest dials to its live connection,
// which uses them for execs; without one, a lane is closed and the guest
// dials again a little later.
func acceptLanes(es *envState) {
	for {
		conn, err := es.lln.AcceptUnix()
		if err != nil {
			return
		}
		if c, _ := es.liveClient(); c != nil {
			c.AddLane(conn)
		} else {
			conn.Close()
		}
	}
}

// acceptLoop serves guest connections until the listener is closed. A new
// connection replaces the previous one: the guest only redials when its
// old connection is dead.
func (r *Runtime) acceptLoop(es *envState) {
	for {
		conn, err := es.ln.Accept()
		if err != nil {
			return
		}
		id := es.rec.ID
		c, err := guest.NewClient(conn, func(entries []paddock.LogEntry) {
			// The path changes when a warm environment is handed over.
			if err := sandbox.AppendLog(es.record().LogPath, entries...); err != nil {
				r.log.Warn("append environment log", "env_id", id, "err", err)
			}
		})
		if err != nil {
			continue
		}
		es.mu.Lock()
		if es.client != nil {
			es.client.Close()
		}
		es.client = c
		close(es.changed)
		es.changed = make(chan struct{})
		es.mu.Unlock()
	}
}

// close stops listening and drops the guest connection. The guest keeps
// running and redials.
func (es *envState) close() {
	es.ln.Close()
	es.lln.Close()
	es.oom.close()
	es.mu.Lock()
	if es.client != nil {
		es.client.Close()
		es.client = nil
	}
	es.mu.Unlock()
}

// liveClient returns the guest's connection, nil when it has none or the
// connection is dead, and the channel closed when it changes.
func (es *envState) liveClient() (*guest.Client, <-chan struct{}) {
	es.mu.Lock()
	c, changed := es.client, es.changed
	es.mu.Unlock()
	if c != nil {
		select {
		case <-c.Done():
			return nil, changed
		default:
		}
	}
	return c, changed
}

// waitClient returns the guest's live connection, waiting for the guest
// to (re)connect until ctx is done.
func (es *envState) waitClient(ctx context.Context) (*guest.Client, error) {
	for {
		c, changed := es.liveClient()
		if c != nil {
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// A dead connection does not signal changed; poll for it.
		}
	}
}

func (r *Runtime) env(id string) (*envState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, paddock.Errorf(paddock.EUnavailable, "sandbox runtime is closed")
	}
	es := r.envs[id]
	if es == nil {
		return nil, paddock.Errorf(paddock.ENotFound, "environment %s not found in the runtime", id)
	}
	return es, nil
}

// Create implements sandbox.Runtime. An id from Claim gets its warm
// environment, or, if that failed to start, a new one.
func (r *Runtime) Create(ctx context.Context, spec *sandbox.Spec) error {
	if w := r.warm.take(spec.ID); w != nil {
		err := r.adopt(ctx, spec, w)
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.log.Warn("warm environment unusable; starting a new one", "env_id", spec.ID, "err", err)
	}
	return r.create(ctx, spec, false)
}

// create makes and starts an environment. With hold, its guest is left
// holding (warm): adopt starts it.
func (r *Runtime) create(ctx context.Context, spec *sandbox.Spec, hold bool) (err error) {
	if !idRE.MatchString(spec.ID) {
		return paddock.Errorf(paddock.EInvalid, "environment id %q is not valid", spec.ID)
	}
	if spec.Env == nil || spec.Image == nil || spec.Image.RootFS == "" {
		return paddock.Errorf(paddock.EInvalid, "environment %s: spec needs an environment and an unpacked image", spec.ID)
	}
	if spec.RuntimeClass != sandbox.ClassRunc && spec.RuntimeClass != sandbox.ClassGVisor {
		return paddock.Errorf(paddock.EInvalid, "runtime class %q is not supported by the oci driver", spec.RuntimeClass)
	}
	uid, gid, err := sandbox.ResolveUser(spec.Env, spec.Image)
	if err != nil {
		return err
	}
	t0 := time.Now()
	dir := r.envDir(spec.ID)
	if err := os.MkdirAll(r.envsDir(), 0o711); err != nil {
		return fmt.Errorf("create environments dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return paddock.Errorf(paddock.EConflict, "environment %s already exists", spec.ID)
		}
		return fmt.Errorf("create environment dir: %w", err)
	}
	defer r.undo(ctx, spec.ID, "failed environment", &err)
	// The writable layer's files, and the guest, are owned on the host by
	// the ids the user namespace shifts to (gVisor has none of its own).
	shift := int(r.cfg.UIDShift)
	fsUID, fsGID := shift, shift
	if spec.RuntimeClass == sandbox.ClassGVisor {
		fsUID, fsGID = 0, 0
	}
	guestUID := int64(fsUID) + uid
	rec := record{ID: spec.ID, Class: spec.RuntimeClass, LogPath: spec.LogPath, CreatedAt: time.Now().UTC(), GuestUID: &guestUID}
	if rec.LogPath == "" {
		rec.LogPath = filepath.Join(dir, "log.jsonl")
	}
	if err := writeJSON(filepath.Join(dir, "state.json"), rec); err != nil {
		return err
	}
	// The network's policy goes in while the disk, the rootfs and the
	// container are made: it needs none of them (see waitNet).
	np := r.prepareNetwork(ctx, spec)
	defer np.wait() // before the cleanup above: Stop tears it down

	// The writable layer lives on its own filesystem image.
	size := spec.StorageBytes
	if size <= 0 {
		size = r.cfg.DefaultStorage
	}
	disk, img := filepath.Join(dir, "disk"), filepath.Join(dir, "disk.img")
	if r.disks != nil && r.disks.take(diskShape{size: size, uid: fsUID, gid: fsGID}, img) {
		err = mountDisk(img, disk)
	} else {
		err = makeDisk(ctx, img, disk, size, fsUID, fsGID)
	}
	if err != nil {
		return fmt.Errorf("environment %s: %w", spec.ID, err)
	}
	tDisk := time.Since(t0)
	upper, work := filepath.Join(disk, "upper"), filepath.Join(disk, "work")
	var rootSt syscall.Stat_t
	if err := syscall.Stat(spec.Image.RootFS, &rootSt); err != nil {
		return fmt.Errorf("stat image rootfs: %w", err)
	}
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("create overlay dir: %w", err)
		}
	}
	// The overlay's root takes the upper dir's owner and mode: match the
	// image's root.
	if err := os.Chown(upper, int(rootSt.Uid), int(rootSt.Gid)); err != nil {
		return fmt.Errorf("chown overlay upper: %w", err)
	}
	if err := os.Chmod(upper, fs.FileMode(rootSt.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod overlay upper: %w", err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("create rootfs dir: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", spec.Image.RootFS, upper, work)
	if err := syscall.Mount("overlay", rootfs, "overlay", syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	// Mount points for the guest, made here so a read-only root works and
	// gVisor need not create them.
	if err := makeMountpoints(rootfs, fsUID, fsGID); err != nil {
		return err
	}

	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o755); err != nil {
		return fmt.Errorf("create control dir: %w", err)
	}
	gcfg := guest.Config{
		Socket: guestSocket,
		Lane:   guestLane,
		// The command waits for Start, which comes once the network is
		// connected, so it never sees a namespace without its interface.
		Hold:    true,
		Env:     guestEnv(spec, uid),
		Dir:     spec.Image.Config.WorkingDir,
		Command: spec.Env.Command,
	}
	if err := writeJSON(filepath.Join(runDir, "guest.json"), gcfg); err != nil {
		return err
	}
	os.Chmod(filepath.Join(runDir, "guest.json"), 0o644)
	if err := r.attach(rec); err != nil {
		return fmt.Errorf("environment %s: %w", spec.ID, err)
	}

	ociSpec, err := r.buildSpec(spec, rootfs, runDir, uid, gid)
	if err != nil {
		return err
	}
	if err := r.resolvConf(dir, ociSpec); err != nil {
		return fmt.Errorf("environment %s: %w", spec.ID, err)
	}
	if spec.RuntimeClass == sandbox.ClassGVisor && np != nil {
		// runsc takes over the interfaces it finds when the sandbox boots.
		ns, err := np.connect(ctx, "")
		if err != nil {
			return fmt.Errorf("environment %s: %w", spec.ID, err)
		}
		for i := range ociSpec.Linux.Namespaces {
			if ociSpec.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				ociSpec.Linux.Namespaces[i].Path = ns
			}
		}
	}
	bundle := filepath.Join(dir, "bundle")
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return fmt.Errorf("create bundle dir: %w", err)
	}
	if err := writeJSON(filepath.Join(bundle, "config.json"), ociSpec); err != nil {
		return err
	}
	tRun := time.Now()
	if err := r.start(ctx, spec, bundle, dir); err != nil {
		return fmt.Errorf("environment %s: %w", spec.ID, err)
	}
	tStarted := time.Since(t0)
	tRunDur := time.Since(tRun)
	if spec.RuntimeClass == sandbox.ClassRunc && np != nil {
		// runc made the namespace, inside the container's user namespace;
		// the guest holds the command until Start.
		if err := r.connectRunc(ctx, spec.ID, dir, np); err != nil {
			return fmt.Errorf("environment %s: %w", spec.ID, err)
		}
	}

	es, err := r.env(spec.ID)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	c, err := es.waitClient(wctx)
	if err != nil {
		return fmt.Errorf("environment %s: guest did not connect: %w%s", spec.ID, err, r.guestOutput(dir))
	}
	tConnected := time.Since(t0)
	if hold {
		return nil
	}
	if err := c.Start(wctx, nil); err != nil {
		return fmt.Errorf("environment %s: start the guest: %w", spec.ID, err)
	}
	r.log.Debug("environment created", "env_id", spec.ID, "class", spec.RuntimeClass, "duration", time.Since(t0),
		"disk", tDisk, "runtime_run", tRunDur, "started", tStarted, "guest_connected", tConnected)
	return nil
}

// start runs the container detached. The container's stdio is a file, so
// nothing on the host has to stay alive for it. The pid file saves a
// `runc state` process when the network connects to the container.
func (r *Runtime) start(ctx context.Context, spec *sandbox.Spec, bundle, dir string) error {
	out, err := os.OpenFile(filepath.Join(dir, "guest.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open guest output: %w", err)
	}
	defer out.Close()
	args := []string{"run", "--detach", "--bundle", bundle, "--pid-file", filepath.Join(dir, "init.pid"), spec.ID}
	cmd := r.command(ctx, spec.RuntimeClass, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s run: %w%s", filepath.Base(cmd.Path), err, r.guestOutput(dir))
	}
	return nil
}

// connectRunc connects the network namespace runc made for environment
// id, whose init (the guest, holding its command) wrote its pid.
func (r *Runtime) connectRunc(ctx context.Context, id, dir string, np *netPrep) error {
	ns, err := r.runcNamespace(id, dir, "net")
	if err != nil {
		return err
	}
	defer ns.Close()
	_, err = np.connect(ctx, fmt.Sprintf("/proc/self/fd/%d", ns.Fd()))
	return err
}

// runcNamespace opens the namespace of kind ("net", "uts") of runc
// environment id, whose init wrote its pid in dir.
func (r *Runtime) runcNamespace(id, dir, kind string) (*os.File, error) {
	b, err := os.ReadFile(filepath.Join(dir, "init.pid"))
	if err != nil {
		return nil, fmt.Errorf("read the container's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("the container's pid file holds %q", b)
	}
	// Pin the namespace, then check the pid still is the container's: a
	// guest that died at once could leave its pid to another process,
	// whose namespace must not be touched.
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		return nil, fmt.Errorf("open the container's %s namespace: %w", kind, err)
	}
	if err := checkCgroup(pid, r.cgroupPath(id)); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// setHostname sets the hostname of runc environment id from the host,
// which may, unlike anything in the environment (it has no
// CAP_SYS_ADMIN): for a warm environment, whose name it learns late.
func (r *Runtime) setHostname(id, dir, name string) error {
	ns, err := r.runcNamespace(id, dir, "uts")
	if err != nil {
		return err
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread joins the environment's UTS namespace and is never
		// unlocked, so it ends with this goroutine instead of going back
		// to the scheduler with another hostname.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWUTS); err != nil {
			errc <- fmt.Errorf("join the UTS namespace: %w", err)
			return
		}
		errc <- unix.Sethostname([]byte(name))
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("set the hostname of %s: %w", id, err)
	}
	return nil
}

// guestOutput returns the tail of what the guest and the runtime printed,
// for error messages.
func (r *Runtime) guestOutput(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "guest.out"))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return ": " + string(bytes.TrimSpace(b))
}

func makeMountpoints(rootfs string, uid, gid int) error {
	pd := filepath.Join(rootfs, ".paddock")
	if err := os.MkdirAll(filepath.Join(pd, "run"), 0o755); err != nil {
		return fmt.Errorf("create guest mountpoints: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(pd, "guest"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("create guest mountpoint: %w", err)
	}
	f.Close()
	for _, p := range []string{pd, filepath.Join(pd, "run"), filepath.Join(pd, "guest")} {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("chown guest mountpoints: %w", err)
		}
	}
	return nil
}

// guestEnv is the environment of every process in the environment: the
// image's, then the environment's own, with PATH and HOME defaulted.
func guestEnv(spec *sandbox.Spec, uid int64) []string {
	env := slices.Clone(spec.Image.Config.Env)
	keys := make([]string, 0, len(spec.Env.Env))
	for k := range spec.Env.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
		env = append(env, k+"="+spec.Env.Env[k])
	}
	has := func(k string) bool {
		return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
	if !has("PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !has("HOME") {
		home := "/"
		if uid == 0 {
			home = "/root"
		}
		env = append(env, "HOME="+home)
	}
	if !has("HOSTNAME") {
		env = append(env, "HOSTNAME="+hostname(spec.Env.Name, spec.ID))
	}
	return env
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// command returns the runc or runsc command line for class.
func (r *Runtime) command(ctx context.Context, class string, args ...string) *exec.Cmd {
	if class == sandbox.ClassGVisor {
		global := []string{
			"--root", filepath.Join(r.cfg.StateDir, "runsc"),
			"--platform", r.cfg.RunscPlatform,
			"--network", r.runscNetwork(),
			// The guest dials the host's control socket through the gofer.
			"--host-uds", "open",
		}
		if d := r.cfg.RunscDebugDir; d != "" {
			global = append(global, "--debug", "--debug-log="+d+"/", "--strace")
		}
		return exec.CommandContext(ctx, r.cfg.RunscPath, append(global, args...)...)
	}
	global := []string{"--root", filepath.Join(r.cfg.StateDir, "runc")}
	return exec.CommandContext(ctx, r.cfg.RuncPath, append(global, args...)...)
}

// output runs a runtime command and returns its stdout.
func (r *Runtime) output(ctx context.Context, class string, args ...string) ([]byte, error) {
	cmd := r.command(ctx, class, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(cmd.Path), args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// containerState is the part of `runc state` we use.
type containerState struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"` // created, running, paused, stopped
}

var errNoContainer = errors.New("container does not exist")

func (r *Runtime) state(ctx context.Context, class, id string) (*containerState, error) {
	out, err := r.output(ctx, class, "state", id)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "not found") {
			return nil, errNoContainer
		}
		return nil, err
	}
	var st containerState
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("parse state of %s: %w", id, err)
	}
	return &st, nil
}

// containers lists the ids of class's containers under our state root.
// runc and runsc read the root's entries, then each one's state: a
// container deleted in between fails the whole list with "no such file or
// directory", so that failure is tried again.
func (r *Runtime) containers(ctx context.Context, class string) ([]string, error) {
	for attempt := 1; ; attempt++ {
		out, err := r.output(ctx, class, "list", "--quiet")
		if err == nil {
			return strings.Fields(string(out)), nil
		}
		if attempt == 5 || !strings.Contains(err.Error(), "no such file or directory") || ctx.Err() != nil {
			return nil, err
		}
	}
}

// Exec implements sandbox.Runtime.
func (r *Runtime) Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error) {
	if len(req.Command) == 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "command is required")
	}
	es, c, err := r.guestOf(ctx, id)
	if err != nil {
		return nil, err
	}
	max := req.MaxOutput
	if max <= 0 {
		max = r.cfg.MaxOutput
	}
	stdout := &capWriter{max: max, w: req.Stdout}
	stderr := &capWriter{max: max, w: req.Stderr}
	oomBefore, _ := es.oom.read()
	start := time.Now()
	es2, err := c.Exec(ctx, &guest.ExecRequest{
		Command:   req.Command,
		Env:       req.Env,
		Dir:       req.Dir,
		TimeoutMS: req.Timeout.Milliseconds(),
	}, req.Stdin, stdout, stderr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("exec in %s: %w", id, ctx.Err())
		}
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	res := &paddock.ExecResult{
		Stdout:    stdout.buf.String(),
		Stderr:    stderr.buf.String(),
		ExitCode:  es2.Code,
		Duration:  time.Since(start),
		TimedOut:  es2.TimedOut,
		Truncated: stdout.truncated || stderr.truncated,
	}
	if es2.Signal == int(syscall.SIGKILL) && !es2.TimedOut {
		if after, err := es.oom.read(); err == nil && after > oomBefore {
			res.OOMKilled = true
		}
	}
	return res, nil
}

// capWriter keeps the first max bytes and passes everything on to w.
type capWriter struct {
	max       int
	buf       bytes.Buffer
	truncated bool
	w         io.Writer
}

func (c *capWriter) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if len(p) > room {
		c.truncated = true
	}
	if room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	if c.w != nil {
		c.w.Write(p) // a failing caller writer must not break the exec
	}
	return len(p), nil
}
