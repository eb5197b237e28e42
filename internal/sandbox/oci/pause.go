package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// Pausing, in both modes:
//
//   - freeze: processes stop where they are, memory kept. Under runc the
//     driver writes the container's freezer cgroup itself, which is all
//     `runc pause` does (runc then reports the container paused), because
//     starting the runc binary costs 20-50 ms on a busy host and resume
//     latency is the point of freezing. Without a freezer cgroup it falls
//     back to `runc pause`. Under gVisor the sandbox's kernel is paused,
//     with the call `runsc pause` makes on the sandbox's control socket
//     (runsc_control.go), or with `runsc pause` when that is not served:
//     freezing the sandbox's cgroup from outside would make every later
//     runsc command (state, list, kill) hang on the frozen sandbox.
//   - hibernate (gVisor only): `runsc checkpoint` writes the sandbox's
//     kernel, processes and memory to <env>/checkpoint and kills the
//     sandbox, so it holds no memory or processes on the host. The overlay
//     and its disk image stay mounted: the files are where the restored
//     processes left them. `runsc restore` starts a new sandbox from the
//     image under the same id and bundle.
//
// gVisor cannot save a unix socket connected to the host, which the
// guest's control connection is. So hibernate first closes the control
// listener and the session: the guest sees the connection end and keeps
// redialing a socket nobody listens on, holding no host socket. Resume
// listens again and the restored guest dials back within its backoff
// (at most 500 ms).
//
// The mode is kept in state.json (record.Paused) so a new Runtime after a
// restart knows a hibernated environment, which has no container at all,
// is not dead.

// checkpointDir is where a hibernated environment's image lives. It is in
// the environment's dir, so Stop removes it with everything else.
func (r *Runtime) checkpointDir(id string) string {
	return filepath.Join(r.envDir(id), "checkpoint")
}

// opLock serializes the operations that change what runs for one
// environment (Pause, Resume, Stop). It is keyed by id rather than held in
// the envState because hibernating replaces the envState.
type opLock struct {
	mu   sync.Mutex
	refs int
}

// lockOp locks id's operations and returns the unlock.
func (r *Runtime) lockOp(id string) (unlock func()) {
	r.mu.Lock()
	if r.ops == nil {
		r.ops = map[string]*opLock{}
	}
	l := r.ops[id]
	if l == nil {
		l = &opLock{}
		r.ops[id] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.ops, id)
		}
		r.mu.Unlock()
	}
}

// paused returns how es is paused, "" when it is not.
func (es *envState) paused() sandbox.PauseMode {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.rec.Paused
}

// setPaused records mode in memory and in state.json.
func (es *envState) setPaused(mode sandbox.PauseMode) error {
	return es.setRecord(func(rec *record) { rec.Paused = mode })
}

// setRecord changes es's record in memory and in state.json.
func (es *envState) setRecord(change func(*record)) error {
	es.mu.Lock()
	change(&es.rec)
	rec := es.rec
	es.mu.Unlock()
	return writeJSON(filepath.Join(es.dir, "state.json"), rec)
}

// record returns a copy of es's record.
func (es *envState) record() record {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.rec
}

// active returns EConflict when es is paused: nothing in a paused
// environment answers, so a request to its guest would hang until it
// resumes. Everything that talks to the guest checks it first.
func (es *envState) active() error {
	if es.paused() != "" {
		return paddock.Errorf(paddock.EConflict, "environment %s is paused", es.rec.ID)
	}
	return nil
}

// Hibernation reports why gVisor environments cannot be hibernated on
// this node, nil when they can (sandbox.Hibernator). runsc cannot
// checkpoint a sandbox on the host network stack, which is what its
// environments use when they have a network (see runscNetwork).
func (r *Runtime) Hibernation() error {
	if r.runscNetwork() == "host" {
		return paddock.Errorf(paddock.EInvalid, "hibernate is not available on this node: its gVisor environments use the network stack of their namespace (runsc --network=host), which runsc cannot checkpoint; pause with freeze instead")
	}
	return nil
}

