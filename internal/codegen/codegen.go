// Package codegen generates a Go module for a table a code generator
// configuration (paddock.GenBusiness) describes: its SQL for SQLite and
// PostgreSQL, a model with input validation, a database/sql store and a
// JSON HTTP handler (create, read, update, delete, paged lists). The code
// uses the standard library only; the caller brings a database driver.
package codegen

import (
	"archive/zip"
	"bytes"
	"embed"
	"fmt"
	"go/format"
	"go/token"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/paddockhq/paddock"
)

// File is one generated file.
type File struct {
	Path    string // slash-separated, under the package's directory
	Content []byte
}

// Limits of a configuration.
const (
	MaxColumns       = 64
	MaxCommentLength = 500
	DefaultLength    = 255
	maxLength        = 10485760 // PostgreSQL's largest VARCHAR
)

var (
	appPattern     = regexp.MustCompile(`^[a-z][a-z0-9]{0,29}$`)
	sqlNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	classPattern   = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)
	versionPattern = regexp.MustCompile(`^v[1-9][0-9]{0,3}$`)
)

// reservedColumns are the columns every generated table has.
var reservedColumns = []string{"id", "created_at", "updated_at"}

// Normalize fills b's defaults (class name from the table name, API
// version v1, string length 255) and checks every field, returning an
// EInvalid error that names the first one that is wrong.
func Normalize(b *paddock.GenBusiness) error {
	b.AppName, b.TableName, b.ClassName = strings.TrimSpace(b.AppName), strings.TrimSpace(b.TableName), strings.TrimSpace(b.ClassName)
	if !appPattern.MatchString(b.AppName) || token.IsKeyword(b.AppName) || b.AppName == "main" {
		return invalid("app_name %q must be a Go package name: a lowercase letter, then up to 29 lowercase letters or digits, not a Go keyword nor main (e.g. \"inventory\")", b.AppName)
	}
	if !sqlNamePattern.MatchString(b.TableName) {
		return invalid("table_name %q must be a lowercase letter, then up to 62 lowercase letters, digits or underscores (e.g. \"inv_item\")", b.TableName)
	}
	if b.ClassName == "" {
		b.ClassName = goName(b.TableName)
	}
	if !classPattern.MatchString(b.ClassName) {
		return invalid("class_name %q must be an exported Go name: an uppercase letter, then up to 63 letters or digits (e.g. \"InvItem\")", b.ClassName)
	}
	if slices.Contains(generatedNames, b.ClassName) {
		return invalid("class_name %q would clash with a name the generated code declares (%s)", b.ClassName, strings.Join(generatedNames, ", "))
	}
	if b.APIVersion == "" {
		b.APIVersion = "v1"
	}
	if !versionPattern.MatchString(b.APIVersion) {
		return invalid("api_version %q must be v and a number, e.g. \"v1\"", b.APIVersion)
	}
	for _, f := range []struct{ name, v string }{{"doc_comment", b.DocComment}, {"table_comment", b.TableComment}, {"remark", b.Remark}} {
		if len([]rune(f.v)) > MaxCommentLength {
			return invalid("%s is longer than %d characters", f.name, MaxCommentLength)
		}
	}
	if len(b.Columns) == 0 {
		return invalid("columns must list at least one column (id, created_at and updated_at are added)")
	}
	if len(b.Columns) > MaxColumns {
		return invalid("columns lists %d columns; at most %d", len(b.Columns), MaxColumns)
	}
	goNames := map[string]string{"ID": "id", "CreatedAt": "created_at", "UpdatedAt": "updated_at", "Validate": "(the input's Validate method)"}
	for i := range b.Columns {
		c := &b.Columns[i]
		c.Name, c.Type = strings.TrimSpace(c.Name), strings.TrimSpace(c.Type)
		where := fmt.Sprintf("columns[%d]", i)
		if !sqlNamePattern.MatchString(c.Name) {
			return invalid("%s: name %q must be a lowercase letter, then up to 62 lowercase letters, digits or underscores", where, c.Name)
		}
		if slices.Contains(reservedColumns, c.Name) {
			return invalid("%s: %q is a column every generated table has already (%s)", where, c.Name, strings.Join(reservedColumns, ", "))
		}
		g := goName(c.Name)
		if other, ok := goNames[g]; ok {
			if other == c.Name {
				return invalid("%s: column %q is listed twice", where, c.Name)
			}
			return invalid("%s: column %q would be the Go field %s, as %s is", where, c.Name, g, other)
		}
		goNames[g] = c.Name
		if !slices.Contains(paddock.GenColumnTypes, c.Type) {
			return invalid("%s: type %q is not one of %s", where, c.Type, strings.Join(paddock.GenColumnTypes, ", "))
		}
		switch {
		case c.Type != paddock.GenString && c.Length != 0:
			return invalid("%s: length applies to string columns only", where)
		case c.Type == paddock.GenString && c.Length == 0:
			c.Length = DefaultLength
		case c.Length < 0 || c.Length > maxLength:
			return invalid("%s: length %d must be between 1 and %d", where, c.Length, maxLength)
		}
		if len([]rune(c.Comment)) > MaxCommentLength {
			return invalid("%s: comment is longer than %d characters", where, MaxCommentLength)
		}
	}
	return nil
}

