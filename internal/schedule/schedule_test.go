package schedule

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

func TestNext(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)
	for _, c := range []struct {
		spec, tz string
		want     time.Time
		err      bool
	}{
		{"* * * * *", "", time.Date(2026, 11, 22, 10, 31, 0, 0, time.UTC), false},
		{"0 9 * * *", "Europe/Paris", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), false}, // 09:00 CET
		{"@every 90s", "", at.Add(90 * time.Second), false},
		{"@daily", "America/New_York", time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC), false},
		{"0 0 30 2 *", "", time.Time{}, true}, // never
		{"61 * * * *", "", time.Time{}, true},
		{"* * * *", "", time.Time{}, true},
		{"* * * * *", "Mars/Olympus", time.Time{}, true},
		{"CRON_TZ=UTC * * * * *", "", time.Time{}, true},
		{"@every 1m", "", at.Add(time.Minute), false},
		// Intervals under MinInterval: the cron library would run them every second.
		{"@every 0s", "", time.Time{}, true},
		{"@every -1h", "", time.Time{}, true},
		{"@every 1ms", "", time.Time{}, true},
		{"@every 59s", "", time.Time{}, true},
	} {
		got, err := Next(c.spec, c.tz, at)
		if c.err {
			if paddock.ErrorCode(err) != paddock.EInvalid {
				t.Errorf("%q %q: %v %v, want an EInvalid error", c.spec, c.tz, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q %q: %v %v, want %v", c.spec, c.tz, got, err, c.want)
		}
	}
	if _, err := Next("@every 0s", "", at); !strings.Contains(paddock.ErrorMessage(err), "must be at least 1m, not 0s") {
		t.Errorf("@every 0s: %v", err)
	}
}

type fakeRunner struct {
	mu    sync.Mutex
	posts []string // session ids
	runs  atomic.Int64
}

func (f *fakeRunner) Post(ctx context.Context, sessionID string, msg *paddock.Message, key, hash string) (*paddock.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, sessionID)
	return &paddock.Message{RunID: "run_" + key}, nil
}

type fakeRuns struct{ status paddock.RunStatus }

func (f fakeRuns) Run(ctx context.Context, id string) (*paddock.Run, error) {
	return &paddock.Run{ID: id, Status: f.status, Error: "boom"}, nil
}

func fixture(t *testing.T) (*store.ScheduleService, *paddock.Agent, Deps) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "paddock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := &paddock.Agent{OwnerID: 1, Name: "reporter"}
	if err := store.NewAgentService(db).CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	scheds := store.NewScheduleService(db)
	return scheds, a, Deps{Schedules: scheds, Agents: store.NewAgentService(db), Sessions: store.NewSessionService(db),
		Runs: fakeRuns{paddock.RunCompleted}}
}

// A tick missed while nothing ran runs once, then the schedule continues
// from now; of two schedulers racing for it, one runs it.
func TestMissedTickRunsOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	scheds, a, d := fixture(t)
	ctx := context.Background()
	past := time.Now().Add(-3 * time.Hour) // three hourly ticks were missed
	sc := &paddock.Schedule{OwnerID: 1, Name: "hourly", Cron: "@hourly", AgentID: a.ID, Prompt: "go",
		SessionMode: paddock.ScheduleFixedSession, Enabled: true, NextRunAt: &past}
	if err := scheds.CreateSchedule(ctx, sc); err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{}
	d.Runner = r
	var wg sync.WaitGroup
	for range 4 {
		s := New(d, 0)
		wg.Go(func() { s.fireDue(ctx) })
	}
	wg.Wait()
	if len(r.posts) != 1 {
		t.Fatalf("%d runs, want 1", len(r.posts))
	}
	got, err := scheds.Schedule(ctx, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NextRunAt.After(time.Now()) || got.LastRunAt == nil || got.LastRunAt.Sub(past).Abs() > time.Millisecond {
		t.Errorf("next %v, last %v", got.NextRunAt, got.LastRunAt)
	}
	if got.SessionID == "" || got.SessionID != r.posts[0] {
		t.Errorf("fixed session %q, posted to %v", got.SessionID, r.posts)
	}
	// A second (manual) run uses the same fixed session; settle records ends.
	s := New(d, 0)
	if _, err := s.Fire(ctx, got, paddock.TriggerManual, nil); err != nil {
		t.Fatal(err)
	}
	if r.posts[1] != got.SessionID {
		t.Errorf("second run in session %s, want %s", r.posts[1], got.SessionID)
	}
	s.settle(ctx)
	runs, total, err := scheds.ScheduleRuns(ctx, sc.ID, 0, 10)
	if err != nil || total != 2 {
		t.Fatalf("runs %d %v", total, err)
	}
	for _, run := range runs {
		if run.Status != paddock.ScheduleRunCompleted || run.EndedAt == nil || run.RunID == "" {
			t.Errorf("run %+v", run)
		}
	}
}

// A run that cannot start is recorded as failed; the scheduler goes on.
func TestFailedStartIsRecorded(t *testing.T) {
	t.Parallel()
	scheds, a, d := fixture(t)
	ctx := context.Background()
	d.Runner = &fakeRunner{}
	now := time.Now().Add(-time.Second)
	bad := &paddock.Schedule{OwnerID: 1, Name: "bad", Cron: "@every 1h", AgentID: "agt_gone", Prompt: "go", SessionMode: paddock.ScheduleNewSession, Enabled: true, NextRunAt: &now}
	good := &paddock.Schedule{OwnerID: 1, Name: "good", Cron: "@every 1h", AgentID: a.ID, Prompt: "go", SessionMode: paddock.ScheduleNewSession, Enabled: true, NextRunAt: &now}
	for _, sc := range []*paddock.Schedule{bad, good} {
		if err := scheds.CreateSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	New(d, 0).fireDue(ctx)
	for _, c := range []struct {
		sc     *paddock.Schedule
		status string
	}{{bad, paddock.ScheduleRunFailed}, {good, paddock.ScheduleRunRunning}} {
		runs, _, err := scheds.ScheduleRuns(ctx, c.sc.ID, 0, 10)
		if err != nil || len(runs) != 1 || runs[0].Status != c.status {
			t.Errorf("%s: %+v %v", c.sc.Name, runs, err)
		} else if c.status == paddock.ScheduleRunFailed && runs[0].Error == "" {
			t.Errorf("%s: no error recorded", c.sc.Name)
		}
	}
	// A failed agent run is recorded with its error.
	d.Runs = fakeRuns{paddock.RunFailed}
	New(d, 0).settle(ctx)
	runs, _, _ := scheds.ScheduleRuns(ctx, good.ID, 0, 10)
	if runs[0].Status != paddock.ScheduleRunFailed || runs[0].Error != "the run failed: boom" {
		t.Errorf("settled %+v", runs[0])
	}
}
