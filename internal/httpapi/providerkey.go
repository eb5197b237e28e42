package httpapi

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

type providerKeyRequest struct {
	APIKey string `json:"api_key" required:"true" maxLength:"1024" description:"the provider's API key; stored encrypted and never shown back"`
}

type providerKeyResponse struct {
	Provider  string    `json:"provider" enum:"openai,anthropic,google"`
	KeyHint   string    `json:"key_hint" description:"the key's first three and last four characters"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type providerKeyList struct {
	Items []providerKeyResponse `json:"items"`
}

type providerParam struct {
	Provider string `path:"provider" enum:"openai,anthropic,google,gemini"`
}

func toProviderKeyResponse(k *paddock.ProviderKey) providerKeyResponse {
	return providerKeyResponse{Provider: k.Provider, KeyHint: k.Hint(), CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt}
}

// providerKeys returns the store of provider keys, or EUnavailable.
func (s *Server) providerKeys() (paddock.ProviderKeyService, error) {
	if s.ProviderKeys == nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "provider keys are not available on this server")
	}
	return s.ProviderKeys, nil
}

// providerKeyTarget returns the store and the {provider} of a route:
// openai, anthropic or google ("gemini" is google).
func (s *Server) providerKeyTarget(r *http.Request) (paddock.ProviderKeyService, string, error) {
	keys, err := s.providerKeys()
	if err != nil {
		return nil, "", err
	}
	name := strings.ToLower(r.PathValue("provider"))
	if name == "gemini" {
		name = llm.Google
	}
	switch name {
	case llm.OpenAI, llm.Anthropic, llm.Google:
		return keys, name, nil
	}
	return nil, "", paddock.Errorf(paddock.EInvalid, "unknown provider %q: the providers are openai, anthropic and google", r.PathValue("provider"))
}

func (s *Server) handleProviderKeyList(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.providerKeys()
	if err != nil {
		return err
	}
	list, err := keys.ProviderKeys(r.Context(), principal(r).User.ID)
	if err != nil {
		return err
	}
	out := providerKeyList{Items: make([]providerKeyResponse, len(list))}
	for i, k := range list {
		out.Items[i] = toProviderKeyResponse(k)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleProviderKeyPut(w http.ResponseWriter, r *http.Request) error {
	keys, name, err := s.providerKeyTarget(r)
	if err != nil {
		return err
	}
	var req providerKeyRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.APIKey == "":
		return paddock.Errorf(paddock.EInvalid, "field \"api_key\" is required")
	case len(req.APIKey) > 1024:
		return paddock.Errorf(paddock.EInvalid, "field \"api_key\" is longer than 1024 bytes")
	case strings.IndexFunc(req.APIKey, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		// It goes into an HTTP header, where a line break would end it.
		return paddock.Errorf(paddock.EInvalid, "field \"api_key\" has a space or a control character: paste the key alone")
	}
	k := &paddock.ProviderKey{UserID: principal(r).User.ID, Provider: name, Key: req.APIKey}
	if err := keys.SetProviderKey(r.Context(), k); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toProviderKeyResponse(k))
}

func (s *Server) handleProviderKeyDelete(w http.ResponseWriter, r *http.Request) error {
	keys, name, err := s.providerKeyTarget(r)
	if err != nil {
		return err
	}
	if err := keys.DeleteProviderKey(r.Context(), principal(r).User.ID, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
