package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/paddockhq/paddock"
)

const issuer = "paddock"

// Tokens issues and verifies access tokens: HS256 JWTs whose ids are
// recorded in a TokenService, so that logout and refresh revoke them at once
// on every replica sharing the store.
type Tokens struct {
	key   []byte
	ttl   time.Duration
	store paddock.TokenService
	now   func() time.Time

	// verified holds the claims of tokens whose signature parse has
	// checked: a signature stays valid, and checking it (HMAC, base64,
	// JSON) is most of what authenticating a request costs besides the
	// revocation lookup, which is made every time. Expiry is checked on
	// every use. Cleared when it reaches maxVerified.
	mu       sync.Mutex
	verified map[string]Claims
}

// maxVerified bounds Tokens.verified: some 1 MiB of tokens.
const maxVerified = 4096

// Claims are what a verified token says.
type Claims struct {
	ID        string
	UserID    int64
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// NewTokens returns a token issuer signing with key (at least 32 bytes).
func NewTokens(key []byte, ttl time.Duration, store paddock.TokenService) (*Tokens, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("token signing key has %d bytes, want at least 32", len(key))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("token lifetime must be positive, got %s", ttl)
	}
	return &Tokens{key: key, ttl: ttl, store: store, now: time.Now, verified: make(map[string]Claims)}, nil
}

// LoadOrCreateKey reads the signing key at path (hex), or creates one with
// 32 random bytes (mode 0600) when the file does not exist yet.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("read signing key %s: not hex: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	// O_EXCL: if another process created the key meanwhile, use theirs.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return key, f.Sync()
}

// TTL is the lifetime of issued tokens.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs and records a new token for the user.
func (t *Tokens) Issue(ctx context.Context, userID int64) (string, *Claims, error) {
	now := t.now().UTC().Truncate(time.Second)
	c := &Claims{ID: RandomID("", 24), UserID: userID, IssuedAt: now, ExpiresAt: now.Add(t.ttl)}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   strconv.FormatInt(userID, 10),
		ID:        c.ID,
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
	})
	signed, err := tok.SignedString(t.key)
	if err != nil {
		return "", nil, fmt.Errorf("sign token: %w", err)
	}
	if err := t.store.CreateToken(ctx, &paddock.Token{ID: c.ID, UserID: userID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}); err != nil {
		return "", nil, fmt.Errorf("record token: %w", err)
	}
	return signed, c, nil
}

// Verify checks the signature, issuer, expiry and that the token has not
// been revoked. Failures are EUnauthorized.
func (t *Tokens) Verify(ctx context.Context, signed string) (*Claims, error) {
	c, err := t.parse(signed)
	if err != nil {
		return nil, err
	}
	if _, err := t.store.Token(ctx, c.ID); paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, tokenRevoked()
	} else if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return c, nil
}

func tokenRevoked() error { return paddock.Errorf(paddock.EUnauthorized, "token revoked") }
func invalidToken() error { return paddock.Errorf(paddock.EUnauthorized, "invalid token") }
func tokenExpired() error { return paddock.Errorf(paddock.EUnauthorized, "token expired") }

// parse checks the signature, issuer and expiry, but not revocation.
func (t *Tokens) parse(signed string) (*Claims, error) {
	t.mu.Lock()
	c, ok := t.verified[signed]
	t.mu.Unlock()
	if ok {
		if !t.now().Before(c.ExpiresAt) {
			return nil, tokenExpired()
		}
		return &c, nil
	}
	var rc jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(signed, &rc, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, tokenExpired()
	case err != nil:
		return nil, invalidToken()
	}
	uid, err := strconv.ParseInt(rc.Subject, 10, 64)
	if err != nil || rc.ID == "" {
		return nil, invalidToken()
	}
	c = Claims{ID: rc.ID, UserID: uid, ExpiresAt: rc.ExpiresAt.Time}
	if rc.IssuedAt != nil { // optional in a JWT; ours always have it
		c.IssuedAt = rc.IssuedAt.Time
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerified {
		clear(t.verified)
	}
	t.verified[signed] = c
	t.mu.Unlock()
	return &c, nil
}

// Revoke makes a token stop working immediately. Revoking an already
// revoked token is not an error.
func (t *Tokens) Revoke(ctx context.Context, id string) error {
	if err := t.store.RevokeToken(ctx, id); err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}
