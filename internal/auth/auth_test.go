package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/paddockhq/paddock"
)

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	if !CheckPassword(h, "correct horse") || CheckPassword(h, "correct horse ") || CheckPassword(h, "") {
		t.Error("CheckPassword gives wrong answers")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1,t=1,p=1$$", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA", strings.Replace(h, "$v=19$", "$v=16$", 1)} {
		if CheckPassword(bad, "x") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if CheckPasswordOrDummy("", "anything") {
		t.Error("empty hash matched")
	}
}

func TestRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := NewAPIKeySecret()
		if len(k) != 44 || !strings.HasPrefix(k, "pdk_") || seen[k] {
			t.Fatalf("bad or repeated key %q", k)
		}
		seen[k] = true
	}
	id := RandomID("env-", 12)
	if len(id) != 16 || strings.ToLower(id) != id {
		t.Errorf("RandomID %q", id)
	}
	if HashAPIKey("a") == HashAPIKey("b") || len(HashAPIKey("a")) != 64 {
		t.Error("HashAPIKey")
	}
}

// memTokens is a TokenService in memory.
type memTokens struct {
	mu sync.Mutex
	m  map[string]*paddock.Token
}

func (s *memTokens) CreateToken(_ context.Context, t *paddock.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[t.ID] = t
	return nil
}

func (s *memTokens) Token(_ context.Context, id string) (*paddock.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[id]; ok {
		return t, nil
	}
	return nil, paddock.Errorf(paddock.ENotFound, "token not found")
}

func (s *memTokens) RevokeToken(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return paddock.Errorf(paddock.ENotFound, "token not found")
	}
	delete(s.m, id)
	return nil
}

