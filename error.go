package paddock

import (
	"errors"
	"fmt"
)

// Application error codes. Each API surface maps them to its documented error
// body and HTTP status in one table (internal/httpapi/error.go).
const (
	EInvalid         = "invalid"          // bad input: 400
	EUnauthorized    = "unauthorized"     // missing, invalid, expired or revoked credentials: 401
	EPaymentRequired = "payment_required" // credits exhausted: 402
	EForbidden       = "forbidden"        // authenticated but not allowed: 403
	ENotFound        = "not_found"        // unknown id, or another user's resource: 404
	EConflict        = "conflict"         // state conflict (duplicate name, paused environment): 409
	ETooLarge        = "too_large"        // body or upload over its limit: 413
	EUnsupported     = "unsupported"      // unsupported media type: 415
	ERateLimited     = "rate_limited"     // over a rate limit: 429
	EInternal        = "internal"         // a bug or an unexpected failure: 500
	EUnavailable     = "unavailable"      // a dependency is down (runtime, provider): 503
)

// Error is the application error. Message is safe to show to the caller;
// anything else about the failure is logged, never sent.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("paddock: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the safe message of the first *Error in err's chain, or
// a generic message for other errors.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}
