package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/paddockhq/paddock"
)

var _ paddock.TokenService = (*TokenService)(nil)

// TokenService records issued access tokens so that they can be revoked. It
// implements paddock.TokenService.
type TokenService struct {
	db *DB
}

// NewTokenService returns a TokenService backed by db.
func NewTokenService(db *DB) *TokenService { return &TokenService{db: db} }

// CreateToken records t. An empty ID is set to a new UUID and a zero
// IssuedAt to now; ExpiresAt is required (else EInvalid). An unknown user
// is ENotFound and a taken ID EConflict.
func (s *TokenService) CreateToken(ctx context.Context, t *paddock.Token) error {
	if t == nil {
		return paddock.Errorf(paddock.EInvalid, "token is required")
	}
	if t.ExpiresAt.IsZero() {
		return paddock.Errorf(paddock.EInvalid, "token expiry is required")
	}
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.IssuedAt.IsZero() {
		t.IssuedAt = s.db.now()
	}
	t.IssuedAt, t.ExpiresAt = normTime(t.IssuedAt), normTime(t.ExpiresAt)
	_, err := s.db.exec(ctx, "INSERT INTO tokens (id, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
		t.ID, t.UserID, s.db.timeArg(t.IssuedAt), s.db.timeArg(t.ExpiresAt))
	if err != nil {
		switch v, _ := constraintOf(err); v {
		case uniqueViolation:
			return paddock.Errorf(paddock.EConflict, "token %q exists", t.ID)
		case foreignKeyViolation:
			return paddock.Errorf(paddock.ENotFound, "user %d not found", t.UserID)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// Token returns the recorded token id. Unknown and revoked ids are
// ENotFound. Expired tokens are returned until DeleteExpiredTokens removes
// them: the caller checks ExpiresAt.
func (s *TokenService) Token(ctx context.Context, id string) (*paddock.Token, error) {
	var t paddock.Token
	err := s.db.reader().queryRow(ctx, "SELECT id, user_id, issued_at, expires_at FROM tokens WHERE id = ?", id).
		Scan(&t.ID, &t.UserID, timeCol{&t.IssuedAt}, timeCol{&t.ExpiresAt})
	if err != nil {
		// Token ids are not secrets, but there is no need to echo them.
		return nil, notFound(err, "token not found", "token")
	}
	return &t, nil
}

// tokenUserQuery selects the user columns of a recorded token's user.
var tokenUserQuery = "SELECT " + qualify("u", userColumns) + " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?"

// TokenUser returns the user recorded token id was issued to: what Token,
// then UserService.User, answer, in one query (authentication asks on
// every request). Unknown and revoked ids are ENotFound, and so are the
// tokens of a deleted user, which are deleted with it.
func (s *TokenService) TokenUser(ctx context.Context, id string) (*paddock.User, error) {
	u, err := scanUser(s.db.reader().queryRow(ctx, tokenUserQuery, id))
	if err != nil {
		return nil, notFound(err, "token not found", "token")
	}
	return u, nil
}

// RevokeToken forgets token id, so that Token no longer finds it. Unknown
// ids are ENotFound.
func (s *TokenService) RevokeToken(ctx context.Context, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM tokens WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return affectedOne(res, "token not found")
}

// DeleteExpiredTokens deletes the tokens that expire at or before now and
// returns how many it deleted.
func (s *TokenService) DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.exec(ctx, "DELETE FROM tokens WHERE expires_at <= ?", s.db.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	return int(n), nil
}
