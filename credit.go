package paddock

import (
	"context"
	"time"
)

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
