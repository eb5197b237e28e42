package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/paddockhq/paddock"
)

// surface is one of the four documented API surfaces. Each renders errors in
// its own document's shape; the status for a code is shared.
type surface int

const (
	surfaceEnvironments surface = iota // seed 004: /api/v1/auth, /api/v1/environments, /api/v1/api-keys, /api/v1/health, /api/v1/images
	surfaceAgents                      // seed 002: /v1/..., /health
	surfaceAssistants                  // seed 001: /api/assistants, /api/sessions
	surfacePlatform                    // seeds 000/003: /api/v1/admin, /api/v1/agent, /agent, /api/v1/task
)

// statusOf maps application error codes to HTTP statuses on every surface.
var statusOf = map[string]int{
	paddock.EInvalid:         http.StatusBadRequest,
	paddock.EUnauthorized:    http.StatusUnauthorized,
	paddock.EPaymentRequired: http.StatusPaymentRequired,
	paddock.EForbidden:       http.StatusForbidden,
	paddock.ENotFound:        http.StatusNotFound,
	paddock.EConflict:        http.StatusConflict,
	paddock.ETooLarge:        http.StatusRequestEntityTooLarge,
	paddock.EUnsupported:     http.StatusUnsupportedMediaType,
	paddock.ERateLimited:     http.StatusTooManyRequests,
	paddock.EInternal:        http.StatusInternalServerError,
	paddock.EUnavailable:     http.StatusServiceUnavailable,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
}

// codeMethodNotAllowed is used only by the router, for 405 answers.
const codeMethodNotAllowed = "method_not_allowed"

// The per-surface tables: application code -> the code word the surface's
// document uses in its error body.
var (
	// seed 004: {"error": "<type>", "message": "...", "code": <status>}
	environmentsErrors = map[string]string{
		paddock.EInvalid:         "bad_request",
		paddock.EUnauthorized:    "unauthorized",
		paddock.EPaymentRequired: "payment_required",
		paddock.EForbidden:       "forbidden",
		paddock.ENotFound:        "not_found",
		paddock.EConflict:        "conflict",
		paddock.ETooLarge:        "payload_too_large",
		paddock.EUnsupported:     "unsupported_media_type",
		paddock.ERateLimited:     "rate_limited",
		paddock.EInternal:        "internal_error",
		paddock.EUnavailable:     "service_unavailable",
		codeMethodNotAllowed:     "method_not_allowed",
	}
	// seed 002: {"error": {"code": "...", "message": "..."}}
	agentsErrors = map[string]string{
		paddock.EInvalid:         "invalid_request",
		paddock.EUnauthorized:    "unauthorized",
		paddock.EPaymentRequired: "payment_required",
		paddock.EForbidden:       "forbidden",
		paddock.ENotFound:        "not_found",
		paddock.EConflict:        "conflict",
		paddock.ETooLarge:        "payload_too_large",
		paddock.EUnsupported:     "unsupported_media_type",
		paddock.ERateLimited:     "rate_limited",
		paddock.EInternal:        "internal_error",
		paddock.EUnavailable:     "unavailable",
		codeMethodNotAllowed:     "method_not_allowed",
	}
	// seed 001: {"error": {"message": "...", "code": "NOT_FOUND"}}
	assistantsErrors = map[string]string{
		paddock.EInvalid:         "VALIDATION_ERROR",
		paddock.EUnauthorized:    "UNAUTHORIZED",
		paddock.EPaymentRequired: "PAYMENT_REQUIRED",
		paddock.EForbidden:       "FORBIDDEN",
		paddock.ENotFound:        "NOT_FOUND",
		paddock.EConflict:        "CONFLICT",
		paddock.ETooLarge:        "PAYLOAD_TOO_LARGE",
		paddock.EUnsupported:     "UNSUPPORTED_MEDIA_TYPE",
		paddock.ERateLimited:     "RATE_LIMITED",
		paddock.EInternal:        "INTERNAL_ERROR",
		paddock.EUnavailable:     "SERVICE_UNAVAILABLE",
		codeMethodNotAllowed:     "METHOD_NOT_ALLOWED",
	}
	// seeds 000/003: {"detail": "...", "code": "ERROR_CODE"}
	platformErrors = map[string]string{
		paddock.EInvalid:         "BAD_REQUEST",
		paddock.EUnauthorized:    "UNAUTHORIZED",
		paddock.EPaymentRequired: "INSUFFICIENT_CREDITS",
		paddock.EForbidden:       "FORBIDDEN",
		paddock.ENotFound:        "NOT_FOUND",
		paddock.EConflict:        "CONFLICT",
		paddock.ETooLarge:        "PAYLOAD_TOO_LARGE",
		paddock.EUnsupported:     "UNSUPPORTED_MEDIA_TYPE",
		paddock.ERateLimited:     "RATE_LIMITED",
		paddock.EInternal:        "INTERNAL_ERROR",
		paddock.EUnavailable:     "SERVICE_UNAVAILABLE",
		codeMethodNotAllowed:     "METHOD_NOT_ALLOWED",
	}
)

// surfaceOf returns the surface a path belongs to, for requests that match
// no route (404/405) and so carry no route's surface.
func surfaceOf(path string) surface {
	switch {
	case path == "/health" || strings.HasPrefix(path, "/v1/"):
		return surfaceAgents
	case strings.HasPrefix(path, "/api/assistants"), strings.HasPrefix(path, "/api/sessions"):
		return surfaceAssistants
	case strings.HasPrefix(path, "/api/v1/admin"), strings.HasPrefix(path, "/api/v1/agent"),
		strings.HasPrefix(path, "/agent/"), strings.HasPrefix(path, "/api/v1/task"):
		return surfacePlatform
	}
	return surfaceEnvironments
}

// errorBody renders the body of an error response on a surface.
func errorBody(s surface, code, message string) any {
	status := statusOf[code]
	switch s {
	case surfaceAgents:
		return map[string]any{"error": map[string]any{"code": agentsErrors[code], "message": message}}
	case surfaceAssistants:
		return map[string]any{"error": map[string]any{"message": message, "code": assistantsErrors[code]}}
	case surfacePlatform:
		return map[string]any{"detail": message, "code": platformErrors[code]}
	}
	return map[string]any{"error": environmentsErrors[code], "message": message, "code": status}
}

// statusClientClosed is the status of a request whose client went away
// before the answer (nginx's 499 "client closed request"): recorded in the
// access log, the metrics and the operation log, apart from the server's
// own failures. No body is sent: nobody reads it.
const statusClientClosed = 499

// writeError renders err on surface s. Internal errors are logged with the
// request id; their details never reach the client. An error that comes
// from the client going away (the request's context is cancelled, and the
// error is that cancellation or an internal one) is recorded as
// statusClientClosed instead of 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, sf surface, err error) {
	code := paddock.ErrorCode(err)
	if _, ok := statusOf[code]; !ok {
		code = paddock.EInternal
	}
	if errors.Is(r.Context().Err(), context.Canceled) && (code == paddock.EInternal || errors.Is(err, context.Canceled)) {
		s.log.InfoContext(r.Context(), "client closed request", "request_id", requestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	msg := paddock.ErrorMessage(err)
	if code == paddock.EInternal {
		var perr *paddock.Error
		if !errors.As(err, &perr) {
			msg = "internal error (request id " + requestID(r.Context()) + ")"
		}
		s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	_ = writeJSON(w, statusOf[code], errorBody(sf, code, msg))
}
