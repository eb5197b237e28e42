package llm

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
)

// WithTracer returns a registry of the same providers, each of whose calls
// is a span: "chat <model>", with the attributes of OpenTelemetry's
// generative-AI conventions (provider, requested and answering model,
// tokens in and out, why the model stopped).
func (r *Registry) WithTracer(t trace.Tracer) *Registry {
	out := &Registry{providers: make(map[string]Provider, len(r.providers))}
	for name, p := range r.providers {
		out.providers[name] = Trace(p, t)
	}
	return out
}

// Trace returns p with each call a span, as WithTracer does.
func Trace(p Provider, t trace.Tracer) Provider { return traced{Provider: p, tracer: t} }

type traced struct {
	Provider
	tracer trace.Tracer
}

func (p traced) Stream(ctx context.Context, req *Request, onEvent func(Event)) (*Response, error) {
	ctx, span := p.tracer.Start(ctx, "chat "+req.Model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.provider.name", p.Name()),
		attribute.String("gen_ai.request.model", req.Model),
		attribute.Int("gen_ai.request.tools", len(req.Tools)),
	))
	defer span.End()
	resp, err := p.Provider.Stream(ctx, req, onEvent)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, paddock.ErrorMessage(err))
		return resp, err
	}
	span.SetAttributes(
		attribute.String("gen_ai.response.model", resp.Model),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{string(resp.StopReason)}),
		attribute.Int64("gen_ai.usage.input_tokens", resp.Usage.InputTokens),
		attribute.Int64("gen_ai.usage.output_tokens", resp.Usage.OutputTokens),
		attribute.Int64("gen_ai.usage.cached_input_tokens", resp.Usage.CachedInputTokens),
	)
	return resp, nil
}