// generatedNames are the package-level names the generated code declares
// besides the class's own.
var generatedNames = []string{"Store", "NewStore", "Dialect", "SQLite", "PostgreSQL", "ErrNotFound",
	"ValidationError", "NewHandler", "Path", "Page"}

func invalid(format string, args ...any) error {
	return paddock.Errorf(paddock.EInvalid, format, args...)
}

// initialisms are written in capitals in Go names, as golint asks.
var initialisms = map[string]bool{"api": true, "cpu": true, "css": true, "dns": true, "html": true, "http": true, "https": true,
	"id": true, "ip": true, "json": true, "sql": true, "ssh": true, "tcp": true, "tls": true, "ttl": true, "udp": true,
	"ui": true, "uid": true, "uri": true, "url": true, "utf8": true, "uuid": true, "xml": true}

// goName is the exported Go name of a snake_case SQL name: "owner_url" is
// "OwnerURL".
func goName(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		if initialisms[part] {
			b.WriteString(strings.ToUpper(part))
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 || b.String()[0] >= '0' && b.String()[0] <= '9' {
		return "X" + b.String()
	}
	return b.String()
}

// Generate returns the files of b's package, all under AppName/. It
// normalizes b first (Normalize) and returns its error.
func Generate(b *paddock.GenBusiness) ([]File, error) {
	if err := Normalize(b); err != nil {
		return nil, err
	}
	d := newData(b)
	var files []File
	for _, t := range []struct{ tmpl, name string }{
		{"model.go.tmpl", "model.go"},
		{"store.go.tmpl", "store.go"},
		{"handler.go.tmpl", "handler.go"},
		{"schema_sqlite.sql.tmpl", "schema_sqlite.sql"},
		{"schema_postgres.sql.tmpl", "schema_postgres.sql"},
		{"README.md.tmpl", "README.md"},
	} {
		var buf bytes.Buffer
		if err := templates().ExecuteTemplate(&buf, t.tmpl, d); err != nil {
			return nil, fmt.Errorf("generate %s: %w", t.name, err)
		}
		content := buf.Bytes()
		if strings.HasSuffix(t.name, ".go") {
			src, err := format.Source(content)
			if err != nil {
				return nil, fmt.Errorf("generate %s: the generated code does not parse: %w", t.name, err)
			}
			content = src
		}
		files = append(files, File{Path: b.AppName + "/" + t.name, Content: content})
	}
	return files, nil
}

// WriteZip writes files as a zip archive to w, each dated at.
func WriteZip(w io.Writer, files []File, at time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: at})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Content); err != nil {
			return err
		}
	}
	return zw.Close()
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates are parsed at the first Generate, not when every paddock
// command starts.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"sqlString": sqlString,
		"cell":      func(s string) string { return strings.ReplaceAll(s, "|", `\|`) },
	}).ParseFS(templateFS, "templates/*.tmpl"))
})

// data is what the templates see.
type data struct {
	*paddock.GenBusiness
	Doc     string // the type's doc sentence
	Comment string // the table comment on one line
	Path    string // the handler's base path
	Fields  []field
	Strings bool // some field is a string with a length to check
	Times   bool // some field is a time
}

// field is a column as the templates write it.
type field struct {
	paddock.GenColumn
	Go      string // the Go field name
	GoType  string // the model's type
	Elem    string // the type without the pointer
	SQLite  string // column type in SQLite
	Postgre string // column type in PostgreSQL
	Comment string // on one line
	JSONDoc string // what a client sends, for messages: "a string", ...
}

// Path is where the handler generated for b serves its table:
// /api/<version>/<app>/<table name with hyphens>.
func Path(b *paddock.GenBusiness) string {
	return "/api/" + b.APIVersion + "/" + b.AppName + "/" + strings.ReplaceAll(b.TableName, "_", "-")
}

func newData(b *paddock.GenBusiness) *data {
	d := &data{GenBusiness: b, Comment: oneLine(b.TableComment), Path: Path(b)}
	d.Doc = oneLine(b.DocComment)
	if d.Doc == "" {
		d.Doc = "a row of table " + b.TableName
	}
	d.Doc = strings.TrimSuffix(d.Doc, ".")
	for _, c := range b.Columns {
		f := field{GenColumn: c, Go: goName(c.Name), Comment: oneLine(c.Comment)}
		switch c.Type {
		case paddock.GenString:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "string", "TEXT", fmt.Sprintf("VARCHAR(%d)", c.Length), "a string"
			d.Strings = true
		case paddock.GenText:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "string", "TEXT", "TEXT", "a string"
		case paddock.GenInt:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "int64", "INTEGER", "BIGINT", "an integer"
		case paddock.GenFloat:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "float64", "REAL", "DOUBLE PRECISION", "a number"
		case paddock.GenBool:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "bool", "BOOLEAN", "BOOLEAN", "true or false"
		case paddock.GenTime:
			f.Elem, f.SQLite, f.Postgre, f.JSONDoc = "time.Time", "TIMESTAMP", "TIMESTAMPTZ", "an RFC 3339 time"
			d.Times = true
		}
		f.GoType = f.Elem
		if c.Nullable {
			f.GoType = "*" + f.Elem
		}
		d.Fields = append(d.Fields, f)
	}
	return d
}

// oneLine is s with its line breaks and tabs as spaces, trimmed: a
// comment that cannot end the comment it is in.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sqlString is s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