func (s *memTokens) DeleteExpiredTokens(context.Context, time.Time) (int, error) { return 0, nil }

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := []byte(strings.Repeat("k", 32))
	if _, err := NewTokens(key[:16], time.Hour, nil); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	store := &memTokens{m: map[string]*paddock.Token{}}
	tk, err := NewTokens(key, time.Hour, store)
	if err != nil {
		t.Fatal(err)
	}
	signed, claims, err := tk.Issue(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(ctx, signed)
	if err != nil || got.UserID != 42 || got.ID != claims.ID {
		t.Fatalf("Verify: %+v, %v", got, err)
	}

	check := func(name, token, msg string) {
		t.Helper()
		_, err := tk.Verify(ctx, token)
		if paddock.ErrorCode(err) != paddock.EUnauthorized || !strings.Contains(paddock.ErrorMessage(err), msg) {
			t.Errorf("%s: %v, want unauthorized %q", name, err, msg)
		}
	}
	// alg "none" and another key are refused.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Issuer: issuer, Subject: "42", ID: claims.ID,
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	check("alg none", none, "invalid token")
	other, _ := NewTokens([]byte(strings.Repeat("o", 32)), time.Hour, store)
	forged, _, _ := other.Issue(ctx, 1)
	check("other key", forged, "invalid token")

	// Expiry, judged by the injected clock.
	tk.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	check("expired", signed, "token expired")
	tk.now = time.Now

	if err := tk.Revoke(ctx, claims.ID); err != nil {
		t.Fatal(err)
	}
	check("revoked", signed, "token revoked")
	if err := tk.Revoke(ctx, claims.ID); err != nil {
		t.Errorf("second revoke: %v", err)
	}

	// A verified token is remembered, within bounds; a change to it is not.
	parts := strings.Split(signed, ".")
	check("altered payload", parts[0]+"."+parts[1]+"x."+parts[2], "invalid token")
	tk.mu.Lock()
	_, remembered := tk.verified[signed]
	tk.mu.Unlock()
	if !remembered {
		t.Error("a verified token's claims were not remembered")
	}
	for range maxVerified + 1 {
		s, _, err := tk.Issue(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tk.parse(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tk.verified); n > maxVerified || n == 0 {
		t.Errorf("%d tokens remembered, want 1 to %d", n, maxVerified)
	}
}

// memUsers is the part of a UserService the Authenticator uses.
type memUsers struct {
	// nil: only User is called
	paddock.UserService
	m map[int64]*paddock.User
}

func (s memUsers) User(_ context.Context, id int64) (*paddock.User, error) {
	if u, ok := s.m[id]; ok {
		return u, nil
	}
	return nil, paddock.Errorf(paddock.ENotFound, "user %d not found", id)
}

// memTokenUsers is a token store that answers TokenUser too, as the
// store's does: the Authenticator then asks it once per request.
type memTokenUsers struct {
	*memTokens
	users memUsers
	calls int // TokenUser calls
}

func (s *memTokenUsers) TokenUser(ctx context.Context, id string) (*paddock.User, error) {
	s.calls++
	tok, err := s.Token(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.users.User(ctx, tok.UserID)
}

// TestAuthenticateToken checks both ways of authenticating a token (one
// query on a store with TokenUser, two on another) agree, and that
// revocation takes effect on the next request.
func TestAuthenticateToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := []byte(strings.Repeat("k", 32))
	alice := &paddock.User{ID: 42, Username: "alice"}
	users := memUsers{m: map[int64]*paddock.User{42: alice, 7: {ID: 7, Username: "bob"}}}
	plain := &memTokens{m: map[string]*paddock.Token{}}
	joined := &memTokenUsers{memTokens: &memTokens{m: map[string]*paddock.Token{}}, users: users}
	for _, tc := range []struct {
		name  string
		store paddock.TokenService
	}{{"two queries", plain}, {"one query", joined}} {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := NewTokens(key, time.Hour, tc.store)
			if err != nil {
				t.Fatal(err)
			}
			a := NewAuthenticator(users, nil, tk, nil)
			signed, claims, err := tk.Issue(ctx, 42)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Authenticate(ctx, signed)
			if err != nil || p.User != alice || p.TokenID != claims.ID || p.APIKey != nil {
				t.Fatalf("Authenticate: %+v, %v", p, err)
			}
			check := func(what, token, msg string) {
				t.Helper()
				_, err := a.Authenticate(ctx, token)
				if paddock.ErrorCode(err) != paddock.EUnauthorized || paddock.ErrorMessage(err) != msg {
					t.Errorf("%s: %v, want unauthorized %q", what, err, msg)
				}
			}
			check("garbage", "not.a.token", "invalid token")
			tk.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
			check("expired", signed, "token expired")
			tk.now = time.Now

			// A token recorded for another user than it names (and without
			// "iat", which is optional).
			tc.store.CreateToken(ctx, &paddock.Token{ID: "odd", UserID: 7, ExpiresAt: time.Now().Add(time.Hour)})
			odd, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: "42", ID: "odd",
				ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(key)
			if tc.store == joined {
				check("recorded for another user", odd, "invalid token")
			}

			if err := tk.Revoke(ctx, claims.ID); err != nil {
				t.Fatal(err)
			}
			check("revoked", signed, "token revoked")
		})
	}
	if joined.calls == 0 {
		t.Error("the store's TokenUser was never asked")
	}
}

// memKeys is the part of an APIKeyService the Authenticator uses.
type memKeys struct {
	// nil: only APIKeyByHash and TouchAPIKey are called
	paddock.APIKeyService
	m map[string]*paddock.APIKey // by hash
}

func (s memKeys) APIKeyByHash(_ context.Context, hash string) (*paddock.APIKey, error) {
	if k, ok := s.m[hash]; ok {
		return k, nil
	}
	return nil, paddock.Errorf(paddock.ENotFound, "api key not found")
}

func (s memKeys) TouchAPIKey(context.Context, string, time.Time) error { return nil }

// memKeyUsers answers APIKeyUserByHash too, as the store does (a join:
// the key of a missing user is not found).
type memKeyUsers struct {
	memKeys
	users memUsers
	calls int
}

func (s *memKeyUsers) APIKeyUserByHash(ctx context.Context, hash string) (*paddock.APIKey, *paddock.User, error) {
	s.calls++
	k, err := s.APIKeyByHash(ctx, hash)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.users.User(ctx, k.UserID)
	if err != nil {
		return nil, nil, paddock.Errorf(paddock.ENotFound, "api key not found")
	}
	return k, u, nil
}

