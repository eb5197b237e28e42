package store

import (
	"context"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.MessageService = (*MessageService)(nil)

// MessageService stores messages. It implements paddock.MessageService.
type MessageService struct {
	db *DB
}

// NewMessageService returns a MessageService backed by db.
func NewMessageService(db *DB) *MessageService { return &MessageService{db: db} }

const messageColumns = "id, session_id, run_id, seq, role, content, usage, created_at"

func scanMessage(row interface{ Scan(...any) error }) (*paddock.Message, error) {
	var m paddock.Message
	err := row.Scan(&m.ID, &m.SessionID, &m.RunID, &m.Seq, &m.Role, jsonCol{&m.Content}, jsonCol{&m.Usage}, timeCol{&m.CreatedAt})
	if err != nil {
		return nil, err
	}
	if m.Content == nil {
		m.Content = []paddock.ContentPart{}
	}
	return &m, nil
}

// message returns message id, of session sessionID when that is not "".
func message(ctx context.Context, c conn, id, sessionID string) (*paddock.Message, error) {
	q, args := "SELECT "+messageColumns+" FROM messages WHERE id = ?", []any{id}
	if sessionID != "" {
		q, args = q+" AND session_id = ?", append(args, sessionID)
	}
	m, err := scanMessage(c.queryRow(ctx, q, args...))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("message %q not found", id), fmt.Sprintf("message %q", id))
	}
	return m, nil
}

// createMessage inserts m with the next Seq of its session, in one
// statement. The caller holds the session's lock (see DB.commit).
func createMessage(ctx context.Context, db *DB, c conn, m *paddock.Message) error {
	if !m.Role.Valid() {
		return paddock.Errorf(paddock.EInvalid, "invalid message role %q", m.Role)
	}
	if m.ID == "" {
		m.ID = newID("msg")
	}
	if m.Content == nil {
		m.Content = []paddock.ContentPart{}
	}
	m.CreatedAt = normTime(db.now())
	content, err := jsonArg(m.Content)
	if err != nil {
		return err
	}
	var usage any
	if m.Usage != nil {
		if usage, err = jsonArg(m.Usage); err != nil {
			return err
		}
	}
	err = c.queryRow(ctx, "INSERT INTO messages ("+messageColumns+") VALUES (?, ?, ?, "+
		"(SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?), ?, ?, ?, ?) RETURNING seq",
		m.ID, m.SessionID, m.RunID, m.SessionID, string(m.Role), content, usage, db.timeArg(m.CreatedAt)).Scan(&m.Seq)
	if err != nil {
		if v, _ := constraintOf(err); v == uniqueViolation {
			return paddock.Errorf(paddock.EConflict, "message %q exists", m.ID)
		}
		return fmt.Errorf("create message: %w", err)
	}
	return nil
}

// Message returns the message with the given id, or ENotFound.
func (s *MessageService) Message(ctx context.Context, id string) (*paddock.Message, error) {
	return message(ctx, s.db.reader(), id, "")
}

