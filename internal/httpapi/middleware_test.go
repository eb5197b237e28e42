package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

// flushProbe records what the operation log queue held when the response
// was flushed.
type flushProbe struct {
	*httptest.ResponseRecorder
	flushes int
	onFlush func()
}

func (p *flushProbe) Flush() {
	p.flushes++
	p.onFlush()
	p.ResponseRecorder.Flush()
}

// TestWrapSendsWholeResponseFirst checks a complete JSON response goes out
// (with its length) before the operation log is queued, and that a
// response of unknown length is left for net/http to finish.
func TestWrapSendsWholeResponseFirst(t *testing.T) {
	s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter()})
	if err != nil {
		t.Fatal(err)
	}
	// An operation log queue nobody drains, to see when entries arrive.
	s.audit = &auditWriter{s: s, ch: make(chan *paddock.OperationLog, 8), done: make(chan struct{})}

	for _, tc := range []struct {
		name      string
		handler   handlerFunc
		status    int
		body      string
		wantFlush bool
	}{
		{"json", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusCreated, map[string]int{"n": 1})
		}, http.StatusCreated, `{"n":1}` + "\n", true},
		{"error", func(w http.ResponseWriter, r *http.Request) error {
			return paddock.Errorf(paddock.EConflict, "busy")
		}, http.StatusConflict, "busy", true},
		{"unencodable", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, math.Inf(1))
		}, http.StatusInternalServerError, "internal error", true},
		{"unknown length", func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusOK)
			_, err := w.Write([]byte("streamed"))
			return err
		}, http.StatusOK, "streamed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := s.wrap(route{method: "POST", path: "/api/v1/x", surface: surfaceOf("/api/v1/x"), access: public, handler: tc.handler})
			rec := &flushProbe{ResponseRecorder: httptest.NewRecorder()}
			queued := -1
			rec.onFlush = func() { queued = len(s.audit.ch) }
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(`{}`)))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("response %d %q, want %d with %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
			if tc.wantFlush {
				if rec.flushes != 1 || queued != 0 {
					t.Errorf("flushed %d times, with %d operation logs queued; want once, before the log", rec.flushes, queued)
				}
				if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("Content-Length %q for a body of %d bytes", cl, rec.Body.Len())
				}
			} else if rec.flushes != 0 {
				t.Errorf("a response of unknown length was flushed")
			}
			select {
			case l := <-s.audit.ch:
				if l.Status != tc.status {
					t.Errorf("operation log status %d, want %d", l.Status, tc.status)
				}
			default:
				t.Error("no operation log")
			}
		})
	}
}

// principalAuth authenticates every credential as p.
type principalAuth struct{ p *paddock.Principal }

func (a principalAuth) Authenticate(context.Context, string) (*paddock.Principal, error) {
	return a.p, nil
}

