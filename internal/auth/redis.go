package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of the Redis client made by OpenRedis, short because every API
// request waits on the limiter: a Redis that stops answering must turn
// into a logged error (the request is served unlimited), not a hung API.
// A redis.url query (dial_timeout, read_timeout, ...) overrides them.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
	redisPoolTimeout = time.Second
)

// OpenRedis connects to the Redis server of rawURL
// (redis://[[user]:password@]host:port/db, rediss:// for TLS, unix://...)
// and checks that it answers. Close the client when done.
func OpenRedis(ctx context.Context, rawURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: name neither the URL nor the parser's
		// error, which quotes parts of it.
		return nil, errors.New("redis url: want redis://[:password@]host:port/db, rediss://... or unix://...")
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = redisDialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = redisIOTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = redisIOTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = redisPoolTimeout
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	opt.DialerRetries = 1 // a refused connection fails the call at once
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to Redis at %s (db %d): %w", opt.Addr, opt.DB, err)
	}
	return c, nil
}

// RedisLimiter is a Limiter kept in Redis, so that every Paddock replica
// using the same Redis counts against the same windows. Windows are fixed
// and aligned to the window length, as MemoryLimiter's, but on the Redis
// server's clock: replicas agree on them whatever their own clocks say.
type RedisLimiter struct {
	client  redis.Scripter
	prefix  string
	timeout time.Duration
}

var _ Limiter = (*RedisLimiter)(nil)

// RedisKeyPrefix starts the name of every key RedisLimiter writes.
const RedisKeyPrefix = "paddock:rl:"

// NewRedisLimiter returns a Limiter over client. Each check is bounded by a
// one-second deadline, whatever the client's timeouts.
func NewRedisLimiter(client redis.Scripter) *RedisLimiter {
	return &RedisLimiter{client: client, prefix: RedisKeyPrefix, timeout: time.Second}
}

// limitScript checks and, when ARGV[3] is "1", counts one request against
// the window of KEYS[1], a hash {s: window start, n: count} that expires at
// the window's end. It runs atomically on the server, so concurrent
// requests from any number of replicas are counted exactly; like
// MemoryLimiter, it never counts past the limit. It returns {allowed (0 or
// 1), count, window end in Unix milliseconds}.
//
// ARGV: 1 limit, 2 window length in milliseconds, 3 "1" to count or "0" to
// peek. TIME before a write needs Redis 5 or later (effects replication).
var limitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, length = tonumber(ARGV[1]), tonumber(ARGV[2])
local start = now - now % length
local stop = start + length
local w = redis.call('HMGET', KEYS[1], 's', 'n')
local count = 0
if tonumber(w[1]) == start then
  count = tonumber(w[2]) or 0
end
if count >= limit then
  return {0, count, stop}
end
if ARGV[3] == '1' then
  count = count + 1
  redis.call('HSET', KEYS[1], 's', string.format('%.0f', start), 'n', count)
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', stop))
end
return {1, count, stop}
`)

// Allow counts one request against key. Errors are Redis's (unreachable,
// timed out); the caller decides whether to serve without a limit.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, length time.Duration) (Decision, error) {
	return l.take(ctx, key, limit, length, true)
}

// Peek reports key's window without counting.
func (l *RedisLimiter) Peek(ctx context.Context, key string, limit int, length time.Duration) (Decision, error) {
	return l.take(ctx, key, limit, length, false)
}

func (l *RedisLimiter) take(ctx context.Context, key string, limit int, length time.Duration, count bool) (Decision, error) {
	ms := length.Milliseconds()
	if ms <= 0 {
		return Decision{}, fmt.Errorf("rate limit window %s is shorter than a millisecond", length)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	flag := "0"
	if count {
		flag = "1"
	}
	res, err := limitScript.Run(ctx, l.client, []string{l.prefix + key}, limit, ms, flag).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("redis rate limit: unexpected reply %v", res)
	}
	d := Decision{Allowed: res[0] == 1, Limit: limit, Reset: time.UnixMilli(res[2])}
	if d.Allowed {
		d.Remaining = limit - int(res[1])
	}
	return d, nil
}
