package main

import (
	"cmp"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/httpapi"
	"github.com/paddockhq/paddock/internal/llm"
)

// Config is Paddock's one typed configuration. It is filled, in order of
// precedence from lowest to highest, from the defaults below, an optional
// YAML file (--config or PADDOCK_CONFIG), PADDOCK_* environment variables
// (the `env` tags) and command-line flags.
type Config struct {
	Addr          string `yaml:"addr" env:"PADDOCK_ADDR"`                     // listen address
	Data          string `yaml:"data" env:"PADDOCK_DATA"`                     // data directory
	Database      string `yaml:"database" env:"PADDOCK_DATABASE"`             // "" = SQLite in Data; or postgres://...
	AdminPassword string `yaml:"admin_password" env:"PADDOCK_ADMIN_PASSWORD"` // first-start admin password; "" = generated
	PublicURL     string `yaml:"public_url" env:"PADDOCK_PUBLIC_URL"`         // how clients reach this server, for printed URLs

	Log struct {
		Format   string `yaml:"format" env:"PADDOCK_LOG_FORMAT"` // text or json
		Level    string `yaml:"level" env:"PADDOCK_LOG_LEVEL"`   // debug, info, warn, error
		Requests bool   `yaml:"requests" env:"PADDOCK_LOG_REQUESTS"`
	} `yaml:"log"`

	Auth struct {
		TokenTTL       Duration `yaml:"token_ttl" env:"PADDOCK_TOKEN_TTL"`     // access token lifetime
		SigningKey     string   `yaml:"signing_key" env:"PADDOCK_SIGNING_KEY"` // hex; "" = <data>/jwt.key, generated once
		Captcha        bool     `yaml:"captcha" env:"PADDOCK_CAPTCHA"`         // admin login requires a captcha
		TrustedProxies []string `yaml:"trusted_proxies" env:"PADDOCK_TRUSTED_PROXIES"`
		// OAuth2 is sign-in with GitHub and Google (seed 003's
		// /api/v1/admin/oauth2/...): each provider is on once it has a
		// client id and secret.
		OAuth2 struct {
			GitHub struct {
				OAuthClient `yaml:",inline"`
				URL         string `yaml:"url" env:"PADDOCK_GITHUB_URL"`         // GitHub Enterprise: its web address; default github.com
				APIURL      string `yaml:"api_url" env:"PADDOCK_GITHUB_API_URL"` // and its API's; default api.github.com
			} `yaml:"github"`
			Google      OAuthClient `yaml:"google"`
			AllowSignup bool        `yaml:"allow_signup" env:"PADDOCK_OAUTH2_ALLOW_SIGNUP"` // create users for accounts no user is linked to
			SuccessURL  string      `yaml:"success_url" env:"PADDOCK_OAUTH2_SUCCESS_URL"`   // the browser goes there with the token in the fragment
		} `yaml:"oauth2"`
	} `yaml:"auth"`

	RateLimits struct {
		Auth              int      `yaml:"auth" env:"PADDOCK_RATE_LIMIT_AUTH"`
		EnvironmentCreate int      `yaml:"environment_create" env:"PADDOCK_RATE_LIMIT_ENVIRONMENT_CREATE"`
		Exec              int      `yaml:"exec" env:"PADDOCK_RATE_LIMIT_EXEC"`
		Other             int      `yaml:"other" env:"PADDOCK_RATE_LIMIT_OTHER"`
		LoginFailures     int      `yaml:"login_failures" env:"PADDOCK_RATE_LIMIT_LOGIN_FAILURES"`
		Window            Duration `yaml:"window" env:"PADDOCK_RATE_LIMIT_WINDOW"`
	} `yaml:"rate_limits"`

	Redis struct {
		// URL of a Redis shared by the replicas, which then count rate
		// limits together: redis://[:password@]host:port/db (rediss:// for
		// TLS). "" = each process counts its own.
		URL string `yaml:"url" env:"PADDOCK_REDIS_URL"`
	} `yaml:"redis"`

	MaxBodyBytes   int64 `yaml:"max_body_bytes" env:"PADDOCK_MAX_BODY_BYTES"`
	MaxUploadBytes int64 `yaml:"max_upload_bytes" env:"PADDOCK_MAX_UPLOAD_BYTES"` // files uploaded into environments
	// MaxAttachmentBytes caps the decoded attachments of one assistants
	// request (413 past it).
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes" env:"PADDOCK_MAX_ATTACHMENT_BYTES"`

	Sandbox struct {
		DefaultRuntimeClass string            `yaml:"default_runtime_class" env:"PADDOCK_DEFAULT_RUNTIME_CLASS"` // runc or gvisor
		DefaultTimeout      Duration          `yaml:"default_timeout" env:"PADDOCK_DEFAULT_TIMEOUT"`             // environment lifetime
		PidsLimit           int64             `yaml:"pids_limit" env:"PADDOCK_PIDS_LIMIT"`
		MaxExecOutput       int64             `yaml:"max_exec_output" env:"PADDOCK_MAX_EXEC_OUTPUT"` // bytes kept per stream
		StopGrace           Duration          `yaml:"stop_grace" env:"PADDOCK_STOP_GRACE"`
		NodeLabels          map[string]string `yaml:"node_labels" env:"PADDOCK_NODE_LABELS"` // matched by node_selector
		RuncPath            string            `yaml:"runc" env:"PADDOCK_RUNC"`
		RunscPath           string            `yaml:"runsc" env:"PADDOCK_RUNSC"`
		RunscPlatform       string            `yaml:"runsc_platform" env:"PADDOCK_RUNSC_PLATFORM"`       // ptrace, or kvm where /dev/kvm exists
		UIDShift            int64             `yaml:"uid_shift" env:"PADDOCK_UID_SHIFT"`                 // host uid of root in environments
		GuestBinary         string            `yaml:"guest_binary" env:"PADDOCK_GUEST_BINARY"`           // default: this binary
		PauseStopsClock     bool              `yaml:"pause_stops_clock" env:"PADDOCK_PAUSE_STOPS_CLOCK"` // paused environments do not age
		WarmPool            int               `yaml:"warm_pool" env:"PADDOCK_WARM_POOL"`                 // environments started ahead per recent shape; 0: none

		// Templates are what POST /api/v1/agent/sandboxes creates, by
		// template_id. None configured: the built-in "default" and
		// "agents-backend-sandbox" (see sandboxTemplates).
		Templates map[string]SandboxTemplate `yaml:"templates"`
	} `yaml:"sandbox"`

	Network struct {
		Bridge        string   `yaml:"bridge" env:"PADDOCK_NETWORK_BRIDGE"` // Linux bridge of environments
		Subnet        string   `yaml:"subnet" env:"PADDOCK_NETWORK_SUBNET"` // IPv4 subnet of environments
		Table         string   `yaml:"nft_table" env:"PADDOCK_NETWORK_TABLE"`
		DNS           []string `yaml:"dns_upstreams" env:"PADDOCK_DNS_UPSTREAMS"`   // resolvers, ip:port; default /etc/resolv.conf's
		AllowInternet bool     `yaml:"allow_internet" env:"PADDOCK_ALLOW_INTERNET"` // default of network_policy.allow_internet
		DenyCIDRs     []string `yaml:"deny_cidrs" env:"PADDOCK_DENY_CIDRS"`         // never reachable from environments
	} `yaml:"network"`

	Agents struct {
		DefaultModel string `yaml:"default_model" env:"PADDOCK_DEFAULT_MODEL"` // provider/model of agents that name none
		DefaultImage string `yaml:"default_image" env:"PADDOCK_DEFAULT_IMAGE"` // image of session environments
		// Lease is how long a run stays with a worker that stops renewing
		// it (a crashed process) before another takes it over; default 30s.
		Lease Duration `yaml:"lease" env:"PADDOCK_AGENT_LEASE"`
		// SummaryModel writes the summaries that compact long histories;
		// default: the model of the run.
		SummaryModel string `yaml:"summary_model" env:"PADDOCK_SUMMARY_MODEL"`
		// MCPAllowPrivate lets users' own MCP servers (and those a chat
		// request gives inline) be on loopback and private networks, as
		// shared servers, which admins add, always may.
		MCPAllowPrivate bool `yaml:"mcp_allow_private" env:"PADDOCK_MCP_ALLOW_PRIVATE"`
		// ClaudeOAuthTokenURL is where users' Claude Code sign-ins are
		// exchanged and refreshed; default Anthropic's.
		ClaudeOAuthTokenURL string `yaml:"claude_oauth_token_url" env:"PADDOCK_CLAUDE_OAUTH_TOKEN_URL"`
		// Models adds models to the built-in table (a local model behind an
		// OpenAI-compatible server) or changes the context window and
		// prices of listed ones.
		Models []ModelConfig `yaml:"models"`
	} `yaml:"agents"`

	Credits struct {
		// Enforce refuses model calls (402) of users whose balance is spent.
		Enforce bool    `yaml:"enforce" env:"PADDOCK_CREDITS_ENFORCE"`
		Initial float64 `yaml:"initial" env:"PADDOCK_CREDITS_INITIAL"` // USD every user starts with
	} `yaml:"credits"`

	Search struct {
		Provider string `yaml:"provider" env:"PADDOCK_SEARCH_PROVIDER"` // searxng, brave or tavily; "" turns web search off
		URL      string `yaml:"url" env:"PADDOCK_SEARCH_URL"`           // SearXNG's URL; the public API by default for the others
		APIKey   string `yaml:"api_key" env:"PADDOCK_SEARCH_API_KEY"`   // Brave and Tavily
	} `yaml:"search"`

	// Tracing exports OpenTelemetry spans over OTLP/HTTP: a span per
	// request, agent run, model call and tool call.
	Tracing struct {
		// Endpoint is the collector's traces URL, such as
		// http://127.0.0.1:4318/v1/traces; "" reads the standard
		// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT,
		// and tracing is off when they are unset too.
		Endpoint     string   `yaml:"endpoint" env:"PADDOCK_TRACING_ENDPOINT"`
		SampleRatio  float64  `yaml:"sample_ratio" env:"PADDOCK_TRACING_SAMPLE_RATIO"`   // share of new traces kept, 0 to 1; default 1
		BatchTimeout Duration `yaml:"batch_timeout" env:"PADDOCK_TRACING_BATCH_TIMEOUT"` // longest a span waits to be sent; default 5s
	} `yaml:"tracing"`

	// TTS selects the text-to-speech engine of /api/v1/agent/tts and the
	// podcast generator.
	TTS struct {
		// Engine is openai (OpenAI's speech API, or an OpenAI-compatible
		// one at BaseURL), espeak (espeak-ng and lame in an environment of
		// Image) or "": openai when OPENAI_API_KEY is set, else espeak when
		// Image is set, else none.
		Engine  string `yaml:"engine" env:"PADDOCK_TTS_ENGINE"`
		Image   string `yaml:"image" env:"PADDOCK_TTS_IMAGE"`       // espeak: an image with espeak-ng and lame
		Model   string `yaml:"model" env:"PADDOCK_TTS_MODEL"`       // openai: default gpt-4o-mini-tts
		BaseURL string `yaml:"base_url" env:"PADDOCK_TTS_BASE_URL"` // openai: default OPENAI_BASE_URL, else OpenAI's
	} `yaml:"tts"`

	Tasks struct {
		Tick Duration `yaml:"tick" env:"PADDOCK_TASK_TICK"` // how often due scheduled tasks are looked for; default 1s
	} `yaml:"tasks"`

	Images struct {
		Mirrors map[string]string `yaml:"registry_mirrors" env:"PADDOCK_REGISTRY_MIRRORS"` // registry host -> mirror URL
	} `yaml:"images"`
}

