package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock/internal/auth"
	"github.com/paddockhq/paddock/internal/auth/redistest"
	"github.com/paddockhq/paddock/internal/store/storetest"
)

// TestRedisRateLimitAcrossReplicas runs two Paddock servers on one
// PostgreSQL database and one Redis, as two replicas behind a load
// balancer would: a rate limit of 10 holds across both.
func TestRedisRateLimitAcrossReplicas(t *testing.T) {
	serverDSN := os.Getenv("PADDOCK_TEST_POSTGRES_DSN")
	if serverDSN == "" {
		t.Skip("PADDOCK_TEST_POSTGRES_DSN is not set: replicas need a shared PostgreSQL (scripts/test.sh starts one)")
	}
	const window = 24 * time.Hour
	if now := time.Now(); now.Truncate(window).Add(window).Sub(now) < 2*time.Minute {
		t.Skip("the rate-limit window ends within two minutes (midnight UTC); run again after it")
	}
	rds := redistest.Start(t)
	dsn := storetest.PostgresDSN(t, serverDSN)
	key := make([]byte, 32)
	rand.Read(key)
	replica := func(c *Config) {
		c.Database = dsn
		c.Redis.URL = rds.URL
		c.Auth.SigningKey = hex.EncodeToString(key) // tokens of one replica are valid on the other
		c.RateLimits.Other = 10
		c.RateLimits.Window = Duration(window)
	}
	a := startServer(t, replica)
	b := startServer(t, replica)
	admin := a.login(t, "admin", testAdminPassword)

	const path = "/api/v1/admin/monitor/redis"
	var reset string
	for i := range 10 {
		s := []*testServer{a, b}[i%2]
		r := s.expect(t, 200, req{method: "GET", path: path, token: admin})
		if got, want := r.header.Get("X-RateLimit-Remaining"), strconv.Itoa(9-i); got != want || r.header.Get("X-RateLimit-Limit") != "10" {
			t.Fatalf("request %d: X-RateLimit-Limit %q, -Remaining %q, want 10, %s", i+1, r.header.Get("X-RateLimit-Limit"), got, want)
		}
		if reset == "" {
			reset = r.header.Get("X-RateLimit-Reset")
		} else if got := r.header.Get("X-RateLimit-Reset"); got != reset {
			t.Fatalf("request %d: X-RateLimit-Reset %s, earlier %s", i+1, got, reset)
		}
		if i == 0 {
			var info map[string]any
			r.json(t, &info)
			server, _ := info["server"].(map[string]any)
			if v, _ := server["redis_version"].(string); v == "" {
				t.Errorf("no server.redis_version in %s", r.body)
			}
			if _, ok := info["memory"].(map[string]any)["used_memory"]; !ok {
				t.Errorf("no memory.used_memory in %s", r.body)
			}
			if n, ok := info["db_size"].(float64); !ok || n < 1 {
				t.Errorf("db_size %v: the rate-limit keys are in Redis", info["db_size"])
			}
		}
	}
	for _, s := range []*testServer{a, b} { // the 11th request, on either replica
		r := s.expect(t, 429, req{method: "GET", path: path, token: admin})
		h := r.header
		if h.Get("X-RateLimit-Limit") != "10" || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") != reset || h.Get("Retry-After") == "" {
			t.Errorf("429 headers: %v", h)
		}
	}

	// The counts are Redis's, under Paddock's prefix.
	c, err := auth.OpenRedis(context.Background(), rds.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, auth.RedisKeyPrefix) {
			t.Errorf("key %q without the prefix %s", k, auth.RedisKeyPrefix)
		}
	}
	if len(keys) == 0 {
		t.Error("no rate-limit keys in Redis")
	}

	// Redis goes away: requests are served, promptly, without a limit.
	rds.Stop()
	for _, s := range []*testServer{a, b} {
		start := time.Now()
		r := s.expect(t, 200, req{method: "GET", path: "/api/v1/admin/monitor/server", token: admin})
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("a request without Redis took %s", took)
		}
		if h := r.header.Get("X-RateLimit-Limit"); h != "" {
			t.Errorf("X-RateLimit-Limit %q without Redis", h)
		}
		s.expect(t, 503, req{method: "GET", path: path, token: admin})
	}
}

// TestRedisConfig: without Redis the monitor says so; an unreachable
// Redis stops the start with a clear error.
func TestRedisConfig(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.RateLimits.Other = 10 })
	admin := s.login(t, "admin", testAdminPassword)
	r := s.expect(t, 404, req{method: "GET", path: "/api/v1/admin/monitor/redis", token: admin})
	if msg := r.message(t); !strings.Contains(msg, "not configured with Redis") {
		t.Errorf("404 message %q", msg)
	}

	// A port nothing listens on.
	dead := redistest.Start(t)
	dead.Stop()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	cfg.Redis.URL = "redis://:secret-password@" + dead.Addr + "/0"
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "connect to Redis at "+dead.Addr) || strings.Contains(err.Error(), "secret-password") {
		t.Errorf("start with an unreachable Redis: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("start with an unreachable Redis took %s", took)
	}

	for _, bad := range []string{"http://127.0.0.1:6379", "127.0.0.1:6379"} {
		cfg.Redis.URL = bad
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "redis.url") {
			t.Errorf("redis.url %q: %v", bad, err)
		}
	}
}
