package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

// Stop implements sandbox.Runtime.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	if !idRE.MatchString(id) {
		return nil // nothing of ours can have this id
	}
	if w := r.warm.take(id); w != nil {
		<-w.ready // not while it is being made
	}
	return r.stop(ctx, id, grace)
}

// undo removes environment id, which a create or a hand-over was making,
// if *err says it failed: nothing may be left behind. It runs deferred,
// even when ctx has ended, for at most 30 seconds; what (the environment
// as the log calls it) names a removal that fails.
func (r *Runtime) undo(ctx context.Context, id, what string, err *error) {
	if *err == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := r.stop(cctx, id, 0); serr != nil {
		r.log.Error("clean up "+what, "env_id", id, "err", serr)
	}
}

// stop is Stop without the warm pool's check, for a create cleaning up
// after itself (undo).
func (r *Runtime) stop(ctx context.Context, id string, grace time.Duration) error {
	defer r.lockOp(id)() // not while a pause or resume is changing what runs
	r.mu.Lock()
	es := r.envs[id]
	r.mu.Unlock()

	// Which runtimes know the container: the record says, but a crash
	// before the record was written leaves only the container.
	classes := []string{sandbox.ClassRunc, sandbox.ClassGVisor}
	if es != nil {
		classes = []string{es.rec.Class}
	}
	if es != nil && es.paused() == sandbox.PauseFreeze && (es.rec.Class == sandbox.ClassRunc || es.record().PausedDirect) {
		// Frozen processes cannot act on SIGTERM: thaw first (stopContainer
		// resumes a gVisor sandbox that runsc reports paused).
		if err := r.thaw(ctx, es); err != nil {
			r.log.Warn("thaw environment to stop it", "env_id", id, "err", err)
		}
	}
	var errs []error
	for _, class := range classes {
		if err := r.stopContainer(ctx, class, id, grace); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the mounts and dirs: the container may still use them, and
		// the caller retries.
		return fmt.Errorf("stop %s: %w", id, errors.Join(errs...))
	}
	if r.cfg.Network != nil {
		if err := r.cfg.Network.Teardown(ctx, id); err != nil {
			return fmt.Errorf("stop %s: tear down network: %w", id, err)
		}
	}
	if es != nil {
		es.close()
		r.mu.Lock()
		if r.envs[id] == es {
			delete(r.envs, id)
		}
		r.mu.Unlock()
	}
	dir := r.envDir(id)
	if err := unmountAll(dir); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := detachLoops(dir); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	killCgroup(r.cgroupPath(id))
	if err := removeCgroup(r.cgroupPath(id)); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stop %s: remove state: %w", id, err)
	}
	return nil
}

