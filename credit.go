package paddock

import (
	"context"
	"math"
	"time"
)

// MaxCreditGrant bounds the amount of one credit grant, either way (USD):
// a balance is a sum of grants, which must stay a finite number.
const MaxCreditGrant = 1_000_000

// CreditGrant adds credits (USD) to a user's balance; a negative amount
// takes them away.
type CreditGrant struct {
	ID        int64
	UserID    int64
	Amount    float64 // USD
	Note      string
	GrantedBy int64 // the admin who granted it
	CreatedAt time.Time
}

// Validate checks a grant's input: a non-zero, finite amount of at most
// MaxCreditGrant either way, and a note of at most 1000 characters.
// Failures are EInvalid.
func (g *CreditGrant) Validate() error {
	if g.Amount == 0 || math.IsNaN(g.Amount) || math.IsInf(g.Amount, 0) || math.Abs(g.Amount) > MaxCreditGrant {
		return Errorf(EInvalid, "field \"amount\" must be a non-zero number of USD between -%d and %d, not %g", MaxCreditGrant, MaxCreditGrant, g.Amount)
	}
	if len([]rune(g.Note)) > 1000 {
		return Errorf(EInvalid, "field \"note\" must be at most 1000 characters")
	}
	return nil
}

// CreditTotals are the sums behind a user's balance: what was granted and
// what model calls cost (the recorded usage).
type CreditTotals struct {
	Granted float64
	Spent   float64
}

// CreditService keeps the credit ledger. Spending is not recorded here:
// it is the usage of model calls (UsageService).
type CreditService interface {
	GrantCredits(ctx context.Context, g *CreditGrant) error
	CreditTotals(ctx context.Context, userID int64) (CreditTotals, error)
}
