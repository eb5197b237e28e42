package anthropic

import (
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// messages is the history as the SDK's MessageParams, merged into
// alternating turns, with system messages' text apart: what body sends,
// built the SDK's way.
func messages(in []llm.Message) ([]anthropic.MessageParam, []string, error) {
	var (
		out    []anthropic.MessageParam
		system []string
	)
	for _, m := range in {
		role, blocks, err := convert(m)
		switch {
		case err != nil:
			return nil, nil, err
		case m.Role == llm.RoleSystem:
			system = append(system, systemText(m))
		case len(blocks) == 0:
		case len(out) > 0 && out[len(out)-1].Role == role:
			out[len(out)-1].Content = append(out[len(out)-1].Content, blocks...)
		default:
			out = append(out, anthropic.MessageParam{Role: role, Content: blocks})
		}
	}
	// The last two user turns end with a cache breakpoint.
	for k, marked := len(out)-1, 0; k >= 0 && marked < 2; k-- {
		if out[k].Role == anthropic.MessageParamRoleUser {
			*out[k].Content[len(out[k].Content)-1].GetCacheControl() = anthropic.NewCacheControlEphemeralParam()
			marked++
		}
	}
	return out, system, nil
}

// history is a conversation with every kind of part and merge, repeated n
// times.
func history(n int) []llm.Message {
	var h []llm.Message
	for i := range n {
		h = append(h,
			llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "run the <tests> & report " + strings.Repeat("x", 100)}}},
			llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "and be quick"}, {Type: llm.PartText}}}, // merged into the turn above
			llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
				{Type: llm.PartThinking, Text: "hmm", Signature: "sig"},
				{Type: llm.PartThinking, Signature: redacted + "opaque"},
				{Type: llm.PartThinking, Text: "unsigned: dropped"},
				{Type: llm.PartText, Text: "on it"},
				{Type: llm.PartToolCall, ToolCallID: "call_a", ToolName: "bash", Arguments: `{"command":"ls -la"}`},
				{Type: llm.PartToolCall, ToolCallID: "call_b", ToolName: "read_file", Arguments: `{"path":"x.go"}`},
			}},
			llm.Message{Role: llm.RoleTool, Parts: []llm.Part{
				{Type: llm.PartImage, ImageMIME: "image/png", ImageData: []byte{0x89, 'P', 'N', 'G', byte(i)}},
				{Type: llm.PartToolResult, ToolCallID: "call_a", Result: strings.Repeat("file.txt\n", 100)},
				{Type: llm.PartToolResult, ToolCallID: "call_b", Result: "no such file", IsError: true},
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
func sdkBody(t testing.TB, req *llm.Request) []byte {
	params, _, err := buildParams(req)
	if err != nil {
		t.Fatal(err)
	}
	if params.Messages, _, err = messages(req.Messages); err != nil {
		t.Fatal(err)
	}
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
	p, err := New(llm.Config{APIKey: "sk-ant-test"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := append(llmtest.BodyRequests("claude-sonnet-4-5", "claude-sonnet-4-5", history),
		&llm.Request{Model: "claude-haiku-4-5", Messages: history(2)[1:]}) // starts with the assistant
	llmtest.CheckBodies(t, reqs, func(req *llm.Request) []byte { return sdkBody(t, req) }, func(req *llm.Request) ([]byte, error) {
		params, _, err := buildParams(req)
		if err != nil {
			return nil, err
		}
		return p.body(req, params)
	})
	if _, err := p.body(&llm.Request{Model: "m", Messages: []llm.Message{{Role: "robot"}}}, anthropic.MessageNewParams{MaxTokens: 1}); err == nil {
		t.Error("a message of an unknown role was encoded")
	}
}

// BenchmarkBody compares the SDK encoding a 240-message history on every
// call with the spliced body of cached messages.
func BenchmarkBody(b *testing.B) {
	p, err := New(llm.Config{APIKey: "sk-ant-test"})
	if err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Model: "claude-sonnet-4-5", System: "You are terse.", Messages: history(30)}
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sdkBody(b, req)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			params, _, err := buildParams(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.body(req, params); err != nil {
				b.Fatal(err)
			}
		}
	})
}