// Pause implements sandbox.Runtime. mode "" is PauseFreeze. The container
// must be running: EConflict otherwise, and EInvalid for PauseHibernate
// on a runc environment. A failed or cancelled checkpoint leaves the
// environment running.
func (r *Runtime) Pause(ctx context.Context, id string, mode sandbox.PauseMode) error {
	if mode == "" {
		mode = sandbox.PauseFreeze
	}
	if !mode.Valid() {
		return paddock.Errorf(paddock.EInvalid, "pause mode %q is not valid; valid: freeze, hibernate", mode)
	}
	defer r.lockOp(id)()
	es, err := r.env(id)
	if err != nil {
		return err
	}
	class := es.rec.Class
	if mode == sandbox.PauseHibernate {
		if class != sandbox.ClassGVisor {
			return paddock.Errorf(paddock.EInvalid, "hibernate needs runtime_class gvisor")
		}
		if err := r.Hibernation(); err != nil {
			return err
		}
	}
	if p := es.paused(); p != "" {
		return paddock.Errorf(paddock.EConflict, "environment %s is already paused (%s)", id, p)
	}
	// A guest that answers runs, so its container is running and not
	// frozen: asking it costs a round trip on its connection, asking
	// runc or runsc starts a program (under gVisor, 50 ms or more).
	status := "running"
	if !es.answers(ctx, answerWait) {
		st, err := r.state(ctx, class, id)
		if errors.Is(err, errNoContainer) {
			return paddock.Errorf(paddock.EConflict, "environment %s is not running", id)
		}
		if err != nil {
			return fmt.Errorf("pause %s: %w", id, err)
		}
		status = st.Status
	}
	switch status {
	case "running":
	case "paused":
		// Paused by a Runtime that died before it could record it.
		if err := es.setPaused(sandbox.PauseFreeze); err != nil {
			return fmt.Errorf("pause %s: %w", id, err)
		}
		return paddock.Errorf(paddock.EConflict, "environment %s is already paused (freeze)", id)
	default:
		return paddock.Errorf(paddock.EConflict, "environment %s is not running (container %s)", id, status)
	}
	if mode == sandbox.PauseHibernate {
		return r.hibernate(ctx, es)
	}
	// Record first: a crash between the two leaves a record saying
	// frozen, which Resume and Stop handle whatever the cgroup (or the
	// gVisor kernel) says; the other order would leave frozen processes
	// nobody knows about.
	if err := es.setRecord(func(rec *record) { rec.Paused, rec.PausedDirect = mode, class == sandbox.ClassGVisor }); err != nil {
		return fmt.Errorf("pause %s: %w", id, err)
	}
	if err := r.freeze(ctx, es); err != nil {
		if uerr := es.setRecord(func(rec *record) { rec.Paused, rec.PausedDirect = "", false }); uerr != nil {
			r.log.Error("record failed pause", "env_id", id, "err", uerr)
		}
		return fmt.Errorf("pause %s: %w", id, err)
	}
	return nil
}

// freeze stops every process of the container.
func (r *Runtime) freeze(ctx context.Context, es *envState) error {
	class, id := es.rec.Class, es.rec.ID
	switch class {
	case sandbox.ClassRunc:
		err := setFrozen(ctx, r.cgroupPath(id), true)
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	case sandbox.ClassGVisor:
		err := runscControl(ctx, id, "Lifecycle.Pause")
		if err == nil {
			es.mu.Lock()
			es.pausedHere = true
			es.mu.Unlock()
			return nil
		}
		if !errors.Is(err, errNoControl) {
			return err
		}
		if err := es.setRecord(func(rec *record) { rec.PausedDirect = false }); err != nil {
			return err
		}
	}
	_, err := r.output(ctx, class, "pause", id)
	return err
}

