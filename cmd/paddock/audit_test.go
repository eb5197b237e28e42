package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSeed003LogsAndMonitor: login attempts and mutating requests are
// logged (with secrets redacted), listed and deleted by admins; the server
// monitor reports the host; Redis monitoring says it is not used.
func TestSeed003LogsAndMonitor(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	const secret = "Sup3r-Secret-Pa55"
	s.expect(t, 401, req{method: "POST", path: "/api/v1/admin/auth/login", body: "username=admin&password=wrong-" + url.QueryEscape(secret),
		contentType: "application/x-www-form-urlencoded", header: map[string]string{"User-Agent": "audit-test/1"}})
	s.expect(t, 401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "nobody", "password": secret}})
	admin := s.login(t, "admin", testAdminPassword)
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]string{"username": "audited", "password": secret, "email": "audited@example.com"}})
	user := s.login(t, "audited", secret)
	s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: user, body: map[string]any{"description": "ci"}})
	// A presigned URL's signature is a secret too.
	s.expect(t, 404, req{method: "POST", path: "/api/v1/agent/sandboxes/download-to-presigned", token: user,
		body: map[string]any{"sandbox_id": "env-nope", "path": "/x", "url": "https://bucket.example.com/up?X-Amz-Signature=" + secret}})

	// Login logs: every attempt, newest first, no password anywhere.
	logins := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/login-logs?size=50", token: admin})
	if strings.Contains(string(logins.body), secret) || strings.Contains(string(logins.body), testAdminPassword) {
		t.Fatalf("a password reached the login logs: %s", logins.body)
	}
	items := logins.m(t)["items"].([]any)
	var got []string
	for _, it := range items {
		m := it.(map[string]any)
		got = append(got, fmt.Sprintf("%s:%v:%s", m["username"], m["success"], m["msg"]))
	}
	want := []string{"audited:true:login succeeded", "admin:true:login succeeded", "nobody:false:invalid username or password", "admin:false:invalid username or password"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("login logs:\n got %v\nwant %v", got, want)
	}
	if last := items[len(items)-1].(map[string]any); last["user_agent"] != "audit-test/1" || last["ip"] == "" || last["user_id"].(float64) == 0 {
		t.Errorf("failed admin login entry %v", last)
	}
	if f := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/login-logs?success=false", token: admin}).m(t); f["total"].(float64) != 2 {
		t.Errorf("failed logins %v", f)
	}

	// Operation logs are written in the background: wait for both.
	var ops []any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ops = s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/opera-logs?size=50&method=POST", token: admin}).m(t)["items"].([]any); len(ops) >= 3 {
			break
		}
	}
	if len(ops) != 3 {
		t.Fatalf("operation logs %v", ops)
	}
	if presigned := ops[0].(map[string]any); presigned["code"].(float64) != 404 || !strings.Contains(presigned["args"].(string), "https://bucket.example.com/up?[REDACTED]") {
		t.Errorf("presigned entry %v", presigned)
	}
	create := ops[2].(map[string]any)
	if create["path"] != "/api/v1/admin/sys/users" || create["code"].(float64) != 201 || create["username"] != "admin" || create["request_id"] == "" ||
		!strings.Contains(create["args"].(string), `"password":"[REDACTED]"`) || !strings.Contains(create["args"].(string), "audited@example.com") {
		t.Errorf("user creation entry %v", create)
	}
	if key := ops[1].(map[string]any); key["path"] != "/api/v1/api-keys" || key["username"] != "audited" {
		t.Errorf("key creation entry %v", key)
	}
	all := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/log/opera-logs?size=200", token: admin})
	if strings.Contains(string(all.body), secret) || strings.Contains(string(all.body), "/auth/login") {
		t.Errorf("operation logs hold a secret or a login: %s", all.body)
	}

	// Admins only; entries can be deleted.
	s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/log/login-logs", token: user})
	s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/monitor/server", token: user})
	id := fmt.Sprint(int64(items[0].(map[string]any)["id"].(float64)))
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/admin/log/login-logs/" + id, token: admin})
	s.expect(t, 404, req{method: "DELETE", path: "/api/v1/admin/log/login-logs/" + id, token: admin})
	s.expect(t, 400, req{method: "DELETE", path: "/api/v1/admin/log/opera-logs/x", token: admin})
	opID := fmt.Sprint(int64(create["id"].(float64)))
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/admin/log/opera-logs/" + opID, token: admin})

	// Monitor.
	mon := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/monitor/server", token: admin}).m(t)
	mem := mon["memory"].(map[string]any)
	goRT := mon["go"].(map[string]any)
	if mon["cpus"].(float64) < 1 || mem["total_bytes"].(float64) <= 0 || mon["disk"].(map[string]any)["total_bytes"].(float64) <= 0 ||
		goRT["goroutines"].(float64) < 1 || mon["environments"] == nil || mon["host_uptime_seconds"].(float64) <= 0 {
		t.Errorf("monitor %v", mon)
	}
	r := s.do(t, req{method: "GET", path: "/api/v1/admin/monitor/redis", token: admin})
	if r.status != 404 || !strings.Contains(r.m(t)["detail"].(string), "Redis") {
		t.Errorf("redis monitor: %d %s", r.status, r.body)
	}
}
