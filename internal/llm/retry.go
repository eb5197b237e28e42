package llm

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// Retry and timeout defaults.
const (
	DefaultMaxRetries    = 3
	DefaultRetryDelay    = 500 * time.Millisecond
	DefaultMaxRetryDelay = 30 * time.Second
	DefaultTimeout       = 10 * time.Minute
)

// Config configures an adapter. The zero value of every field but APIKey
// means its default.
//
// Retries are Paddock's, not the SDKs': adapters turn the SDKs' own retries
// off, so the policy is the same for every provider and testable. A failed
// attempt is retried on 429, 408, 409, 5xx (and Anthropic's 529), error
// events that stand for those, and connection errors, only while no event
// has reached the caller (a retry never duplicates streamed tokens), at most
// MaxRetries times, after an exponential backoff with jitter or the delay
// the provider asked for in Retry-After, whichever is longer. A provider
// asking for a delay longer than MaxRetryDelay is not retried.
type Config struct {
	APIKey string
	// BaseURL overrides the provider's API endpoint: an OpenAI-compatible
	// server (vLLM, Ollama, llama.cpp, LiteLLM), a proxy, or a test server.
	BaseURL    string
	HTTPClient *http.Client // nil: a client without a global timeout

	MaxRetries    int           // retries after the first attempt; 0: DefaultMaxRetries; negative: none
	RetryDelay    time.Duration // first backoff; doubles each retry; 0: DefaultRetryDelay
	MaxRetryDelay time.Duration // cap on one backoff; 0: DefaultMaxRetryDelay
	// Timeout bounds one attempt, from sending the request to the end of
	// the stream. 0: DefaultTimeout.
	Timeout time.Duration

	// Sleep waits d or until ctx is done, between retries. nil: a timer.
	// Tests set it to observe the delays without waiting them out.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) maxRetries() int {
	switch {
	case c.MaxRetries < 0:
		return 0
	case c.MaxRetries == 0:
		return DefaultMaxRetries
	}
	return c.MaxRetries
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Backoff returns the delay before retry number retry (0 for the first):
// RetryDelay doubled per retry, capped at MaxRetryDelay, with up to half of
// it taken off at random so that clients spread out.
func (c Config) Backoff(retry int) time.Duration {
	base, limit := c.RetryDelay, c.MaxRetryDelay
	if base <= 0 {
		base = DefaultRetryDelay
	}
	if limit <= 0 {
		limit = DefaultMaxRetryDelay
	}
	d := base
	for i := 0; i < retry && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

func (c Config) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// An Attempt makes one call to a provider, passing events to emit as they
// arrive. It returns the response, or an error: an *APIError for an error
// response from the API, or the transport's error.
type Attempt func(ctx context.Context, emit func(Event)) (*Response, error)

// Retry runs attempt under cfg's retry policy and timeout (see Config) and
// returns its response, or the last error classified with Classify. It is
// the body of every adapter's Stream.
func Retry(ctx context.Context, cfg Config, provider string, onEvent func(Event), attempt Attempt) (*Response, error) {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	delivered := false
	emit := func(ev Event) {
		delivered = true
		onEvent(ev)
	}
	for retry := 0; ; retry++ {
		resp, err := runAttempt(ctx, cfg.timeout(), attempt, emit)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, Classify(provider, errors.Join(ctx.Err(), err))
		}
		if delivered || retry >= cfg.maxRetries() {
			return nil, Classify(provider, err)
		}
		wait, ok := retryDelay(cfg, retry, err)
		if !ok {
			return nil, Classify(provider, err)
		}
		if err := cfg.sleep(ctx, wait); err != nil {
			return nil, Classify(provider, err)
		}
	}
}

func runAttempt(ctx context.Context, timeout time.Duration, attempt Attempt, emit func(Event)) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return attempt(ctx, emit)
}

// retryDelay says whether err is worth a retry and after how long.
func retryDelay(cfg Config, retry int, err error) (time.Duration, bool) {
	backoff := cfg.Backoff(retry)
	var ae *APIError
	if errors.As(err, &ae) {
		if !ae.Retryable() || ae.ContextLength {
			return 0, false
		}
		limit := cfg.MaxRetryDelay
		if limit <= 0 {
			limit = DefaultMaxRetryDelay
		}
		if ae.RetryAfter > limit {
			return 0, false
		}
		return max(backoff, ae.RetryAfter), true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, false // the attempt used its whole timeout; do not double it
	}
	return backoff, isConnectionError(err)
}
