package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// TestRunStart runs, on each backend, the store side of a worker taking a
// run: the context it reads and the claim inside a unit of work.
func TestRunStart(t *testing.T) {
	runSuite(t, []suiteCase{
		{"ContextMessages", testContextMessages},
		{"ClaimRunInCommit", testClaimRunInCommit},
		{"LoadInCommit", testLoadInCommit},
	})
}

// twoRuns stores, in one session, run 1 and run 2 and the messages
// "r1 user", "r2 user" (posted while run 1 worked), "r1 answer" and
// "loose" (of no run), in that Seq order.
func twoRuns(t *testing.T, f *fixture) (*paddock.Session, *paddock.Run, *paddock.Run) {
	t.Helper()
	ctx := context.Background()
	s := mustSession(t, f.db, mustAgent(t, f.db, 1, "a"))
	r1, r2 := &paddock.Run{}, &paddock.Run{}
	_, err := store.NewSessionService(f.db).Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		for _, r := range []*paddock.Run{r1, r2} {
			if err := tx.CreateRun(ctx, r); err != nil {
				return err
			}
		}
		for _, m := range []struct {
			run  *paddock.Run
			role paddock.MessageRole
			text string
		}{{r1, paddock.MessageUser, "r1 user"}, {r2, paddock.MessageUser, "r2 user"},
			{r1, paddock.MessageAssistant, "r1 answer"}, {nil, paddock.MessageUser, "loose"}} {
			msg := &paddock.Message{Role: m.role, Content: []paddock.ContentPart{paddock.TextPart(m.text)}}
			if m.run != nil {
				msg.RunID = m.run.ID
			}
			if err := tx.CreateMessage(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, r1, r2
}

func texts(msgs []*paddock.Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Text())
	}
	return out
}

// contextReader is ContextMessagesAfter, of the MessageService or of the
// store's SessionTx.
type contextReader func(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error)

// checkContextAfter checks what after reads for a caller holding the
// context of twoRuns' run 1 at various points.
func checkContextAfter(t *testing.T, r2 *paddock.Run, after contextReader) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range []struct {
		afterRunSeq, afterSeq int64
		want                  []string // nil: stale
	}{
		// The caller holds loose (Seq 4) and run 1: run 2 is new.
		{1, 4, []string{"r2 user"}},
		// It holds run 1 up to its answer (Seq 3): loose came since.
		{1, 3, nil},
		// It holds no run and loose: runs 1 and 2 are new, by run.
		{0, 4, []string{"r1 user", "r1 answer", "r2 user"}},
	} {
		got, stale, err := after(ctx, r2.Seq, tc.afterRunSeq, tc.afterSeq)
		if err != nil {
			t.Fatal(err)
		}
		if stale != (tc.want == nil) || (!stale && !slices.Equal(texts(got), tc.want)) {
			t.Errorf("after run %d, message %d: %q (stale %v), want %q", tc.afterRunSeq, tc.afterSeq, texts(got), stale, tc.want)
		}
	}
}

func testContextMessages(t *testing.T, f *fixture) {
	ctx := context.Background()
	s, r1, r2 := twoRuns(t, f)
	msgs := store.NewMessageService(f.db)
	for _, tc := range []struct {
		run  *paddock.Run
		want []string
	}{
		{r1, []string{"loose", "r1 user", "r1 answer"}},
		{r2, []string{"loose", "r1 user", "r1 answer", "r2 user"}},
	} {
		got, err := msgs.ContextMessages(ctx, s.ID, tc.run.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(texts(got), tc.want) {
			t.Fatalf("run %d: context %q, want %q", tc.run.Seq, texts(got), tc.want)
		}
	}
	checkContextAfter(t, r2, func(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
		return msgs.ContextMessagesAfter(ctx, s.ID, runSeq, afterRunSeq, afterSeq)
	})
}

// loader is what the store's SessionTx offers a worker to read what a run
// starts from.
type loader interface {
	Agent(ctx context.Context) (*paddock.Agent, error)
	ContextMessagesAfter(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error)
}

// testLoadInCommit: a unit of work reads the session's agent and context,
// and sees its own changes to the session, which it writes once, at the
// end, with its events.
func testLoadInCommit(t *testing.T, f *fixture) {
	ctx := context.Background()
	s, _, r2 := twoRuns(t, f)
	sessions := store.NewSessionService(f.db)
	running, bad := paddock.SessionRunning, paddock.SessionStatus("bad")
	title := "renamed"
	evs, err := sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		l, ok := tx.(loader)
		if !ok {
			t.Fatal("the store's SessionTx cannot load runs")
		}
		a, err := l.Agent(ctx)
		if err != nil || a.ID != s.AgentID {
			t.Errorf("Agent = %+v, %v; want agent %s", a, err, s.AgentID)
		}
		checkContextAfter(t, r2, l.ContextMessagesAfter)
		if _, err := tx.UpdateSession(ctx, paddock.SessionUpdate{Status: &bad}); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("UpdateSession(bad status) = %v, want invalid", err)
		}
		upd, err := tx.UpdateSession(ctx, paddock.SessionUpdate{Status: &running})
		if err != nil || upd.Status != running {
			t.Fatalf("UpdateSession = %+v, %v", upd, err)
		}
		if _, err := tx.UpdateSession(ctx, paddock.SessionUpdate{Title: &title}); err != nil {
			t.Fatal(err)
		}
		got, err := tx.Session(ctx)
		if err != nil || got.Status != running || got.Title != title || got.UpdatedAt.Before(s.UpdatedAt) {
			t.Errorf("Session after updates = %+v, %v", got, err)
		}
		tx.Emit(paddock.NewEvent(paddock.EventSessionStatus, "", paddock.SessionStatusEvent{Status: running}),
			paddock.NewEvent(paddock.EventMessageDelta, "", nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Fatalf("events %+v", evs)
	}
	stored, err := sessions.Session(ctx, s.ID)
	if err != nil || stored.Status != running || stored.Title != title || stored.LastEventSeq != 2 {
		t.Fatalf("stored session %+v, %v; want running, renamed, last event 2", stored, err)
	}
	// A failed unit of work changes nothing.
	pending := paddock.SessionPending
	_, err = sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		if _, err := tx.UpdateSession(ctx, paddock.SessionUpdate{Status: &pending}); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageDelta, "", nil))
		return paddock.Errorf(paddock.EConflict, "no")
	})
	wantCode(t, err, paddock.EConflict)
	if again, err := sessions.Session(ctx, s.ID); err != nil || again.Status != running || again.LastEventSeq != 2 {
		t.Errorf("session after a failed commit %+v, %v", again, err)
	}
}

