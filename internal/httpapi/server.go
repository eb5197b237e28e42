// Package httpapi serves Paddock's HTTP API: the four documented surfaces
// (environments, agents, assistants, platform), health, metrics and the
// OpenAPI description. Every route is declared in routes.go; handlers return
// errors, which one adapter renders in the route's surface's error shape.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/credit"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/speech"
)

// Config holds the API's settings. Zero values take the defaults below.
type Config struct {
	Version        string
	Tracer         trace.Tracer // spans of requests; nil: none
	MaxBodyBytes   int64        // cap on JSON bodies (default 1 MiB)
	MaxImportBytes int64        // cap on image archives (default 16 GiB)
	MaxUploadBytes int64        // cap on file uploads into environments (default 10 GiB)
	// MaxAttachmentBytes caps the decoded attachments of one assistants
	// request (default 20 MiB); its body may be that, base64-encoded,
	// plus MaxBodyBytes.
	MaxAttachmentBytes int64
	DefaultModel       string         // the model of agents that name none, "provider/model"
	DataDir            string         // reported by the server monitor
	Providers          []string       // the configured LLM providers, for GET /api/v1/agent/config
	SearchProvider     string         // the web search provider, "" when none
	TicketKey          []byte         // signs attach and port tickets; random when empty
	RateLimits         RateLimits     // per principal and route category
	TrustedProxies     []netip.Prefix // peers whose X-Forwarded-For is believed
	CaptchaEnabled     bool           // admin login checks captcha_id/captcha_code
	LogRequests        bool           // one log line per request
	// SandboxTemplates are what POST /api/v1/agent/sandboxes creates, by
	// template_id ("default" when the request names none).
	SandboxTemplates map[string]SandboxTemplate
	// MCPPrivate lets users' own MCP servers be on loopback and private
	// networks (shared ones, added by admins, always may).
	MCPPrivate bool
	OAuth      OAuthConfig // sign-in with GitHub and Google
}