// OAuthClient is Paddock's client at an OAuth2 provider. The environment
// variables are named after the provider: PADDOCK_GITHUB_CLIENT_ID,
// PADDOCK_GOOGLE_CLIENT_SECRET...
type OAuthClient struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	RedirectURL  string `yaml:"redirect_url"` // default: this server's callback, at the address the browser used
	// Endpoints, for tests and self-hosted providers; default the provider's.
	AuthURL  string `yaml:"auth_url"`
	TokenURL string `yaml:"token_url"`
	UserURL  string `yaml:"user_url"`
}

// oauth returns the OAuth2 sign-in configuration of the API.
func (c *Config) oauth(getenv func(string) string) httpapi.OAuthConfig {
	o := c.Auth.OAuth2
	out := httpapi.OAuthConfig{Providers: map[string]httpapi.OAuthProvider{}, AllowSignup: o.AllowSignup, SuccessURL: o.SuccessURL}
	for name, p := range map[string]struct {
		client   OAuthClient
		defaults httpapi.OAuthProvider
	}{
		"github": {o.GitHub.OAuthClient, httpapi.GitHubProvider(o.GitHub.URL, o.GitHub.APIURL)},
		"google": {o.Google, httpapi.GoogleProvider()},
	} {
		env := "PADDOCK_" + strings.ToUpper(name) + "_"
		id, secret := cmp.Or(getenv(env+"CLIENT_ID"), p.client.ClientID), cmp.Or(getenv(env+"CLIENT_SECRET"), p.client.ClientSecret)
		if id == "" {
			continue
		}
		prov := p.defaults
		prov.ClientID, prov.ClientSecret, prov.RedirectURL = id, secret, p.client.RedirectURL
		prov.AuthURL = cmp.Or(p.client.AuthURL, prov.AuthURL)
		prov.TokenURL = cmp.Or(p.client.TokenURL, prov.TokenURL)
		if p.client.UserURL != "" {
			prov.UserURL = p.client.UserURL
			if name == "github" {
				prov.EmailsURL = strings.TrimSuffix(p.client.UserURL, "/") + "/emails"
			}
		}
		out.Providers[name] = prov
	}
	return out
}

