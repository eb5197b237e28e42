package llmtest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paddockhq/paddock/internal/llm"
)

// CheckSplicedBody fails t unless spliced, a request body an adapter built
// from cached message encodings (see llm.EncodeCache), carries what sdk,
// the SDK's own encoding of the same streaming request, does. The spliced
// body also has "stream": true, which the SDK adds when it sends, and an
// empty message list where the SDK leaves one out (the APIs want it). what
// names the request in failures.
func CheckSplicedBody(t testing.TB, what string, sdk, spliced []byte) {
	t.Helper()
	var got, want map[string]any
	if err := json.Unmarshal(spliced, &got); err != nil {
		t.Fatalf("%s: spliced body is not JSON: %v\n%s", what, err, spliced)
	}
	if err := json.Unmarshal(sdk, &want); err != nil {
		t.Fatalf("%s: SDK body is not JSON: %v\n%s", what, err, sdk)
	}
	want["stream"] = true
	if _, ok := want["messages"]; !ok {
		want["messages"] = []any{}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: body differs from the SDK's (-sdk +spliced):\n%s", what, d)
	}
}

// BodyRequests are the requests an adapter's spliced body is checked on:
// none, with history(1) and every request field, and a reasoning model's
// with history(3). history builds n rounds of the adapter's test history.
func BodyRequests(model, reasoningModel string, history func(n int) []llm.Message) []*llm.Request {
	temp := 0.5
	return []*llm.Request{
		{Model: model},
		{Model: model, System: "You are <terse>.", Messages: history(1), MaxTokens: 100, Temperature: &temp,
			Tools:          []llm.Tool{{Name: "bash", Description: "run", Parameters: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)}},
			ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONObject}},
		{Model: reasoningModel, System: "You are <terse>.", Messages: history(3), Reasoning: "high"},
	}
}

// CheckBodies checks spliced against sdk (see CheckSplicedBody) for each
// request, twice: the second pass finds every message cached.
func CheckBodies(t *testing.T, reqs []*llm.Request, sdk func(*llm.Request) []byte, spliced func(*llm.Request) ([]byte, error)) {
	t.Helper()
	for i, req := range reqs {
		for pass := range 2 {
			got, err := spliced(req)
			if err != nil {
				t.Fatalf("request %d, pass %d: %v", i, pass, err)
			}
			CheckSplicedBody(t, fmt.Sprintf("request %d, pass %d", i, pass), sdk(req), got)
		}
	}
}
