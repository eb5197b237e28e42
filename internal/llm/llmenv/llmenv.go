// Package llmenv builds an llm.Registry from environment variables. It is
// the one package that imports every adapter, so that cmd/paddock can wire
// the providers with one call.
package llmenv

import (
	"cmp"
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/anthropic"
	"github.com/paddockhq/paddock/internal/llm/gemini"
	"github.com/paddockhq/paddock/internal/llm/openai"
)

// FromEnv returns a Registry of the providers getenv configures:
//
//	openai     OPENAI_API_KEY and/or OPENAI_BASE_URL (an OpenAI-compatible server)
//	anthropic  ANTHROPIC_API_KEY, optional ANTHROPIC_BASE_URL
//	google     GEMINI_API_KEY or GOOGLE_API_KEY, optional GEMINI_BASE_URL
//
// A provider without its variables is left out; asking the Registry for it
// returns an EUnavailable error that names them. The providers use
// httpClient (nil: a default client) and the default retry policy and
// timeout; see Configure to set those.
func FromEnv(getenv func(string) string, httpClient *http.Client) (*llm.Registry, error) {
	return Configure(getenv, llm.Config{HTTPClient: httpClient})
}

// Configure is FromEnv with base as the template of every provider's
// Config (HTTP client, retries, timeout); the environment sets its APIKey
// and BaseURL.
func Configure(getenv func(string) string, base llm.Config) (*llm.Registry, error) {
	var ps []llm.Provider
	if key, url := getenv("OPENAI_API_KEY"), getenv(baseURLVar[llm.OpenAI]); key != "" || url != "" {
		p, err := newProvider(llm.OpenAI, base, key, url)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if key := getenv("ANTHROPIC_API_KEY"); key != "" {
		p, err := newProvider(llm.Anthropic, base, key, getenv(baseURLVar[llm.Anthropic]))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if key := cmp.Or(getenv("GEMINI_API_KEY"), getenv("GOOGLE_API_KEY")); key != "" {
		p, err := newProvider(llm.Google, base, key, getenv(baseURLVar[llm.Google]))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return llm.NewRegistry(ps...), nil
}

// baseURLVar names the variable of each provider's address.
var baseURLVar = map[string]string{llm.OpenAI: "OPENAI_BASE_URL", llm.Anthropic: "ANTHROPIC_BASE_URL", llm.Google: "GEMINI_BASE_URL"}

// newProvider makes provider name from base with key and url.
func newProvider(name string, base llm.Config, key, url string) (llm.Provider, error) {
	base.APIKey, base.BaseURL = key, url
	switch name {
	case llm.OpenAI:
		return openai.New(base)
	case llm.Anthropic:
		return anthropic.New(base)
	case llm.Google:
		return gemini.New(base)
	}
	return nil, paddock.Errorf(paddock.EInvalid, "unknown provider %q: the providers are openai, anthropic and google", name)
}

// Keyed makes providers with keys of their callers' (users' own keys),
// configured otherwise as Configure configures the server's: the base
// URLs of the environment and the template Config. It keeps the
// providers it made, by provider and key, so that a key's provider (and
// its connections) is made once.
type Keyed struct {
	getenv func(string) string
	base   llm.Config

	mu    sync.Mutex
	cache map[[2]string]llm.Provider // provider, SHA-256 of the key
}

// maxKeyed bounds the providers a Keyed keeps; past it, it starts over.
const maxKeyed = 1024

// NewKeyed returns a Keyed reading base URLs with getenv.
func NewKeyed(getenv func(string) string, base llm.Config) *Keyed {
	return &Keyed{getenv: getenv, base: base, cache: map[[2]string]llm.Provider{}}
}

// Provider returns provider name (openai, anthropic or google) with key.
func (k *Keyed) Provider(name, key string) (llm.Provider, error) {
	sum := sha256.Sum256([]byte(key))
	id := [2]string{name, string(sum[:])}
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.cache[id]; ok {
		return p, nil
	}
	p, err := newProvider(name, k.base, key, k.getenv(baseURLVar[name]))
	if err != nil {
		return nil, err
	}
	if len(k.cache) >= maxKeyed {
		clear(k.cache)
	}
	k.cache[id] = p
	return p, nil
}