// SandboxTemplate is a sandbox template of the configuration: the
// environment a sandbox of seed 003's API is made of.
type SandboxTemplate struct {
	Image     string `yaml:"image"` // default: agents.default_image
	Resources struct {
		CPU     string `yaml:"cpu"`
		Memory  string `yaml:"memory"`
		Storage string `yaml:"storage"`
	} `yaml:"resources"` // default: 1 CPU, 1Gi, 2Gi
	Isolation struct {
		RuntimeClass  string `yaml:"runtime_class"` // runc or gvisor; default: sandbox.default_runtime_class
		NetworkPolicy *struct {
			AllowInternet        *bool    `yaml:"allow_internet"`
			AllowedEgressCIDRs   []string `yaml:"allowed_egress_cidrs"`
			AllowedIngressPorts  []int    `yaml:"allowed_ingress_ports"`
			AllowClusterInternal bool     `yaml:"allow_cluster_internal"`
			AllowedDomains       []string `yaml:"allowed_domains"`
		} `yaml:"network_policy"`
		SecurityContext *struct {
			RunAsUser                *int64 `yaml:"run_as_user"`
			RunAsGroup               *int64 `yaml:"run_as_group"`
			RunAsNonRoot             bool   `yaml:"run_as_non_root"`
			ReadOnlyRootFilesystem   bool   `yaml:"read_only_root_filesystem"`
			AllowPrivilegeEscalation *bool  `yaml:"allow_privilege_escalation"`
		} `yaml:"security_context"`
	} `yaml:"isolation"`
	Env        map[string]string `yaml:"env"`
	Ports      []int             `yaml:"ports"`       // exposed through the port proxy from the start
	VSCodePort int               `yaml:"vscode_port"` // where a VS Code server in the image listens
	Timeout    int               `yaml:"timeout"`     // lifetime in seconds; default: sandbox.default_timeout
}

