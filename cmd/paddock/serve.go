package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/auth"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/credit"
	"github.com/paddockhq/paddock/internal/httpapi"
	"github.com/paddockhq/paddock/internal/image"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmenv"
	"github.com/paddockhq/paddock/internal/mcptool"
	"github.com/paddockhq/paddock/internal/pubsub"
	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/network"
	"github.com/paddockhq/paddock/internal/sandbox/oci"
	"github.com/paddockhq/paddock/internal/schedule"
	"github.com/paddockhq/paddock/internal/search"
	"github.com/paddockhq/paddock/internal/speech"
	"github.com/paddockhq/paddock/internal/store"
	"github.com/paddockhq/paddock/internal/telemetry"
)

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, registerServeFlags)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	// The Redis client's own messages (failed dials) join Paddock's log;
	// set once per process, here rather than in Main (tests run several).
	redis.SetLogger(redisLog{log})
	m := NewMain(cfg, log)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	fmt.Fprintf(stdout, "Paddock %s listening on %s\n", version, m.URL())
	<-ctx.Done()
	log.Info("shutting down")
	return m.Close()
}

func registerServeFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env PADDOCK_ADDR)")
	fs.StringVar(&c.Data, "data", c.Data, "data directory (env PADDOCK_DATA)")
	fs.StringVar(&c.Database, "database", c.Database, "database: empty for SQLite in the data directory, or postgres://... (env PADDOCK_DATABASE)")
	fs.StringVar(&c.Redis.URL, "redis-url", c.Redis.URL, "Redis shared by replicas for rate limits: redis://[:password@]host:port/db; empty: in process (env PADDOCK_REDIS_URL)")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "log format: text or json (env PADDOCK_LOG_FORMAT)")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "log level: debug, info, warn, error (env PADDOCK_LOG_LEVEL)")
	fs.BoolVar(&c.Auth.Captcha, "captcha", c.Auth.Captcha, "require a captcha on admin login (env PADDOCK_CAPTCHA)")
	fs.StringVar(&c.Sandbox.DefaultRuntimeClass, "default-runtime-class", c.Sandbox.DefaultRuntimeClass, "runtime class of environments that name none: runc or gvisor (env PADDOCK_DEFAULT_RUNTIME_CLASS)")
	fs.Func("registry-mirror", "HOST=URL: pull images of registry HOST from URL, e.g. docker.io=http://127.0.0.1:5000 (repeatable; env PADDOCK_REGISTRY_MIRRORS=HOST=URL,...)", func(v string) error {
		host, u, ok := strings.Cut(v, "=")
		if !ok || host == "" || u == "" {
			return fmt.Errorf("want HOST=URL, got %q", v)
		}
		if c.Images.Mirrors == nil {
			c.Images.Mirrors = map[string]string{}
		}
		c.Images.Mirrors[host] = u
		return nil
	})
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

