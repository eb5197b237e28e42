package httpapi

import (
	"net/http"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

type apiKeyResponse struct {
	ID          string                          `json:"id"`
	Description string                          `json:"description"`
	CreatedAt   time.Time                       `json:"created_at"`
	ExpiresAt   *time.Time                      `json:"expires_at"`
	LastUsedAt  *time.Time                      `json:"last_used_at"`
	Permissions []paddock.EnvironmentPermission `json:"permissions"`
}

type apiKeyListResponse struct {
	APIKeys []apiKeyResponse `json:"api_keys"`
}

type apiKeyCreateRequest struct {
	Description string                          `json:"description,omitempty" maxLength:"500"`
	ExpiresIn   *int                            `json:"expires_in,omitempty" minimum:"1" maximum:"36500" description:"days until expiry; omit or null for never"`
	Permissions []paddock.EnvironmentPermission `json:"permissions,omitempty"`
}

type apiKeyCreatedResponse struct {
	ID          string                          `json:"id"`
	Key         string                          `json:"key" description:"the secret; returned only here"`
	Description string                          `json:"description"`
	CreatedAt   time.Time                       `json:"created_at"`
	ExpiresAt   *time.Time                      `json:"expires_at"`
	Permissions []paddock.EnvironmentPermission `json:"permissions"`
}

func toAPIKeyResponse(k *paddock.APIKey) apiKeyResponse {
	perms := k.Permissions
	if perms == nil {
		perms = []paddock.EnvironmentPermission{}
	}
	return apiKeyResponse{ID: k.ID, Description: k.Description, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, Permissions: perms}
}

func (s *Server) handleAPIKeyList(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.APIKeys.APIKeys(r.Context(), principal(r).User.ID)
	if err != nil {
		return err
	}
	out := apiKeyListResponse{APIKeys: make([]apiKeyResponse, len(keys))}
	for i, k := range keys {
		out.APIKeys[i] = toAPIKeyResponse(k)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request) error {
	p := principal(r) // not a key limited to some environments: wrap refuses those here
	var req apiKeyCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Description) > 500 {
		return paddock.Errorf(paddock.EInvalid, "field \"description\" is longer than 500 characters")
	}
	now := s.now().UTC().Truncate(time.Second)
	k := &paddock.APIKey{ID: auth.RandomID("key-", 12), UserID: p.User.ID, Description: req.Description, CreatedAt: now}
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < 1 || *req.ExpiresIn > 36500 {
			return paddock.Errorf(paddock.EInvalid, "field \"expires_in\" must be between 1 and 36500 days, or null for a key that never expires")
		}
		exp := now.Add(time.Duration(*req.ExpiresIn) * 24 * time.Hour)
		k.ExpiresAt = &exp
	}
	seen := map[string]bool{}
	for i, perm := range req.Permissions {
		if perm.EnvironmentID == "" {
			return paddock.Errorf(paddock.EInvalid, "field \"permissions[%d].environment_id\" is required", i)
		}
		if !perm.Permission.Valid() {
			return paddock.Errorf(paddock.EInvalid, "field \"permissions[%d].permission\" must be read, write or admin, not %q", i, perm.Permission)
		}
		if seen[perm.EnvironmentID] {
			return paddock.Errorf(paddock.EInvalid, "environment %q is listed twice in \"permissions\"", perm.EnvironmentID)
		}
		seen[perm.EnvironmentID] = true
	}
	k.Permissions = req.Permissions
	secret := auth.NewAPIKeySecret()
	k.Hash = auth.HashAPIKey(secret)
	if err := s.APIKeys.CreateAPIKey(r.Context(), k); err != nil {
		return err
	}
	resp := toAPIKeyResponse(k)
	return writeJSON(w, http.StatusCreated, apiKeyCreatedResponse{
		ID: k.ID, Key: secret, Description: k.Description, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, Permissions: resp.Permissions,
	})
}

func (s *Server) handleAPIKeyDelete(w http.ResponseWriter, r *http.Request) error {
	p := principal(r) // not a key limited to some environments: wrap refuses those here
	if err := s.APIKeys.DeleteAPIKey(r.Context(), p.User.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
