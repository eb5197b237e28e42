package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"

	"github.com/paddockhq/paddock"
)

var _ paddock.ResourceService = (*ResourceService)(nil)

// ResourceService stores knowledge-base resources and searches their text.
// It implements paddock.ResourceService. Shared resources have a NULL
// owner_id. Chunks are indexed for full-text search with English stemming:
// by FTS5 (porter) on SQLite, kept in step by triggers, and by a generated
// tsvector column on PostgreSQL.
type ResourceService struct {
	db *DB
}

// NewResourceService returns a ResourceService backed by db.
func NewResourceService(db *DB) *ResourceService { return &ResourceService{db: db} }

const resourceColumns = "id, owner_id, title, description, filename, media_type, size, chunks, created_at"

// chunkBatch is the most chunks one INSERT writes (a power of two).
const chunkBatch = 256

// Search bounds: the default and the largest number of hits, and how many
// distinct words of a query are searched for.
const (
	defaultSearchLimit = 5
	maxSearchLimit     = 50
	maxSearchWords     = 32
)

func scanResource(row interface{ Scan(...any) error }) (*paddock.Resource, error) {
	var r paddock.Resource
	var owner sql.NullInt64
	if err := row.Scan(&r.ID, &owner, &r.Title, &r.Description, &r.Filename, &r.MediaType, &r.Size, &r.Chunks,
		timeCol{&r.CreatedAt}); err != nil {
		return nil, err
	}
	r.OwnerID = owner.Int64
	return &r, nil
}

// CreateResource stores r and its chunks, in order, in one transaction,
// setting r.ID, r.Chunks and r.CreatedAt. A missing title is EInvalid; an
// unknown owner ENotFound.
func (s *ResourceService) CreateResource(ctx context.Context, r *paddock.Resource, chunks []string) error {
	if r == nil || r.Title == "" {
		return paddock.Errorf(paddock.EInvalid, "resource title is required")
	}
	r.ID = newID("res")
	r.Chunks = len(chunks)
	r.CreatedAt = normTime(s.db.now())
	err := s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, "INSERT INTO rag_resources ("+resourceColumns+") VALUES ("+placeholders(9)+")",
			r.ID, ownerArg(r.OwnerID), r.Title, r.Description, r.Filename, r.MediaType, r.Size, r.Chunks,
			s.db.timeArg(r.CreatedAt)); err != nil {
			return err
		}
		// Many rows a statement, in batches of powers of two up to
		// chunkBatch: few round trips, and few distinct statements for the
		// prepared-statement cache (see DB.stmt).
		for start := 0; start < len(chunks); {
			n := chunkBatch
			for n > len(chunks)-start {
				n /= 2
			}
			batch := chunks[start : start+n]
			rows := make([]string, len(batch))
			args := make([]any, 0, 3*len(batch))
			for i, text := range batch {
				rows[i] = "(?, ?, ?)"
				args = append(args, r.ID, start+i, text)
			}
			if _, err := tx.exec(ctx, "INSERT INTO rag_chunks (resource_id, seq, text) VALUES "+strings.Join(rows, ", "), args...); err != nil {
				return err
			}
			start += n
		}
		return nil
	})
	switch v, _ := constraintOf(err); {
	case v == foreignKeyViolation:
		return paddock.Errorf(paddock.ENotFound, "user %d not found", r.OwnerID)
	case err != nil:
		return fmt.Errorf("create resource: %w", err)
	}
	return nil
}

