// Package telemetry sets up OpenTelemetry tracing: spans are batched and
// exported over OTLP/HTTP to a collector (the OpenTelemetry Collector,
// Jaeger, Tempo, Honeycomb, ...). Without an endpoint tracing is off and
// the tracer is a no-op, which costs nothing on the request path.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the instrumentation scope of Paddock's spans.
const Name = "github.com/paddockhq/paddock"

// Config configures tracing.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP traces URL, such as
	// http://127.0.0.1:4318/v1/traces. When empty, the standard variables
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT
	// are read (through Getenv); when they are empty too, tracing is off.
	Endpoint string
	// SampleRatio is the share of new traces recorded, 0 to 1. A request
	// that carries a traceparent follows its caller's decision instead.
	SampleRatio float64
	// ServiceName is the service.name of the spans (OTEL_SERVICE_NAME
	// overrides it; default "paddock").
	ServiceName string
	Version     string
	// BatchTimeout is the longest a span waits to be sent (default 5 s).
	BatchTimeout time.Duration
	Getenv       func(string) string
}

// Tracing is a configured tracer and what stops it.
type Tracing struct {
	Tracer   trace.Tracer
	Enabled  bool
	Endpoint string // where spans go, for the log
	provider *sdktrace.TracerProvider
}

// Shutdown sends the spans still batched and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// New returns the tracing cfg describes; a Tracing whose tracer does
// nothing when no endpoint is configured.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	}
	if endpoint == "" {
		// The general endpoint is a base URL: traces go under /v1/traces.
		if base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint = strings.TrimRight(base, "/") + "/v1/traces"
		}
	}
	if endpoint == "" {
		return &Tracing{Tracer: noop.NewTracerProvider().Tracer(Name)}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing endpoint %q: want an http or https URL, such as http://127.0.0.1:4318/v1/traces", endpoint)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing sample ratio %v: want a number from 0 to 1", cfg.SampleRatio)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	name := cfg.ServiceName
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	if name == "" {
		name = "paddock"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", name), attribute.String("service.version", cfg.Version)))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	batch := cfg.BatchTimeout
	if batch <= 0 {
		batch = 5 * time.Second
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracing{Tracer: tp.Tracer(Name), Enabled: true, Endpoint: u.Redacted(), provider: tp}, nil
}