// claimer is the optional method of the store's SessionTx.
type claimer interface {
	ClaimRun(ctx context.Context, id, owner string, lease time.Duration) (*paddock.Run, error)
}

func testClaimRunInCommit(t *testing.T, f *fixture) {
	ctx := context.Background()
	s, r1, r2 := twoRuns(t, f)
	sessions, runs := store.NewSessionService(f.db), store.NewRunService(f.db)
	claim := func(id, owner string) (*paddock.Run, error) {
		var got *paddock.Run
		_, err := sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
			c, ok := tx.(claimer)
			if !ok {
				t.Fatal("the store's SessionTx cannot claim runs")
			}
			var err error
			got, err = c.ClaimRun(ctx, id, owner, time.Minute)
			return err
		})
		return got, err
	}
	runnable := func() []string {
		t.Helper()
		cands, err := runs.RunnableRuns(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range cands {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := runnable(); len(got) != 1 || got[0] != r1.ID {
		t.Fatalf("runnable %v, want run 1 only", got)
	}
	if _, err := claim(r2.ID, "w1"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("claim of run 2 behind run 1: %v, want not found", err)
	}
	got, err := claim(r1.ID, "w1")
	if err != nil || got.LeaseOwner != "w1" || got.LeaseExpiresAt == nil {
		t.Fatalf("claim of run 1: %+v, %v", got, err)
	}
	if _, err := claim(r1.ID, "w2"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("claim of a leased run: %v, want not found", err)
	}
	if got := runnable(); len(got) != 0 {
		t.Errorf("runnable %v with run 1 leased, want none", got)
	}
	done, now := paddock.RunCompleted, time.Now()
	if _, err := runs.UpdateRun(ctx, r1.ID, paddock.RunUpdate{Status: &done, EndedAt: &now}); err != nil {
		t.Fatal(err)
	}
	if _, err := claim(r1.ID, "w2"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("claim of an ended run: %v, want not found", err)
	}
	if got := runnable(); len(got) != 1 || got[0] != r2.ID {
		t.Fatalf("runnable %v after run 1, want run 2", got)
	}
	// Runs of other sessions come too, oldest first.
	other := mustSession(t, f.db, mustAgent(t, f.db, 1, "b"))
	r3 := &paddock.Run{}
	if _, err := sessions.Commit(ctx, other.ID, func(tx paddock.SessionTx) error { return tx.CreateRun(ctx, r3) }); err != nil {
		t.Fatal(err)
	}
	if got := runnable(); len(got) != 2 || got[0] != r2.ID || got[1] != r3.ID {
		t.Fatalf("runnable %v, want runs 2 and 3", got)
	}
	// An expired lease is free.
	if got, err = claim(r2.ID, "w1"); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second)
	if _, err := runs.UpdateRun(ctx, r2.ID, paddock.RunUpdate{LeaseExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	if got, err = claim(r2.ID, "w2"); err != nil || got.LeaseOwner != "w2" {
		t.Errorf("claim of an expired lease: %+v, %v", got, err)
	}
}
