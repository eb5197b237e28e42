package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// seedAPIKey returns an API key of a new user, the credential seed 001's
// examples send ("Authorization: Bearer sk_live_xxx"; Paddock's keys
// start with pdk_).
func seedAPIKey(t *testing.T, s *testServer, username string) string {
	t.Helper()
	admin := s.login(t, "admin", testAdminPassword)
	tok := s.createUser(t, admin, username)
	return s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: tok, body: map[string]any{"description": "seed 001"}}).m(t)["key"].(string)
}

// lastUserText is the text of the last user message of a model request.
func lastUserText(r *llm.Request) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == llm.RoleUser {
			return r.Messages[i].Text()
		}
	}
	return ""
}

func assistantError(t *testing.T, r *response, status int, code string) string {
	t.Helper()
	var body struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if r.status != status || json.Unmarshal(r.body, &body) != nil || body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("want %d %s in seed 001's shape, got %d %s", status, code, r.status, r.body)
	}
	return body.Error.Message
}

// sseFrames returns the data of each frame of a seed 001 stream.
func sseFrames(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		for _, line := range strings.Split(block, "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatalf("frame %q: %v", data, err)
				}
				out = append(out, m)
			}
		}
	}
	return out
}

func tokens(frames []map[string]any) string {
	var b strings.Builder
	for _, f := range frames {
		if f["type"] == "token" {
			b.WriteString(f["value"].(string))
		}
	}
	return b.String()
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var seedMessageIDPattern = regexp.MustCompile(`^msg_\d{13}_[a-z0-9]+$`)

// TestSeed001Assistants walks every example of seed 001 over HTTP with an
// API key: assistants list/get/patch (by name and id), stateless execute
// with attachments and JSON output, sessions (implicit and explicit),
// history, streaming in both modes, errors in the seed's shape, and the
// usage the calls recorded.
func TestSeed001Assistants(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		/* 0 */ llmtest.Step{Text: "Here are the key points...", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}},
		/* 1 */ llmtest.Step{Text: "The report says revenue grew 12 percent.", Usage: llm.Usage{InputTokens: 2000, CachedInputTokens: 1500, OutputTokens: 50}},
		/* 2 */ llmtest.Step{Text: "```json\n{\"name\": \"Ann Lee\", \"email\": \"ann@example.com\"}\n```", Usage: llm.Usage{InputTokens: 10, OutputTokens: 10}},
		/* 3 */ llmtest.Step{Text: "Name: Ann Lee", Usage: llm.Usage{InputTokens: 10, OutputTokens: 10}},
		/* 4 */ llmtest.Step{Text: `{"name":"Ann Lee","email":"ann@example.com"}`, Usage: llm.Usage{InputTokens: 10, OutputTokens: 10}},
		/* 5 */ llmtest.Step{Text: "The first point is cost.", Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}},
		/* 6 */ llmtest.Step{Text: "More about cost: it fell.", Usage: llm.Usage{InputTokens: 200, CachedInputTokens: 150, OutputTokens: 20}},
		/* 7 */ llmtest.Step{Text: "Hello! How can I help?", Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}},
		/* 8 */ llmtest.Step{Deltas: []string{"Here", " are", " the", " points."}, Text: "Here are the points."},
		/* 9 */ llmtest.Step{Deltas: []string{"Session", " reply."}, Text: "Session reply."},
	)
	withLLM(t, model)
	s := startServer(t, func(c *Config) { c.MaxAttachmentBytes = 512 << 10 })
	key := seedAPIKey(t, s, "seed001")
	auth := func(r req) req { r.token = key; return r }

	// An assistant is an agent: created here, seen on both surfaces.
	created := s.expect(t, 201, auth(req{method: "POST", path: "/api/assistants", body: map[string]any{
		"name": "my-assistant", "description": "Summarizes", "llmPrompt": "You summarize.", "llmProvider": "openai", "llmModel": "GPT-4o-mini", "tools": []string{},
	}})).m(t)
	id := created["id"].(string)
	if created["llmProvider"] != "openai" || created["llmModel"] != "gpt-4o-mini" || created["llmPrompt"] != "You summarize." {
		t.Errorf("created %v", created)
	}
	if a := s.expect(t, 200, auth(req{method: "GET", path: "/v1/agents/" + id})).m(t); a["model"] != "openai/gpt-4o-mini" || a["system_prompt"] != "You summarize." {
		t.Errorf("the assistant as an agent: %v", a)
	}

	// Agent management: list, get (by id and by name), update the prompt.
	list := s.expect(t, 200, auth(req{method: "GET", path: "/api/assistants"})).m(t)
	if list["total"].(float64) != 1 || list["data"].([]any)[0].(map[string]any)["name"] != "my-assistant" {
		t.Errorf("list %v", list)
	}
	for _, ref := range []string{id, "my-assistant"} {
		if a := s.expect(t, 200, auth(req{method: "GET", path: "/api/assistants/" + ref})).m(t); a["id"] != id {
			t.Errorf("get %s: %v", ref, a)
		}
	}
	patched := s.expect(t, 200, auth(req{method: "PATCH", path: "/api/assistants/my-assistant", body: `{"llmPrompt": "You are a helpful assistant..."}`,
		contentType: "application/json"})).m(t)
	if patched["llmPrompt"] != "You are a helpful assistant..." || patched["llmModel"] != "gpt-4o-mini" {
		t.Errorf("patched %v", patched)
	}
	// Provider and model: the seed's table by name, others passed through.
	for _, c := range []struct {
		body           string
		status         int
		provider, want string
	}{
		{`{"llmModel": "Claude Sonnet 4.5"}`, 200, "anthropic", "claude-sonnet-4-5"},
		{`{"llmProvider": "google", "llmModel": "Gemini 2.5 Flash"}`, 200, "google", "gemini-2.5-flash"},
		{`{"llmProvider": "openai", "llmModel": "gpt-4.1-nano"}`, 200, "openai", "gpt-4.1-nano"},
		{`{"llmProvider": "mistral", "llmModel": "large"}`, 400, "", ""},
		{`{"llmProvider": "anthropic"}`, 400, "", ""},
		{`{"llmProvider": "anthropic", "llmModel": "gpt-4o"}`, 400, "", ""},
		{`{"llmModel": "o3"}`, 200, "openai", "o3"},
		{`{"llmProvider": "openai", "llmModel": "gpt-4o-mini"}`, 200, "openai", "gpt-4o-mini"},
	} {
		r := s.do(t, auth(req{method: "PATCH", path: "/api/assistants/" + id, body: c.body, contentType: "application/json"}))
		if c.status != 200 {
			assistantError(t, r, c.status, "VALIDATION_ERROR")
			continue
		}
		if m := r.m(t); r.status != 200 || m["llmProvider"] != c.provider || m["llmModel"] != c.want {
			t.Errorf("PATCH %s: %d %s", c.body, r.status, r.body)
		}
	}

	// Stateless execution, verbatim.
	res := s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/my-assistant/execute", body: `{
  "userInput": "Summarize the key points from this document"
}`, contentType: "application/json"})).m(t)
	content := res["content"].([]any)[0].(map[string]any)
	if !seedMessageIDPattern.MatchString(res["id"].(string)) || res["role"] != "assistant" || content["type"] != "text" ||
		content["text"].(map[string]any)["value"] != "Here are the key points..." || res["assistant_id"] != id ||
		math.Abs(res["created_at"].(float64)-float64(time.Now().Unix())) > 60 {
		t.Errorf("execute response %v", res)
	}
	if req0 := model.Requests()[0]; req0.System != "You are a helpful assistant..." || lastUserText(req0) != "Summarize the key points from this document" || req0.Model != "gpt-4o-mini" {
		t.Errorf("model request: system %q, user %q, model %q", req0.System, lastUserText(req0), req0.Model)
	}

	// With attachments: text, image, PDF.
	pdf, err := os.ReadFile(filepath.Join("..", "..", "internal", "document", "testdata", "report.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: map[string]any{
		"userInput": "Analyze this document",
		"attachments": []map[string]string{
			{"fileName": "report.pdf", "mimeType": "application/pdf", "data": b64(pdf)},
			{"fileName": "notes.md", "mimeType": "text/markdown", "data": b64([]byte("# Notes\nCheck the churn."))},
			{"fileName": "chart.png", "mimeType": "image/png", "data": b64(pngBytes(t))},
		},
	}}))
	got := model.Requests()[1].Messages[0]
	var images int
	for _, p := range got.Parts {
		if p.Type == llm.PartImage && p.ImageMIME == "image/png" && bytes.Equal(p.ImageData, pngBytes(t)) {
			images++
		}
	}
	if text := got.Text(); !strings.Contains(text, "Analyze this document") || !strings.Contains(text, "Revenue grew 12 percent to 4.2 million.") ||
		!strings.Contains(text, "Check the churn.") || images != 1 {
		t.Errorf("the model got %d images and text %q", images, text)
	}
	for _, c := range []struct {
		att    map[string]string
		status int
		code   string
		msg    string
	}{
		{map[string]string{"fileName": "a.docx", "mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "data": b64([]byte("PK\x03\x04"))}, 400, "VALIDATION_ERROR", "not supported"},
		{map[string]string{"fileName": "a.txt", "mimeType": "text/plain", "data": "%%%"}, 400, "VALIDATION_ERROR", "not valid base64"},
		{map[string]string{"fileName": "a.pdf", "mimeType": "application/pdf", "data": b64([]byte("%PDF-1.4 nothing"))}, 400, "VALIDATION_ERROR", "PDF"},
		{map[string]string{"fileName": "big.txt", "mimeType": "text/plain", "data": b64(bytes.Repeat([]byte("a"), 600<<10))}, 413, "PAYLOAD_TOO_LARGE", "exceed"},
		{map[string]string{"mimeType": "text/plain", "data": b64([]byte("x"))}, 400, "VALIDATION_ERROR", "fileName"},
	} {
		r := s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: map[string]any{"userInput": "x", "attachments": []any{c.att}}}))
		if msg := assistantError(t, r, c.status, c.code); !strings.Contains(msg, c.msg) {
			t.Errorf("attachment %s: message %q lacks %q", c.att["fileName"], msg, c.msg)
		}
	}

	// JSON output: the fenced answer is accepted; a prose answer is sent
	// back once and its correction returned.
	for _, want := range []int{3, 5} {
		r := s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: `{
  "userInput": "Extract the contact information",
  "responseFormat": {
    "type": "json_object"
  }
}`, contentType: "application/json"})).m(t)
		value := r["content"].([]any)[0].(map[string]any)["text"].(map[string]any)["value"].(string)
		if value != `{"name":"Ann Lee","email":"ann@example.com"}` || model.Calls() != want {
			t.Errorf("JSON output %q after %d calls, want %d", value, model.Calls(), want)
		}
	}
	if rf := model.Requests()[2].ResponseFormat; rf == nil || rf.Type != "json_object" {
		t.Errorf("the model was not asked for JSON: %+v", rf)
	}
	if fix := lastUserText(model.Requests()[4]); !strings.Contains(fix, "not valid JSON") {
		t.Errorf("repair request %q", fix)
	}

	// Session-based execution: the first message creates the session.
	first := s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/user-input", body: map[string]any{"userInput": "What is the first point?"}})).m(t)
	sid, _ := first["session_id"].(string)
	if sid == "" || first["content"].([]any)[0].(map[string]any)["text"].(map[string]any)["value"] != "The first point is cost." {
		t.Fatalf("first user-input %v", first)
	}
	second := s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/user-input", body: `{
  "sessionId": "` + sid + `",
  "userInput": "Tell me more about that last point"
}`, contentType: "application/json"})).m(t)
	if u := second["usage"].(map[string]any); second["session_id"] != sid || u["input_tokens"].(float64) != 200 || u["cached_input_tokens"].(float64) != 150 {
		t.Errorf("second user-input %v", second)
	}
	if h := model.Requests()[6].Messages; len(h) != 3 || h[0].Text() != "What is the first point?" || h[1].Text() != "The first point is cost." {
		t.Errorf("the model did not get the session's history: %d messages", len(h))
	}
	// Explicit session creation, verbatim, then a message in it.
	sess := s.expect(t, 201, auth(req{method: "POST", path: "/api/sessions", body: `{
  "assistantId": "my-assistant",
  "title": "Customer Support Chat"
}`, contentType: "application/json"})).m(t)
	if sess["title"] != "Customer Support Chat" || sess["assistant_id"] != id {
		t.Errorf("session %v", sess)
	}
	// With an Idempotency-Key a retry gets the first reply and calls no model.
	hi := req{method: "POST", path: "/api/assistants/" + id + "/user-input", body: map[string]any{"sessionId": sess["id"], "userInput": "Hi"},
		header: map[string]string{"Idempotency-Key": "hi-1"}}
	hi1 := s.expect(t, 200, auth(hi)).m(t)
	calls := model.Calls()
	if hi2 := s.expect(t, 200, auth(hi)).m(t); hi2["id"] != hi1["id"] || model.Calls() != calls {
		t.Errorf("retry: %v after %v, %d calls", hi2, hi1, model.Calls())
	}
	// History.
	hist := s.expect(t, 200, auth(req{method: "GET", path: "/api/sessions/" + sid + "/messages"})).m(t)
	data := hist["data"].([]any)
	if hist["total"].(float64) != 4 || len(data) != 4 {
		t.Fatalf("history %v", hist)
	}
	for i, want := range []string{"user:What is the first point?", "assistant:The first point is cost.", "user:Tell me more about that last point", "assistant:More about cost: it fell."} {
		m := data[i].(map[string]any)
		text := m["content"].([]any)[0].(map[string]any)["text"].(map[string]any)["value"]
		if m["role"].(string)+":"+text.(string) != want {
			t.Errorf("history[%d] %v", i, m)
		}
		if m["role"] == "assistant" && m["usage"].(map[string]any)["model"] != "gpt-4o-mini" {
			t.Errorf("history[%d] has no usage: %v", i, m)
		}
	}

	// Streaming, both modes: token frames, then done.
	r := s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: `{
  "userInput": "Write a detailed analysis"
}`, contentType: "application/json", header: map[string]string{"Accept": "text/event-stream"}}))
	frames := sseFrames(t, r.body)
	if r.header.Get("Content-Type") != "text/event-stream" || tokens(frames) != "Here are the points." || frames[len(frames)-1]["type"] != "done" ||
		!strings.HasSuffix(string(r.body), "data: {\"type\":\"done\"}\n\n") || !strings.Contains(string(r.body), `data: {"type":"token","value":"Here"}`) {
		t.Errorf("execute stream:\n%s", r.body)
	}
	r = s.expect(t, 200, auth(req{method: "POST", path: "/api/assistants/" + id + "/user-input", body: map[string]any{"sessionId": sid, "userInput": "Again"},
		header: map[string]string{"Accept": "text/event-stream"}}))
	frames = sseFrames(t, r.body)
	if tokens(frames) != "Session reply." || frames[len(frames)-1]["type"] != "done" || r.header.Get("X-Session-Id") != sid {
		t.Errorf("user-input stream:\n%s", r.body)
	}

	// Errors in seed 001's shape.
	assistantError(t, s.do(t, req{method: "GET", path: "/api/assistants"}), 401, "UNAUTHORIZED")
	assistantError(t, s.do(t, req{method: "GET", path: "/api/assistants", token: "pdk_not_a_key"}), 401, "UNAUTHORIZED")
	if msg := assistantError(t, s.do(t, auth(req{method: "GET", path: "/api/assistants/nope"})), 404, "NOT_FOUND"); !strings.Contains(msg, "not found") {
		t.Errorf("404 message %q", msg)
	}
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/user-input", body: map[string]any{"sessionId": "ses_unknown", "userInput": "x"}})), 404, "NOT_FOUND")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: map[string]any{}})), 400, "VALIDATION_ERROR")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: `{"userInput": 5}`, contentType: "application/json"})), 400, "VALIDATION_ERROR")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: `{"userInput": "x"`, contentType: "application/json"})), 400, "VALIDATION_ERROR")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/" + id + "/execute", body: `{"userInput": "x", "responseFormat": {"type": "yaml"}}`, contentType: "application/json"})), 400, "VALIDATION_ERROR")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/sessions", body: map[string]any{"assistantId": "nope"}})), 404, "NOT_FOUND")
	// Another user sees none of it.
	other := seedAPIKey(t, s, "seed001b")
	assistantError(t, s.do(t, req{method: "GET", path: "/api/assistants/" + id, token: other}), 404, "NOT_FOUND")
	assistantError(t, s.do(t, req{method: "GET", path: "/api/sessions/" + sid + "/messages", token: other}), 404, "NOT_FOUND")
	assistantError(t, s.do(t, req{method: "POST", path: "/api/assistants/" + id + "/user-input", token: other, body: map[string]any{"userInput": "x"}}), 404, "NOT_FOUND")

	// Usage: every call recorded with its cost at gpt-4o-mini's price
	// (0.15 and 0.60 USD per million tokens, 0.075 read from the cache),
	// through both the stateless execute and the session loop.
	var in, out int64
	for _, u := range [][2]int64{{1000, 100}, {2000, 50}, {10, 10}, {10, 10}, {10, 10}, {100, 10}, {200, 20}, {10, 5}} {
		in, out = in+u[0], out+u[1]
	}
	const cached = 1500 + 150
	u := s.expect(t, 200, auth(req{method: "GET", path: "/v1/usage?agent_id=" + id})).m(t)
	wantCost := (float64(in-cached)*0.15 + cached*0.075 + float64(out)*0.60) / 1e6
	if u["calls"].(float64) != 10 || int64(u["input_tokens"].(float64)) != in || u["cached_input_tokens"].(float64) != cached ||
		u["cache_write_tokens"].(float64) != 0 || int64(u["output_tokens"].(float64)) != out || math.Abs(u["cost"].(float64)-wantCost) > 1e-9 {
		t.Errorf("usage %v, want 10 calls, %d in (%d cached), %d out, cost %g", u, in, cached, out, wantCost)
	}
	if u := s.expect(t, 200, auth(req{method: "GET", path: "/v1/usage?session_id=" + sid})).m(t); u["calls"].(float64) != 3 || u["input_tokens"].(float64) != 300 || u["cached_input_tokens"].(float64) != 150 {
		t.Errorf("session usage %v", u)
	}
	if u := s.expect(t, 200, req{method: "GET", path: "/v1/usage", token: other}).m(t); u["calls"].(float64) != 0 {
		t.Errorf("another user's usage %v", u)
	}
	if u := s.expect(t, 200, auth(req{method: "GET", path: "/v1/usage?since=" + time.Now().Add(time.Hour).Format(time.RFC3339)})).m(t); u["calls"].(float64) != 0 {
		t.Errorf("usage in the future %v", u)
	}
	s.expect(t, 400, auth(req{method: "GET", path: "/v1/usage?since=yesterday"}))
}

// TestSeed001ClientSessionID: a sessionId the client chose (seed 001's
// "session_abc123") is created on its first message and continued by the
// next; the history and session routes take it too. It names the caller's
// own session: another user's same name is another session. Paddock's own
// "ses_" ids are never created this way.
func TestSeed001ClientSessionID(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{Text: "First answer."},
		llmtest.Step{Text: "Second answer."},
		llmtest.Step{Text: "Other user's answer."},
		llmtest.Step{Text: "From the second assistant."},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	key := seedAPIKey(t, s, "clientsid")
	other := seedAPIKey(t, s, "clientsid2")
	auth := func(r req) req { r.token = key; return r }
	for _, name := range []string{"my-assistant", "second"} {
		s.expect(t, 201, auth(req{method: "POST", path: "/api/assistants", body: map[string]any{"name": name, "tools": []string{}}}))
	}
	s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: other, body: map[string]any{"name": "my-assistant", "tools": []string{}}})
	input := func(token, assistant, text string) map[string]any {
		return s.expect(t, 200, req{method: "POST", path: "/api/assistants/" + assistant + "/user-input", token: token,
			body: map[string]any{"sessionId": "session_abc123", "userInput": text}}).m(t)
	}

	first := input(key, "my-assistant", "Summarize it")
	sid, _ := first["session_id"].(string)
	if !strings.HasPrefix(sid, "ses_") {
		t.Fatalf("first user-input %v", first)
	}
	if second := input(key, "my-assistant", "Tell me more about that last point"); second["session_id"] != sid {
		t.Errorf("second user-input went to session %v, want %s", second["session_id"], sid)
	}
	if h := model.Requests()[1].Messages; len(h) != 3 || h[0].Text() != "Summarize it" || h[1].Text() != "First answer." {
		t.Errorf("the second call's history: %+v", h)
	}
	for _, id := range []string{"session_abc123", sid} {
		if l := s.expect(t, 200, auth(req{method: "GET", path: "/api/sessions/" + id + "/messages"})).m(t); l["total"].(float64) != 4 {
			t.Errorf("history by %s: %v", id, l)
		}
		if g := s.expect(t, 200, auth(req{method: "GET", path: "/api/sessions/" + id})).m(t); g["id"] != sid || g["title"] != "session_abc123" {
			t.Errorf("session by %s: %v", id, g)
		}
	}

	// Another user's session of the same name is theirs alone.
	if o := input(other, "my-assistant", "Mine"); o["session_id"] == sid {
		t.Errorf("another user continued %s", sid)
	}
	if l := s.expect(t, 200, req{method: "GET", path: "/api/sessions/session_abc123/messages", token: other}).m(t); l["total"].(float64) != 2 {
		t.Errorf("the other user's history: %v", l)
	}
	assistantError(t, s.do(t, req{method: "GET", path: "/api/sessions/" + sid, token: other}), 404, "NOT_FOUND")

	// The same name with a second assistant is a second session; the
	// name alone is then ambiguous, the id is not.
	if o := input(key, "second", "Hello"); o["session_id"] == sid {
		t.Errorf("the second assistant continued %s", sid)
	}
	if msg := assistantError(t, s.do(t, auth(req{method: "GET", path: "/api/sessions/session_abc123"})), 409, "CONFLICT"); !strings.Contains(msg, "ses_") {
		t.Errorf("ambiguous name: %q", msg)
	}
	s.expect(t, 200, auth(req{method: "GET", path: "/api/sessions/" + sid}))

	// Paddock's own ids are not created on demand; names are bounded.
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/my-assistant/user-input",
		body: map[string]any{"sessionId": "ses_unknown", "userInput": "x"}})), 404, "NOT_FOUND")
	assistantError(t, s.do(t, auth(req{method: "POST", path: "/api/assistants/my-assistant/user-input",
		body: map[string]any{"sessionId": strings.Repeat("s", 256), "userInput": "x"}})), 400, "VALIDATION_ERROR")
	assistantError(t, s.do(t, auth(req{method: "GET", path: "/api/sessions/nobody/messages"})), 404, "NOT_FOUND")
	if model.Calls() != 4 {
		t.Errorf("model calls %d, want 4", model.Calls())
	}
}

// TestAssistantStreamNodeClient runs seed 001's JavaScript streaming
// example (fetch + reader + TextDecoder) with Node.js against Paddock.
func TestAssistantStreamNodeClient(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	model := llmtest.New(llmtest.Step{Deltas: []string{"Hel", "lo", " from", " Paddock"}, Text: "Hello from Paddock"})
	withLLM(t, model)
	s := startServer(t, nil)
	key := seedAPIKey(t, s, "nodeclient")
	s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: key, body: map[string]any{"name": "my-agent", "tools": []string{}}})
	script := filepath.Join(t.TempDir(), "client.mjs")
	// The seed's example, with the host and key filled in and the parsing
	// its comment asks for.
	if err := os.WriteFile(script, []byte(`
const [base, key] = process.argv.slice(2);
const response = await fetch(base + '/api/assistants/my-agent/execute', {
  method: 'POST',
  headers: {
    'Authorization': 'Bearer ' + key,
    'Accept': 'text/event-stream',
    'Content-Type': 'application/json'
  },
  body: JSON.stringify({ userInput: 'Hello' })
});

const reader = response.body.getReader();
const decoder = new TextDecoder();

let buffer = '', text = '', done_ = false;
while (true) {
  const { done, value } = await reader.read();
  if (done) break;

  const chunk = decoder.decode(value);
  // Parse SSE format and handle tokens
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\n\n')) >= 0) {
    const frame = buffer.slice(0, i);
    buffer = buffer.slice(i + 2);
    for (const line of frame.split('\n')) {
      if (!line.startsWith('data: ')) continue;
      const event = JSON.parse(line.slice(6));
      if (event.type === 'token') text += event.value;
      if (event.type === 'done') done_ = true;
    }
  }
}
console.log(JSON.stringify({ status: response.status, text, done: done_ }));
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, s.url, key).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != `{"status":200,"text":"Hello from Paddock","done":true}` {
		t.Errorf("node client printed %s", got)
	}
}