// builtinTemplates are the templates of a configuration that has none.
var builtinTemplates = []string{httpapi.DefaultSandboxTemplate, "agents-backend-sandbox"}

// sandboxTemplates returns the sandbox templates for the API, with their
// defaults applied.
func (c *Config) sandboxTemplates() map[string]httpapi.SandboxTemplate {
	src := c.Sandbox.Templates
	if len(src) == 0 {
		src = map[string]SandboxTemplate{}
		for _, name := range builtinTemplates {
			src[name] = SandboxTemplate{}
		}
	}
	out := make(map[string]httpapi.SandboxTemplate, len(src))
	for name, t := range src {
		h := httpapi.SandboxTemplate{
			Image: cmp.Or(t.Image, c.Agents.DefaultImage),
			Resources: paddock.Resources{
				CPU: cmp.Or(t.Resources.CPU, "1"), Memory: cmp.Or(t.Resources.Memory, "1Gi"), Storage: cmp.Or(t.Resources.Storage, "2Gi"),
			},
			Env: t.Env, Ports: t.Ports, VSCodePort: t.VSCodePort, Timeout: t.Timeout,
		}
		h.Isolation.RuntimeClass = t.Isolation.RuntimeClass
		if p := t.Isolation.NetworkPolicy; p != nil {
			h.Isolation.NetworkPolicy = &paddock.NetworkPolicy{
				AllowInternet: p.AllowInternet, AllowedEgressCIDRs: p.AllowedEgressCIDRs, AllowedIngressPorts: p.AllowedIngressPorts,
				AllowClusterInternal: p.AllowClusterInternal, AllowedDomains: p.AllowedDomains,
			}
		}
		if sc := t.Isolation.SecurityContext; sc != nil {
			h.Isolation.SecurityContext = &paddock.SecurityContext{
				RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
				ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
			}
		}
		out[name] = h
	}
	return out
}

