package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestQARAGInput: what the resource routes take from a form or a query
// string is checked as what they take as JSON: text that is not UTF-8 is
// a 400 (PostgreSQL refused it with a 500), a textarea's CRLF lines are a
// description, an unknown form field is named.
func TestQARAGInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "qarag")
	base := "/api/v1/agent/rag/resources"

	// form builds a multipart body of fields and a file named name.
	form := func(fields [][2]string, name string) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, f := range fields {
			mw.WriteField(f[0], f[1])
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, name))
		h.Set("Content-Type", "text/plain")
		fw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte("The vacation policy gives 25 days."))
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	for _, c := range []struct {
		fields [][2]string
		name   string
		want   string
	}{
		{[][2]string{{"title", "bad\xffname"}}, "a.txt", `"title" is not UTF-8`},
		{[][2]string{{"description", "bad\xffdesc"}}, "a.txt", `"description" is not UTF-8`},
		{nil, "n\xffm.txt", "not UTF-8"},
		{[][2]string{{"tags", "x"}}, "a.txt", `unknown form field "tags"`},
		{nil, "..", `"title" is required`},
	} {
		body, ct := form(c.fields, c.name)
		r := s.do(t, req{method: "POST", path: base, token: user, body: body, contentType: ct})
		if d, _ := r.m(t)["detail"].(string); r.status != 400 || !strings.Contains(d, c.want) {
			t.Errorf("form %q file %q: %d %s, want 400 naming %s", c.fields, c.name, r.status, r.body, c.want)
		}
	}
	for q, want := range map[string]string{"%ff": "not UTF-8", "%01": "control characters", strings.Repeat("a", 201): "200 characters"} {
		r := s.do(t, req{method: "GET", path: base + "?query=" + q, token: user})
		if d, _ := r.m(t)["detail"].(string); r.status != 400 || !strings.Contains(d, `query parameter "query"`) || !strings.Contains(d, want) {
			t.Errorf("query %.20q: %d %s, want 400 naming the query parameter and %s", q, r.status, r.body, want)
		}
	}

	// A description from a textarea (CRLF) or with tabs; a title beside a
	// file named "..", which names nothing.
	body, ct := form([][2]string{{"title", "Policy"}, {"description", "line one\r\nline two\tcolumn\r\n"}}, "..")
	res := s.expect(t, 201, req{method: "POST", path: base, token: user, body: body, contentType: ct}).m(t)
	if res["description"] != "line one\nline two\tcolumn" || res["title"] != "Policy" || res["filename"] != nil {
		t.Errorf("created %v", res)
	}
	res = s.expect(t, 201, req{method: "POST", path: base, token: user, body: map[string]any{
		"title": "t", "content": "x", "description": "a\r\nb\tc"}}).m(t)
	if res["description"] != "a\nb\tc" {
		t.Errorf("created %v", res)
	}

	// HTML's <br/> and table cells keep the words around them apart.
	res = s.expect(t, 201, req{method: "POST", path: base, token: user, body: map[string]any{
		"title": "page", "media_type": "text/html", "content": "<p>vacation<br/>allowance</p><table><tr><td>alpha</td><td>beta</td></tr></table>"}}).m(t)
	for _, word := range []string{"allowance", "beta"} {
		hits := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/rag/search", token: user, body: map[string]any{
			"query": word, "resources": []string{res["id"].(string)}}}).m(t)["results"].([]any)
		if len(hits) != 1 {
			t.Errorf("search %q: %v", word, hits)
		}
	}
}

