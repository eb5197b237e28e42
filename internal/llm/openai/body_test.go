package openai

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// history is a conversation with every kind of part, repeated n times.
func history(n int) []llm.Message {
	var h []llm.Message
	for i := range n {
		h = append(h,
			llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "run the <tests> & report " + strings.Repeat("x", 100)}}},
			llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
				{Type: llm.PartThinking, Text: "hmm", Signature: "sig"},
				{Type: llm.PartText, Text: "on it"},
				{Type: llm.PartToolCall, ToolCallID: "call_a", ToolName: "bash", Arguments: `{"command":"ls -la"}`},
				{Type: llm.PartToolCall, ToolCallID: "call_b", ToolName: "read_file", Arguments: `{"path":"x.go"}`},
			}},
			llm.Message{Role: llm.RoleTool, Parts: []llm.Part{
				{Type: llm.PartToolResult, ToolCallID: "call_a", Result: strings.Repeat("file.txt\n", 100)},
				{Type: llm.PartToolResult, ToolCallID: "call_b", Result: "no such file", IsError: true},
				{Type: llm.PartImage, ImageMIME: "image/png", ImageData: []byte{0x89, 'P', 'N', 'G', byte(i)}},
			}},
			llm.Message{Role: llm.RoleAssistant}, // empty: sends nothing
			llm.Message{Role: llm.RoleSystem, Parts: []llm.Part{{Type: llm.PartText, Text: "be brief"}}},
			llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "a"}, {Type: llm.PartText, Text: "b"}}},
			llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartText, Text: "done " + strings.Repeat("y", 200)}}},
		)
	}
	return h
}

// sdkBody is the request body the SDK itself encodes for req.
func sdkBody(t testing.TB, p *Provider, req *llm.Request) []byte {
	params, err := p.params(req)
	if err != nil {
		t.Fatal(err)
	}
	if req.System != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(req.System))
	}
	msgs, err := messages(req.Messages)
	if err != nil {
		t.Fatal(err)
	}
	params.Messages = append(params.Messages, msgs...)
	b, err := params.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBodyMatchesSDK checks that the spliced body carries what the SDK
// would have sent, for fresh and cached messages alike.
func TestBodyMatchesSDK(t *testing.T) {
	t.Parallel()
	p, err := New(llm.Config{APIKey: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	llmtest.CheckBodies(t, llmtest.BodyRequests("gpt-4o", "o3", history), func(req *llm.Request) []byte { return sdkBody(t, p, req) }, func(req *llm.Request) ([]byte, error) {
		params, err := p.params(req)
		if err != nil {
			return nil, err
		}
		return p.body(req, params)
	})
}

// BenchmarkBody compares the SDK encoding a 210-message history on every
// call with the spliced body of cached messages.
func BenchmarkBody(b *testing.B) {
	p, err := New(llm.Config{APIKey: "sk-test"})
	if err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Model: "gpt-4o", System: "You are terse.", Messages: history(30)}
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sdkBody(b, p, req)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			params, err := p.params(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.body(req, params); err != nil {
				b.Fatal(err)
			}
		}
	})
}
