package httpapi

import (
	"cmp"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
)

// traceContext reads a caller's W3C traceparent, so that a request's span
// joins the caller's trace.
var traceContext = propagation.TraceContext{}

// startSpan starts the server span of a request to the route path, named
// by the request's method and the route ("GET /api/v1/environments/{id}";
// a route of any method, the port proxy's, gets the method used), as a
// child of the caller's span when the request carries a traceparent.
func (s *Server) startSpan(r *http.Request, path string) (*http.Request, trace.Span) {
	if s.cfg.Tracer == nil { // tracing is off: not even the name and attributes are built
		return r, trace.SpanFromContext(r.Context())
	}
	ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.cfg.Tracer.Start(ctx, r.Method+" "+path, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("http.route", path),
		attribute.String("url.path", r.URL.Path),
		attribute.String("client.address", s.clientAddr(r)),
		attribute.String("paddock.request_id", requestID(r.Context())),
	))
	return r.WithContext(ctx), span
}

// endSpan records the response's status and the caller, and ends span; a
// 5xx marks the span as failed (a 4xx is the client's error, not the
// server's).
func endSpan(span trace.Span, status int, p *paddock.Principal) {
	if !span.IsRecording() {
		span.End()
		return
	}
	status = cmp.Or(status, http.StatusOK)
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if p != nil {
		span.SetAttributes(attribute.String("enduser.id", strconv.FormatInt(p.User.ID, 10)))
	}
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}
