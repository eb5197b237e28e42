package sandbox

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// envLock serializes the Manager's status changes of one environment that
// involve the runtime (pause, resume, extend, delete, the reaper's expiry),
// so a slow hibernate cannot have its "paused" overwrite a concurrent
// delete's "terminating", or the other way round.
type envLock struct {
	mu   sync.Mutex
	refs int
}

// lockEnv locks id and returns the unlock.
func (m *Manager) lockEnv(id string) (unlock func()) {
	l := m.envLock(id)
	l.mu.Lock()
	return func() { l.mu.Unlock(); m.releaseEnvLock(id, l) }
}

// tryLockEnv locks id if nobody holds it: the reaper skips an environment
// that is being paused or resumed and looks again at its next tick.
func (m *Manager) tryLockEnv(id string) (unlock func(), ok bool) {
	l := m.envLock(id)
	if !l.mu.TryLock() {
		m.releaseEnvLock(id, l)
		return nil, false
	}
	return func() { l.mu.Unlock(); m.releaseEnvLock(id, l) }, true
}

func (m *Manager) envLock(id string) *envLock {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]*envLock{}
	}
	l := m.locks[id]
	if l == nil {
		l = &envLock{}
		m.locks[id] = l
	}
	l.refs++
	return l
}

func (m *Manager) releaseEnvLock(id string, l *envLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(m.locks, id)
	}
}

// Pause suspends a running environment and records it paused: mode ""
// or PauseFreeze keeps its memory, PauseHibernate saves it to disk and
// frees it (runtime_class gvisor only, else EInvalid). An environment that
// is not running is EConflict naming its status. With PauseStopsClock the
// lifetime left is kept and ExpiresAt cleared until Resume. The pause
// finishes even if ctx is cancelled.
func (m *Manager) Pause(ctx context.Context, id string, mode PauseMode) error {
	if mode == "" {
		mode = PauseFreeze
	}
	if !mode.Valid() {
		return paddock.Errorf(paddock.EInvalid, "pause mode %q is not valid; valid: freeze, hibernate", mode)
	}
	defer m.lockEnv(id)()
	env, err := m.running(ctx, id)
	if err != nil {
		return err
	}
	if mode == PauseHibernate && env.Isolation.RuntimeClass != ClassGVisor {
		return paddock.Errorf(paddock.EInvalid, "hibernate needs runtime_class gvisor")
	}
	return m.pause(ctx, env, mode, false)
}

// pause pauses env on the runtime and records it. expired says the
// reaper does it because the lifetime ended: the clock then stops for
// good (ExpiresAt cleared, nothing remaining) and Resume starts a fresh
// lifetime. The caller holds env's lock.
func (m *Manager) pause(ctx context.Context, env *paddock.Environment, mode PauseMode, expired bool) error {
	// A pause done on the runtime must be recorded, whoever hangs up.
	ctx = context.WithoutCancel(ctx)
	start := m.now()
	if err := m.rt.Pause(ctx, env.ID, mode); err != nil {
		return fmt.Errorf("pause environment %s: %w", env.ID, err)
	}
	paused := paddock.EnvironmentPaused
	upd := paddock.EnvironmentUpdate{Status: &paused}
	switch {
	case expired:
		upd.ExpiresAt, upd.PausedRemaining = &time.Time{}, new(int)
	case m.cfg.PauseStopsClock && env.ExpiresAt != nil:
		// Round up: an environment paused with 0.2 s left must not be
		// resumed into an already expired lifetime.
		left := max(1, int(math.Ceil(env.ExpiresAt.Sub(m.now()).Seconds())))
		upd.ExpiresAt, upd.PausedRemaining = &time.Time{}, &left
	}
	if _, err := m.envs.UpdateEnvironment(ctx, env.ID, upd); err != nil {
		// Paused but recorded running: every exec would hang. Undo.
		if rerr := m.rt.Resume(ctx, env.ID); rerr != nil {
			m.log.Error("resume environment after failed pause", "env_id", env.ID, "err", rerr)
		}
		return fmt.Errorf("pause environment %s: %w", env.ID, err)
	}
	m.log.Info("environment paused", "env_id", env.ID, "mode", string(mode), "duration", m.now().Sub(start))
	m.appendLog(env.ID, "system", "environment paused ("+string(mode)+")")
	return nil
}

// Resume continues a paused environment and records it running; it
// returns once the environment answers. One that is not paused is
// EConflict naming its status. The lifetime goes on from what was left
// when the clock was stopped (PauseStopsClock), or anew from Timeout when
// the pause was the end of the lifetime (on_timeout); otherwise ExpiresAt
// is unchanged. The resume finishes even if ctx is cancelled.
func (m *Manager) Resume(ctx context.Context, id string) error {
	defer m.lockEnv(id)()
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return err
	}
	if env.Status != paddock.EnvironmentPaused {
		return paddock.Errorf(paddock.EConflict, "environment %s is %s", id, env.Status)
	}
	ctx = context.WithoutCancel(ctx)
	rerr := m.rt.Resume(ctx, id)
	if rerr != nil {
		// The processes may run even though the guest did not answer
		// (EUnavailable); only a still paused environment stays paused.
		if alive, why, err := m.rt.Alive(ctx, id); err != nil || !alive || why == "paused" {
			return fmt.Errorf("resume environment %s: %w", id, rerr)
		}
	}
	running := paddock.EnvironmentRunning
	upd := paddock.EnvironmentUpdate{Status: &running}
	if ep := m.endpoint(ctx, id); ep != "" { // a hibernated environment may come back elsewhere
		upd.Endpoint = &ep
	}
	now := m.now().UTC()
	switch {
	case env.PausedRemaining > 0:
		expires := expiry(now, env.PausedRemaining)
		upd.ExpiresAt, upd.PausedRemaining = &expires, new(int)
	case env.ExpiresAt == nil:
		expires := expiry(now, env.Timeout)
		upd.ExpiresAt = &expires
	}
	if _, err := m.envs.UpdateEnvironment(ctx, id, upd); err != nil {
		// Running but recorded paused: pausing again keeps the two in step.
		if perr := m.rt.Pause(ctx, id, PauseFreeze); perr != nil {
			m.log.Error("pause environment after failed resume", "env_id", id, "err", perr)
		}
		return fmt.Errorf("resume environment %s: %w", id, err)
	}
	m.appendLog(id, "system", "environment resumed")
	if rerr != nil {
		return fmt.Errorf("resume environment %s: %w", id, rerr)
	}
	return nil
}

