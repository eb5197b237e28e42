package llmtest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
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
