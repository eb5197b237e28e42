package store

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// SQLite copies the WAL back into the database file (a checkpoint) when a
// commit finds the WAL past wal_autocheckpoint pages, 1000 by default. That
// commit then writes every page again and syncs both files, and every
// write queued behind the one writer waits for it: every few dozen agent
// runs, one step, and the events it publishes, were late by the length of
// a checkpoint. So the writer's automatic checkpoint is only a backstop
// (autoCheckpointBackstop), and a checkpointer runs PASSIVE checkpoints
// beside the writer, on a connection of the read pool (query_only does not
// stop a checkpoint): after every checkpointWrites uses of the writer, and
// at the next tick of checkpointIdle after any write. A passive checkpoint
// takes no lock a writer needs: it copies the frames no reader still needs,
// and once all are copied the writer's next transaction starts the WAL
// over from its beginning.
const (
	checkpointWrites = 64
	checkpointIdle   = time.Second
	// autoCheckpointBackstop (pages, 40 MiB at 4 KiB) bounds the WAL
	// should the checkpointer fall behind.
	autoCheckpointBackstop = 10000
)

// checkpointer runs the background checkpoints of one SQLite database.
type checkpointer struct {
	pool   *sql.DB // the read pool, which the DB closes
	writes atomic.Int64
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newCheckpointer(pool *sql.DB) *checkpointer {
	c := &checkpointer{pool: pool, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// wrote records one use of the writer; the writer calls it before it
// releases the connection.
func (c *checkpointer) wrote() {
	if c.writes.Add(1)%checkpointWrites == 0 {
		select {
		case c.kick <- struct{}{}:
		default: // one is due already
		}
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointIdle)
	defer t.Stop()
	var seen int64 // writes when the last checkpoint began
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-t.C:
			if c.writes.Load() == seen {
				continue
			}
		}
		seen = c.writes.Load()
		// A failure (the backstop checkpointing at the same moment: BUSY)
		// leaves the frames for the next one.
		c.pool.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)") //nolint:errcheck
	}
}

// close stops the checkpointer, waiting for a checkpoint under way.
func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
}