func newLogger(cfg Config, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// Main is a running Paddock server: the wiring of every component. Tests
// start it on 127.0.0.1:0 and drive it over HTTP.
type Main struct {
	Config Config
	Log    *slog.Logger
	// Getenv reads the LLM providers' variables (OPENAI_API_KEY, ...);
	// nil means os.Getenv. Tests point it at their own fake providers.
	Getenv func(string) string

	db        *store.DB
	api       *httpapi.Server
	images    *image.Store
	netw      *network.Network
	manager   *sandbox.Manager
	providers []string // the configured LLM providers
	closed    bool
	listener  net.Listener
	server    *http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closers   []func() error
	tracing   *telemetry.Tracing
}

// NewMain returns an unstarted server.
func NewMain(cfg Config, log *slog.Logger) *Main { return &Main{Config: cfg, Log: log} }

// URL is the base URL the server is reachable at.
func (m *Main) URL() string {
	if m.Config.PublicURL != "" {
		return strings.TrimRight(m.Config.PublicURL, "/")
	}
	addr := m.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Run opens the store, prepares identity, and starts serving. It returns once
// the server is listening; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	// 0711: environments' unprivileged root must traverse the data
	// directory to reach its rootfs under <data>/sandbox; nothing in it can
	// be listed, and the secrets in it are 0600.
	if err := os.MkdirAll(cfg.Data, 0o711); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(cfg.Data, 0o711); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	tracing, err := telemetry.New(ctx, telemetry.Config{Endpoint: cfg.Tracing.Endpoint, SampleRatio: cfg.Tracing.SampleRatio,
		BatchTimeout: time.Duration(cfg.Tracing.BatchTimeout), Version: version, Getenv: m.getenv})
	if err != nil {
		return err
	}
	m.tracing = tracing
	m.closers = append(m.closers, func() error { // last: the spans of everything else's shutdown go too
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(ctx); err != nil {
			m.Log.Warn("send the last spans", "err", err)
		}
		return nil
	})
	if tracing.Enabled {
		m.Log.Info("tracing", "endpoint", tracing.Endpoint, "sample_ratio", cfg.Tracing.SampleRatio)
	}
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.Data, "paddock.db")
		// SQLite gives its journal files the database file's mode.
		if f, err := os.OpenFile(dsn, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
			f.Close()
		}
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	m.db = db
	m.closers = append(m.closers, db.Close)
	limiter, redisMon, err := m.rateLimiter(ctx)
	if err != nil {
		return err
	}
	users := store.NewUserService(db)
	keys := store.NewAPIKeyService(db)
	tokenStore := store.NewTokenService(db)

	if err := m.ensureAdmin(ctx, users); err != nil {
		return err
	}
	signingKey, err := m.signingKey()
	if err != nil {
		return err
	}
	tokens, err := auth.NewTokens(signingKey, time.Duration(cfg.Auth.TokenTTL), tokenStore)
	if err != nil {
		return err
	}
	envStore := store.NewEnvironmentService(db)
	manager, err := m.sandbox(envStore)
	if err != nil {
		return err
	}
	mcpServers, err := store.NewMCPServerService(db, deriveKey(signingKey, "mcp-headers"))
	if err != nil {
		return err
	}
	providerKeys, err := store.NewProviderKeyService(db, deriveKey(signingKey, "provider-keys"))
	if err != nil {
		return err
	}
	mcpClient := mcptool.New(mcptool.Options{Version: version})
	m.closers = append(m.closers, mcpClient.Close)
	agentStores := agentStores{
		agents: store.NewAgentService(db), sessions: store.NewSessionService(db), messages: store.NewMessageService(db),
		runs: store.NewRunService(db), events: store.NewEventService(db), usage: store.NewUsageService(db),
		mcpServers: mcpServers, mcp: mcpClient, resources: store.NewResourceService(db), providerKeys: providerKeys,
	}
	catalog := cfg.catalog()
	credits := &credit.Ledger{Store: store.NewCreditService(db), Initial: cfg.Credits.Initial, Enforce: cfg.Credits.Enforce}
	runner, follow, err := m.agents(agentStores, catalog, credits, envStore, manager)
	if err != nil {
		return err
	}
	schedules := store.NewScheduleService(db)
	scheduler := schedule.New(schedule.Deps{Schedules: schedules, Agents: agentStores.agents, Sessions: agentStores.sessions,
		Runs: agentStores.runs, Runner: runner, Log: m.Log}, time.Duration(cfg.Tasks.Tick))
	proxies, _ := cfg.trustedProxies() // validated by loadConfig
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	api, err := httpapi.New(httpapi.Config{
		Version:            version,
		Tracer:             m.tracer(),
		MaxBodyBytes:       cfg.MaxBodyBytes,
		MaxUploadBytes:     cfg.MaxUploadBytes,
		MaxAttachmentBytes: cfg.MaxAttachmentBytes,
		DefaultModel:       cfg.Agents.DefaultModel,
		DataDir:            cfg.Data,
		Providers:          m.providers,
		SearchProvider:     strings.ToLower(cfg.Search.Provider),
		TrustedProxies:     proxies,
		CaptchaEnabled:     cfg.Auth.Captcha,
		TicketKey:          deriveKey(signingKey, "tickets"),
		LogRequests:        cfg.Log.Requests,
		SandboxTemplates:   cfg.sandboxTemplates(),
		MCPPrivate:         cfg.Agents.MCPAllowPrivate,
		OAuth:              cfg.oauth(m.getenv),
		RateLimits: httpapi.RateLimits{
			Window: time.Duration(cfg.RateLimits.Window), Auth: cfg.RateLimits.Auth,
			EnvironmentCreate: cfg.RateLimits.EnvironmentCreate, Exec: cfg.RateLimits.Exec,
			Other: cfg.RateLimits.Other, LoginFailures: cfg.RateLimits.LoginFailures,
		},
	}, httpapi.Deps{
		Users:    users,
		APIKeys:  keys,
		Tokens:   tokens,
		Auth:     auth.NewAuthenticator(users, keys, tokens, m.Log),
		Limiter:  limiter,
		Redis:    redisMon,
		Captchas: auth.NewCaptchas(deriveKey(signingKey, "captcha"), 5*time.Minute),
		Ping:     db.Ping,
		Runtime:  manager,

		Environments:     environments{manager},
		EnvironmentStore: envStore,
		Images:           apiImages{m.images},
		Attacher:         manager,
		Files:            manager,
		Ports:            manager,
		Processes:        manager,
		Suspender:        environments{manager},

		Agents:        agentStores.agents,
		Sessions:      agentStores.sessions,
		Messages:      agentStores.messages,
		Events:        agentStores.events,
		Usage:         agentStores.usage,
		Credits:       credits,
		Schedules:     schedules,
		Identities:    store.NewIdentityService(db),
		MCPServers:    agentStores.mcpServers,
		MCP:           mcpClient,
		ClaudeOAuth:   m.claudeOAuth(),
		Resources:     agentStores.resources,
		Speech:        m.speech(environments{manager}),
		Audit:         store.NewAuditService(db),
		RBAC:          store.NewRBACService(db),
		GenBusinesses: store.NewGenBusinessService(db),
		ProviderKeys:  providerKeys,
		Scheduler:     scheduler,
		Catalog:       catalog,
		Runner:        runner,
		FollowEvents:  follow,
		Registry:      reg,
		Gatherer:      reg,
		Logger:        m.Log,
	})
	if err != nil {
		return fmt.Errorf("build API: %w", err)
	}

	m.api = api
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	m.listener = ln
	m.server = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.goBackground(func() { m.sweepTokens(bg, tokenStore) })
	m.goBackground(func() {
		if err := runner.Run(bg); err != nil {
			m.Log.Error("agent runner", "err", err)
		}
	})
	m.goBackground(func() { _ = scheduler.Run(bg) })
	m.goBackground(func() {
		if err := manager.Run(bg); err != nil {
			m.Log.Error("sandbox manager", "err", err)
		}
	})
	m.goBackground(func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("serve", "err", err)
		}
	})
	m.Log.Info("paddock started", "version", version, "url", m.URL(), "data", cfg.Data, "database", db.Dialect())
	for _, w := range unknownEnv(os.Environ()) {
		m.Log.Warn(w)
	}
	return nil
}