// validateTemplates checks what can be checked of the sandbox templates
// before a sandbox is made of them (the rest is checked at creation, as
// for any environment).
func (c *Config) validateTemplates() error {
	for name, t := range c.Sandbox.Templates {
		if name == "" || len(name) > 100 || strings.ContainsAny(name, ",= \t\n") {
			return fmt.Errorf("sandbox.templates: %q is not a template name (at most 100 characters, no spaces, ',' or '=')", name)
		}
		for _, p := range t.Ports {
			if p < 1 || p > 65535 {
				return fmt.Errorf("sandbox.templates.%s: port %d is not a TCP port", name, p)
			}
		}
		if t.VSCodePort < 0 || t.VSCodePort > 65535 {
			return fmt.Errorf("sandbox.templates.%s: vscode_port %d is not a TCP port", name, t.VSCodePort)
		}
		if t.Timeout < 0 || t.Timeout > paddock.MaxTimeout {
			return fmt.Errorf("sandbox.templates.%s: timeout must be between 0 (the default lifetime) and %d seconds (30 days), not %d", name, paddock.MaxTimeout, t.Timeout)
		}
		switch t.Isolation.RuntimeClass {
		case "", "runc", "gvisor":
		default:
			return fmt.Errorf("sandbox.templates.%s: runtime_class must be runc or gvisor, not %q", name, t.Isolation.RuntimeClass)
		}
		if p := t.Isolation.NetworkPolicy; p != nil {
			for _, cidr := range p.AllowedEgressCIDRs {
				if _, err := netip.ParsePrefix(cidr); err != nil {
					if _, err := netip.ParseAddr(cidr); err != nil {
						return fmt.Errorf("sandbox.templates.%s: allowed_egress_cidrs: %q is not a CIDR", name, cidr)
					}
				}
			}
		}
	}
	return nil
}

// ModelConfig is an entry of the model table: limits and prices (USD per
// million tokens) of a model. Zero fields keep the built-in values.
type ModelConfig struct {
	Name          string  `yaml:"name"` // provider/model, e.g. openai/llama3.1:8b
	DisplayName   string  `yaml:"display_name"`
	ContextWindow int     `yaml:"context_window"` // tokens
	MaxOutput     int     `yaml:"max_output"`     // tokens
	InputPrice    float64 `yaml:"input_price"`
	OutputPrice   float64 `yaml:"output_price"`
	// Input read from the provider's prompt cache, and written to it.
	CachedInputPrice float64 `yaml:"cached_input_price"`
	CacheWritePrice  float64 `yaml:"cache_write_price"`
}

// catalog returns the model table with the configured models applied.
func (c *Config) catalog() *llm.Catalog {
	base := llm.NewCatalog()
	var overrides []llm.ModelInfo
	for _, m := range c.Agents.Models {
		provider, id := llm.ParseModel(m.Name)
		info, ok := base.Lookup(provider, id)
		if !ok || info.ID != id {
			info = llm.ModelInfo{Provider: provider, ID: id, DisplayName: id}
		}
		info.DisplayName = cmp.Or(m.DisplayName, info.DisplayName)
		info.ContextWindow = cmp.Or(m.ContextWindow, info.ContextWindow)
		info.MaxOutput = cmp.Or(m.MaxOutput, info.MaxOutput)
		info.InputPrice = cmp.Or(m.InputPrice, info.InputPrice)
		info.OutputPrice = cmp.Or(m.OutputPrice, info.OutputPrice)
		info.CachedInputPrice = cmp.Or(m.CachedInputPrice, info.CachedInputPrice)
		info.CacheWritePrice = cmp.Or(m.CacheWritePrice, info.CacheWritePrice)
		overrides = append(overrides, info)
	}
	return llm.NewCatalog(overrides...)
}

