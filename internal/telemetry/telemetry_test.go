package telemetry

import (
	"context"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	ctx := context.Background()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	off, err := New(ctx, Config{SampleRatio: 1})
	if err != nil || off.Enabled {
		t.Fatalf("no endpoint: %+v, %v", off, err)
	}
	_, span := off.Tracer.Start(ctx, "x")
	if span.IsRecording() {
		t.Error("tracing off records spans")
	}
	span.End()
	if err := off.Shutdown(ctx); err != nil {
		t.Error(err)
	}

	for _, tt := range []struct {
		name string
		cfg  Config
		want string // the endpoint, or the error
	}{
		{"explicit", Config{Endpoint: "http://collector:4318/v1/traces"}, "http://collector:4318/v1/traces"},
		{"traces variable", Config{Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example/v1/traces"})}, "https://otel.example/v1/traces"},
		{"base variable", Config{Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})}, "http://collector:4318/v1/traces"},
		{"explicit wins", Config{Endpoint: "http://a:4318/v1/traces", Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"})}, "http://a:4318/v1/traces"},
		{"password hidden", Config{Endpoint: "http://user:secret@collector:4318/v1/traces"}, "http://user:xxxxx@collector:4318/v1/traces"},
		{"not a URL", Config{Endpoint: "collector:4318"}, `tracing endpoint "collector:4318": want an http or https URL`},
		{"other scheme", Config{Endpoint: "grpc://collector:4317"}, "want an http or https URL"},
		{"ratio", Config{Endpoint: "http://collector:4318/v1/traces", SampleRatio: 1.5}, "tracing sample ratio 1.5: want a number from 0 to 1"},
	} {
		tr, err := New(ctx, tt.cfg)
		switch {
		case err != nil:
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
			}
		case !tr.Enabled || tr.Endpoint != tt.want:
			t.Errorf("%s: enabled %v, endpoint %q, want %q", tt.name, tr.Enabled, tr.Endpoint, tt.want)
		default:
			tr.Shutdown(ctx)
		}
	}
}