// rateLimiter returns the limiter of the API: in Redis when redis.url is
// set (so replicas count together), with the monitor of that Redis; else
// in this process, with no monitor.
func (m *Main) rateLimiter(ctx context.Context) (auth.Limiter, httpapi.RedisMonitor, error) {
	if m.Config.Redis.URL == "" {
		return auth.NewMemoryLimiter(), nil, nil
	}
	c, err := auth.OpenRedis(ctx, m.Config.Redis.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis.url: %w", err)
	}
	m.closers = append(m.closers, c.Close)
	opt := c.Options()
	m.Log.Info("rate limits are kept in Redis", "addr", opt.Addr, "db", opt.DB)
	return auth.NewRedisLimiter(c), redisMonitor{c}, nil
}

// redisLog writes the Redis client's messages to Paddock's log.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// redisMonitor reports on the Redis of the rate limits.
type redisMonitor struct{ c *redis.Client }

func (r redisMonitor) RedisInfo(ctx context.Context) (string, int64, error) {
	info, err := r.c.Info(ctx).Result()
	if err != nil {
		return "", 0, fmt.Errorf("redis INFO: %w", err)
	}
	n, err := r.c.DBSize(ctx).Result()
	if err != nil {
		return "", 0, fmt.Errorf("redis DBSIZE: %w", err)
	}
	return info, n, nil
}

func (m *Main) goBackground(f func()) {
	m.wg.Add(1)
	go func() { defer m.wg.Done(); f() }()
}

// claudeOAuth signs users' Claude Code in, at the configured endpoint.
func (m *Main) claudeOAuth() codingagent.OAuth {
	return codingagent.OAuth{TokenURL: m.Config.Agents.ClaudeOAuthTokenURL}
}

