package httpapi

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

// category is a route's rate-limit category (seed 004's table).
type category int

const (
	catOther category = iota
	catAuth
	catEnvironmentCreate
	catExec
	catProxy
)

// access says who may call a route: anyone, any authenticated caller,
// admins only, or callers holding a permission (requires).
type access struct {
	kind accessKind
	perm string // the permission string of a requires access
}

type accessKind int

const (
	accessPublic accessKind = iota
	accessAuthenticated
	accessAdmin
	accessPermission
)

var (
	public        = access{kind: accessPublic}        // anyone
	authenticated = access{kind: accessAuthenticated} // any valid credential
	adminOnly     = access{kind: accessAdmin}         // users with the admin role
)

// requires is the access of a route that callers holding perm may call:
// users with the admin role (who hold every permission), and users one of
// whose enabled roles grants an enabled menu carrying perm.
func requires(perm string) access { return access{kind: accessPermission, perm: perm} }

func (s *Server) limitFor(c category) int {
	switch c {
	case catAuth:
		return s.cfg.RateLimits.Auth
	case catEnvironmentCreate:
		return s.cfg.RateLimits.EnvironmentCreate
	case catExec:
		return s.cfg.RateLimits.Exec
	case catProxy:
		return s.cfg.RateLimits.Proxy
	}
	return s.cfg.RateLimits.Other
}

var categoryName = map[category]string{catOther: "other", catAuth: "auth", catEnvironmentCreate: "env_create", catExec: "exec", catProxy: "proxy"}

// wrap applies, in order: authentication, the rate limit (per principal, or
// per client address for authentication routes and anonymous callers), the
// role or permission check, then the handler; and renders the handler's
// error. A complete response of known length is sent as soon as it is
// ready: the operation log, queued after, need not delay it.
func (s *Server) wrap(rt route) http.Handler {
	pattern := rt.pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		var principal *paddock.Principal // set below, read by the operation log and the span
		r, span := s.startSpan(r, rt.path)
		defer func() { endSpan(span, sw.status, principal) }() // last: after the response is sent
		if s.audit != nil && mutating(r.Method) && rt.category != catAuth && rt.category != catProxy {
			tap := &bodyTap{ReadCloser: r.Body}
			r.Body = tap
			defer func() {
				l := &paddock.OperationLog{Method: r.Method, Path: r.URL.Path, Status: cmp.Or(sw.status, http.StatusOK),
					Duration: s.now().Sub(start), Address: s.clientAddr(r), UserAgent: truncate(r.UserAgent(), 512),
					RequestID: requestID(r.Context()), Body: redactBody(r.Header.Get("Content-Type"), tap), CreatedAt: start}
				if principal != nil {
					l.UserID, l.Username = principal.User.ID, principal.User.Username
				}
				s.audit.add(l)
			}()
		}
		defer func() { // before the operation log: deferred after it
			// Counted before the response leaves, so that a client reading
			// the metrics next finds this request in them.
			s.metrics.observe(r.Method, pattern, sw.status, s.now().Sub(start))
			sendWhole(sw)
		}()

		var authErr error
		if rt.access != public {
			principal, authErr = s.Auth.Authenticate(r.Context(), bearer(r))
		}
		key := "addr:" + s.clientAddr(r)
		if principal != nil && rt.category != catAuth {
			key = "user:" + strconv.FormatInt(principal.User.ID, 10)
		}
		limit := s.limitFor(rt.category)
		d, err := s.Limiter.Allow(r.Context(), categoryName[rt.category]+"|"+key, limit, s.cfg.RateLimits.Window)
		if err != nil {
			// A limiter outage must not take the API down: log and serve.
			s.log.WarnContext(r.Context(), "rate limiter unavailable", "request_id", requestID(r.Context()), "err", err)
		} else {
			h := sw.Header()
			h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
			if !d.Allowed {
				wait := d.RetryAfter(s.now())
				h.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
				s.writeError(sw, r, rt.surface, paddock.Errorf(paddock.ERateLimited,
					"rate limit of %d requests per %s exceeded for %s requests; retry in %d s", limit, s.cfg.RateLimits.Window, categoryName[rt.category], int(wait.Seconds()+0.999)))
				return
			}
		}
		if authErr != nil {
			if paddock.ErrorCode(authErr) == paddock.EUnauthorized {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="paddock"`)
			}
			s.writeError(sw, r, rt.surface, authErr)
			return
		}
		if principal != nil && principal.APIKey.Restricted() && !environmentScoped(rt) {
			s.writeError(sw, r, rt.surface, paddock.Errorf(paddock.EForbidden,
				"this API key is limited to the environments it lists and cannot call %s %s: use a key without permissions, or an access token", r.Method, r.URL.Path))
			return
		}
		if rt.access == adminOnly && !principal.User.IsAdmin() {
			s.writeError(sw, r, rt.surface, paddock.Errorf(paddock.EForbidden, "this operation requires the admin role"))
			return
		}
		if rt.access.kind == accessPermission {
			if err := s.checkPermission(r, principal.User, rt.access.perm); err != nil {
				s.writeError(sw, r, rt.surface, err)
				return
			}
		}
		if principal != nil {
			r = r.WithContext(paddock.NewContextWithPrincipal(r.Context(), principal))
		}
		if err := rt.handler(sw, r); err != nil {
			if sw.status != 0 { // the response has begun; the error can only be logged
				s.log.WarnContext(r.Context(), "error after response started", "request_id", requestID(r.Context()), "err", err)
				return
			}
			s.writeError(sw, r, rt.surface, err)
		}
	})
}

// environmentScoped reports whether an API key limited to some
// environments (APIKey.Restricted) may call rt: the routes of one
// environment or sandbox, whose handlers check the key's permission on it
// (environmentAs: an environment it does not list is not found), the list
// of environments (filtered to those it lists) and the caller's identity.
// Every other route acts beyond those environments (creating environments,
// agents, runs with their own environments, schedules, keys...) and is
// refused to such a key, here, in one place.
func environmentScoped(rt route) bool {
	switch {
	case rt.method == "GET" && (rt.path == "/api/v1/environments" || rt.path == "/api/v1/auth/me"):
		return true
	case strings.HasPrefix(rt.path, "/api/v1/environments/{id}"):
		return true
	case strings.HasPrefix(rt.path, "/api/v1/agent/sandboxes/"):
		return true // not POST /api/v1/agent/sandboxes, which creates one
	}
	return false
}

// sendWhole sends a response now if it is complete and of known length
// (the handler has returned and set Content-Length, as writeJSON does),
// instead of when net/http finishes the request after every wrapper has
// returned. A response of unknown length is left alone: flushing it would
// make it chunked.
func sendWhole(sw *statusWriter) {
	if sw.status >= http.StatusOK && sw.Header().Get("Content-Length") != "" {
		_ = http.NewResponseController(sw).Flush()
	}
}

// bearer returns the credential of an "Authorization: Bearer ..." header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// principal returns the authenticated caller of r; routes that are not
// public always have one.
func principal(r *http.Request) *paddock.Principal { return paddock.PrincipalFromContext(r.Context()) }

// ownerScope is the owner a list is limited to: the caller, unless an
// admin (nil: everyone's).
func ownerScope(r *http.Request) *int64 {
	if u := principal(r).User; !u.IsAdmin() {
		return &u.ID
	}
	return nil
}