// Extend sets a running or paused environment's lifetime to timeout
// seconds from now and returns the environment. Timeout must be positive
// and at most paddock.MaxTimeout (EInvalid); an environment in any other
// status is EConflict. While paused with PauseStopsClock the new lifetime
// starts at resume.
func (m *Manager) Extend(ctx context.Context, id string, timeout int) (*paddock.Environment, error) {
	if timeout <= 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "timeout must be positive")
	}
	if timeout > paddock.MaxTimeout {
		return nil, paddock.Errorf(paddock.EInvalid, "timeout must be at most %d seconds (30 days), not %d", paddock.MaxTimeout, timeout)
	}
	defer m.lockEnv(id)()
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return nil, err
	}
	if env.Status != paddock.EnvironmentRunning && env.Status != paddock.EnvironmentPaused {
		return nil, paddock.Errorf(paddock.EConflict, "environment %s is %s", id, env.Status)
	}
	upd := paddock.EnvironmentUpdate{Timeout: &timeout}
	if env.Status == paddock.EnvironmentPaused && m.cfg.PauseStopsClock {
		upd.ExpiresAt, upd.PausedRemaining = &time.Time{}, &timeout
	} else {
		expires := expiry(m.now().UTC(), timeout)
		upd.ExpiresAt = &expires
	}
	env, err = m.envs.UpdateEnvironment(ctx, id, upd)
	if err != nil {
		return nil, fmt.Errorf("extend environment %s: %w", id, err)
	}
	return env, nil
}

// expire performs env's on_timeout once its lifetime has passed. The
// caller holds env's lock.
func (m *Manager) expire(ctx context.Context, env *paddock.Environment) {
	mode := PauseMode("")
	switch env.OnTimeout {
	case paddock.OnTimeoutPause:
		mode = PauseFreeze
	case paddock.OnTimeoutHibernate:
		mode = PauseHibernate
	}
	if mode != "" && env.Status == paddock.EnvironmentPaused {
		// Paused already (the clock ran on): stop the clock so the reaper
		// leaves it alone.
		if _, err := m.envs.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{ExpiresAt: &time.Time{}}); err != nil {
			m.log.Error("clear expiry of paused environment", "env_id", env.ID, "err", err)
		}
		return
	}
	reason := fmt.Sprintf("expired: timeout of %ds reached", env.Timeout)
	if mode != "" {
		m.log.Info("environment expired; pausing it", "env_id", env.ID, "mode", string(mode))
		err := m.pause(ctx, env, mode, true)
		if err == nil {
			return
		}
		// The lifetime bounds what an environment may hold; one that
		// cannot be paused is ended rather than left running.
		m.log.Error("pause expired environment; deleting it", "env_id", env.ID, "err", err)
		reason += "; on_timeout " + env.OnTimeout + " failed: " + paddock.ErrorMessage(err)
	} else {
		m.log.Info("environment expired", "env_id", env.ID)
	}
	terminating := paddock.EnvironmentTerminating
	if _, err := m.envs.UpdateEnvironment(ctx, env.ID, paddock.EnvironmentUpdate{Status: &terminating}); err != nil {
		m.log.Error("mark expired environment", "env_id", env.ID, "err", err)
		return
	}
	m.goStop(env.ID, m.cfg.StopGrace, reason)
}

// goExpire runs expire in an owned goroutine: a hibernate takes seconds,
// which must not hold up the reaper's other environments. The env lock,
// held until expire is done, keeps the next ticks off it meanwhile.
func (m *Manager) goExpire(env *paddock.Environment, unlock func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer unlock()
		m.expire(m.ctx, env)
	}()
}

// reconcilePaused records what the runtime says when a restart cut a
// pause or resume short between the runtime and the store: the runtime's
// state is the truth, and a status that disagrees with it would make exec
// hang (running but paused) or refuse a live environment (paused but
// running).
func (m *Manager) reconcilePaused(ctx context.Context, env *paddock.Environment, paused bool) {
	status := env.Status
	switch {
	case paused && env.Status == paddock.EnvironmentRunning:
		status = paddock.EnvironmentPaused
	case !paused && env.Status == paddock.EnvironmentPaused:
		status = paddock.EnvironmentRunning
	default:
		return
	}
	m.log.Warn("environment's pause state changed while Paddock was down", "env_id", env.ID, "status", string(status))
	upd := paddock.EnvironmentUpdate{Status: &status}
	if status == paddock.EnvironmentRunning && env.ExpiresAt == nil {
		left := env.PausedRemaining
		if left <= 0 {
			left = env.Timeout
		}
		expires := expiry(m.now().UTC(), left)
		upd.ExpiresAt, upd.PausedRemaining = &expires, new(int)
	}
	if _, err := m.envs.UpdateEnvironment(ctx, env.ID, upd); err != nil {
		m.log.Error("record environment's pause state", "env_id", env.ID, "err", err)
	}
}