// tracer is the tracer of spans, or nil when tracing is off: the
// components then skip even building a span's attributes.
func (m *Main) tracer() trace.Tracer {
	if m.tracing == nil || !m.tracing.Enabled {
		return nil
	}
	return m.tracing.Tracer
}

// Close stops serving (letting requests in flight finish for up to 15 s) and
// releases everything Run opened.
func (m *Main) Close() error {
	m.closed = true
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.api != nil {
		m.api.Close() // stores the operation logs still queued
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}

// sandbox opens the image store and the oci runtime and returns the
// Manager of environments over them; Close releases them.
func (m *Main) sandbox(envs paddock.EnvironmentService) (*sandbox.Manager, error) {
	cfg := m.Config
	var mgr *sandbox.Manager // set below, before anything can change an image
	images, err := image.Open(image.Options{
		Dir: filepath.Join(cfg.Data, "images"), UIDShift: uint32(cfg.Sandbox.UIDShift),
		Mirrors: cfg.Images.Mirrors, Logger: m.Log,
		// An image stays as it is while environments use it.
		InUse: func(ctx context.Context) (map[string][]string, error) { return mgr.ImageUsers(ctx) },
	})
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	guestBin := cfg.Sandbox.GuestBinary
	if guestBin == "" {
		if guestBin, err = defaultGuest(); err != nil {
			return nil, err
		}
	}
	if err := checkStatic(guestBin); err != nil {
		return nil, err
	}
	netw, err := m.network()
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, netw.Close)
	m.netw = netw
	warm := cfg.Sandbox.WarmPool
	if warm <= 0 {
		warm = -1 // the driver's "none"
	}
	rt, err := oci.New(oci.Config{
		Network:  netw,
		StateDir: filepath.Join(cfg.Data, "sandbox"), RuncPath: cfg.Sandbox.RuncPath, RunscPath: cfg.Sandbox.RunscPath,
		RunscPlatform: cfg.Sandbox.RunscPlatform, UIDShift: cfg.Sandbox.UIDShift, GuestBinary: guestBin,
		MaxOutput: int(cfg.Sandbox.MaxExecOutput), WarmPool: warm, Logger: m.Log,
	})
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, rt.Close)
	mgr = sandbox.NewManager(sandbox.Config{
		DefaultRuntimeClass: cfg.Sandbox.DefaultRuntimeClass, DefaultTimeout: time.Duration(cfg.Sandbox.DefaultTimeout),
		PidsLimit: cfg.Sandbox.PidsLimit, MaxExecOutput: int(cfg.Sandbox.MaxExecOutput), NodeLabels: cfg.Sandbox.NodeLabels,
		StopGrace: time.Duration(cfg.Sandbox.StopGrace), LogDir: filepath.Join(cfg.Data, "logs"),
		PauseStopsClock: cfg.Sandbox.PauseStopsClock,
	}, envs, images, rt, m.Log)
	m.closers = append(m.closers, mgr.Close)
	m.manager = mgr
	m.images = images
	return mgr, nil
}

// agents builds the agent runtime: the LLM providers configured by the
// usual variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, their
// *_BASE_URL), the event bus, and the durable loop.
// agentStores are the stores of the agent runtime, shared by the runner
// and the API.
type agentStores struct {
	agents   *store.AgentService
	sessions *store.SessionService
	messages *store.MessageService
	runs     *store.RunService
	events   *store.EventService
	usage    *store.UsageService

	mcpServers   *store.MCPServerService
	mcp          *mcptool.Client // reaches the MCP servers
	resources    *store.ResourceService
	providerKeys *store.ProviderKeyService
}

