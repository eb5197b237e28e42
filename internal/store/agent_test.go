package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
)

// TestAgentStore runs the agent runtime's storage suite (agents, sessions,
// messages, runs, events, usage) on SQLite, and on PostgreSQL when
// PADDOCK_TEST_POSTGRES_DSN is set.
func TestAgentStore(t *testing.T) {
	runSuite(t, []suiteCase{
		{"Agents", testAgents},
		{"Sessions", testSessions},
		{"CommitMessagesAndEvents", testCommit},
		{"EventSeqConcurrent", testEventSeqConcurrent},
		{"Runs", testRuns},
		{"ClaimRunExclusive", testClaimRunExclusive},
		{"Usage", testUsage},
		{"MCPServers", testMCPServers},
	})
}

// testMCPServers: shared servers and users' own, names unique within each,
// toggled and deleted by owner; headers come back as stored but are not in
// the database in clear, and a service with another key cannot read them.
func testMCPServers(t *testing.T, f *fixture) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	servers, err := store.NewMCPServerService(f.db, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewMCPServerService(f.db, []byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	u := &paddock.User{Username: "mcp-owner", Role: paddock.RoleUser}
	if err := store.NewUserService(f.db).CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{"Authorization": "Bearer very-secret-token"}
	shared := &paddock.MCPServer{Name: "calc", Transport: "streamable_http", URL: "https://mcp.example.com/mcp", Headers: secret, Enabled: true}
	if err := servers.CreateMCPServer(ctx, shared); err != nil || shared.ID == 0 || shared.CreatedAt.IsZero() {
		t.Fatalf("create shared: %v %+v", err, shared)
	}
	own := &paddock.MCPServer{OwnerID: u.ID, Name: "calc", Transport: "sse", URL: "https://mine.example.com/sse", EnabledTools: []string{"add"}, Enabled: true}
	if err := servers.CreateMCPServer(ctx, own); err != nil {
		t.Fatalf("a user's server named like a shared one: %v", err)
	}
	wantCode(t, servers.CreateMCPServer(ctx, &paddock.MCPServer{Name: "calc", URL: "https://x"}), paddock.EConflict)
	wantCode(t, servers.CreateMCPServer(ctx, &paddock.MCPServer{OwnerID: u.ID, Name: "calc", URL: "https://x"}), paddock.EConflict)
	wantCode(t, servers.CreateMCPServer(ctx, &paddock.MCPServer{OwnerID: 99999, Name: "calc", URL: "https://x"}), paddock.ENotFound)

	list, err := servers.MCPServers(ctx, 0)
	if err != nil || len(list) != 1 || list[0].Headers["Authorization"] != secret["Authorization"] || list[0].EnabledTools != nil || !list[0].Enabled {
		t.Fatalf("shared servers: %+v, %v", list, err)
	}
	list, err = servers.MCPServers(ctx, u.ID)
	if err != nil || len(list) != 1 || list[0].Transport != "sse" || len(list[0].Headers) != 0 || len(list[0].EnabledTools) != 1 {
		t.Fatalf("the user's servers: %+v, %v", list, err)
	}
	var column string
	if err := rawDB(t, f.dialect, f.dsn).QueryRowContext(ctx, "SELECT CAST(headers AS TEXT) FROM mcp_servers WHERE id = "+fmt.Sprint(shared.ID)).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(column, "very-secret-token") || strings.Contains(column, "Authorization") {
		t.Errorf("headers stored in clear: %s", column)
	}
	other, _ := store.NewMCPServerService(f.db, bytes.Repeat([]byte{8}, 32))
	if _, err := other.MCPServers(ctx, 0); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("read with another key: %v", err)
	}

	if s, err := servers.SetMCPServerEnabled(ctx, u.ID, "calc", new(false)); err != nil || s.Enabled || s.URL != own.URL {
		t.Errorf("disable: %+v, %v", s, err)
	}
	_, err = servers.SetMCPServerEnabled(ctx, u.ID, "nope", new(false))
	wantCode(t, err, paddock.ENotFound)
	if list, _ := servers.MCPServers(ctx, 0); !list[0].Enabled {
		t.Error("disabling the user's server disabled the shared one")
	}
	// New headers: sealed like the first, the rest kept.
	if s, err := servers.SetMCPServerHeaders(ctx, u.ID, "calc", map[string]string{"X-Key": "second-secret"}); err != nil || s.Headers["X-Key"] != "second-secret" || s.Enabled || s.URL != own.URL || s.Transport != "sse" {
		t.Errorf("set headers: %+v, %v", s, err)
	}
	if list, _ := servers.MCPServers(ctx, u.ID); len(list) != 1 || list[0].Headers["X-Key"] != "second-secret" || len(list[0].Headers) != 1 {
		t.Errorf("after setting headers: %+v", list)
	}
	if err := rawDB(t, f.dialect, f.dsn).QueryRowContext(ctx, "SELECT CAST(headers AS TEXT) FROM mcp_servers WHERE id = "+fmt.Sprint(own.ID)).Scan(&column); err != nil || strings.Contains(column, "second-secret") {
		t.Errorf("headers set in clear: %s, %v", column, err)
	}
	_, err = servers.SetMCPServerHeaders(ctx, u.ID, "nope", nil)
	wantCode(t, err, paddock.ENotFound)
	if err := servers.DeleteMCPServer(ctx, 0, "calc"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, servers.DeleteMCPServer(ctx, 0, "calc"), paddock.ENotFound)
	if list, _ := servers.MCPServers(ctx, u.ID); len(list) != 1 {
		t.Errorf("deleting the shared server touched the user's: %+v", list)
	}
}

