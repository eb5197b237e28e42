package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.GenBusinessService = (*GenBusinessService)(nil)

// GenBusinessService stores code generator configurations. It implements
// paddock.GenBusinessService.
type GenBusinessService struct {
	db *DB
}

// NewGenBusinessService returns a GenBusinessService backed by db.
func NewGenBusinessService(db *DB) *GenBusinessService { return &GenBusinessService{db: db} }

const genBusinessColumns = "id, app_name, table_name, class_name, doc_comment, table_comment, api_version, remark, columns, created_by, created_at, updated_at"

// genColumn is a GenColumn as the columns JSON holds it.
type genColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Length   int    `json:"length,omitempty"`
	Nullable bool   `json:"nullable,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

func scanGenBusiness(row interface{ Scan(...any) error }) (*paddock.GenBusiness, error) {
	var b paddock.GenBusiness
	var cols []genColumn
	var createdBy sql.NullInt64
	if err := row.Scan(&b.ID, &b.AppName, &b.TableName, &b.ClassName, &b.DocComment, &b.TableComment, &b.APIVersion, &b.Remark,
		jsonCol{&cols}, &createdBy, timeCol{&b.CreatedAt}, timeCol{&b.UpdatedAt}); err != nil {
		return nil, err
	}
	b.CreatedBy = createdBy.Int64
	b.Columns = make([]paddock.GenColumn, len(cols))
	for i, c := range cols {
		b.Columns[i] = paddock.GenColumn(c)
	}
	return &b, nil
}

// genBusinessArgs are b's values for the columns after id and before
// created_by: app_name .. columns.
func genBusinessArgs(b *paddock.GenBusiness) ([]any, error) {
	cols := make([]genColumn, len(b.Columns))
	for i, c := range b.Columns {
		cols[i] = genColumn(c)
	}
	js, err := jsonArg(cols)
	if err != nil {
		return nil, err
	}
	return []any{b.AppName, b.TableName, b.ClassName, b.DocComment, b.TableComment, b.APIVersion, b.Remark, js}, nil
}

func genBusinessWriteError(err error, b *paddock.GenBusiness, what string) error {
	if v, _ := constraintOf(err); v == uniqueViolation {
		return paddock.Errorf(paddock.EConflict, "a code generator configuration for table %q exists", b.TableName)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func genBusinessNotFound(err error, id int64) error {
	return notFound(err, fmt.Sprintf("code generator configuration %d not found", id), fmt.Sprintf("code generator configuration %d", id))
}

// GenBusiness returns the configuration with the given id, or ENotFound.
func (s *GenBusinessService) GenBusiness(ctx context.Context, id int64) (*paddock.GenBusiness, error) {
	b, err := scanGenBusiness(s.db.reader().queryRow(ctx, "SELECT "+genBusinessColumns+" FROM gen_businesses WHERE id = ?", id))
	if err != nil {
		return nil, genBusinessNotFound(err, id)
	}
	return b, nil
}

// GenBusinesses returns a page of configurations by id and how many the
// filter selects in all.
func (s *GenBusinessService) GenBusinesses(ctx context.Context, f paddock.GenBusinessFilter) ([]*paddock.GenBusiness, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if f.TableName != nil {
		where, args = append(where, "table_name = ?"), append(args, *f.TableName)
	}
	out, total, err := listPage(ctx, s.db, "gen_businesses", genBusinessColumns, where, args, "id", f.Offset, f.Limit, scanGenBusiness)
	if err != nil {
		return nil, 0, fmt.Errorf("list code generator configurations: %w", err)
	}
	return out, total, nil
}

// CreateGenBusiness stores b and sets its ID and times; a table name that
// is taken is EConflict.
func (s *GenBusinessService) CreateGenBusiness(ctx context.Context, b *paddock.GenBusiness) error {
	args, err := genBusinessArgs(b)
	if err != nil {
		return err
	}
	b.CreatedAt = normTime(s.db.now())
	b.UpdatedAt = b.CreatedAt
	args = append(args, nullID(b.CreatedBy), s.db.timeArg(b.CreatedAt), s.db.timeArg(b.UpdatedAt))
	err = s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, "INSERT INTO gen_businesses (app_name, table_name, class_name, doc_comment, table_comment, api_version, remark, columns, created_by, created_at, updated_at) VALUES ("+
			placeholders(11)+") RETURNING id", args...).Scan(&b.ID)
	})
	if err != nil {
		return genBusinessWriteError(err, b, fmt.Sprintf("create code generator configuration for %q", b.TableName))
	}
	return nil
}

// UpdateGenBusiness replaces configuration id with b, all but its ID,
// CreatedBy and CreatedAt, which it sets on b from the stored row.
func (s *GenBusinessService) UpdateGenBusiness(ctx context.Context, id int64, b *paddock.GenBusiness) error {
	args, err := genBusinessArgs(b)
	if err != nil {
		return err
	}
	args = append(args, s.db.timeArg(s.db.now()), id)
	got, err := writeValue(ctx, s.db, func(c conn) (*paddock.GenBusiness, error) {
		return scanGenBusiness(c.queryRow(ctx, "UPDATE gen_businesses SET app_name = ?, table_name = ?, class_name = ?, doc_comment = ?, table_comment = ?, "+
			"api_version = ?, remark = ?, columns = ?, updated_at = ? WHERE id = ? RETURNING "+genBusinessColumns, args...))
	})
	if err != nil {
		if v, _ := constraintOf(err); v == uniqueViolation {
			return genBusinessWriteError(err, b, "")
		}
		return genBusinessNotFound(err, id)
	}
	*b = *got
	return nil
}

// DeleteGenBusiness deletes the configuration, or is ENotFound.
func (s *GenBusinessService) DeleteGenBusiness(ctx context.Context, id int64) error {
	res, err := s.db.exec(ctx, "DELETE FROM gen_businesses WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete code generator configuration %d: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("code generator configuration %d not found", id))
}