func (m *Main) agents(st agentStores, catalog *llm.Catalog, credits *credit.Ledger, envs paddock.EnvironmentService, mgr *sandbox.Manager) (*agent.Runner, httpapi.EventFollower, error) {
	providers, err := llmenv.FromEnv(m.getenv, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("configure LLM providers: %w", err)
	}
	m.providers = providers.Names()
	if t := m.tracer(); t != nil {
		providers = providers.WithTracer(t)
	}
	withKeys := &userProviders{Registry: providers, keys: st.providerKeys, keyed: llmenv.NewKeyed(m.getenv, llm.Config{}), tracer: m.tracer()}
	if names := providers.Names(); len(names) == 0 {
		m.Log.Warn("no LLM provider is configured: agents will answer with an error until OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY is set")
	} else {
		m.Log.Info("LLM providers", "providers", names, "default_model", m.Config.Agents.DefaultModel)
	}
	bus := pubsub.New(1024)
	var searcher agent.WebSearcher
	if sc := m.Config.Search; sc.Provider != "" {
		c, err := search.New(search.Config{Provider: sc.Provider, URL: sc.URL, APIKey: sc.APIKey}, nil)
		if err != nil {
			return nil, nil, err
		}
		searcher = c
		m.Log.Info("web search", "provider", c.Provider())
	}
	runner := agent.NewRunner(agent.Config{
		Model: m.Config.Agents.DefaultModel, DefaultImage: m.Config.Agents.DefaultImage, Lease: time.Duration(m.Config.Agents.Lease),
		Catalog: catalog, Summarizer: m.Config.Agents.SummaryModel, MCPPrivate: m.Config.Agents.MCPAllowPrivate,
	}, agent.Deps{
		Providers: withKeys, Agents: st.agents, Sessions: st.sessions,
		Messages: st.messages, Runs: st.runs, Events: st.events, Usage: st.usage, Credits: credits.Check, Search: searcher,
		Environments: envs, Sandbox: mgr, Bus: bus, MCP: st.mcp, MCPServers: st.mcpServers, ClaudeOAuth: m.claudeOAuth(),
		Resources: st.resources, Log: m.Log, Tracer: m.tracer(),
	})
	follow := func(ctx context.Context, sessionID string, after int64) <-chan *paddock.Event {
		return pubsub.Follow(ctx, st.events, bus, sessionID, after)
	}
	return runner, follow, nil
}

// userProviders is the server's providers and users' own keys
// (agent.UserProviders): a user's key makes a provider configured as the
// server's (base URL, retries) that calls with that key.
type userProviders struct {
	*llm.Registry
	keys   paddock.ProviderKeyService
	keyed  *llmenv.Keyed
	tracer trace.Tracer // nil: no spans
}

func (u *userProviders) ForUser(ctx context.Context, userID int64, name string) (llm.Provider, bool, error) {
	k, err := u.keys.ProviderKey(ctx, userID, name)
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	p, err := u.keyed.Provider(name, k.Key)
	if err != nil {
		return nil, false, err
	}
	if u.tracer != nil {
		p = llm.Trace(p, u.tracer)
	}
	return p, true, nil
}

