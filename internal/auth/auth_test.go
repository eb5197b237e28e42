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
