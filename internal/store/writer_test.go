package store

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// openTestSQLite opens a SQLite database in a temporary directory, closed
// at the end of the test, and returns it and its file's path.
func openTestSQLite(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paddock.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// openWriterTest opens a SQLite database with a table t (x INTEGER
// PRIMARY KEY) for the writer's tests.
func openWriterTest(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, _ := openTestSQLite(t)
	if db.w == nil {
		t.Fatal("SQLite database without its writer")
	}
	if _, err := db.exec(ctx, "CREATE TABLE t (x INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func countT(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.reader().queryRow(context.Background(), "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A transaction that fails, by its own error, a statement's or a panic, is
// rolled back and leaves the writer usable.
func TestSQLiteWriterRollsBack(t *testing.T) {
	db := openWriterTest(t)
	ctx := context.Background()
	insert := func(c conn, x int) error {
		_, err := c.exec(ctx, "INSERT INTO t (x) VALUES (?)", x)
		return err
	}
	boom := errors.New("boom")
	if err := db.inTx(ctx, func(c conn) error {
		if err := insert(c, 1); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("inTx = %v, want boom", err)
	}
	if err := db.inTx(ctx, func(c conn) error {
		if err := insert(c, 2); err != nil {
			return err
		}
		return insert(c, 2) // duplicate key
	}); err == nil {
		t.Fatal("duplicate insert committed")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in a transaction did not propagate")
			}
		}()
		db.inTx(ctx, func(c conn) error { //nolint:errcheck // panics
			if err := insert(c, 3); err != nil {
				return err
			}
			panic("in a transaction")
		})
	}()
	if n := countT(t, db); n != 0 {
		t.Fatalf("%d rows after three failed transactions, want 0", n)
	}
	// The writer is free and out of any transaction: a new one commits.
	if err := db.inTx(ctx, func(c conn) error { return insert(c, 4) }); err != nil {
		t.Fatalf("transaction after failures: %v", err)
	}
	if err := db.write1(ctx, func(c conn) error { return insert(c, 5) }); err != nil {
		t.Fatalf("statement after failures: %v", err)
	}
	if n := countT(t, db); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	// A context done before the commit rolls the transaction back.
	cctx, cancel := context.WithCancel(ctx)
	if err := db.inTx(cctx, func(c conn) error {
		cancel()
		return insert(c, 6)
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("inTx with its context cancelled = %v, want context.Canceled", err)
	}
	if n := countT(t, db); n != 2 {
		t.Fatalf("%d rows after a cancelled transaction, want 2", n)
	}
}

// A write waiting for the writer gives up when its context ends; the
// holder is not disturbed.
func TestSQLiteWriterWaitHonoursContext(t *testing.T) {
	db := openWriterTest(t)
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.inTx(ctx, func(c conn) error {
			close(holding)
			<-release
			_, err := c.exec(ctx, "INSERT INTO t (x) VALUES (1)")
			return err
		})
	}()
	<-holding
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.exec(wctx, "INSERT INTO t (x) VALUES (2)"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write while the writer is held = %v, want context.DeadlineExceeded", err)
	}
	if err := db.inTx(wctx, func(conn) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("transaction with an ended context = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if n := countT(t, db); n != 1 {
		t.Fatalf("%d rows, want the holder's 1", n)
	}
}

// A transaction starts no goroutine, for itself or its queries: that is
// what the writer is for (see sqliteWriter).
func TestSQLiteWriterStartsNoGoroutine(t *testing.T) {
	db := openWriterTest(t)
	ctx, cancel := context.WithCancel(context.Background()) // a context that can end, as a request's
	defer cancel()
	if _, err := db.exec(ctx, "INSERT INTO t (x) VALUES (1)"); err != nil { // prepares the statements
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	err := db.inTx(ctx, func(c conn) error {
		for i := 2; i < 5; i++ {
			if _, err := c.exec(ctx, "INSERT INTO t (x) VALUES (?)", i); err != nil {
				return err
			}
			var n int
			if err := c.queryRow(ctx, "SELECT COUNT(*) FROM t WHERE x <= ?", i).Scan(&n); err != nil {
				return err
			}
			rows, err := c.query(ctx, "SELECT x FROM t")
			if err != nil {
				return err
			}
			rows.Next()
			if now := runtime.NumGoroutine(); now != before {
				t.Errorf("%d goroutines with a query open in a transaction, %d before it", now, before)
			}
			rows.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