// network sets up environments' networking: the bridge, the nftables
// rules of their policies and the DNS forwarder.
func (m *Main) network() (*network.Network, error) {
	cfg := m.Config
	subnet, _ := netip.ParsePrefix(cfg.Network.Subnet) // validated by loadConfig
	var deny []netip.Prefix
	for _, d := range cfg.Network.DenyCIDRs {
		p, _ := netip.ParsePrefix(d)
		deny = append(deny, p.Masked())
	}
	// A database on another host must be out of reach of every policy.
	if u, err := url.Parse(cfg.Database); err == nil && u.Hostname() != "" {
		if addrs, err := net.LookupHost(u.Hostname()); err == nil {
			for _, a := range addrs {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() && !ip.IsLoopback() {
					deny = append(deny, netip.PrefixFrom(ip, 32))
				}
			}
		}
	}
	n, err := network.New(context.Background(), network.Config{
		StateDir: filepath.Join(cfg.Data, "network"), Bridge: cfg.Network.Bridge, Subnet: subnet, Table: cfg.Network.Table,
		Upstreams: cfg.Network.DNS, DenyInternetByDefault: !cfg.Network.AllowInternet, DenyCIDRs: deny, Logger: m.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("set up environment networking (needs root, iproute2 and nftables): %w", err)
	}
	return n, nil
}

// environments is the Manager as the API uses it, with network policies
// checked before anything is stored.
// speech returns the text-to-speech engine the config selects, or nil.
func (m *Main) speech(sb speech.Sandbox) speech.Engine {
	c := m.Config.TTS
	key := m.getenv("OPENAI_API_KEY")
	switch {
	case c.Engine == "openai" || c.Engine == "" && key != "":
		base := cmp.Or(c.BaseURL, m.getenv("OPENAI_BASE_URL"))
		m.Log.Info("text to speech", "engine", "openai", "model", cmp.Or(c.Model, "gpt-4o-mini-tts"))
		return speech.NewOpenAI(base, key, c.Model, nil)
	case c.Image != "":
		m.Log.Info("text to speech", "engine", "espeak-ng", "image", c.Image)
		return &speech.Espeak{Sandbox: sb, Image: c.Image}
	}
	return nil
}

type environments struct{ *sandbox.Manager }

func (e environments) Create(ctx context.Context, env *paddock.Environment) error {
	if err := network.ValidatePolicy(env.Isolation.NetworkPolicy); err != nil {
		return err
	}
	return e.Manager.Create(ctx, env)
}

// Pause pauses an environment in mode, "freeze" or "hibernate".
func (e environments) Pause(ctx context.Context, id, mode string) error {
	return e.Manager.Pause(ctx, id, sandbox.PauseMode(mode))
}

// apiImages adapts the image store to the API: builds through the API
// choose packages and suite only (never hooks or mirrors, which run as root).
type apiImages struct{ *image.Store }

func (s apiImages) Build(ctx context.Context, name string, packages []string, suite string, progress func(paddock.ImageProgress)) (*paddock.Image, error) {
	return s.Store.Build(ctx, name, image.BuildOptions{Packages: packages, Suite: suite}, progress)
}

// defaultGuest returns the guest agent environments run: paddock-guest
// next to this binary (make build puts it there), which starts faster and
// uses less memory, else this binary itself ("paddock guest").
func defaultGuest() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the paddock binary for the guest agent: %w", err)
	}
	small := filepath.Join(filepath.Dir(self), "paddock-guest")
	if st, err := os.Stat(small); err == nil && st.Mode().IsRegular() && checkStatic(small) == nil {
		return small, nil
	}
	return self, nil
}

// checkStatic refuses a guest binary that needs a dynamic loader: it runs
// inside images whose libc is unknown.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("guest binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("guest binary %s is dynamically linked; build paddock with CGO_ENABLED=0 (make build) or set PADDOCK_GUEST_BINARY to a static build", path)
		}
	}
	return nil
}

// ensureAdmin creates the first admin on a store with no users, with the
// configured password or a generated one printed once to the log.
func (m *Main) ensureAdmin(ctx context.Context, users paddock.UserService) error {
	_, n, err := users.Users(ctx, paddock.UserFilter{Limit: 1})
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	password, generated := m.Config.AdminPassword, false
	if password == "" {
		password, generated = auth.RandomPassword(20), true
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	u := &paddock.User{Username: "admin", Nickname: "Administrator", Role: paddock.RoleAdmin, PasswordHash: hash}
	if err := users.CreateUser(ctx, u); err != nil {
		if paddock.ErrorCode(err) == paddock.EConflict { // another replica won the race
			return nil
		}
		return fmt.Errorf("create admin user: %w", err)
	}
	if generated {
		m.Log.Warn("created the admin user with a generated password; it is shown only this once",
			"username", "admin", "password", password)
	} else {
		m.Log.Info("created the admin user with the password from PADDOCK_ADMIN_PASSWORD", "username", "admin")
	}
	return nil
}

func (m *Main) signingKey() ([]byte, error) {
	if k := m.Config.Auth.SigningKey; k != "" {
		key, err := hex.DecodeString(k)
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("signing_key must be at least 32 bytes in hex")
		}
		return key, nil
	}
	return auth.LoadOrCreateKey(filepath.Join(m.Config.Data, "jwt.key"))
}

// deriveKey derives an independent key for one purpose from the signing key.
func deriveKey(key []byte, purpose string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("paddock/" + purpose))
	return h.Sum(nil)
}

// getenv reads the process environment (or Getenv, in tests).
func (m *Main) getenv(key string) string {
	if m.Getenv != nil {
		return m.Getenv(key)
	}
	return os.Getenv(key)
}

// sweepTokens deletes expired token records every hour.
func (m *Main) sweepTokens(ctx context.Context, tokens paddock.TokenService) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := tokens.DeleteExpiredTokens(ctx, time.Now()); err != nil && ctx.Err() == nil {
			m.Log.Warn("sweep expired tokens", "err", err)
		} else if n > 0 {
			m.Log.Debug("swept expired tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
