package inventory_test

// This test is written by hand: the rest of the package is what the code
// generator writes (internal/codegen's TestExample keeps it so). It runs
// the generated store and handler over real HTTP against SQLite, and
// against PostgreSQL when PADDOCK_TEST_POSTGRES_DSN names a server.

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/paddockhq/paddock/internal/codegen/example/inventory"
	"github.com/paddockhq/paddock/internal/store/storetest"
)

func TestInventory(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "inv.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetMaxOpenConns(1)
		testInventory(t, db, inventory.SQLite, "schema_sqlite.sql")
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		server := os.Getenv("PADDOCK_TEST_POSTGRES_DSN")
		if server == "" {
			t.Skip("PADDOCK_TEST_POSTGRES_DSN is not set")
		}
		t.Parallel()
		testInventory(t, postgres(t, server), inventory.PostgreSQL, "schema_postgres.sql")
	})
}

// postgres opens a new database on the server of dsn, dropped at cleanup.
func postgres(t *testing.T, dsn string) *sql.DB {
	db, err := sql.Open("pgx", storetest.PostgresDSN(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type response struct {
	status int
	body   map[string]any
}

func testInventory(t *testing.T, db *sql.DB, dialect inventory.Dialect, schema string) {
	ddl, err := os.ReadFile(schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(ddl)); err != nil {
		t.Fatalf("%s: %v", schema, err)
	}
	srv := httptest.NewServer(inventory.NewHandler(inventory.NewStore(db, dialect)))
	t.Cleanup(srv.Close)
	call := func(method, path, body string) response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := response{status: resp.StatusCode}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &r.body); err != nil {
				t.Fatalf("%s %s: %d %q is not a JSON object", method, path, resp.StatusCode, b)
			}
		}
		return r
	}
	expect := func(r response, status int, detail string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %v", r.status, status, r.body)
		}
		if detail != "" && !strings.Contains(r.body["detail"].(string), detail) {
			t.Fatalf("detail %q, want it to say %q", r.body["detail"], detail)
		}
	}
	p := inventory.Path

	// Create with every type; the nullable ones null or left out.
	restocked := time.Date(2026, 11, 2, 15, 4, 5, 123456000, time.FixedZone("CET", 3600))
	r := call("POST", p, `{"sku":"AB-12","name":"Widget ✓","description":"two\nlines","quantity":7,"unit_price":2.5,"active":true,`+
		`"restocked_at":"`+restocked.Format(time.RFC3339Nano)+`","supplier_url":null}`)
	expect(r, http.StatusCreated, "")
	id := int64(r.body["id"].(float64))
	created := r.body["created_at"].(string)
	for k, want := range map[string]any{"sku": "AB-12", "name": "Widget ✓", "description": "two\nlines", "quantity": 7.0, "unit_price": 2.5,
		"active": true, "supplier_url": nil} {
		if r.body[k] != want {
			t.Errorf("created %s = %v, want %v", k, r.body[k], want)
		}
	}
	if got, err := time.Parse(time.RFC3339Nano, r.body["restocked_at"].(string)); err != nil || !got.Equal(restocked) {
		t.Errorf("restocked_at = %v (%v), want %v", r.body["restocked_at"], err, restocked)
	}
	r2 := call("POST", p, `{"sku":"CD-34","name":"Gadget","quantity":0,"active":false}`)
	expect(r2, http.StatusCreated, "")
	if r2.body["description"] != nil || r2.body["unit_price"] != nil || r2.body["restocked_at"] != nil {
		t.Errorf("fields left out are not null: %v", r2.body)
	}

	// Read back what was written, one and in a page.
	got := call("GET", p+"/"+itoa(id), "")
	expect(got, http.StatusOK, "")
	if got.body["restocked_at"] != r.body["restocked_at"] || got.body["created_at"] != created || got.body["name"] != "Widget ✓" {
		t.Errorf("read back %v, created %v", got.body, r.body)
	}
	page := call("GET", p+"?limit=1&offset=1", "")
	expect(page, http.StatusOK, "")
	if page.body["total"] != 2.0 || len(page.body["items"].([]any)) != 1 || page.body["items"].([]any)[0].(map[string]any)["sku"] != "CD-34" {
		t.Errorf("page: %v", page.body)
	}

	// An update replaces every field: one left out becomes null.
	time.Sleep(2 * time.Millisecond)
	up := call("PUT", p+"/"+itoa(id), `{"sku":"AB-12","name":"Widget","quantity":6,"active":false,"unit_price":3}`)
	expect(up, http.StatusOK, "")
	if up.body["quantity"] != 6.0 || up.body["description"] != nil || up.body["restocked_at"] != nil || up.body["created_at"] != created || up.body["updated_at"] == created {
		t.Errorf("updated: %v", up.body)
	}

	// Bad requests.
	for _, c := range []struct{ method, path, body, detail string }{
		{"POST", p, `{"sku":"X"`, "malformed JSON"},
		{"POST", p, ``, "the request body is empty"},
		{"POST", p, `[1]`, "must be a JSON object"},
		{"POST", p, `{"sku":5,"name":"n","quantity":1,"active":true}`, `field "sku" must be a string, not number`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1.5,"active":true}`, `field "quantity" must be an integer`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":"yes"}`, `field "active" must be true or false`},
		{"POST", p, `{"name":"n","quantity":1,"active":true}`, `field "sku" is required: a string`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":true,"colour":"red"}`, `unknown field "colour"`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":true,"restocked_at":"yesterday"}`, `field "restocked_at" must be an RFC 3339 time such as "2006-01-02T15:04:05Z", not "yesterday"`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":true,"restocked_at":17}`, `field "restocked_at" must be an RFC 3339 time such as "2006-01-02T15:04:05Z", not 17`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":true,"restocked_at":"` + strings.Repeat("9", 100) + `"}`, `not "` + strings.Repeat("9", 63) + `…`},
		{"POST", p, `{"sku":"` + strings.Repeat("é", 65) + `","name":"n","quantity":1,"active":true}`, `field "sku" must be at most 64 characters`},
		{"POST", p, `{"sku":"s","name":"n","quantity":1,"active":true} {}`, "more than one JSON value"},
		{"GET", p + "/abc", ``, `id "abc" must be a positive integer`},
		{"GET", p + "?limit=1000", ``, `limit="1000" must be an integer from 1 to 200`},
		{"PUT", p + "/0", `{}`, `id "0"`},
	} {
		r := call(c.method, c.path, c.body)
		if r.status != http.StatusBadRequest || r.body["code"] != "INVALID" || !strings.Contains(r.body["detail"].(string), c.detail) {
			t.Errorf("%s %s %.40s: %d %v, want 400 INVALID saying %q", c.method, c.path, c.body, r.status, r.body, c.detail)
		}
	}
	huge := call("POST", p, `{"sku":"`+strings.Repeat("x", 2<<20)+`"}`)
	if huge.status != http.StatusRequestEntityTooLarge || huge.body["code"] != "TOO_LARGE" {
		t.Errorf("a 2 MiB body: %d %v", huge.status, huge.body)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r := call(m, p+"/999999", `{"sku":"s","name":"n","quantity":1,"active":true}`)
		if r.status != http.StatusNotFound || r.body["code"] != "NOT_FOUND" {
			t.Errorf("%s of an unknown id: %d %v", m, r.status, r.body)
		}
	}

	// Delete, then it is gone.
	expect(call("DELETE", p+"/"+itoa(id), ""), http.StatusNoContent, "")
	expect(call("GET", p+"/"+itoa(id), ""), http.StatusNotFound, "no such row")
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM "inv_item"`).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows left: %d (%v), want 1", n, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
