package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003RAG: users add knowledge-base resources (JSON text and
// uploaded files), see their own and the shared ones, search them, and a
// chat stream naming them gives the model the search_resources tool,
// whose results are the resources' passages.
func TestSeed003RAG(t *testing.T) {
	t.Parallel()
	model := llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "search_resources", Arguments: `{"query":"How much did revenue grow?"}`}}},
		llmtest.Step{Text: "Revenue grew 12 percent."},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "search_resources", Arguments: `{"query":"deploy days"}`}}},
		llmtest.Step{Text: "On Tuesdays."},
	)
	withLLM(t, model)
	s := startServer(t, func(c *Config) { c.MaxAttachmentBytes = 256 << 10 })
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "raguser")
	other := s.createUser(t, admin, "ragother")
	base := "/api/v1/agent/rag/resources"

	// Text as JSON; HTML loses its markup.
	notes := s.expect(t, 201, req{method: "POST", path: base, token: user, body: map[string]any{
		"title": "Team notes", "description": "How we work", "media_type": "text/html",
		"content": "<h1>Deploys</h1><p>We deploy containers on Tuesdays.</p><script>var hidden = 1</script>"}}).m(t)
	if notes["scope"] != "user" || notes["media_type"] != "text/html" || notes["chunks"] != 1.0 ||
		notes["uri"] != "rag://resource/"+notes["id"].(string) || notes["description"] != "How we work" {
		t.Errorf("created %v", notes)
	}
	// A PDF upload: its text is extracted; the title defaults to the file name.
	pdf, err := os.ReadFile("../../internal/document/testdata/report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	body, ct := multipartBody(t, [][2]string{{"description", "Q3"}}, "report.pdf", pdf)
	report := s.expect(t, 201, req{method: "POST", path: base, token: user, body: body, contentType: ct}).m(t)
	if report["title"] != "report.pdf" || report["filename"] != "report.pdf" || report["media_type"] != "application/pdf" || report["size"] != float64(len(pdf)) {
		t.Errorf("uploaded %v", report)
	}
	reportID := report["id"].(string)
	// An admin's shared resource; another user's own.
	shared := s.expect(t, 201, req{method: "POST", path: base, token: admin, body: map[string]any{
		"title": "Company FAQ", "content": "Revenue is reported every quarter.", "shared": true}}).m(t)
	if shared["scope"] != "shared" {
		t.Errorf("shared %v", shared)
	}
	theirs := s.expect(t, 201, req{method: "POST", path: base, token: other, body: map[string]any{
		"title": "Private", "content": "Revenue secrets."}}).m(t)
	theirsID := theirs["id"].(string)

	// Bad input names what is wrong.
	big := strings.Repeat("word ", 60<<10)
	img, ct := multipartBody(t, nil, "a.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	noFile, ctNoFile := multipartBody(t, [][2]string{{"title", "x"}}, "", nil)
	sharedForm, ctShared := multipartBody(t, [][2]string{{"shared", "maybe"}}, "a.txt", []byte("text"))
	for _, c := range []struct {
		token       string
		body        any
		contentType string
		status      int
		want        string
	}{
		{user, `{"title": "x"}`, "application/json", 400, `"content"`},
		{user, `{"content": "x"}`, "application/json", 400, `"title"`},
		{user, `{"title": 7, "content": "x"}`, "application/json", 400, "title"},
		{user, `{"title": "x", "content": "x"`, "application/json", 400, "JSON"},
		{user, `{"title": "x", "content": "x", "media_type": "image/png"}`, "application/json", 400, "media_type"},
		{user, `{"title": "x", "content": "x", "shared": true}`, "application/json", 403, "admins"},
		{user, `{"title": "` + strings.Repeat("t", 201) + `", "content": "x"}`, "application/json", 400, "200"},
		{user, map[string]string{"title": "x", "content": big}, "", 413, "limit"},
		{user, img, ct, 400, "image"},
		{user, noFile, ctNoFile, 400, `"file"`},
		{user, sharedForm, ctShared, 400, `"shared"`},
		{user, "--x\r\nbroken", "multipart/form-data; boundary=x", 400, "multipart"},
		{user, "x", "multipart/form-data", 400, "boundary"},
	} {
		r := s.do(t, req{method: "POST", path: base, token: c.token, body: c.body, contentType: c.contentType})
		if d, _ := r.m(t)["detail"].(string); r.status != c.status || !strings.Contains(d, c.want) {
			t.Errorf("POST %.80q: %d %s, want %d naming %s", fmt.Sprint(c.body), r.status, r.body, c.status, c.want)
		}
	}

	// Lists: one's own and the shared ones, newest first; query on titles.
	list := s.expect(t, 200, req{method: "GET", path: base, token: user}).m(t)
	var titles []string
	for _, r := range list["resources"].([]any) {
		titles = append(titles, r.(map[string]any)["title"].(string))
	}
	if strings.Join(titles, ",") != "Company FAQ,report.pdf,Team notes" || list["total"] != 3.0 {
		t.Errorf("list %v", titles)
	}
	if l := s.expect(t, 200, req{method: "GET", path: base + "?query=TEAM&limit=1", token: user}).m(t); l["total"] != 1.0 || len(l["resources"].([]any)) != 1 {
		t.Errorf("query %v", l)
	}
	s.expect(t, 400, req{method: "GET", path: base + "?limit=0", token: user})
	// Another user's resource is not found; a shared one is the admins' to remove.
	s.expect(t, 404, req{method: "GET", path: base + "/" + theirsID, token: user})
	s.expect(t, 404, req{method: "DELETE", path: base + "/" + theirsID, token: user})
	s.expect(t, 403, req{method: "DELETE", path: base + "/" + shared["id"].(string), token: user})
	s.expect(t, 200, req{method: "GET", path: base + "/" + theirsID, token: admin})
	s.expect(t, 404, req{method: "GET", path: base + "/res_nope", token: user})

	// Search: passages of the named resources, best first.
	res := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/rag/search", token: user, body: map[string]any{
		"query": "revenue grew percent", "resources": []string{reportID, "rag://resource/" + shared["id"].(string)}}}).m(t)
	hits := res["results"].([]any)
	if len(hits) != 2 || !strings.Contains(hits[0].(map[string]any)["text"].(string), "Revenue grew 12 percent") {
		t.Errorf("search %v", res)
	}
	for body, want := range map[string]string{
		`{"query": "revenue", "resources": ["` + theirsID + `"]}`: "not found",
		`{"query": "revenue", "resources": ["docs"]}`:             "not a resource id",
		`{"query": "revenue", "resources": []}`:                   `"resources"`,
		`{"query": "", "resources": ["` + reportID + `"]}`:        `"query"`,
	} {
		if r := s.do(t, req{method: "POST", path: "/api/v1/agent/rag/search", token: user, body: body, contentType: "application/json"}); r.status != 400 || !strings.Contains(r.m(t)["detail"].(string), want) {
			t.Errorf("search %s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}

	// A chat naming resources as DeerFlow does: the model searches them.
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/chat/stream", token: user, body: map[string]any{
		"messages":  []map[string]string{{"role": "user", "content": "How much did revenue grow?"}},
		"resources": []map[string]string{{"uri": "rag://resource/" + reportID, "title": "report.pdf"}, {"uri": notes["uri"].(string)}}}})
	var out string
	for _, e := range namedEvents(t, r.body) {
		if e.name == "tool" && e.data["type"] == "end" {
			out, _ = e.data["output"].(string)
		}
	}
	if !strings.Contains(out, "Revenue grew 12 percent to 4.2 million.") || !strings.Contains(out, "rag://resource/"+reportID) {
		t.Errorf("tool output %q; stream:\n%s", out, r.body)
	}
	var offered []string
	for _, tool := range model.Requests()[0].Tools {
		offered = append(offered, tool.Name)
		if tool.Name == "search_resources" && (!strings.Contains(tool.Description, "report.pdf: Q3") || !strings.Contains(tool.Description, "Team notes")) {
			t.Errorf("search_resources described as %q", tool.Description)
		}
	}
	if strings.Join(offered, ",") != "search_resources" {
		t.Errorf("tools offered %v", offered)
	}
	if r := s.do(t, req{method: "POST", path: "/api/v1/agent/chat/stream", token: user, body: map[string]any{
		"messages": []map[string]string{{"role": "user", "content": "x"}}, "resources": []string{theirsID}}}); r.status != 400 || !strings.Contains(string(r.body), "not found") {
		t.Errorf("a chat naming another user's resource: %d %s", r.status, r.body)
	}
	if c := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/config", token: user}).m(t); c["features"].(map[string]any)["rag"] != true {
		t.Errorf("config features %v", c["features"])
	}

	// An agent's own resources: its runs search them without naming them.
	for body, want := range map[string]string{
		`{"name": "kb", "resources": ["` + theirsID + `"]}`: "not found",
		`{"name": "kb", "resources": ["docs"]}`:             "not a resource id",
		`{"name": "kb", "resources": "x"}`:                  "resources",
	} {
		if r := s.do(t, req{method: "POST", path: "/v1/agents", token: user, body: body, contentType: "application/json"}); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("agent %s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}
	kb := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: user, body: map[string]any{
		"name": "kb", "resources": []string{notes["uri"].(string), reportID, reportID}}}).m(t)
	if strings.Join(toStrings(kb["resources"]), ",") != notes["id"].(string)+","+reportID {
		t.Errorf("agent resources %v", kb["resources"])
	}
	if p := s.expect(t, 200, req{method: "PATCH", path: "/v1/agents/" + kb["id"].(string), token: user, body: map[string]any{"resources": []string{notes["id"].(string)}}}).m(t); strings.Join(toStrings(p["resources"]), ",") != notes["id"].(string) {
		t.Errorf("patched resources %v", p["resources"])
	}
	r = s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/chat/stream", token: user, body: map[string]any{
		"agent_name": "kb", "messages": []map[string]string{{"role": "user", "content": "When do we deploy?"}}}})
	out = ""
	for _, e := range namedEvents(t, r.body) {
		if e.name == "tool" && e.data["type"] == "end" {
			out, _ = e.data["output"].(string)
		}
	}
	if !strings.Contains(out, "We deploy containers on Tuesdays.") {
		t.Errorf("the agent's search: %q; stream:\n%s", out, r.body)
	}

	// Removed: gone from the list and from search.
	s.expect(t, 204, req{method: "DELETE", path: base + "/" + reportID, token: user})
	s.expect(t, 404, req{method: "GET", path: base + "/" + reportID, token: user})
	if r := s.do(t, req{method: "POST", path: "/api/v1/agent/rag/search", token: user, body: map[string]any{"query": "revenue", "resources": []string{reportID}}}); r.status != 400 {
		t.Errorf("search of a removed resource: %d %s", r.status, r.body)
	}
	s.expect(t, 204, req{method: "DELETE", path: base + "/" + theirsID, token: admin})
}