// TestQAMCPServe: the MCP transport's own refusals (a wrong Content-Type
// or Accept, a malformed message, a body too large) are in the error
// body of the route's surface, not plain text; run_command's text says
// when its output was cut; read_file sends as base64 the text that JSON
// would blow up past the size of base64 (megabytes of NULs or '<').
func TestQAMCPServe(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, admin, envSpec)
	envMCP := "/api/v1/environments/" + id + "/mcp"
	sbMCP := "/api/v1/agent/sandboxes/" + id + "/mcp"
	both := map[string]string{"Accept": "application/json, text/event-stream"}
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

	for _, c := range []struct {
		name        string
		contentType string
		header      map[string]string
		body        string
		status      int
		want        string
	}{
		{"text/plain", "text/plain", both, list, 415, "Content-Type"},
		{"no Accept", "application/json", nil, list, 400, "Accept"},
		{"malformed", "application/json", both, `{"jsonrpc":`, 400, "malformed"},
		{"empty", "application/json", both, "", 400, "body"},
		{"unknown method", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"nope"}`, 400, "nope"},
		{"too large", "application/json", both, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 45<<20) + `"}}`, 413, "exceeds"},
	} {
		// The environments surface: {"error", "message", "code"}.
		r := s.do(t, req{method: "POST", path: envMCP, token: admin, contentType: c.contentType, header: c.header, body: c.body})
		var e struct {
			Error, Message string
			Code           int
		}
		if err := json.Unmarshal(r.body, &e); err != nil || r.status != c.status || e.Code != c.status || e.Error == "" || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s on %s: %d %.300s, want %d in the environments' error body naming %s", c.name, envMCP, r.status, r.body, c.status, c.want)
		}
		// The platform surface: {"detail", "code"}.
		r = s.do(t, req{method: "POST", path: sbMCP, token: admin, contentType: c.contentType, header: c.header, body: c.body})
		var p struct{ Detail, Code string }
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != c.status || p.Code == "" || !strings.Contains(p.Detail, c.want) {
			t.Errorf("%s on %s: %d %.300s, want %d in the platform's error body naming %s", c.name, sbMCP, r.status, r.body, c.status, c.want)
		}
	}

	// call runs a tool over raw JSON-RPC and returns its result.
	call := func(name string, args map[string]any) (text string, structured map[string]any, isError bool) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
		r := s.expect(t, 200, req{method: "POST", path: envMCP, token: admin, contentType: "application/json", header: both, body: b})
		var out struct {
			Result struct {
				Content           []struct{ Text string }
				StructuredContent map[string]any
				IsError           bool
			}
		}
		r.json(t, &out)
		if len(out.Result.Content) > 0 {
			text = out.Result.Content[0].Text
		}
		return text, out.Result.StructuredContent, out.Result.IsError
	}
	text, out, _ := call("run_command", map[string]any{"command": "head -c 3000000 /dev/zero | tr '\\0' y"})
	if out["truncated"] != true || !strings.HasSuffix(text, "[exit code 0] [output truncated]") {
		t.Errorf("a truncated output: %q %v", text[max(0, len(text)-80):], out["truncated"])
	}
	// 8 MiB of NULs or of '<' would be 48 MiB of JSON string, more than
	// the base64 of the largest file read_file reads; a few NULs, HTML and
	// 32 MiB of letters are text.
	if _, _, isErr := call("run_command", map[string]any{"command": `cd /tmp && head -c 8388608 /dev/zero > nul && head -c 8388608 /dev/zero | tr '\0' '<' > lt &&
		head -c 33554432 /dev/zero | tr '\0' a > letters && printf 'a\0b\n' > fewnul &&
		printf '<html><body><p class="x">Hello &amp; welcome</p></body></html>\n' > page.html`}); isErr {
		t.Fatal("writing the files failed")
	}
	for file, want := range map[string]string{"nul": "base64", "lt": "base64", "letters": "utf-8", "fewnul": "utf-8", "page.html": "utf-8"} {
		text, out, isErr := call("read_file", map[string]any{"path": "/tmp/" + file})
		if isErr || out["encoding"] != want || out["content"] != text {
			t.Errorf("read_file %s: encoding %v, want %s (error %v)", file, out["encoding"], want, isErr)
		}
	}
}

// TestQAExecDeleted: a command whose environment is deleted while it
// runs ends in a 409 (a tool error over MCP) saying so, not in a 500
// "internal error".
func TestQAExecDeleted(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, admin, envSpec)
	both := map[string]string{"Accept": "application/json, text/event-stream"}

	rest, mcpRes := make(chan *response, 1), make(chan *response, 1)
	go func() {
		rest <- s.do(t, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: admin, body: map[string]any{
			"command": []string{"sh", "-c", "touch /tmp/rest; sleep 60"}, "timeout": 120}})
	}()
	go func() {
		mcpRes <- s.do(t, req{method: "POST", path: "/api/v1/environments/" + id + "/mcp", token: admin, contentType: "application/json", header: both,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_command","arguments":{"command":"touch /tmp/mcp; sleep 60"}}}`})
	}()
	// Both commands run before the delete.
	for deadline := time.Now().Add(time.Minute); ; {
		r := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: admin, body: map[string]any{
			"command": []string{"sh", "-c", "test -f /tmp/rest && test -f /tmp/mcp"}}})
		if r.m(t)["exit_code"] == 0.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the commands did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=true", token: admin})

	if r := <-rest; r.status != 409 || !strings.Contains(r.message(t), "ended while the command ran") {
		t.Errorf("exec: %d %s, want 409 saying the environment ended", r.status, r.body)
	}
	r := <-mcpRes
	var out struct {
		Result struct {
			Content []struct{ Text string }
			IsError bool
		}
	}
	r.json(t, &out)
	if r.status != 200 || !out.Result.IsError || len(out.Result.Content) == 0 || !strings.Contains(out.Result.Content[0].Text, "ended while the command ran") {
		t.Errorf("MCP run_command: %d %s, want a tool error saying the environment ended", r.status, r.body)
	}
}
