package paddock

import (
	"context"
	"time"
)

// Token is an issued access token (a JWT), known by its id so that it can be
// revoked before it expires (logout, refresh).
type Token struct {
	ID        string
	UserID    int64
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// TokenService records issued tokens. Token of a revoked or unknown id is
// ENotFound. RevokeToken of an unknown id is ENotFound.
type TokenService interface {
	CreateToken(ctx context.Context, t *Token) error
	Token(ctx context.Context, id string) (*Token, error)
	RevokeToken(ctx context.Context, id string) error
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error)
}