// Resource returns the resource id.
func (s *ResourceService) Resource(ctx context.Context, id string) (*paddock.Resource, error) {
	r, err := scanResource(s.db.reader().queryRow(ctx, "SELECT "+resourceColumns+" FROM rag_resources WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "resource not found", "resource")
	}
	return r, nil
}

// Resources returns a page of the resources f selects, newest first, and
// how many it selects in all. The title match folds the case of ASCII
// letters only on SQLite, of all letters on PostgreSQL.
func (s *ResourceService) Resources(ctx context.Context, f paddock.ResourceFilter) ([]*paddock.Resource, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	if f.OwnerID != 0 {
		where, args = append(where, "(owner_id = ? OR owner_id IS NULL)"), append(args, f.OwnerID)
	}
	if f.Query != "" {
		like := "LIKE" // case-insensitive for ASCII on SQLite
		if s.db.dialect == DialectPostgres {
			like = "ILIKE"
		}
		where, args = append(where, "title "+like+` ? ESCAPE '\'`), append(args, "%"+likeEscaper.Replace(f.Query)+"%")
	}
	list, total, err := listPage(ctx, s.db, "rag_resources", resourceColumns, where, args, "created_at DESC, id DESC",
		f.Offset, f.Limit, scanResource)
	if err != nil {
		return nil, 0, fmt.Errorf("list resources: %w", err)
	}
	return list, total, nil
}

// likeEscaper escapes the wildcards of a string, and the escape character
// '\', for a LIKE pattern that matches it literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// DeleteResource deletes the resource id with its chunks, which leave the
// full-text index with them.
func (s *ResourceService) DeleteResource(ctx context.Context, id string) error {
	res, err := s.db.exec(ctx, "DELETE FROM rag_resources WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete resource: %w", err)
	}
	return affectedOne(res, "resource not found")
}

// SearchResources returns at most limit (5 when not positive, 50 at most)
// chunks of the resources ids that match any word of query, best first.
// Words are runs of letters and digits, case folded; the first 32 distinct
// ones count. A query without words, or of stop words only on PostgreSQL,
// matches nothing. Scores are -bm25 on SQLite and ts_rank on PostgreSQL.
func (s *ResourceService) SearchResources(ctx context.Context, ids []string, query string, limit int) ([]*paddock.ResourceHit, error) {
	hits := []*paddock.ResourceHit{}
	words := searchWords(query)
	if len(ids) == 0 || len(words) == 0 {
		return hits, nil
	}
	switch {
	case limit <= 0:
		limit = defaultSearchLimit
	case limit > maxSearchLimit:
		limit = maxSearchLimit
	}
	// The words hold only letters and digits: quoted, or joined by |, they
	// are terms of the full-text query language, never its operators.
	var q, match string
	if s.db.dialect == DialectPostgres {
		match = strings.Join(words, " | ")
		q = `SELECT c.resource_id, r.title, c.seq, c.text, ts_rank(c.tsv, q) AS score
			FROM rag_chunks AS c JOIN rag_resources AS r ON r.id = c.resource_id, to_tsquery('english', ?) AS q
			WHERE c.tsv @@ q AND c.resource_id IN (` + placeholders(len(ids)) + `)
			ORDER BY score DESC, c.resource_id, c.seq LIMIT ?`
	} else {
		match = `"` + strings.Join(words, `" OR "`) + `"`
		q = `SELECT c.resource_id, r.title, c.seq, c.text, -bm25(rag_chunks_fts) AS score
			FROM rag_chunks_fts JOIN rag_chunks AS c ON c.id = rag_chunks_fts.rowid JOIN rag_resources AS r ON r.id = c.resource_id
			WHERE rag_chunks_fts MATCH ? AND c.resource_id IN (` + placeholders(len(ids)) + `)
			ORDER BY score DESC, c.resource_id, c.seq LIMIT ?`
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, match)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, limit)
	rows, err := s.db.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search resources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h paddock.ResourceHit
		if err := rows.Scan(&h.ResourceID, &h.Title, &h.Chunk, &h.Text, &h.Score); err != nil {
			return nil, fmt.Errorf("search resources: %w", err)
		}
		hits = append(hits, &h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search resources: %w", err)
	}
	return hits, nil
}

// searchWords returns the distinct words of query, lower-cased, in order,
// at most maxSearchWords of them. A word is a run of letters and digits.
func searchWords(query string) []string {
	var words []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(query), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if seen[w] {
			continue
		}
		seen[w] = true
		words = append(words, w)
		if len(words) == maxSearchWords {
			break
		}
	}
	return words
}
