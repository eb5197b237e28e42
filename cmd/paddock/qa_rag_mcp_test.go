package main

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
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
