package llm_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestWithTracer checks a traced provider's spans: one per call, with the
// generative-AI attributes of a success, and a failed call as an error
// span with the provider's message; the calls themselves are unchanged.
func TestWithTracer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p := llmtest.New(
		llmtest.Step{Text: "hi", Usage: llm.Usage{InputTokens: 11, OutputTokens: 2, CachedInputTokens: 8}},
		llmtest.Step{Err: paddock.Errorf(paddock.ERateLimited, "slow down")},
	)
	reg := llm.NewRegistry(p).WithTracer(tp.Tracer("test"))
	traced, err := reg.Provider("openai")
	if err != nil {
		t.Fatal(err)
	}
	req := &llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hello"}}}}}
	resp, err := traced.Stream(context.Background(), req, func(llm.Event) {})
	if err != nil || resp.Message.Text() != "hi" {
		t.Fatalf("traced call: %v, %v", resp, err)
	}
	if _, err := traced.Stream(context.Background(), req, func(llm.Event) {}); paddock.ErrorCode(err) != paddock.ERateLimited {
		t.Fatalf("failing call: %v", err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	attrs := func(i int) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range spans[i].Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	ok := attrs(0)
	if spans[0].Name() != "chat gpt-4o-mini" || ok["gen_ai.provider.name"].AsString() != "openai" || ok["gen_ai.request.model"].AsString() != "gpt-4o-mini" ||
		ok["gen_ai.usage.input_tokens"].AsInt64() != 11 || ok["gen_ai.usage.output_tokens"].AsInt64() != 2 || ok["gen_ai.usage.cached_input_tokens"].AsInt64() != 8 ||
		spans[0].Status().Code != codes.Unset {
		t.Errorf("span of a call: %s %v %v", spans[0].Name(), ok, spans[0].Status())
	}
	if st := spans[1].Status(); st.Code != codes.Error || st.Description != "slow down" || len(spans[1].Events()) != 1 {
		t.Errorf("span of a failed call: %v, events %v", st, spans[1].Events())
	}
}
