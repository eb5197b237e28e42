package main

import (
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
	"github.com/paddockhq/paddock/internal/store"
)

func TestLoginBothEndpoints(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)

	t.Run("environments login JSON", func(t *testing.T) {
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": testAdminPassword}})
		var got struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
			User      struct {
				ID, Username, Email, Role string
			} `json:"user"`
		}
		r.json(t, &got)
		if got.Token == "" || got.User.ID != "1" || got.User.Username != "admin" || got.User.Role != "admin" {
			t.Fatalf("login response %s", r.body)
		}
		if d := time.Until(got.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("expires_at %s is not about 24h away", got.ExpiresAt)
		}
		me := s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: got.Token}).m(t)
		if diff := cmp.Diff(map[string]any{"id": "1", "username": "admin", "email": "", "nickname": "Administrator", "role": "admin"}, me); diff != "" {
			t.Errorf("/me (-want +got):\n%s", diff)
		}
	})
	t.Run("environments login form", func(t *testing.T) {
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/auth/login", body: url.Values{"username": {"admin"}, "password": {testAdminPassword}}})
		if r.m(t)["token"] == "" {
			t.Fatal("no token")
		}
	})
	t.Run("admin login form as seed 000", func(t *testing.T) {
		// curl -X POST .../api/v1/admin/auth/login -d "username=admin&password=password"
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: "username=admin&password=" + testAdminPassword, contentType: "application/x-www-form-urlencoded"})
		got := r.m(t)
		if got["token_type"] != "Bearer" || got["access_token"] == "" {
			t.Fatalf("admin login %s", r.body)
		}
		if diff := cmp.Diff(map[string]any{"id": float64(1), "username": "admin", "nickname": "Administrator"}, got["user"]); diff != "" {
			t.Errorf("user (-want +got):\n%s", diff)
		}
		s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: got["access_token"].(string)})
	})
	t.Run("admin login JSON as seed 003", func(t *testing.T) {
		s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login",
			body: map[string]string{"username": "admin", "password": testAdminPassword, "captcha_id": "abc123", "captcha_code": "1234"}})
	})
	t.Run("JSON sent with curl's default form type", func(t *testing.T) {
		s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: `{"username":"admin","password":"` + testAdminPassword + `"}`, contentType: "application/x-www-form-urlencoded"})
	})
	t.Run("multipart form", func(t *testing.T) {
		body := "--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nadmin\r\n--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n" + testAdminPassword + "\r\n--XX--\r\n"
		s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: body, contentType: "multipart/form-data; boundary=XX"})
		// A body that is not a form of its boundary is said to be so, not "empty".
		r := s.expect(t, 400, req{method: "POST", path: "/api/v1/auth/login", body: "garbage", contentType: "multipart/form-data; boundary=x"})
		if msg := r.message(t); !strings.Contains(msg, "multipart/form-data body could not be read as a form") || strings.Contains(msg, "empty") {
			t.Errorf("garbage multipart body: %s", r.body)
		}
	})
	t.Run("failures", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			path   string
			body   any
			status int
			msg    string
		}{
			{"wrong password", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "nope"}, 401, "invalid username or password"},
			{"unknown user", "/api/v1/auth/login", map[string]string{"username": "ghost", "password": "nope"}, 401, "invalid username or password"},
			{"missing password", "/api/v1/auth/login", map[string]string{"username": "admin"}, 400, `"password" is required`},
			{"missing username", "/api/v1/admin/auth/login", url.Values{"password": {"x"}}, 400, `"username" is required`},
			{"wrong type", "/api/v1/auth/login", `{"username": 5, "password": "x"}`, 400, `field "username" must be a string, not number`},
			{"malformed", "/api/v1/auth/login", `{"username": "admin",`, 400, "malformed JSON"},
			{"empty", "/api/v1/auth/login", ``, 400, "request body is empty"},
			{"unknown field", "/api/v1/auth/login", `{"username":"admin","password":"x","admin":true}`, 400, `unknown field "admin"`},
			{"two values", "/api/v1/auth/login", `{"username":"admin","password":"x"} {}`, 400, "single JSON value"},
		} {
			r := s.do(t, req{method: "POST", path: tc.path, body: tc.body})
			if r.status != tc.status || !strings.Contains(r.message(t), tc.msg) {
				t.Errorf("%s: %d %s, want %d containing %q", tc.name, r.status, r.body, tc.status, tc.msg)
			}
		}
	})
}

