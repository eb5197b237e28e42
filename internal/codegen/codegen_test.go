package codegen

import (
	"bytes"
	"flag"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

var update = flag.Bool("update", false, "rewrite example/ from the templates")

// example is the configuration example/inventory was generated from: every
// column type, nullable and not, comments that need escaping.
func example() *paddock.GenBusiness {
	return &paddock.GenBusiness{
		AppName: "inventory", TableName: "inv_item", DocComment: "an item a warehouse keeps in stock.",
		TableComment: "Items in stock,\none row per SKU",
		Columns: []paddock.GenColumn{
			{Name: "sku", Type: paddock.GenString, Length: 64, Comment: `Stock keeping unit, e.g. "AB-12"`},
			{Name: "name", Type: paddock.GenString},
			{Name: "description", Type: paddock.GenText, Nullable: true, Comment: "Free text;\r\n\tmay span lines */ -- and more"},
			{Name: "quantity", Type: paddock.GenInt, Comment: "Units on hand"},
			{Name: "unit_price", Type: paddock.GenFloat, Nullable: true},
			{Name: "active", Type: paddock.GenBool},
			{Name: "restocked_at", Type: paddock.GenTime, Nullable: true, Comment: "When it was last restocked ('never' is null)"},
			{Name: "supplier_url", Type: paddock.GenString, Length: 2048, Nullable: true},
		},
	}
}

// TestExample checks that example/inventory is what Generate writes for
// example() (go test ./internal/codegen -run TestExample -update rewrites
// it); its own test runs that code against SQLite and PostgreSQL.
func TestExample(t *testing.T) {
	files, err := Generate(example())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := filepath.Join("example", filepath.FromSlash(f.Path))
		if *update {
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/codegen -run TestExample -update)", err)
		}
		if !bytes.Equal(got, f.Content) {
			t.Errorf("%s differs from what Generate writes now: run go test ./internal/codegen -run TestExample -update", path)
		}
	}
}

// typeCheck parses and type-checks the Go files of files as one package,
// importing from imp (one importer type-checks each standard package once).
func typeCheck(t *testing.T, fset *token.FileSet, imp types.Importer, files []File) *types.Package {
	t.Helper()
	var parsed []*ast.File
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".go") {
			continue
		}
		pf, err := parser.ParseFile(fset, f.Path, f.Content, parser.ParseComments)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		parsed = append(parsed, pf)
	}
	conf := types.Config{Importer: imp}
	pkg, err := conf.Check(parsed[0].Name.Name, fset, parsed, nil)
	if err != nil {
		t.Fatalf("the generated package does not type-check: %v", err)
	}
	return pkg
}

