package store

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBackgroundCheckpoint checks that commits leave checkpoints to the
// checkpointer: the writer's automatic checkpoint is only the backstop,
// and WAL frames written by a few hundred small writes, fewer than the
// backstop, reach the database file without a commit checkpointing.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTestSQLite(t)
	var backstop int
	if err := db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, "PRAGMA wal_autocheckpoint").Scan(&backstop)
	}); err != nil {
		t.Fatal(err)
	}
	if backstop != autoCheckpointBackstop {
		t.Fatalf("writer's wal_autocheckpoint = %d, want %d", backstop, autoCheckpointBackstop)
	}
	if _, err := db.exec(ctx, "CREATE TABLE blobs (b TEXT)"); err != nil {
		t.Fatal(err)
	}
	row := strings.Repeat("x", 9000) // more than two pages a row
	const writes = 3*checkpointWrites + 5
	for range writes {
		if _, err := db.exec(ctx, "INSERT INTO blobs (b) VALUES (?)", row); err != nil {
			t.Fatal(err)
		}
	}
	var pages, pageSize int64
	r := db.reader()
	if err := r.queryRow(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := r.queryRow(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if pages < 2*writes || pages > autoCheckpointBackstop/2 {
		t.Fatalf("%d pages: the test wants more than %d and well under the backstop", pages, 2*writes)
	}
	// The last writes are checkpointed at the idle tick.
	deadline := time.Now().Add(5 * checkpointIdle)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == pages*pageSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file has %d bytes after %v, want %d pages of %d: the WAL was not checkpointed", fi.Size(), 5*checkpointIdle, pages, pageSize)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