// TestAssistantRateLimited checks RATE_LIMITED in seed 001's shape.
func TestAssistantRateLimited(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) { c.RateLimits.Other = 3 })
	key := seedAPIKey(t, s, "limited") // its creation counts against the user's limit too
	r := s.do(t, req{method: "GET", path: "/api/assistants", token: key})
	for i := 0; r.status == 200 && i < 3; i++ {
		r = s.do(t, req{method: "GET", path: "/api/assistants", token: key})
	}
	assistantError(t, r, 429, "RATE_LIMITED")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// TestAssistantExecuteTools runs a stateless execution whose tool call
// gets a temporary real environment, deleted when the answer is ready.
func TestAssistantExecuteTools(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "echo computed $((6*7))"})}}},
		llmtest.Step{Text: "The answer is 42."},
	)
	withLLM(t, model)
	s := startSandboxServer(t, nil)
	key := seedAPIKey(t, s, "tools")
	s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: key, body: map[string]any{"name": "calc", "tools": []string{"bash"}}})
	r := s.expect(t, 200, req{method: "POST", path: "/api/assistants/calc/execute", token: key, body: map[string]any{"userInput": "compute 6*7"},
		header: map[string]string{"Accept": "text/event-stream"}})
	frames := sseFrames(t, r.body)
	var kinds []string
	var result string
	for _, f := range frames {
		kinds = append(kinds, f["type"].(string))
		if f["type"] == "tool_result" {
			result, _ = f["result"].(string)
		}
	}
	if !strings.Contains(result, "computed 42") || tokens(frames) != "The answer is 42." || kinds[len(kinds)-1] != "done" {
		t.Errorf("frames %v:\n%s", kinds, r.body)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "tool_call environment") {
		t.Errorf("frame kinds %s", got)
	}
	// The temporary environment is gone; no session was made.
	envs := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments", token: key}).m(t)
	for _, e := range envs["environments"].([]any) {
		if st := e.(map[string]any)["status"]; st != "terminated" && st != "terminating" {
			t.Errorf("environment left behind: %v", e)
		}
	}
	if l := s.expect(t, 200, req{method: "GET", path: "/api/sessions", token: key}).m(t); l["total"].(float64) != 0 {
		t.Errorf("sessions %v", l)
	}
}