// TestGenerateCompiles type-checks the code of configurations unlike the
// example: no string columns (no length checks), nullable columns only,
// required ones only, initialisms and names with digits.
func TestGenerateCompiles(t *testing.T) {
	cases := map[string]*paddock.GenBusiness{
		"no strings": {AppName: "metrics", TableName: "samples", Columns: []paddock.GenColumn{
			{Name: "value", Type: paddock.GenFloat}, {Name: "at", Type: paddock.GenTime}, {Name: "ok", Type: paddock.GenBool, Nullable: true}}},
		"nullable only": {AppName: "notes", TableName: "note", ClassName: "Note", APIVersion: "v2", Columns: []paddock.GenColumn{
			{Name: "body", Type: paddock.GenText, Nullable: true}, {Name: "title", Type: paddock.GenString, Nullable: true, Length: 10}}},
		"initialisms": {AppName: "web2", TableName: "http_api_url_2", Columns: []paddock.GenColumn{
			{Name: "owner_id", Type: paddock.GenInt}, {Name: "json_url", Type: paddock.GenString}, {Name: "x2", Type: paddock.GenInt}}},
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil)
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			files, err := Generate(b)
			if err != nil {
				t.Fatal(err)
			}
			pkg := typeCheck(t, fset, imp, files)
			if pkg.Scope().Lookup(b.ClassName) == nil || pkg.Scope().Lookup(b.ClassName+"Input") == nil {
				t.Errorf("package %s declares no %s or %sInput", pkg.Name(), b.ClassName, b.ClassName)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	b := &paddock.GenBusiness{AppName: " inventory ", TableName: "inv_item", Columns: []paddock.GenColumn{{Name: "sku", Type: "string"}, {Name: "owner_url", Type: "text"}}}
	if err := Normalize(b); err != nil {
		t.Fatal(err)
	}
	if b.AppName != "inventory" || b.ClassName != "InvItem" || b.APIVersion != "v1" || b.Columns[0].Length != DefaultLength {
		t.Errorf("defaults: %+v", b)
	}
	if g := goName(b.Columns[1].Name); g != "OwnerURL" {
		t.Errorf("goName(owner_url) = %s", g)
	}
	cols := func(c ...paddock.GenColumn) []paddock.GenColumn { return c }
	one := cols(paddock.GenColumn{Name: "a", Type: "int"})
	bad := []struct {
		b    paddock.GenBusiness
		want string
	}{
		{paddock.GenBusiness{AppName: "Inventory", TableName: "t", Columns: one}, `app_name "Inventory" must be a Go package name`},
		{paddock.GenBusiness{AppName: "func", TableName: "t", Columns: one}, `not a Go keyword`},
		{paddock.GenBusiness{AppName: "main", TableName: "t", Columns: one}, `nor main`},
		{paddock.GenBusiness{AppName: "inv_x", TableName: "t", Columns: one}, `app_name "inv_x"`},
		{paddock.GenBusiness{AppName: "a", TableName: "1t", Columns: one}, `table_name "1t"`},
		{paddock.GenBusiness{AppName: "a", TableName: `t"; DROP TABLE users; --`, Columns: one}, `table_name`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", ClassName: "lower", Columns: one}, `class_name "lower" must be an exported Go name`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", ClassName: "Store", Columns: one}, `would clash`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", APIVersion: "1", Columns: one}, `api_version "1"`},
		{paddock.GenBusiness{AppName: "a", TableName: "t"}, `at least one column`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Remark: strings.Repeat("x", 501), Columns: one}, `remark is longer than 500`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "id", Type: "int"})}, `columns[0]: "id" is a column every generated table has`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "Name", Type: "int"})}, `columns[0]: name "Name"`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "a", Type: "int"}, paddock.GenColumn{Name: "a", Type: "text"})}, `columns[1]: column "a" is listed twice`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "a_b", Type: "int"}, paddock.GenColumn{Name: "ab", Type: "int"}, paddock.GenColumn{Name: "a__b", Type: "text"})}, `columns[2]: column "a__b" would be the Go field AB, as a_b is`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "i_d", Type: "int"})}, `would be the Go field ID, as id is`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "validate", Type: "int"})}, `Validate method`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "a", Type: "varchar"})}, `columns[0]: type "varchar" is not one of string, text, int, float, bool, time`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "a", Type: "int", Length: 3})}, `length applies to string columns only`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: cols(paddock.GenColumn{Name: "a", Type: "string", Length: -1})}, `length -1 must be between 1 and 10485760`},
		{paddock.GenBusiness{AppName: "a", TableName: "t", Columns: make([]paddock.GenColumn, 65)}, `65 columns; at most 64`},
	}
	for _, c := range bad {
		err := Normalize(&c.b)
		if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), c.want) {
			t.Errorf("Normalize(%s/%s): %v, want EInvalid with %q", c.b.AppName, c.b.TableName, err, c.want)
		}
	}
}

// TestSchemaEscapes checks that comments cannot leave the comment or
// string they are written in.
func TestSchemaEscapes(t *testing.T) {
	files, err := Generate(example())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, f := range files {
		byName[filepath.Base(f.Path)] = string(f.Content)
	}
	pg := byName["schema_postgres.sql"]
	for _, want := range []string{
		`COMMENT ON TABLE "inv_item" IS 'Items in stock, one row per SKU';`,
		`COMMENT ON COLUMN "inv_item"."restocked_at" IS 'When it was last restocked (''never'' is null)';`,
		`"supplier_url" VARCHAR(2048),`, `"sku" VARCHAR(64) NOT NULL,`, `"quantity" BIGINT NOT NULL,`, `"restocked_at" TIMESTAMPTZ,`,
	} {
		if !strings.Contains(pg, want) {
			t.Errorf("schema_postgres.sql lacks %s:\n%s", want, pg)
		}
	}
	lite := byName["schema_sqlite.sql"]
	if !strings.Contains(lite, `"description" TEXT, -- Free text; may span lines */ -- and more`+"\n") {
		t.Errorf("schema_sqlite.sql: the description's comment is not on its own line:\n%s", lite)
	}
	if !strings.Contains(byName["model.go"], "\t// Free text; may span lines */ -- and more\n\tDescription *string") {
		t.Errorf("model.go: the description's comment:\n%s", byName["model.go"])
	}
}