// RateLimits are requests per Window by category (seed 004's table).
type RateLimits struct {
	Window            time.Duration // default 1 minute
	Auth              int           // per client address; default 10
	EnvironmentCreate int           // default 20
	Exec              int           // default 100
	Other             int           // default 200
	Proxy             int           // requests through the port proxy; default 6000
	LoginFailures     int           // failed logins per username per LoginWindow; default 5
	LoginWindow       time.Duration // default 15 minutes
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxImportBytes <= 0 {
		c.MaxImportBytes = 16 << 30
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 10 << 30
	}
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = 20 << 20
	}
	if len(c.TicketKey) == 0 {
		c.TicketKey = make([]byte, 32)
		_, _ = rand.Read(c.TicketKey)
	}
	rl := &c.RateLimits
	for _, d := range []struct {
		v   *int
		def int
	}{{&rl.Auth, 10}, {&rl.EnvironmentCreate, 20}, {&rl.Exec, 100}, {&rl.Other, 200}, {&rl.Proxy, 6000}, {&rl.LoginFailures, 5}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if rl.Window <= 0 {
		rl.Window = time.Minute
	}
	if rl.LoginWindow <= 0 {
		rl.LoginWindow = 15 * time.Minute
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Authenticator resolves bearer credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (*paddock.Principal, error)
}

// RedisMonitor reports on the Redis server the rate limits are kept in.
type RedisMonitor interface {
	// RedisInfo returns the text of Redis's INFO and the number of keys of
	// the database Paddock uses.
	RedisInfo(ctx context.Context) (info string, dbSize int64, err error)
}

// Deps are the services the API serves. Runtime may be nil before the
// sandbox runtime is wired.
type Deps struct {
	Users    paddock.UserService
	APIKeys  paddock.APIKeyService
	Tokens   *auth.Tokens
	Auth     Authenticator
	Limiter  auth.Limiter
	Captchas *auth.Captchas
	Redis    RedisMonitor // the Redis of the rate limits; nil: none (they are kept in process)
	Runtime  Runtime      // nil until a sandbox runtime is wired

	Environments     Environments               // the sandbox Manager
	EnvironmentStore paddock.EnvironmentService // reads of environments
	Images           Images                     // the local image store
	Attacher         Attacher                   // interactive processes
	Files            Files                      // files in environments
	Ports            Ports                      // ports inside environments
	Processes        Processes                  // background processes in environments
	Suspender        Suspender                  // pause, resume, extend

	Agents        paddock.AgentService   // agents (= assistants)
	Sessions      paddock.SessionService // sessions of agents
	Messages      paddock.MessageService
	Events        paddock.EventService
	Usage         paddock.UsageService            // model usage records
	Credits       *credit.Ledger                  // balances and their enforcement
	Identities    paddock.IdentityService         // users' OAuth2 accounts
	MCPServers    paddock.MCPServerService        // registered MCP servers; nil: no MCP
	Resources     paddock.ResourceService         // knowledge-base resources (RAG); nil: none
	Speech        speech.Engine                   // text to speech; nil: none
	MCP           MCPTools                        // reaches them
	ClaudeOAuth   codingagent.OAuth               // signs users' Claude Code in; the zero value: Anthropic's endpoint
	Schedules     paddock.ScheduleService         // scheduled tasks
	Audit         paddock.AuditService            // login and operation logs; nil: not kept
	RBAC          paddock.RBACService             // roles, departments, menus; nil: only admins pass permission checks
	GenBusinesses paddock.GenBusinessService      // code generator configurations; nil: none
	ProviderKeys  paddock.ProviderKeyService      // users' own LLM provider keys; nil: none
	Scheduler     Scheduler                       // starts their runs
	Catalog       *llm.Catalog                    // the model table; nil: llm's
	Runner        AgentRunner                     // the agent loop
	FollowEvents  EventFollower                   // live session events
	Ping          func(ctx context.Context) error // checks the store
	Registry      prometheus.Registerer           // nil: metrics are kept in a private registry
	Gatherer      prometheus.Gatherer
	Logger        *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	cfg Config
	Deps
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	routes  []route
	tickets *tickets
	audit   *auditWriter
	frames  frameCache // encoded session events, shared by their subscribers
	docs    docs
	now     func() time.Time

	slideLocks slideLocks   // serializes the edits of each sandbox's slide index
	mcpEnv     http.Handler // serves environments as MCP servers (mcpserve.go)
}

// New returns a Server. Call Handler to serve it.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	s := &Server{cfg: cfg, Deps: deps, log: deps.Logger, now: time.Now, tickets: newTickets(cfg.TicketKey, 30*time.Second)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.Catalog == nil {
		s.Catalog = llm.NewCatalog()
	}
	if s.Audit != nil {
		s.audit = newAuditWriter(s)
	}
	if deps.Registry == nil {
		reg := prometheus.NewRegistry()
		s.Registry, s.Gatherer = reg, reg
	}
	m, err := newMetrics(s.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.mcpEnv = s.environmentMCPHandler()
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.pattern(), s.wrap(rt))
	}
	s.handler = s.outer(mux)
	return s, nil
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// handlerFunc is a handler that returns its error for the adapter to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// newRequestID returns 16 random hex characters.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a caller's id when it is short and printable, so it
// can be logged safely.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// deadlines, hijack for WebSockets).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer assigns request ids, recovers panics, logs, and renders 404/405 for
// requests no route matched in the shape of the surface their path belongs to.
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", id, "path", r.URL.Path, "panic", v)
				if sw.status == 0 {
					s.writeError(sw, r, surfaceOf(r.URL.Path), paddock.Errorf(paddock.EInternal, "internal error (request id %s)", id))
				}
			}
			if s.cfg.LogRequests {
				s.log.InfoContext(r.Context(), "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "bytes", sw.bytes, "duration_ms", float64(s.now().Sub(start).Microseconds())/1000,
					"remote", s.clientAddr(r))
			}
		}()
		if servingPattern(mux, r) == "" {
			if a := alias(mux, r); a != nil {
				mux.ServeHTTP(sw, a)
			} else {
				s.unmatched(sw, r, mux, start)
			}
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// alias returns the request a path no route matched stands for, or nil:
// the path without its trailing slash (the seeds list a prefix's root
// route as "/", as in GET /api/v1/agent/config/), and a platform route
// under seed 000's prefix /agent/ at its /api/v1/agent/ path.
func alias(mux *http.ServeMux, r *http.Request) *http.Request {
	p := r.URL.Path
	var paths []string
	if trimmed := strings.TrimSuffix(p, "/"); trimmed != p && trimmed != "" {
		paths = append(paths, trimmed)
	}
	if strings.HasPrefix(p, "/agent/") {
		for _, q := range append([]string{p}, paths...) {
			paths = append(paths, "/api/v1"+q)
		}
	}
	for _, q := range paths {
		a := r.Clone(r.Context())
		a.URL.Path, a.URL.RawPath = q, ""
		if servingPattern(mux, a) != "" {
			return a
		}
	}
	return nil
}

// servingPattern returns the pattern of the route that serves r, or "" when none
// does: no pattern matches, or the mux would answer with a redirect, which
// helps no API client: to the clean form of a path with "//", "." or ".."
// in it, or from a path to the same with a trailing slash when only a
// pattern ending in a {name...} wildcard matches it.
func servingPattern(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if pattern == "" {
		return ""
	}
	p := r.URL.Path
	if cleanPath(p) != p {
		return ""
	}
	_, pp, _ := strings.Cut(pattern, " ") // every pattern names its method
	if strings.HasSuffix(pp, "...}") && !strings.HasSuffix(p, "/") && strings.Count(pp, "/") > strings.Count(p, "/") {
		return ""
	}
	return pattern
}

// cleanPath is p as the mux cleans it: rooted, without "//", "." or "..",
// keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// allowedMethods returns the methods some route serves r's path with. A
// path that a route names literally (POST /api/v1/agent/sandboxes/connect)
// is that route's: the wildcard routes it also matches for other methods
// (GET /api/v1/agent/sandboxes/{id}) do not count.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	fewest := -1 // the fewest wildcards of a matching pattern
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		a := r.Clone(r.Context())
		a.Method = m
		p := servingPattern(mux, a)
		if p == "" {
			continue
		}
		switch n := strings.Count(p, "{"); {
		case fewest < 0 || n < fewest:
			fewest, out = n, []string{m}
		case n == fewest:
			out = append(out, m)
		}
	}
	return out
}

// unmatched answers a request no route serves: 405 (with Allow) when the
// path exists for other methods, else 404.
func (s *Server) unmatched(w *statusWriter, r *http.Request, mux *http.ServeMux, start time.Time) {
	sf := surfaceOf(r.URL.Path)
	if allow := strings.Join(allowedMethods(mux, r), ", "); allow != "" && cleanPath(r.URL.Path) == r.URL.Path {
		w.Header().Set("Allow", allow)
		s.writeError(w, r, sf, &paddock.Error{Code: codeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + allow})
	} else {
		s.writeError(w, r, sf, paddock.Errorf(paddock.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
	}
	s.metrics.observe(r.Method, "unmatched", w.status, s.now().Sub(start))
}

// clientAddr is the caller's address: the peer, or the first untrusted hop of
// X-Forwarded-For when the peer is a trusted proxy.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