func TestTokenRefreshAndLogout(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: url.Values{"username": {"admin"}, "password": {testAdminPassword}}})
	old := r.m(t)["access_token"].(string)

	fresh := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/token/refresh", token: old}).m(t)["access_token"].(string)
	if fresh == old {
		t.Fatal("refresh returned the same token")
	}
	r = s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: old})
	if !strings.Contains(string(r.body), "token revoked") {
		t.Errorf("old token after refresh: %s", r.body)
	}
	s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: fresh})
	s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/logout", token: fresh})
	r = s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: fresh})
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	s.expect(t, 401, req{method: "POST", path: "/api/v1/admin/auth/logout", token: fresh})

	// Tokens survive a restart: the signing key is kept in the data directory.
	tok := s.login(t, "admin", testAdminPassword)
	if err := s.Main.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config
	s2 := startServer(t, func(c *Config) { c.Data = cfg.Data })
	s2.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: tok})

	for _, bad := range []string{"garbage", "a.b.c", tok[:len(tok)-4] + "AAAA"} {
		r := s2.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: bad})
		if !strings.Contains(string(r.body), "invalid token") {
			t.Errorf("token %q: %s", bad, r.body)
		}
	}
	r = s2.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me"})
	if !strings.Contains(string(r.body), "missing credentials") {
		t.Errorf("no credentials: %s", r.body)
	}
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.Auth.TokenTTL = Duration(time.Second) })
	tok := s.login(t, "admin", testAdminPassword)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := s.do(t, req{method: "GET", path: "/api/v1/auth/me", token: tok})
		if r.status == 401 {
			if !strings.Contains(string(r.body), "token expired") {
				t.Fatalf("expired token: %s", r.body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a 1 s token still works after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	alice := s.createUser(t, admin, "alice")
	bob := s.createUser(t, admin, "bob")
	// Usernames are one whatever their case, as the failed-login counter
	// reads them: "BOB" is taken, and "ALICE" logs alice in.
	r := s.expect(t, 409, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin, body: map[string]string{"username": "BOB", "password": "password-BOB"}})
	if !strings.Contains(r.message(t), `username "BOB" is taken`) {
		t.Errorf("BOB while bob exists: %s", r.body)
	}
	if u := s.expect(t, 200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "ALICE", "password": "password-alice"}}).m(t)["user"].(map[string]any); u["username"] != "alice" {
		t.Errorf("login as ALICE: %v", u)
	}

	r = s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: alice, body: map[string]any{
		"description": "CI/CD Pipeline Key", "expires_in": 90,
		"permissions": []map[string]string{{"environment_id": "env-abc123", "permission": "write"}},
	}})
	var created struct {
		ID, Key, Description string
		CreatedAt            time.Time                       `json:"created_at"`
		ExpiresAt            *time.Time                      `json:"expires_at"`
		Permissions          []paddock.EnvironmentPermission `json:"permissions"`
	}
	r.json(t, &created)
	if !strings.HasPrefix(created.Key, "pdk_") || !strings.HasPrefix(created.ID, "key-") || created.Description != "CI/CD Pipeline Key" {
		t.Fatalf("created %s", r.body)
	}
	if created.ExpiresAt == nil || created.ExpiresAt.Sub(created.CreatedAt) != 90*24*time.Hour {
		t.Errorf("expires_at %v, created_at %v: want 90 days apart", created.ExpiresAt, created.CreatedAt)
	}
	if diff := cmp.Diff([]paddock.EnvironmentPermission{{EnvironmentID: "env-abc123", Permission: "write"}}, created.Permissions); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}

	// The key authenticates as alice on every surface and records its use.
	me := s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: created.Key}).m(t)
	if me["username"] != "alice" {
		t.Errorf("key authenticated as %v", me["username"])
	}
	list := s.expect(t, 200, req{method: "GET", path: "/api/v1/api-keys", token: alice}).m(t)["api_keys"].([]any)
	if len(list) != 1 {
		t.Fatalf("alice has %d keys", len(list))
	}
	k := list[0].(map[string]any)
	if k["id"] != created.ID || k["last_used_at"] == nil || k["key"] != nil {
		t.Errorf("listed key %v: want id, last_used_at and no secret", k)
	}

	// A key limited to some environments reaches only them: it cannot mint
	// a broader key, nor create agents, sessions or runs (each with an
	// environment of its own), on any surface.
	for _, rq := range []req{
		{method: "POST", path: "/api/v1/api-keys", body: map[string]any{}},
		{method: "GET", path: "/api/v1/api-keys"},
		{method: "DELETE", path: "/api/v1/api-keys/" + created.ID},
		{method: "POST", path: "/api/v1/environments", body: map[string]any{"image": "busybox"}},
		{method: "POST", path: "/v1/agents", body: map[string]any{"name": "a"}},
		{method: "POST", path: "/api/assistants/a/execute", body: map[string]any{"userInput": "hi"}},
		{method: "POST", path: "/agent/agent/stream", body: map[string]any{"messages": []any{map[string]string{"content": "hi"}}}},
		{method: "POST", path: "/api/v1/agent/sandboxes", body: map[string]any{}},
		{method: "POST", path: "/api/v1/task/schedulers", body: map[string]any{}},
		{method: "GET", path: "/v1/usage"},
	} {
		rq.token = created.Key
		r := s.expect(t, 403, rq)
		if !strings.Contains(r.message(t), "limited to the environments it lists") {
			t.Errorf("restricted key, %s %s: %s", rq.method, rq.path, r.body)
		}
	}

	// Bob sees none of alice's keys and cannot revoke them.
	if l := s.expect(t, 200, req{method: "GET", path: "/api/v1/api-keys", token: bob}).m(t)["api_keys"].([]any); len(l) != 0 {
		t.Errorf("bob sees %d keys", len(l))
	}
	s.expect(t, 404, req{method: "DELETE", path: "/api/v1/api-keys/" + created.ID, token: bob})

	// An unrestricted key never expiring.
	r = s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: alice, body: map[string]any{"description": "forever"}})
	forever := r.m(t)
	if forever["expires_at"] != nil {
		t.Errorf("expires_at %v, want null", forever["expires_at"])
	}
	s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: forever["key"].(string), body: map[string]any{"expires_in": 1}})

	// Revoke: 204, then the key stops working.
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/api-keys/" + created.ID, token: alice})
	r = s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: created.Key})
	if !strings.Contains(string(r.body), "invalid API key") {
		t.Errorf("revoked key: %s", r.body)
	}
	s.expect(t, 404, req{method: "DELETE", path: "/api/v1/api-keys/" + created.ID, token: alice})

	// Expired keys are refused with a message saying so.
	past := time.Now().Add(-time.Hour).UTC()
	secret := auth.NewAPIKeySecret()
	keys := store.NewAPIKeyService(s.db)
	if err := keys.CreateAPIKey(t.Context(), &paddock.APIKey{ID: "key-expired", UserID: 2, Hash: auth.HashAPIKey(secret), CreatedAt: past.Add(-time.Hour), ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	r = s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: secret})
	if !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired key: %s", r.body)
	}
	s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: "pdk_doesnotexist"})

	for _, tc := range []struct {
		body any
		msg  string
	}{
		{map[string]any{"expires_in": 0}, `"expires_in" must be between 1 and 36500`},
		{map[string]any{"expires_in": "90"}, `field "expires_in" must be an integer, not string`},
		{map[string]any{"permissions": []map[string]string{{"environment_id": "env-1", "permission": "owner"}}}, `"permissions[0].permission" must be read, write or admin`},
		{map[string]any{"permissions": []map[string]string{{"permission": "read"}}}, `"permissions[0].environment_id" is required`},
		{map[string]any{"permissions": "all"}, `field "permissions" must be an array`},
		{map[string]any{"description": strings.Repeat("x", 501)}, "longer than 500"},
	} {
		r := s.expect(t, 400, req{method: "POST", path: "/api/v1/api-keys", token: alice, body: tc.body})
		if !strings.Contains(r.message(t), tc.msg) {
			t.Errorf("body %v: %s, want %q", tc.body, r.body, tc.msg)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	carol := s.createUser(t, admin, "carol")

	r := s.expect(t, 403, req{method: "GET", path: "/api/v1/admin/sys/users", token: carol})
	if diff := cmp.Diff(map[string]any{"detail": `this operation requires the permission "sys:user:list"`, "code": "FORBIDDEN"}, r.m(t)); diff != "" {
		t.Errorf("403 body (-want +got):\n%s", diff)
	}
	s.expect(t, 403, req{method: "POST", path: "/api/v1/admin/sys/users", token: carol, body: map[string]string{"username": "x", "password": "12345678"}})

	list := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/users?page=1&size=1", token: admin}).m(t)
	if list["total"] != float64(2) || len(list["items"].([]any)) != 1 || list["size"] != float64(1) {
		t.Errorf("user list %v", list)
	}
	s.expect(t, 400, req{method: "GET", path: "/api/v1/admin/sys/users?size=0", token: admin})
	u := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/users/2", token: admin}).m(t)
	if u["username"] != "carol" || u["role"] != "user" {
		t.Errorf("user 2: %v", u)
	}
	s.expect(t, 404, req{method: "GET", path: "/api/v1/admin/sys/users/999", token: admin})
	s.expect(t, 404, req{method: "GET", path: "/api/v1/admin/sys/users/abc", token: admin})
	s.expect(t, 409, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin, body: map[string]string{"username": "carol", "password": "12345678"}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin, body: map[string]string{"username": "dave", "password": "short"}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin, body: map[string]string{"username": "dave", "password": "12345678", "role": "root"}})

	// The last admin cannot be deleted or demoted; with a second admin it can.
	r = s.expect(t, 409, req{method: "DELETE", path: "/api/v1/admin/sys/users/1", token: admin})
	if !strings.Contains(string(r.body), "last admin") {
		t.Errorf("delete last admin: %s", r.body)
	}
	s.expect(t, 409, req{method: "PUT", path: "/api/v1/admin/sys/users/1", token: admin, body: map[string]string{"role": "user"}})
	s.expect(t, 200, req{method: "PUT", path: "/api/v1/admin/sys/users/2", token: admin, body: map[string]string{"role": "admin", "nickname": "Carol"}})
	s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/sys/users", token: carol}) // carol's role is read per request
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/admin/sys/users/1", token: carol})
	s.expect(t, 401, req{method: "GET", path: "/api/v1/auth/me", token: admin}) // the deleted user's token is dead
}