// Messages returns the page of the session's messages selected by filter,
// in Seq order, and the number selected in all. A missing SessionID is
// EInvalid; an unknown session has no messages.
func (s *MessageService) Messages(ctx context.Context, filter paddock.MessageFilter) ([]*paddock.Message, int, error) {
	if filter.SessionID == "" {
		return nil, 0, paddock.Errorf(paddock.EInvalid, "session id is required")
	}
	if err := checkPage(filter.Offset, filter.Limit); err != nil {
		return nil, 0, err
	}
	cond, args := " WHERE session_id = ? AND seq > ?", []any{filter.SessionID, filter.AfterSeq}
	if filter.RunID != nil {
		cond, args = cond+" AND run_id = ?", append(args, *filter.RunID)
	}
	msgs := []*paddock.Message{}
	var total int
	err := s.db.inReadTx(ctx, func(tx conn) error {
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM messages"+cond, args...).Scan(&total); err != nil {
			return err
		}
		page, pageArgs := s.db.pageClause(filter.Offset, filter.Limit)
		rows, err := tx.query(ctx, "SELECT "+messageColumns+" FROM messages"+cond+" ORDER BY seq"+page, append(args, pageArgs...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list messages: %w", err)
	}
	return msgs, total, nil
}

// contextColumns are messageColumns of the messages table aliased m.
var contextColumns = qualify("m", messageColumns)

// ContextMessages returns the messages the session's run with Seq runSeq
// works from, in context order: by run (messages of no run first), then
// by Seq. Messages of later runs are left out: a message posted while an
// earlier run was working belongs after that run, not in the middle of it.
// It reads them with one query, unpaged and uncounted.
func (s *MessageService) ContextMessages(ctx context.Context, sessionID string, runSeq int64) ([]*paddock.Message, error) {
	msgs, _, err := s.contextMessages(ctx, sessionID, runSeq, -1, 0)
	return msgs, err
}

// ContextMessagesAfter is ContextMessages for a caller that holds the
// context of the runs up to Seq afterRunSeq (and of no run), whose last
// message has Seq afterSeq: it returns only the messages of the runs after
// afterRunSeq, up to runSeq, in context order. It reports stale when
// messages were added to the runs the caller holds since (it should then
// read them all again).
func (s *MessageService) ContextMessagesAfter(ctx context.Context, sessionID string, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
	if afterRunSeq < 0 {
		return nil, false, paddock.Errorf(paddock.EInvalid, "afterRunSeq must not be negative, got %d", afterRunSeq)
	}
	return s.contextMessages(ctx, sessionID, runSeq, afterRunSeq, afterSeq)
}

func (s *MessageService) contextMessages(ctx context.Context, sessionID string, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
	return contextMessages(ctx, s.db.reader(), sessionID, runSeq, afterRunSeq, afterSeq)
}

// contextQuery selects the messages of a session's runs up to a Seq (and
// of no run), keyed by the Seq of their run (0 for none), in context
// order; those with a key up to afterRunSeq only if their own Seq is
// above afterSeq.
var contextQuery = "SELECT COALESCE(r.seq, 0), " + contextColumns +
	" FROM messages m LEFT JOIN runs r ON r.id = m.run_id" +
	" WHERE m.session_id = ? AND COALESCE(r.seq, 0) <= ? AND (COALESCE(r.seq, 0) > ? OR m.seq > ?)" +
	" ORDER BY COALESCE(r.seq, 0), m.seq"

// contextAfterQuery selects the same rows as contextQuery for an
// afterRunSeq of 0 or more, through indexes on both sides (the runs after
// afterRunSeq, then their messages; the messages after afterSeq), so that
// its cost is that of the rows it returns, not of the session's history.
// The columns are those of contextQuery; it orders by the first (the
// run's Seq) and the fifth (the message's).
var contextAfterQuery = "SELECT r.seq, " + contextColumns +
	" FROM runs r JOIN messages m ON m.run_id = r.id" +
	" WHERE r.session_id = ? AND r.seq > ? AND r.seq <= ?" +
	" UNION ALL SELECT COALESCE(r.seq, 0), " + contextColumns +
	" FROM messages m LEFT JOIN runs r ON r.id = m.run_id" +
	" WHERE m.session_id = ? AND m.seq > ? AND COALESCE(r.seq, 0) <= ?" +
	" ORDER BY 1, 5"

// contextMessages implements ContextMessages (afterRunSeq -1) and
// ContextMessagesAfter on c.
func contextMessages(ctx context.Context, c conn, sessionID string, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
	q, args := contextQuery, []any{sessionID, runSeq, afterRunSeq, afterSeq}
	if afterRunSeq >= 0 {
		q, args = contextAfterQuery, []any{sessionID, afterRunSeq, runSeq, sessionID, afterSeq, afterRunSeq}
	}
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("context messages: %w", err)
	}
	defer rows.Close()
	msgs := []*paddock.Message{}
	for rows.Next() {
		var key int64
		var m paddock.Message
		if err := rows.Scan(&key, &m.ID, &m.SessionID, &m.RunID, &m.Seq, &m.Role, jsonCol{&m.Content}, jsonCol{&m.Usage}, timeCol{&m.CreatedAt}); err != nil {
			return nil, false, fmt.Errorf("context messages: %w", err)
		}
		if key <= afterRunSeq {
			return nil, true, nil // added to a run the caller holds
		}
		if m.Content == nil {
			m.Content = []paddock.ContentPart{}
		}
		msgs = append(msgs, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("context messages: %w", err)
	}
	return msgs, false, nil
}

// CreateMessage stores m in its session (m.SessionID), without an event,
// setting ID (when empty), Seq and CreatedAt. An unknown session is
// ENotFound.
func (s *MessageService) CreateMessage(ctx context.Context, m *paddock.Message) error {
	if m == nil {
		return paddock.Errorf(paddock.EInvalid, "message is required")
	}
	_, err := s.db.commit(ctx, m.SessionID, func(tx paddock.SessionTx) error {
		return tx.CreateMessage(ctx, m)
	})
	return err
}
