// Package store implements Paddock's storage services (users, API keys,
// tokens, environments) on database/sql.
//
// SQLite (pure Go, modernc.org/sqlite) is the default: the DSN is a file
// path. PostgreSQL (pgx) is used when the DSN is a postgres:// or
// postgresql:// URL. Both dialects run the same queries, written once with
// "?" placeholders, and the same embedded migrations, applied at Open.
//
// On SQLite, writes and transactions go through one connection, held for
// the DB's lifetime and used by one goroutine at a time (so writers queue
// in process instead of failing with SQLITE_BUSY), and reads go through a
// separate read-only pool; WAL lets them run side by side.
//
// Times are stored in UTC with microsecond precision (what PostgreSQL keeps)
// and returned as UTC. Driver errors are translated here, once: a unique
// violation is a paddock.EConflict, a missing row a paddock.ENotFound, bad
// input a paddock.EInvalid; anything else is wrapped with context and maps to
// paddock.EInternal.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/paddockhq/paddock"
)

// Dialect names, as returned by (*DB).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteBusyTimeout is how long a connection waits for SQLite's lock
// (busy_timeout), and how long Open retries the lock SQLite does not wait
// for (connectWriter).
const sqliteBusyTimeout = 5 * time.Second

// sqlitePragmas are applied by the driver to every new SQLite connection, in
// both pools, so that no pooled connection misses one.
var sqlitePragmas = "_pragma=busy_timeout(" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)"

// DB is a database handle shared by the services of this package. It is safe
// for concurrent use.
type DB struct {
	write   *sql.DB       // the write pool: on SQLite, of the one connection w holds
	w       *sqliteWriter // SQLite's only writer; nil on PostgreSQL
	read    *sql.DB       // reads; the same pool as write on PostgreSQL
	dialect string
	now     func() time.Time

	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // prepared statements of the pools, by query
}

// stmtKey names a prepared statement: its pool and its rebound text.
type stmtKey struct {
	pool  *sql.DB
	query string
}

// maxStmts bounds the statement cache; queries are built from a fixed set
// of shapes, so this is never reached in practice.
const maxStmts = 512

// Open opens the database named by dsn, creating it if needed, and applies
// the pending migrations. dsn is a postgres:// or postgresql:// URL, or else
// a SQLite file path (a "file:" URI is accepted too); the parent directory
// of a SQLite file is created if missing.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "database DSN is empty")
	}
	var db *DB
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err = openPostgres(ctx, dsn)
	} else {
		db, err = openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func poolSize() int { return 2*runtime.GOMAXPROCS(0) + 4 }

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		// The error may quote the DSN, password included: do not wrap it.
		return nil, paddock.Errorf(paddock.EInvalid, "invalid PostgreSQL DSN")
	}
	pool.SetMaxOpenConns(poolSize())
	pool.SetMaxIdleConns(poolSize())
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{write: pool, read: pool, dialect: DialectPostgres, now: time.Now, stmts: map[stmtKey]*sql.Stmt{}}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, dsn string) (*DB, error) {
	name, query := dsn, ""
	if strings.HasPrefix(dsn, "file:") {
		name, query, _ = strings.Cut(dsn, "?")
	} else if strings.Contains(dsn, "?") {
		return nil, paddock.Errorf(paddock.EInvalid, "SQLite path %q contains '?': use a file: URI", dsn)
	}
	if name == ":memory:" || name == "file::memory:" || strings.Contains(query, "mode=memory") {
		// Each pooled connection would get its own empty database.
		return nil, paddock.Errorf(paddock.EInvalid, "in-memory SQLite databases are not supported: use a file path")
	}
	if !strings.HasPrefix(name, "file:") {
		if dir := filepath.Dir(name); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
	}
	if query != "" {
		query += "&"
	}
	base := name + "?" + query + sqlitePragmas

	write, err := sql.Open("sqlite", base+"&_txlock=immediate"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(autoCheckpointBackstop)+")")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", name, err)
	}
	// One writer: concurrent writers queue for the connection here rather
	// than contending for SQLite's lock. It is held until Close.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Touch the file through the writer first, so the WAL switch (a write)
	// never happens on a query-only reader.
	wc, err := connectWriter(ctx, write)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", name, err)
	}

	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		wc.Close()
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", name, err)
	}
	read.SetMaxOpenConns(poolSize())
	read.SetMaxIdleConns(poolSize())
	read.SetConnMaxIdleTime(5 * time.Minute)
	w := &sqliteWriter{sem: make(chan struct{}, 1), conn: wc, stmts: map[string]*sql.Stmt{}, ckpt: newCheckpointer(read)}

	db := &DB{write: write, w: w, read: read, dialect: DialectSQLite, now: time.Now, stmts: map[stmtKey]*sql.Stmt{}}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// connectWriter opens the writer's connection, applying the pragmas.
