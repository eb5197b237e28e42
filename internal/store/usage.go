package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/paddockhq/paddock"
)

var _ paddock.UsageService = (*UsageService)(nil)

// UsageService records model usage. It implements paddock.UsageService.
type UsageService struct {
	db *DB
}

// NewUsageService returns a UsageService backed by db.
func NewUsageService(db *DB) *UsageService { return &UsageService{db: db} }

func recordUsage(ctx context.Context, db *DB, c conn, u *paddock.UsageRecord) error {
	if u == nil {
		return paddock.Errorf(paddock.EInvalid, "usage record is required")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.now()
	}
	u.CreatedAt = normTime(u.CreatedAt)
	err := c.queryRow(ctx, `INSERT INTO usage_records (owner_id, agent_id, session_id, run_id, message_id,
		provider, model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost, created_at)
		VALUES (`+placeholders(13)+`) RETURNING id`,
		u.OwnerID, u.AgentID, u.SessionID, u.RunID, u.MessageID, u.Provider, u.Model,
		u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.OutputTokens, u.Cost, db.timeArg(u.CreatedAt)).Scan(&u.ID)
	if err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// RecordUsage stores u, setting its ID and (when zero) CreatedAt.
func (s *UsageService) RecordUsage(ctx context.Context, u *paddock.UsageRecord) error {
	return s.db.write1(ctx, func(c conn) error { return recordUsage(ctx, s.db, c, u) })
}

// usageWhere returns the conditions of filter.
func (s *UsageService) usageWhere(filter paddock.UsageFilter) ([]string, []any) {
	var where []string
	var args []any
	if filter.OwnerID != nil {
		where, args = append(where, "owner_id = ?"), append(args, *filter.OwnerID)
	}
	for _, f := range []struct {
		col string
		v   *string
	}{{"agent_id", filter.AgentID}, {"session_id", filter.SessionID}, {"run_id", filter.RunID}} {
		if f.v != nil {
			where, args = append(where, f.col+" = ?"), append(args, *f.v)
		}
	}
	if filter.Since != nil {
		where, args = append(where, "created_at >= ?"), append(args, s.db.timeArg(*filter.Since))
	}
	if filter.Until != nil {
		where, args = append(where, "created_at < ?"), append(args, s.db.timeArg(*filter.Until))
	}
	return where, args
}

// Usage returns the totals of the records filter selects.
func (s *UsageService) Usage(ctx context.Context, filter paddock.UsageFilter) (paddock.UsageTotals, error) {
	where, args := s.usageWhere(filter)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var t paddock.UsageTotals
	q := "SELECT COUNT(*)"
	for _, col := range []string{"input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"} {
		q += ", CAST(COALESCE(SUM(" + col + "), 0) AS BIGINT)"
	}
	err := s.db.reader().queryRow(ctx, q+", COALESCE(SUM(cost), 0) FROM usage_records"+cond, args...).
		Scan(&t.Calls, &t.InputTokens, &t.CachedInputTokens, &t.CacheWriteTokens, &t.OutputTokens, &t.Cost)
	if err != nil {
		return paddock.UsageTotals{}, fmt.Errorf("usage totals: %w", err)
	}
	return t, nil
}

const usageColumns = "id, owner_id, agent_id, session_id, run_id, message_id, provider, model, " +
	"input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost, created_at"

func scanUsage(row interface{ Scan(...any) error }) (*paddock.UsageRecord, error) {
	var u paddock.UsageRecord
	err := row.Scan(&u.ID, &u.OwnerID, &u.AgentID, &u.SessionID, &u.RunID, &u.MessageID, &u.Provider, &u.Model,
		&u.InputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.OutputTokens, &u.Cost, timeCol{&u.CreatedAt})
	return &u, err
}

// UsageRecords returns a page of the records filter selects, newest
// first, and how many it selects in all.
func (s *UsageService) UsageRecords(ctx context.Context, filter paddock.UsageFilter, offset, limit int) ([]*paddock.UsageRecord, int, error) {
	if err := checkPage(offset, limit); err != nil {
		return nil, 0, err
	}
	where, args := s.usageWhere(filter)
	recs, total, err := listPage(ctx, s.db, "usage_records", usageColumns, where, args, "created_at DESC, id DESC", offset, limit, scanUsage)
	if err != nil {
		return nil, 0, fmt.Errorf("list usage records: %w", err)
	}
	return recs, total, nil
}