func mustAgent(t testing.TB, db *store.DB, owner int64, name string) *paddock.Agent {
	t.Helper()
	a := &paddock.Agent{OwnerID: owner, Name: name, SystemPrompt: "be brief"}
	if err := store.NewAgentService(db).CreateAgent(context.Background(), a); err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	return a
}

func mustSession(t testing.TB, db *store.DB, a *paddock.Agent) *paddock.Session {
	t.Helper()
	s := &paddock.Session{AgentID: a.ID, OwnerID: a.OwnerID, Title: "t"}
	if err := store.NewSessionService(db).CreateSession(context.Background(), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

func testAgents(t *testing.T, f *fixture) {
	ctx := context.Background()
	agents := store.NewAgentService(f.db)
	a := &paddock.Agent{
		OwnerID: 1, Name: "helper", Description: "d", SystemPrompt: "sys", Model: "openai/gpt-4o-mini",
		Tools: []string{"bash"}, MaxSteps: 5, Tags: []string{"x"}, Resources: []string{"res_a", "res_b"},
		Environment: &paddock.AgentEnvironment{Image: "python:3.11-slim", Resources: paddock.Resources{CPU: "1"}},
	}
	if err := agents.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID[:4] != "agt_" {
		t.Errorf("id %q, want agt_ prefix", a.ID)
	}
	got, err := agents.Agent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("Agent (-want +got):\n%s", diff)
	}

	// Nil tools (all) and empty tools (none) differ.
	all := &paddock.Agent{OwnerID: 1, Name: "all"}
	none := &paddock.Agent{OwnerID: 1, Name: "none", Tools: []string{}}
	for _, x := range []*paddock.Agent{all, none} {
		if err := agents.CreateAgent(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if g, _ := agents.Agent(ctx, all.ID); g.Tools != nil {
		t.Errorf("all: tools %#v, want nil", g.Tools)
	}
	if g, _ := agents.Agent(ctx, none.ID); g.Tools == nil || len(g.Tools) != 0 {
		t.Errorf("none: tools %#v, want empty", g.Tools)
	}

	wantCode(t, agents.CreateAgent(ctx, &paddock.Agent{OwnerID: 1, Name: "helper"}), paddock.EConflict)
	wantCode(t, agents.CreateAgent(ctx, &paddock.Agent{OwnerID: 1, Name: " "}), paddock.EInvalid)
	if err := agents.CreateAgent(ctx, &paddock.Agent{OwnerID: 2, Name: "helper"}); err != nil {
		t.Errorf("same name, other owner: %v", err)
	}

	upd, err := agents.UpdateAgent(ctx, a.ID, paddock.AgentUpdate{Description: ptr("new"), Tools: ptr([]string(nil))})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Description != "new" || upd.Tools != nil || upd.SystemPrompt != "sys" || len(upd.Resources) != 2 {
		t.Errorf("updated agent %+v", upd)
	}
	if upd, err = agents.UpdateAgent(ctx, a.ID, paddock.AgentUpdate{Resources: ptr([]string{"res_c"})}); err != nil || len(upd.Resources) != 1 || upd.Resources[0] != "res_c" {
		t.Errorf("updated resources %v %v", upd, err)
	}
	if g, _ := agents.Agent(ctx, all.ID); g.Resources == nil || len(g.Resources) != 0 {
		t.Errorf("an agent without resources: %#v", g.Resources)
	}
	_, err = agents.UpdateAgent(ctx, all.ID, paddock.AgentUpdate{Name: ptr("helper")})
	wantCode(t, err, paddock.EConflict)
	_, err = agents.UpdateAgent(ctx, "agt_nope", paddock.AgentUpdate{})
	wantCode(t, err, paddock.ENotFound)

	if err := agents.ArchiveAgent(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, agents.ArchiveAgent(ctx, "agt_nope"), paddock.ENotFound)
	if got, _ := agents.Agent(ctx, a.ID); !got.Archived || got.ArchivedAt == nil {
		t.Errorf("archived agent: %+v", got)
	}
	owner := int64(1)
	list, total, err := agents.Agents(ctx, paddock.AgentFilter{OwnerID: &owner})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(list) != 2 {
		t.Errorf("Agents: %d (total %d), want 2 without the archived one", len(list), total)
	}
	_, total, _ = agents.Agents(ctx, paddock.AgentFilter{OwnerID: &owner, IncludeArchived: true, Limit: 1})
	if total != 3 {
		t.Errorf("Agents with archived: total %d, want 3", total)
	}
	// The archived agent's name is free again.
	if err := agents.CreateAgent(ctx, &paddock.Agent{OwnerID: 1, Name: "helper"}); err != nil {
		t.Errorf("reuse archived name: %v", err)
	}
}

func testSessions(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := mustAgent(t, f.db, 1, "a")
	sessions := store.NewSessionService(f.db)
	s := &paddock.Session{AgentID: a.ID, OwnerID: 1, Title: "hello", Tags: []string{"t"}, ExternalKey: "my-session"}
	if err := sessions.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Status != paddock.SessionPending {
		t.Errorf("status %q, want pending", s.Status)
	}
	got, err := sessions.Session(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("Session (-want +got):\n%s", diff)
	}
	byKey, err := sessions.SessionByKey(ctx, 1, a.ID, "my-session")
	if err != nil || byKey.ID != s.ID {
		t.Fatalf("SessionByKey = %v, %v", byKey, err)
	}
	_, err = sessions.SessionByKey(ctx, 2, a.ID, "my-session")
	wantCode(t, err, paddock.ENotFound)
	wantCode(t, sessions.CreateSession(ctx, &paddock.Session{AgentID: a.ID, OwnerID: 1, ExternalKey: "my-session"}), paddock.EConflict)
	wantCode(t, sessions.CreateSession(ctx, &paddock.Session{AgentID: "agt_nope", OwnerID: 1}), paddock.ENotFound)
	// Sessions without keys do not collide.
	mustSession(t, f.db, a)
	mustSession(t, f.db, a)

	running := paddock.SessionRunning
	upd, err := sessions.UpdateSession(ctx, s.ID, paddock.SessionUpdate{Status: &running, EnvironmentID: ptr("env-1")})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Status != running || upd.EnvironmentID != "env-1" || upd.Title != "hello" {
		t.Errorf("updated session %+v", upd)
	}
	list, total, err := sessions.Sessions(ctx, paddock.SessionFilter{AgentID: &a.ID, Status: &running})
	if err != nil || total != 1 || len(list) != 1 {
		t.Errorf("Sessions(running) = %d, %d, %v", len(list), total, err)
	}

	// Deleting cascades to messages, runs and events.
	_, err = sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		m := &paddock.Message{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart("hi")}}
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageUser, "", m))
		return tx.CreateRun(ctx, &paddock.Run{TriggerMessageID: m.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sessions.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, sessions.DeleteSession(ctx, s.ID), paddock.ENotFound)
	_, err = store.NewEventService(f.db).Events(ctx, s.ID, 0, 0)
	wantCode(t, err, paddock.ENotFound)
	_, total, err = store.NewRunService(f.db).Runs(ctx, paddock.RunFilter{SessionID: &s.ID})
	if err != nil || total != 0 {
		t.Errorf("runs after delete: %d, %v", total, err)
	}
}

func testCommit(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := mustSession(t, f.db, mustAgent(t, f.db, 1, "a"))
	sessions, msgs, events := store.NewSessionService(f.db), store.NewMessageService(f.db), store.NewEventService(f.db)

	call := paddock.ContentPart{Type: paddock.PartToolCall, ID: "c1", Name: "bash", Arguments: paddock.ToolArguments(`{"command":"ls"}`)}
	var m1, m2 *paddock.Message
	evs, err := sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		m1 = &paddock.Message{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart("hi")}}
		if err := tx.CreateMessage(ctx, m1); err != nil {
			return err
		}
		m2 = &paddock.Message{Role: paddock.MessageAssistant, Content: []paddock.ContentPart{call},
			Usage: &paddock.Usage{InputTokens: 3, OutputTokens: 4, Cost: 0.5, Model: "m", Provider: "p"}}
		if err := tx.CreateMessage(ctx, m2); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageUser, "", m1), paddock.NewEvent(paddock.EventMessageAssistant, "", m2))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 || evs[0].SessionID != s.ID {
		t.Fatalf("committed events %+v", evs)
	}
	if m1.Seq != 1 || m2.Seq != 2 {
		t.Errorf("message seqs %d, %d", m1.Seq, m2.Seq)
	}
	got, total, err := msgs.Messages(ctx, paddock.MessageFilter{SessionID: s.ID})
	if err != nil || total != 2 {
		t.Fatalf("Messages = %d, %v", total, err)
	}
	if diff := cmp.Diff([]*paddock.Message{m1, m2}, got); diff != "" {
		t.Errorf("Messages (-want +got):\n%s", diff)
	}
	// Arguments stay an object in JSON.
	b, _ := json.Marshal(got[1].Content[0])
	if string(b) != `{"type":"tool_call","id":"c1","name":"bash","arguments":{"command":"ls"}}` {
		t.Errorf("tool_call JSON %s", b)
	}

	// A failing unit of work writes nothing.
	_, err = sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		if err := tx.CreateMessage(ctx, &paddock.Message{Role: paddock.MessageUser}); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageUser, "", nil))
		return paddock.Errorf(paddock.EConflict, "nope")
	})
	wantCode(t, err, paddock.EConflict)
	stored, err := events.Events(ctx, s.ID, 0, 0)
	if err != nil || len(stored) != 2 {
		t.Fatalf("Events = %d, %v; want 2", len(stored), err)
	}
	if diff := cmp.Diff(evs, stored); diff != "" {
		t.Errorf("Events (-committed +stored):\n%s", diff)
	}
	if _, total, _ := msgs.Messages(ctx, paddock.MessageFilter{SessionID: s.ID}); total != 2 {
		t.Errorf("%d messages after a failed commit, want 2", total)
	}
	_, err = sessions.Commit(ctx, "ses_nope", func(paddock.SessionTx) error { return nil })
	wantCode(t, err, paddock.ENotFound)

	if err := events.AppendEvents(ctx, s.ID, []*paddock.Event{{Type: paddock.EventMessageDelta, Data: json.RawMessage(`{"delta":"x"}`)}}); err != nil {
		t.Fatal(err)
	}
	after, err := events.Events(ctx, s.ID, 2, 10)
	if err != nil || len(after) != 1 || after[0].Seq != 3 || string(after[0].Data) != `{"delta":"x"}` {
		t.Errorf("Events after 2 = %+v, %v", after, err)
	}
}

