package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codegen"
)

// TestCodeGenerator drives seed 003's /api/v1/admin/gen/business: a
// configuration is created, listed, read, replaced and deleted, and its
// generated Go module comes back as a zip or as JSON, the same files
// internal/codegen writes (whose tests compile and run them). Bad input is
// a 4xx that names what is wrong. (TestRBAC checks the permissions.)
func TestCodeGenerator(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	base := "/api/v1/admin/gen/business"

	body := map[string]any{"app_name": "inventory", "table_name": "inv_item", "doc_comment": "an item in stock",
		"columns": []map[string]any{
			{"name": "sku", "type": "string", "length": 64, "comment": "stock keeping unit"},
			{"name": "quantity", "type": "int"},
			{"name": "restocked_at", "type": "time", "nullable": true},
		}}
	created := s.expect(t, 201, req{method: "POST", path: base, token: admin, body: body}).m(t)
	id := jsonID(created)
	for k, want := range map[string]any{"class_name": "InvItem", "api_version": "v1", "path": "/api/v1/inventory/inv-item", "remark": ""} {
		if created[k] != want {
			t.Errorf("created %s = %v, want %v", k, created[k], want)
		}
	}
	cols := created["columns"].([]any)
	if len(cols) != 3 || cols[0].(map[string]any)["length"] != 64.0 || cols[2].(map[string]any)["nullable"] != true || created["created_by"] != 1.0 {
		t.Errorf("created %v", created)
	}
	if got := s.expect(t, 200, req{method: "GET", path: fmt.Sprintf("%s/%d", base, id), token: admin}).m(t); fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("read back %v, created %v", got, created)
	}
	list := s.expect(t, 200, req{method: "GET", path: base + "?table_name=inv_item&page=1&size=10", token: admin}).m(t)
	if list["total"] != 1.0 || len(list["items"].([]any)) != 1 || list["page"] != 1.0 || list["size"] != 10.0 {
		t.Errorf("list %v", list)
	}
	if l := s.expect(t, 200, req{method: "GET", path: base + "?table_name=nope", token: admin}).m(t); l["total"] != 0.0 || len(l["items"].([]any)) != 0 {
		t.Errorf("filtered list %v", l)
	}

	// The generated module, as a zip and as JSON: the files codegen writes.
	want, err := codegen.Generate(&paddock.GenBusiness{AppName: "inventory", TableName: "inv_item", DocComment: "an item in stock",
		Columns: []paddock.GenColumn{{Name: "sku", Type: "string", Length: 64, Comment: "stock keeping unit"}, {Name: "quantity", Type: "int"}, {Name: "restocked_at", Type: "time", Nullable: true}}})
	if err != nil {
		t.Fatal(err)
	}
	z := s.expect(t, 200, req{method: "POST", path: fmt.Sprintf("%s/%d/generate", base, id), token: admin})
	if ct, cd := z.header.Get("Content-Type"), z.header.Get("Content-Disposition"); ct != "application/zip" || cd != `attachment; filename="inventory.zip"` {
		t.Errorf("zip headers %q %q", ct, cd)
	}
	names, files := unzip(t, z.body)
	if len(names) != len(want) {
		t.Fatalf("%d files in the zip, want %d", len(names), len(want))
	}
	for i, name := range names {
		if name != want[i].Path || files[name] != string(want[i].Content) {
			t.Errorf("zip entry %d: %s (%d bytes), want %s (%d bytes)", i, name, len(files[name]), want[i].Path, len(want[i].Content))
		}
	}
	for _, rq := range []req{
		{method: "POST", path: fmt.Sprintf("%s/%d/generate?format=json", base, id), token: admin},
		{method: "POST", path: fmt.Sprintf("%s/%d/generate", base, id), token: admin, header: map[string]string{"Accept": "application/json"}},
	} {
		var preview struct {
			Files []struct{ Path, Content string }
		}
		s.expect(t, 200, rq).json(t, &preview)
		if len(preview.Files) != len(want) || preview.Files[0].Path != "inventory/model.go" || preview.Files[0].Content != string(want[0].Content) {
			t.Errorf("%s: %d files, first %q", rq.path, len(preview.Files), preview.Files[0].Path)
		}
	}

	// A replacement: every field, defaults again; the generated code follows.
	body["app_name"], body["class_name"], body["api_version"] = "stock", "Item", "v2"
	upd := s.expect(t, 200, req{method: "PUT", path: fmt.Sprintf("%s/%d", base, id), token: admin, body: body}).m(t)
	if upd["path"] != "/api/v2/stock/inv-item" || upd["created_at"] != created["created_at"] || upd["doc_comment"] != "an item in stock" {
		t.Errorf("updated %v", upd)
	}
	var preview struct {
		Files []struct{ Path, Content string }
	}
	s.expect(t, 200, req{method: "POST", path: fmt.Sprintf("%s/%d/generate?format=json", base, id), token: admin}).json(t, &preview)
	if preview.Files[0].Path != "stock/model.go" || !strings.Contains(preview.Files[0].Content, "type Item struct") {
		t.Errorf("generated after the update: %s", preview.Files[0].Path)
	}

	// Bad input.
	other := s.expect(t, 201, req{method: "POST", path: base, token: admin, body: map[string]any{"app_name": "crm", "table_name": "contact",
		"columns": []map[string]any{{"name": "name", "type": "text"}}}}).m(t)
	for _, c := range []struct {
		rq     req
		status int
		msg    string
	}{
		{req{method: "POST", path: base, body: `{"app_name": "x",`}, 400, "malformed JSON"},
		{req{method: "POST", path: base, body: map[string]any{"app_name": "x", "table_name": "t", "columns": "sku"}}, 400, `"columns"`},
		{req{method: "POST", path: base, body: map[string]any{"table_name": "t", "columns": []map[string]any{{"name": "a", "type": "int"}}}}, 400, `app_name "" must be a Go package name`},
		{req{method: "POST", path: base, body: map[string]any{"app_name": "x", "table_name": "t", "columns": []map[string]any{{"name": "a", "type": "uuid"}}}}, 400, `columns[0]: type "uuid" is not one of string, text, int, float, bool, time`},
		{req{method: "POST", path: base, body: map[string]any{"app_name": "x", "table_name": "t"}}, 400, "at least one column"},
		{req{method: "POST", path: base, body: map[string]any{"app_name": "x", "table_name": "contact", "columns": []map[string]any{{"name": "a", "type": "int"}}}}, 409, `table "contact" exists`},
		{req{method: "PUT", path: fmt.Sprintf("%s/%d", base, id), body: map[string]any{"app_name": "x", "table_name": "contact", "columns": []map[string]any{{"name": "a", "type": "int"}}}}, 409, `table "contact" exists`},
		{req{method: "PUT", path: base + "/9999", body: body}, 404, "code generator configuration 9999 not found"},
		{req{method: "GET", path: base + "/9999"}, 404, "code generator configuration 9999 not found"},
		{req{method: "POST", path: base + "/9999/generate"}, 404, "code generator configuration 9999 not found"},
		{req{method: "GET", path: base + "/abc"}, 400, `id must be a positive integer, not "abc"`},
		{req{method: "POST", path: fmt.Sprintf("%s/%d/generate?format=tar", base, id)}, 400, `"format" must be zip or json`},
		{req{method: "POST", path: base, body: `{"app_name":"` + strings.Repeat("x", 2<<20) + `"}`}, 413, ""},
	} {
		c.rq.token = admin
		r := s.expect(t, c.status, c.rq)
		if c.msg != "" && !strings.Contains(r.message(t), c.msg) {
			t.Errorf("%s %s: %q, want it to say %q", c.rq.method, c.rq.path, r.message(t), c.msg)
		}
	}

	s.expect(t, 204, req{method: "DELETE", path: fmt.Sprintf("%s/%d", base, jsonID(other)), token: admin})
	s.expect(t, 404, req{method: "DELETE", path: fmt.Sprintf("%s/%d", base, jsonID(other)), token: admin})
	if l := s.expect(t, 200, req{method: "GET", path: base, token: admin}).m(t); l["total"] != 1.0 {
		t.Errorf("after the delete: %v", l)
	}
}