// thaw resumes a frozen container. One already running (a crash after it
// was thawed, before the record said so) is fine.
func (r *Runtime) thaw(ctx context.Context, es *envState) error {
	class, id := es.rec.Class, es.rec.ID
	if class == sandbox.ClassRunc {
		err := setFrozen(ctx, r.cgroupPath(id), false)
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if es.record().PausedDirect {
		return r.thawGVisor(ctx, es)
	}
	_, err := r.output(ctx, class, "resume", id)
	if err != nil {
		if st, serr := r.state(ctx, class, id); serr == nil && st.Status == "running" {
			return nil
		}
	}
	return err
}

// pausedCheck bounds how long thawGVisor waits for the guest of a sandbox
// it did not pause itself to show that its kernel runs.
var pausedCheck = 5 * time.Second

// thawGVisor resumes a gVisor kernel paused over the control socket. A
// resume the kernel was not paused for ends the sandbox, so when the pause
// was not made by this Runtime (Paddock restarted, perhaps having died
// between recording the pause and making it), the guest is asked first:
// one that connects and answers within pausedCheck runs, and is left so.
func (r *Runtime) thawGVisor(ctx context.Context, es *envState) error {
	es.mu.Lock()
	here := es.pausedHere
	es.mu.Unlock()
	if !here {
		if es.answers(ctx, pausedCheck) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := runscControl(ctx, es.rec.ID, "Lifecycle.Resume"); err != nil {
		return err
	}
	es.mu.Lock()
	es.pausedHere = false
	es.mu.Unlock()
	return nil
}

// answerWait bounds how long Pause waits for a guest to answer before it
// asks the runtime how the container is: one that runs answers within a
// millisecond or two.
const answerWait = 100 * time.Millisecond

// answers reports whether es's guest is connected, or connects, and
// answers a ping within wait. A guest that answers runs: its container is
// neither frozen nor gone.
func (es *envState) answers(ctx context.Context, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := es.waitClient(ctx)
	if err == nil {
		_, err = c.Ping(ctx)
	}
	return err == nil
}

// setFrozen freezes or thaws cgroup path p and waits until every process
// in it is frozen (a process inside a system call freezes once it
// returns). A freeze that does not complete within 10 s is undone.
func setFrozen(ctx context.Context, p string, frozen bool) error {
	file, want, done := cgroupFile(p, "freezer", "freezer.state"), "THAWED", "THAWED"
	if frozen {
		want, done = "FROZEN", "FROZEN"
	}
	if cgroupV2() {
		file, want, done = cgroupFile(p, "", "cgroup.freeze"), "0", "frozen 0"
		if frozen {
			want, done = "1", "frozen 1"
		}
	}
	// O_WRONLY without O_CREATE: a missing cgroup is ErrNotExist.
	write := func(v string) error {
		f, err := os.OpenFile(file, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(v)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := write(want); err != nil {
		return fmt.Errorf("freezer: %w", err)
	}
	check := file
	if cgroupV2() {
		check = cgroupFile(p, "", "cgroup.events")
	}
	deadline := time.Now().Add(10 * time.Second)
	for delay := 50 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		b, err := os.ReadFile(check)
		if err != nil {
			return fmt.Errorf("freezer: %w", err)
		}
		if strings.Contains(string(b), done) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if frozen {
				if cgroupV2() {
					write("0")
				} else {
					write("THAWED")
				}
			}
			return fmt.Errorf("freezer: %s still %q", p, strings.TrimSpace(string(b)))
		}
		time.Sleep(delay)
	}
}

// hibernate checkpoints es's sandbox to disk and removes the stopped
// container, which `runsc restore` recreates under the same id. On error
// the sandbox keeps running and the guest is let back in.
func (r *Runtime) hibernate(ctx context.Context, es *envState) (err error) {
	id := es.rec.ID
	image := r.checkpointDir(id)
	if err := os.RemoveAll(image); err != nil {
		return fmt.Errorf("hibernate %s: remove old checkpoint: %w", id, err)
	}
	if err := os.Mkdir(image, 0o700); err != nil {
		return fmt.Errorf("hibernate %s: create checkpoint dir: %w", id, err)
	}
	// Record first: from the moment the guest is shut out, Exec must say
	// "paused" rather than wait for a guest that cannot come back.
	if err := es.setPaused(sandbox.PauseHibernate); err != nil {
		return fmt.Errorf("hibernate %s: %w", id, err)
	}
	es.close()
	defer func() {
		if err != nil {
			os.RemoveAll(image)
			rec := es.record()
			rec.Paused = ""
			if werr := writeJSON(filepath.Join(es.dir, "state.json"), rec); werr != nil {
				r.log.Error("record failed hibernate", "env_id", id, "err", werr)
			}
			if aerr := r.attach(rec); aerr != nil {
				r.log.Error("reopen control socket after failed hibernate", "env_id", id, "err", aerr)
			}
		}
	}()
	// The guest drops its end as soon as it reads the end of the session;
	// a checkpoint racing it fails on the still-connected socket and
	// leaves the sandbox running, so try again a few times.
	var cerr error
	for attempt := range 6 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("hibernate %s: %w", id, ctx.Err())
		case <-time.After(time.Duration(attempt*attempt*20+10) * time.Millisecond):
		}
		_, cerr = r.output(ctx, sandbox.ClassGVisor, "checkpoint", "--image-path", image, id)
		if cerr == nil {
			break
		}
		if !strings.Contains(cerr.Error(), "connectionedEndpoint") {
			break // not the guest's socket: retrying will not help
		}
	}
	if cerr != nil {
		return fmt.Errorf("hibernate %s: %w", id, cerr)
	}
	if _, err := r.output(context.WithoutCancel(ctx), sandbox.ClassGVisor, "delete", "--force", id); err != nil {
		// Checkpointed and recorded: Resume deletes leftovers before it
		// restores, so this is not fatal.
		r.log.Warn("delete checkpointed container", "env_id", id, "err", err)
	}
	return nil
}

