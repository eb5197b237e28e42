package paddock

import (
	"context"
	"time"
)

// The code generator (seed 003 /api/v1/admin/gen): an admin describes a
// business table, its name and columns, and Paddock generates a Go module
// for it: the table's SQL for SQLite and PostgreSQL, a model, a
// database/sql store and a JSON HTTP handler with create, read, update,
// delete and paged lists.

// Column types of a GenColumn.
const (
	GenString = "string" // VARCHAR(Length) in PostgreSQL, TEXT in SQLite; Go string
	GenText   = "text"   // TEXT; Go string
	GenInt    = "int"    // BIGINT; Go int64
	GenFloat  = "float"  // DOUBLE PRECISION; Go float64
	GenBool   = "bool"   // BOOLEAN; Go bool
	GenTime   = "time"   // TIMESTAMPTZ; Go time.Time, RFC 3339 in JSON
)

// GenColumnTypes lists the column types in the order documents give them.
var GenColumnTypes = []string{GenString, GenText, GenInt, GenFloat, GenBool, GenTime}

// GenColumn is a column of a GenBusiness's table, besides the id,
// created_at and updated_at columns every generated table has.
type GenColumn struct {
	Name     string // snake_case SQL name, also the JSON field
	Type     string // one of GenColumnTypes
	Length   int    // GenString's maximum length in characters
	Nullable bool   // may be null (a pointer in Go); else required on create
	Comment  string
}

// GenBusiness is a code generator configuration: one table and the names
// the generated code gives it.
type GenBusiness struct {
	ID           int64
	AppName      string // the Go package and the URL segment, e.g. "inventory"
	TableName    string // the SQL table, e.g. "inv_item"; unique
	ClassName    string // the Go type, e.g. "InvItem"
	DocComment   string // what one row is, for the type's documentation
	TableComment string
	APIVersion   string // the URL's version segment, e.g. "v1"
	Remark       string
	Columns      []GenColumn
	CreatedBy    int64 // the user who created it
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// GenBusinessFilter selects code generator configurations.
type GenBusinessFilter struct {
	TableName *string
	Offset    int
	Limit     int // 0 means no limit
}

// GenBusinessService stores code generator configurations.
type GenBusinessService interface {
	// GenBusiness returns the configuration with the given id, or ENotFound.
	GenBusiness(ctx context.Context, id int64) (*GenBusiness, error)
	// GenBusinesses returns a page of configurations by id and how many the
	// filter selects in all.
	GenBusinesses(ctx context.Context, f GenBusinessFilter) ([]*GenBusiness, int, error)
	// CreateGenBusiness stores b and sets its ID and times; a table name
	// that is taken is EConflict.
	CreateGenBusiness(ctx context.Context, b *GenBusiness) error
	// UpdateGenBusiness replaces the configuration id with b (all but its
	// ID, CreatedBy and CreatedAt) and sets b's times, or is ENotFound.
	UpdateGenBusiness(ctx context.Context, id int64, b *GenBusiness) error
	// DeleteGenBusiness deletes the configuration, or is ENotFound.
	DeleteGenBusiness(ctx context.Context, id int64) error
}
