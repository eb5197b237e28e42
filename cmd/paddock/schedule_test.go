package main

import (
	"strings"
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

	every := create(map[string]any{"name": "pulse", "cron": "@every 1m", "agent_id": "reporter", "prompt": "Write the report"})
	minute := create(map[string]any{"name": "minutely", "cron": "* * * * *", "time_zone": "Europe/Paris", "agent_id": "reporter",
		"prompt": "Write the report", "session_mode": "fixed"})
	next, _ := time.Parse(time.RFC3339Nano, minute["next_run_at"].(string))
	if until := time.Until(next); until <= 0 || until > time.Minute || next.Second() != 0 {
		t.Errorf("next run of * * * * * at %v", next)
	}

	// On its own: the @every task within its interval, then disabled.
	run := waitRun(every["id"].(string), 75*time.Second, completed("cron"))
	if run["session_id"] == "" || run["run_id"] == "" || run["ended_at"] == nil || run["scheduled_for"] == nil {
		t.Errorf("cron run %v", run)
	}
	off := s.expect(t, 200, req{method: "PUT", path: "/api/v1/task/schedulers/" + every["id"].(string), token: user, body: map[string]any{"enabled": false}}).m(t)
	if off["enabled"] != false || off["next_run_at"] != nil || off["cron"] != "@every 1m" {
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
	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"name": "x", "cron": "every minute", "agent_id": "reporter", "prompt": "p"}, "want 5 fields"},
		{map[string]any{"name": "x", "cron": "* * * * *", "time_zone": "Mars/Base", "agent_id": "reporter", "prompt": "p"}, "time_zone"},
		{map[string]any{"name": "x", "cron": "* * * * *", "agent_id": "nobody", "prompt": "p"}, "agent_id"},
		{map[string]any{"name": "x", "cron": "* * * * *", "agent_id": "reporter"}, "prompt is required"},
		{map[string]any{"name": "x", "cron": "* * * * *", "agent_id": "reporter", "prompt": "p", "session_mode": "sometimes"}, "session_mode"},
		// Intervals the cron library would run every second.
		{map[string]any{"name": "x", "cron": "@every 0s", "agent_id": "reporter", "prompt": "p"}, "must be at least 1m, not 0s"},
		{map[string]any{"name": "x", "cron": "@every -1h", "agent_id": "reporter", "prompt": "p"}, "must be at least 1m, not -1h0m0s"},
		{map[string]any{"name": "x", "cron": "@every 1ms", "agent_id": "reporter", "prompt": "p"}, "must be at least 1m, not 1ms"},
		{map[string]any{"name": strings.Repeat("n", 129), "cron": "* * * * *", "agent_id": "reporter", "prompt": "p"}, `field "name" is longer than 128 characters`},
		{map[string]any{"name": "a\x00b", "cron": "* * * * *", "agent_id": "reporter", "prompt": "p"}, `field "name" contains a control character`},
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/task/schedulers", token: user, body: tc.body})
		if r.status != 400 || r.m(t)["code"] != "BAD_REQUEST" || !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("%v: %d %s, want 400 with %q", tc.body, r.status, r.body, tc.msg)
		}
	}
	s.expect(t, 400, req{method: "PUT", path: "/api/v1/task/schedulers/" + id, token: user, body: map[string]any{"cron": "@every 1s"}})
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