func testEventSeqConcurrent(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := mustAgent(t, f.db, 1, "a")
	s1, s2 := mustSession(t, f.db, a), mustSession(t, f.db, a)
	sessions, events := store.NewSessionService(f.db), store.NewEventService(f.db)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				sid := s1.ID
				if i%2 == 1 {
					sid = s2.ID
				}
				if w%2 == 0 {
					_, err := sessions.Commit(ctx, sid, func(tx paddock.SessionTx) error {
						tx.Emit(paddock.NewEvent(paddock.EventMessageDelta, "", map[string]int{"w": w, "i": i}),
							paddock.NewEvent(paddock.EventMessageDelta, "", map[string]int{"w": w, "i": i}))
						return nil
					})
					if err != nil {
						errs <- err
					}
				} else if err := events.AppendEvents(ctx, sid, []*paddock.Event{
					paddock.NewEvent(paddock.EventToolOutput, "", map[string]int{"w": w, "i": i}),
					paddock.NewEvent(paddock.EventToolOutput, "", map[string]int{"w": w, "i": i}),
				}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	for _, sid := range []string{s1.ID, s2.ID} {
		evs, err := events.Events(ctx, sid, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != workers*each {
			t.Fatalf("%d events, want %d", len(evs), workers*each)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
			// Events of one append are adjacent.
			if i%2 == 1 && string(evs[i-1].Data) != string(e.Data) {
				t.Fatalf("events %d and %d of one append are apart: %s, %s", i-1, i, evs[i-1].Data, e.Data)
			}
		}
	}
}

func testRuns(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := mustSession(t, f.db, mustAgent(t, f.db, 1, "a"))
	sessions, runs := store.NewSessionService(f.db), store.NewRunService(f.db)
	var r1, r2 *paddock.Run
	_, err := sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		r1 = &paddock.Run{IdempotencyKey: "k1", RequestHash: "h1"}
		if err := tx.CreateRun(ctx, r1); err != nil {
			return err
		}
		r2 = &paddock.Run{}
		return tx.CreateRun(ctx, r2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Status != paddock.RunQueued || r1.Seq != 1 || r2.Seq != 2 || r1.ID[:4] != "run_" {
		t.Errorf("runs %+v %+v", r1, r2)
	}
	got, err := runs.RunByIdempotencyKey(ctx, s.ID, "k1")
	if err != nil || got.ID != r1.ID || got.RequestHash != "h1" {
		t.Fatalf("RunByIdempotencyKey = %+v, %v", got, err)
	}
	_, err = runs.RunByIdempotencyKey(ctx, s.ID, "k2")
	wantCode(t, err, paddock.ENotFound)
	// An idempotency key is unique per session.
	_, err = sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		return tx.CreateRun(ctx, &paddock.Run{IdempotencyKey: "k1"})
	})
	wantCode(t, err, paddock.EConflict)
	other := mustSession(t, f.db, mustAgent(t, f.db, 1, "b"))
	if _, err := sessions.Commit(ctx, other.ID, func(tx paddock.SessionTx) error {
		return tx.CreateRun(ctx, &paddock.Run{IdempotencyKey: "k1"})
	}); err != nil {
		t.Errorf("same key in another session: %v", err)
	}

	// Runs of a session are claimed in order, one at a time.
	c1, err := runs.ClaimRun(ctx, "w1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := runs.ClaimRun(ctx, "w2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c1.ID != r1.ID || c1.LeaseOwner != "w1" || c1.LeaseExpiresAt == nil {
		t.Errorf("first claim %+v, want %s leased to w1", c1, r1.ID)
	}
	if c2.SessionID != other.ID {
		t.Errorf("second claim got %s of session %s; want the other session's run", c2.ID, c2.SessionID)
	}
	_, err = runs.ClaimRun(ctx, "w3", time.Minute)
	wantCode(t, err, paddock.ENotFound)

	renewed, err := runs.RenewLease(ctx, r1.ID, "w1", time.Hour)
	if err != nil || !renewed.LeaseExpiresAt.After(*c1.LeaseExpiresAt) {
		t.Errorf("RenewLease = %+v, %v", renewed, err)
	}
	_, err = runs.RenewLease(ctx, r1.ID, "w2", time.Hour)
	wantCode(t, err, paddock.EConflict)
	_, err = runs.RenewLease(ctx, "run_nope", "w1", time.Hour)
	wantCode(t, err, paddock.ENotFound)

	// An expired lease can be taken over.
	if _, err := runs.RenewLease(ctx, r1.ID, "w1", -time.Second); err != nil {
		t.Fatal(err)
	}
	c3, err := runs.ClaimRun(ctx, "w3", time.Minute)
	if err != nil || c3.ID != r1.ID || c3.LeaseOwner != "w3" {
		t.Fatalf("takeover claim = %+v, %v", c3, err)
	}
	_, err = runs.RenewLease(ctx, r1.ID, "w1", time.Hour)
	wantCode(t, err, paddock.EConflict)

	// When the first run ends the second becomes runnable.
	done, now := paddock.RunCompleted, time.Now()
	cancel := true
	upd, err := runs.UpdateRun(ctx, r1.ID, paddock.RunUpdate{Status: &done, EndedAt: &now, Step: ptr(3), CancelRequested: &cancel})
	if err != nil || upd.Status != done || upd.Step != 3 || !upd.CancelRequested || upd.EndedAt == nil {
		t.Fatalf("UpdateRun = %+v, %v", upd, err)
	}
	c4, err := runs.ClaimRun(ctx, "w1", time.Minute)
	if err != nil || c4.ID != r2.ID {
		t.Fatalf("claim after end = %+v, %v; want %s", c4, err, r2.ID)
	}
	list, total, err := runs.Runs(ctx, paddock.RunFilter{SessionID: &s.ID, Statuses: []paddock.RunStatus{paddock.RunQueued}})
	if err != nil || total != 1 || list[0].ID != r2.ID {
		t.Errorf("Runs(queued) = %v, %d, %v", list, total, err)
	}
}

func testClaimRunExclusive(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := mustAgent(t, f.db, 1, "a")
	sessions, runs := store.NewSessionService(f.db), store.NewRunService(f.db)
	const nSessions, perSession = 10, 3
	for range nSessions {
		s := mustSession(t, f.db, a)
		if _, err := sessions.Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
			for range perSession {
				if err := tx.CreateRun(ctx, &paddock.Run{}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Claimers race; each claimed run is finished by its claimer, which
	// makes the next run of its session claimable.
	var mu sync.Mutex
	claimed := map[string]string{}
	active := map[string]bool{} // sessions with a run held
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			owner := fmt.Sprintf("w%d", w)
			misses := 0
			for misses < 50 {
				r, err := runs.ClaimRun(ctx, owner, time.Minute)
				if paddock.ErrorCode(err) == paddock.ENotFound {
					misses++
					time.Sleep(2 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				misses = 0
				mu.Lock()
				if prev, ok := claimed[r.ID]; ok {
					t.Errorf("run %s claimed by %s and %s", r.ID, prev, owner)
				}
				if active[r.SessionID] {
					t.Errorf("two runs of session %s held at once", r.SessionID)
				}
				claimed[r.ID], active[r.SessionID] = owner, true
				mu.Unlock()
				done, now := paddock.RunCompleted, time.Now()
				mu.Lock()
				active[r.SessionID] = false
				mu.Unlock()
				if _, err := runs.UpdateRun(ctx, r.ID, paddock.RunUpdate{Status: &done, EndedAt: &now}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != nSessions*perSession {
		t.Errorf("%d runs claimed, want %d", len(claimed), nSessions*perSession)
	}
}

func testUsage(t *testing.T, f *fixture) {
	ctx := context.Background()
	s := mustSession(t, f.db, mustAgent(t, f.db, 1, "a"))
	usage := store.NewUsageService(f.db)
	if err := usage.RecordUsage(ctx, &paddock.UsageRecord{OwnerID: 1, SessionID: s.ID, AgentID: s.AgentID,
		Provider: "openai", Model: "gpt-4o-mini", InputTokens: 100, CachedInputTokens: 60, CacheWriteTokens: 30, OutputTokens: 10, Cost: 0.25}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewSessionService(f.db).Commit(ctx, s.ID, func(tx paddock.SessionTx) error {
		return tx.RecordUsage(ctx, &paddock.UsageRecord{OwnerID: 1, SessionID: s.ID, InputTokens: 1, CachedInputTokens: 1, OutputTokens: 2, Cost: 0.5})
	}); err != nil {
		t.Fatal(err)
	}
	if err := usage.RecordUsage(ctx, &paddock.UsageRecord{OwnerID: 2, InputTokens: 7}); err != nil {
		t.Fatal(err)
	}
	owner := int64(1)
	got, err := usage.Usage(ctx, paddock.UsageFilter{OwnerID: &owner})
	if err != nil {
		t.Fatal(err)
	}
	if want := (paddock.UsageTotals{Calls: 2, InputTokens: 101, CachedInputTokens: 61, CacheWriteTokens: 30, OutputTokens: 12, Cost: 0.75}); got != want {
		t.Errorf("Usage = %+v, want %+v", got, want)
	}
	none := "ses_none"
	if got, err := usage.Usage(ctx, paddock.UsageFilter{SessionID: &none}); err != nil || got != (paddock.UsageTotals{}) {
		t.Errorf("Usage(none) = %+v, %v", got, err)
	}

	// Records, newest first, paged.
	recs, total, err := usage.UsageRecords(ctx, paddock.UsageFilter{OwnerID: &owner}, 0, 1)
	if err != nil || total != 2 || len(recs) != 1 || recs[0].Cost != 0.5 || recs[0].CreatedAt.IsZero() {
		t.Errorf("UsageRecords = %+v, %d, %v", recs, total, err)
	}
	if recs, _, _ := usage.UsageRecords(ctx, paddock.UsageFilter{OwnerID: &owner}, 1, 10); len(recs) != 1 || recs[0].Model != "gpt-4o-mini" || recs[0].InputTokens != 100 ||
		recs[0].CachedInputTokens != 60 || recs[0].CacheWriteTokens != 30 {
		t.Errorf("UsageRecords page 2 = %+v", recs)
	}

	// Credits: grants less the usage of the same user.
	u := &paddock.User{Username: "credits", Role: paddock.RoleUser}
	if err := store.NewUserService(f.db).CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := usage.RecordUsage(ctx, &paddock.UsageRecord{OwnerID: u.ID, Cost: 1.25}); err != nil {
		t.Fatal(err)
	}
	credits := store.NewCreditService(f.db)
	for _, amount := range []float64{5, -1} {
		if err := credits.GrantCredits(ctx, &paddock.CreditGrant{UserID: u.ID, Amount: amount, Note: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	spent, err := usage.Usage(ctx, paddock.UsageFilter{OwnerID: &u.ID}) // the new user's id may own the records above
	if err != nil {
		t.Fatal(err)
	}
	if got, err := credits.CreditTotals(ctx, u.ID); err != nil || got != (paddock.CreditTotals{Granted: 4, Spent: spent.Cost}) || spent.Cost < 1.25 {
		t.Errorf("CreditTotals = %+v, %v; spent %v", got, err, spent.Cost)
	}
	if err := credits.GrantCredits(ctx, &paddock.CreditGrant{UserID: u.ID}); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("zero grant: %v", err)
	}
	if err := credits.GrantCredits(ctx, &paddock.CreditGrant{UserID: 99999, Amount: 1}); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("grant to nobody: %v", err)
	}
	// Amounts beyond MaxCreditGrant either way are refused; grants stored
	// before that bound count within it, so the totals stay finite (two
	// of 1e308 summed to +Inf on SQLite and overflowed on PostgreSQL).
	for _, amount := range []float64{1e308, -paddock.MaxCreditGrant - 1, math.Inf(1), math.NaN()} {
		if err := credits.GrantCredits(ctx, &paddock.CreditGrant{UserID: u.ID, Amount: amount}); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("grant of %g: %v, want EInvalid", amount, err)
		}
	}
	if err := credits.GrantCredits(ctx, &paddock.CreditGrant{UserID: u.ID, Amount: paddock.MaxCreditGrant}); err != nil {
		t.Errorf("grant of MaxCreditGrant: %v", err)
	}
	raw := rawDB(t, f.dialect, f.dsn)
	for range 2 {
		if _, err := raw.ExecContext(ctx, fmt.Sprintf("INSERT INTO credit_grants (user_id, amount, note, granted_by, created_at) "+
			"VALUES (%d, 1e308, 'legacy', 0, '2025-06-01T12:00:00Z')", u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := credits.CreditTotals(ctx, u.ID); err != nil || got.Granted != 4+3*paddock.MaxCreditGrant {
		t.Errorf("CreditTotals with legacy grants = %+v, %v; want granted %d", got, err, 4+3*paddock.MaxCreditGrant)
	}
}
