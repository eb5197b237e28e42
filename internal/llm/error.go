package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paddockhq/paddock"
)

// ErrContextLength reports that a request's prompt does not fit the model's
// context window. Errors from Provider.Stream wrap it (test with errors.Is)
// so the agent can compact the history and try again; they also carry the
// paddock code EInvalid.
var ErrContextLength = errors.New("llm: context length exceeded")

// APIError is an error response from a provider's API, as an adapter decoded
// it. Adapters return it from an attempt (see Retry); Retry decides from it
// whether to retry and how to classify the failure. Callers can find it in a
// Stream error's chain with errors.As, for logs.
type APIError struct {
	Provider   string        // "openai"
	StatusCode int           // HTTP status; for an error event inside a stream, the status it stands for
	Type       string        // the provider's error type or code, e.g. "rate_limit_error"
	Message    string        // the provider's message
	RetryAfter time.Duration // how long the provider asked us to wait; 0 if it did not say
	// ContextLength is set when the error means the prompt is over the
	// model's context window.
	ContextLength bool
	Err           error // the SDK's error, if any
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	b.WriteString(": ")
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(" ")
	}
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Retryable reports whether the request is worth sending again: rate limits,
// server errors and overload, a request timeout.
func (e *APIError) Retryable() bool {
	switch {
	case e.Type == "insufficient_quota":
		return false // a 429 that no amount of waiting fixes
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout,
		e.StatusCode == http.StatusConflict, e.StatusCode >= 500:
		return true
	}
	return false
}

// IsContextLengthMessage reports whether a provider's error message says the
// prompt is over the context window. Adapters use it for providers that do
// not return a dedicated error code.
func IsContextLengthMessage(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{
		"context length", "context_length", "context window", "maximum context",
		"prompt is too long", "too many tokens", "input token count",
		"exceeds the maximum number of tokens", "reduce the length", "input is too long",
	} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// ParseRetryAfter reads how long a response asks the client to wait, from
// retry-after-ms (OpenAI, Anthropic) or Retry-After (seconds or an HTTP date).
// It returns 0 when h says nothing usable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// callError is what Stream returns for a failed call: the safe application
// error, whether it is a context-length error, and the cause for logs.
type callError struct {
	app           *paddock.Error
	contextLength bool
	cause         error
}

func (e *callError) Error() string {
	if e.cause == nil {
		return e.app.Message
	}
	return e.app.Message + ": " + e.cause.Error()
}

func (e *callError) Unwrap() []error {
	errs := []error{e.app}
	if e.contextLength {
		errs = append(errs, ErrContextLength)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Classify turns the final error of a call to provider into the error Stream
// returns. It is idempotent, and leaves context cancellation alone (wrapped
// with the provider name) so errors.Is(err, context.Canceled) holds.
func Classify(provider string, err error) error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", provider, err)
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return classifyAPIError(provider, ae, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &callError{app: paddock.Errorf(paddock.EUnavailable, "%s: no response in time", provider), cause: err}
	}
	if isConnectionError(err) {
		return &callError{app: paddock.Errorf(paddock.EUnavailable, "%s: cannot reach the API", provider), cause: err}
	}
	return &callError{app: paddock.Errorf(paddock.EUnavailable, "%s: unexpected response from the API", provider), cause: err}
}

func classifyAPIError(provider string, ae *APIError, err error) error {
	msg := strings.TrimSpace(ae.Message)
	withMsg := func(prefix string) string {
		if msg == "" {
			return fmt.Sprintf("%s: %s", provider, prefix)
		}
		return fmt.Sprintf("%s: %s: %s", provider, prefix, msg)
	}
	status := ae.StatusCode
	switch {
	case ae.ContextLength:
		return &callError{app: &paddock.Error{Code: paddock.EInvalid, Message: withMsg("context length exceeded")}, contextLength: true, cause: err}
	case status == http.StatusUnauthorized:
		return &callError{app: paddock.Errorf(paddock.EUnavailable, "%s: invalid API key (401)", provider), cause: err}
	case status == http.StatusForbidden:
		return &callError{app: &paddock.Error{Code: paddock.EUnavailable, Message: withMsg("permission denied (403)")}, cause: err}
	case ae.Type == "insufficient_quota":
		return &callError{app: &paddock.Error{Code: paddock.EUnavailable, Message: withMsg("quota exceeded")}, cause: err}
	case status == http.StatusTooManyRequests:
		return &callError{app: &paddock.Error{Code: paddock.ERateLimited, Message: withMsg("rate limited (429)")}, cause: err}
	case status >= 500:
		return &callError{app: &paddock.Error{Code: paddock.EUnavailable, Message: withMsg(fmt.Sprintf("server error (%d)", status))}, cause: err}
	case status == http.StatusRequestTimeout:
		return &callError{app: paddock.Errorf(paddock.EUnavailable, "%s: request timeout (408)", provider), cause: err}
	case status >= 400:
		if msg == "" {
			msg = fmt.Sprintf("request rejected (%d)", status)
		}
		return &callError{app: paddock.Errorf(paddock.EInvalid, "%s: %s", provider, msg), cause: err}
	}
	return &callError{app: &paddock.Error{Code: paddock.EUnavailable, Message: withMsg("API error")}, cause: err}
}

// isConnectionError reports whether err is a transport failure worth
// retrying: refused or reset connections, DNS failures, truncated bodies.
func isConnectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
