package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.ProviderKeyService = (*ProviderKeyService)(nil)

// ProviderKeyService stores users' own LLM provider keys, encrypted
// (AES-256-GCM). It implements paddock.ProviderKeyService.
type ProviderKeyService struct {
	db     *DB
	sealer sealer
}

// NewProviderKeyService returns a ProviderKeyService backed by db that
// encrypts keys with key (32 bytes).
func NewProviderKeyService(db *DB, key []byte) (*ProviderKeyService, error) {
	sl, err := newSealer(key)
	if err != nil {
		return nil, sealKeyError("provider keys", err)
	}
	return &ProviderKeyService{db: db, sealer: sl}, nil
}

const providerKeyAD = "paddock/provider_keys.api_key"

// SetProviderKey creates or replaces k's user's key for k's provider,
// setting CreatedAt (kept from the key it replaces) and UpdatedAt. An
// unknown user is ENotFound.
func (s *ProviderKeyService) SetProviderKey(ctx context.Context, k *paddock.ProviderKey) error {
	if k.Provider == "" || k.Key == "" {
		return paddock.Errorf(paddock.EInvalid, "a provider key needs a provider and a key")
	}
	box, err := s.sealer.seal([]byte(k.Key), providerKeyAD)
	if err != nil {
		return err
	}
	now := normTime(s.db.now())
	err = s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, `INSERT INTO provider_keys (user_id, provider, api_key, created_at, updated_at) VALUES (`+placeholders(5)+`)
			ON CONFLICT (user_id, provider) DO UPDATE SET api_key = excluded.api_key, updated_at = excluded.updated_at
			RETURNING created_at`, k.UserID, k.Provider, box, s.db.timeArg(now), s.db.timeArg(now)).Scan(timeCol{&k.CreatedAt})
	})
	if v, _ := constraintOf(err); v == foreignKeyViolation {
		return paddock.Errorf(paddock.ENotFound, "user %d not found", k.UserID)
	} else if err != nil {
		return fmt.Errorf("store provider key: %w", err)
	}
	k.UpdatedAt = now
	return nil
}

func (s *ProviderKeyService) scan(row interface{ Scan(...any) error }) (*paddock.ProviderKey, error) {
	var k paddock.ProviderKey
	var box string
	if err := row.Scan(&k.UserID, &k.Provider, &box, timeCol{&k.CreatedAt}, timeCol{&k.UpdatedAt}); err != nil {
		return nil, err
	}
	plain, err := s.sealer.open(box, providerKeyAD)
	switch {
	case errors.Is(err, errWrongKey):
		return nil, paddock.Errorf(paddock.EUnavailable, "your %s key %v; set it again", k.Provider, err)
	case err != nil:
		return nil, fmt.Errorf("%s key of user %d is %w", k.Provider, k.UserID, err)
	}
	k.Key = string(plain)
	return &k, nil
}

const providerKeyColumns = "user_id, provider, api_key, created_at, updated_at"

// ProviderKey returns userID's key for provider, or ENotFound.
func (s *ProviderKeyService) ProviderKey(ctx context.Context, userID int64, provider string) (*paddock.ProviderKey, error) {
	k, err := s.scan(s.db.reader().queryRow(ctx, "SELECT "+providerKeyColumns+" FROM provider_keys WHERE user_id = ? AND provider = ?", userID, provider))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("you have no %s key", provider), "provider key")
	}
	return k, nil
}

// ProviderKeys returns userID's keys, by provider.
func (s *ProviderKeyService) ProviderKeys(ctx context.Context, userID int64) ([]*paddock.ProviderKey, error) {
	rows, err := s.db.reader().query(ctx, "SELECT "+providerKeyColumns+" FROM provider_keys WHERE user_id = ? ORDER BY provider", userID)
	if err != nil {
		return nil, fmt.Errorf("list provider keys: %w", err)
	}
	defer rows.Close()
	out := []*paddock.ProviderKey{}
	for rows.Next() {
		k, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteProviderKey removes userID's key for provider; ENotFound if none.
func (s *ProviderKeyService) DeleteProviderKey(ctx context.Context, userID int64, provider string) error {
	res, err := s.db.exec(ctx, "DELETE FROM provider_keys WHERE user_id = ? AND provider = ?", userID, provider)
	if err != nil {
		return fmt.Errorf("delete provider key: %w", err)
	}
	return affectedOne(res, fmt.Sprintf("you have no %s key", provider))
}