// stopContainer signals, kills and deletes one container, and checks the
// runtime no longer lists it (runsc has been seen to report a successful
// delete and keep the sandbox).
func (r *Runtime) stopContainer(ctx context.Context, class, id string, grace time.Duration) error {
	st, err := r.state(ctx, class, id)
	if errors.Is(err, errNoContainer) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status == "paused" {
		// Frozen processes cannot act on SIGTERM, and under cgroup v1 not
		// even die of SIGKILL, until thawed.
		if _, err := r.output(ctx, class, "resume", id); err == nil {
			st.Status = "running"
		}
	}
	if st.Status == "running" || st.Status == "created" || st.Status == "paused" {
		if grace > 0 && st.Status == "running" {
			r.output(ctx, class, "kill", "--all", id, "TERM")
			r.waitStopped(ctx, class, id, grace)
		}
		r.output(ctx, class, "kill", "--all", id, "KILL")
		r.waitStopped(ctx, class, id, 5*time.Second)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		_, lastErr = r.output(ctx, class, "delete", "--force", id)
		ids, err := r.containers(ctx, class)
		if err == nil && !slices.Contains(ids, id) {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	if lastErr == nil {
		lastErr = errors.New("still listed after delete")
	}
	return fmt.Errorf("delete %s container: %w", class, lastErr)
}

// waitStopped polls until the container is stopped or gone, up to d.
func (r *Runtime) waitStopped(ctx context.Context, class, id string, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		st, err := r.state(ctx, class, id)
		if err != nil || st.Status == "stopped" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Alive implements sandbox.Runtime.
func (r *Runtime) Alive(ctx context.Context, id string) (bool, string, error) {
	es, err := r.env(id)
	if err != nil {
		if paddock.ErrorCode(err) == paddock.ENotFound {
			return false, "missing", nil
		}
		return false, "", err
	}
	// The guest is the container's init: while its connection lives, so
	// does the container, and no runtime process (one per environment per
	// reaper tick, some 20 ms of CPU each) need say so.
	if c, _ := es.liveClient(); c != nil && es.paused() == "" {
		return true, "", nil
	}
	st, err := r.state(ctx, es.rec.Class, id)
	if es.paused() == sandbox.PauseHibernate && (errors.Is(err, errNoContainer) || err == nil && st.Status == "stopped") {
		// Hibernated: the checkpoint on disk is the environment.
		return true, "paused", nil
	}
	if errors.Is(err, errNoContainer) {
		return false, "missing", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("state of %s: %w", id, err)
	}
	switch {
	case st.Status == "paused", st.Status == "running" && es.record().PausedDirect:
		return true, "paused", nil
	case st.Status == "running":
		return true, "", nil
	}
	if n, err := readOOMKills(r.cgroupPath(id)); err == nil && n > 0 {
		return false, "oom", nil
	}
	return false, "exited", nil
}

// Stats implements sandbox.Runtime.
func (r *Runtime) Stats(ctx context.Context, id string) (*sandbox.Stats, error) {
	es, err := r.env(id)
	if err != nil {
		return nil, err
	}
	cs, err := readCgroupStats(r.cgroupPath(id))
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", id, err)
	}
	now := time.Now()
	es.mu.Lock()
	prevCPU, prevTime := es.lastCPU, es.lastTime
	es.mu.Unlock()
	if prevTime.IsZero() || now.Sub(prevTime) > time.Minute {
		// No recent sample: take a short one now.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		prevCPU, prevTime = cs.cpuNanos, now
		if cs, err = readCgroupStats(r.cgroupPath(id)); err != nil {
			return nil, fmt.Errorf("stats of %s: %w", id, err)
		}
		now = time.Now()
	}
	es.mu.Lock()
	es.lastCPU, es.lastTime = cs.cpuNanos, now
	es.mu.Unlock()
	var millis int64
	if dt := now.Sub(prevTime); dt > 0 && cs.cpuNanos >= prevCPU {
		millis = (cs.cpuNanos - prevCPU) * 1000 / dt.Nanoseconds()
	}
	return &sandbox.Stats{CPUUsage: millis, MemoryBytes: cs.memory, OOMKills: cs.oomKills}, nil
}

// List implements sandbox.Runtime.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(r.envsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list state: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			seen[e.Name()] = true
		}
	}
	for _, class := range []string{sandbox.ClassRunc, sandbox.ClassGVisor} {
		if _, err := exec.LookPath(r.binary(class)); err != nil {
			continue
		}
		ids, err := r.containers(ctx, class)
		if err != nil {
			return nil, fmt.Errorf("list %s containers: %w", class, err)
		}
		for _, id := range ids {
			seen[id] = true
		}
	}
	netIDs, err := r.networkIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range netIDs {
		seen[id] = true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		if !r.warm.holds(id) { // the pool's own; after a restart, orphans
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r *Runtime) binary(class string) string {
	if class == sandbox.ClassGVisor {
		return r.cfg.RunscPath
	}
	return r.cfg.RuncPath
}

// Info implements sandbox.Runtime.
func (r *Runtime) Info(ctx context.Context) sandbox.Info {
	info := sandbox.Info{Driver: "oci", Classes: map[string]sandbox.ClassInfo{}}
	for _, class := range []string{sandbox.ClassRunc, sandbox.ClassGVisor} {
		ci := sandbox.ClassInfo{Binary: r.binary(class)}
		out, err := r.output(ctx, class, "--version")
		if err != nil {
			ci.Error = err.Error()
		} else {
			ci.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
			ci.Working = true
		}
		info.Classes[class] = ci
	}
	return info
}

// Close implements sandbox.Runtime. Environments keep running.
func (r *Runtime) Close() error {
	if r.warm != nil {
		r.stopFill()
		<-r.fillDone
		// Warm environments are the driver's: nobody would own them.
		for _, w := range r.warm.all() {
			r.stopWarm(w)
		}
	}
	r.mu.Lock()
	r.closed = true
	envs := r.envs
	r.envs = map[string]*envState{}
	r.mu.Unlock()
	for _, es := range envs {
		es.close()
	}
	r.wg.Wait()
	if r.disks != nil {
		r.disks.close()
	}
	return nil
}

// path helpers shared with tests.
func (r *Runtime) stateDir() string { return filepath.Clean(r.cfg.StateDir) }
