package main

import (
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003ScheduledTasks: tasks that fire on their own (an @every
// expression, and a 5-field one within its minute), one run on demand in a
// fixed session, validation, and owner isolation.
func TestSeed003ScheduledTasks(t *testing.T) {
	t.Parallel()
	var steps []llmtest.Step
	for range 20 {
		steps = append(steps, llmtest.Step{Text: "report ready"})
	}
	withLLM(t, llmtest.New(steps...))
	s := startServer(t, func(c *Config) { c.Tasks.Tick = Duration(200 * time.Millisecond) })
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "scheduler")
	s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{"name": "reporter", "tools": []string{}}})

	create := func(body map[string]any) map[string]any {
		return s.expect(t, 201, req{method: "POST", path: "/api/v1/task/schedulers", token: user, body: body}).m(t)
	}
	runsOf := func(id string) []any {
		return s.expect(t, 200, req{method: "GET", path: "/api/v1/task/schedulers/" + id + "/runs", token: user}).m(t)["items"].([]any)
	}
	waitRun := func(id string, timeout time.Duration, ok func(run map[string]any) bool) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			for _, r := range runsOf(id) {
				if run := r.(map[string]any); ok(run) {
					return run
				}
			}
		}
		t.Fatalf("task %s: no such run within %s: %v", id, timeout, runsOf(id))
		return nil
	}
	completed := func(trigger string) func(map[string]any) bool {
		return func(r map[string]any) bool { return r["trigger"] == trigger && r["status"] == "completed" }
	}

	every := create(map[string]any{"name": "pulse", "cron": "@every 2s", "agent_id": "reporter", "prompt": "Write the report"})
	minute := create(map[string]any{"name": "minutely", "cron": "* * * * *", "time_zone": "Europe/Paris", "agent_id": "reporter",
		"prompt": "Write the report", "session_mode": "fixed"})
	next, _ := time.Parse(time.RFC3339Nano, minute["next_run_at"].(string))
	if until := time.Until(next); until <= 0 || until > time.Minute || next.Second() != 0 {
		t.Errorf("next run of * * * * * at %v", next)
	}

	// On its own: the @every task within seconds, then disabled.
	run := waitRun(every["id"].(string), 30*time.Second, completed("cron"))
	if run["session_id"] == "" || run["run_id"] == "" || run["ended_at"] == nil || run["scheduled_for"] == nil {
		t.Errorf("cron run %v", run)
	}
	off := s.expect(t, 200, req{method: "PUT", path: "/api/v1/task/schedulers/" + every["id"].(string), token: user, body: map[string]any{"enabled": false}}).m(t)
	if off["enabled"] != false || off["next_run_at"] != nil || off["cron"] != "@every 2s" {
		t.Errorf("disabled %v", off)
	}

	// On demand, in the fixed session, twice.
	id := minute["id"].(string)
	manual := s.expect(t, 201, req{method: "POST", path: "/api/v1/task/schedulers/" + id + "/run", token: user}).m(t)
	if manual["trigger"] != "manual" || manual["status"] != "running" {
		t.Errorf("manual run %v", manual)
	}
	first := waitRun(id, 30*time.Second, func(r map[string]any) bool { return r["id"] == manual["id"] && r["status"] == "completed" })
	// The 5-field task fires on its own within its minute, in the same session.
	cron := waitRun(id, 75*time.Second, completed("cron"))
	if cron["session_id"] != first["session_id"] {
		t.Errorf("fixed session: %v then %v", first["session_id"], cron["session_id"])
	}
	msgs := s.expect(t, 200, req{method: "GET", path: "/api/sessions/" + first["session_id"].(string) + "/messages", token: user}).m(t)
	if msgs["total"].(float64) < 4 {
		t.Errorf("fixed session history %v", msgs)
	}

	// Validation and isolation.
	for _, body := range []map[string]any{
		{"name": "x", "cron": "every minute", "agent_id": "reporter", "prompt": "p"},
		{"name": "x", "cron": "* * * * *", "time_zone": "Mars/Base", "agent_id": "reporter", "prompt": "p"},
		{"name": "x", "cron": "* * * * *", "agent_id": "nobody", "prompt": "p"},
		{"name": "x", "cron": "* * * * *", "agent_id": "reporter"},
		{"name": "x", "cron": "* * * * *", "agent_id": "reporter", "prompt": "p", "session_mode": "sometimes"},
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/task/schedulers", token: user, body: body})
		if r.status != 400 || r.m(t)["code"] != "BAD_REQUEST" || r.m(t)["detail"] == "" {
			t.Errorf("%v: %d %s", body, r.status, r.body)
		}
	}
	other := s.createUser(t, admin, "other")
	s.expect(t, 404, req{method: "POST", path: "/api/v1/task/schedulers/" + id + "/run", token: other})
	s.expect(t, 404, req{method: "PUT", path: "/api/v1/task/schedulers/" + id, token: other, body: map[string]any{"enabled": false}})
	if l := s.expect(t, 200, req{method: "GET", path: "/api/v1/task/schedulers", token: other}).m(t); l["total"].(float64) != 0 {
		t.Errorf("other user's list %v", l)
	}
	if l := s.expect(t, 200, req{method: "GET", path: "/api/v1/task/schedulers", token: user}).m(t); l["total"].(float64) != 2 {
		t.Errorf("list %v", l)
	}
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/task/schedulers/" + id, token: user})
	s.expect(t, 404, req{method: "GET", path: "/api/v1/task/schedulers/" + id, token: user})
}