// defaultConfig returns the embedded defaults.
func defaultConfig() Config {
	var c Config
	c.Addr = "127.0.0.1:8000"
	c.Data = "./data"
	c.Log.Format = "text"
	c.Log.Level = "info"
	c.Log.Requests = true
	c.Tracing.SampleRatio = 1
	c.Tracing.BatchTimeout = Duration(5 * time.Second)
	c.Auth.TokenTTL = Duration(24 * time.Hour)
	c.RateLimits.Auth = 10
	c.RateLimits.EnvironmentCreate = 20
	c.RateLimits.Exec = 100
	c.RateLimits.Other = 200
	c.RateLimits.LoginFailures = 5
	c.RateLimits.Window = Duration(time.Minute)
	c.MaxBodyBytes = 1 << 20
	c.MaxUploadBytes = 10 << 30
	c.MaxAttachmentBytes = 20 << 20
	c.Sandbox.DefaultRuntimeClass = "runc"
	c.Sandbox.DefaultTimeout = Duration(time.Hour)
	c.Sandbox.PidsLimit = 1024
	c.Sandbox.MaxExecOutput = 1 << 20
	c.Sandbox.StopGrace = Duration(10 * time.Second)
	c.Sandbox.RuncPath = "runc"
	c.Sandbox.RunscPath = "runsc"
	c.Sandbox.RunscPlatform = "ptrace"
	c.Sandbox.UIDShift = 100000
	c.Sandbox.WarmPool = 1
	c.Agents.DefaultModel = "openai/gpt-4o-mini"
	c.Agents.DefaultImage = "python:3.11-slim"
	c.Network.Bridge = "pdk0"
	c.Network.Subnet = "10.209.0.0/16"
	c.Network.Table = "paddock"
	c.Network.AllowInternet = true
	return c
}

// Duration is a time.Duration written as "90s" or "24h" in files and env.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 90s or 24h", s)
	}
	*d = Duration(v)
	return nil
}

