package paddock

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"
)

// ProviderKey is a user's own API key for an LLM provider. The model calls
// of the user's agents (their session runs and stateless executions) go
// to the provider with it instead of with the server's key, and to the
// provider's address the server is configured with.
type ProviderKey struct {
	UserID    int64
	Provider  string // "openai", "anthropic" or "google"
	Key       string // the secret: stored encrypted, never sent back (see Hint)
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Hint is what may be shown of the key: its first three and last four
// characters, or only its length when it is too short to show any.
func (k *ProviderKey) Hint() string {
	n := utf8.RuneCountInString(k.Key)
	if n < 12 {
		return "(" + strconv.Itoa(n) + " characters)"
	}
	r := []rune(k.Key)
	return string(r[:3]) + "…" + string(r[n-4:])
}

// ProviderKeyService stores users' provider keys. SetProviderKey creates
// or replaces the user's key for its provider; ProviderKey and
// DeleteProviderKey of a key the user has not set are ENotFound.
type ProviderKeyService interface {
	SetProviderKey(ctx context.Context, k *ProviderKey) error
	ProviderKey(ctx context.Context, userID int64, provider string) (*ProviderKey, error)
	ProviderKeys(ctx context.Context, userID int64) ([]*ProviderKey, error)
	DeleteProviderKey(ctx context.Context, userID int64, provider string) error
}