// Switching a new database to WAL upgrades a shared lock to an exclusive
// one, and SQLite answers SQLITE_BUSY at once, without its busy timeout,
// when another connection doing the same holds a shared lock (waiting
// could deadlock). Replicas opening a fresh database together therefore
// retry, for as long as the busy timeout would have waited.
func connectWriter(ctx context.Context, write *sql.DB) (*sql.Conn, error) {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		wc, err := write.Conn(ctx)
		if err == nil {
			if err = wc.PingContext(ctx); err == nil {
				return wc, nil
			}
			wc.Close()
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// Close closes the database's connection pools.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for k, st := range db.stmts {
		st.Close()
		delete(db.stmts, k)
	}
	db.stmtMu.Unlock()
	var err error
	if db.w != nil {
		err = db.w.close()
	}
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Dialect returns DialectSQLite ("sqlite") or DialectPostgres ("postgres").
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database is reachable. Failures are
// paddock.EUnavailable.
func (db *DB) Ping(ctx context.Context) error {
	ping := db.write.PingContext
	if db.w != nil { // the pool's one connection is the writer's
		ping = func(ctx context.Context) error {
			return db.write1(ctx, func(conn) error { return db.w.conn.PingContext(ctx) })
		}
	}
	if err := ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EUnavailable, "database unavailable"), err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EUnavailable, "database unavailable"), err)
		}
	}
	return nil
}

