package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paddockhq/paddock"
)

var _ paddock.EventService = (*EventService)(nil)

// EventService stores session events. It implements paddock.EventService.
type EventService struct {
	db *DB
}

// NewEventService returns an EventService backed by db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

// eventBatch bounds the rows of one INSERT.
const eventBatch = 100

// appendEvents numbers events after the session's last and inserts them.
// Bumping sessions.last_event_seq takes the session row's write lock, so
// concurrent appends to one session are numbered one after the other,
// without gaps, in any dialect.
func appendEvents(ctx context.Context, db *DB, c conn, sessionID string, events []*paddock.Event) error {
	if len(events) == 0 {
		return nil
	}
	var last int64
	if err := c.queryRow(ctx, "UPDATE sessions SET last_event_seq = last_event_seq + ? WHERE id = ? RETURNING last_event_seq",
		len(events), sessionID).Scan(&last); err != nil {
		return sessionNotFound(err, sessionID)
	}
	if err := numberEvents(db, sessionID, last-int64(len(events)), events); err != nil {
		return err
	}
	return insertEvents(ctx, db, c, sessionID, events)
}

// numberEvents numbers events after Seq last and stamps them.
func numberEvents(db *DB, sessionID string, last int64, events []*paddock.Event) error {
	now := normTime(db.now())
	for _, e := range events {
		last++
		e.SessionID, e.Seq, e.CreatedAt = sessionID, last, now
		if len(e.Data) == 0 {
			e.Data = json.RawMessage("{}")
		} else if !json.Valid(e.Data) {
			return paddock.Errorf(paddock.EInvalid, "event %s: data is not valid JSON", e.Type)
		}
	}
	return nil
}

// insertEvents inserts numbered events.
func insertEvents(ctx context.Context, db *DB, c conn, sessionID string, events []*paddock.Event) error {
	for start := 0; start < len(events); start += eventBatch {
		batch := events[start:min(start+eventBatch, len(events))]
		rows := make([]string, len(batch))
		args := make([]any, 0, 6*len(batch))
		for i, e := range batch {
			rows[i] = "(?, ?, ?, ?, ?, ?)"
			args = append(args, sessionID, e.Seq, e.RunID, string(e.Type), string(e.Data), db.timeArg(e.CreatedAt))
		}
		if _, err := c.exec(ctx, "INSERT INTO events (session_id, seq, run_id, type, data, created_at) VALUES "+
			strings.Join(rows, ", "), args...); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return nil
}

// AppendEvents implements paddock.EventService.AppendEvents.
func (s *EventService) AppendEvents(ctx context.Context, sessionID string, events []*paddock.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.inTx(ctx, func(c conn) error { return appendEvents(ctx, s.db, c, sessionID, events) })
}

// Events implements paddock.EventService.Events.
func (s *EventService) Events(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]*paddock.Event, error) {
	if limit < 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "limit must not be negative, got %d", limit)
	}
	q, args := "SELECT seq, run_id, type, data, created_at FROM events WHERE session_id = ? AND seq > ? ORDER BY seq",
		[]any{sessionID, afterSeq}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	rows, err := s.db.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	events := []*paddock.Event{}
	for rows.Next() {
		e := &paddock.Event{SessionID: sessionID}
		var data string
		if err := rows.Scan(&e.Seq, &e.RunID, &e.Type, &data, timeCol{&e.CreatedAt}); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Data = json.RawMessage(data)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(events) == 0 {
		var n int
		if err := s.db.reader().queryRow(ctx, "SELECT COUNT(*) FROM sessions WHERE id = ?", sessionID).Scan(&n); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if n == 0 {
			return nil, paddock.Errorf(paddock.ENotFound, "session %q not found", sessionID)
		}
	}
	return events, nil
}