func TestCaptcha(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.Auth.Captcha = true })
	key, err := auth.LoadOrCreateKey(filepath.Join(s.Config.Data, "jwt.key"))
	if err != nil {
		t.Fatal(err)
	}
	solver := auth.NewCaptchas(deriveKey(key, "captcha"), time.Minute)

	c := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/auth/captcha"}).m(t)
	img, err := base64.StdEncoding.DecodeString(c["image"].(string))
	if err != nil || !strings.HasPrefix(string(img), "\x89PNG") || c["image_type"] != "base64" {
		t.Fatalf("captcha image: %v %q", err, c["image_type"])
	}
	id := c["captcha_id"].(string)
	code, ok := solver.Answer(id)
	if !ok {
		t.Fatal("cannot solve the captcha")
	}
	login := func(id, code string) *response {
		return s.do(t, req{method: "POST", path: "/api/v1/admin/auth/login", body: map[string]string{"username": "admin", "password": testAdminPassword, "captcha_id": id, "captcha_code": code}})
	}
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	for _, tc := range []struct{ id, code, msg string }{
		{"", "", "captcha_id and captcha_code are required"},
		{id, wrong, "wrong captcha code"},
		{"forged.id", code, "unknown captcha_id"},
	} {
		if r := login(tc.id, tc.code); r.status != 400 || !strings.Contains(string(r.body), tc.msg) {
			t.Errorf("captcha %q/%q: %d %s", tc.id, tc.code, r.status, r.body)
		}
	}
	if r := login(id, code); r.status != 200 {
		t.Fatalf("right captcha: %d %s", r.status, r.body)
	}
	if r := login(id, code); r.status != 400 || !strings.Contains(string(r.body), "already used") {
		t.Errorf("reused captcha: %d %s", r.status, r.body)
	}
	png := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/auth/captcha?format=png"})
	if png.header.Get("Content-Type") != "image/png" || png.header.Get("X-Captcha-ID") == "" {
		t.Errorf("png captcha headers %v", png.header)
	}
	// The environments login does not ask for a captcha.
	s.login(t, "admin", testAdminPassword)
}
