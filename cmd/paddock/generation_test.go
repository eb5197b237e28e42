package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003Generation: seed 003's prose and enhance-prompt. Each is one
// model call with an instruction for its option and the text; the answer
// comes as JSON or, asked for, as the chat stream's events; the call is
// recorded in the caller's usage. Bad requests name what is wrong.
func TestSeed003Generation(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{Text: "The cat sat on the mat.", Usage: llm.Usage{InputTokens: 40, OutputTokens: 8}},
		llmtest.Step{Deltas: []string{"It was ", "a sunny day."}, Text: "It was a sunny day.", Usage: llm.Usage{InputTokens: 30, OutputTokens: 6}},
		llmtest.Step{Text: "Write a 500-word news report on the 2026 city budget: its total, the three largest changes and who they affect.", Usage: llm.Usage{InputTokens: 50, OutputTokens: 25}},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "writer")

	// Seed 003's prose example.
	res := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/prose", token: user, contentType: "application/json", body: `{
  "prompt": "the cat sit on mat",
  "option": "fix",
  "command": ""
}`}).m(t)
	if res["result"] != "The cat sat on the mat." || res["usage"].(map[string]any)["input_tokens"].(float64) != 40 {
		t.Errorf("prose: %v", res)
	}
	first := model.Requests()[0]
	if !strings.Contains(first.System, "spelling, grammar") || len(first.Tools) != 0 || !strings.Contains(first.Messages[0].Text(), "the cat sit on mat") {
		t.Errorf("prose request: system %q, %d tools, %q", first.System, len(first.Tools), first.Messages[0].Text())
	}

	// Streamed, with a command.
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/prose", token: user, header: map[string]string{"Accept": "text/event-stream"},
		body: map[string]any{"prompt": "Morning.", "option": "zap", "command": "describe the weather"}})
	var kinds []string
	var text string
	for _, e := range namedEvents(t, r.body) {
		kinds = append(kinds, e.name+":"+e.data["type"].(string))
		if e.name == "message" {
			text += e.data["content"].(string)
		}
	}
	if strings.Join(kinds, " ") != "message:chunk message:chunk status:complete" || text != "It was a sunny day." {
		t.Errorf("streamed prose: %v %q\n%s", kinds, text, r.body)
	}
	if m := model.Requests()[1].Messages[0].Text(); !strings.HasPrefix(m, "Command: describe the weather") {
		t.Errorf("zap request: %q", m)
	}

	res = s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/generation/enhance-prompt", token: user,
		body: map[string]any{"prompt": "city budget", "context": "a local newspaper", "report_style": "news"}}).m(t)
	if !strings.HasPrefix(res["result"].(string), "Write a 500-word news report") || !strings.Contains(model.Requests()[2].System, "news report") {
		t.Errorf("enhance-prompt: %v; system %q", res, model.Requests()[2].System)
	}
	if u := s.expect(t, 200, req{method: "GET", path: "/v1/usage", token: user}).m(t); u["calls"].(float64) != 3 || u["input_tokens"].(float64) != 120 {
		t.Errorf("usage %v", u)
	}

	for _, tc := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"prose", map[string]any{"option": "fix"}, `"prompt" is required`},
		{"prose", map[string]any{"prompt": "x", "option": "rhyme"}, "continue, improve, fix, shorter, longer, zap"},
		{"prose", map[string]any{"prompt": "x", "option": "zap"}, `"command" is required`},
		{"prose", map[string]any{"prompt": strings.Repeat("x", 100_001), "option": "fix"}, "at most 100000"},
		{"prose", map[string]any{"prompt": "x", "option": "fix", "model": "nosuch/model"}, `"model"`},
		{"enhance-prompt", map[string]any{"prompt": " "}, `"prompt" is required`},
		{"enhance-prompt", map[string]any{"prompt": "x", "report_style": "poem"}, "academic, popular_science"},
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/" + tc.path, token: user, body: tc.body})
		if r.status != 400 || !strings.Contains(r.m(t)["detail"].(string), tc.want) {
			t.Errorf("%s %v: %d %s, want 400 naming %s", tc.path, tc.body, r.status, r.body, tc.want)
		}
	}
	if model.Calls() != 3 {
		t.Errorf("model calls %d, want 3", model.Calls())
	}
}

// TestSeed003PPT: seed 003's generation/ppt. A model writes the slides
// (asked for JSON in a schema, in the locale's language); the answer is a
// PowerPoint file holding them, with the model's text cut to the bounds;
// the call is charged like any other. Bad requests name what is wrong.
func TestSeed003PPT(t *testing.T) {
	t.Parallel()
	bullets := `"Revenue grew 12 percent", "- Costs fell", "-5% returns", "Margin <improved> & held"`
	var slides []string
	for i := range 32 { // two more than a presentation keeps
		slides = append(slides, fmt.Sprintf(`{"title": "Slide %d", "bullets": [%s], "notes": "Explain slide %d."}`, i+1, bullets, i+1))
	}
	model := llmtest.New(
		llmtest.Step{Text: `{"title": "Q3 Report", "subtitle": "What changed", "slides": [` + strings.Join(slides, ",") + `]}`, Usage: llm.Usage{InputTokens: 300, OutputTokens: 900}},
		llmtest.Step{Text: `{"title": "", "subtitle": "", "slides": []}`},
	)
	withLLM(t, model)
	s := startServer(t, nil)
	user := s.createUser(t, s.login(t, "admin", testAdminPassword), "presenter")

	// Seed 003's example, verbatim.
	r := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/ppt", token: user, contentType: "application/json", body: `{
  "content": "Report content...",
  "locale": "en-US"
}`})
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.presentationml.presentation" ||
		r.header.Get("Content-Disposition") != `attachment; filename="presentation.pptx"` {
		t.Fatalf("ppt: %d %v %.200s", r.status, r.header, r.body)
	}
	_, files := unzip(t, r.body)
	// The title slide, then the first 30 of the model's.
	if _, ok := files["ppt/slides/slide31.xml"]; !ok || files["ppt/slides/slide32.xml"] != "" {
		t.Errorf("slides: want 31 parts, got %d files", len(files))
	}
	if s1 := files["ppt/slides/slide1.xml"]; !strings.Contains(s1, "<a:t>Q3 Report</a:t>") || !strings.Contains(s1, "<a:t>What changed</a:t>") {
		t.Errorf("title slide: %s", s1)
	}
	if s2 := files["ppt/slides/slide2.xml"]; !strings.Contains(s2, "<a:t>Slide 1</a:t>") || !strings.Contains(s2, "<a:t>Margin &lt;improved&gt; &amp; held</a:t>") ||
		!strings.Contains(s2, "<a:t>Costs fell</a:t>") || !strings.Contains(s2, "<a:t>-5% returns</a:t>") || !strings.Contains(s2, `lang="en-US"`) {
		t.Errorf("slide 2: %s", s2)
	}
	if n := files["ppt/notesSlides/notesSlide2.xml"]; !strings.Contains(n, "<a:t>Explain slide 1.</a:t>") {
		t.Errorf("notes of slide 2: %s", n)
	}
	if !strings.Contains(files["docProps/core.xml"], "<dc:creator>presenter</dc:creator>") {
		t.Errorf("core properties: %s", files["docProps/core.xml"])
	}
	got := model.Requests()[0]
	if !strings.Contains(got.System, "presentation") || !strings.Contains(got.System, "locale en-US") || got.ResponseFormat == nil ||
		!strings.Contains(got.Messages[0].Text(), "Report content...") {
		t.Errorf("model request: system %q, format %v", got.System, got.ResponseFormat)
	}
	if u := s.expect(t, 200, req{method: "GET", path: "/v1/usage", token: user}).m(t); u["calls"].(float64) != 1 || u["output_tokens"].(float64) != 900 {
		t.Errorf("usage %v", u)
	}

	// A model that writes nothing: a 503 that says so, not an empty file.
	if r := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/ppt", token: user, body: map[string]any{"content": "x"}}); r.status != 503 || !strings.Contains(string(r.body), "empty presentation") {
		t.Errorf("empty deck: %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"locale": "en-US"}, `"content" is required`},
		{map[string]any{"content": "x", "locale": "not a locale!"}, `"locale"`},
		{map[string]any{"content": "x", "model": "nosuch/model"}, `"model"`},
		{map[string]any{"content": 7}, "content"},
		{`{"content": "x"`, "JSON"},
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/ppt", token: user, body: tc.body, contentType: "application/json"})
		if d, _ := r.m(t)["detail"].(string); r.status != 400 || !strings.Contains(d, tc.want) {
			t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.want)
		}
	}
	if model.Calls() != 2 {
		t.Errorf("model calls %d, want 2", model.Calls())
	}
}
