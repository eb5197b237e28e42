package store

import (
	"context"
	"fmt"
	"math"
	"strings"

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

// GrantCredits records g, setting its ID and CreatedAt. A zero, infinite
// or NaN amount is EInvalid; an unknown user ENotFound.
func (s *CreditService) GrantCredits(ctx context.Context, g *paddock.CreditGrant) error {
	if g.Amount == 0 || math.IsNaN(g.Amount) || math.IsInf(g.Amount, 0) {
		return paddock.Errorf(paddock.EInvalid, "amount must be a non-zero number")
	}
	if len(strings.TrimSpace(g.Note)) > 1000 {
		return paddock.Errorf(paddock.EInvalid, "note must be at most 1000 characters")
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

// CreditTotals returns what the user was granted and what their model
// calls cost.
func (s *CreditService) CreditTotals(ctx context.Context, userID int64) (paddock.CreditTotals, error) {
	var t paddock.CreditTotals
	err := s.db.reader().queryRow(ctx, "SELECT (SELECT COALESCE(SUM(amount), 0) FROM credit_grants WHERE user_id = ?), "+
		"(SELECT COALESCE(SUM(cost), 0) FROM usage_records WHERE owner_id = ?)", userID, userID).Scan(&t.Granted, &t.Spent)
	if err != nil {
		return paddock.CreditTotals{}, fmt.Errorf("credit totals: %w", err)
	}
	return t, nil
}
