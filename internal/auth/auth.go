// Package auth authenticates callers: password hashing (argon2id), signed
// access tokens (JWT, HS256) that can be revoked, API keys stored as hashes,
// rate limits and image captchas.
//
// It speaks in root types and depends only on the root service interfaces.
package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// Authenticator turns a bearer credential into a principal.
type Authenticator struct {
	users   paddock.UserService
	keys    paddock.APIKeyService
	tokens  *Tokens
	log     *slog.Logger
	now     func() time.Time
	touchMu sync.Mutex
	touched map[string]time.Time // API key id -> last recorded use
}

// touchEvery bounds how often last_used_at is written for one key, so a busy
// key does not turn every request into a database write.
const touchEvery = time.Minute

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(users paddock.UserService, keys paddock.APIKeyService, tokens *Tokens, log *slog.Logger) *Authenticator {
	return &Authenticator{users: users, keys: keys, tokens: tokens, log: log, now: time.Now, touched: map[string]time.Time{}}
}

// Authenticate resolves a bearer credential (an API key or an access token).
// Missing, malformed, unknown, expired and revoked credentials are
// EUnauthorized with a message saying which.
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (*paddock.Principal, error) {
	credential = strings.TrimSpace(credential)
	if credential == "" {
		return nil, paddock.Errorf(paddock.EUnauthorized, "missing credentials: send Authorization: Bearer <token or API key>")
	}
	if strings.HasPrefix(credential, paddock.APIKeyPrefix) {
		return a.authenticateKey(ctx, credential)
	}
	if tu, ok := a.tokens.store.(tokenUsers); ok {
		return a.authenticateToken(ctx, tu, credential)
	}
	claims, err := a.tokens.Verify(ctx, credential)
	if err != nil {
		return nil, err
	}
	u, err := a.users.User(ctx, claims.UserID)
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.EUnauthorized, "the token's user no longer exists")
	} else if err != nil {
		return nil, err
	}
	return &paddock.Principal{User: u, TokenID: claims.ID}, nil
}

// tokenUsers is a token store that also answers, in one query, what
// verifying a token and then loading its user take two for (the store's
// TokenService does): every request with a token asks.
type tokenUsers interface {
	// TokenUser returns the user of recorded token id. Unknown and
	// revoked ids are ENotFound; so are the tokens of a deleted user.
	TokenUser(ctx context.Context, id string) (*paddock.User, error)
}

// authenticateToken is the token branch of Authenticate on a store that
// implements tokenUsers. Revocation is still checked on every call.
func (a *Authenticator) authenticateToken(ctx context.Context, tu tokenUsers, signed string) (*paddock.Principal, error) {
	claims, err := a.tokens.parse(signed)
	if err != nil {
		return nil, err
	}
	u, err := tu.TokenUser(ctx, claims.ID)
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, tokenRevoked()
	} else if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if u.ID != claims.UserID { // recorded for another user than it names
		return nil, invalidToken()
	}
	return &paddock.Principal{User: u, TokenID: claims.ID}, nil
}

// keyUsers is an API key store that also returns, from the same query, a
// key's user (the store's APIKeyService does).
type keyUsers interface {
	APIKeyUserByHash(ctx context.Context, hash string) (*paddock.APIKey, *paddock.User, error)
}

func (a *Authenticator) authenticateKey(ctx context.Context, secret string) (*paddock.Principal, error) {
	var k *paddock.APIKey
	var u *paddock.User // nil: not loaded with the key
	var err error
	if ku, ok := a.keys.(keyUsers); ok {
		k, u, err = ku.APIKeyUserByHash(ctx, HashAPIKey(secret))
	} else {
		k, err = a.keys.APIKeyByHash(ctx, HashAPIKey(secret))
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.EUnauthorized, "invalid API key")
	} else if err != nil {
		return nil, err
	}
	now := a.now()
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return nil, paddock.Errorf(paddock.EUnauthorized, "API key %s expired at %s", k.ID, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if u == nil {
		u, err = a.users.User(ctx, k.UserID)
		if paddock.ErrorCode(err) == paddock.ENotFound {
			return nil, paddock.Errorf(paddock.EUnauthorized, "the API key's user no longer exists")
		} else if err != nil {
			return nil, err
		}
	}
	a.touch(ctx, k, now)
	return &paddock.Principal{User: u, APIKey: k}, nil
}

// touch records the key's use at most once per touchEvery per process.
func (a *Authenticator) touch(ctx context.Context, k *paddock.APIKey, now time.Time) {
	a.touchMu.Lock()
	last, ok := a.touched[k.ID]
	if !ok && k.LastUsedAt != nil {
		last, ok = *k.LastUsedAt, true
	}
	if ok && now.Sub(last) < touchEvery {
		a.touchMu.Unlock()
		return
	}
	a.touched[k.ID] = now
	a.touchMu.Unlock()
	if err := a.keys.TouchAPIKey(ctx, k.ID, now); err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		a.log.Warn("record api key use", "api_key_id", k.ID, "err", err)
	}
}
