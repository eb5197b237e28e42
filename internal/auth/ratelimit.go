package auth

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Decision is the outcome of one rate-limit check.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	Reset     time.Time // when the current window ends
}

// RetryAfter is how long the caller should wait before trying again.
func (d Decision) RetryAfter(now time.Time) time.Duration {
	if d.Allowed {
		return 0
	}
	if wait := d.Reset.Sub(now); wait > 0 {
		return wait
	}
	return time.Second
}

// Limiter counts requests per key in fixed windows. Implementations must be
// safe for concurrent use.
type Limiter interface {
	// Allow counts one request against key and reports whether it fits.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
	// Peek reports the state of key's window without counting.
	Peek(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// MemoryLimiter is an in-process Limiter: fixed windows aligned to the
// window length, so every replica and client agrees on the reset time.
type MemoryLimiter struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [64]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	windows map[string]*window
	calls   int
}

type window struct {
	start time.Time
	end   time.Time
	count int
}

// NewMemoryLimiter returns an empty in-process limiter.
func NewMemoryLimiter() *MemoryLimiter {
	l := &MemoryLimiter{now: time.Now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].windows = map[string]*window{}
	}
	return l
}

// Allow counts one request against key.
func (l *MemoryLimiter) Allow(_ context.Context, key string, limit int, length time.Duration) (Decision, error) {
	return l.take(key, limit, length, 1), nil
}

// Peek reports key's window without counting.
func (l *MemoryLimiter) Peek(_ context.Context, key string, limit int, length time.Duration) (Decision, error) {
	return l.take(key, limit, length, 0), nil
}

func (l *MemoryLimiter) take(key string, limit int, length time.Duration, n int) Decision {
	now := l.now()
	start := now.Truncate(length)
	end := start.Add(length)
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.calls++; sh.calls%1024 == 0 {
		for k, w := range sh.windows { // drop windows that have ended
			if !now.Before(w.end) {
				delete(sh.windows, k)
			}
		}
	}
	w := sh.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start, end: end}
		sh.windows[key] = w
	}
	d := Decision{Limit: limit, Reset: end}
	if w.count+n > limit || w.count >= limit {
		return d
	}
	w.count += n
	d.Allowed = true
	d.Remaining = limit - w.count
	return d
}