// TestRestrictedKeyRoutes checks that an API key limited to some
// environments reaches only the routes of environments (whose handlers
// check its permission on each) and the caller's identity: every other
// route is refused in wrap, whatever its handler does.
func TestRestrictedKeyRoutes(t *testing.T) {
	user := &paddock.User{ID: 7, Username: "alice", Role: paddock.RoleUser}
	restricted := &paddock.Principal{User: user, APIKey: &paddock.APIKey{ID: "key-1", UserID: 7,
		Permissions: []paddock.EnvironmentPermission{{EnvironmentID: "env-1", Permission: paddock.PermissionAdmin}}}}
	unrestricted := &paddock.Principal{User: user, APIKey: &paddock.APIKey{ID: "key-2", UserID: 7}}

	allowed := []string{
		"GET /api/v1/auth/me",
		"GET /api/v1/environments",
		"GET /api/v1/environments/{id}",
		"DELETE /api/v1/environments/{id}",
		"POST /api/v1/environments/{id}/exec",
		"GET /api/v1/environments/{id}/logs",
		"GET /api/v1/environments/{id}/files",
		"PUT /api/v1/environments/{id}/files",
		"POST /api/v1/environments/{id}/ports",
		"POST /api/v1/environments/{id}/attach-ticket",
		"POST /api/v1/environments/{id}/pause",
		"GET /api/v1/agent/sandboxes/{id}",
		"POST /api/v1/agent/sandboxes/run-command",
		"POST /api/v1/agent/sandboxes/write-file",
		"GET /api/v1/agent/sandboxes/{id}/slides",
	}
	refused := []string{
		"POST /api/v1/environments",
		"POST /api/v1/agent/sandboxes",
		"GET /api/v1/api-keys",
		"POST /api/v1/api-keys",
		"POST /v1/agents",
		"GET /v1/agents",
		"POST /v1/agents/{id}/sessions",
		"POST /v1/agents/{id}/sessions/{sid}/messages",
		"GET /v1/usage",
		"POST /api/assistants",
		"POST /api/assistants/{id}/execute",
		"POST /api/assistants/{id}/user-input",
		"POST /api/sessions",
		"POST /agent/agent/stream",
		"POST /api/v1/agent/agent/stream",
		"POST /api/v1/agent/chat/stream",
		"POST /api/v1/task/schedulers",
		"POST /api/v1/task/schedulers/{id}/run",
		"GET /api/v1/agent/credits/balance",
		"GET /api/v1/images",
		"POST /api/v1/images/import",
		"POST /api/v1/admin/auth/logout",
	}
	for _, tc := range []struct {
		name    string
		p       *paddock.Principal
		allowed []string
		refused []string
	}{
		{"restricted", restricted, allowed, refused},
		{"unrestricted", unrestricted, append(allowed, refused...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter(), Auth: principalAuth{tc.p}})
			if err != nil {
				t.Fatal(err)
			}
			reached := map[string]bool{}
			status := map[string]int{}
			for _, rt := range s.routes {
				if rt.access == public || rt.method == "" {
					continue
				}
				key := rt.method + " " + rt.path
				rt.access = authenticated // the permission checks of requires() are another matter
				rt.handler = func(w http.ResponseWriter, r *http.Request) error {
					reached[key] = true
					w.WriteHeader(http.StatusNoContent)
					return nil
				}
				path := strings.NewReplacer("{", "", "}", "", "...", "").Replace(rt.path)
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(rt.method, path, strings.NewReader(`{}`))
				req.Header.Set("Authorization", "Bearer pdk_x")
				s.wrap(rt).ServeHTTP(rec, req)
				status[key] = rec.Code
				if !reached[key] && !strings.Contains(rec.Body.String(), "limited to the environments it lists") {
					t.Errorf("%s refused with %d %s, want the restricted key's message", key, rec.Code, rec.Body.String())
				}
				// Whatever a restricted key reaches is an environment's route.
				if reached[key] && tc.p == restricted && !strings.HasPrefix(rt.path, "/api/v1/environments") &&
					!strings.HasPrefix(rt.path, "/api/v1/agent/sandboxes/") && rt.path != "/api/v1/auth/me" {
					t.Errorf("a restricted key reaches %s", key)
				}
			}
			for _, k := range tc.allowed {
				if _, ok := status[k]; !ok {
					t.Errorf("no route %s", k)
				} else if !reached[k] {
					t.Errorf("%s: %d, want the handler reached", k, status[k])
				}
			}
			for _, k := range tc.refused {
				if _, ok := status[k]; !ok {
					t.Errorf("no route %s", k)
				} else if reached[k] || status[k] != http.StatusForbidden {
					t.Errorf("%s: %d, want 403 before the handler", k, status[k])
				}
			}
		})
	}
}

// TestClientClosedRequest checks that a request whose client went away is
// recorded as 499, not as a server error, in the response status, the
// operation log and the metrics; an error the client did not cause stays
// what it is.
func TestClientClosedRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    func(ctx context.Context) error
		cancel bool
		status int
	}{
		{"cancelled", func(ctx context.Context) error { return fmt.Errorf("build image: %w", ctx.Err()) }, true, 499},
		{"internal after cancel", func(ctx context.Context) error { return errors.New("signal: killed") }, true, 499},
		{"invalid after cancel", func(ctx context.Context) error { return paddock.Errorf(paddock.EInvalid, "bad") }, true, http.StatusBadRequest},
		{"internal", func(ctx context.Context) error { return errors.New("disk full") }, false, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter()})
			if err != nil {
				t.Fatal(err)
			}
			s.audit = &auditWriter{s: s, ch: make(chan *paddock.OperationLog, 8), done: make(chan struct{})}
			h := s.wrap(route{method: "POST", path: "/api/v1/images", surface: surfaceEnvironments, access: public,
				handler: func(w http.ResponseWriter, r *http.Request) error { return tc.err(r.Context()) }})
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "POST", "/api/v1/images", strings.NewReader(`{}`)))
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			select {
			case l := <-s.audit.ch:
				if l.Status != tc.status {
					t.Errorf("operation log status %d, want %d", l.Status, tc.status)
				}
			default:
				t.Error("no operation log")
			}
			families, err := s.Gatherer.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var statuses []string
			for _, f := range families {
				if f.GetName() != "paddock_http_requests_total" {
					continue
				}
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "status" {
							statuses = append(statuses, l.GetValue())
						}
					}
				}
			}
			if want := []string{strconv.Itoa(tc.status)}; fmt.Sprint(statuses) != fmt.Sprint(want) {
				t.Errorf("metrics count requests with status %v, want %v", statuses, want)
			}
		})
	}
}

// TestAnyMethodRouteMetrics checks the labels of a request to a route of
// any method (the port proxy's): the method used, and the route's path as
// its pattern.
func TestAnyMethodRouteMetrics(t *testing.T) {
	s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter()})
	if err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/environments/{id}/ports/{port}/{path...}"
	h := s.wrap(route{path: path, surface: surfaceEnvironments, access: public, category: catProxy,
		handler: func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(http.StatusTeapot); return nil }})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PATCH", "/api/v1/environments/env-1/ports/8000/x", nil))
	families, err := s.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "paddock_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, labels["method"]+" "+labels["route"]+" "+labels["status"])
		}
	}
	if want := []string{"PATCH " + path + " 418"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests counted as %q, want %q", got, want)
	}
}
