package store

import (
	"context"
	"fmt"

	"github.com/paddockhq/paddock"
)

var _ paddock.CreditService = (*CreditService)(nil)

// CreditService keeps the credit ledger. It implements
// paddock.CreditService.
type CreditService struct {
	db *DB
}

// NewCreditService returns a CreditService backed by db.
func NewCreditService(db *DB) *CreditService { return &CreditService{db: db} }

// GrantCredits records g, setting its ID and CreatedAt. A grant that
// fails CreditGrant.Validate is EInvalid; an unknown user ENotFound.
func (s *CreditService) GrantCredits(ctx context.Context, g *paddock.CreditGrant) error {
	if err := g.Validate(); err != nil {
		return err
	}
	var n int
	if err := s.db.reader().queryRow(ctx, "SELECT COUNT(*) FROM users WHERE id = ?", g.UserID).Scan(&n); err != nil {
		return fmt.Errorf("grant credits: %w", err)
	}
	if n == 0 {
		return paddock.Errorf(paddock.ENotFound, "user %d not found", g.UserID)
	}
	g.CreatedAt = normTime(s.db.now())
	err := s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, "INSERT INTO credit_grants (user_id, amount, note, granted_by, created_at) VALUES ("+
			placeholders(5)+") RETURNING id", g.UserID, g.Amount, g.Note, g.GrantedBy, s.db.timeArg(g.CreatedAt)).Scan(&g.ID)
	})
	if err != nil {
		return fmt.Errorf("grant credits: %w", err)
	}
	return nil
}

// grantedSum sums a user's grants, each counted within MaxCreditGrant
// either way: grants stored before that bound (up to 1e308) would make the
// sum overflow, to +Inf on SQLite (which no JSON can carry) or to an error
// on PostgreSQL.
var grantedSum = fmt.Sprintf("COALESCE(SUM(CASE WHEN amount > %[1]d THEN %[1]d WHEN amount < -%[1]d THEN -%[1]d ELSE amount END), 0)",
	paddock.MaxCreditGrant)

// CreditTotals returns what the user was granted (each grant counted
// within MaxCreditGrant either way) and what their model calls cost.
func (s *CreditService) CreditTotals(ctx context.Context, userID int64) (paddock.CreditTotals, error) {
	var t paddock.CreditTotals
	err := s.db.reader().queryRow(ctx, "SELECT (SELECT "+grantedSum+" FROM credit_grants WHERE user_id = ?), "+
		"(SELECT COALESCE(SUM(cost), 0) FROM usage_records WHERE owner_id = ?)", userID, userID).Scan(&t.Granted, &t.Spent)
	if err != nil {
		return paddock.CreditTotals{}, fmt.Errorf("credit totals: %w", err)
	}
	return t, nil
}
