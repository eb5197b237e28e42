package auth_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paddockhq/paddock/internal/auth"
	"github.com/paddockhq/paddock/internal/auth/redistest"
)

func openRedis(t *testing.T) (*redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c, err := auth.OpenRedis(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// TestLimiterSemantics runs one sequence on both limiters: they must
// answer alike.
func TestLimiterSemantics(t *testing.T) {
	t.Parallel()
	_, c := openRedis(t)
	for _, tc := range []struct {
		name string
		l    auth.Limiter
	}{
		{"memory", auth.NewMemoryLimiter()},
		{"redis", auth.NewRedisLimiter(c)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := "semantics|" + tc.name
			// A window of a day: the sequence does not cross its end (but for
			// a test run at midnight UTC, which retries).
			const limit, window = 3, 24 * time.Hour
			for attempt := 0; ; attempt++ {
				var ds []auth.Decision
				check := func(d auth.Decision, err error) auth.Decision {
					t.Helper()
					if err != nil {
						t.Fatal(err)
					}
					ds = append(ds, d)
					return d
				}
				key := fmt.Sprintf("%s|%d", key, attempt)
				if p := check(tc.l.Peek(ctx, key, limit, window)); !p.Allowed || p.Remaining != limit || p.Limit != limit {
					t.Fatalf("Peek of a fresh key: %+v", p)
				}
				for i := range limit {
					if d := check(tc.l.Allow(ctx, key, limit, window)); !d.Allowed || d.Remaining != limit-1-i || d.Limit != limit {
						t.Fatalf("request %d: %+v", i, d)
					}
					if p := check(tc.l.Peek(ctx, key, limit, window)); p.Allowed != (i < limit-1) || p.Remaining != limit-1-i {
						t.Fatalf("Peek after request %d: %+v", i, p)
					}
				}
				for i := range 2 {
					if d := check(tc.l.Allow(ctx, key, limit, window)); d.Allowed || d.Remaining != 0 || d.Limit != limit {
						t.Fatalf("request %d past the limit: %+v", limit+i, d)
					}
				}
				if d := check(tc.l.Allow(ctx, key+"|other", limit, window)); !d.Allowed || d.Remaining != limit-1 {
					t.Fatalf("keys share a window: %+v", d)
				}
				same := true
				for _, d := range ds {
					same = same && d.Reset.Equal(ds[0].Reset)
				}
				if !same && attempt < 3 {
					continue // a window ended during the sequence
				}
				reset := ds[0].Reset
				if until := time.Until(reset); until <= 0 || until > window+time.Minute || reset.UnixMilli()%window.Milliseconds() != 0 {
					t.Errorf("reset %s is not the end of the current aligned window", reset)
				}
				return
			}
		})
	}
}

func TestRedisLimiterKeys(t *testing.T) {
	t.Parallel()
	_, c := openRedis(t)
	ctx := context.Background()
	l := auth.NewRedisLimiter(c)
	if _, err := l.Peek(ctx, "other|user:1", 5, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("Peek wrote %d keys", n)
	}
	if _, err := l.Allow(ctx, "other|user:1", 5, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys := c.Keys(ctx, "*").Val()
	if len(keys) != 1 || keys[0] != auth.RedisKeyPrefix+"other|user:1" {
		t.Fatalf("keys %q, want one with prefix %s", keys, auth.RedisKeyPrefix)
	}
	if ttl := c.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL %s: the key must expire at the end of its window", ttl)
	}
}

// TestRedisLimiterConcurrent counts from many goroutines over several
// clients (as many replicas would): exactly limit requests pass.
func TestRedisLimiterConcurrent(t *testing.T) {
	t.Parallel()
	srv, _ := openRedis(t)
	const replicas, workers, each, limit = 4, 64, 25, 500 // 1600 requests
	var limiters []*auth.RedisLimiter
	for range replicas {
		c, err := auth.OpenRedis(context.Background(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		limiters = append(limiters, auth.NewRedisLimiter(c))
	}
	for attempt := 0; ; attempt++ {
		key := fmt.Sprintf("concurrent|%d", attempt)
		var (
			mu      sync.Mutex
			allowed int
			resets  = map[int64]bool{}
			rem     = map[int]int{}
			wg      sync.WaitGroup
			errs    = make(chan error, workers)
		)
		for w := range workers {
			l := limiters[w%replicas]
			wg.Go(func() {
				for range each {
					d, err := l.Allow(context.Background(), key, limit, 24*time.Hour)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					resets[d.Reset.UnixMilli()] = true
					if d.Allowed {
						allowed++
						rem[d.Remaining]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(resets) > 1 && attempt < 3 {
			continue // a window ended during the run
		}
		if allowed != limit {
			t.Fatalf("%d requests allowed, want exactly %d", allowed, limit)
		}
		for r := range limit { // every remaining count was reported once
			if rem[r] != 1 {
				t.Fatalf("remaining %d reported %d times", r, rem[r])
			}
		}
		return
	}
}

func TestRedisLimiterWindowExpiry(t *testing.T) {
	t.Parallel()
	_, c := openRedis(t)
	ctx := context.Background()
	l := auth.NewRedisLimiter(c)
	const window = 500 * time.Millisecond
	var full auth.Decision
	for attempt := 0; ; attempt++ {
		key := fmt.Sprintf("expiry|%d", attempt)
		a, _ := l.Allow(ctx, key, 2, window)
		b, _ := l.Allow(ctx, key, 2, window)
		d, err := l.Allow(ctx, key, 2, window)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Reset.Equal(d.Reset) || !b.Reset.Equal(d.Reset) {
			if attempt < 5 {
				continue // the window ended during the sequence
			}
			t.Fatal("the window keeps ending between three requests")
		}
		if !a.Allowed || !b.Allowed || d.Allowed || d.RetryAfter(time.Now()) > window+100*time.Millisecond {
			t.Fatalf("decisions %+v %+v %+v", a, b, d)
		}
		full = d
		// Poll until the next window admits the key again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := l.Allow(ctx, key, 2, window)
			if err != nil {
				t.Fatal(err)
			}
			if n.Allowed {
				if n.Remaining != 1 || !n.Reset.After(full.Reset) {
					t.Fatalf("first request of the next window: %+v (previous reset %s)", n, full.Reset)
				}
				if p, _ := l.Peek(ctx, key, 2, window); p.Reset.Equal(n.Reset) && p.Remaining != 1 {
					t.Fatalf("Peek in the next window: %+v", p)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still refused 5 s after a %s window ended at %s", window, full.Reset)
			}
			time.Sleep(20 * time.Millisecond) // polling with a deadline
		}
	}
}

// TestRedisLimiterUnavailable: when Redis stops answering, calls fail
// promptly instead of holding requests.
func TestRedisLimiterUnavailable(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	sc := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { sc.Close() })
	silent := auth.NewRedisLimiter(sc)
	start := time.Now()
	if _, err := silent.Allow(context.Background(), "k", 1, time.Minute); err == nil {
		t.Fatal("Allow against a silent server succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Allow against a silent server took %s", took)
	}

	// A server that goes away.
	srv, c := openRedis(t)
	l := auth.NewRedisLimiter(c)
	if _, err := l.Allow(context.Background(), "k", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start = time.Now()
	if _, err := l.Allow(context.Background(), "k", 1, time.Minute); err == nil {
		t.Fatal("Allow after Redis stopped succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Allow after Redis stopped took %s", took)
	}
	if _, err := auth.OpenRedis(context.Background(), srv.URL); err == nil {
		t.Error("OpenRedis of a stopped server succeeded")
	}
}
