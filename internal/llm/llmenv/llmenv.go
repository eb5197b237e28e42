// Package llmenv builds an llm.Registry from environment variables. It is
// the one package that imports every adapter, so that cmd/paddock can wire
// the providers with one call.
package llmenv

import (
	"net/http"

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
	cfg := func(key, url string) llm.Config {
		c := base
		c.APIKey, c.BaseURL = key, url
		return c
	}
	var ps []llm.Provider
	if key, url := getenv("OPENAI_API_KEY"), getenv("OPENAI_BASE_URL"); key != "" || url != "" {
		p, err := openai.New(cfg(key, url))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if key := getenv("ANTHROPIC_API_KEY"); key != "" {
		p, err := anthropic.New(cfg(key, getenv("ANTHROPIC_BASE_URL")))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	key := getenv("GEMINI_API_KEY")
	if key == "" {
		key = getenv("GOOGLE_API_KEY")
	}
	if key != "" {
		p, err := gemini.New(cfg(key, getenv("GEMINI_BASE_URL")))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return llm.NewRegistry(ps...), nil
}
