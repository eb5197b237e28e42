package llm

import (
	"cmp"
	"slices"
	"strings"
)

// Provider names.
const (
	OpenAI    = "openai"
	Anthropic = "anthropic"
	Google    = "google"
)

// ParseModel splits a model name such as "openai/gpt-4o-mini" into provider
// and model id. "gemini/..." is read as "google/...". Without a known
// provider prefix it infers the provider from well-known model id prefixes
// (gpt-, o1, o3, o4, chatgpt-: openai; claude-: anthropic; gemini-: google)
// and otherwise returns an empty provider with s unchanged, so that
// "meta-llama/Llama-3.1-8B" stays one model id.
func ParseModel(s string) (provider, model string) {
	s = strings.TrimSpace(s)
	if p, m, ok := strings.Cut(s, "/"); ok {
		switch p = strings.ToLower(p); p {
		case OpenAI, Anthropic, Google:
			return p, m
		case "gemini":
			return Google, m
		}
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "gpt-"), strings.HasPrefix(lower, "chatgpt-"),
		isOSeries(lower):
		return OpenAI, s
	case strings.HasPrefix(lower, "claude-"):
		return Anthropic, s
	case strings.HasPrefix(lower, "gemini-"):
		return Google, s
	}
	return "", s
}

func isOSeries(id string) bool {
	return len(id) >= 2 && id[0] == 'o' && id[1] >= '1' && id[1] <= '9' &&
		(len(id) == 2 || id[2] == '-')
}

// ModelInfo describes a model: its limits and its default price in USD per
// million tokens.
type ModelInfo struct {
	Provider      string
	ID            string // the API model id
	DisplayName   string
	ContextWindow int // tokens
	MaxOutput     int // tokens
	InputPrice    float64
	OutputPrice   float64
	// CachedInputPrice is the price of input read from the provider's
	// prompt cache, and CacheWritePrice that of input written to it; zero
	// means InputPrice.
	CachedInputPrice float64
	CacheWritePrice  float64
}

// CachePrices returns the prices of input read from and written to the
// prompt cache: m's, or InputPrice where m sets none.
func (m ModelInfo) CachePrices() (read, write float64) {
	return cmp.Or(m.CachedInputPrice, m.InputPrice), cmp.Or(m.CacheWritePrice, m.InputPrice)
}

// Cost returns the price in USD of u at m's prices: input read from or
// written to the prompt cache at CachePrices, the rest at InputPrice.
func (m ModelInfo) Cost(u Usage) float64 {
	read, write := m.CachePrices()
	cached, written := u.CachedInputTokens, u.CacheWriteTokens
	plain := max(u.InputTokens-cached-written, 0)
	return (float64(plain)*m.InputPrice + float64(cached)*read + float64(written)*write +
		float64(u.OutputTokens)*m.OutputPrice) / 1e6
}

// defaultModels is the model table of the providers Paddock documents, with
// list prices (standard tier, prompts up to 200k tokens) as of late 2025:
// cache reads at the providers' discounts (OpenAI 50-90%, Anthropic and
// Google 90%), Anthropic's 5-minute cache writes at 1.25 times input.
var defaultModels = []ModelInfo{
	{Provider: OpenAI, ID: "gpt-5", DisplayName: "GPT-5", ContextWindow: 400_000, MaxOutput: 128_000, InputPrice: 1.25, OutputPrice: 10, CachedInputPrice: 0.125},
	{Provider: OpenAI, ID: "gpt-4o", DisplayName: "GPT-4o", ContextWindow: 128_000, MaxOutput: 16_384, InputPrice: 2.50, OutputPrice: 10, CachedInputPrice: 1.25},
	{Provider: OpenAI, ID: "gpt-4o-mini", DisplayName: "GPT-4o mini", ContextWindow: 128_000, MaxOutput: 16_384, InputPrice: 0.15, OutputPrice: 0.60, CachedInputPrice: 0.075},
	{Provider: OpenAI, ID: "o3", DisplayName: "o3", ContextWindow: 200_000, MaxOutput: 100_000, InputPrice: 2, OutputPrice: 8, CachedInputPrice: 0.50},
	{Provider: Anthropic, ID: "claude-opus-4-5", DisplayName: "Claude Opus 4.5", ContextWindow: 200_000, MaxOutput: 64_000, InputPrice: 5, OutputPrice: 25, CachedInputPrice: 0.50, CacheWritePrice: 6.25},
	{Provider: Anthropic, ID: "claude-sonnet-4-5", DisplayName: "Claude Sonnet 4.5", ContextWindow: 200_000, MaxOutput: 64_000, InputPrice: 3, OutputPrice: 15, CachedInputPrice: 0.30, CacheWritePrice: 3.75},
	{Provider: Anthropic, ID: "claude-haiku-4-5", DisplayName: "Claude Haiku 4.5", ContextWindow: 200_000, MaxOutput: 64_000, InputPrice: 1, OutputPrice: 5, CachedInputPrice: 0.10, CacheWritePrice: 1.25},
	{Provider: Google, ID: "gemini-3-pro-preview", DisplayName: "Gemini 3 Pro", ContextWindow: 1_048_576, MaxOutput: 65_536, InputPrice: 2, OutputPrice: 12, CachedInputPrice: 0.20},
	{Provider: Google, ID: "gemini-2.5-pro", DisplayName: "Gemini 2.5 Pro", ContextWindow: 1_048_576, MaxOutput: 65_536, InputPrice: 1.25, OutputPrice: 10, CachedInputPrice: 0.125},
	{Provider: Google, ID: "gemini-2.5-flash", DisplayName: "Gemini 2.5 Flash", ContextWindow: 1_048_576, MaxOutput: 65_536, InputPrice: 0.30, OutputPrice: 2.50, CachedInputPrice: 0.03},
}

// Catalog is a model table: the defaults with configured overrides. It is
// immutable and safe for concurrent use.
type Catalog struct {
	models []ModelInfo
}

// NewCatalog returns the default table with overrides applied: an override
// replaces the default with the same provider and id (so config can change
// prices or limits), or adds a model (a local model behind an
// OpenAI-compatible server).
func NewCatalog(overrides ...ModelInfo) *Catalog {
	models := slices.Clone(defaultModels)
	for _, o := range overrides {
		i := slices.IndexFunc(models, func(m ModelInfo) bool { return m.Provider == o.Provider && m.ID == o.ID })
		if i >= 0 {
			models[i] = o
		} else {
			models = append(models, o)
		}
	}
	return &Catalog{models: models}
}

var defaultCatalog = NewCatalog()

// Lookup returns the model with the given provider and id. A dated snapshot
// id such as "gpt-4o-mini-2024-07-18" or "claude-sonnet-4-5-20250929"
// matches its model's entry, the longest id that prefixes it.
func (c *Catalog) Lookup(provider, id string) (ModelInfo, bool) {
	var best ModelInfo
	found := false
	for _, m := range c.models {
		if m.Provider != provider {
			continue
		}
		if m.ID == id {
			return m, true
		}
		if strings.HasPrefix(id, m.ID+"-") && len(m.ID) > len(best.ID) {
			best, found = m, true
		}
	}
	return best, found
}

// Models returns a copy of the table.
func (c *Catalog) Models() []ModelInfo { return slices.Clone(c.models) }

// LookupModel looks a model up in the default table (see Catalog.Lookup).
func LookupModel(provider, id string) (ModelInfo, bool) { return defaultCatalog.Lookup(provider, id) }

// Models returns a copy of the default table.
func Models() []ModelInfo { return defaultCatalog.Models() }
