package main

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
)

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	r := s.expect(t, 200, req{method: "GET", path: "/health"})
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(r.header.Get("X-Request-ID")) {
		t.Errorf("X-Request-ID %q", r.header.Get("X-Request-ID"))
	}
	r = s.expect(t, 200, req{method: "GET", path: "/health", header: map[string]string{"X-Request-ID": "client-id-42"}})
	if got := r.header.Get("X-Request-ID"); got != "client-id-42" {
		t.Errorf("client's X-Request-ID came back as %q", got)
	}
	r = s.expect(t, 404, req{method: "GET", path: "/api/v1/nothing", header: map[string]string{"X-Request-ID": "bad id with spaces"}})
	if got := r.header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("unsafe X-Request-ID was echoed: %q", got)
	}
}

// TestErrorBodies checks each surface's documented error shape.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, tc := range []struct {
		name   string
		rq     req
		status int
		want   map[string]any
	}{
		{"environments 404 (seed 004)", req{method: "GET", path: "/api/v1/environmentz"}, 404,
			map[string]any{"error": "not_found", "message": "no route for GET /api/v1/environmentz", "code": float64(404)}},
		{"environments 401 (seed 004)", req{method: "GET", path: "/api/v1/auth/me"}, 401,
			map[string]any{"error": "unauthorized", "message": "missing credentials: send Authorization: Bearer <token or API key>", "code": float64(401)}},
		{"agents 404 (seed 002)", req{method: "GET", path: "/v1/nothing"}, 404,
			map[string]any{"error": map[string]any{"code": "not_found", "message": "no route for GET /v1/nothing"}}},
		{"assistants 404 (seed 001)", req{method: "GET", path: "/api/assistants/x/nothing"}, 404,
			map[string]any{"error": map[string]any{"message": "no route for GET /api/assistants/x/nothing", "code": "NOT_FOUND"}}},
		{"platform 401 (seed 003)", req{method: "POST", path: "/api/v1/admin/auth/logout"}, 401,
			map[string]any{"detail": "missing credentials: send Authorization: Bearer <token or API key>", "code": "UNAUTHORIZED"}},
		{"platform 400 (seed 003)", req{method: "POST", path: "/api/v1/admin/auth/login", body: "{", contentType: "application/json"}, 400,
			map[string]any{"detail": "malformed JSON: unexpected end of input", "code": "BAD_REQUEST"}},
		{"405", req{method: "DELETE", path: "/api/v1/auth/login"}, 405,
			map[string]any{"error": "method_not_allowed", "message": "DELETE is not allowed on /api/v1/auth/login; allowed: POST", "code": float64(405)}},
		{"415", req{method: "POST", path: "/api/v1/auth/login", body: "<xml/>", contentType: "application/xml"}, 415,
			map[string]any{"error": "unsupported_media_type", "message": `unsupported Content-Type "application/xml": send application/json or a form`, "code": float64(415)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.expect(t, tc.status, tc.rq)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if diff := cmp.Diff(tc.want, r.m(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRouteAliases: a route's path with a trailing slash (the seeds list a
// prefix's root as "/") and platform routes under seed 000's /agent/
// prefix reach the route; what matches no route stays a 404 or 405 that
// names the path asked for.
func TestRouteAliases(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	for _, path := range []string{"/api/v1/agent/config/", "/agent/config", "/agent/config/", "/api/v1/admin/sys/users/", "/api/v1/environments/"} {
		if r := s.do(t, req{method: "GET", path: path, token: admin}); r.status != 200 {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	if b := s.expect(t, 200, req{method: "GET", path: "/agent/credits/balance", token: admin}).m(t); b["currency"] != "USD" {
		t.Errorf("balance at /agent/: %v", b)
	}
	// Authentication and the surface's error body still apply.
	if r := s.do(t, req{method: "GET", path: "/agent/config/"}); r.status != 401 || r.m(t)["code"] != "UNAUTHORIZED" {
		t.Errorf("anonymous /agent/config/: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/agent/nothing", 404},
		{"GET", "/api/v1/agent/config//", 404},
		{"POST", "/api/v1/agent/config/", 404},
		{"GET", "/agent/", 404},
	} {
		r := s.do(t, req{method: tc.method, path: tc.path, token: admin})
		if r.status != tc.status || !strings.Contains(r.m(t)["detail"].(string), tc.path) {
			t.Errorf("%s %s: %d %s, want %d naming the path", tc.method, tc.path, r.status, r.body, tc.status)
		}
	}

	// No redirects: what the mux would redirect (an unclean path, a path
	// one slash short of a {name...} route) is a JSON 404 or 405, and 405's
	// Allow lists only methods that serve the path.
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/api/v1/images", 405, "GET, HEAD, POST"},
		{"PUT", "/api/v1/images", 405, "GET, HEAD, POST"},
		{"PUT", "/api/v1/agent/sandboxes/run-command", 405, "POST"},
		{"PUT", "/v1/agents/x", 405, "GET, HEAD, PATCH, DELETE"},
		{"GET", "//api/v1/environments", 404, ""},
		{"GET", "/api/v1/environments/../environments", 404, ""},
		{"GET", "/api/v1/agent/sandboxes/x/slides/%2e%2e", 404, ""},
	} {
		r := s.do(t, req{method: tc.method, path: tc.path, token: admin})
		if r.status != tc.status || r.header.Get("Allow") != tc.allow || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d, Allow %q, %s; want %d, Allow %q, JSON", tc.method, tc.path, r.status, r.header.Get("Allow"), r.body, tc.status, tc.allow)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	admin := s.login(t, "admin", testAdminPassword)
	big := `{"description":"` + strings.Repeat("x", 5000) + `"}`
	r := s.expect(t, 413, req{method: "POST", path: "/api/v1/api-keys", token: admin, body: big, contentType: "application/json"})
	if diff := cmp.Diff(map[string]any{"error": "payload_too_large", "message": "request body exceeds 4096 bytes", "code": float64(413)}, r.m(t)); diff != "" {
		t.Errorf("413 body (-want +got):\n%s", diff)
	}
	s.expect(t, 413, req{method: "POST", path: "/api/v1/admin/auth/login", body: "username=admin&password=" + strings.Repeat("x", 5000), contentType: "application/x-www-form-urlencoded"})
	// A huge body is refused without being read whole.
	huge := strings.Repeat(" ", 64<<20)
	start := time.Now()
	s.expect(t, 413, req{method: "POST", path: "/api/v1/auth/login", body: `{"username":"a"` + huge + `}`, contentType: "application/json"})
	if time.Since(start) > 20*time.Second {
		t.Errorf("64 MiB body took %s", time.Since(start))
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) {
		c.RateLimits.Auth = 3
		c.RateLimits.Other = 5
		c.RateLimits.LoginFailures = 2
		c.RateLimits.Window = Duration(time.Hour) // no window rolls over during the test
	})
	// Authentication: 3 per client address, whoever logs in.
	tok := s.login(t, "admin", testAdminPassword)
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: url.Values{"username": {"admin"}, "password": {testAdminPassword}}})
	if r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("auth limit headers %q %q", r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset <= time.Now().Unix() || reset > time.Now().Add(time.Hour).Unix() {
		t.Errorf("X-RateLimit-Reset %q", r.header.Get("X-RateLimit-Reset"))
	}
	s.login(t, "admin", testAdminPassword)
	r = s.expect(t, 429, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": testAdminPassword}})
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if r.m(t)["error"] != "rate_limited" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 body %s", r.body)
	}

	// Other operations: per principal, 5 per window; another user has their own budget.
	for i := 4; i >= 0; i-- {
		r := s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: tok})
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(i) {
			t.Errorf("remaining %s, want %d", got, i)
		}
	}
	r = s.expect(t, 429, req{method: "GET", path: "/api/v1/api-keys", token: tok})
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Public routes are limited per address and carry the headers too.
	if r := s.expect(t, 200, req{method: "GET", path: "/health"}); r.header.Get("X-RateLimit-Limit") != "5" {
		t.Errorf("health limit header %q", r.header.Get("X-RateLimit-Limit"))
	}
}

func TestLoginFailuresPerUsername(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.RateLimits.LoginFailures = 3 })
	for i := 0; i < 3; i++ {
		s.expect(t, 401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "admin", "password": "guess" + strconv.Itoa(i)}})
	}
	// Even the right password is refused now, for that username only.
	r := s.expect(t, 429, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "Admin", "password": testAdminPassword}})
	if !strings.Contains(r.message(t), `too many failed logins for "Admin"`) {
		t.Errorf("429 message %q", r.message(t))
	}
	s.expect(t, 401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": "other", "password": "x"}})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	h := s.expect(t, 200, req{method: "GET", path: "/health"}).m(t)
	if h["status"] != "healthy" || h["service"] != "paddock" || h["version"] == "" {
		t.Errorf("/health %v", h)
	}
	if _, err := time.Parse(time.RFC3339Nano, h["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	v := s.expect(t, 200, req{method: "GET", path: "/api/v1/health"}).m(t)
	if v["status"] != "healthy" || v["kubernetes"].(map[string]any)["connected"] != false {
		t.Errorf("/api/v1/health %v", v)
	}
	if v["capacity"].(map[string]any)["total_nodes"] != float64(1) {
		t.Errorf("capacity %v", v["capacity"])
	}
}

func TestMetricsAndDocs(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.expect(t, 200, req{method: "GET", path: "/health"})
	s.expect(t, 404, req{method: "GET", path: "/api/v1/unknown"})
	m := string(s.expect(t, 200, req{method: "GET", path: "/metrics"}).body)
	for _, want := range []string{
		`paddock_http_requests_total{method="GET",route="GET /health",status="200"} 1`,
		`paddock_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`paddock_http_request_duration_seconds_bucket{method="GET",route="GET /health",le="0.01"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	ui := s.expect(t, 200, req{method: "GET", path: "/swagger-ui/"})
	if !strings.Contains(string(ui.body), "/openapi.json") || strings.Contains(string(ui.body), "cdn.") || strings.Contains(string(ui.body), "unpkg") {
		t.Errorf("swagger UI page does not load /openapi.json from this server:\n%.500s", ui.body)
	}
	// Its assets are embedded: every script and stylesheet the page names loads from here.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+\.(?:js|css))"`).FindAllStringSubmatch(string(ui.body), -1) {
		p := m[1]
		if !strings.HasPrefix(p, "/") {
			p = "/swagger-ui/" + strings.TrimPrefix(p, "./")
		}
		s.expect(t, 200, req{method: "GET", path: p})
	}
}

// TestOpenAPI validates the document against OpenAPI 3.1 and checks that it
// lists every route the server has, and only those.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	body := s.expect(t, 200, req{method: "GET", path: "/openapi.json"}).body
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	// A body sent either as JSON or as an upload documents both.
	if rb := doc.Paths.Find("/api/v1/agent/rag/resources").Post.RequestBody.Value; rb.Content.Get("application/json") == nil ||
		rb.Content.Get("multipart/form-data") == nil || rb.Content.Get("multipart/form-data").Schema.Value.Properties["file"] == nil {
		t.Errorf("resource upload body documented as %v", rb.Content)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = true
			if op.Responses.Len() == 0 || op.Summary == "" {
				t.Errorf("%s %s lacks a summary or responses", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range s.routes() {
		served[rt] = true
		if !documented[rt] {
			t.Errorf("route %s is not in the OpenAPI document", rt)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("OpenAPI documents %s, which is not served", op)
		}
	}
}
