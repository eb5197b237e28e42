package paddock

import (
	"context"
	"time"
)

// UsageRecord is the usage of one model call: who, for which agent,
// session and run, on which model, and what it cost. Records outlive the
// sessions they name, for billing.
type UsageRecord struct {
	ID          int64
	OwnerID     int64
	AgentID     string
	SessionID   string
	RunID       string
	MessageID   string // the assistant message of the call
	Provider    string
	Model       string
	InputTokens int64 // all of them, cached or not
	// CachedInputTokens of InputTokens were read from the provider's prompt
	// cache, CacheWriteTokens written to it.
	CachedInputTokens int64
	CacheWriteTokens  int64
	OutputTokens      int64
	Cost              float64 // USD
	CreatedAt         time.Time
}

// UsageFilter selects usage records. Zero fields do not filter; Since is
// inclusive, Until exclusive.
type UsageFilter struct {
	OwnerID   *int64
	AgentID   *string
	SessionID *string
	RunID     *string
	Since     *time.Time
	Until     *time.Time
}

// UsageTotals sums usage records.
type UsageTotals struct {
	Calls             int64
	InputTokens       int64
	CachedInputTokens int64
	CacheWriteTokens  int64
	OutputTokens      int64
	Cost              float64
}

// UsageService records model usage. Records are usually written through
// SessionTx.RecordUsage, with the assistant message they paid for.
type UsageService interface {
	RecordUsage(ctx context.Context, u *UsageRecord) error
	Usage(ctx context.Context, filter UsageFilter) (UsageTotals, error)
	// UsageRecords returns a page of the records filter selects, newest
	// first, and how many it selects in all.
	UsageRecords(ctx context.Context, filter UsageFilter, offset, limit int) ([]*UsageRecord, int, error)
}
