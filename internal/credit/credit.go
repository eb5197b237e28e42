// Package credit applies the credit policy. A user's balance is the
// configured starting credit plus the grants (CreditService) less the cost
// of their model calls (the recorded usage). With enforcement on, a model
// call of a user whose balance is spent is refused before it is made.
package credit

import (
	"context"

	"github.com/paddockhq/paddock"
)

// Ledger reads balances and enforces them. The zero Initial and Enforce
// give every user a balance of their grants, never enforced.
type Ledger struct {
	Store   paddock.CreditService
	Initial float64 // USD every user starts with
	Enforce bool    // refuse model calls once the balance is spent
}

// Balance is a user's credit.
type Balance struct {
	Granted  float64 // Initial plus grants, USD
	Spent    float64 // cost of the user's model calls, USD
	Balance  float64 // Granted - Spent
	Enforced bool
}

// Balance returns the user's balance.
func (l *Ledger) Balance(ctx context.Context, userID int64) (Balance, error) {
	t, err := l.Store.CreditTotals(ctx, userID)
	if err != nil {
		return Balance{}, err
	}
	granted := l.Initial + t.Granted
	return Balance{Granted: granted, Spent: t.Spent, Balance: granted - t.Spent, Enforced: l.Enforce}, nil
}

// Check returns nil when the user may make a model call: enforcement is
// off, or their balance is positive. Otherwise EPaymentRequired, saying
// why.
func (l *Ledger) Check(ctx context.Context, userID int64) error {
	if l == nil || !l.Enforce {
		return nil
	}
	b, err := l.Balance(ctx, userID)
	if err != nil {
		return err
	}
	if b.Balance <= 0 {
		return paddock.Errorf(paddock.EPaymentRequired,
			"insufficient credits: the balance is %.6f USD (granted %.6f, spent %.6f); an admin can add credits with POST /api/v1/agent/credits/add",
			b.Balance, b.Granted, b.Spent)
	}
	return nil
}