// loadConfig builds the configuration for a command from its flag set and
// arguments. Flags registered on fs by register win over everything else.
func loadConfig(fs *flag.FlagSet, args []string, register func(fs *flag.FlagSet, c *Config)) (Config, error) {
	c := defaultConfig()
	configPath := os.Getenv("PADDOCK_CONFIG")
	// A first pass over the arguments finds --config before anything else.
	for i, a := range args {
		for _, p := range []string{"-config=", "--config="} {
			if strings.HasPrefix(a, p) {
				configPath = strings.TrimPrefix(a, p)
			}
		}
		if (a == "-config" || a == "--config") && i+1 < len(args) {
			configPath = args[i+1]
		}
	}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
			return c, fmt.Errorf("config %s: %w", configPath, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem()); err != nil {
		return c, err
	}
	fs.String("config", configPath, "YAML config file (env PADDOCK_CONFIG)")
	register(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	return c, c.validate()
}

// applyEnv sets every field with an `env` tag whose variable is set.
func applyEnv(v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("env")
		raw, ok := os.LookupEnv(name)
		if name == "" || !ok {
			continue
		}
		if err := setField(fv, raw); err != nil {
			return fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, raw string) error {
	if d, ok := fv.Addr().Interface().(*Duration); ok {
		return d.Set(raw)
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", raw)
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		fv.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		fv.SetFloat(f)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	case reflect.Map:
		m := map[string]string{}
		for _, p := range strings.Split(raw, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok {
				return fmt.Errorf("%q: want KEY=VALUE pairs separated by commas", raw)
			}
			m[k] = val
		}
		fv.Set(reflect.ValueOf(m))
	default:
		return fmt.Errorf("unsupported setting type %s", fv.Type())
	}
	return nil
}

func (c *Config) validate() error {
	for _, m := range c.Agents.Models {
		if provider, _ := llm.ParseModel(m.Name); provider == "" || !strings.Contains(m.Name, "/") {
			return fmt.Errorf("agents.models: name %q must be provider/model with provider openai, anthropic or google", m.Name)
		}
		if m.ContextWindow < 0 || m.MaxOutput < 0 || m.InputPrice < 0 || m.OutputPrice < 0 || m.CachedInputPrice < 0 || m.CacheWritePrice < 0 {
			return fmt.Errorf("agents.models: %s: limits and prices must not be negative", m.Name)
		}
	}
	if c.MaxAttachmentBytes <= 0 {
		return fmt.Errorf("max_attachment_bytes must be positive")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log format must be text or json, not %q", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Auth.TokenTTL <= 0 {
		return fmt.Errorf("token_ttl must be positive")
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	switch c.Sandbox.DefaultRuntimeClass {
	case "runc", "gvisor":
	default:
		return fmt.Errorf("default runtime class must be runc or gvisor, not %q", c.Sandbox.DefaultRuntimeClass)
	}
	if c.Sandbox.UIDShift < 1 || c.Sandbox.UIDShift > 1<<31 {
		return fmt.Errorf("uid_shift must be a positive host uid with room for 65536 ids")
	}
	if _, err := netip.ParsePrefix(c.Network.Subnet); err != nil {
		return fmt.Errorf("network subnet %q is not an IPv4 CIDR", c.Network.Subnet)
	}
	for _, d := range c.Network.DenyCIDRs {
		if _, err := netip.ParsePrefix(d); err != nil {
			return fmt.Errorf("deny_cidrs: %q is not a CIDR", d)
		}
	}
	if err := c.validateTemplates(); err != nil {
		return err
	}
	switch c.TTS.Engine {
	case "", "openai":
	case "espeak":
		if c.TTS.Image == "" {
			return fmt.Errorf("tts.engine espeak needs tts.image: an image with espeak-ng and lame (paddock image build paddock-tts --packages espeak-ng,lame)")
		}
	default:
		return fmt.Errorf("tts.engine must be openai or espeak, not %q", c.TTS.Engine)
	}
	if c.Redis.URL != "" {
		// Checked here for a clear message; the URL itself is never printed
		// (it may hold a password).
		if u, err := url.Parse(c.Redis.URL); err != nil || u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
			return fmt.Errorf("redis.url must be redis://[:password@]host:port/db, rediss://... or unix://...")
		}
	}
	if u := c.Agents.ClaudeOAuthTokenURL; u != "" {
		if p, err := url.Parse(u); err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
			return fmt.Errorf("agents.claude_oauth_token_url must be an http(s) URL, not %q", u)
		}
	}
	for host, u := range c.Images.Mirrors {
		if host == "" || !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("registry mirror %q=%q: want HOST=http(s)://URL", host, u)
		}
	}
	return nil
}

func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.Auth.TrustedProxies {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// otherEnv are PADDOCK_ variables read outside Config's env tags: the
// OAuth2 clients' (Config.oauth) and the CLI's. (PADDOCK_TEST_ ones are
// the tests'.)
var otherEnv = []string{"PADDOCK_CONFIG", "PADDOCK_URL", "PADDOCK_TOKEN", "PADDOCK_CREDENTIALS",
	"PADDOCK_GITHUB_CLIENT_ID", "PADDOCK_GITHUB_CLIENT_SECRET", "PADDOCK_GOOGLE_CLIENT_ID", "PADDOCK_GOOGLE_CLIENT_SECRET"}

// unknownEnv returns, for each PADDOCK_ variable of environ that Paddock
// does not read (a typo, or a setting of another version), a warning that
// names it and, when one is close, the variable meant.
func unknownEnv(environ []string) []string {
	known := slices.Clone(otherEnv)
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type.Kind() == reflect.Struct {
				collect(f.Type)
			} else if name := f.Tag.Get("env"); name != "" {
				known = append(known, name)
			}
		}
	}
	collect(reflect.TypeFor[Config]())
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PADDOCK_") || strings.HasPrefix(name, "PADDOCK_TEST_") || slices.Contains(known, name) {
			continue
		}
		msg := "environment variable " + name + " is not a Paddock setting: it is ignored"
		if near := nearest(name, known); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		out = append(out, msg)
	}
	return out
}

// nearest returns the name of known that name most likely misspells: one
// that begins the other (PADDOCK_DATA for PADDOCK_DATA_DIR), else one at
// most 2 edits away; "" when none is.
func nearest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.HasPrefix(name, k+"_") || strings.HasPrefix(k, name+"_") {
			return k
		}
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