// TestAssistantStreamError: a failure after the stream began arrives as
// an error frame, in both modes, and the stream ends without done.
func TestAssistantStreamError(t *testing.T) {
	t.Parallel()
	bad := llmtest.Step{Err: paddock.Errorf(paddock.EInvalid, "the model rejected the request")}
	model := llmtest.New(
		llmtest.Step{Text: "Let me look.", ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: `{"command":"ls"}`}}}, bad,
		llmtest.Step{Text: "Let me look.", ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: `{"command":"ls"}`}}}, bad,
	)
	withLLM(t, model)
	s := startServer(t, nil)
	key := seedAPIKey(t, s, "streamerr")
	s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: key, body: map[string]any{"name": "a", "tools": []string{}}})
	for _, path := range []string{"/api/assistants/a/execute", "/api/assistants/a/user-input"} {
		r := s.expect(t, 200, req{method: "POST", path: path, token: key, body: map[string]any{"userInput": "go"},
			header: map[string]string{"Accept": "text/event-stream"}})
		frames := sseFrames(t, r.body)
		var kinds []string
		for _, f := range frames {
			kinds = append(kinds, f["type"].(string))
		}
		last := frames[len(frames)-1]
		if got := strings.Join(kinds, " "); !strings.HasPrefix(got, "token tool_call tool_result") || last["type"] != "error" ||
			!strings.Contains(last["message"].(string), "rejected") || strings.Contains(got, "done") {
			t.Errorf("%s: frames %s, last %v", path, got, last)
		}
	}
}
