package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox"
)

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if paddock.ErrorCode(err) != code || !strings.Contains(paddock.ErrorMessage(err), msg) {
		t.Fatalf("got %v, want %s %q", err, code, msg)
	}
}

func TestManagerPause(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	env := f.create(t, &paddock.Environment{Name: "pause"})
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)

	wantErr(t, f.m.Pause(ctx, env.ID, sandbox.PauseHibernate), paddock.EInvalid, "hibernate needs runtime_class gvisor")
	wantErr(t, f.m.Pause(ctx, env.ID, "nap"), paddock.EInvalid, "not valid")
	wantErr(t, f.m.Pause(ctx, "env-nope", ""), paddock.ENotFound, "")
	wantErr(t, f.m.Resume(ctx, env.ID), paddock.EConflict, "environment "+env.ID+" is running")
	if err := f.m.Pause(ctx, env.ID, ""); err != nil {
		t.Fatal(err)
	}
	got := f.waitStatus(t, env.ID, paddock.EnvironmentPaused)
	if got.ExpiresAt == nil || got.PausedRemaining != 0 {
		t.Fatalf("the clock runs on by default: %+v", got)
	}
	_, err := f.m.Exec(ctx, env.ID, &paddock.ExecRequest{Command: []string{"true"}})
	wantErr(t, err, paddock.EConflict, "environment "+env.ID+" is paused")
	wantErr(t, f.m.Pause(ctx, env.ID, ""), paddock.EConflict, "environment "+env.ID+" is paused")
	_, _, err = f.m.Metrics(ctx, env.ID)
	wantErr(t, err, paddock.EConflict, "is paused")

	// Extend works while paused; a restart keeps the environment paused.
	ext, err := f.m.Extend(ctx, env.ID, 120)
	if err != nil || ext.Timeout != 120 || ext.ExpiresAt == nil || time.Until(*ext.ExpiresAt) < 115*time.Second {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	_, err = f.m.Extend(ctx, env.ID, 0)
	wantErr(t, err, paddock.EInvalid, "timeout must be positive")
	// A lifetime that would overflow time.Duration is refused, not turned
	// into an expiry in the past; the longest allowed is 30 days.
	_, err = f.m.Extend(ctx, env.ID, 10000000000)
	wantErr(t, err, paddock.EInvalid, "at most 2592000 seconds")
	ext, err = f.m.Extend(ctx, env.ID, paddock.MaxTimeout)
	if err != nil || ext.ExpiresAt == nil || time.Until(*ext.ExpiresAt) < 30*24*time.Hour-time.Minute {
		t.Fatalf("extend by 30 days: %+v %v", ext, err)
	}
	f.stopManager()
	f.start(t)
	for range 5 { // a few reaper ticks
		time.Sleep(f.cfg.ReapInterval)
	}
	f.waitStatus(t, env.ID, paddock.EnvironmentPaused)

	if err := f.m.Resume(ctx, env.ID); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	res, err := f.m.Exec(ctx, env.ID, &paddock.ExecRequest{Command: []string{"echo", "back"}})
	if err != nil || res.Stdout != "back\n" {
		t.Fatalf("exec after resume: %+v %v", res, err)
	}
	wantErr(t, f.m.Resume(ctx, env.ID), paddock.EConflict, "is running")

	// Deleting a paused environment stops it.
	if err := f.m.Pause(ctx, env.ID, sandbox.PauseFreeze); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Delete(ctx, env.ID, false); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, env.ID, paddock.EnvironmentTerminated)
	wantErr(t, f.m.Pause(ctx, env.ID, ""), paddock.EConflict, "is terminated")
	_, err = f.m.Extend(ctx, env.ID, 10)
	wantErr(t, err, paddock.EConflict, "is terminated")
}

func TestManagerOnTimeout(t *testing.T) {
	f := newFixture(t, sandbox.Config{})
	ctx := context.Background()
	env := &paddock.Environment{Image: "x", Timeout: 1, OnTimeout: "sleep"}
	wantErr(t, f.m.Create(ctx, env), paddock.EInvalid, "on_timeout")
	wantErr(t, f.m.Create(ctx, &paddock.Environment{Image: "x", OnTimeout: paddock.OnTimeoutHibernate}), paddock.EInvalid, "on_timeout hibernate needs runtime_class gvisor")

	pausing := f.create(t, &paddock.Environment{Timeout: 1, OnTimeout: paddock.OnTimeoutPause})
	// The default keeps the clock running while paused: paused before its
	// 2 s lifetime ends, it is still deleted when it does.
	deleting := f.create(t, &paddock.Environment{Timeout: 2})
	f.waitStatus(t, deleting.ID, paddock.EnvironmentRunning)
	if err := f.m.Pause(ctx, deleting.ID, ""); err != nil {
		t.Fatal(err)
	}

	got := f.waitStatus(t, pausing.ID, paddock.EnvironmentPaused)
	if got.ExpiresAt != nil {
		t.Fatalf("paused by on_timeout but still expires at %v", got.ExpiresAt)
	}
	got = f.waitStatus(t, deleting.ID, paddock.EnvironmentTerminated)
	if !strings.Contains(got.Reason, "expired") {
		t.Fatalf("reason %q", got.Reason)
	}
	if got, _ := f.store.Environment(ctx, pausing.ID); got.Status != paddock.EnvironmentPaused {
		t.Fatalf("on_timeout pause: %s (%s)", got.Status, got.Reason)
	}
	// Resuming after on_timeout starts a fresh lifetime.
	if _, err := f.m.Extend(ctx, pausing.ID, 600); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Resume(ctx, pausing.ID); err != nil {
		t.Fatal(err)
	}
	got = f.waitStatus(t, pausing.ID, paddock.EnvironmentRunning)
	if got.ExpiresAt == nil || time.Until(*got.ExpiresAt) < 590*time.Second {
		t.Fatalf("after resume: %+v", got)
	}
}

func TestManagerPauseStopsClock(t *testing.T) {
	f := newFixture(t, sandbox.Config{PauseStopsClock: true})
	ctx := context.Background()
	env := f.create(t, &paddock.Environment{Timeout: 2})
	f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	if err := f.m.Pause(ctx, env.ID, ""); err != nil {
		t.Fatal(err)
	}
	got := f.waitStatus(t, env.ID, paddock.EnvironmentPaused)
	if got.ExpiresAt != nil || got.PausedRemaining < 1 || got.PausedRemaining > 2 {
		t.Fatalf("paused: expires %v remaining %d", got.ExpiresAt, got.PausedRemaining)
	}
	// Longer than the lifetime: a stopped clock does not run out.
	time.Sleep(2500 * time.Millisecond)
	got = f.waitStatus(t, env.ID, paddock.EnvironmentPaused)
	remaining := got.PausedRemaining
	if err := f.m.Resume(ctx, env.ID); err != nil {
		t.Fatal(err)
	}
	got = f.waitStatus(t, env.ID, paddock.EnvironmentRunning)
	if got.ExpiresAt == nil || got.PausedRemaining != 0 || time.Until(*got.ExpiresAt) > time.Duration(remaining)*time.Second {
		t.Fatalf("resumed: expires %v remaining %d", got.ExpiresAt, got.PausedRemaining)
	}
	f.waitStatus(t, env.ID, paddock.EnvironmentTerminated)
}