// Resume implements sandbox.Runtime. It returns once the guest answers;
// EUnavailable if it does not within StartTimeout (the processes run
// regardless). An environment that is not paused is EConflict. A failed
// restore keeps the checkpoint, so Resume can be retried.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	unlock := r.lockOp(id)
	es, err := r.env(id)
	if err != nil {
		unlock()
		return err
	}
	mode := es.paused()
	switch mode {
	case "":
		unlock()
		return paddock.Errorf(paddock.EConflict, "environment %s is not paused", id)
	case sandbox.PauseHibernate:
		es, err = r.restore(ctx, es)
	default:
		err = r.thaw(ctx, es)
	}
	if err == nil {
		err = es.setRecord(func(rec *record) { rec.Paused, rec.PausedDirect = "", false })
	}
	unlock()
	if err != nil {
		return fmt.Errorf("resume %s: %w", id, err)
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	c, err := es.waitClient(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return paddock.Errorf(paddock.EUnavailable, "environment %s: guest did not reconnect after resume", id)
	}
	if _, err := c.Ping(wctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return paddock.Errorf(paddock.EUnavailable, "environment %s: guest did not answer after resume", id)
	}
	return nil
}

// restore starts es's sandbox again from its checkpoint, on a fresh
// control listener (which replaces es: the returned envState is the live
// one), and removes the image, which is as large as the sandbox's memory.
func (r *Runtime) restore(ctx context.Context, es *envState) (*envState, error) {
	id := es.rec.ID
	image := r.checkpointDir(id)
	if _, err := os.Stat(filepath.Join(image, "checkpoint.img")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, paddock.Errorf(paddock.EConflict, "environment %s has no checkpoint to restore", id)
		}
		return nil, err
	}
	st, err := r.state(ctx, sandbox.ClassGVisor, id)
	switch {
	case err == nil && st.Status == "running":
		return es, nil // restored by a Runtime that died before recording it
	case err == nil:
		// A stopped container left by an interrupted hibernate or restore
		// holds the id.
		if _, err := r.output(ctx, sandbox.ClassGVisor, "delete", "--force", id); err != nil {
			return nil, err
		}
	case !errors.Is(err, errNoContainer):
		return nil, err
	}
	if err := r.attach(es.record()); err != nil {
		return nil, err
	}
	if es, err = r.env(id); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(filepath.Join(es.dir, "guest.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open guest output: %w", err)
	}
	defer out.Close()
	cmd := r.command(ctx, sandbox.ClassGVisor, "restore", "--image-path", image,
		"--bundle", filepath.Join(es.dir, "bundle"), "--detach", id)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		// Keep the image: it is the only copy of the environment.
		r.output(context.WithoutCancel(ctx), sandbox.ClassGVisor, "delete", "--force", id)
		return nil, fmt.Errorf("runsc restore: %w%s", err, r.guestOutput(es.dir))
	}
	if err := os.RemoveAll(image); err != nil {
		r.log.Warn("remove checkpoint image", "env_id", id, "err", err)
	}
	return es, nil
}
