package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/paddockhq/paddock"
)

var _ paddock.APIKeyService = (*APIKeyService)(nil)

// APIKeyService stores API keys and their per-environment permissions. It
// implements paddock.APIKeyService.
type APIKeyService struct {
	db *DB
}

// NewAPIKeyService returns an APIKeyService backed by db.
func NewAPIKeyService(db *DB) *APIKeyService { return &APIKeyService{db: db} }

const apiKeyColumns = "id, user_id, description, hash, created_at, expires_at, last_used_at"

func scanAPIKey(row interface{ Scan(...any) error }) (*paddock.APIKey, error) {
	var k paddock.APIKey
	err := row.Scan(&k.ID, &k.UserID, &k.Description, &k.Hash,
		timeCol{&k.CreatedAt}, nullTimeCol{&k.ExpiresAt}, nullTimeCol{&k.LastUsedAt})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// APIKeys returns the user's API keys with their permissions, oldest first.
// A user without keys (or an unknown user) has none: the slice is empty.
func (s *APIKeyService) APIKeys(ctx context.Context, userID int64) ([]*paddock.APIKey, error) {
	keys := []*paddock.APIKey{}
	err := s.db.inReadTx(ctx, func(tx conn) error {
		rows, err := tx.query(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE user_id = ? ORDER BY created_at, id", userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		byID := map[string]*paddock.APIKey{}
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return err
			}
			keys = append(keys, k)
			byID[k.ID] = k
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		prows, err := tx.query(ctx, `SELECT p.api_key_id, p.environment_id, p.permission
			FROM api_key_permissions p JOIN api_keys k ON k.id = p.api_key_id
			WHERE k.user_id = ? ORDER BY p.api_key_id, p.position`, userID)
		if err != nil {
			return err
		}
		defer prows.Close()
		for prows.Next() {
			var keyID string
			var p paddock.EnvironmentPermission
			if err := prows.Scan(&keyID, &p.EnvironmentID, &p.Permission); err != nil {
				return err
			}
			if k := byID[keyID]; k != nil {
				k.Permissions = append(k.Permissions, p)
			}
		}
		return prows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys of user %d: %w", userID, err)
	}
	return keys, nil
}

// APIKeyByHash returns the key whose secret hashes to hash, with its
// permissions, or ENotFound. Expired keys are returned: the caller checks
// ExpiresAt.
func (s *APIKeyService) APIKeyByHash(ctx context.Context, hash string) (*paddock.APIKey, error) {
	k, _, err := s.apiKeyByHash(ctx, hash, false)
	return k, err
}

// APIKeyUserByHash is APIKeyByHash that also returns the key's user, from
// the same query (authentication asks on every request with a key).
func (s *APIKeyService) APIKeyUserByHash(ctx context.Context, hash string) (*paddock.APIKey, *paddock.User, error) {
	return s.apiKeyByHash(ctx, hash, true)
}

var (
	apiKeyByHashQuery = `SELECT k.id, k.user_id, k.description, k.hash,
			k.created_at, k.expires_at, k.last_used_at, p.environment_id, p.permission
		FROM api_keys k LEFT JOIN api_key_permissions p ON p.api_key_id = k.id
		WHERE k.hash = ? ORDER BY p.position`
	apiKeyUserByHashQuery = `SELECT k.id, k.user_id, k.description, k.hash,
			k.created_at, k.expires_at, k.last_used_at, p.environment_id, p.permission, ` + qualify("u", userColumns) + `
		FROM api_keys k JOIN users u ON u.id = k.user_id LEFT JOIN api_key_permissions p ON p.api_key_id = k.id
		WHERE k.hash = ? ORDER BY p.position`
)

func (s *APIKeyService) apiKeyByHash(ctx context.Context, hash string, withUser bool) (*paddock.APIKey, *paddock.User, error) {
	// One query: the key's (and user's) columns repeat on each permission
	// row, and a key without permissions comes back as one row with NULL
	// permission columns.
	q := apiKeyByHashQuery
	if withUser {
		q = apiKeyUserByHashQuery
	}
	rows, err := s.db.reader().query(ctx, q, hash)
	if err != nil {
		return nil, nil, fmt.Errorf("api key by hash: %w", err)
	}
	defer rows.Close()
	var k *paddock.APIKey
	var u *paddock.User
	for rows.Next() {
		var cur paddock.APIKey
		var envID, perm *string
		keyCols := []any{&cur.ID, &cur.UserID, &cur.Description, &cur.Hash,
			timeCol{&cur.CreatedAt}, nullTimeCol{&cur.ExpiresAt}, nullTimeCol{&cur.LastUsedAt}, &envID, &perm}
		if withUser {
			u, err = scanUser(rowTail{rows, keyCols})
		} else {
			err = rows.Scan(keyCols...)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("api key by hash: %w", err)
		}
		if k == nil {
			k = &cur
		}
		if envID != nil && perm != nil {
			k.Permissions = append(k.Permissions, paddock.EnvironmentPermission{
				EnvironmentID: *envID, Permission: paddock.Permission(*perm),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("api key by hash: %w", err)
	}
	if k == nil {
		// Never echo the hash: it identifies a secret.
		return nil, nil, paddock.Errorf(paddock.ENotFound, "api key not found")
	}
	return k, u, nil
}

// rowTail scans a row whose first columns go to head: Scan takes the rest,
// so that scanUser can read the user columns at the end of a join.
type rowTail struct {
	rows *sql.Rows
	head []any
}

func (r rowTail) Scan(tail ...any) error {
	return r.rows.Scan(append(r.head[:len(r.head):len(r.head)], tail...)...)
}

// CreateAPIKey stores k with its permissions. An empty ID is set to a new
// UUID and a zero CreatedAt to now. The hash is required and each
// permission must be valid and name a distinct environment (else EInvalid);
// an unknown user is ENotFound; a taken ID or hash is EConflict.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, k *paddock.APIKey) error {
	if k == nil {
		return paddock.Errorf(paddock.EInvalid, "api key is required")
	}
	if k.Hash == "" {
		return paddock.Errorf(paddock.EInvalid, "api key hash is required")
	}
	seen := make(map[string]bool, len(k.Permissions))
	for _, p := range k.Permissions {
		if p.EnvironmentID == "" {
			return paddock.Errorf(paddock.EInvalid, "api key permission has an empty environment id")
		}
		if !p.Permission.Valid() {
			return paddock.Errorf(paddock.EInvalid, "invalid permission %q on environment %q: want read, write or admin", p.Permission, p.EnvironmentID)
		}
		if seen[p.EnvironmentID] {
			return paddock.Errorf(paddock.EInvalid, "api key permissions list environment %q twice", p.EnvironmentID)
		}
		seen[p.EnvironmentID] = true
	}
	if k.ID == "" {
		k.ID = uuid.NewString()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.db.now()
	}
	k.CreatedAt = normTime(k.CreatedAt)
	k.ExpiresAt, k.LastUsedAt = normTimePtr(k.ExpiresAt), normTimePtr(k.LastUsedAt)

	err := s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, "INSERT INTO api_keys ("+apiKeyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			k.ID, k.UserID, k.Description, k.Hash, s.db.timeArg(k.CreatedAt),
			s.db.nullTimeArg(k.ExpiresAt), s.db.nullTimeArg(k.LastUsedAt)); err != nil {
			return err
		}
		for i, p := range k.Permissions {
			if _, err := tx.exec(ctx, `INSERT INTO api_key_permissions
				(api_key_id, position, environment_id, permission) VALUES (?, ?, ?, ?)`,
				k.ID, i, p.EnvironmentID, string(p.Permission)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		switch v, detail := constraintOf(err); v {
		case uniqueViolation:
			if strings.Contains(detail, "hash") {
				return paddock.Errorf(paddock.EConflict, "an api key with this hash exists")
			}
			return paddock.Errorf(paddock.EConflict, "api key %q exists", k.ID)
		case foreignKeyViolation:
			return paddock.Errorf(paddock.ENotFound, "user %d not found", k.UserID)
		}
		return fmt.Errorf("create api key %q: %w", k.ID, err)
	}
	return nil
}

// DeleteAPIKey deletes the user's key id with its permissions. A key that
// is unknown or belongs to another user is ENotFound.
func (s *APIKeyService) DeleteAPIKey(ctx context.Context, userID int64, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM api_keys WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete api key %q: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("api key %q not found", id))
}

// TouchAPIKey records that key id was used at at. LastUsedAt only moves
// forward: a touch older than the recorded use is ignored. Unknown ids are
// ENotFound.
func (s *APIKeyService) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	t := s.db.timeArg(at)
	res, err := s.db.exec(ctx, `UPDATE api_keys SET last_used_at = CASE
			WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
		WHERE id = ?`, t, t, id)
	if err != nil {
		return fmt.Errorf("touch api key %q: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("api key %q not found", id))
}
