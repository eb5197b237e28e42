package httpapi

import (
	"net/http"
	"slices"
	"sort"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// GET /api/v1/agent/config (seed 003): what this server offers: providers
// and models, features, sandbox templates.

type agentConfigProvider struct {
	Name       string `json:"name" enum:"openai,anthropic,google"`
	Configured bool   `json:"configured"`
}

type agentConfigModel struct {
	Model            string  `json:"model" description:"provider/model, as agents name it"`
	Provider         string  `json:"provider"`
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	ContextWindow    int     `json:"context_window"`
	MaxOutput        int     `json:"max_output"`
	InputPrice       float64 `json:"input_price" description:"USD per million tokens"`
	OutputPrice      float64 `json:"output_price" description:"USD per million tokens"`
	CachedInputPrice float64 `json:"cached_input_price" description:"USD per million input tokens read from the provider's prompt cache"`
	CacheWritePrice  float64 `json:"cache_write_price" description:"USD per million input tokens written to the provider's prompt cache"`
	Available        bool    `json:"available" description:"its provider is configured: on the server, or by a key of your own"`
}

type agentConfigTemplate struct {
	ID         string            `json:"id"`
	Image      string            `json:"image"`
	Resources  paddock.Resources `json:"resources"`
	Ports      []int             `json:"ports,omitempty"`
	VSCodePort int               `json:"vscode_port,omitempty"`
	Timeout    int               `json:"timeout,omitempty"`
}

type agentConfigFeatures struct {
	Sandboxes       bool   `json:"sandboxes"`
	WebSearch       bool   `json:"web_search"`
	SearchProvider  string `json:"search_provider,omitempty"`
	DeepThinking    bool   `json:"deep_thinking"`
	CreditsEnforced bool   `json:"credits_enforced"`
	ScheduledTasks  bool   `json:"scheduled_tasks"`
	RAG             bool   `json:"rag"`
	MCP             bool   `json:"mcp"`
	TTS             bool   `json:"tts"`
}

type agentConfigResponse struct {
	Version      string                `json:"version"`
	DefaultModel string                `json:"default_model"`
	DefaultAgent string                `json:"default_agent"`
	Providers    []agentConfigProvider `json:"providers"`
	Models       []agentConfigModel    `json:"models"`
	Features     agentConfigFeatures   `json:"features"`
	Templates    []agentConfigTemplate `json:"templates"`
}

func (s *Server) handleAgentConfig(w http.ResponseWriter, r *http.Request) error {
	out := agentConfigResponse{Version: s.cfg.Version, DefaultModel: s.cfg.DefaultModel, DefaultAgent: DefaultPlatformAgent,
		Models: []agentConfigModel{}, Templates: []agentConfigTemplate{}}
	// A provider the caller stored a key of their own for is configured
	// for them, whether or not the server has a key.
	configured := slices.Clone(s.cfg.Providers)
	if s.ProviderKeys != nil {
		own, err := s.ProviderKeys.ProviderKeys(r.Context(), principal(r).User.ID)
		if err != nil {
			return err
		}
		for _, k := range own {
			configured = append(configured, k.Provider)
		}
	}
	for _, p := range []string{llm.OpenAI, llm.Anthropic, llm.Google} {
		out.Providers = append(out.Providers, agentConfigProvider{Name: p, Configured: slices.Contains(configured, p)})
	}
	for _, m := range s.Catalog.Models() {
		read, write := m.CachePrices()
		out.Models = append(out.Models, agentConfigModel{Model: m.Provider + "/" + m.ID, Provider: m.Provider, ID: m.ID, Name: m.DisplayName,
			ContextWindow: m.ContextWindow, MaxOutput: m.MaxOutput, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice,
			CachedInputPrice: read, CacheWritePrice: write,
			Available: slices.Contains(configured, m.Provider)})
	}
	out.Features = agentConfigFeatures{Sandboxes: s.Environments != nil, WebSearch: s.cfg.SearchProvider != "", SearchProvider: s.cfg.SearchProvider,
		DeepThinking: true, CreditsEnforced: s.Credits != nil && s.Credits.Enforce, ScheduledTasks: s.Schedules != nil, MCP: s.mcpReady() == nil, RAG: s.ragReady() == nil, TTS: s.speechReady() == nil}
	ids := make([]string, 0, len(s.cfg.SandboxTemplates))
	for id := range s.cfg.SandboxTemplates {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := s.cfg.SandboxTemplates[id]
		out.Templates = append(out.Templates, agentConfigTemplate{ID: id, Image: t.Image, Resources: t.Resources, Ports: t.Ports,
			VSCodePort: t.VSCodePort, Timeout: t.Timeout})
	}
	return writeJSON(w, http.StatusOK, out)
}
