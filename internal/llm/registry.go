package llm

import (
	"context"
	"slices"
	"strings"

	"github.com/paddockhq/paddock"
)

// Registry maps provider names to configured Providers. It is immutable and
// safe for concurrent use.
type Registry struct {
	providers map[string]Provider
}

// NewRegistry returns a Registry of ps, keyed by their Name. A later
// provider with the same name replaces an earlier one.
func NewRegistry(ps ...Provider) *Registry {
	r := &Registry{providers: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		if p != nil {
			r.providers[p.Name()] = p
		}
	}
	return r
}

// Names returns the names of the configured providers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Provider returns the provider called name ("gemini" is read as "google").
// The error is EUnavailable, saying which setting configures it, when the
// provider is known but not configured, and EInvalid for an unknown name.
func (r *Registry) Provider(name string) (Provider, error) {
	name = strings.ToLower(name)
	if name == "gemini" {
		name = Google
	}
	if p, ok := r.providers[name]; ok {
		return p, nil
	}
	switch name {
	case OpenAI:
		return nil, paddock.Errorf(paddock.EUnavailable, "no LLM provider %q is configured: set OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server)", name)
	case Anthropic:
		return nil, paddock.Errorf(paddock.EUnavailable, "no LLM provider %q is configured: set ANTHROPIC_API_KEY", name)
	case Google:
		return nil, paddock.Errorf(paddock.EUnavailable, "no LLM provider %q is configured: set GEMINI_API_KEY (or GOOGLE_API_KEY)", name)
	case "":
		return nil, paddock.Errorf(paddock.EInvalid, "no LLM provider given: name the model as provider/model, e.g. openai/gpt-4o-mini")
	}
	return nil, paddock.Errorf(paddock.EInvalid, "unknown LLM provider %q: want openai, anthropic or google", name)
}

// Resolve parses a model name with ParseModel and returns its provider and
// model id. A name whose provider cannot be inferred is EInvalid.
func (r *Registry) Resolve(model string) (Provider, string, error) {
	provider, id := ParseModel(model)
	if provider == "" {
		return nil, "", paddock.Errorf(paddock.EInvalid, "cannot tell the provider of model %q: name it as provider/model, e.g. openai/%s", model, model)
	}
	if id == "" {
		return nil, "", paddock.Errorf(paddock.EInvalid, "model name %q has no model id", model)
	}
	p, err := r.Provider(provider)
	if err != nil {
		return nil, "", err
	}
	return p, id, nil
}

// Stream resolves req.Model (a provider/model name) and streams req on that
// provider with the model id. It does not modify req.
func (r *Registry) Stream(ctx context.Context, req *Request, onEvent func(Event)) (*Response, error) {
	p, id, err := r.Resolve(req.Model)
	if err != nil {
		return nil, err
	}
	rr := *req
	rr.Model = id
	return p.Stream(ctx, &rr, onEvent)
}