// rebind rewrites the "?" placeholders of q to "$1".."$n" for PostgreSQL.
// Question marks inside quoted strings, quoted identifiers and comments are
// left alone.
func (db *DB) rebind(q string) string {
	if db.dialect != DialectPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with "?" placeholders on one pool or transaction.
// On a pool, statements are prepared once and reused: parsing and planning
// cost more than running the small queries of a request's hot path. In a
// SQLite transaction, statements the pool has prepared are reused too (see
// txStmts); pgx keeps its own per-connection statement cache.
type conn struct {
	db   *DB
	q    querier
	pool *sql.DB  // set when q is a pool rather than a transaction
	tx   *txStmts // set when q is a SQLite transaction
}

// txStmts gives a SQLite transaction the statements prepared on its pool.
// A statement cannot be prepared on the pool during the transaction: the
// write pool's only connection is the transaction's, so preparing would
// wait for it forever. The transaction runs such queries unprepared and
// notes them; they are prepared once it has ended (see DB.prepareMissed).
type txStmts struct {
	tx   *sql.Tx
	pool *sql.DB

	mu     sync.Mutex
	missed []string
}

// on returns the querier to run query with: the pool's prepared statement
// for it when possible, else the plain pool or transaction.
func (c conn) on(ctx context.Context, query string) (querier, string) {
	query = c.db.rebind(query)
	if c.tx != nil {
		if st := c.db.preparedStmt(c.tx.pool, query); st != nil {
			return stmtQuerier{c.tx.tx.StmtContext(ctx, st)}, query
		}
		c.tx.mu.Lock()
		c.tx.missed = append(c.tx.missed, query)
		c.tx.mu.Unlock()
		return c.q, query
	}
	if c.pool == nil {
		return c.q, query
	}
	if st := c.db.stmt(ctx, c.pool, query); st != nil {
		return stmtQuerier{st}, query
	}
	return c.q, query
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = c.db.stmtContext(ctx)
	q, query := c.on(ctx, query)
	return q.ExecContext(ctx, query, args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = c.db.stmtContext(ctx)
	q, query := c.on(ctx, query)
	return q.QueryContext(ctx, query, args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = c.db.stmtContext(ctx)
	q, query := c.on(ctx, query)
	return q.QueryRowContext(ctx, query, args...)
}

// stmtContext returns the context to run a statement or begin a
// transaction with. On SQLite, the driver watches a context that can be
// cancelled with a goroutine per statement, to interrupt it: that costs
// more than the short statements of a request, so there a statement that
// has started runs to its end, and one whose context is done before it
// starts fails at once (the driver checks first). A transaction whose
// context ends fails at its next statement or before committing, and one
// waiting for the writer stops waiting (see inTx and sqliteWriter).
func (db *DB) stmtContext(ctx context.Context) context.Context {
	if db.dialect == DialectSQLite && ctx.Done() != nil && ctx.Err() == nil {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt returns the prepared statement for query on pool, preparing it the
// first time, or nil when it cannot be prepared (the caller then runs the
// query unprepared, which reports the error).
func (db *DB) stmt(ctx context.Context, pool *sql.DB, query string) *sql.Stmt {
	key := stmtKey{pool, query}
	db.stmtMu.Lock()
	st, ok := db.stmts[key]
	full := len(db.stmts) >= maxStmts
	db.stmtMu.Unlock()
	if ok || full {
		return st
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if prev, ok := db.stmts[key]; ok { // prepared concurrently
		st.Close()
		return prev
	}
	db.stmts[key] = st
	return st
}

// preparedStmt returns the statement prepared for query on pool, or nil.
func (db *DB) preparedStmt(pool *sql.DB, query string) *sql.Stmt {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	return db.stmts[stmtKey{pool, query}]
}

// prepareMissed prepares on the pool, after its transaction ended, the
// data statements a SQLite transaction ran unprepared, so that the next
// transactions reuse them. Schema statements (migrations) are skipped.
func (db *DB) prepareMissed(ctx context.Context, t *txStmts) {
	if t == nil {
		return
	}
	t.mu.Lock()
	missed := t.missed
	t.missed = nil
	t.mu.Unlock()
	for _, q := range missed {
		if dataStatement(q) {
			db.stmt(ctx, t.pool, q)
		}
	}
}

// dataStatement reports whether query reads or writes rows, and so is
// worth keeping prepared; schema statements run once, in migrations.
func dataStatement(query string) bool {
	verb, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	switch strings.ToUpper(verb) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH":
		return true
	}
	return false
}

// stmtQuerier runs a prepared statement, ignoring the query text.
type stmtQuerier struct{ st *sql.Stmt }

func (s stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (s stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

// qualify prefixes each of columns (a ", "-separated list) with a table
// alias, for joins.
func qualify(alias, columns string) string {
	return alias + "." + strings.ReplaceAll(columns, ", ", ", "+alias+".")
}

// reader returns the pool for reads outside transactions.
func (db *DB) reader() conn { return conn{db: db, q: db.read, pool: db.read} }

// write1 runs fn with the writer, outside a transaction: for a single
// write statement, which commits by itself. fn must use only the conn it is
// given and be done with its rows when it returns: on SQLite, the writer is
// the caller's until then. An error is fn's, or ctx's when it ended while
// waiting for the writer.
func (db *DB) write1(ctx context.Context, fn func(c conn) error) error {
	if db.w == nil {
		return fn(conn{db: db, q: db.write, pool: db.write})
	}
	if err := db.w.acquire(ctx); err != nil {
		return err
	}
	defer db.w.release()
	return fn(conn{db: db, q: db.w})
}

// writeValue is write1 for a statement that returns something: a row it
// wrote, or its result.
func writeValue[T any](ctx context.Context, db *DB, fn func(c conn) (T, error)) (T, error) {
	var v T
	err := db.write1(ctx, func(c conn) (err error) {
		v, err = fn(c)
		return err
	})
	return v, err
}

// exec runs one write statement outside a transaction.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return writeValue(ctx, db, func(c conn) (sql.Result, error) { return c.exec(ctx, query, args...) })
}

// inTx runs fn in a write transaction, committing when fn returns nil. On
// SQLite the transaction starts IMMEDIATE, holding the write lock from the
// start. fn must use only the conn it is given: on SQLite, the only writer
// is the transaction's.
func (db *DB) inTx(ctx context.Context, fn func(tx conn) error) error {
	if db.w != nil {
		return db.w.inTx(ctx, db, fn)
	}
	tx, err := db.write.BeginTx(db.stmtContext(ctx), nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	c := db.txConn(tx, db.write)
	defer db.prepareMissed(ctx, c.tx) // after Rollback: it needs the connection
	defer tx.Rollback()               //nolint:errcheck // a no-op after Commit
	if err := fn(c); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // rolled back, as database/sql does on cancel
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// txConn returns the conn of tx, begun on pool.
func (db *DB) txConn(tx *sql.Tx, pool *sql.DB) conn {
	c := conn{db: db, q: tx}
	if db.dialect == DialectSQLite {
		c.tx = &txStmts{tx: tx, pool: pool}
	}
	return c
}

// sqliteWriter is SQLite's only writer: one connection, taken from the
// write pool at Open and held until Close, used by one goroutine at a time.
// Its transactions are BEGIN IMMEDIATE and COMMIT statements rather than a
// database/sql Tx: a Tx, and every query in one, starts a goroutine to
// watch its context, and waking another thread for each costs more than
// the small statements of a request take to run. On the held connection,
// with the statement contexts of stmtContext, nothing is started. Its
// statements are prepared on the connection once and kept.
type sqliteWriter struct {
	sem   chan struct{} // holds a token while the writer is in use
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // prepared on conn, by query; used under sem
	ckpt  *checkpointer
}

// acquire waits for the writer. It fails with ctx's error if ctx ends
// first or has ended already.
func (w *sqliteWriter) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *sqliteWriter) release() {
	w.ckpt.wrote()
	<-w.sem
}

// inTx runs fn in a transaction on the writer (see DB.inTx).
func (w *sqliteWriter) inTx(ctx context.Context, db *DB, fn func(tx conn) error) error {
	if err := w.acquire(ctx); err != nil {
		return err
	}
	defer w.release()
	sctx := db.stmtContext(ctx)
	if _, err := w.ExecContext(sctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// SQLite may have rolled back already (on some errors it
			// does): then this fails, harmlessly.
			w.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck
		}
	}()
	if err := fn(conn{db: db, q: w}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // rolled back, as database/sql does on cancel
		return err
	}
	if _, err := w.ExecContext(sctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// stmt returns the statement prepared on the writer for query, preparing
// it the first time; nil for a schema statement (migrations run those
// once) or one that does not prepare (run unprepared, it reports why).
func (w *sqliteWriter) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := w.stmts[query]; ok {
		return st
	}
	switch query {
	case "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK":
	default:
		if !dataStatement(query) {
			return nil
		}
	}
	if len(w.stmts) >= maxStmts {
		return nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	w.stmts[query] = st
	return st
}

// ExecContext, QueryContext and QueryRowContext make the writer a querier;
// the caller holds it.
func (w *sqliteWriter) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return w.conn.ExecContext(ctx, query, args...)
}

func (w *sqliteWriter) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.conn.QueryContext(ctx, query, args...)
}

func (w *sqliteWriter) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.conn.QueryRowContext(ctx, query, args...)
}

// close closes the writer's statements and gives its connection back to
// the pool, waiting for a user to finish, and stops the checkpointer.
func (w *sqliteWriter) close() error {
	w.sem <- struct{}{}
	w.ckpt.close()
	var err error
	for q, st := range w.stmts {
		err = errors.Join(err, st.Close())
		delete(w.stmts, q)
	}
	return errors.Join(err, w.conn.Close())
}

// inReadTx runs fn in a read-only transaction, so that its queries (a page
// and its total count) see one snapshot.
func (db *DB) inReadTx(ctx context.Context, fn func(tx conn) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.read.BeginTx(db.stmtContext(ctx), opts)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	c := db.txConn(tx, db.read)
	defer db.prepareMissed(ctx, c.tx)
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to commit
	return fn(c)
}

// pageClause returns the LIMIT/OFFSET clause for offset and limit (0 = no
// limit) and its arguments.
func (db *DB) pageClause(offset, limit int) (string, []any) {
	switch {
	case limit > 0:
		return " LIMIT ? OFFSET ?", []any{limit, offset}
	case offset > 0 && db.dialect == DialectSQLite:
		return " LIMIT -1 OFFSET ?", []any{offset}
	case offset > 0:
		return " OFFSET ?", []any{offset}
	}
	return "", nil
}

func checkPage(offset, limit int) error {
	if offset < 0 {
		return paddock.Errorf(paddock.EInvalid, "offset must not be negative, got %d", offset)
	}
	if limit < 0 {
		return paddock.Errorf(paddock.EInvalid, "limit must not be negative, got %d", limit)
	}
	return nil
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// Times.

// sqliteTimeLayout is fixed-width so that stored times sort as text.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// normTime returns t as stored: UTC, truncated to microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := normTime(*t)
	return &v
}

// timeArg returns t as a query argument.
func (db *DB) timeArg(t time.Time) any {
	t = normTime(t)
	if db.dialect == DialectSQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// nullTimeArg returns t as a query argument; nil is NULL.
func (db *DB) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return db.timeArg(*t)
}

// timeCol scans a NOT NULL time column into *t, in UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	t, err := parseTimeValue(v)
	if err != nil {
		return err
	}
	if t == nil {
		return errors.New("NULL in a NOT NULL time column")
	}
	*c.t = *t
	return nil
}

// nullTimeCol scans a nullable time column into *t (nil for NULL), in UTC.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(v any) error {
	t, err := parseTimeValue(v)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

func parseTimeValue(v any) (*time.Time, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t := v.UTC()
		return &t, nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return nil, fmt.Errorf("cannot scan %T into a time", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	t = t.UTC()
	return &t, nil
}

// JSON columns.

// jsonArg returns v encoded as JSON text, for a JSON column.
func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode JSON column: %w", err)
	}
	return string(b), nil
}

// jsonCol scans a JSON text column into v; NULL leaves v alone.
type jsonCol struct{ v any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch src := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(src)
	case []byte:
		b = src
	default:
		return fmt.Errorf("cannot scan %T into a JSON column", src)
	}
	if err := json.Unmarshal(b, c.v); err != nil {
		return fmt.Errorf("decode JSON column: %w", err)
	}
	return nil
}

// Errors.

// violation is the kind of constraint a driver error reports violated.
type violation int

const (
	noViolation violation = iota
	uniqueViolation
	foreignKeyViolation
)

// constraintOf reports which kind of constraint err violates, if any, and a
// detail naming it: SQLite's message ("UNIQUE constraint failed:
// api_keys.hash") or PostgreSQL's constraint name ("api_keys_hash_key").
func constraintOf(err error) (violation, string) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation, se.Error()
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation, se.Error()
		}
		return noViolation, ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return uniqueViolation, pe.ConstraintName
		case "23503":
			return foreignKeyViolation, pe.ConstraintName
		}
	}
	return noViolation, ""
}

// notFound returns err translated to ENotFound when it is sql.ErrNoRows,
// wrapped with what otherwise.
func notFound(err error, msg, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return paddock.Errorf(paddock.ENotFound, "%s", msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// affectedOne returns ENotFound with msg when res changed no row.
func affectedOne(res sql.Result, msg string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return paddock.Errorf(paddock.ENotFound, "%s", msg)
	}
	return nil
}

// listPage reads one page of table's rows matching where (terms joined by
// AND) in order, with the count of all matching rows, in one read
// transaction so that the page and the total agree.
func listPage[T any](ctx context.Context, db *DB, table, columns string, where []string, args []any, order string,
	offset, limit int, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	items := []T{}
	var total int
	err := db.inReadTx(ctx, func(tx conn) error {
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM "+table+cond, args...).Scan(&total); err != nil {
			return err
		}
		page, pageArgs := db.pageClause(offset, limit)
		rows, err := tx.query(ctx, "SELECT "+columns+" FROM "+table+cond+" ORDER BY "+order+page, append(args, pageArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		return rows.Err()
	})
	return items, total, err
}