// TestAuthenticateKey checks both ways of authenticating an API key (the
// key and its user in one query, or in two) agree.
func TestAuthenticateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := &paddock.User{ID: 42, Username: "alice"}
	users := memUsers{m: map[int64]*paddock.User{42: alice}}
	past := time.Now().Add(-time.Minute)
	limited := &paddock.APIKey{ID: "k1", UserID: 42, Permissions: []paddock.EnvironmentPermission{{EnvironmentID: "env-a", Permission: paddock.PermissionRead}}}
	byHash := map[string]*paddock.APIKey{
		HashAPIKey("pdk_limited"): limited,
		HashAPIKey("pdk_expired"): {ID: "k2", UserID: 42, ExpiresAt: &past},
	}
	joined := &memKeyUsers{memKeys: memKeys{m: byHash}, users: users}
	tokens, err := NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, &memTokens{m: map[string]*paddock.Token{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys paddock.APIKeyService
	}{{"two queries", memKeys{m: byHash}}, {"one query", joined}} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthenticator(users, tc.keys, tokens, nil)
			p, err := a.Authenticate(ctx, "pdk_limited")
			if err != nil || p.User != alice || p.APIKey != limited || p.EnvironmentPermission("env-a", 42) != paddock.PermissionRead || p.EnvironmentPermission("env-b", 42) != "" {
				t.Fatalf("Authenticate: %+v, %v", p, err)
			}
			for secret, msg := range map[string]string{"pdk_unknown": "invalid API key", "pdk_expired": "API key k2 expired at"} {
				if _, err := a.Authenticate(ctx, secret); paddock.ErrorCode(err) != paddock.EUnauthorized || !strings.HasPrefix(paddock.ErrorMessage(err), msg) {
					t.Errorf("%s: %v, want unauthorized %q", secret, err, msg)
				}
			}
		})
	}
	if joined.calls == 0 {
		t.Error("the store's APIKeyUserByHash was never asked")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/sub/jwt.key"
	k1, err := LoadOrCreateKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %v", err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
}

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewMemoryLimiter()
	now := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		d, _ := l.Allow(ctx, "k", 3, time.Minute)
		if !d.Allowed || d.Remaining != 2-i || !d.Reset.Equal(time.Date(2026, 1, 1, 10, 1, 0, 0, time.UTC)) {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d, _ := l.Allow(ctx, "k", 3, time.Minute)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter(now) != 30*time.Second {
		t.Fatalf("4th request: %+v, retry after %s", d, d.RetryAfter(now))
	}
	if p, _ := l.Peek(ctx, "k", 3, time.Minute); p.Allowed {
		t.Error("Peek allows a full window")
	}
	if d, _ := l.Allow(ctx, "other", 3, time.Minute); !d.Allowed {
		t.Error("keys share a window")
	}
	now = now.Add(30 * time.Second) // the next window
	if d, _ := l.Allow(ctx, "k", 3, time.Minute); !d.Allowed || d.Remaining != 2 {
		t.Errorf("new window: %+v", d)
	}
	if p, _ := l.Peek(ctx, "fresh", 3, time.Minute); !p.Allowed || p.Remaining != 3 {
		t.Errorf("Peek of a fresh key: %+v", p)
	}
}

func TestCaptcha(t *testing.T) {
	t.Parallel()
	c := NewCaptchas([]byte("key"), time.Minute)
	ch, err := c.New()
	if err != nil || !strings.HasPrefix(string(ch.PNG), "\x89PNG") {
		t.Fatalf("New: %v", err)
	}
	code, ok := c.Answer(ch.ID)
	if !ok {
		t.Fatal("no answer")
	}
	other := NewCaptchas([]byte("other key"), time.Minute)
	if err := other.Verify(ch.ID, code); err == nil {
		t.Error("a captcha verified under another key")
	}
	c.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if err := c.Verify(ch.ID, code); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired captcha: %v", err)
	}
	c.now = time.Now
	if err := c.Verify(ch.ID, " "+code+" "); err != nil {
		t.Errorf("right code: %v", err)
	}
	if err := c.Verify(ch.ID, code); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replay: %v", err)
	}
}

// BenchmarkTokenParse: checking a token's signature against finding it
// verified before (go test -bench TokenParse ./internal/auth).
func BenchmarkTokenParse(b *testing.B) {
	tk, err := NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, &memTokens{m: map[string]*paddock.Token{}})
	if err != nil {
		b.Fatal(err)
	}
	signed, _, err := tk.Issue(context.Background(), 42)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("signature", func(b *testing.B) {
		for b.Loop() {
			clear(tk.verified)
			if _, err := tk.parse(signed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verified", func(b *testing.B) {
		for b.Loop() {
			if _, err := tk.parse(signed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
